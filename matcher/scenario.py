"""The weights, coverage curve and solver limits of one run, read from scenario.toml.

Field directors edit the TOML; analysts call `Scenario.with_({"weights.travel": 0.0})`. Every key
is checked: an unknown one is an error that names the closest valid key.
"""
from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matcher.errors import InputError, Problem


@dataclass(frozen=True)
class Weights:
    """How the soft terms trade off; all in objective points."""

    coverage: float = 1.0  # per unit of priority-weighted coverage (a fully met need of priority 1 is 0.75)
    travel: float = 0.001  # per km between a partner's home and the district of each pairing used
    cost: float = 0.0001  # per usd the coalition pays for the resources it allocates


@dataclass(frozen=True)
class Coverage:
    """The concave curve f(share of a need met) as segments [upto, slope]."""

    segments: tuple[tuple[float, float], ...] = ((0.5, 1.0), (1.0, 0.5))


@dataclass(frozen=True)
class Travel:
    """How distances are judged when districts lack coordinates."""

    km_per_hop: float = 10.0  # distance charged per neighbour step


@dataclass(frozen=True)
class Solver:
    """CP-SAT limits; a result within them is reported with its status, bound and gap."""

    time_limit_s: float = 60.0
    relative_gap: float = 0.0  # stop once (bound - objective) / objective is at most this
    workers: int = 0  # CP-SAT search workers; 0 uses every core
    seed: int = 0


@dataclass(frozen=True)
class Scenario:
    """Everything about a run that is not data."""

    weights: Weights = field(default_factory=Weights)
    coverage: Coverage = field(default_factory=Coverage)
    travel: Travel = field(default_factory=Travel)
    solver: Solver = field(default_factory=Solver)
    source: str = "scenario.toml"

    @classmethod
    def from_toml(cls, path: str | Path) -> Scenario:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError([Problem(path.name, None, None, f"is not valid TOML: {exc}")]) from None
        return cls.from_dict(data, source=path.name)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "scenario") -> Scenario:
        problems: list[Problem] = []
        sections = {}
        for key, value in data.items():
            section_type = _SECTIONS.get(key)
            if section_type is None:
                problems.append(_unknown(source, key, list(_SECTIONS)))
            elif not isinstance(value, dict):
                problems.append(Problem(source, None, key, "must be a table of settings"))
            else:
                sections[key] = _build_section(section_type, key, value, source, problems)
        scenario = cls(**sections, source=source)
        problems.extend(scenario._check(source))
        if problems:
            raise InputError(problems)
        return scenario

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of every setting, as run.json records it."""
        return {name: _plain(dataclasses.asdict(getattr(self, name))) for name in _SECTIONS}

    def with_(self, overrides: dict[str, Any] | None = None, **dotted: Any) -> Scenario:
        """A copy with settings changed, keyed "section.name" (or section__name as keywords)."""
        merged = self.to_dict()
        changes = dict(overrides or {})
        changes.update({k.replace("__", "."): v for k, v in dotted.items()})
        problems = []
        for key, value in changes.items():
            section, _, name = key.partition(".")
            if section not in merged:
                problems.append(_unknown("--set", key, [f"{s}.{n}" for s in merged for n in merged[s]]))
            elif name not in merged[section]:
                problems.append(_unknown("--set", key, [f"{section}.{n}" for n in merged[section]]))
            else:
                merged[section][name] = value
        if problems:
            raise InputError(problems)
        return Scenario.from_dict(merged, source=self.source)

    def _check(self, source: str) -> list[Problem]:
        problems = []
        for name in ("coverage", "travel", "cost"):
            if getattr(self.weights, name) < 0:
                problems.append(Problem(source, None, f"weights.{name}", "must not be negative"))
        problems += _check_segments(self.coverage.segments, source)
        if self.solver.time_limit_s <= 0:
            problems.append(Problem(source, None, "solver.time_limit_s", "must be more than 0"))
        if not 0 <= self.solver.relative_gap < 1:
            problems.append(Problem(source, None, "solver.relative_gap", "must be in [0, 1)"))
        if self.solver.workers < 0:
            problems.append(Problem(source, None, "solver.workers", "must be 0 (all cores) or more"))
        if self.travel.km_per_hop < 0:
            problems.append(Problem(source, None, "travel.km_per_hop", "must not be negative"))
        return problems


_SECTIONS: dict[str, type] = {"weights": Weights, "coverage": Coverage, "travel": Travel, "solver": Solver}


def _unknown(source: str, key: str, valid: list[str]) -> Problem:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(valid)}"
    return Problem(source, None, key, f"unknown setting{hint}")


def _build_section(section_type: type, section: str, values: dict, source: str, problems: list[Problem]):
    fields = {f.name: f for f in dataclasses.fields(section_type)}
    kwargs = {}
    for name, value in values.items():
        if name not in fields:
            problems.append(_unknown(source, f"{section}.{name}", [f"{section}.{n}" for n in fields]))
            continue
        default = getattr(section_type(), name)
        converted = _convert(value, default)
        if converted is None:
            problems.append(Problem(source, None, f"{section}.{name}",
                                    f"must be {_describe(default)}, not {value!r}"))
        else:
            kwargs[name] = converted
    return section_type(**kwargs)


def _convert(value: Any, default: Any) -> Any:
    """The value in the default's type, or None if it cannot be one."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else None
    if isinstance(default, int):
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if ok else None
    if isinstance(default, tuple):
        try:
            return tuple((float(a), float(b)) for a, b in value)
        except (TypeError, ValueError):
            return None
    return value if isinstance(value, type(default)) else None


def _describe(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "a whole number"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, tuple):
        return "a list of [upto, slope] pairs"
    return "text"


def _check_segments(segments: tuple[tuple[float, float], ...], source: str) -> list[Problem]:
    """The coverage curve must be concave, through (0,0), and defined up to a fully met need."""
    key = "coverage.segments"
    if not segments:
        return [Problem(source, None, key, "needs at least one [upto, slope] segment")]
    uptos = [u for u, _ in segments]
    slopes = [s for _, s in segments]
    problems = []
    if any(b <= a for a, b in zip([0.0] + uptos, uptos)):
        problems.append(Problem(source, None, key, "upto values must increase from above 0"))
    if uptos[-1] != 1.0:
        problems.append(Problem(source, None, key, "the last segment must end at 1.0 (a fully met need)"))
    if any(s < 0 for s in slopes) or any(b > a for a, b in zip(slopes, slopes[1:])):
        problems.append(Problem(source, None, key,
                                "slopes must be non-negative and non-increasing (diminishing returns)"))
    return problems


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` from the command line; the value is read as TOML, else kept as text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise InputError([Problem("--set", None, text, "must look like section.name=value")])
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value
