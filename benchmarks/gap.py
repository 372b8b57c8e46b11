"""GAP: matcher's labor model against the OR-Library generalised assignment instances and their optima.

Without fairness and coupling, choosing each role's lead is the generalised assignment problem:
jobs become required roles without supporters, agents become partners (capacity: role_hours),
resource uses become each partner's own hours for a role (capabilities.csv), and profits or
costs become strengths. Each instance is written as a batch folder, read back and solved through
`matcher.solve` (the labor model, verified), then by a plain CP-SAT GAP model and by HiGHS, in
the same run, with the same time limit and the same CP-SAT workers.

Senses: gap1-gap12 run as the OR-Library table states them (max: costs read as profits); types
a-e as minimisation, with strength = largest cost + 1 - cost, so the strongest plan is the
cheapest. Strengths are kept in matcher's 0-10 range by a power-of-ten divisor, which is exact.

    python -m benchmarks gap --quick          # two small instances, a few seconds
    python -m benchmarks gap                  # gap1-gap12 (60 problems), 10 s each
    python -m benchmarks gap --set ae         # types a-e, 60 s each
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
DATA_CANDIDATES = (REPO.parent / "shared" / "benchmarks" / "gap", Path("/work/shared/benchmarks/gap"))
RESULTS = REPO / "benchmarks" / "results" / "gap.json"
ORLIB_FILES = tuple(f"gap{k}.txt" for k in range(1, 13))
QUICK = ("c515-1", "c1060-1")
SOLVERS = ("matcher", "cpsat", "highs")


@dataclass(frozen=True)
class Instance:
    """One GAP problem: agents × jobs costs and resource uses, agent capacities, and its known value."""

    name: str
    file: str
    sense: str  # "max" (costs are profits) or "min"
    known: int
    known_status: str
    costs: np.ndarray
    uses: np.ndarray
    capacity: np.ndarray

    @property
    def agents(self) -> int:
        return self.costs.shape[0]

    @property
    def jobs(self) -> int:
        return self.costs.shape[1]


@dataclass
class Outcome:
    """What one solver reached on one instance, in the instance's own units and sense."""

    instance: str
    sense: str
    solver: str
    known: int
    value: float | None
    bound: float | None
    gap_to_known: float | None
    seconds: float
    status: str
    feasible: bool
    threads: int
    solve_seconds: float | None = None  # the solver's own wall time, without matcher's reading and verifying


def find_data(explicit: str | None = None) -> Path:
    """The folder of instances: --data, else ../shared/benchmarks/gap from the repo root (as in CI)."""
    for folder in ([Path(explicit)] if explicit else list(DATA_CANDIDATES)):
        if (folder / "optima.csv").exists():
            return folder
    raise SystemExit(f"no GAP instances found (looked in {', '.join(map(str, DATA_CANDIDATES))}); pass --data")


def read_problems(path: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(costs, uses, capacity) of each problem in an OR-Library file (gapN.txt holds several)."""
    numbers = [int(t) for t in path.read_text().split()]
    count, at = (numbers[0], 1) if path.name in ORLIB_FILES else (1, 0)
    problems = []
    for _ in range(count):
        m, n = numbers[at], numbers[at + 1]
        at += 2
        costs = np.array(numbers[at: at + m * n]).reshape(m, n)
        at += m * n
        uses = np.array(numbers[at: at + m * n]).reshape(m, n)
        at += m * n
        problems.append((costs, uses, np.array(numbers[at: at + m])))
        at += m
    return problems


def load_instances(data: Path, which: str, sense: str | None, only: list[str]) -> list[Instance]:
    """Instances of a set (`gap`: gap1-12, `ae`: types a-e, `all`), in optima.csv order."""
    problems: dict[str, list] = {}
    instances = []
    with open(data / "optima.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            orlib = row["file"] in ORLIB_FILES
            if (which == "gap" and not orlib) or (which == "ae" and orlib):
                continue
            if row["sense"] != (sense or ("max" if orlib else "min")):
                continue
            if only and not any(row["instance"] == o or row["file"].split(".")[0] == o for o in only):
                continue
            if row["file"] not in problems:
                problems[row["file"]] = read_problems(data / row["file"])
            costs, uses, capacity = problems[row["file"]][int(row["problem_index"])]
            instances.append(Instance(row["instance"], row["file"], row["sense"], int(row["value"]),
                                      row["status"], costs, uses, capacity))
    return instances


def strengths(instance: Instance) -> tuple[np.ndarray, int]:
    """Integer strength values (most is best) and the power-of-ten divisor that puts them in 0-10."""
    values = instance.costs if instance.sense == "max" else instance.costs.max() + 1 - instance.costs
    divisor = 10 ** max(0, math.ceil(math.log10(values.max() / 10)))
    return values, divisor


def write_batch(instance: Instance, folder: Path, time_limit_s: float, workers: int) -> Path:
    """The instance as a matcher batch: one district, no offers or needs, agents as partners, jobs as roles.

    The allocation side is empty, so its weights are 0 and the objective is the strength fit alone.
    """
    values, divisor = strengths(instance)
    agents = [f"A{i + 1:02d}" for i in range(instance.agents)]
    jobs = [f"J{j + 1:03d}" for j in range(instance.jobs)]
    tables = {
        "districts": pd.DataFrame({"district_id": ["D1"], "name": ["GAP"]}),
        "partners": pd.DataFrame({"partner_id": agents, "home_district": "D1", "role_hours": instance.capacity}),
        "offers": pd.DataFrame(columns=["offer_id", "partner_id", "resource", "quantity"]),
        "needs": pd.DataFrame(columns=["need_id", "district_id", "resource", "quantity"]),
        "roles": pd.DataFrame({"role_id": jobs, "skill": "gap", "hours": 0, "required": "true", "supporters": 0}),
        "capabilities": pd.DataFrame({
            "partner_id": np.repeat(agents, instance.jobs), "role_id": np.tile(jobs, instance.agents),
            "strength": [f"{v / divisor}" for v in values.ravel()], "hours": instance.uses.ravel()}),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(folder / f"{name}.csv", index=False)
    (folder / "scenario.toml").write_text(
        "# A GAP instance: strength fit of leads only; no fairness, no benefit term.\n"
        "[weights]\ncoverage = 0.0\ntravel = 0.0\ncost = 0.0\n"
        "[labor]\nstrength = 1.0\nlead_factor = 1.0\nfairness = 0.0\nrole_held = 0.0\n"
        f"[solver]\ntime_limit_s = {time_limit_s}\nworkers = {workers}\nseed = 0\n")
    return folder


def check(instance: Instance, assignment: np.ndarray | None) -> tuple[float | None, bool]:
    """The assignment's value in the instance's units and whether it is feasible (every job once, capacities)."""
    if assignment is None or (assignment < 0).any():
        return None, False
    jobs = np.arange(instance.jobs)
    load = np.bincount(assignment, weights=instance.uses[assignment, jobs], minlength=instance.agents)
    return float(instance.costs[assignment, jobs].sum()), bool((load <= instance.capacity).all())


def outcome(instance: Instance, solver: str, value: float | None, bound: float | None, seconds: float,
            status: str, feasible: bool, threads: int) -> Outcome:
    value, bound = (None if v is None else float(v) for v in (value, bound))
    gap = None if value is None else abs(value - instance.known) / instance.known
    return Outcome(instance.name, instance.sense, solver, instance.known, value, bound, gap, round(seconds, 3),
                   status, feasible, threads)


def solve_matcher(instance: Instance, time_limit_s: float, workers: int) -> Outcome:
    """Through matcher itself: write the batch, read and validate it, solve (labor model) and verify."""
    import matcher

    with tempfile.TemporaryDirectory(prefix="gap-") as tmp:
        started = time.perf_counter()
        batch = matcher.read_batch(write_batch(instance, Path(tmp), time_limit_s, workers))
        result = matcher.solve(batch)
        seconds = time.perf_counter() - started
    values, divisor = strengths(instance)
    if not result.status.has_plan:
        return outcome(instance, "matcher", None, None, seconds, result.status.value, False, workers)
    leads = result.tables["labor"]
    leads = leads[leads["position"] == "lead"]
    assignment = np.full(instance.jobs, -1)
    assignment[leads["role_id"].str[1:].astype(int) - 1] = leads["partner_id"].str[1:].astype(int) - 1
    value, feasible = check(instance, assignment)
    bound = math.floor(result.best_bound * divisor + 1e-6)  # total strength value the model proved
    if instance.sense == "min":
        bound = instance.jobs * (instance.costs.max() + 1) - bound
    found = outcome(instance, "matcher", value, bound, seconds, result.status.value, feasible, workers)
    found.solve_seconds = round(result.times["solve_s"], 3)
    return found


def solve_cpsat(instance: Instance, time_limit_s: float, workers: int) -> Outcome:
    """A plain CP-SAT GAP model: a Boolean per (agent, job) that fits, one agent per job, capacities."""
    from ortools.sat.python import cp_model

    started = time.perf_counter()
    model = cp_model.CpModel()
    fits = instance.uses <= instance.capacity[:, None]
    x = {(i, j): model.new_bool_var(f"x{i}_{j}") for i, j in zip(*np.nonzero(fits))}
    for j in range(instance.jobs):
        model.add_exactly_one(x[i, j] for i in range(instance.agents) if fits[i, j])
    for i in range(instance.agents):
        model.add(sum(int(instance.uses[i, j]) * x[i, j] for j in range(instance.jobs) if fits[i, j])
                  <= int(instance.capacity[i]))
    objective = sum(int(instance.costs[i, j]) * v for (i, j), v in x.items())
    model.maximize(objective) if instance.sense == "max" else model.minimize(objective)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = 0
    code = solver.solve(model)
    seconds = time.perf_counter() - started
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return outcome(instance, "cpsat", None, None, seconds, solver.status_name(code).lower(), False, workers)
    assignment = np.full(instance.jobs, -1)
    for (i, j), v in x.items():
        if solver.boolean_value(v):
            assignment[j] = i
    value, feasible = check(instance, assignment)
    return outcome(instance, "cpsat", value, solver.best_objective_bound, seconds,
                   solver.status_name(code).lower(), feasible, workers)


def solve_highs(instance: Instance, time_limit_s: float) -> Outcome:
    """The same GAP as a MIP for HiGHS (its branch and bound runs on one thread)."""
    import highspy

    started = time.perf_counter()
    fits = np.argwhere(instance.uses <= instance.capacity[:, None])  # (agent, job) per column
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(fits), instance.jobs + instance.agents
    lp.col_cost_ = instance.costs[fits[:, 0], fits[:, 1]].astype(float)
    lp.col_lower_, lp.col_upper_ = np.zeros(len(fits)), np.ones(len(fits))
    lp.row_lower_ = np.r_[np.ones(instance.jobs), np.full(instance.agents, -highspy.kHighsInf)]
    lp.row_upper_ = np.r_[np.ones(instance.jobs), instance.capacity.astype(float)]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(0, 2 * len(fits) + 1, 2)
    lp.a_matrix_.index_ = np.c_[fits[:, 1], instance.jobs + fits[:, 0]].ravel()
    lp.a_matrix_.value_ = np.c_[np.ones(len(fits)), instance.uses[fits[:, 0], fits[:, 1]]].ravel().astype(float)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * len(fits)
    lp.sense_ = highspy.ObjSense.kMaximize if instance.sense == "max" else highspy.ObjSense.kMinimize
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    h.run()
    seconds = time.perf_counter() - started
    status = h.modelStatusToString(h.getModelStatus()).lower()
    info = h.getInfo()
    if info.primal_solution_status != 2:  # no feasible solution
        return outcome(instance, "highs", None, None, seconds, status, False, 1)
    chosen = np.asarray(h.getSolution().col_value) > 0.5
    assignment = np.full(instance.jobs, -1)
    assignment[fits[chosen, 1]] = fits[chosen, 0]
    value, feasible = check(instance, assignment)
    return outcome(instance, "highs", value, info.mip_dual_bound, seconds, status, feasible, 1)


def run_instance(instance: Instance, time_limit_s: float, workers: int, solvers: tuple[str, ...]) -> list[Outcome]:
    runs = {"matcher": lambda: solve_matcher(instance, time_limit_s, workers),
            "cpsat": lambda: solve_cpsat(instance, time_limit_s, workers),
            "highs": lambda: solve_highs(instance, time_limit_s)}
    return [runs[name]() for name in solvers]


def format_row(results: list[Outcome]) -> str:
    first = results[0]
    cells = [f"{first.instance:<9} {first.sense:<3} {first.known:>6}"]
    for r in results:
        value = "—" if r.value is None else f"{r.value:.0f}"
        bound = "—" if r.bound is None else f"{r.bound:.0f}"
        gap = "—" if r.gap_to_known is None else f"{100 * r.gap_to_known:.2f}%"
        flag = "" if r.feasible else "!"
        cells.append(f"{value:>6}{flag:1} {bound:>6} {gap:>6} {r.seconds:>6.2f}s")
    return " | ".join(cells)


def header(solvers: tuple[str, ...]) -> str:
    blocks = [f"{'instance':<9} {'sen':<3} {'known':>6}"]
    blocks += [f"{name:^7}{'bound':>7} {'gap':>6} {'time':>7}" for name in solvers]
    return " | ".join(blocks)


def summary(outcomes: list[Outcome], solvers: tuple[str, ...]) -> list[str]:
    lines = []
    for name in solvers:
        rows = [o for o in outcomes if o.solver == name]
        hit = sum(o.feasible and o.gap_to_known == 0 for o in rows)
        proven = sum(o.status == "optimal" for o in rows)
        total = sum(o.seconds for o in rows)
        threads = rows[0].threads if rows else 0
        own = sum(o.solve_seconds or 0.0 for o in rows)
        solver_only = f" (solver alone {own:.1f} s; the rest is writing, reading and verifying)" if own else ""
        lines.append(f"{name:<8} reached the known value on {hit}/{len(rows)}, proven optimal on {proven}; "
                     f"total {total:.1f} s{solver_only}, mean {total / max(1, len(rows)):.2f} s; threads {threads}")
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="which", choices=("gap", "ae", "all"), default="gap",
                        help="gap: gap1-gap12 (default); ae: types a-e; all: both")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME",
                        help="instances (c515-1, d10100) or files (gap3) to run")
    parser.add_argument("--sense", choices=("max", "min"),
                        help="force a sense (default: max for gap1-12, min for a-e)")
    parser.add_argument("--time-limit", type=float, help="seconds per instance and solver (default 10 for "
                        "gap1-12, 60 for a-e)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                        help="CP-SAT workers for matcher and plain CP-SAT alike (default: cores, at most 8)")
    parser.add_argument("--solvers", nargs="+", choices=SOLVERS, default=list(SOLVERS))
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}, 5 s each")
    parser.add_argument("--data", help="folder of the instances and optima.csv")
    parser.add_argument("--out", default=str(RESULTS), help="JSON results file")


def run(args: argparse.Namespace) -> int:
    data = find_data(args.data)
    only = list(QUICK) if args.quick else args.only
    instances = load_instances(data, args.which, args.sense, only)
    solvers = tuple(args.solvers)
    print(f"GAP benchmark: {len(instances)} instances from {data}; CP-SAT workers {args.workers}, "
          "HiGHS threads 1; value ! = infeasible; gap = |value - known| / known")
    print(header(solvers))
    outcomes: list[Outcome] = []
    for instance in instances:
        limit = args.time_limit or (5.0 if args.quick else 10.0 if instance.file in ORLIB_FILES else 60.0)
        results = run_instance(instance, limit, args.workers, solvers)
        outcomes += results
        print(format_row(results), flush=True)
    for line in summary(outcomes, solvers):
        print(line)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"workers": args.workers, "results": [asdict(o) for o in outcomes]}, indent=1) + "\n")
    print(f"results written to {out}")
    must = {i.name for i in instances if i.file in ORLIB_FILES}  # gap1-gap12 must reach their optimum
    missed = [o.instance for o in outcomes if o.solver == "matcher" and o.instance in must
              and not (o.feasible and o.gap_to_known == 0)]
    if missed:
        print(f"matcher missed the known optimum of {', '.join(missed)}")
    return 1 if missed else 0
