"""Run CP-SAT on a batch and turn its answer into a verified Result."""
from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd

from ortools.sat.python import cp_model

from matcher.batch import Batch
from matcher.errors import InputError, Problem, SolverError
from matcher.candidates import eligible_pairs
from matcher.decompose import Part, find_parts
from matcher.districts_lp import district_relaxation
from matcher.explain import with_reasons
from matcher.flow import flow_relaxation, is_transportation, relaxation_bound, solve_by_flow
from matcher.labor import add_lead_hint, chosen_positions, hint_positions
from matcher.labor_lp import ROUNDING_SHARE, labor_relaxation, rounded_roles
from matcher.lns import search_by_districts
from matcher.model import OBJECTIVE_SCALE, add_hints, build_model
from matcher.outputs import build_tables, objective_terms
from matcher.result import Result, Status
from matcher.regions import cut_large_parts
from matcher.rounding import rounded_plan
from matcher.scenario import Scenario
from matcher.verify import verify_tables


Progress = Callable[[float, float, float], None]  # (seconds, objective, bound) each time a better plan is found


class _ProgressCallback(cp_model.CpSolverSolutionCallback):
    """Each plan the search finds, with its bound: CP-SAT's, or `bound` when the model searched is a
    restriction of the part (`near_lp`), whose own bound is not the part's."""

    def __init__(self, progress: Progress, bound: int | None = None):
        super().__init__()
        self.progress, self.bound = progress, bound
        self.offset = 0.0  # seconds of earlier passes over the same part

    def on_solution_callback(self) -> None:
        bound = self.best_objective_bound if self.bound is None else self.bound
        self.progress(self.offset + self.wall_time, self.objective_value / OBJECTIVE_SCALE, bound / OBJECTIVE_SCALE)


def solve(batch: Batch, scenario: Scenario | None = None, progress: Progress | None = None,
          workers: int = 1, dask: str | None = None, hint: pd.DataFrame | None = None) -> Result:
    """Solve a batch under a scenario (the batch's own if none is given) and verify the plan.

    The batch is split into independent parts, each solved alone (on `workers` local processes, or
    on a Dask scheduler at `dask`, "local" for an embedded one) and merged; the plan, and so the
    output files, do not depend on how many processes solved it, as long as each part's search ends
    before its time share (which depends on how long the parts before it took). `hint`, an earlier plan's
    allocations, starts the search from that plan (what-if questions keep what they can).
    """
    scenario = scenario or batch.scenario
    times = {}
    started = time.perf_counter()
    pairs = eligible_pairs(batch)
    if scenario.solver.decompose and not is_transportation(batch, pairs, scenario):
        parts = find_parts(batch, pairs, scenario)
    else:  # one part: asked for, or one min-cost flow solves every part at once as exactly as apart
        parts = [Part(0, batch, np.arange(len(pairs)))]
    parts, split_bounds = cut_large_parts(parts, pairs, scenario)
    times["split_s"] = time.perf_counter() - started
    started = time.perf_counter()
    plan = None
    if hint is not None:
        plan = {(o, n): int(q) for o, n, q in zip(hint["offer_id"], hint["need_id"], hint["quantity"])}
    # The split counts against the time limit (59 s of 600 on a generated national batch): the parts share
    # what is left of it, at least MIN_PART_TIME_S, never more than the limit.
    limit = scenario.solver.time_limit_s
    left = scenario.with_({"solver.time_limit_s": max(limit - times["split_s"], min(limit, MIN_PART_TIME_S))})
    with stop_on_interrupt() as interrupt:
        outcomes = run_parts(parts, pairs, left, progress, workers, dask, plan, split_bounds)
        retried = [] if interrupt.requested else retry_out_of_time(parts, outcomes, pairs, scenario, workers, dask,
                                                                   plan)
        parts, outcomes, uncut = solve_failed_cuts_whole(parts, outcomes, split_bounds, pairs, scenario, workers,
                                                         dask, plan)
    times["solve_s"] = time.perf_counter() - started
    times["build_s"] = sum(o.build_s for o in outcomes)

    status = merged_status([o.status for o in outcomes])
    stats = {"pairs": len(pairs), "parts": len(parts),
             "variables": sum(o.variables for o in outcomes), "constraints": sum(o.constraints for o in outcomes)}
    splits = region_split_lines(outcomes, parts, split_bounds)
    if retried:
        stats["retried"] = retried  # parts that found no plan in their share, solved again with more time
    if uncut:
        stats["solved_uncut"] = uncut  # parts cut by region where a region had no plan
    if splits:
        stats["region_splits"] = splits
        if status is Status.OPTIMAL and any(line["status"] != "optimal" for line in splits):
            status = Status.FEASIBLE
    if interrupt.requested:
        stats["interrupted"] = True  # stopped by Ctrl-C: the best plan found so far, not proven optimal
    summary = [o.summary(part) for o, part in zip(outcomes, parts)]
    if not status.has_plan:
        return Result(status=status, scenario=scenario, batch=batch, times=times, model_stats=stats, parts=summary)

    objective = sum(o.objective for o in outcomes) / OBJECTIVE_SCALE
    bound = (sum(o.bound for o, part in zip(outcomes, parts) if part.split_of is None)
             + sum(round(line["best_bound"] * OBJECTIVE_SCALE) for line in splits)) / OBJECTIVE_SCALE
    amounts = np.zeros(len(pairs), dtype="int64")
    for outcome, part in zip(outcomes, parts):
        amounts[part.positions] = outcome.amounts
    held = [o.positions for o in outcomes if o.positions is not None]
    positions = pd.concat(held, ignore_index=True) if held else None
    breakdown: dict[str, float] = {}
    for outcome in outcomes:
        for name, value in outcome.breakdown.items():
            breakdown[name] = breakdown.get(name, 0) + value
    started = time.perf_counter()
    tables = with_reasons(batch, build_tables(batch, pairs, amounts.tolist(), scenario, positions=positions), scenario)
    times["tables_s"] = time.perf_counter() - started
    result = Result(status=status, scenario=scenario, batch=batch, times=times, model_stats=stats,
                    objective=objective, best_bound=bound, gap=relative_gap(objective, bound),
                    tables=tables, terms=objective_terms(batch, tables, scenario),
                    breakdown={name: value / OBJECTIVE_SCALE for name, value in breakdown.items()},
                    stages=[stage | {"part": o.index} for o in outcomes for stage in o.stages], parts=summary)
    started = time.perf_counter()
    verify_tables(batch, result.tables, result.manifest()).raise_if_any()
    result.times["verify_s"] = time.perf_counter() - started
    return result


UNCUT_RETRY_PAIRS = 200_000  # the largest part cut by region that is solved again uncut when a region is infeasible


RETRY_TIME_FACTOR = 2.0  # a part out of time without a plan is solved again with this many times its share,
RETRY_MIN_S = 10.0  # and at least this many seconds


def retry_out_of_time(parts: list[Part], outcomes: list[PartOutcome], pairs: pd.DataFrame, scenario: Scenario,
                      workers: int, dask: str | None, plan: dict | None) -> list[dict]:
    """Solve once more, with RETRY_TIME_FACTOR times its share (RETRY_MIN_S at least), each part whose share ran
    out before any plan (one without a completed start to fall back on: see `solve_part`).

    One such part would leave the whole batch without a plan, however good the others are; so the run
    may take longer than solver.time_limit_s (the largest labor part of a generated national batch,
    272,598 role candidates, took 176 s to its first plan when solved alone, before it started from its
    completed rounding). Outcomes are replaced in place; returns what was retried (numbered as `parts`).
    """
    retried = []
    for i, (part, outcome) in enumerate(zip(parts, outcomes)):
        if outcome.status is not Status.NO_SOLUTION:
            continue
        share = outcome.time_limit_s
        again = max(RETRY_MIN_S, RETRY_TIME_FACTOR * share)
        outcomes[i] = run_parts([part], pairs, scenario.with_({"solver.time_limit_s": again}), None, workers,
                                dask, plan)[0]
        retried.append({"part": i, "share_s": round(share, 3), "retry_s": round(again, 3),
                        "status": outcomes[i].status.value})
    return retried


def solve_failed_cuts_whole(parts: list[Part], outcomes: list[PartOutcome], split_bounds: dict[int, int],
                            pairs: pd.DataFrame, scenario: Scenario, workers: int, dask: str | None,
                            plan: dict | None) -> tuple[list[Part], list[PartOutcome], list[int]]:
    """Parts cut by region where some region was proven infeasible (its share can be too small for a floor or
    a hard policy) are solved again uncut, with the time their regions had, if they have at most
    UNCUT_RETRY_PAIRS pairs; parts and outcomes renumbered in order. Also returns the numbers (before the
    cut) of the parts solved again. A region out of time, or a larger part, stays as it is: solving a
    national part uncut needs the memory and time the cut saves."""
    for part, outcome in zip(parts, outcomes):
        if part.split_of is not None and outcome.status is Status.INFEASIBLE and len(
                part.whole.positions) > UNCUT_RETRY_PAIRS:
            outcome.status = Status.NO_SOLUTION  # the region's share has no plan; that proves nothing of the batch
    failed = sorted({part.split_of for part, o in zip(parts, outcomes)
                     if part.split_of is not None and o.status is Status.INFEASIBLE})
    if not failed:
        return parts, outcomes, []
    for whole in failed:
        members = [i for i, part in enumerate(parts) if part.split_of == whole]
        budget = scenario.with_({"solver.time_limit_s": max(MIN_PART_TIME_S, sum(
            outcomes[i].time_limit_s for i in members))})
        again = run_parts([replace(parts[members[0]].whole, index=members[0])], pairs, budget, None, workers, dask,
                          plan)[0]
        parts = parts[:members[0]] + [parts[members[0]].whole] + [p for i, p in enumerate(parts)
                                                                  if i > members[0] and i not in members]
        outcomes = outcomes[:members[0]] + [again] + [o for i, o in enumerate(outcomes)
                                                      if i > members[0] and i not in members]
        del split_bounds[whole]
    parts = [replace(part, index=i) for i, part in enumerate(parts)]
    for i, outcome in enumerate(outcomes):
        outcome.index = i
    return parts, outcomes, failed


def region_split_lines(outcomes: list[PartOutcome], parts: list[Part], bounds: dict[int, int]) -> list[dict]:
    """run.json's line for each part cut by region: its regions' plans together, against the part's own bound.

    A region's own bound holds only for its share of the part, so the part is bounded by its flow
    relaxation (`bounds`), or by its regions' bounds before the cut added up where lower (see
    `matcher.regions.uncut_regions`); never below the plan, and optimal only when the plan meets it.
    """
    lines = []
    for whole, flow_bound in bounds.items():
        members = [o for o, part in zip(outcomes, parts) if part.split_of == whole]
        if not all(o.status.has_plan for o in members):
            continue
        objective = sum(o.objective for o in members)
        bound, source = flow_bound, "flow relaxation"
        uncut = [o.uncut_bound for o in members]
        if None not in uncut and sum(uncut) < flow_bound:
            bound, source = sum(uncut), "uncut regions"
        if bound < objective:
            raise SolverError(f"the {source} bound a plan below its value (a bug in matcher; please "
                              "report it, and solve with solver.region_split = false meanwhile)")
        lines.append({"part": whole, "regions": len(members), "status": "optimal" if bound == objective else
                      "feasible", "objective": objective / OBJECTIVE_SCALE, "best_bound": bound / OBJECTIVE_SCALE,
                      "gap": relative_gap(objective / OBJECTIVE_SCALE, bound / OBJECTIVE_SCALE),
                      "bound_from": source})
    return lines


@dataclass
class PartOutcome:
    """What solving one part gave: integer objective and bound (in 1/OBJECTIVE_SCALE), amounts, roles."""

    index: int
    status: Status
    method: str
    start: str = "none"  # how the search started: see `warm_start`
    bound_from: str = "cp-sat"  # which bound is reported: see `tightest_bound`
    objective: int = 0
    bound: int = 0
    amounts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    positions: pd.DataFrame | None = None
    breakdown: dict[str, int] = field(default_factory=dict)
    stages: list[dict] = field(default_factory=list)
    build_s: float = 0.0
    solve_s: float = 0.0
    start_s: float = 0.0  # of solve_s, before the search: relaxations, the rounded start and its completion
    time_limit_s: float = 0.0  # the part's time share (`TimeShares`)
    uncut_bound: int | None = None  # a region's bound before the cut (see `solve_part`); None: not a region
    variables: int = 0
    constraints: int = 0
    neighbourhoods: dict[str, int] | None = None  # a search by districts: neighbourhoods searched and improved

    def summary(self, part: Part) -> dict:
        """The part's line in run.json."""
        line = {"part": self.index, "method": self.method, "start": self.start, "bound_from": self.bound_from,
                "status": self.status.value, "pairs": len(part.positions),
                "roles": len(part.batch.roles), "time_share_s": round(self.time_limit_s, 3),
                "solve_s": round(self.solve_s, 3), "start_s": round(self.start_s, 3)}
        if part.split_of is not None:  # its bound and gap are of its region's share only
            line.update(split_of=part.split_of, region=part.region)
            line["bound_from"] = "its region's share"
        if self.neighbourhoods is not None:
            line["neighbourhoods"] = self.neighbourhoods
        if self.status.has_plan:
            objective, bound = self.objective / OBJECTIVE_SCALE, self.bound / OBJECTIVE_SCALE
            line.update(objective=objective, best_bound=bound, gap=relative_gap(objective, bound))
        return line


def merged_status(statuses: list[Status]) -> Status:
    """The whole is as good as its worst part: one infeasible part makes the batch infeasible."""
    for status in (Status.MODEL_INVALID, Status.INFEASIBLE, Status.NO_SOLUTION, Status.FEASIBLE):
        if status in statuses:
            return status
    return Status.OPTIMAL


def run_parts(parts: list[Part], pairs: pd.DataFrame, scenario: Scenario, progress: Progress | None,
              workers: int, dask: str | None, plan: dict | None = None,
              split_bounds: dict[int, int] | None = None) -> list[PartOutcome]:
    """Solve every part: here, on local processes, or on Dask; results come back in part order.

    Each part gets its time share as it starts (`TimeShares`). Progress, part by part, adds a region's
    bound before the cut (`PartOutcome.uncut_bound`), else the whole part it was cut from (`split_bounds`),
    once: a region's own bound holds for its share only.
    """
    shares = TimeShares(parts, scenario.solver.time_limit_s)

    def task(part: Part, share: float) -> tuple:
        limited = scenario if len(parts) == 1 else scenario.with_({"solver.time_limit_s": share})
        part_pairs = part.pairs if part.pairs is not None else pairs.iloc[part.positions].reset_index(drop=True)
        return part.index, part.batch, part_pairs, limited, plan, part.role_candidates, part.uncut

    if len(parts) == 1 and not dask:
        outcome = solve_part(*task(parts[0], scenario.solver.time_limit_s), progress=progress)
        outcome.time_limit_s = scenario.solver.time_limit_s
        return [outcome]
    report = PartProgress(parts, split_bounds or {}, progress)
    if dask:
        from matcher.distributed import dask_client, first_done

        with dask_client(dask) as client:
            return solve_in_turn(parts, task, lambda t: client.submit(solve_part_task, t, pure=False), first_done,
                                 sum(client.nthreads().values()), shares, report)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            return solve_in_turn(parts, task, lambda t: pool.submit(solve_part_task, t),
                                 lambda futures: wait(futures, return_when=FIRST_COMPLETED).done, workers, shares,
                                 report)
    return solve_in_turn(parts, task, solved_here, lambda futures: set(futures), 1, shares, report)


MIN_PART_TIME_S = 1.0


class TimeShares:
    """solver.time_limit_s shared among parts as each starts: in proportion to its size among the parts not
    started yet, at least MIN_PART_TIME_S; what a part leaves unused (of its share, less its model build and
    its search) goes to the parts after it.

    Parts start smallest first (`solve_in_turn`), so the time the many small parts of a batch leave
    (a part proven optimal ends there) reaches the large ones, whose searches use all they get.
    """

    def __init__(self, parts: list[Part], limit: float):
        self.left = limit
        self.waiting = sum(part.size for part in parts)

    def start(self, part: Part) -> float:
        share = max(MIN_PART_TIME_S, self.left * part.size / max(self.waiting, 1))
        self.waiting -= part.size
        self.left -= share
        return share

    def finish(self, share: float, spent: float) -> None:
        self.left += share - spent


class PartProgress:
    """The progress line of a run in parts: plans and bounds so far, reported as each part finishes."""

    def __init__(self, parts: list[Part], split_bounds: dict[int, int], progress: Progress | None):
        self.parts, self.split_bounds, self.progress = parts, split_bounds, progress
        self.objective, self.bound, self.counted = 0, 0, set()
        self.started = time.perf_counter()

    def done(self, i: int, outcome: PartOutcome) -> None:
        part = self.parts[i]
        self.objective += outcome.objective
        if part.split_of is None:
            self.bound += outcome.bound
        elif outcome.uncut_bound is not None:  # a region's share of its whole part's bound
            self.bound += outcome.uncut_bound
        elif part.split_of not in self.counted:
            self.counted.add(part.split_of)
            self.bound += self.split_bounds.get(part.split_of, 0)
        if self.progress:
            self.progress(time.perf_counter() - self.started, self.objective / OBJECTIVE_SCALE,
                          self.bound / OBJECTIVE_SCALE)


def solve_in_turn(parts: list[Part], task: Callable[[Part, float], tuple], submit: Callable[[tuple], Future],
                  first_done: Callable[[list], set], slots: int, shares: TimeShares,
                  report: PartProgress) -> list[PartOutcome]:
    """Keep `slots` parts solving, smallest first, each started with its time share as a slot frees up."""
    outcomes: list[PartOutcome | None] = [None] * len(parts)
    waiting = deque(sorted(range(len(parts)), key=lambda i: (parts[i].size, i)))
    running: dict = {}
    while waiting or running:
        while waiting and len(running) < slots:
            i = waiting.popleft()
            share = shares.start(parts[i])
            running[submit(task(parts[i], share))] = (i, share)
        for future in first_done(list(running)):
            i, share = running.pop(future)
            outcome = future.result()
            outcome.time_limit_s = share
            shares.finish(share, outcome.build_s + outcome.solve_s)  # its model's build counts as well
            outcomes[i] = outcome
            report.done(i, outcome)
    return outcomes


def solved_here(task: tuple) -> Future:
    """`solve_part_task` run at once, as a finished future (for solving part after part in this process)."""
    future: Future = Future()
    future.set_result(solve_part_task(task))
    return future


def solve_part_task(task: tuple) -> PartOutcome:
    """`solve_part` for a worker process (a picklable single argument)."""
    return solve_part(*task)


def solve_part(index: int, batch: Batch, pairs: pd.DataFrame, scenario: Scenario, plan: dict | None = None,
               role_candidates: pd.DataFrame | None = None, uncut: tuple[Batch, pd.DataFrame] | None = None,
               progress: Progress | None = None) -> PartOutcome:
    """Solve one independent part with CP-SAT (or exactly by min-cost flow where it is a transportation problem).

    `role_candidates` are the part's (role, partner) candidates, chosen on the whole batch; None: chosen here.
    `uncut`, for a region of a part cut by region, is the region's batch and pairs before the cut: its district
    LP relaxes those, so that its bound adds up over the regions to one of the whole part (`uncut_bound`).
    """
    from matcher.model import hint_plan

    if is_transportation(batch, pairs, scenario):
        outcome = solve_by_flow(index, batch, pairs, scenario)
        if uncut is not None:
            outcome.uncut_bound = relaxation_bound(*uncut, scenario)
        return outcome
    started = time.perf_counter()
    try:
        m = build_model(batch, pairs, scenario, role_candidates=role_candidates)
    except MemoryError:
        raise SolverError(f"out of memory while building the model ({len(pairs):,} eligible pairs); "
                          "split the batch or use a machine with more memory") from None
    build_s = time.perf_counter() - started
    limits = scenario.solver
    started = time.perf_counter()
    completed = None
    lp_batch, lp_pairs = uncut or (batch, pairs)
    shares = (DISTRICT_LP_SHARE, DISTRICT_MIP_SHARE, DISTRICT_SEARCH_SHARE)
    relaxed = (district_relaxation(lp_batch, lp_pairs, scenario, *(share * limits.time_limit_s for share in shares))
               if len(pairs) >= WARM_START_PAIRS else None)
    # Its bound, and the first round of the rounded start where no district LP picks the districts.
    flow = flow_relaxation(batch, pairs, scenario) if len(pairs) >= WARM_START_PAIRS else None
    labor = (labor_relaxation(batch, m.roles, scenario, LABOR_LP_SHARE * limits.time_limit_s)
             if pairs.empty and m.roles is not None and len(m.roles) >= LABOR_LP_CANDIDATES else None)
    if plan is not None:
        hint_plan(m, plan)
        start = "earlier plan"
    elif labor is not None:
        hint_positions(m, *rounded_roles(batch, m.roles, labor, fill=scenario.labor.fairness == 0))
        completed = completed_hint(m.model, limits)
        start = "labor LP" if completed is not None else "labor LP positions"
    else:
        start, completed = warm_start(m, limits, None if relaxed is None else relaxed.presence,
                                      None if flow is None else flow[0])
    close_enough = (limits.mode == "weighted" and (relaxed is None or relaxed.searching is None)
                    and start_within_gap(completed, [value for value, _ in relaxation_bounds(labor, flow, relaxed)],
                                         limits.relative_gap))
    near = None if close_enough else near_lp(m, relaxed, labor, completed, region=uncut is not None)
    warm_s = time.perf_counter() - started

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(MIN_PART_TIME_S, limits.time_limit_s - warm_s)
    solver.parameters.relative_gap_limit = limits.relative_gap
    solver.parameters.num_workers = search_workers(limits.workers)
    solver.parameters.interleave_search = limits.deterministic and solver.parameters.num_workers > 1
    solver.parameters.random_seed = limits.seed
    callback = _ProgressCallback(progress, near.bound if near else None) if progress else None
    stages: list[dict] = []
    neighbourhoods = None
    if close_enough:  # no search: the completed start below is the part's plan
        code, searched_s = cp_model.UNKNOWN, 0.0
    elif limits.mode == "lexicographic":
        code = solve_in_order(m, solver, scenario, callback, stages)
        searched_s = solver.wall_time
    elif near is not None and near.by_districts:
        neighbourhoods = search_by_districts(m, near.model, completed, solver.parameters,
                                             solver.parameters.max_time_in_seconds, callback)
        code, searched_s, solver = neighbourhoods.answer(completed)
    else:
        searched = near.model if near else m.model
        code, searched_s, solver = search(solver, searched, callback)
    if code == cp_model.MODEL_INVALID:
        raise SolverError(invalid_model_message(m.model))
    status = classify(code, solver)
    if status is Status.OPTIMAL and (near or any(stage["status"] != "optimal" for stage in stages)):
        status = Status.FEASIBLE  # best only near an LP, or a ranked term held at a value not proven best
    searched_whole = status.has_plan and not near  # CP-SAT's bound is the part's
    if relaxed is not None:
        relaxed = relaxed.settled(stopped=INTERRUPT.requested)  # HiGHS's search beside CP-SAT's has ended
    outcome = PartOutcome(index, status, near.method if near else "cp-sat", start=start, stages=stages,
                          build_s=build_s, start_s=warm_s,
                          solve_s=warm_s + sum(stage["solve_s"] for stage in stages) + searched_s,
                          variables=len(m.model.proto.variables), constraints=len(m.model.proto.constraints),
                          neighbourhoods=None if neighbourhoods is None else neighbourhoods.counts())
    if uncut is not None:
        outcome.uncut_bound = relaxed.bound if relaxed is not None else relaxation_bound(lp_batch, lp_pairs, scenario)
    answer = solver
    if completed is not None and limits.mode == "weighted" and (
            status is Status.NO_SOLUTION or (status.has_plan and completed.objective_value > solver.objective_value)):
        # The search found nothing in its share (its presolve alone can take that long), nothing as good, or
        # was not needed: the completed start keeps every rule, so it is the part's plan.
        answer, outcome.status, outcome.method = completed, Status.FEASIBLE, "completed start"
    if outcome.status.has_plan:
        outcome.objective = round(answer.objective_value)
        bound, found_by = ((round(solver.best_objective_bound), "cp-sat") if searched_whole
                           else (objective_ceiling(m.model), "variable domains"))
        outcome.bound, outcome.bound_from = tightest_bound(outcome.objective, (bound, found_by),
                                                           relaxation_bounds(labor, flow, relaxed))
        if outcome.bound_from != "cp-sat" and outcome.bound == outcome.objective:
            outcome.status = Status.OPTIMAL  # the plan meets a proven bound
        outcome.amounts = np.array([int(answer.value(a)) for a in m.amount], dtype="int64")
        outcome.positions = chosen_positions(m, answer)
        outcome.breakdown = {name: int(answer.value(expr)) for name, expr in m.terms.items()}
    return outcome


def relaxation_bounds(labor, flow: tuple[np.ndarray, int] | None, relaxed) -> list[tuple[int | None, str]]:
    """The bounds of the part's labor LP, flow relaxation and district LP or MIP (None where one did not run),
    each with where it comes from: what the search is measured against, and what bounds its plan."""
    return [(None if labor is None else labor.bound, "labor LP"),
            (None if flow is None else flow[1], "flow relaxation"),
            (None, "") if relaxed is None else (relaxed.bound, relaxed.method)]


def start_within_gap(completed: cp_model.CpSolver | None, bounds: list[int | None], gap: float) -> bool:
    """Whether the completed start is already within the relative gap asked for (`solver.relative_gap`) of a
    bound known before the search. Then the search is skipped: CP-SAT would stop there too, but only after
    its presolve (1.0 s of the 1.4 s the benchmark's state core spent on its 20,079-pair part)."""
    known = [bound for bound in bounds if bound is not None]
    return completed is not None and bool(known) and relative_gap(completed.objective_value, min(known)) <= gap


WARM_START_PAIRS = 1_000  # parts at least this large start CP-SAT from a rounded transportation relaxation
COMPLETION_SHARE = 0.2  # at most this share of a part's time limit goes to completing that plan
COMPLETION_GAP = 0.005  # the completion stops this close to its best (the search goes on from there)
# At most this share of a part's time limit goes to the district LP. Its start is worth more than the search
# time it takes: with 0.6, the national batch's 30 region parts (shares of 0.64 ms a pair, the LP taking
# about 0.3) went from 26,455 to 28,034 in all.
DISTRICT_LP_SHARE = 0.6
DISTRICT_MIP_SHARE = 0.3  # and at most this share to its root with whole presences (`district_relaxation`)
# or, too large for that root and not reproducible, this share to HiGHS's search beside CP-SAT's. On the generated
# state batch (120 s): 3.81% without it; 3.45% with 0.3, 2.91% with 0.6 (3.06% and 3.08% in two more runs), 3.04%
# with 0.85.
DISTRICT_SEARCH_SHARE = 0.6
LABOR_LP_CANDIDATES = 1_000  # roles-only parts with at least this many candidates are bounded by the labor LP
LABOR_LP_SHARE = 0.25  # in at most this share of the part's time limit


def warm_start(m, limits, presence: pd.DataFrame | None = None,
               relaxed: np.ndarray | None = None) -> tuple[str, cp_model.CpSolver | None]:
    """Start CP-SAT from `matcher.rounding.rounded_plan`, completed into a whole solution when it can be.

    The pairings are fixed at the rounded plan in a copy of the model, and CP-SAT fills in everything
    else (coverage levels, presence, roles) there; the full solution then hints the real search, which
    so starts from a plan that keeps every rule. When the copy has no solution (a rule the rounding
    does not repair) only the pairings are hinted, and CP-SAT repairs them itself. Returns how it started
    ("complete", "pairings" or "none": parts too small to need it) and, when complete, the solver holding
    that solution (its bound is of the copy only). `presence`, the district LP's, picks the districts of
    partners with a district limit; `relaxed`, the flow relaxation's amounts, saves solving it again.
    """
    pairs = m.pairs
    if len(pairs) < WARM_START_PAIRS:
        return "none", None
    amounts = rounded_plan(m.batch, pairs, m.scenario, presence=presence, relaxed=relaxed)
    if amounts is None:
        return "none", None
    hint_amounts(m.model, m, amounts)
    completed = completed_hint(m.model, limits)
    if completed is not None:
        return "complete", completed
    add_lead_hint(m)  # hint_amounts cleared the model's hints, the leads' among them
    return "pairings", None


def completed_hint(model: cp_model.CpModel, limits) -> cp_model.CpSolver | None:
    """The model's hint completed into a whole solution: in a copy with every hinted variable fixed at its
    hint, CP-SAT fills in the others (coverage levels, presence, who holds a role, ...). On success the model
    is hinted at that solution, and the solver holding it is returned (its bound is of the copy only);
    None where the copy has no solution in its time (a rule the hint breaks)."""
    solver = cp_model.CpSolver()
    solver.parameters.fix_variables_to_their_hinted_value = True
    solver.parameters.max_time_in_seconds = max(MIN_PART_TIME_S, COMPLETION_SHARE * limits.time_limit_s)
    solver.parameters.relative_gap_limit = COMPLETION_GAP
    # One worker: with the hinted variables fixed there is little left to search, and a parallel portfolio's
    # start-up costs far more (0.4 s against 14 s on a generated state batch's 43,773 pairs); reproducible too.
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = limits.seed
    if run_solver(solver, model.clone(), None) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    hint_with_solution(model, solver)
    return solver


# Parts at least this large, started from a plan completed along the district LP, search only the districts the
# LP has each limited partner in. Smaller ones search the whole model: it finds plans in their share, and
# its bound can be tighter than the LP's. Not so a region's (a part cut by region): its bound holds for its
# share of the cut only, so a region of any size searches near its LP. The generated national batch's five
# regions under this size (4,446 to 8,518 pairs, in their shares of a 600 s run) went from 2,103.0 to 2,123.6
# in all when searched by districts, none lower (from 2,099.0 to 2,099.6 when searched reproducibly).
NEAR_LP_PAIRS = 10_000
PRESENCE_EPS = 1e-6  # LP presences below this are GLOP's zeros


NEAR_LP_CANDIDATES = 50_000  # the same for roles-only parts with this many role candidates, started along the labor LP
NEAR_LP_STRONGEST = 10  # each role's strongest candidates, which such a search keeps open beside the LP's


@dataclass(frozen=True)
class NearLp:
    """A restricted copy of a part's model to search instead of the whole, and the bound that holds for the part;
    `by_districts`: searched a few districts at a time (`matcher.lns`), not whole."""

    model: cp_model.CpModel
    method: str
    bound: int
    by_districts: bool = False


def near_lp(m, relaxed, labor, completed: cp_model.CpSolver | None, region: bool = False) -> NearLp | None:
    """What a large part with a completed start, or a `region` of a part cut by region, searches near its LP
    (`near_lp_districts`, `near_lp_positions`); None: the whole model."""
    if completed is None:
        return None
    if relaxed is not None and (region or len(m.pairs) >= NEAR_LP_PAIRS):
        copy = near_lp_districts(m, relaxed.presence, completed)
        if m.scenario.solver.deterministic:
            return NearLp(copy, "cp-sat in LP districts", relaxed.bound)
        return NearLp(copy, "LNS in LP districts", relaxed.bound, by_districts=True)
    if labor is not None and len(m.roles) >= NEAR_LP_CANDIDATES:
        return NearLp(near_lp_positions(m, labor, completed), "cp-sat on LP positions", labor.bound)
    return None


def near_lp_positions(m, labor, completed: cp_model.CpSolver) -> cp_model.CpModel:
    """A copy of a roles-only part's model where a candidate leads (or supports) only if the labor LP gives it a
    share of that position, its completed start has it there, or it is one of its role's NEAR_LP_STRONGEST.

    On the national batch's labor part (8,103 roles, 272,598 candidates), in a 153.7 s share, the search of
    the whole model reported its first plan, the completed start (952.3), after 66 s, and ended at 954.6;
    this copy's, after 6 s, and ended at 967.1 to 968.3 (959.0 with only the LP's shares and the start
    open, 965.8 with each role's 30 strongest), against the LP's 1,003.7.
    """
    model = m.model.clone()
    strongest = m.roles.groupby("role_id")["strength"].rank(method="first", ascending=False).to_numpy() <= (
        NEAR_LP_STRONGEST)
    for variables, share in ((m.lead, labor.lead), (m.support, labor.support)):
        for i, variable in variables.items():
            if share[i] <= ROUNDING_SHARE and not strongest[i] and not completed.boolean_value(variable):
                fix_at_zero(model, variable)
    return model


def near_lp_districts(m, presence: pd.DataFrame, completed: cp_model.CpSolver) -> cp_model.CpModel:
    """A copy of the model where a partner with a district limit pairs only into the districts the district
    LP gives it some presence in, or its completed start sends it to.

    The search over the whole model of a large part often ends its share without a plan better than its
    start, or with none: its presolve alone can take that long. Most of a limited partner's pairs are
    to districts the LP leaves it out of; without them the search finds better plans. On the 30 regions of
    the generated national batch, each in its share of a 600 s run, the plans went from 28,013.6 to
    28,057.2 in all, none lower; 23 regions ended on this search's plan, where 23 had kept their start.
    The plan stays one of the whole model, bounded by its LP: the copy's own bound is not.
    """
    model = m.model.clone()
    chosen = pd.MultiIndex.from_frame(presence.loc[presence["presence"] > PRESENCE_EPS, ["partner_id", "district_id"]])
    limited = pd.MultiIndex.from_frame(presence[["partner_id", "district_id"]])
    keys = pd.MultiIndex.from_arrays([m.pairs["partner_id"], m.pairs["district_id"]])
    started = np.array([completed.boolean_value(used) for used in m.used], dtype=bool)
    for p in np.flatnonzero(keys.isin(limited) & ~keys.isin(chosen) & ~started):
        fix_at_zero(model, m.used[p])
    return model


def fix_at_zero(model: cp_model.CpModel, variable: cp_model.IntVar) -> None:
    """Narrow a 0/1 variable of `model` (a copy of the one it was made in) to 0."""
    domain = model.proto.variables[variable.index].domain
    domain.clear()
    domain.extend([0, 0])


def hint_amounts(model: cp_model.CpModel, m, amounts: np.ndarray) -> None:
    """Hint (only) the pairing variables of `m`, in `model` (m's own or a copy), at these amounts."""
    model.clear_hints()
    indices, values = [], []
    for used, amount, divisible, value in zip(m.used, m.amount, m.pairs["divisible"], amounts.tolist()):
        indices.append(used.index)
        values.append(int(value > 0))
        if divisible:
            indices.append(amount.index)
            values.append(value)
    add_hints(model, indices, values)


def objective_ceiling(model: cp_model.CpModel) -> int:
    """The most the (maximised) objective can be from its variables' domains alone: weak, but valid with no
    search at all, where CP-SAT reports 0 until its presolve is done."""
    objective = model.proto.objective
    inner = objective.offset
    for ref, coefficient in zip(objective.vars, objective.coeffs):
        domain = list(model.proto.variables[ref].domain) if ref >= 0 else [0, 1]  # a negated literal: 0 or 1
        inner += min(coefficient * domain[0], coefficient * domain[-1])
    return math.ceil(objective.scaling_factor * inner)  # maximise: stored as minimise -(objective), factor -1


def tightest_bound(objective: int, bound: tuple[int, str],
                   relaxations: list[tuple[int | None, str]]) -> tuple[int, str]:
    """The lowest of a proven bound (CP-SAT's, or the variable domains' when there was no search) and the
    relaxations' (value, or None where one did not apply, and where it came from) that is not below the plan.

    On large parts CP-SAT may stop before its linear relaxation is solved: the flow's is exact in well
    under a second, the district LP knows the partners' district limits, and the labor LP the roles'
    rules. All are valid; the lowest is kept.
    """
    return min(((value, source) for value, source in [bound, *relaxations] if value is not None and value >= objective),
               key=lambda candidate: candidate[0], default=bound)


def solve_in_order(m, solver: cp_model.CpSolver, scenario: Scenario, callback, stages: list[dict]) -> int:
    """Lexicographic solving: maximise each ranked term in turn, holding the earlier ones near their best.

    Each stage gets what is left of the time limit and starts from the previous stage's plan; the
    last stage maximises the whole weighted objective under the holds, so ties break as usual.
    """
    names = {term.key: term.name for term in ranked_terms()}
    problems = [Problem(scenario.source, None, "lexicographic.order", f"'{key}' is not a term; terms: "
                        f"{', '.join(names)}") for key in scenario.lexicographic.order if key not in names]
    if problems:
        raise InputError(problems)
    deadline = time.perf_counter() + scenario.solver.time_limit_s
    weighted = sum(m.terms.values(), cp_model.LinearExpr.constant(0))
    for key in scenario.lexicographic.order:
        term = m.terms[names[key]]
        m.model.maximize(term)
        solver.parameters.max_time_in_seconds = max(0.01, deadline - time.perf_counter())
        code = run_solver(solver, m.model, callback)
        stage = {"term": key, "status": classify(code, solver).value, "solve_s": solver.wall_time}
        stages.append(stage)
        if not classify(code, solver).has_plan or INTERRUPT.requested:
            return code
        best = round(solver.objective_value)
        stage.update(value=best / OBJECTIVE_SCALE, bound=solver.best_objective_bound / OBJECTIVE_SCALE)
        m.model.add(term >= best - math.floor(scenario.lexicographic.tolerance * abs(best)))
        hint_with_solution(m.model, solver)
    m.model.maximize(weighted)
    solver.parameters.max_time_in_seconds = max(0.01, deadline - time.perf_counter())
    return run_solver(solver, m.model, callback)


PROOF_PASS_DTIME = 0.5  # CP-SAT deterministic-time units of the one-worker pass before an interleaved search


def search(solver: cp_model.CpSolver, model: cp_model.CpModel, callback) -> tuple[int, float, cp_model.CpSolver]:
    """`run_solver`; an interleaved (deterministic) search comes after a short one-worker pass. Returns the
    status code, the seconds searched and the solver holding the answer.

    CP-SAT 9.15's interleaved search runs on to its time limit after proving a plan optimal: a 5-pair
    part of a generated city batch, proven in 0.01 s, took the whole 5 s it was given. One worker stops
    at the proof, so small parts end there. The pass stops at a deterministic-time limit, not a
    clock, so the plan the interleaved search then starts from is as reproducible as the search.
    """
    if not solver.parameters.interleave_search:
        return run_solver(solver, model, callback), solver.wall_time, solver
    first = cp_model.CpSolver()
    first.parameters.copy_from(solver.parameters)
    first.parameters.num_workers, first.parameters.interleave_search = 1, False
    first.parameters.max_deterministic_time = min(PROOF_PASS_DTIME, solver.parameters.max_deterministic_time)
    code = run_solver(first, model, callback)
    spent = first.wall_time
    if code in (cp_model.OPTIMAL, cp_model.INFEASIBLE, cp_model.MODEL_INVALID) or INTERRUPT.requested or (
            spent >= solver.parameters.max_time_in_seconds):
        return code, spent, first
    if code == cp_model.FEASIBLE:
        hint_with_solution(model, first)
    solver.parameters.max_time_in_seconds -= spent
    if callback is not None:
        callback.offset = spent
    searched = run_solver(solver, model, callback)
    if code == cp_model.FEASIBLE and searched not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return code, spent + solver.wall_time, first  # out of time before it held the pass's plan again
    return searched, spent + solver.wall_time, solver


def search_workers(workers: int) -> int:
    """CP-SAT's search workers: the scenario's count, or every core for 0.

    With more than one and solver.deterministic on, the search is interleaved (CP-SAT's deterministic
    parallel mode): the same model, seed and worker count give the same plan on any machine, however
    loaded, as long as the search ends before the wall-clock time limit (see Reproducibility in the
    README). Off, the workers search truly in parallel: much stronger on large batches, not reproducible.
    """
    return workers if workers > 0 else (os.cpu_count() or 1)


class _Interrupt:
    """Ctrl-C (SIGINT) while solving: stop every running search and keep the best plan found so far.

    Parts not started yet then stop at their first plan; a second Ctrl-C aborts the run.
    """

    def __init__(self) -> None:
        self.requested = False
        self.solvers: list[cp_model.CpSolver] = []

    def stop(self, signum, frame) -> None:
        for solver in list(self.solvers):
            solver.stop_search()
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


INTERRUPT = _Interrupt()


@contextlib.contextmanager
def stop_on_interrupt():
    """Route SIGINT to INTERRUPT for the duration (main thread only: Python runs signal handlers there)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) == INTERRUPT.stop:
        yield INTERRUPT
        return
    previous = signal.signal(signal.SIGINT, INTERRUPT.stop)
    INTERRUPT.requested = False
    try:
        yield INTERRUPT
    finally:
        signal.signal(signal.SIGINT, previous)


def run_solver(solver: cp_model.CpSolver, model: cp_model.CpModel, callback) -> int:
    """`solver.solve`, stoppable by Ctrl-C: the search runs in a helper thread while the main thread waits
    for signals (CP-SAT's own SIGINT handling would leave matcher unable to tell an interruption apart)."""
    if threading.current_thread() is not threading.main_thread():
        return solver.solve(model, callback)
    solver.parameters.catch_sigint_signal = False
    answer: dict = {}

    def search() -> None:
        try:
            answer["code"] = solver.solve(model, callback)
        except BaseException as exc:  # handed to the main thread below
            answer["error"] = exc

    with stop_on_interrupt():
        if INTERRUPT.requested:
            solver.parameters.stop_after_first_solution = True
        INTERRUPT.solvers.append(solver)
        try:
            thread = threading.Thread(target=search, name="cp-sat", daemon=True)
            thread.start()
            while thread.is_alive():
                thread.join(0.1)
        finally:
            INTERRUPT.solvers.remove(solver)
    if "error" in answer:
        if isinstance(answer["error"], MemoryError):
            raise SolverError("the solver ran out of memory; split the batch or use a machine with more memory")
        raise answer["error"]
    return answer["code"]


def invalid_model_message(model: cp_model.CpModel) -> str:
    """Why CP-SAT rejected the model: numbers too large for its 64-bit integers, or a bug in matcher."""
    reason = model.validate()
    if "overflow" in reason:
        return ("the batch's numbers are too large for the solver's 64-bit integers (a quantity, cost or "
                "priority times a scenario weight); use larger units (thousands of usd, say) or smaller weights")
    detail = reason.splitlines()[0] if reason else "no reason given"
    return f"the solver rejected the model (a bug in matcher; please report it): {detail}"


def ranked_terms():
    from matcher.labor import LABOR_TERMS
    from matcher.terms import OBJECTIVE_TERMS

    return OBJECTIVE_TERMS + LABOR_TERMS


def hint_with_solution(model: cp_model.CpModel, solver: cp_model.CpSolver) -> None:
    """Start the next solve from the plan just found."""
    model.clear_hints()
    solution = list(solver.response_proto.solution)
    add_hints(model, range(len(solution)), solution)


def classify(code: int, solver: cp_model.CpSolver) -> Status:
    """Map CP-SAT's answer to a Status; "optimal" only when the objective meets the proven bound.

    CP-SAT also answers OPTIMAL when it stops at a relative gap limit; such a plan is FEASIBLE here.
    """
    if code == cp_model.OPTIMAL:
        proven = round(solver.objective_value) == round(solver.best_objective_bound)
        return Status.OPTIMAL if proven else Status.FEASIBLE
    if code == cp_model.FEASIBLE:
        return Status.FEASIBLE
    if code == cp_model.INFEASIBLE:
        return Status.INFEASIBLE
    if code == cp_model.MODEL_INVALID:
        return Status.MODEL_INVALID
    return Status.NO_SOLUTION


def relative_gap(objective: float, bound: float) -> float:
    """(bound − objective) / max(|objective|, 1): 0 means proven optimal."""
    return max(0.0, bound - objective) / max(abs(objective), 1.0)
