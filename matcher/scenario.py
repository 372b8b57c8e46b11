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
    pooling: float = 0.5  # per district where complementary resources from different partners meet
    fairness: float = 1.0  # per unit of spread between the most and least used partners' share of offers used
    benefit: float = 1.0  # per partner left without benefit, when policy.min_benefit is "soft"
    dependence: float = 1.0  # per need-share above policy.dependence_cap, when policy.dependence is "soft"
    resilience: float = 1.0  # per need-share a district would lose beyond its target, when soft


@dataclass(frozen=True)
class Coverage:
    """The concave curve f(share of a need met) as segments [upto, slope]."""

    segments: tuple[tuple[float, float], ...] = ((0.5, 1.0), (1.0, 0.5))


@dataclass(frozen=True)
class Travel:
    """How distances are judged when districts lack coordinates."""

    km_per_hop: float = 10.0  # distance charged per neighbour step


SOFT_OR_HARD = ("off", "soft", "hard")


@dataclass(frozen=True)
class Policy:
    """Coalition rules that can be hard (must hold), soft (weighted) or off."""

    reliability: str = "nominal"  # "expected": plan with reliability × quantity; "nominal": with the quantity
    min_benefit: str = "off"  # every partner gets a preferred district served (or, with roles, holds a role)
    dependence: str = "off"  # no need gets more than dependence_cap of its allocation from one partner
    dependence_cap: float = 1.0
    resilience: str = "off"  # each district keeps resilience_share of its coverage if any one partner leaves
    resilience_share: float = 0.0


@dataclass(frozen=True)
class Legal:
    """Campaign-finance limits; the numbers are the batch's to set (defaults: federal 2025–26, FEC).

    caps_usd: money plus in-kind value one partner may give one candidate, by partner kind; a kind
    not listed has no cap. Federal: individuals $3,500 per election, multicandidate PACs $5,000,
    corporations (businesses, 501(c)(4)s) and unions may not give. no_candidate_support:
    kinds that may not give money or in-kind help to any candidate (501(c)(3)s); their members may
    still volunteer their own time.
    """

    caps_usd: dict = field(default_factory=lambda: {"individual": 3500.0, "pac": 5000.0, "business": 0.0,
                                                    "501c4": 0.0, "union": 0.0})
    no_candidate_support: tuple[str, ...] = ("501c3",)


@dataclass(frozen=True)
class Pooling:
    """Which resources complement each other when different partners bring them to one district."""

    pairs: tuple[tuple[str, str], ...] = (("volunteers", "office_space"),)


@dataclass(frozen=True)
class Solver:
    """CP-SAT limits; a result within them is reported with its status, bound and gap."""

    time_limit_s: float = 60.0
    relative_gap: float = 0.0  # stop once (bound - objective) / objective is at most this
    workers: int = 0  # CP-SAT search workers; 0 uses every core
    seed: int = 0
    mode: str = "weighted"  # "weighted": one weighted sum; "lexicographic": terms in [lexicographic] order
    decompose: bool = True  # solve independent parts alone (same plan value; faster on large batches)
    flow: bool = True  # solve parts that are pure transportation problems exactly by min-cost flow
    region_split: bool = True  # split parts of 100,000+ pairs by region, bounded by the flow relaxation
    deterministic: bool = True  # reproducible search; false searches in parallel (stronger on large batches)


@dataclass(frozen=True)
class Lexicographic:
    """Ranked terms: solve for the first, hold it within `tolerance` of its best, then the next."""

    order: tuple[str, ...] = ("coverage", "travel", "cost")  # term keys, as in run.json's terms
    tolerance: float = 0.0  # share of each stage's best value that later stages may give up


@dataclass(frozen=True)
class Labor:
    """The division of labor: how strength, fair workloads and a lead's presence count."""

    strength: float = 0.01  # points per strength point (0-10) of each supporter held; a lead's counts more
    lead_factor: float = 2.0  # how many times a lead's strength counts against a supporter's
    supporter_hours_fraction: float = 0.5  # share of the role's hours a supporter spends
    min_lead_strength: float = 0.0  # no lead below this strength
    fairness: float = 0.1  # points lost per unit of the workload measure (a load/capacity ratio)
    fairness_mode: str = "max_ratio"  # max_ratio: the largest load/capacity; spread: largest minus smallest
    role_held: float = 0.05  # points per partner with role hours that holds at least one role
    require_lead_presence: bool = False  # a district role's lead lives there or sends resources there
    local_district_roles: bool = True  # a district role's lead and supporters live there or next door, or work there


FAIRNESS_MODES = ("max_ratio", "spread")


@dataclass(frozen=True)
class Scenario:
    """Everything about a run that is not data."""

    weights: Weights = field(default_factory=Weights)
    coverage: Coverage = field(default_factory=Coverage)
    travel: Travel = field(default_factory=Travel)
    policy: Policy = field(default_factory=Policy)
    legal: Legal = field(default_factory=Legal)
    pooling: Pooling = field(default_factory=Pooling)
    solver: Solver = field(default_factory=Solver)
    labor: Labor = field(default_factory=Labor)
    lexicographic: Lexicographic = field(default_factory=Lexicographic)
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
        for name in (f.name for f in dataclasses.fields(Weights)):
            if getattr(self.weights, name) < 0:
                problems.append(Problem(source, None, f"weights.{name}", "must not be negative"))
        problems += _check_segments(self.coverage.segments, source)
        if self.solver.time_limit_s <= 0:
            problems.append(Problem(source, None, "solver.time_limit_s", "must be more than 0"))
        if not 0 <= self.solver.relative_gap < 1:
            problems.append(Problem(source, None, "solver.relative_gap", "must be in [0, 1)"))
        if self.solver.mode not in ("weighted", "lexicographic"):
            problems.append(Problem(source, None, "solver.mode", "must be 'weighted' or 'lexicographic'"))
        if not 0 <= self.lexicographic.tolerance < 1:
            problems.append(Problem(source, None, "lexicographic.tolerance", "must be in [0, 1)"))
        if self.solver.workers < 0:
            problems.append(Problem(source, None, "solver.workers", "must be 0 (all cores) or more"))
        problems += _check_policy(self.policy, source)
        problems += _check_legal(self.legal, source)
        problems += _check_pooling(self.pooling, source)
        if self.travel.km_per_hop < 0:
            problems.append(Problem(source, None, "travel.km_per_hop", "must not be negative"))
        problems += _check_labor(self.labor, source)
        return problems


_SECTIONS: dict[str, type] = {"weights": Weights, "coverage": Coverage, "travel": Travel, "policy": Policy,
                              "legal": Legal, "pooling": Pooling, "solver": Solver,
                              "lexicographic": Lexicographic, "labor": Labor}


def _check_labor(labor: Labor, source: str) -> list[Problem]:
    problems = []
    for name in ("strength", "lead_factor", "fairness", "role_held", "min_lead_strength"):
        if getattr(labor, name) < 0:
            problems.append(Problem(source, None, f"labor.{name}", "must not be negative"))
    if not 0 <= labor.supporter_hours_fraction <= 1:
        problems.append(Problem(source, None, "labor.supporter_hours_fraction", "must be in [0, 1]"))
    if labor.fairness_mode not in FAIRNESS_MODES:
        problems.append(Problem(source, None, "labor.fairness_mode", f"must be one of: {', '.join(FAIRNESS_MODES)}"))
    return problems


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
    if isinstance(default, dict):
        if not isinstance(value, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  for v in value.values()):
            return None
        return {str(k): float(v) for k, v in value.items()}
    if isinstance(default, tuple) and default and isinstance(default[0], str):
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        return tuple(value) if ok else None
    if isinstance(default, tuple) and default and isinstance(default[0][0], str):
        try:
            return tuple((str(a), str(b)) for a, b in value)
        except (TypeError, ValueError):
            return None
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
    if isinstance(default, dict):
        return "a table of numbers"
    if isinstance(default, tuple) and default and isinstance(default[0], str):
        return "a list of text"
    if isinstance(default, tuple) and default and isinstance(default[0][0], str):
        return "a list of [resource, resource] pairs"
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


def _check_policy(policy: Policy, source: str) -> list[Problem]:
    problems = []
    if policy.reliability not in ("nominal", "expected"):
        problems.append(Problem(source, None, "policy.reliability", "must be 'nominal' or 'expected'"))
    for name in ("min_benefit", "dependence", "resilience"):
        if getattr(policy, name) not in SOFT_OR_HARD:
            problems.append(Problem(source, None, f"policy.{name}", "must be 'off', 'soft' or 'hard'"))
    for name in ("dependence_cap", "resilience_share"):
        if not 0 <= getattr(policy, name) <= 1:
            problems.append(Problem(source, None, f"policy.{name}", "must be a share from 0 to 1"))
    return problems


def _check_legal(legal: Legal, source: str) -> list[Problem]:
    from matcher.schema import PARTNER_KINDS

    problems = []
    for kind, cap in legal.caps_usd.items():
        if kind not in PARTNER_KINDS:
            problems.append(_unknown(source, f"legal.caps_usd.{kind}", [f"legal.caps_usd.{k}" for k in PARTNER_KINDS]))
        elif cap < 0:
            problems.append(Problem(source, None, f"legal.caps_usd.{kind}", "must not be negative"))
    for kind in legal.no_candidate_support:
        if kind not in PARTNER_KINDS:
            problems.append(Problem(source, None, "legal.no_candidate_support",
                                    f"'{kind}' is not a partner kind ({', '.join(PARTNER_KINDS)})"))
    return problems


def _check_pooling(pooling: Pooling, source: str) -> list[Problem]:
    from matcher.schema import RESOURCES

    bad = [r for pair in pooling.pairs for r in pair if r not in RESOURCES]
    if bad:
        return [Problem(source, None, "pooling.pairs", f"'{bad[0]}' is not a resource ({', '.join(RESOURCES)})")]
    return []


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
