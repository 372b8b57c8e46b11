"""Tiny batches written in a test, with sensible defaults, so each test shows only what matters to it."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

import matcher

DEFAULT_DISTRICTS = [{"district_id": "D1", "name": "One", "priority": 1.0, "neighbors": "D2", "lat": 45.0,
                      "lon": -93.0},
                     {"district_id": "D2", "name": "Two", "priority": 1.0, "neighbors": "D1", "lat": 45.1,
                      "lon": -93.0}]
DEFAULT_PARTNERS = [{"partner_id": "P1", "name": "Alpha", "home_district": "D1"},
                    {"partner_id": "P2", "name": "Beta", "home_district": "D2"}]


def write_batch(folder: Path, *, offers: list[dict], needs: list[dict], partners: list[dict] | None = None,
                districts: list[dict] | None = None, scenario: str | None = None, **optional: list[dict]) -> Path:
    """Write a batch folder; `optional` takes roles=, capabilities=, conflicts=, decisions= as row lists."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"partners": partners or DEFAULT_PARTNERS, "districts": districts or DEFAULT_DISTRICTS,
              "offers": offers, "needs": needs, **optional}
    for name, rows in tables.items():
        pd.DataFrame(rows).to_csv(folder / f"{name}.csv", index=False)
    if scenario is not None:
        (folder / "scenario.toml").write_text(scenario)
    return folder


def build(folder: Path, **tables) -> matcher.Batch:
    """Write a batch and read it back through the validating reader."""
    return matcher.read_batch(write_batch(folder, **tables))


def solve(folder: Path, **tables) -> matcher.Result:
    """Write, read and solve a tiny batch with a short, single-worker, seeded solver."""
    batch = build(folder, **tables)
    scenario = batch.scenario.with_({"solver.workers": 1, "solver.time_limit_s": 20.0})
    return matcher.solve(batch, scenario)


def allocated(result: matcher.Result) -> dict[tuple[str, str], int]:
    """{(offer_id, need_id): quantity} of a plan."""
    a = result.allocations
    return {(o, n): int(q) for o, n, q in zip(a["offer_id"], a["need_id"], a["quantity"])}


FOUNDATION_TERMS = ("coverage", "travel", "cost")


def foundation_settings(scenario: matcher.Scenario) -> dict[str, float]:
    """Settings that switch off every weighted term but coverage, travel and cost (for exact checks)."""
    return {f"weights.{name}": 0.0 for name in scenario.to_dict()["weights"] if name not in FOUNDATION_TERMS}


def solve_batch(batch: matcher.Batch, settings: dict | None = None) -> matcher.Result:
    """Solve a read batch with CP-SAT (one seeded worker), only the foundation terms, and `settings` on top."""
    changes = {"solver.workers": 1, "solver.time_limit_s": 20.0, "solver.flow": False,  # rules are the model's
               **foundation_settings(batch.scenario)}
    return matcher.solve(batch, batch.scenario.with_({**changes, **(settings or {})}))


def design_coverage(share: float, segments) -> float:
    """f(share) computed straight from DESIGN.md's definition, independently of matcher's code."""
    value, start = 0.0, 0.0
    for upto, slope in segments:
        if share <= start:
            break
        value += slope * (min(share, upto) - start)
        start = upto
    return value


def hinted_value(model) -> int | None:
    """The objective of a CP-SAT model solved with every hinted variable fixed at its hint (None: no solution), in
    1/OBJECTIVE_SCALE: whether a hinted plan is one of that model."""
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    solver.parameters.fix_variables_to_their_hinted_value = True
    solver.parameters.num_workers = 1
    if solver.solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return round(solver.objective_value)
