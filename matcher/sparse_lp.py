"""A linear program held as numpy arrays, solved by GLOP, with a bound from its duals that holds whatever
GLOP's tolerances: the relaxations that bound large parts (`matcher.districts_lp`, `matcher.labor_lp`);
and the same with some columns whole, through SCIP's root or a HiGHS search."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple

import numpy as np
from ortools.linear_solver import linear_solver_pb2, pywraplp
from ortools.math_opt import model_pb2
from ortools.math_opt.python import mathopt


@dataclass
class SparseLp:
    """A maximisation LP with columns in [0, upper] and rows lower ≤ Σ value × column ≤ upper, as arrays."""

    objective: list[np.ndarray] = field(default_factory=list)
    upper: list[np.ndarray] = field(default_factory=list)
    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    row_bounds: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    n_columns: int = 0
    n_rows: int = 0

    def columns(self, objective: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """New columns; their indices."""
        self.objective.append(np.asarray(objective, float))
        self.upper.append(np.asarray(upper, float))
        self.n_columns += len(self.objective[-1])
        return np.arange(self.n_columns - len(self.objective[-1]), self.n_columns)

    def rows(self, row: np.ndarray, column: np.ndarray, value: np.ndarray, lower, upper) -> None:
        """New rows numbered from 0 in `row` (their count is len(lower)); entries (row, column, value)."""
        lower = np.asarray(lower, float)
        upper = np.broadcast_to(np.asarray(upper, float), lower.shape)
        self.entries.append((self.n_rows + np.asarray(row, "int64"), np.asarray(column, "int64"),
                             np.broadcast_to(np.asarray(value, float), np.shape(column))))
        self.row_bounds.append((lower, upper))
        self.n_rows += len(lower)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(objective, upper, row, column, value, row lower, row upper), the entries sorted by row."""
        row, column, value = (np.concatenate(parts) for parts in zip(*self.entries))
        order = np.argsort(row, kind="stable")
        lower, upper = (np.concatenate(parts) for parts in zip(*self.row_bounds))
        return (np.concatenate(self.objective), np.concatenate(self.upper), row[order], column[order],
                value[order], lower, upper)

    def solve(self, time_limit_s: float) -> tuple[np.ndarray, float] | None:
        """GLOP's columns and a bound on the optimum proven from its duals; None unless GLOP finds the optimum.

        GLOP stops at `time_limit_s` of its deterministic time (about a second each here: the state
        batch's LP took 11.9 s and needed between 6 and 12 units), so whether it finishes does not depend
        on the machine's load; its wall time is capped at twice that, against a much slower machine.
        """
        arrays = self.arrays()
        objective, upper, row, column, value, row_lower, row_upper = arrays
        solver = pywraplp.Solver.CreateSolver("GLOP")
        solver.LoadModelFromProto(model_proto(arrays))
        solver.SetSolverSpecificParametersAsString(f"max_deterministic_time: {time_limit_s}")
        solver.SetTimeLimit(max(1, int(2000 * time_limit_s)))
        if solver.Solve() != pywraplp.Solver.OPTIMAL:
            return None
        response = linear_solver_pb2.MPSolutionResponse()
        solver.FillSolutionResponseProto(response)
        duals = np.asarray(response.dual_value, float)
        # Any multipliers give a valid bound, so rather than rely on the sign convention of a maximisation's
        # duals, both signs are tried and the lower of the two bounds is kept.
        bound = min(dual_bound(objective, upper, row, column, value, row_lower, row_upper, sign * duals)
                    for sign in (1.0, -1.0))
        return np.asarray(response.variable_value, float), bound


def model_proto(arrays: tuple[np.ndarray, ...], integer: np.ndarray | None = None) -> linear_solver_pb2.MPModelProto:
    """`SparseLp.arrays` as a model for pywraplp; the columns at `integer` (indices) integer."""
    objective, upper, row, column, value, row_lower, row_upper = arrays
    is_integer = np.zeros(len(objective), dtype=bool)
    if integer is not None:
        is_integer[integer] = True
    proto = linear_solver_pb2.MPModelProto(maximize=True)
    for cost, top, whole in zip(objective.tolist(), upper.tolist(), is_integer.tolist()):
        proto.variable.add(lower_bound=0.0, upper_bound=top, objective_coefficient=cost, is_integer=whole)
    starts = np.searchsorted(row, np.arange(len(row_lower) + 1)).tolist()
    columns, values = column.tolist(), value.tolist()
    for r, (low, high) in enumerate(zip(row_lower.tolist(), row_upper.tolist())):
        proto.constraint.add(var_index=columns[starts[r]:starts[r + 1]],
                             coefficient=values[starts[r]:starts[r + 1]], lower_bound=low, upper_bound=high)
    return proto


def dual_bound(objective: np.ndarray, upper: np.ndarray, row: np.ndarray, column: np.ndarray, value: np.ndarray,
               row_lower: np.ndarray, row_upper: np.ndarray, duals: np.ndarray) -> float:
    """An upper bound on max objective·x over the LP from any row multipliers (weak duality), so it holds
    whatever the solver's tolerances: objective·x = duals·Ax + (objective − Aᵀduals)·x, each part at most
    its largest value over the row and column ranges. A multiplier whose row side is infinite counts 0."""
    duals = np.where((duals > 0) & np.isfinite(row_upper) | (duals < 0) & np.isfinite(row_lower), duals, 0.0)
    rows_part = np.where(duals > 0, duals * np.where(np.isfinite(row_upper), row_upper, 0.0),
                         duals * np.where(np.isfinite(row_lower), row_lower, 0.0)).sum()
    reduced = objective - np.bincount(column, weights=value * duals[row], minlength=len(objective))
    return float(rows_part + (np.maximum(reduced, 0.0) * upper).sum())


class MipResult(NamedTuple):
    """What a MIP solver found: a solution (None if none) and its objective, and a bound on the optimum."""

    values: np.ndarray | None
    objective: float
    bound: float


def solve_root(lp: SparseLp, integer: np.ndarray, time_limit_s: float) -> MipResult | None:
    """The LP with the columns at `integer` integer, through SCIP's root node only: its cuts bound the optimum
    more tightly than the LP does, and its heuristics may find a solution. None where the root does not end
    within `time_limit_s`.

    Stopping at the root keeps the answer the same from run to run (SCIP has no deterministic time limit;
    the wall limit is a guard). Unlike the LP's, this bound rests on SCIP's tolerances (1e-6 on feasibility),
    so it is `widened`.
    """
    arrays = lp.arrays()
    solver = pywraplp.Solver.CreateSolver("SCIP")
    solver.LoadModelFromProto(model_proto(arrays, integer))
    solver.SetSolverSpecificParametersAsString("limits/nodes = 1\n")
    solver.SetTimeLimit(max(1, int(1000 * time_limit_s)))
    code = solver.Solve()
    if code not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE) or solver.WallTime() > 1000 * time_limit_s:
        return None
    bound = widened(solver.Objective().BestBound(), arrays)
    response = linear_solver_pb2.MPSolutionResponse()
    solver.FillSolutionResponseProto(response)
    values = np.asarray(response.variable_value, float)
    if len(values) != lp.n_columns:
        return MipResult(None, -np.inf, bound)
    return MipResult(values, solver.Objective().Value(), bound)


def search_bound(lp: SparseLp, integer: np.ndarray, time_limit_s: float) -> float | None:
    """A bound on the LP with the columns at `integer` integer, from HiGHS's search (bundled with OR-Tools,
    through MathOpt) after `time_limit_s`; None where it holds none by then.

    For parts too large for SCIP's root in runs that need not be reproducible: HiGHS's LP is 3.6 times as
    fast as SCIP's on the state part, and its cuts bound it more tightly within 30 s, but it stops on the
    clock. Its bound, too, rests on tolerances and is `widened`.
    """
    arrays = lp.arrays()
    model = mathopt.Model.from_model_proto(mathopt_proto(arrays, integer))
    result = mathopt.solve(model, mathopt.SolverType.HIGHS,
                           params=mathopt.SolveParameters(time_limit=timedelta(seconds=time_limit_s)))
    bound = result.termination.objective_bounds.dual_bound
    if not np.isfinite(bound):
        return None
    return widened(bound, arrays)


def mathopt_proto(arrays: tuple[np.ndarray, ...], integer: np.ndarray) -> model_pb2.ModelProto:
    """`SparseLp.arrays` as a MathOpt model, the columns at `integer` (indices) whole."""
    objective, upper, row, column, value, row_lower, row_upper = arrays
    proto = model_pb2.ModelProto()
    columns = proto.variables
    columns.ids.extend(range(len(objective)))
    columns.lower_bounds.extend(np.zeros(len(objective)).tolist())
    columns.upper_bounds.extend(upper.tolist())
    is_integer = np.zeros(len(objective), dtype=bool)
    is_integer[integer] = True
    columns.integers.extend(is_integer.tolist())
    proto.objective.maximize = True
    costs = np.flatnonzero(objective)
    proto.objective.linear_coefficients.ids.extend(costs.tolist())
    proto.objective.linear_coefficients.values.extend(objective[costs].tolist())
    rows = proto.linear_constraints
    rows.ids.extend(range(len(row_lower)))
    rows.lower_bounds.extend(row_lower.tolist())
    rows.upper_bounds.extend(row_upper.tolist())
    order = np.lexsort((column, row))  # MathOpt wants the entries in row-major order
    matrix = proto.linear_constraint_matrix
    matrix.row_ids.extend(row[order].tolist())
    matrix.column_ids.extend(column[order].tolist())
    matrix.coefficients.extend(value[order].tolist())
    return proto


MIP_BOUND_MARGIN = 1e-6


def widened(bound: float, arrays: tuple[np.ndarray, ...]) -> float:
    """A MIP solver's bound on `SparseLp.arrays`, widened by MIP_BOUND_MARGIN of the most the objective could
    be: unlike the LP's, it rests on the solver's tolerances."""
    objective, upper = arrays[:2]
    return bound + MIP_BOUND_MARGIN * float(np.abs(objective * upper).sum())
