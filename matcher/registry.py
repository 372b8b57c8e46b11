"""Named rules and objective terms: one registry so explanations, run.json and tests agree."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Rule:
    """A hard constraint: its function adds it to the model; `name` is what people read."""

    name: str
    apply: Callable
    key: str

    @property
    def doc(self) -> str:
        return (self.apply.__doc__ or "").strip()


@dataclass(frozen=True)
class Term:
    """A weighted objective term; `apply` returns its scaled integer expression (to maximise)."""

    name: str
    apply: Callable
    key: str

    @property
    def doc(self) -> str:
        return (self.apply.__doc__ or "").strip()


def registrar(registry: list, kind: type):
    def register(name: str):
        def wrap(function: Callable) -> Callable:
            registry.append(kind(name, function, function.__name__))
            return function
        return wrap
    return register
