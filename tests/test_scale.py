"""Decomposition, the min-cost-flow path, and parallel runs give the plans the single model gives."""
from __future__ import annotations

import importlib
import random
import time
import warnings

import numpy as np
import pytest

import matcher
from tests.builders import build, hinted_value, solve_batch


@pytest.fixture
def one_part_per_component(monkeypatch):
    """These tests look at parts one by one: the small components of their batches each get their own."""
    monkeypatch.setattr(importlib.import_module("matcher.decompose"), "SMALL_COMPONENT_NODES", 0)


def clustered_batch(folder, seed: int, clusters: int = 3, transport: bool = False) -> matcher.Batch:
    """Districts in pairs far apart; partners reach home or next door, so each pair is a component of its own."""
    rng = random.Random(seed)
    districts, partners, offers, needs = [], [], [], []
    for c in range(clusters):
        a, b = f"D{c}a", f"D{c}b"
        districts += [{"district_id": a, "priority": rng.choice([1, 2]), "neighbors": b, "lat": 40 + c, "lon": -90},
                      {"district_id": b, "priority": 1, "neighbors": a, "lat": 40.1 + c, "lon": -90}]
        for p in range(2):
            partner = f"P{c}{p}"
            partners.append({"partner_id": partner, "home_district": rng.choice([a, b])})
            for k in range(2):
                offers.append({"offer_id": f"O{c}{p}{k}", "partner_id": partner, "resource": "volunteers",
                               "quantity": rng.randint(2, 9), "reach": "adjacent",
                               "min_chunk": 1 if transport else rng.choice([1, 2]),
                               "cost_per_unit": rng.choice([0, 0, 1])})
        for n in range(3):
            needs.append({"need_id": f"N{c}{n}", "district_id": rng.choice([a, b]), "resource": "volunteers",
                          "quantity": rng.randint(3, 11), "priority": rng.choice([1, 2, 3])})
    return build(folder, districts=districts, partners=partners, offers=offers, needs=needs)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.usefixtures("one_part_per_component")
def test_decomposition_gives_the_objective_of_the_undivided_model(tmp_path, seed):
    batch = clustered_batch(tmp_path, seed)
    whole = solve_batch(batch, {"solver.decompose": False, "solver.flow": False})
    split = solve_batch(batch, {"solver.decompose": True, "solver.flow": False})
    assert whole.status is split.status is matcher.Status.OPTIMAL
    assert len(split.parts) == 3 and len(whole.parts) == 1
    assert split.objective == pytest.approx(whole.objective, abs=1e-7)
    assert split.coverage == pytest.approx(whole.coverage, abs=1e-6)


def test_small_components_fill_a_part_up_to_the_bundle_size_and_larger_ones_stay_alone(monkeypatch):
    decompose = importlib.import_module("matcher.decompose")
    monkeypatch.setattr(decompose, "SMALL_COMPONENT_NODES", 10)
    monkeypatch.setattr(decompose, "BUNDLE_NODES", 20)
    # 30 and 12 alone; 9 + 9 = 18, then 8 would make 26: 8 + 5 + 3 + 3 = 19 in the next
    assert decompose.bundled(np.array([30, 12, 9, 9, 8, 5, 3, 3])).tolist() == [0, 1, 2, 2, 3, 3, 3, 3]
    assert decompose.bundled(np.array([9, 9, 2])).tolist() == [0, 0, 0]  # 20 fills a part exactly
    monkeypatch.setattr(decompose, "SMALL_COMPONENT_NODES", 0)  # none small: one part each
    assert decompose.bundled(np.array([3, 2, 1])).tolist() == [0, 1, 2]


@pytest.mark.parametrize("seed", range(3))
def test_bundled_components_give_the_objective_of_one_part_each(tmp_path, monkeypatch, seed):
    batch = clustered_batch(tmp_path, seed, clusters=6)
    bundled = solve_batch(batch, {"solver.flow": False})
    monkeypatch.setattr(importlib.import_module("matcher.decompose"), "SMALL_COMPONENT_NODES", 0)
    apart = solve_batch(batch, {"solver.flow": False})
    assert len(bundled.parts) == 1 and len(apart.parts) == 6
    assert bundled.status is apart.status is matcher.Status.OPTIMAL
    assert bundled.objective == pytest.approx(apart.objective, abs=1e-7)
    assert bundled.coverage == pytest.approx(apart.coverage, abs=1e-6)  # the plans may differ where optima tie


def test_a_batch_of_many_one_role_components_is_solved_in_few_parts_holding_each_role_and_pair_once(tmp_path):
    from matcher.candidates import eligible_pairs
    from matcher.decompose import find_parts
    from matcher.generate import generate_batch

    batch = matcher.read_batch(generate_batch(tmp_path / "batch", "city", 0, roles=1500))
    pairs = eligible_pairs(batch)
    parts = find_parts(batch, pairs, batch.scenario)
    roles = [role for part in parts for role in part.batch.roles["role_id"]]
    positions = np.concatenate([part.positions for part in parts])
    assert len(parts) <= 10  # 460 parts, one per component
    assert sorted(roles) == sorted(batch.roles["role_id"]) and len(set(positions)) == len(positions)
    assert set(positions) <= set(range(len(pairs)))


def test_a_rule_that_reads_a_partner_whole_keeps_its_offers_in_one_part(tmp_path):
    batch = clustered_batch(tmp_path, 0)
    partner = batch.partners["partner_id"].iloc[0]
    limited = batch.partners.assign(max_districts=[1 if p == partner else None for p in batch.partners["partner_id"]])
    from matcher.candidates import eligible_pairs
    from matcher.decompose import find_parts, partners_read_whole
    batch.partners = limited.astype({"max_districts": "Int64"})
    assert partner in partners_read_whole(batch, batch.scenario)
    parts = find_parts(batch, eligible_pairs(batch), batch.scenario)
    holding = [p for p in parts if partner in set(p.batch.offers["partner_id"])]
    assert len(holding) == 1


def test_terms_that_compare_every_partner_keep_the_batch_whole(tmp_path):
    result = solve_batch(clustered_batch(tmp_path, 1), {"weights.fairness": 1.0})
    assert len(result.parts) == 1


@pytest.mark.parametrize("seed", range(8))
def test_min_cost_flow_gives_the_cp_sat_objective_on_transportation_batches(tmp_path, seed):
    batch = clustered_batch(tmp_path, seed, transport=True)
    settings = {"weights.travel": 0.0}
    by_flow = solve_batch(batch, {**settings, "solver.flow": True})
    by_cp_sat = solve_batch(batch, {**settings, "solver.flow": False})
    assert {p["method"] for p in by_flow.parts} == {"min-cost-flow"}
    assert {p["method"] for p in by_cp_sat.parts} == {"cp-sat"}
    assert by_flow.status is by_cp_sat.status is matcher.Status.OPTIMAL
    # Both are exact; per-unit gains are rounded to 1e-8 of a point in the flow, per need to 1e-4 in CP-SAT.
    assert by_flow.coverage == pytest.approx(by_cp_sat.coverage, abs=1e-3)
    assert by_flow.objective == pytest.approx(by_cp_sat.objective, abs=1e-3)


def test_a_part_with_a_rule_beyond_transportation_goes_to_cp_sat(tmp_path):
    batch = clustered_batch(tmp_path, 2, transport=False)  # some offers have a minimum chunk of 2
    methods = {p["method"] for p in solve_batch(batch, {"weights.travel": 0.0}).parts}
    assert "cp-sat" in methods


def written_bytes(result: matcher.Result, folder) -> dict[str, bytes]:
    result.write(folder)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix == ".csv"}


def test_local_processes_and_dask_write_the_same_files_as_one_process(tmp_path):
    batch = clustered_batch(tmp_path / "batch", 3)
    scenario = batch.scenario.with_({"solver.workers": 1, "solver.seed": 3})
    single = written_bytes(matcher.solve(batch, scenario), tmp_path / "one")
    processes = written_bytes(matcher.solve(batch, scenario, workers=2), tmp_path / "two")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed warns about ports and cleanup timing on busy machines
        on_dask = written_bytes(matcher.solve(batch, scenario, dask="local"), tmp_path / "dask")
    assert single == processes == on_dask
    assert len(single) >= 5


@pytest.mark.parametrize("seed", range(5))
def test_coverage_arcs_trace_the_weighted_curve_unit_by_unit(seed):
    import numpy as np

    from matcher.flow_network import coverage_arcs
    from matcher.model import OBJECTIVE_SCALE
    from matcher.terms import coverage_value

    rng = random.Random(seed)
    segments = [(0.5, 1.4), (0.8, 0.7), (1.0, 0.3)] if seed % 2 else [(1 / 3, 1.5), (1.0, 0.75)]
    quantities = np.array([rng.randint(1, 40) for _ in range(6)])
    weights = np.array([rng.choice([0.5, 1.0, 6.0]) for _ in range(6)])
    need, capacity, gain = coverage_arcs(quantities, weights, segments)
    for i, (q, w) in enumerate(zip(quantities, weights)):
        mine = np.flatnonzero(need == i)
        assert capacity[mine].sum() == q
        assert list(gain[mine]) == sorted(gain[mine], reverse=True)  # concave: a flow fills them in order
        units = np.repeat(gain[mine], capacity[mine])
        for k in range(q + 1):
            exact = w * coverage_value(k / q, segments) * OBJECTIVE_SCALE
            assert abs(units[:k].sum() - exact) <= len(mine) * 0.5 + 1e-6 * OBJECTIVE_SCALE


def far_worker_batch(folder) -> matcher.Batch:
    """P2 lives two districts away from R1's district but sends volunteers there: a candidate only by working
    there (labor.local_district_roles), and much stronger than P1, who lives there."""
    districts = [{"district_id": d, "priority": 1, "neighbors": n, "lat": 45 + 0.1 * i, "lon": -93}
                 for i, (d, n) in enumerate([("D1", "D2"), ("D2", "D1;D3"), ("D3", "D2")])]
    partners = [{"partner_id": "P1", "home_district": "D1", "role_hours": 10},
                {"partner_id": "P2", "home_district": "D3", "role_hours": 10}]
    offers = [{"offer_id": "O1", "partner_id": "P2", "resource": "volunteers", "quantity": 5, "reach": "any"},
              {"offer_id": "O2", "partner_id": "P1", "resource": "volunteers", "quantity": 5}]
    needs = [{"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 8},
             {"need_id": "N2", "district_id": "D3", "resource": "volunteers", "quantity": 3}]
    roles = [{"role_id": "R1", "skill": "canvassing", "district_id": "D1", "hours": 4}]
    capabilities = [{"partner_id": "P1", "skill": "canvassing", "strength": 2},
                    {"partner_id": "P2", "skill": "canvassing", "strength": 9}]
    return build(folder, districts=districts, partners=partners, offers=offers, needs=needs, roles=roles,
                 capabilities=capabilities)


@pytest.mark.usefixtures("one_part_per_component")
def test_roles_and_pairings_are_separate_parts_with_the_candidates_of_the_whole_batch(tmp_path):
    batch = far_worker_batch(tmp_path)
    settings = {"labor.strength": 1.0, "labor.fairness": 0.0}  # workload fairness would couple every partner
    whole = solve_batch(batch, {**settings, "solver.decompose": False})
    split = solve_batch(batch, {**settings, "solver.decompose": True})
    assert [(p["pairs"] > 0, p["roles"]) for p in split.parts].count((False, 1)) == 1  # the role alone
    assert len(split.parts) > len(whole.parts) == 1
    assert split.objective == pytest.approx(whole.objective, abs=1e-7)
    assert set(split.tables["labor"]["partner_id"]) == set(whole.tables["labor"]["partner_id"]) == {"P2"}


def test_lead_presence_keeps_a_role_with_its_candidates_pairings(tmp_path):
    batch = far_worker_batch(tmp_path)
    split = solve_batch(batch, {"solver.decompose": True, "labor.fairness": 0.0, "labor.require_lead_presence": True})
    assert not any(p["roles"] and p["pairs"] == 0 for p in split.parts)
    assert split.status is matcher.Status.OPTIMAL


@pytest.mark.usefixtures("one_part_per_component")
def test_a_part_out_of_time_without_a_plan_is_solved_again_with_more_time(tmp_path, monkeypatch):
    solve_module = importlib.import_module("matcher.solve")  # the module: `matcher.solve` is the function
    batch = clustered_batch(tmp_path, seed=1)
    real, calls = solve_module.solve_part, []

    def first_call_out_of_time(index, part_batch, pairs, scenario, *args, **kwargs):
        calls.append((index, scenario.solver.time_limit_s))
        if index == 1 and sum(i == 1 for i, _ in calls) == 1:
            return solve_module.PartOutcome(index, matcher.Status.NO_SOLUTION, "cp-sat")
        return real(index, part_batch, pairs, scenario, *args, **kwargs)

    monkeypatch.setattr(solve_module, "solve_part", first_call_out_of_time)
    result = solve_batch(batch, {"solver.flow": False, "solver.time_limit_s": 60})
    share = [limit for i, limit in calls if i == 1]
    assert share[0] * solve_module.RETRY_TIME_FACTOR > solve_module.RETRY_MIN_S
    assert len(share) == 2 and share[1] == pytest.approx(solve_module.RETRY_TIME_FACTOR * share[0])
    assert result.status is matcher.Status.OPTIMAL and len(result.parts) == 3
    assert result.model_stats["retried"] == [{"part": 1, "share_s": pytest.approx(share[0], abs=1e-3),
                                              "retry_s": pytest.approx(share[1], abs=1e-3), "status": "optimal"}]
    whole = solve_batch(batch, {"solver.decompose": False, "solver.flow": False})
    assert result.objective == pytest.approx(whole.objective, abs=1e-7)
    calls.clear()
    short = solve_batch(batch, {"solver.flow": False, "solver.time_limit_s": 3})
    assert short.model_stats["retried"][0]["retry_s"] == solve_module.RETRY_MIN_S


@pytest.mark.usefixtures("one_part_per_component")
def test_an_interleaved_search_is_preceded_by_a_one_worker_pass_that_ends_at_the_proof(tmp_path, monkeypatch):
    solve_module = importlib.import_module("matcher.solve")
    batch = clustered_batch(tmp_path, seed=2)
    real, calls = solve_module.run_solver, []

    def recording(solver, model, callback):
        params = solver.parameters
        calls.append((params.num_workers, params.interleave_search, params.max_deterministic_time,
                      params.max_time_in_seconds))
        return real(solver, model, callback)

    monkeypatch.setattr(solve_module, "run_solver", recording)
    reproducible = {"solver.workers": 2, "solver.deterministic": True, "solver.time_limit_s": 30}
    proven = solve_batch(batch, reproducible)
    assert proven.status is matcher.Status.OPTIMAL and len(proven.parts) == 3
    assert [call[:3] for call in calls] == [(1, False, solve_module.PROOF_PASS_DTIME)] * 3  # no interleaving
    # The first of three parts of one size: a third of what the split leaves of 30 s.
    assert calls[0][3] == pytest.approx((30 - proven.times["split_s"]) / 3, abs=0.01)

    calls.clear()
    monkeypatch.setattr(solve_module, "PROOF_PASS_DTIME", 0.0)  # the pass stops before any proof
    searched = solve_batch(batch, reproducible)
    assert searched.status is matcher.Status.OPTIMAL
    assert searched.objective == pytest.approx(proven.objective, abs=1e-7)
    passes, interleaved = calls[0::2], calls[1::2]
    assert len(calls) == 6 and all(call[:2] == (1, False) for call in passes)
    assert all(call[:2] == (2, True) and call[2] == float("inf") for call in interleaved)
    assert 8 < interleaved[0][3] < 10  # the first part's share, less what the pass took


def test_time_a_part_leaves_unused_goes_to_the_parts_after_it():
    from types import SimpleNamespace

    solve_module = importlib.import_module("matcher.solve")
    parts = [SimpleNamespace(size=size) for size in (10, 30, 60)]
    shares = solve_module.TimeShares(parts, 100.0)
    first = shares.start(parts[0])
    assert first == pytest.approx(10)
    shares.finish(first, spent=1.0)  # 9 s left unused
    second = shares.start(parts[1])
    assert second == pytest.approx(99 * 30 / 90)
    shares.finish(second, spent=second)
    assert shares.start(parts[2]) == pytest.approx(100 - 1 - second)
    starved = solve_module.TimeShares(parts, 0.5)
    assert starved.start(parts[0]) == solve_module.MIN_PART_TIME_S  # every part gets at least this


def test_the_split_counts_against_the_time_limit(tmp_path, monkeypatch):
    solve_module = importlib.import_module("matcher.solve")
    real = solve_module.eligible_pairs

    def slow_candidates(*args, **kwargs):
        time.sleep(2.0)  # as if building a large batch's candidate pairs had taken 2 s
        return real(*args, **kwargs)

    monkeypatch.setattr(solve_module, "eligible_pairs", slow_candidates)
    result = solve_batch(clustered_batch(tmp_path, seed=3), {"solver.flow": False, "solver.decompose": False,
                                                             "solver.time_limit_s": 30})
    assert result.times["split_s"] >= 2.0 and len(result.parts) == 1
    assert result.parts[0]["time_share_s"] == pytest.approx(30 - result.times["split_s"], abs=0.01)
    assert result.scenario.solver.time_limit_s == 30  # run.json keeps the limit asked for


@pytest.mark.usefixtures("one_part_per_component")
def test_a_parts_model_build_counts_against_the_time_left_to_the_parts_after_it(tmp_path, monkeypatch):
    solve_module = importlib.import_module("matcher.solve")
    real, calls = solve_module.solve_part, []

    def slow_to_build(index, part_batch, pairs, scenario, *args, **kwargs):
        outcome = real(index, part_batch, pairs, scenario, *args, **kwargs)
        outcome.build_s += 4.0  # as if its model had taken 4 s more to build
        calls.append((scenario.solver.time_limit_s, outcome.build_s + outcome.solve_s))
        return outcome

    monkeypatch.setattr(solve_module, "solve_part", slow_to_build)
    result = solve_batch(clustered_batch(tmp_path, seed=3), {"solver.flow": False, "solver.time_limit_s": 30})
    assert result.status is matcher.Status.OPTIMAL and len(calls) == 3
    (first, spent), (second, _), _ = calls
    limit = 30 - result.times["split_s"]  # what the split leaves
    assert first == pytest.approx(limit / 3, abs=0.01)  # the parts are of one size
    assert second == pytest.approx((limit - spent) / 2, abs=0.01)  # the 4 s are not handed on


def test_a_part_whose_search_finds_nothing_in_its_share_keeps_its_completed_start(tmp_path, monkeypatch):
    from matcher.generate import generate_batch

    solve_module = importlib.import_module("matcher.solve")
    batch = matcher.read_batch(generate_batch(tmp_path / "batch", "city", 3, partners=150, offers=700, needs=400))
    real = solve_module.search

    def starved(solver, model, callback):  # stopped long before CP-SAT's presolve is done
        solver.parameters.max_time_in_seconds = 1e-6
        return real(solver, model, callback)

    monkeypatch.setattr(solve_module, "search", starved)
    scenario = batch.scenario.with_({"solver.workers": 1, "solver.decompose": False, "solver.time_limit_s": 10})
    result = matcher.solve(batch, scenario)  # verified on the way out, like every plan
    part = result.parts[0]
    assert result.status is matcher.Status.FEASIBLE and "retried" not in result.model_stats
    assert (part["method"], part["start"], part["bound_from"]) == ("completed start", "complete", "variable domains")
    assert result.best_bound >= result.objective > 0 and len(result.tables["labor"]) > 0
    assert matcher.verify(batch, result.write(tmp_path / "out")).ok  # the written files pass the verifier too


def limited_city(tmp_path) -> tuple[matcher.Batch, matcher.Scenario]:
    """A generated city batch of 8,385 pairs and no roles, solved as one part; most partners have a district limit."""
    from matcher.generate import generate_batch

    batch = matcher.read_batch(generate_batch(tmp_path / "batch", "city", 3, partners=150, offers=700, needs=400,
                                              roles=0))
    return batch, batch.scenario.with_({"solver.workers": 1, "solver.decompose": False, "solver.time_limit_s": 10})


def test_the_search_near_the_lp_leaves_out_only_limited_partners_pairs_outside_the_lp_and_the_start(tmp_path):
    from matcher.candidates import eligible_pairs
    from matcher.districts_lp import district_relaxation
    from matcher.model import build_model

    solve_module = importlib.import_module("matcher.solve")
    batch, scenario = limited_city(tmp_path)
    pairs = eligible_pairs(batch)
    m = build_model(batch, pairs, scenario)
    relaxed = district_relaxation(batch, pairs, scenario, 30.0)
    start, completed = solve_module.warm_start(m, scenario.solver, relaxed.presence)
    assert start == "complete"
    copy = solve_module.near_lp_districts(m, relaxed.presence, completed)

    limited = set(batch.partners.loc[batch.partners["max_districts"].notna(), "partner_id"])
    present = {(p, d) for p, d, x in relaxed.presence[["partner_id", "district_id", "presence"]].itertuples(index=False)
               if x > 1e-6}
    expected = [partner in limited and (partner, district) not in present and not completed.boolean_value(used)
                for partner, district, used in zip(pairs["partner_id"], pairs["district_id"], m.used)]
    fixed = [list(copy.proto.variables[used.index].domain) == [0, 0] for used in m.used]
    assert fixed == expected and 0 < sum(fixed) < len(pairs)
    untouched = [list(m.model.proto.variables[used.index].domain) for used in m.used]
    assert untouched == [[0, 1]] * len(pairs)  # the model itself keeps every pairing open

    assert hinted_value(copy) == round(completed.objective_value)  # the completed start is a plan of the copy


def test_a_large_part_started_along_the_lp_searches_its_districts_and_is_bounded_by_the_lp(tmp_path, monkeypatch):
    solve_module = importlib.import_module("matcher.solve")
    monkeypatch.setattr(solve_module, "NEAR_LP_PAIRS", 1_000)
    batch, scenario = limited_city(tmp_path)
    seen = []
    result = matcher.solve(batch, scenario, progress=lambda *line: seen.append(line))  # verified on the way out
    part = result.parts[0]
    assert (part["start"], part["bound_from"]) == ("complete", "district LP")
    assert part["method"] in ("cp-sat in LP districts", "completed start")  # the start, if the search ends below it
    assert result.status is matcher.Status.FEASIBLE and seen
    assert {bound for _, _, bound in seen} == {result.best_bound}  # the LP's, never the restricted copy's own
    assert matcher.verify(batch, result.write(tmp_path / "out")).ok


def test_a_search_that_ends_below_the_completed_start_gives_way_to_it(tmp_path, monkeypatch):
    solve_module = importlib.import_module("matcher.solve")
    real = solve_module.search

    def first_plan_only(solver, model, callback):  # the first plan CP-SAT finds from nothing: far below the start
        model.clear_hints()
        solver.parameters.stop_after_first_solution = True
        return real(solver, model, callback)

    monkeypatch.setattr(solve_module, "search", first_plan_only)
    batch, scenario = limited_city(tmp_path)
    kept = matcher.solve(batch, scenario)
    monkeypatch.setattr(solve_module, "warm_start", lambda m, limits, presence=None, relaxed=None: ("none", None))
    # It stops at its first plan; the longer limit only keeps a loaded machine from ending it before one (CI once).
    unstarted = matcher.solve(batch, scenario.with_({"solver.time_limit_s": 60}))
    part = kept.parts[0]
    assert (part["method"], part["start"]) == ("completed start", "complete")
    assert kept.objective > unstarted.objective and unstarted.parts[0]["method"] == "cp-sat"


def test_a_completed_start_within_the_gap_asked_for_is_kept_without_a_search(tmp_path, monkeypatch):
    solve_module = importlib.import_module("matcher.solve")
    real, searches = solve_module.search, []

    def counted(solver, model, callback):
        searches.append(model)
        return real(solver, model, callback)

    monkeypatch.setattr(solve_module, "search", counted)
    batch, scenario = limited_city(tmp_path)
    loose = matcher.solve(batch, scenario.with_({"solver.relative_gap": 0.5}))  # verified on the way out
    part = loose.parts[0]
    assert not searches and (part["method"], part["start"]) == ("completed start", "complete")
    assert part["solve_s"] == part["start_s"] and 0 < loose.gap <= 0.5
    assert matcher.verify(batch, loose.write(tmp_path / "out")).ok
    tight = matcher.solve(batch, scenario.with_({"solver.relative_gap": 0.0}))
    assert len(searches) == 1 and tight.parts[0]["solve_s"] > tight.parts[0]["start_s"]


@pytest.mark.parametrize("objective, bounds, within", [
    (95.0, [100, None], True),  # 5.3% from the bound
    (90.0, [None, 100], False),  # 11%
    (90.0, [200, 99], True),  # the lowest bound counts
    (95.0, [None, None], False),  # no bound known before the search
])
def test_a_start_is_within_the_gap_of_the_lowest_bound_known_before_the_search(objective, bounds, within):
    from types import SimpleNamespace

    solve_module = importlib.import_module("matcher.solve")
    assert solve_module.start_within_gap(SimpleNamespace(objective_value=objective), bounds, 0.1) is within
    assert not solve_module.start_within_gap(None, bounds, 0.1)  # no completed start


def test_the_objective_ceiling_is_the_most_the_variable_domains_allow():
    from ortools.sat.python import cp_model

    solve_module = importlib.import_module("matcher.solve")
    model = cp_model.CpModel()
    x, b, y = model.new_int_var(0, 5, "x"), model.new_bool_var("b"), model.new_int_var(-4, 2, "y")
    model.maximize(3 * x - 2 * b + b.Not() + 7 - y)
    assert solve_module.objective_ceiling(model) == 3 * 5 + 1 + 7 + 4  # x high, b false, y low


def test_the_plan_of_the_one_worker_pass_stays_when_the_interleaved_search_runs_out_of_time(tmp_path, monkeypatch):
    from ortools.sat.python import cp_model

    solve_module = importlib.import_module("matcher.solve")
    batch = clustered_batch(tmp_path, seed=2)
    settings = {"solver.workers": 2, "solver.deterministic": True, "solver.time_limit_s": 30}
    proven = solve_batch(batch, settings)
    real = solve_module.run_solver

    def pass_unproven_then_no_time(solver, model, callback):
        if solver.parameters.interleave_search:
            solver.parameters.max_time_in_seconds = 1e-9  # stopped before it holds any plan
            return real(solver, model, callback)
        real(solver, model, callback)
        return cp_model.FEASIBLE  # as if the pass had a plan but no proof

    monkeypatch.setattr(solve_module, "run_solver", pass_unproven_then_no_time)
    kept = solve_batch(batch, settings)
    assert kept.status is matcher.Status.FEASIBLE
    assert kept.objective == pytest.approx(proven.objective, abs=1e-7)
