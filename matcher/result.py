"""A solved run: status, objective, bound, gap, the output tables as DataFrames, and write()."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from matcher import __version__
from matcher.errors import InfeasibleError, NoSolutionError, SolverError
from matcher.scenario import Scenario

if TYPE_CHECKING:
    from matcher.batch import Batch
    from matcher.diff import RunDiff
    from matcher.infeasibility import Infeasibility


class Status(str, Enum):
    """What the solver proved about the plan it returns."""

    OPTIMAL = "optimal"
    """The plan's objective equals the proven best bound."""
    FEASIBLE = "feasible"
    """A plan that meets every hard rule, stopped by the time or gap limit; its gap says how far from proven."""
    INFEASIBLE = "infeasible"
    """Proven: no plan meets every hard rule."""
    NO_SOLUTION = "no_solution"
    """Stopped (time limit or interruption) before any plan was found."""
    MODEL_INVALID = "model_invalid"
    """The solver rejected the model: a bug in matcher, not in the batch."""

    @property
    def has_plan(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE)


@dataclass
class Result:
    """What `solve` returns; its tables are the files `write` puts in an output folder."""

    status: Status
    scenario: Scenario
    batch: Batch
    times: dict[str, float]
    model_stats: dict[str, int]
    objective: float | None = None
    best_bound: float | None = None
    gap: float | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    terms: dict[str, dict[str, float]] = field(default_factory=dict)
    breakdown: dict[str, float] = field(default_factory=dict)  # each term's share of the objective, from the solver
    stages: list[dict] = field(default_factory=list)  # lexicographic stages: term, status, value, bound
    parts: list[dict] = field(default_factory=list)  # each independent part: method, status, objective, bound, gap
    _infeasibility: Infeasibility | None = field(default=None, repr=False, compare=False)

    @property
    def allocations(self) -> pd.DataFrame:
        return self._table("allocations")

    @property
    def labor(self) -> pd.DataFrame:
        """labor.csv: who leads and who supports each role, with hours and strength; `vacant` optional roles."""
        return self.tables["labor"]

    @property
    def unmet(self) -> pd.DataFrame:
        return self._table("unmet")

    @property
    def partners_summary(self) -> pd.DataFrame:
        return self._table("partners_summary")

    @property
    def districts_summary(self) -> pd.DataFrame:
        return self._table("districts_summary")

    def _table(self, name: str) -> pd.DataFrame:
        self.raise_for_status()
        return self.tables[name]

    @property
    def coverage(self) -> float | None:
        """The coverage sum exactly as DESIGN.md defines it, recomputed from the allocations."""
        return self.terms.get("coverage", {}).get("value")

    def manifest(self) -> dict:
        """run.json: inputs, scenario, status, objective, bound, gap, each term, times, seed."""
        return {
            "matcher_version": __version__,
            "batch": str(self.batch.folder.resolve()) if self.batch.folder else None,
            "inputs": dict(sorted(self.batch.file_hashes.items())),
            "scenario": self.scenario.to_dict(),
            "status": self.status.value,
            "objective": self.objective,
            "best_bound": self.best_bound,
            "gap": self.gap,
            "coverage": self.coverage,
            "terms": self.terms,
            "objective_breakdown": self.breakdown,
            "lexicographic_stages": self.stages,
            "parts": self.parts,
            "seed": self.scenario.solver.seed,
            "model": self.model_stats,
            "times_s": {k: round(v, 3) for k, v in self.times.items()},
        }

    def raise_for_status(self) -> None:
        """Raise the error that matches a run without a plan; do nothing for a run with one."""
        if self.status is Status.INFEASIBLE:
            core = self.infeasibility()
            raise InfeasibleError(str(core), core=core)
        if self.status is Status.NO_SOLUTION:
            raise NoSolutionError(f"no plan found within {self.scenario.solver.time_limit_s:g} s; "
                                  "raise solver.time_limit_s")
        if self.status is Status.MODEL_INVALID:
            raise SolverError("the solver rejected the model (a bug in matcher; please report it)")

    def infeasibility(self) -> Infeasibility | None:
        """For an infeasible run: the smallest set of rules that cannot hold together, and the single
        relaxations that give a plan (computed once, on first ask). None for a run with a plan."""
        if self.status is not Status.INFEASIBLE:
            return None
        if self._infeasibility is None:
            from matcher.infeasibility import explain_infeasibility

            self._infeasibility = explain_infeasibility(self.batch, self.scenario)
        return self._infeasibility

    def diff(self, other: Result | str | Path) -> RunDiff:
        """What moved from this run to `other` (a Result or an output folder): allocations, roles, coverage."""
        from matcher.diff import diff_runs

        return diff_runs(self, other)

    def explain(self, *, need: str | None = None, partner: str | None = None, district: str | None = None) -> str:
        """Why this plan gives what it gives to a need, a partner or a district, in words."""
        from matcher.explain import Explainer

        return Explainer.from_result(self).text(need=need, partner=partner, district=district)

    def write(self, folder: str | Path, redact: bool = False) -> Path:
        """Write the output folder atomically, after verifying the files as written.

        `redact` empties contact fields (partner names, who agreed: see matcher.safety).
        """
        from matcher.outputs import write_folder

        self.raise_for_status()
        return write_folder(Path(folder), self.tables, self.manifest(), self.batch, redact=redact)

    def summary(self) -> dict:
        """The headline numbers the CLI prints."""
        return {"status": self.status.value, "objective": self.objective, "best_bound": self.best_bound,
                "gap": self.gap, "coverage": self.coverage,
                "solve_s": self.times.get("solve_s"), "pairs": self.model_stats.get("pairs")}

    def __repr__(self) -> str:
        return f"Result({json.dumps(self.summary())})"
