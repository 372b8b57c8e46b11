"""The scale benchmark's code paths on tiny generated batches: variants, baselines, the measured child run."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

import matcher
from benchmarks import baselines, scale
from matcher.candidates import PAIR_COLUMNS, eligible_pairs
from matcher.generate import generate_batch
from matcher.verify import verify_tables

TINY = {"districts": 4, "partners": 6, "offers": 14, "needs": 8, "roles": 0}


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    """A tiny generated batch, cut to its core variant, solved by matcher to optimality."""
    work = tmp_path_factory.mktemp("scale")
    folder = generate_batch(work / "tiny", "city", seed=3, **TINY)
    batch = matcher.read_batch(scale.write_core(folder, work / "core", time_limit=20, relative_gap=0, seed=0))
    result = matcher.solve(batch)
    assert result.status is matcher.Status.OPTIMAL
    return batch, eligible_pairs(batch), result


def test_the_core_variant_keeps_only_the_allocation_core(core):
    batch, pairs, _ = core
    assert batch.roles.empty and batch.conflicts.empty and batch.decisions.empty
    assert batch.partners["max_districts"].isna().all()
    assert batch.scenario.legal.caps_usd == {} and batch.scenario.legal.no_candidate_support == ()
    assert batch.scenario.weights.fairness == batch.scenario.weights.pooling == 0
    assert len(pairs) > 0


def test_dense_pairs_cover_every_combination_and_bound_ineligible_ones_at_zero(core):
    batch, pairs, _ = core
    dense = baselines.dense_pairs(batch, pairs)
    assert list(dense.columns) == PAIR_COLUMNS
    assert len(dense) == len(batch.offers) * len(batch.needs)
    eligible = set(zip(pairs["offer_id"], pairs["need_id"]))
    outside = [(o, n) not in eligible for o, n in zip(dense["offer_id"], dense["need_id"])]
    assert (dense.loc[outside, "upper"] == 0).all()
    assert dense.loc[np.logical_not(outside), "upper"].sum() == pairs["upper"].sum()


def test_dense_model_and_highs_reach_matcher_s_objective(core, tmp_path):
    batch, pairs, result = core
    dense = scale.dense_task({"folder": str(batch.folder), "overrides": {"solver.workers": 1}})
    assert dense["status"] == "optimal"
    assert dense["objective"] == pytest.approx(result.objective, abs=1e-6)
    highs = baselines.solve_highs(baselines.core_mip(batch, pairs, batch.scenario), 20, 1e-9)
    # HiGHS holds coverage as a continuous share; matcher to 1/10,000 of a need (README, Integer scaling).
    assert highs["objective"] == pytest.approx(result.objective, abs=1e-4 * len(batch.needs))
    assert baselines.coverage_of(batch, pairs, highs["amounts"], batch.scenario) == pytest.approx(
        result.coverage, abs=1e-3 * len(batch.needs))


def test_greedy_plan_passes_matcher_s_verifier_and_covers_no_more_than_the_optimum(core):
    batch, pairs, result = core
    amounts = baselines.greedy_amounts(batch, pairs, batch.scenario)
    tables, manifest = baselines.plan_tables(batch, pairs, amounts, batch.scenario)
    report = verify_tables(batch, tables, manifest)
    assert report.ok, report.violations
    assert amounts.sum() > 0
    assert manifest["coverage"] == pytest.approx(baselines.coverage_of(batch, pairs, amounts, batch.scenario))
    assert manifest["objective"] <= result.objective + 1e-6


def test_a_measured_child_run_reports_stages_and_peak_memory(tmp_path):
    folder = generate_batch(tmp_path / "tiny", "city", seed=1, **TINY)
    core = scale.write_core(folder, tmp_path / "flow", time_limit=5, relative_gap=0, seed=0, flow=True)
    run = scale.measure({"name": "flow", "kind": "matcher", "folder": str(core)}, tmp_path, timeout_s=120)
    assert run.get("error") is None
    assert run["peak_mib"] > 10 and run["pairs"] > 0 and run["status"] == "optimal"
    assert run["methods"] == {"min-cost-flow": run["parts"]}  # the flow variant is pure transportation


def test_table_and_targets_read_a_row_with_skipped_and_failed_baselines():
    run = {"read_validate_s": 0.1, "candidates_s": 0.1, "pairs": 10, "parts": 1, "build_s": 0.1, "search_s": 0.2,
           "solve_wall_s": 0.3, "status": "optimal", "objective": 1.0, "bound": 1.0, "gap": 0.0, "peak_mib": 100.0,
           "coverage": 1.0}
    row = {"size": "state", "time_limit_s": 5, "csv_read_s": 0.1, "counts": {"offers": 5, "needs": 2},
           "matcher": run, "core": run, "highs": {"error": "boom"}, "greedy": {"coverage": 0.5, "verified": True},
           "dense": {"skipped": "offers×needs = 10"}, "flow": dict(run, methods={"min-cost-flow": 1})}
    row["ratios"] = scale.ratios(row)
    assert row["ratios"]["greedy_coverage_over_matcher"] == 0.5
    assert row["ratios"]["flow_solve_over_csv_read"] == pytest.approx(3.0)
    text = "\n".join(scale.table([row]))
    assert "skip" in text and "error" in text
    assert scale.targets([row])["state_dense_20x"]["met"] is None


def test_the_benchmark_is_registered_and_parses_its_options():
    from benchmarks.__main__ import BENCHMARKS

    assert BENCHMARKS["scale"] is scale
    parser = argparse.ArgumentParser()
    scale.add_arguments(parser)
    args = parser.parse_args(["--sizes", "city,state", "--time-limit", "3", "--quick"])
    assert (args.sizes, args.time_limit, args.quick, args.dense_max) == ("city,state", 3.0, True, scale.DENSE_MAX)


def test_seconds_to_gap_reads_the_first_record_within_the_gap():
    progress = [(0.5, -np.inf, 10.0), (1.0, 5.0, 10.0), (2.0, 8.0, 9.0), (4.0, 8.9, 9.0)]
    assert baselines.seconds_to_gap(progress, 1.0) == 1.0
    assert baselines.seconds_to_gap(progress, 0.125) == 2.0
    assert baselines.seconds_to_gap(progress, 0.01) is None


def test_highs_records_its_progress_up_to_its_final_plan(core):
    batch, pairs, _ = core
    highs = baselines.solve_highs(baselines.core_mip(batch, pairs, batch.scenario), 20, 1e-9)
    times = [t for t, _, _ in highs["progress"]]
    assert times == sorted(times) and times[-1] == pytest.approx(highs["run_s"])
    assert highs["progress"][-1][1:] == (highs["objective"], highs["bound"])
    assert baselines.seconds_to_gap(highs["progress"], highs["gap"]) <= highs["run_s"]


def test_time_to_same_gap_reruns_matcher_told_the_gap_with_less_time(core, tmp_path):
    batch, pairs, _ = core
    row = {"size": "tiny", "time_limit_s": 32.0, "core": {"gap": 0.0, "solve_wall_s": 30.0},
           "highs": {"gap": 1.5, "target_gap": 1e-4, "mip_s": 0.1, "build_s": 0.1}}
    same = scale.time_to_same_gap(row, [(1.0, 2.0, 5.0), (3.0, 2.0, 2.5)], batch.folder, tmp_path, timeout=120,
                                  reruns=2)
    assert same["gap"] == 1.5 and same["highs_s"] == pytest.approx(1.2)
    # The smallest limit first (32/16 s), told to stop at 0.99: HiGHS's gap is past the scenario's range.
    assert [r["time_limit_s"] for r in same["matcher_reruns"]] == [2.0]
    assert same["matcher_reruns"][0]["error"] is None and same["matcher_reruns"][0]["gap"] <= 1.5
    assert same["matcher_s"] == same["matcher_reruns"][0]["solve_wall_s"] < 30.0
    # HiGHS's time to the rerun's gap: 1.2 s to a gap of 1.5, 3.2 s to any gap down to 0.25
    rerun = same["matcher_reruns"][0]
    assert rerun["highs_s"] == pytest.approx(1.2 if rerun["gap"] >= 1.5 else 3.2)
    reached = dict(row, highs=dict(row["highs"], gap=0.0))
    same = scale.time_to_same_gap(reached, [(1.0, 2.0, 2.0)], batch.folder, tmp_path, 120, reruns=2)
    assert (same["gap"], same["highs_s"]) == (1e-4, pytest.approx(1.2))  # matcher's final gap, at least 1e-4
    assert [r["time_limit_s"] for r in same["matcher_reruns"]] == [2.0] and same["matcher_reruns"][0]["gap"] <= 1e-4
    assert same["matcher_s"] == same["matcher_reruns"][0]["solve_wall_s"] < 30.0
    assert scale.time_to_same_gap(reached, [(1.0, 2.0, 2.0)], batch.folder, tmp_path, 120, reruns=0)[
        "matcher_s"] == 30.0


def test_highs_time_to_a_rerun_gap_counts_its_model_and_a_table_cell_shows_the_ratio():
    highs, progress = {"mip_s": 0.1, "build_s": 0.1}, [(1.0, 2.0, 5.0), (3.0, 2.0, 2.5)]
    assert scale.highs_seconds_to(highs, progress, 2.0) == pytest.approx(1.2)
    assert scale.highs_seconds_to(highs, progress, 0.5) == pytest.approx(3.2)
    assert scale.highs_seconds_to(highs, progress, 0.1) is None
    assert scale.highs_seconds_to(highs, progress, None) is None
    assert scale.rerun_ratio({"gap": 1e-3, "solve_wall_s": 2.0, "highs_s": 6.0}) == "1e-03 3.0×"
    assert scale.rerun_ratio({"gap": 1e-3, "solve_wall_s": 2.0, "highs_s": None}) == "1e-03 HiGHS never"
    assert scale.rerun_ratio({"gap": None, "solve_wall_s": None, "highs_s": None}) == "no plan"


def test_a_run_over_its_memory_cap_is_stopped_and_says_so(core, tmp_path):
    batch, _, _ = core
    run = scale.measure({"name": "capped", "kind": "dense", "folder": str(batch.folder)}, tmp_path,
                        timeout_s=120, memory_cap_mib=40)
    assert run["stopped"].startswith("over 40 MiB") and run["peak_mib"] > 40
    assert "objective" not in run and "error" not in run


def test_a_stopped_dense_run_gives_lower_bounds_and_meets_the_target_only_past_it():
    core = {"solve_wall_s": 10.0, "peak_mib": 100.0}
    row = {"size": "state", "time_limit_s": 5, "csv_read_s": 0.1, "counts": {"offers": 5, "needs": 2},
           "matcher": {}, "core": core, "highs": {}, "greedy": {}, "flow": {},
           "dense": {"stopped": "over 3,000 MiB after 250 s", "stage": "model build", "peak_mib": 3000.0,
                     "stopped_after_model_start_s": 250.0}}
    row["ratios"] = scale.ratios(row)
    assert row["ratios"]["dense_over_matcher_time_at_least"] == 25.0
    assert row["ratios"]["dense_over_matcher_peak_at_least"] == 30.0
    assert "dense_over_matcher_time" not in row["ratios"]
    assert scale.targets([row])["state_dense_20x"]["met"] is True
    row["dense"]["stopped_after_model_start_s"] = 50.0
    row["ratios"] = scale.ratios(row)
    assert scale.targets([row])["state_dense_20x"]["met"] is None  # 5× so far: not known to miss
    assert "≥5.0×" in "\n".join(scale.table([row]))
