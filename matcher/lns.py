"""A search over districts for large district-limited parts: CP-SAT on a few districts at a time.

CP-SAT's own search of such a part spends much of its share presolving the whole model and then
tries few neighbourhoods of its own choosing (14 in 70 s on the generated state batch's 43,773
pairs). Here each step frees the pairings into one district and its neighbours, and every pairing
of the partners the plan has there (so that a partner at its district limit can move), holds every
other pairing at the best plan so far, and lets CP-SAT improve that: its presolve removes what is
held in a tenth of a second, and the step keeps what it finds where it is better than the plan it
was hinted with. The plan keeps every rule of the model searched; the search proves nothing,
so the part is bounded by its relaxations, never by these steps.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from matcher.errors import SolverError
from matcher.model import AllocationModel, add_hints

# Each neighbourhood's search. From the state part's completed start, in 100 s: 2 s steps reached 2,153.3 (CP-SAT's
# own search near the LP 2,153.4), 1 s 2,156.6, 0.5 s 2,158.1 (107 of 130 steps improving), 0.25 s 2,149.4 (106 of 198).
STEP_TIME_S = 0.5
# A neighbourhood's search stops this close to its own bound (in 1/OBJECTIVE_SCALE: 0.01 of a point). CP-SAT
# seldom closes the last hundredth on one, and improving steps gained about 0.3 of a point each on the state part.
STEP_ABSOLUTE_GAP = 1_000_000


@dataclass
class DistrictSearch:
    """What the search over districts found: the solver holding its best plan (None: nothing better than the
    start), how many neighbourhoods it searched, how many of them improved the plan, and the seconds it took."""

    best: cp_model.CpSolver | None
    steps: int
    improved: int
    seconds: float

    def answer(self, start: cp_model.CpSolver) -> tuple[int, float, cp_model.CpSolver]:
        """As `matcher.solve.search` answers: FEASIBLE and the solver of the best plan, or UNKNOWN and the start's
        where no neighbourhood improved it (the part then keeps its start); and the seconds searched."""
        if self.best is None:
            return cp_model.UNKNOWN, self.seconds, start
        return cp_model.FEASIBLE, self.seconds, self.best

    def counts(self) -> dict[str, int]:
        """For run.json: how many neighbourhoods were searched, and how many improved the plan."""
        return {"searched": self.steps, "improved": self.improved}


def search_by_districts(m: AllocationModel, model: cp_model.CpModel, start: cp_model.CpSolver,
                        parameters, time_limit_s: float, callback=None) -> DistrictSearch:
    """Improve `start`, a plan of `model` (m's model or a restriction of it), one neighbourhood after another,
    until `time_limit_s` is spent or Ctrl-C stops the run.

    `parameters` (CP-SAT's) give each step its workers and seed; neighbourhoods are drawn from the seed too.
    """
    from matcher.solve import INTERRUPT, invalid_model_message, run_solver

    started = time.perf_counter()
    values = np.asarray(start.response_proto.solution, dtype=np.int64)
    objective = start.objective_value
    held = HeldPlan(m, model, values)
    neighbours = district_neighbours(m)
    districts = sorted(neighbours)
    used = np.array([variable.index for variable in m.used], dtype=np.int64)
    rng = np.random.default_rng(parameters.random_seed)
    best, steps, improved = None, 0, 0
    while (left := time_limit_s - (time.perf_counter() - started)) > 0.1 * STEP_TIME_S:
        district = districts[rng.integers(len(districts))]
        free = neighbourhood(m, values[used] > 0, {district, *neighbours[district]})
        solver = cp_model.CpSolver()
        solver.parameters.copy_from(parameters)
        solver.parameters.max_time_in_seconds = min(STEP_TIME_S, left)
        solver.parameters.absolute_gap_limit = STEP_ABSOLUTE_GAP
        solver.parameters.relative_gap_limit = 0.0
        solver.parameters.random_seed = parameters.random_seed + steps
        if callback is not None:
            callback.offset = time.perf_counter() - started
        code = run_solver(solver, held.opened(free, values), callback)
        if code == cp_model.MODEL_INVALID:
            raise SolverError(invalid_model_message(held.model))
        steps += 1
        if code in (cp_model.OPTIMAL, cp_model.FEASIBLE) and solver.objective_value > objective:
            best, objective, improved = solver, solver.objective_value, improved + 1
            values = np.asarray(solver.response_proto.solution, dtype=np.int64)
        held.hold(free, values)
        if INTERRUPT.requested:
            break
    return DistrictSearch(best, steps, improved, time.perf_counter() - started)


def district_neighbours(m: AllocationModel) -> dict[str, set[str]]:
    """Each district the part's pairs reach, with its neighbours among them (districts.csv `neighbors`)."""
    reached = set(m.pairs["district_id"])
    listed = m.batch.districts.set_index("district_id")["neighbors"]
    return {district: {n for n in listed.get(district, []) if n in reached and n != district}
            for district in reached}


def neighbourhood(m: AllocationModel, sending: np.ndarray, districts: set[str]) -> np.ndarray:
    """The pairs a step may change: those into `districts`, and every pair of the partners the plan sends
    something there (`sending`: the pairs it uses), so that each can trade a district for another."""
    into = m.pairs["district_id"].isin(districts).to_numpy()
    present = m.pairs["partner_id"].to_numpy()[into & sending]
    return into | m.pairs["partner_id"].isin(present).to_numpy()


class HeldPlan:
    """A copy of the searched model with every pairing held at a plan, opened one neighbourhood at a time.

    A step changes the domains of the pairings it frees, and nothing else: copying the whole model
    and holding every other pairing anew took 0.2 s a step on the state part.
    """

    def __init__(self, m: AllocationModel, model: cp_model.CpModel, values: np.ndarray):
        self.model = model.clone()
        pair, index = [], []
        for p, variables in enumerate(zip(m.used, m.amount)):
            for variable in variables:
                if isinstance(variable, cp_model.IntVar):  # an indivisible pair's amount is `upper × used`
                    pair.append(p)
                    index.append(variable.index)
        self.pair, self.index = np.array(pair, dtype=np.int64), np.array(index, dtype=np.int64)
        self.domains = [list(model.proto.variables[i].domain) for i in index]  # the searched model's own
        self.hold(np.ones(len(m.pairs), dtype=bool), values)

    def opened(self, free: np.ndarray, values: np.ndarray) -> cp_model.CpModel:
        """The copy with the pairings in `free` (a mask over pairs) as the searched model has them, every other
        held, and the whole plan (`values`, the model's variables) as its hint."""
        variables = self.model.proto.variables
        for k in np.flatnonzero(free[self.pair]):
            domain = variables[int(self.index[k])].domain
            domain.clear()
            domain.extend(self.domains[k])
        self.model.clear_hints()
        add_hints(self.model, range(len(values)), values.tolist())
        return self.model

    def hold(self, free: np.ndarray, values: np.ndarray) -> None:
        """Hold the pairings in `free` at `values` again (the plan the step kept)."""
        variables = self.model.proto.variables
        for k in np.flatnonzero(free[self.pair]):
            i = int(self.index[k])
            domain = variables[i].domain
            domain.clear()
            domain.extend([int(values[i])] * 2)
