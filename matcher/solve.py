"""Run CP-SAT on a batch and turn its answer into a verified Result."""
from __future__ import annotations

import math
import time
from typing import Callable

from ortools.sat.python import cp_model

from matcher.batch import Batch
from matcher.errors import InputError, Problem
from matcher.candidates import eligible_pairs
from matcher.labor import chosen_positions
from matcher.model import OBJECTIVE_SCALE, build_model
from matcher.outputs import build_tables, objective_terms
from matcher.result import Result, Status
from matcher.scenario import Scenario
from matcher.verify import verify_tables


Progress = Callable[[float, float, float], None]  # (seconds, objective, bound) each time a better plan is found


class _ProgressCallback(cp_model.CpSolverSolutionCallback):
    def __init__(self, progress: Progress):
        super().__init__()
        self.progress = progress

    def on_solution_callback(self) -> None:
        self.progress(self.wall_time, self.objective_value / OBJECTIVE_SCALE,
                      self.best_objective_bound / OBJECTIVE_SCALE)


def solve(batch: Batch, scenario: Scenario | None = None, progress: Progress | None = None) -> Result:
    """Solve a batch under a scenario (the batch's own if none is given) and verify the plan."""
    scenario = scenario or batch.scenario
    times = {}
    started = time.perf_counter()
    pairs = eligible_pairs(batch)
    m = build_model(batch, pairs, scenario)
    times["build_s"] = time.perf_counter() - started

    solver = cp_model.CpSolver()
    limits = scenario.solver
    solver.parameters.max_time_in_seconds = limits.time_limit_s
    solver.parameters.relative_gap_limit = limits.relative_gap
    solver.parameters.num_workers = limits.workers
    solver.parameters.random_seed = limits.seed
    callback = _ProgressCallback(progress) if progress else None
    stages: list[dict] = []
    if limits.mode == "lexicographic":
        code = solve_in_order(m, solver, scenario, callback, stages)
    else:
        code = solver.solve(m.model, callback)
    times["solve_s"] = sum(stage["solve_s"] for stage in stages) + solver.wall_time

    status = classify(code, solver)
    if status is Status.OPTIMAL and any(stage["status"] != "optimal" for stage in stages):
        status = Status.FEASIBLE  # a ranked term was held at a value not proven best
    stats = {"pairs": len(pairs), "variables": len(m.model.proto.variables),
             "constraints": len(m.model.proto.constraints)}
    if not status.has_plan:
        return Result(status=status, scenario=scenario, batch=batch, times=times, model_stats=stats)

    objective = solver.objective_value / OBJECTIVE_SCALE
    bound = solver.best_objective_bound / OBJECTIVE_SCALE
    amounts = [int(solver.value(a)) for a in m.amount]
    tables = build_tables(batch, pairs, amounts, scenario, positions=chosen_positions(m, solver))
    result = Result(status=status, scenario=scenario, batch=batch, times=times, model_stats=stats,
                    objective=objective, best_bound=bound, gap=relative_gap(objective, bound),
                    tables=tables, terms=objective_terms(batch, tables, scenario),
                    breakdown={name: solver.value(expr) / OBJECTIVE_SCALE for name, expr in m.terms.items()},
                    stages=stages)
    started = time.perf_counter()
    verify_tables(batch, result.tables, result.manifest()).raise_if_any()
    result.times["verify_s"] = time.perf_counter() - started
    return result


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
        code = solver.solve(m.model, callback)
        stage = {"term": key, "status": classify(code, solver).value, "solve_s": solver.wall_time}
        stages.append(stage)
        if not classify(code, solver).has_plan:
            return code
        best = round(solver.objective_value)
        stage.update(value=best / OBJECTIVE_SCALE, bound=solver.best_objective_bound / OBJECTIVE_SCALE)
        m.model.add(term >= best - math.floor(scenario.lexicographic.tolerance * abs(best)))
        hint_with_solution(m.model, solver)
    m.model.maximize(weighted)
    solver.parameters.max_time_in_seconds = max(0.01, deadline - time.perf_counter())
    return solver.solve(m.model, callback)


def ranked_terms():
    from matcher.labor import LABOR_TERMS
    from matcher.terms import OBJECTIVE_TERMS

    return OBJECTIVE_TERMS + LABOR_TERMS


def hint_with_solution(model: cp_model.CpModel, solver: cp_model.CpSolver) -> None:
    """Start the next solve from the plan just found."""
    model.clear_hints()
    for index, value in enumerate(solver.response_proto.solution):
        model.add_hint(model.get_int_var_from_proto_index(index), value)


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
