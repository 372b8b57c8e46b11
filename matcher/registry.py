"""Named rules and objective terms: one registry so explanations, run.json and tests agree."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Registered:
    """A function the model applies, with the display name people read and its key (the function's name)."""

    name: str
    apply: Callable
    key: str

    @property
    def doc(self) -> str:
        return (self.apply.__doc__ or "").strip()


class Rule(Registered):
    """A hard constraint: its function adds it to the model."""


class Term(Registered):
    """A weighted objective term: its function returns the scaled integer expression to maximise."""


def registrar(registry: list, kind: type):
    def register(name: str):
        def wrap(function: Callable) -> Callable:
            registry.append(kind(name, function, function.__name__))
            return function
        return wrap
    return register
