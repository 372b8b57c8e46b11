"""Scale: matcher on generated city, state and national batches, against a dense model, HiGHS, greedy and flow.

For each size a seeded batch is generated (matcher.generate) and measured:
- the floor: reading its CSV files with plain pandas;
- matcher on the batch as generated: read + validate, candidate pairs, parts, model build, solve,
  status, objective, bound, gap and peak memory (each run in a fresh process; the peak is that
  process's ru_maxrss, read from RUSAGE_CHILDREN by a launcher whose only child it is);
- matcher on its "core" variant (no roles, conflicts, decisions, partner limits, legal caps,
  policies, pooling or fairness), the problem the baselines solve too:
  - a naive dense model (every offer × every need, ineligible pairs with upper bound 0) built by
    matcher.model.build_model, where offers × needs is at most --dense-max, stopped once its memory
    passes --dense-memory-gib (its ratios are then lower bounds: time and memory it had used by then);
  - HiGHS on the same MIP, given matcher's final gap (at least 1e-4) and the same time limit; the
    speed ratio is the time each takes to first hold a plan within the gap both reach (when HiGHS
    stops short of matcher's gap; matcher's core is run again with shorter limits, told that gap, as
    HiGHS was: --same-gap-reruns);
  - a greedy plan (what a spreadsheet does), its coverage against matcher's, verified by matcher;
- the "flow" variant (core, travel weight 0, every offer divisible with min_chunk 1, no floors),
  whose parts are transportation problems solved by min-cost flow: solve time against the CSV read.

    python -m benchmarks scale --quick                      # city only, 5 s limits
    python -m benchmarks scale --sizes city,state           # what `make bench` runs
    python -m benchmarks scale --sizes national --time-limit 120
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "scale.json"
SIZES = ("city", "state", "national")
DENSE_MAX = 10_000_000
DENSE_MEMORY_GIB = 18.0
TARGETS = {"national_gap": 0.01, "highs_speed": 5.0, "dense_ratio": 20.0, "flow_vs_read": 3.0,
           "national_peak_gib": 8.0}
CORE_SCENARIO = """\
# Core variant for the scale benchmark: the allocation core only, comparable with the HiGHS MIP.
[weights]
fairness = 0.0
pooling = 0.0
travel = {travel}

[labor]
fairness = 0.0

[legal]
caps_usd = {{}}
no_candidate_support = []

[solver]
time_limit_s = {time_limit:g}
relative_gap = {relative_gap:g}
seed = {seed}
"""
LAUNCHER = ("import json, resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
            "print(json.dumps({'returncode': code, "
            "'maxrss_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")


# Variants of a generated batch ----------------------------------------------------------------------------------


def read_csvs(folder: Path) -> float:
    """Seconds to read every CSV of the folder with plain pandas: the floor any tool pays."""
    started = time.perf_counter()
    for path in sorted(folder.glob("*.csv")):
        pd.read_csv(path)
    return time.perf_counter() - started


def write_core(folder: Path, target: Path, time_limit: float, relative_gap: float, seed: int,
               flow: bool = False) -> Path:
    """The core variant of a batch folder (or, with `flow`, its pure transportation variant)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in ("districts.csv",):
        shutil.copy(folder / name, target / name)
    partners = pd.read_csv(folder / "partners.csv", dtype=str, keep_default_na=False)
    partners["max_districts"] = ""
    partners["max_roles"] = ""
    partners.to_csv(target / "partners.csv", index=False, lineterminator="\n")
    offers = pd.read_csv(folder / "offers.csv", dtype=str, keep_default_na=False)
    needs = pd.read_csv(folder / "needs.csv", dtype=str, keep_default_na=False)
    if flow:
        offers["divisible"] = "true"
        offers["min_chunk"] = "1"
        needs["floor"] = "0"
    offers.to_csv(target / "offers.csv", index=False, lineterminator="\n")
    needs.to_csv(target / "needs.csv", index=False, lineterminator="\n")
    travel = 0.0 if flow else 0.001
    (target / "scenario.toml").write_text(CORE_SCENARIO.format(travel=travel, time_limit=time_limit,
                                                               relative_gap=relative_gap, seed=seed))
    return target


# Measured runs, each in a fresh process ---------------------------------------------------------------------


def measure(task: dict, work: Path, timeout_s: float, memory_cap_mib: float | None = None) -> dict:
    """Run `task` in a fresh worker process; its answer plus its peak memory and wall time.

    With `memory_cap_mib`, the worker is stopped once its resident memory passes the cap: the answer
    then says so (`stopped`), with what the worker had noted of its progress.
    """
    spec, answer = work / f"{task['name']}.task.json", work / f"{task['name']}.answer.json"
    spec.write_text(json.dumps(task))
    answer.unlink(missing_ok=True)
    worker = [sys.executable, "-c", "from benchmarks.scale import child; child()", str(spec), str(answer)]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.perf_counter()
    printed = open(work / f"{task['name']}.out", "w+", encoding="utf-8")  # a file: a pipe could fill and block
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, *worker], cwd=REPO, env=env,
                                stdout=printed, text=True, start_new_session=True)
    highest = 0.0
    while launcher.poll() is None:
        wall = time.perf_counter() - started
        highest = max(highest, session_rss_mib(launcher.pid))
        over = memory_cap_mib is not None and highest > memory_cap_mib
        if over or wall > timeout_s:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
            printed.close()
            noted = json.loads(answer.read_text()) if answer.exists() else {}
            if not over:
                return dict(noted, error=f"timed out after {timeout_s:g} s", wall_s=wall)
            model_s = time.time() - noted.get("clock_started", time.time() - wall)
            return dict(noted, stopped=f"over {memory_cap_mib:,.0f} MiB after {wall:.0f} s", wall_s=wall,
                        peak_mib=highest, stopped_after_model_start_s=model_s)
        time.sleep(0.25)
    wall = time.perf_counter() - started
    printed.seek(0)
    out = printed.read()
    printed.close()
    usage = json.loads(out.strip().splitlines()[-1])
    result = json.loads(answer.read_text()) if answer.exists() else {
        "error": f"worker exited with code {usage['returncode']}"}
    result.update(wall_s=wall, peak_mib=usage["maxrss_kib"] / 1024)
    return result


def session_rss_mib(session: int) -> float:
    """Resident memory of every process in a session (Linux /proc), in MiB."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[3]) == session:  # fields after the name: state, ppid, pgrp, session, …
            total += int(fields[21])  # rss, in pages
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def child() -> None:
    """Worker entry point: `child(task.json, answer.json)`; writes the task's measurements as JSON."""
    task = json.loads(Path(sys.argv[1]).read_text())
    runner = {"matcher": matcher_task, "dense": dense_task, "highs": highs_task}[task["kind"]]
    task["answer"] = sys.argv[2]
    try:
        answer = runner(task)
    except Exception as exc:  # reported in the table, not hidden
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    Path(sys.argv[2]).write_text(json.dumps(answer, default=float))


def matcher_task(task: dict) -> dict:
    """matcher.solve on a batch folder, with the time of each stage."""
    import importlib

    import matcher

    solve_module = importlib.import_module("matcher.solve")  # the module: `matcher.solve` is the function
    timings: dict[str, float] = {}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            value = function(*args, **kwargs)
            timings[name] = time.perf_counter() - started
            return value
        return wrapper

    started = time.perf_counter()
    batch = matcher.read_batch(task["folder"])
    read_s = time.perf_counter() - started
    scenario = batch.scenario.with_(task.get("overrides", {}))
    solve_module.eligible_pairs = timed("candidates_s", solve_module.eligible_pairs)
    solve_module.find_parts = timed("parts_s", solve_module.find_parts)
    started = time.perf_counter()
    result = matcher.solve(batch, scenario)
    total = time.perf_counter() - started
    times = result.times
    methods: dict[str, int] = {}
    starts: dict[str, int] = {}
    for part in result.parts:
        methods[part["method"]] = methods.get(part["method"], 0) + 1
        if part.get("pairs", 0) >= 1_000:
            starts[part.get("start", "none")] = starts.get(part.get("start", "none"), 0) + 1
    return {"read_validate_s": read_s, "candidates_s": timings["candidates_s"],
            "parts_s": timings.get("parts_s", 0.0),  # a transportation batch is solved whole, never split
            "pairs": result.model_stats["pairs"], "parts": result.model_stats["parts"], "methods": methods,
            "starts_of_large_parts": starts, "region_splits": result.model_stats.get("region_splits", []),
            "largest_part_pairs": max((p["pairs"] for p in result.parts), default=0),
            "variables": result.model_stats["variables"], "constraints": result.model_stats["constraints"],
            "build_s": times["build_s"], "search_s": times["solve_s"] - times["build_s"],
            "solve_wall_s": times["solve_s"], "tables_s": times.get("tables_s"), "verify_s": times.get("verify_s"),
            "solve_total_s": total,
            "status": result.status.value, "objective": result.objective, "bound": result.best_bound,
            "gap": result.gap, "coverage": result.coverage}


def dense_task(task: dict) -> dict:
    """The naive dense model: matcher's own model code over every offer × need, solved like a matcher part."""
    from ortools.sat.python import cp_model

    import matcher
    from benchmarks.baselines import dense_pairs
    from matcher.candidates import eligible_pairs
    from matcher.model import OBJECTIVE_SCALE, build_model
    from matcher.solve import classify, relative_gap, search_workers

    batch = matcher.read_batch(task["folder"])
    scenario = batch.scenario.with_(task.get("overrides", {}))
    noted = {"clock_started": time.time(), "stage": "every offer × need"}

    def note(**progress) -> None:  # what a run stopped for its memory still reports
        noted.update(progress)
        if "answer" in task:  # run by `child`, not called directly
            Path(task["answer"]).write_text(json.dumps(noted))

    note()
    started = time.perf_counter()
    dense = dense_pairs(batch, eligible_pairs(batch))
    pairs_s = time.perf_counter() - started
    note(stage="model build", pairs=len(dense), pairs_s=pairs_s)
    started = time.perf_counter()
    m = build_model(batch, dense, scenario)
    note(stage="search", build_s=time.perf_counter() - started)
    build_s = time.perf_counter() - started
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = scenario.solver.time_limit_s
    solver.parameters.relative_gap_limit = scenario.solver.relative_gap
    solver.parameters.num_workers = search_workers(scenario.solver.workers)
    solver.parameters.interleave_search = solver.parameters.num_workers > 1
    solver.parameters.random_seed = scenario.solver.seed
    started = time.perf_counter()
    code = solver.solve(m.model)
    search_s = time.perf_counter() - started
    status = classify(code, solver)
    answer = {"pairs": len(dense), "pairs_s": pairs_s, "build_s": build_s, "search_s": search_s,
              "model_s": build_s + search_s, "status": status.value}
    if status.has_plan:
        objective, bound = solver.objective_value / OBJECTIVE_SCALE, solver.best_objective_bound / OBJECTIVE_SCALE
        answer.update(objective=objective, bound=bound, gap=relative_gap(objective, bound))
    return answer


def highs_task(task: dict) -> dict:
    """HiGHS on the core MIP at a given gap and time limit; then the greedy plan, verified by matcher."""
    import matcher
    from benchmarks.baselines import core_mip, coverage_of, greedy_amounts, plan_tables, solve_highs
    from matcher.candidates import eligible_pairs
    from matcher.verify import verify_tables

    batch = matcher.read_batch(task["folder"])
    scenario = batch.scenario
    pairs = eligible_pairs(batch)
    started = time.perf_counter()
    mip = core_mip(batch, pairs, scenario)
    mip_s = time.perf_counter() - started
    highs = solve_highs(mip, task["time_limit"], task["relative_gap"])
    amounts = highs.pop("amounts")
    highs.update(mip_s=mip_s, seconds=mip_s + highs["seconds"],
                 peak_mib_after_highs=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if amounts is not None:
        highs["coverage"] = coverage_of(batch, pairs, amounts, scenario)
    started = time.perf_counter()
    greedy = greedy_amounts(batch, pairs, scenario)
    greedy_s = time.perf_counter() - started
    tables, manifest = plan_tables(batch, pairs, greedy, scenario)
    report = verify_tables(batch, tables, manifest)
    return {"highs": highs, "greedy": {"seconds": greedy_s, "coverage": coverage_of(batch, pairs, greedy, scenario),
                                       "objective": manifest["objective"], "verified": report.ok,
                                       "violations": [str(v) for v in report.violations[:5]]}}


# One size, end to end -------------------------------------------------------------------------------------------


def run_size(size: str, args: argparse.Namespace, work: Path) -> dict:
    from matcher.generate import SIZES as GENERATED, generate_batch

    spec = GENERATED[size]
    limit = args.time_limit if args.time_limit is not None else (5.0 if args.quick else spec.time_limit_s)
    timeout = max(600.0, 6 * limit + 600)
    row: dict = {"size": size, "seed": args.seed, "time_limit_s": limit}
    started = time.perf_counter()
    folder = generate_batch(work / size, size, args.seed, overwrite=True)
    row["generate_s"] = time.perf_counter() - started
    core = write_core(folder, work / f"{size}-core", limit, spec.relative_gap, args.seed)
    flow = write_core(folder, work / f"{size}-flow", limit, spec.relative_gap, args.seed, flow=True)
    counts = {name: int(sum(1 for _ in open(folder / f"{name}.csv", encoding="utf-8")) - 1)
              for name in ("districts", "partners", "offers", "needs", "roles")}
    row["counts"] = counts
    read_csvs(folder)  # warm the page cache so that every reader below starts alike
    row["csv_read_s"] = read_csvs(folder)
    say(f"[{size}] generated in {row['generate_s']:.1f} s: {counts}; plain pandas read {row['csv_read_s']:.2f} s")

    overrides = {"solver.time_limit_s": limit}
    row["matcher"] = measure({"name": f"{size}-matcher", "kind": "matcher", "folder": str(folder),
                              "overrides": overrides}, work, timeout)
    say(f"[{size}] matcher: {brief(row['matcher'])}")
    row["core"] = measure({"name": f"{size}-core", "kind": "matcher", "folder": str(core)}, work, timeout)
    say(f"[{size}] matcher core: {brief(row['core'])}")
    target_gap = max(row["core"].get("gap") or 0.0, 1e-4)
    both = measure({"name": f"{size}-highs", "kind": "highs", "folder": str(core), "time_limit": limit,
                    "relative_gap": target_gap}, work, timeout)
    row["highs"] = both.get("highs", {"error": both.get("error")})
    progress = row["highs"].pop("progress", None)  # HiGHS's records over time: read here, not kept in the JSON
    row["highs"].update(target_gap=target_gap, peak_mib=both.get("peak_mib"))
    row["greedy"] = both.get("greedy", {"error": both.get("error")})
    say(f"[{size}] highs: {brief(row['highs'])}; greedy: {row['greedy']}")
    row["same_gap"] = time_to_same_gap(row, progress, core, work, timeout, args.same_gap_reruns)
    say(f"[{size}] time to the same gap: {row['same_gap']}")
    combinations = counts["offers"] * counts["needs"]
    if combinations > args.dense_max:
        row["dense"] = {"skipped": f"offers×needs = {combinations:,}"}
    else:
        row["dense"] = measure({"name": f"{size}-dense", "kind": "dense", "folder": str(core)}, work, timeout,
                               memory_cap_mib=args.dense_memory_gib * 1024)
    say(f"[{size}] dense: {brief(row['dense'])}")
    row["flow"] = measure({"name": f"{size}-flow", "kind": "matcher", "folder": str(flow)}, work, timeout)
    say(f"[{size}] flow: {brief(row['flow'])}")
    row["ratios"] = ratios(row)
    return row


def time_to_same_gap(row: dict, progress: list[tuple[float, float, float]] | None, core: Path, work: Path,
                     timeout: float, reruns: int) -> dict:
    """Seconds for HiGHS and for matcher (core variant) to first hold a plan within the gap both reach.

    That gap is matcher's final one when HiGHS reached it, else HiGHS's final gap. HiGHS's time comes
    from its `progress` records (seconds, objective, bound; late by at most the time between two
    callbacks) plus its model build.
    matcher's is the build and search of its core run, which was not told the gap; so matcher's core
    is run again with 1/4**reruns, …, 1/16, 1/4 of the time limit (at least 1 s), smallest first,
    each told to stop at that gap, as HiGHS was; the first run that reaches it counts. When none
    does, or with no reruns, the full run's time stands.
    """
    highs, matcher_core = row["highs"], row["core"]
    if highs.get("gap") is None or progress is None or matcher_core.get("gap") is None:
        return {"gap": None, "note": "HiGHS or matcher found no plan"}
    gap = max(highs["target_gap"], highs["gap"])
    highs_s = highs_seconds_to(highs, progress, gap)
    matcher_s, runs = matcher_core["solve_wall_s"], []
    limits = dict.fromkeys(max(1.0, row["time_limit_s"] / 4 ** k) for k in range(reruns, 0, -1))
    for limit in limits:
        overrides = {"solver.relative_gap": min(gap, 0.99), "solver.time_limit_s": limit}  # the scenario's range
        rerun = measure({"name": f"{row['size']}-core-{limit:g}s", "kind": "matcher", "folder": str(core),
                         "overrides": overrides}, work, timeout)
        runs.append({"time_limit_s": limit, "gap": rerun.get("gap"), "solve_wall_s": rerun.get("solve_wall_s"),
                     "error": rerun.get("error"), "highs_s": highs_seconds_to(highs, progress, rerun.get("gap"))})
        if rerun.get("gap") is not None and rerun["gap"] <= gap + 1e-9:
            matcher_s = min(matcher_s, rerun["solve_wall_s"])
            break
    return {"gap": gap, "highs_s": highs_s, "matcher_s": matcher_s, "matcher_reruns": runs}


def highs_seconds_to(highs: dict, progress: list[tuple[float, float, float]], gap: float | None) -> float | None:
    """HiGHS's model build and search time to its first plan within `gap` (None if it never held one). Told a
    smaller gap, HiGHS searches alike up to then, so its records answer for any larger gap too."""
    from benchmarks.baselines import seconds_to_gap

    reached = None if gap is None else seconds_to_gap(progress, gap)
    return None if reached is None else highs["mip_s"] + highs["build_s"] + reached


def ratios(row: dict) -> dict:
    """The comparisons the targets are stated in (None where a side is missing)."""
    names = ("matcher", "core", "highs", "dense", "flow", "greedy")
    m, core, highs, dense, flow, greedy = (row.get(k, {}) for k in names)
    out: dict = {}
    same = row.get("same_gap", {})
    if same.get("highs_s") is not None and same.get("matcher_s") is not None:
        out["highs_over_matcher_time"] = same["highs_s"] / max(same["matcher_s"], 1e-9)
        out["same_gap"] = same["gap"]
        out["highs_reached_gap"] = highs["gap"] <= highs["target_gap"] + 1e-9
    if dense.get("stopped") and "solve_wall_s" in core:  # lower bounds: the dense run was cut short
        out["dense_over_matcher_time_at_least"] = dense["stopped_after_model_start_s"] / max(core["solve_wall_s"], 1e-9)
        out["dense_over_matcher_peak_at_least"] = dense["peak_mib"] / max(core["peak_mib"], 1e-9)
    if "model_s" in dense and "solve_wall_s" in core:
        out["dense_over_matcher_time"] = dense["model_s"] / max(core["solve_wall_s"], 1e-9)
        out["dense_over_matcher_peak"] = dense["peak_mib"] / max(core["peak_mib"], 1e-9)
        if dense.get("objective") is not None and core.get("objective") is not None:
            out["dense_minus_matcher_objective"] = dense["objective"] - core["objective"]
    if "solve_wall_s" in flow:
        out["flow_solve_over_csv_read"] = flow["solve_wall_s"] / max(row["csv_read_s"], 1e-9)
    if greedy.get("coverage") is not None and core.get("coverage"):
        out["greedy_coverage_over_matcher"] = greedy["coverage"] / core["coverage"]
    if m.get("pairs"):
        stages = ("read_validate_s", "candidates_s", "build_s", "search_s")
        out["us_per_pair_build"] = 1e6 * m["build_s"] / m["pairs"]
        out["us_per_pair_total"] = 1e6 * sum(m[s] for s in stages) / m["pairs"]
    return out


def brief(r: dict) -> str:
    if "skipped" in r:
        return f"skipped: {r['skipped']}"
    if "error" in r and r["error"]:
        return f"error: {r['error']}"
    keys = ("pairs", "parts", "status", "objective", "bound", "gap", "solve_wall_s", "seconds", "model_s",
            "peak_mib", "coverage")
    return ", ".join(f"{k} {fmt(r[k])}" for k in keys if k in r)


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def say(text: str) -> None:
    print(text, flush=True)


# The table ------------------------------------------------------------------------------------------------------


def rerun_ratio(run: dict) -> str:
    """A matcher rerun's gap and HiGHS's time to that gap over the rerun's, for the table."""
    if run.get("gap") is None:
        return "no plan"
    if run.get("highs_s") is None:
        return f"{run['gap']:.0e} HiGHS never"
    return f"{run['gap']:.0e} {run['highs_s'] / max(run['solve_wall_s'], 1e-9):.1f}×"


def cell(r: dict, key: str, form: str = "{:.2f}") -> str:
    if "skipped" in r:
        return "skip"
    if r.get("error"):
        return "error"
    value = r.get(key)
    return "—" if value is None else form.format(value)


def table(rows: list[dict]) -> list[str]:
    """The printed table: one column per size."""
    sizes = [r["size"] for r in rows]
    lines = [f"{'':<38}" + "".join(f"{s:>18}" for s in sizes)]

    def line(label: str, values: list[str]) -> None:
        lines.append(f"{label:<38}" + "".join(f"{v:>18}" for v in values))

    line("offers × needs", [f"{r['counts']['offers']}×{r['counts']['needs']}" for r in rows])
    line("time limit s", [f"{r['time_limit_s']:g}" for r in rows])
    line("CSV read, plain pandas s", [f"{r['csv_read_s']:.3f}" for r in rows])
    for label, key, form in (("matcher read+validate s", "read_validate_s", "{:.2f}"),
                             ("candidates s", "candidates_s", "{:.2f}"), ("eligible pairs", "pairs", "{:,}"),
                             ("parts (find_parts s)", "parts", "{:,}"), ("find_parts s", "parts_s", "{:.2f}"),
                             ("largest part, pairs", "largest_part_pairs", "{:,}"),
                             ("model build s (all parts)", "build_s", "{:.2f}"),
                             ("solve s (search, flow)", "search_s", "{:.2f}"),
                             ("output tables s", "tables_s", "{:.2f}"), ("verify s", "verify_s", "{:.2f}"),
                             ("peak memory MiB", "peak_mib", "{:,.0f}"), ("status", "status", "{}"),
                             ("objective", "objective", "{:.4f}"), ("bound", "bound", "{:.4f}"),
                             ("gap", "gap", "{:.2e}")):
        line(f"matcher: {label}", [cell(r["matcher"], key, form) for r in rows])
    line("matcher: large parts started complete", [str(r["matcher"].get("starts_of_large_parts", {}).get("complete", 0))
                                                   + "/" + str(sum(r["matcher"].get("starts_of_large_parts", {})
                                                                   .values())) for r in rows])
    line("matcher: parts cut by region", [",".join(str(s["regions"]) for s in r["matcher"].get("region_splits", []))
                                          or "none" for r in rows])
    line("core: pairs / parts", [f"{cell(r['core'], 'pairs', '{:,}')}/{cell(r['core'], 'parts', '{}')}"
                                 for r in rows])
    line("core: build+solve s", [cell(r["core"], "solve_wall_s") for r in rows])
    line("core: status, gap", [f"{cell(r['core'], 'status', '{}')} {cell(r['core'], 'gap', '{:.1e}')}"
                               for r in rows])
    line("core: objective", [cell(r["core"], "objective", "{:.4f}") for r in rows])
    line("core: peak MiB", [cell(r["core"], "peak_mib", "{:,.0f}") for r in rows])
    line("HiGHS: target gap", [cell(r["highs"], "target_gap", "{:.1e}") for r in rows])
    line("HiGHS: build+solve s", [cell(r["highs"], "seconds") for r in rows])
    line("HiGHS: status", [cell(r["highs"], "status", "{}")[:16] for r in rows])
    line("HiGHS: objective", [cell(r["highs"], "objective", "{:.4f}") for r in rows])
    line("HiGHS: bound, gap", [f"{cell(r['highs'], 'bound', '{:.2f}')} {cell(r['highs'], 'gap', '{:.0e}')}"
                               for r in rows])
    line("same gap (both reach it)", [cell(r.get("same_gap", {}), "gap", "{:.1e}") for r in rows])
    line("  HiGHS s to it", [cell(r.get("same_gap", {}), "highs_s") for r in rows])
    line("  matcher core s to it", [cell(r.get("same_gap", {}), "matcher_s") for r in rows])
    reruns = [r.get("same_gap", {}).get("matcher_reruns", []) for r in rows]
    for i in range(max(map(len, reruns), default=0)):  # HiGHS against matcher at gaps matcher's short reruns reached
        line(f"  rerun {i + 1}: gap, HiGHS/matcher s",
             [rerun_ratio(runs[i]) if i < len(runs) else "" for runs in reruns])
    line("dense: stopped", [r["dense"].get("stopped", "no")[:17] for r in rows])
    line("dense: pairs", [cell(r["dense"], "pairs", "{:,}") for r in rows])
    line("dense: build+solve s", [cell(r["dense"], "model_s") for r in rows])
    line("dense: objective", [cell(r["dense"], "objective", "{:.4f}") for r in rows])
    line("dense: peak MiB", [cell(r["dense"], "peak_mib", "{:,.0f}") for r in rows])
    line("greedy: coverage (core: matcher)", [f"{cell(r['greedy'], 'coverage', '{:.1f}')} "
                                              f"({cell(r['core'], 'coverage', '{:.1f}')})" for r in rows])
    line("greedy: verified by matcher", [str(r["greedy"].get("verified", "—")) for r in rows])
    line("flow: parts by min-cost flow/all", [f"{r['flow'].get('methods', {}).get('min-cost-flow', 0)}/"
                                              f"{cell(r['flow'], 'parts', '{}')}" for r in rows])
    line("flow: solve s", [cell(r["flow"], "solve_wall_s", "{:.3f}") for r in rows])
    lines.append("ratios")
    for label, key, form in (("HiGHS/matcher time, same gap (≥5)", "highs_over_matcher_time", "{:.1f}×"),
                             ("dense time / matcher core (≥20)", "dense_over_matcher_time", "{:.1f}×"),
                             ("dense peak / matcher core peak", "dense_over_matcher_peak", "{:.1f}×"),
                             ("  at least (dense stopped): time", "dense_over_matcher_time_at_least", "≥{:.1f}×"),
                             ("  at least (dense stopped): peak", "dense_over_matcher_peak_at_least", "≥{:.1f}×"),
                             ("flow solve / CSV read (≤3)", "flow_solve_over_csv_read", "{:.2f}×"),
                             ("greedy coverage / matcher core", "greedy_coverage_over_matcher", "{:.3f}"),
                             ("µs per pair, model build", "us_per_pair_build", "{:.1f}"),
                             ("µs per pair, read→solve", "us_per_pair_total", "{:.1f}")):
        line(f"  {label}", [cell(r["ratios"], key, form) for r in rows])
    return lines


def targets(rows: list[dict]) -> dict:
    """Each target: the measured value and whether it was met (None: not measured in this run)."""
    by = {r["size"]: r for r in rows}
    out: dict = {}
    national = by.get("national")
    if national and national["matcher"].get("gap") is not None:
        gap = national["matcher"]["gap"]
        out["national_gap_within_1pct"] = {"value": gap, "met": gap <= TARGETS["national_gap"]}
    if national and national["matcher"].get("peak_mib") is not None:
        gib = national["matcher"]["peak_mib"] / 1024
        out["national_peak_under_8_gib"] = {"value_gib": gib, "met": gib < TARGETS["national_peak_gib"]}
    for r in rows:
        ratio = r["ratios"]
        if "highs_over_matcher_time" in ratio:
            out[f"{r['size']}_highs_speed_5x"] = {"value": ratio["highs_over_matcher_time"],
                                                  "same_gap": ratio["same_gap"],
                                                  "highs_reached_matcher_gap": ratio["highs_reached_gap"],
                                                  "met": ratio["highs_over_matcher_time"] >= TARGETS["highs_speed"]}
        elif r.get("same_gap", {}).get("note"):
            out[f"{r['size']}_highs_speed_5x"] = {"value": None, "met": None, "note": r["same_gap"]["note"]}
        if "flow_solve_over_csv_read" in ratio:
            out[f"{r['size']}_flow_within_3x_read"] = {"value": ratio["flow_solve_over_csv_read"],
                                                       "met": ratio["flow_solve_over_csv_read"] <= TARGETS[
                                                           "flow_vs_read"]}
    state = by.get("state")
    if state:
        ratio = state["ratios"]
        if "dense_over_matcher_time" in ratio:
            time_ratio, peak_ratio = ratio["dense_over_matcher_time"], ratio["dense_over_matcher_peak"]
            out["state_dense_20x"] = {"time": time_ratio, "peak": peak_ratio,
                                      "met": min(time_ratio, peak_ratio) >= TARGETS["dense_ratio"]}
        elif "dense_over_matcher_peak_at_least" in ratio:
            time_ratio = ratio["dense_over_matcher_time_at_least"]
            peak_ratio = ratio["dense_over_matcher_peak_at_least"]
            dense = state["dense"]
            out["state_dense_20x"] = {"time_at_least": time_ratio, "peak_at_least": peak_ratio,
                                      "note": f"dense {dense['stopped']}, in its {dense.get('stage')}",
                                      "met": True if min(time_ratio, peak_ratio) >= TARGETS["dense_ratio"] else None}
        else:
            out["state_dense_20x"] = {"value": None, "met": None, "note": state["dense"].get("skipped")
                                      or state["dense"].get("error")}
    per_pair = [(r["size"], r["ratios"]["us_per_pair_total"]) for r in rows if "us_per_pair_total" in r["ratios"]]
    if len(per_pair) > 1:
        growth = [b[1] / a[1] for a, b in zip(per_pair, per_pair[1:])]
        out["time_per_pair_growth"] = {"sizes": [s for s, _ in per_pair], "us_per_pair": [v for _, v in per_pair],
                                       "growth": growth, "met": all(g <= 1.0 for g in growth)}
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="city,state", help="comma-separated of city, state, national "
                        "(default city,state; national takes tens of minutes)")
    parser.add_argument("--time-limit", type=float, help="solver seconds per run (default: the generated "
                        "scenario's: city 30, state 120, national 600; 5 with --quick)")
    parser.add_argument("--seed", type=int, default=7, help="generator and solver seed (default 7)")
    parser.add_argument("--quick", action="store_true", help="city only, 5 s limits")
    parser.add_argument("--dense-max", type=int, default=DENSE_MAX,
                        help=f"largest offers × needs for the dense model (default {DENSE_MAX:,})")
    parser.add_argument("--same-gap-reruns", type=int, default=3,
                        help="runs of matcher's core at 1/4, 1/16, … of the time limit, to time it to HiGHS's gap "
                        "(default 3; 0 keeps the full run, and the HiGHS speed ratio is then a lower bound)")
    parser.add_argument("--dense-memory-gib", type=float, default=DENSE_MEMORY_GIB,
                        help=f"stop the dense model past this resident memory (default {DENSE_MEMORY_GIB:g} GiB); "
                        "its ratios are then lower bounds")
    parser.add_argument("--work", help="folder for the generated batches (default: a temporary folder, removed)")
    parser.add_argument("--out", default=str(RESULTS), help="JSON results file")


def run(args: argparse.Namespace) -> int:
    sizes = ["city"] if args.quick else [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        print(f"unknown size(s) {', '.join(unknown)}; sizes: {', '.join(SIZES)}", file=sys.stderr)
        return 2
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="matcher-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows = [run_size(size, args, work) for size in sizes]
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print()
    for text in table(rows):
        print(text)
    met = targets(rows)
    for name, target in met.items():
        verdict = {True: "met", False: "MISSED", None: "not measured"}[target["met"]]
        print(f"target {name}: {verdict} ({json.dumps({k: v for k, v in target.items() if k != 'met'})})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    out.write_text(json.dumps({"machine": machine, "sizes": rows, "targets": met}, indent=1, default=float) + "\n")
    print(f"results written to {out}")
    return 0
