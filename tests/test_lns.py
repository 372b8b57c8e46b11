"""The search over districts (matcher.lns): what each step frees and holds, and that its plans keep every rule."""
from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest
from ortools.sat.python import cp_model

import matcher
from matcher.model import add_hints
from tests.builders import hinted_value
from tests.test_scale import limited_city

lns = importlib.import_module("matcher.lns")
solve_module = importlib.import_module("matcher.solve")


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """The limited city batch's model (8,385 pairs, one part), its district LP and its start completed along it."""
    from matcher.candidates import eligible_pairs
    from matcher.districts_lp import district_relaxation
    from matcher.model import build_model

    batch, scenario = limited_city(tmp_path_factory.mktemp("lns"))
    scenario = scenario.with_({"solver.deterministic": False})
    pairs = eligible_pairs(batch)
    m = build_model(batch, pairs, scenario)
    relaxed = district_relaxation(batch, pairs, scenario, 30.0)
    start, completed = solve_module.warm_start(m, scenario.solver, relaxed.presence)
    assert start == "complete"
    return m, relaxed, completed


def plan_values(solver) -> np.ndarray:
    return np.asarray(solver.response_proto.solution, dtype=np.int64)


def sending(m, values: np.ndarray) -> np.ndarray:
    """The pairs a plan (the model's variables) uses."""
    return np.array([values[used.index] > 0 for used in m.used], dtype=bool)


def test_a_neighbourhood_frees_its_districts_pairs_and_every_pair_of_the_partners_the_plan_has_there(started):
    m, _, completed = started
    values = plan_values(completed)
    districts = set(m.pairs["district_id"].iloc[:2])
    free = lns.neighbourhood(m, sending(m, values), districts)

    sent = [completed.value(amount) > 0 for amount in m.amount]
    there = {partner for partner, district, s in zip(m.pairs["partner_id"], m.pairs["district_id"], sent)
             if s and district in districts}
    expected = [district in districts or partner in there
                for partner, district in zip(m.pairs["partner_id"], m.pairs["district_id"])]
    assert free.tolist() == expected
    assert there and 0 < free.sum() < len(m.pairs)
    assert any(f and d not in districts for f, d in zip(free, m.pairs["district_id"]))  # partners may move away


def test_a_step_holds_every_pair_outside_its_neighbourhood_at_the_plan_and_starts_from_the_whole_plan(started):
    m, _, completed = started
    values = plan_values(completed)
    held = lns.HeldPlan(m, m.model, values)
    free = lns.neighbourhood(m, sending(m, values), {m.pairs["district_id"].iloc[0]})
    copy = held.opened(free, values)

    for p, (used, amount) in enumerate(zip(m.used, m.amount)):
        domains = [list(copy.proto.variables[v.index].domain) for v in (used, amount) if hasattr(v, "index")]
        if free[p]:
            assert domains == [list(m.model.proto.variables[v.index].domain) for v in (used, amount)
                               if hasattr(v, "index")]
        else:
            assert all(domain == [values[v.index]] * 2 for domain, v in zip(domains, (used, amount)))
    assert list(copy.proto.solution_hint.values) == values.tolist()
    assert hinted_value(copy) == round(completed.objective_value)  # the plan is one of the held copy
    assert list(m.model.proto.variables[m.used[0].index].domain) == [0, 1]  # the model itself is untouched

    moved = values.copy()
    p = int(np.flatnonzero(free)[0])
    moved[m.used[p].index] = 1 - values[m.used[p].index]  # as if the step had changed one pairing
    held.hold(free, moved)
    assert [list(copy.proto.variables[used.index].domain) for used in m.used] == [
        [moved[used.index]] * 2 for used in m.used]  # held again, at the step's plan


def test_every_district_has_its_listed_neighbours_among_those_the_part_reaches(started):
    m, _, _ = started
    neighbours = lns.district_neighbours(m)
    listed = m.batch.districts.set_index("district_id")["neighbors"]
    reached = set(m.pairs["district_id"])
    assert set(neighbours) == reached
    for district, near in neighbours.items():
        assert near == set(listed[district]) & reached - {district}
    assert any(neighbours.values())


def test_the_search_keeps_a_plan_of_the_model_at_least_as_good_as_its_start(started):
    m, relaxed, completed = started
    near = solve_module.near_lp_districts(m, relaxed.presence, completed)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers, solver.parameters.random_seed = 1, 3
    found = lns.search_by_districts(m, near, completed, solver.parameters, 8.0)

    assert found.steps >= 2 and 0 <= found.improved <= found.steps
    code, seconds, answer = found.answer(completed)
    if found.best is None:
        assert (code, answer) == (cp_model.UNKNOWN, completed)
        return
    assert code == cp_model.FEASIBLE and found.improved >= 1
    assert answer.objective_value > completed.objective_value
    whole = m.model.clone()
    whole.clear_hints()
    add_hints(whole, range(len(answer.response_proto.solution)), list(answer.response_proto.solution))
    assert hinted_value(whole) == round(answer.objective_value)  # a plan of the whole model, every rule kept


def test_an_interrupted_search_stops_after_its_step(started, monkeypatch):
    m, _, completed = started
    solver = cp_model.CpSolver()
    real = solve_module.run_solver
    calls = []

    def interrupted(solver, model, callback):
        calls.append(model)
        solve_module.INTERRUPT.requested = True
        return real(solver, model, callback)

    monkeypatch.setattr(solve_module, "run_solver", interrupted)
    try:
        with solve_module.stop_on_interrupt():  # as in `matcher.solve`, which routes Ctrl-C to INTERRUPT
            found = lns.search_by_districts(m, m.model, completed, solver.parameters, 60.0)
    finally:
        solve_module.INTERRUPT.requested = False
    assert found.steps == 1 and len(calls) == 1 and found.seconds < 60


def test_a_region_searches_near_its_lp_whatever_its_size(started):
    m, relaxed, completed = started
    assert len(m.pairs) < solve_module.NEAR_LP_PAIRS
    assert solve_module.near_lp(m, relaxed, None, completed) is None  # a whole part this size: CP-SAT's own search
    near = solve_module.near_lp(m, relaxed, None, completed, region=True)  # a region's own bound counts for nothing
    assert near.by_districts and near.method == "LNS in LP districts" and near.bound == relaxed.bound
    reproducible = dataclasses.replace(m, scenario=m.scenario.with_({"solver.deterministic": True}))
    assert solve_module.near_lp(reproducible, relaxed, None, completed, region=True).method == "cp-sat in LP districts"


def test_a_large_part_not_searched_reproducibly_is_searched_by_districts_and_bounded_by_the_lp(tmp_path, monkeypatch):
    monkeypatch.setattr(solve_module, "NEAR_LP_PAIRS", 1_000)
    batch, scenario = limited_city(tmp_path)
    seen = []
    result = matcher.solve(batch, scenario.with_({"solver.deterministic": False}),
                           progress=lambda *line: seen.append(line))  # verified on the way out
    part = result.parts[0]
    assert part["start"] == "complete" and part["bound_from"] in ("district LP", "district MIP")  # HiGHS's beside
    assert part["method"] in ("LNS in LP districts", "completed start")  # the start, if no step improved it
    assert part["neighbourhoods"]["searched"] >= 1
    assert (part["method"] == "completed start") == (part["neighbourhoods"]["improved"] == 0)
    assert 0 < part["start_s"] < part["solve_s"]  # its LP and completed start, then the search
    assert result.status is matcher.Status.FEASIBLE
    bounds = {bound for _, _, bound in seen}  # the LP's (HiGHS's, once its search ends, may be lower)
    assert len(bounds) == 1 and bounds.pop() >= result.best_bound  # never a step's own
    assert matcher.verify(batch, result.write(tmp_path / "out")).ok
