"""The labor LP: a bound on roles-only parts that keeps the labor rules, and the start rounded from it."""
from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

import matcher
from matcher.candidates import eligible_pairs
from matcher.labor import hours_units, role_candidates, role_conflict_rows
from matcher.labor_lp import LaborRelaxation, labor_relaxation, rounded_roles
from matcher.model import OBJECTIVE_SCALE
from tests.builders import build, hinted_value
from tests.test_labor import NEEDS, OFFERS, RANDOM_LABOR, RANDOM_SCENARIO, STRENGTH_ONLY, brute_force, random_roles, \
    rating, role

SLACK = 1e-4  # the bound's allowance for the model's rounded coefficients is about 1e-5 on these batches
TWO = [{"partner_id": "P1", "home_district": "D1", "role_hours": 10},
       {"partner_id": "P2", "home_district": "D1", "role_hours": 10}]


def relax(tmp_path, roles, capabilities, partners=TWO, scenario=STRENGTH_ONLY, **optional):
    batch = build(tmp_path / "batch", offers=OFFERS, needs=NEEDS, partners=partners, roles=roles,
                  capabilities=capabilities, scenario=scenario, **optional)
    candidates = role_candidates(batch, batch.scenario, eligible_pairs(batch))
    return batch, candidates, labor_relaxation(batch, candidates, batch.scenario, 10.0)


def value(relaxed) -> float:
    return relaxed.bound / OBJECTIVE_SCALE


def test_hours_keep_the_strongest_partner_from_leading_every_role(tmp_path):
    # Two 8 h roles, partners of 10 h: the stronger P1 (9) leads one and 2 h of the other, P2 (5) the rest:
    # 0.02 × (9 × 1.25 + 5 × 0.75) = 0.30. Without the hours it would lead both (0.36); the best plan is 0.28.
    _, _, relaxed = relax(tmp_path, [role("R1"), role("R2")], [rating("P1", 9), rating("P2", 5)])
    assert value(relaxed) == pytest.approx(0.30, abs=SLACK)


def test_a_role_conflict_keeps_two_partners_off_one_team(tmp_path):
    # P1 leads (0.18); P2 could support beside it (+0.05) but for the conflict.
    roles, caps = [role("R1", supporters=1)], [rating("P1", 9), rating("P2", 5)]
    conflict = [{"partner_a": "P1", "partner_b": "P2", "scope": "role"}]
    assert value(relax(tmp_path / "free", roles, caps)[2]) == pytest.approx(0.23, abs=SLACK)
    assert value(relax(tmp_path / "apart", roles, caps, conflicts=conflict)[2]) == pytest.approx(0.18, abs=SLACK)


def test_max_roles_and_a_lock_hold_in_the_lp(tmp_path):
    roles, caps = [role("R1", hours=2), role("R2", hours=2)], [rating("P1", 9), rating("P2", 5)]
    limited = [dict(TWO[0], max_roles=1), TWO[1]]
    assert value(relax(tmp_path / "limit", roles, caps, partners=limited)[2]) == pytest.approx(0.28, abs=SLACK)
    lock = [{"action": "lock", "partner_id": "P2", "role_id": "R1"}]
    assert value(relax(tmp_path / "lock", roles, caps, decisions=lock)[2]) == pytest.approx(0.28, abs=SLACK)


def test_workload_fairness_counts_its_continuous_ratio(tmp_path):
    # One 5 h role on two 10 h partners: P1 leads, its load ratio 0.5 costs fairness × 0.5.
    scenario = "[labor]\nfairness = 0.1\nrole_held = 0.0\n"
    _, _, relaxed = relax(tmp_path, [role("R1", hours=5)], [rating("P1", 9), rating("P2", 1)], scenario=scenario)
    assert value(relaxed) == pytest.approx(0.18 - 0.05, abs=SLACK)


def test_no_labor_lp_without_candidates_or_with_ranked_terms(tmp_path):
    batch, candidates, _ = relax(tmp_path, [role("R1")], [rating("P1", 9)])
    assert labor_relaxation(batch, candidates.iloc[0:0], batch.scenario, 10.0) is None
    ranked = batch.scenario.with_({"solver.mode": "lexicographic"})
    assert labor_relaxation(batch, candidates, ranked, 10.0) is None


@pytest.mark.parametrize("seed", range(12))
def test_the_labor_lp_bounds_the_best_plan_of_random_role_sets(tmp_path, seed):
    roles, caps, partners = random_roles(seed)
    best = brute_force(roles, caps, partners, RANDOM_LABOR)
    _, _, relaxed = relax(tmp_path, roles, caps, partners=partners, scenario=RANDOM_SCENARIO)
    if best == -1e9:
        return  # no plan fills the required roles: nothing to bound
    assert relaxed is not None and relaxed.bound >= round(best * OBJECTIVE_SCALE)


@pytest.mark.parametrize("fill", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_the_rounded_start_keeps_every_labor_rule_it_can(tmp_path, seed, fill):
    roles, caps, partners = random_roles(seed)
    conflict = [{"partner_a": "P1", "partner_b": "P3", "scope": "role"}]
    batch, candidates, relaxed = relax(tmp_path, roles, caps, partners=partners, scenario=RANDOM_SCENARIO,
                                       conflicts=conflict)
    if relaxed is None:
        return  # the LP is infeasible: a required role without a lead candidate
    leads, supports = rounded_roles(batch, candidates, relaxed, fill=fill)
    frame = candidates.assign(lead=leads, support=supports, held=leads | supports)
    assert not (frame["lead"] & ~frame["can_lead"]).any() and not (frame["support"] & ~frame["can_support"]).any()
    per_role = frame.groupby("role_id").agg(leads=("lead", "sum"), supports=("support", "sum"),
                                            allowed=("supporters", "first"))
    assert (per_role["leads"] <= 1).all() and (per_role["supports"] <= per_role["allowed"] * per_role["leads"]).all()
    hours = np.where(frame["lead"], frame["lead_hours"], 0) + np.where(frame["support"], frame["support_hours"], 0)
    used = pd.Series(hours).groupby(frame["partner_id"].to_numpy()).sum()
    capacity = hours_units(batch.partners.set_index("partner_id")["role_hours"])
    assert (used <= capacity.loc[used.index]).all()
    held = frame.groupby("partner_id")["held"].sum()
    limit = batch.partners.set_index("partner_id")["max_roles"].astype("float64").loc[held.index]
    assert (limit.isna() | (held <= limit)).all()
    first, second = role_conflict_rows(batch, candidates)
    assert not (frame["held"].to_numpy()[first] & frame["held"].to_numpy()[second]).any()


# Four required 8 h roles on four 10 h partners, who each have room for one lead. Rated per role: who can lead
# what, and in the order the rounding tries them.
CHAIN_RATINGS = [rating("P2", 9, role_id="RA"), rating("P1", 5, role_id="RA"),
                 rating("P3", 9, role_id="RB"), rating("P2", 5, role_id="RB"),
                 rating("P4", 9, role_id="RC"), rating("P3", 5, role_id="RC"),
                 rating("P3", 9, role_id="RD"), rating("P4", 5, role_id="RD")]
FOUR = [{"partner_id": f"P{k}", "home_district": "D1", "role_hours": 10} for k in range(1, 5)]


def chain_rounding(tmp_path) -> set[tuple[str, str]]:
    """The rounding of shares that lead RA, RB and RC by their first candidates: RD's two are then taken."""
    batch = build(tmp_path / "batch", offers=OFFERS, needs=NEEDS, partners=FOUR,
                  roles=[role(r) for r in ("RA", "RB", "RC", "RD")], capabilities=CHAIN_RATINGS, scenario=STRENGTH_ONLY)
    candidates = role_candidates(batch, batch.scenario, eligible_pairs(batch))
    first = candidates.merge(pd.DataFrame({"role_id": ["RA", "RB", "RC"], "partner_id": ["P2", "P3", "P4"]}).assign(
        share=1.0), how="left", on=["role_id", "partner_id"])["share"].fillna(0.0).to_numpy()
    leads, _ = rounded_roles(batch, candidates, LaborRelaxation(0, first, np.zeros(len(candidates))))
    return set(zip(candidates["role_id"][leads], candidates["partner_id"][leads]))


def test_a_required_role_left_without_a_lead_takes_one_through_two_hand_overs(tmp_path):
    # RD's P3 leads RB, which P2 can take only once P2 hands RA to P1.
    assert chain_rounding(tmp_path) == {("RA", "P1"), ("RB", "P2"), ("RC", "P4"), ("RD", "P3")}


def test_a_hand_over_that_fails_leaves_every_lead_it_moved_where_it_was(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.import_module("matcher.labor_lp"), "HANDOVER_DEPTH", 1)
    assert chain_rounding(tmp_path) == {("RA", "P2"), ("RB", "P3"), ("RC", "P4")}


def test_filling_takes_the_positions_that_still_fit_strongest_per_hour_first(tmp_path):
    # No LP share anywhere: R1 (optional, 4 h) and R2 (optional, 8 h, 1 supporter) on partners of 10 h.
    roles = [role("R1", hours=4, required=False), role("R2", hours=8, required=False, supporters=1)]
    caps = [rating("P1", 9), rating("P2", 5)]
    batch = build(tmp_path / "batch", offers=OFFERS, needs=NEEDS, partners=TWO, roles=roles, capabilities=caps,
                  scenario=STRENGTH_ONLY)
    candidates = role_candidates(batch, batch.scenario, eligible_pairs(batch))
    nothing = LaborRelaxation(0, np.zeros(len(candidates)), np.zeros(len(candidates)))
    leads, supports = rounded_roles(batch, candidates, nothing)
    assert not leads.any() and not supports.any()
    leads, supports = rounded_roles(batch, candidates, nothing, fill=True)
    # P1 leads R1 (9 / 4 h, the best per hour); 6 h are left to it, so P2 leads R2 and P1 supports it (4 h).
    taken = {(r, p, "lead") for r, p in zip(candidates["role_id"][leads], candidates["partner_id"][leads])}
    taken |= {(r, p, "support") for r, p in zip(candidates["role_id"][supports], candidates["partner_id"][supports])}
    assert taken == {("R1", "P1", "lead"), ("R2", "P2", "lead"), ("R2", "P1", "support")}


def test_a_large_roles_only_part_starts_from_the_rounded_lp_and_is_bounded_by_it(tmp_path, monkeypatch):
    from matcher.decompose import find_parts
    from matcher.generate import generate_batch

    solve_module = importlib.import_module("matcher.solve")  # `matcher.solve` is the function
    monkeypatch.setattr(solve_module, "LABOR_LP_CANDIDATES", 100)
    batch = matcher.read_batch(generate_batch(tmp_path / "batch", "city", 3, roles=400))
    scenario = batch.scenario.with_({"solver.workers": 1, "solver.time_limit_s": 0.5})
    pairs = eligible_pairs(batch)
    part = max(find_parts(batch, pairs, scenario), key=lambda part: len(part.batch.roles))
    assert len(part.positions) == 0 and len(part.role_candidates) >= 100
    outcome = solve_module.solve_part(0, part.batch, pairs.iloc[0:0], scenario, role_candidates=part.role_candidates)
    relaxed = labor_relaxation(part.batch, part.role_candidates, scenario, 10.0)
    assert outcome.start == "labor LP" and outcome.status.has_plan
    assert outcome.objective <= outcome.bound <= relaxed.bound


def test_a_roles_only_search_that_ends_below_its_completed_rounding_gives_way_to_it(tmp_path, monkeypatch):
    from matcher.decompose import find_parts
    from matcher.generate import generate_batch

    solve_module = importlib.import_module("matcher.solve")
    monkeypatch.setattr(solve_module, "LABOR_LP_CANDIDATES", 100)
    real = solve_module.search

    def first_plan_only(solver, model, callback):  # the first plan CP-SAT finds from nothing
        model.clear_hints()
        solver.parameters.stop_after_first_solution = True
        return real(solver, model, callback)

    monkeypatch.setattr(solve_module, "search", first_plan_only)
    batch = matcher.read_batch(generate_batch(tmp_path / "batch", "city", 3, roles=400))
    scenario = batch.scenario.with_({"solver.workers": 1, "solver.time_limit_s": 5})
    pairs = eligible_pairs(batch)
    part = max(find_parts(batch, pairs, scenario), key=lambda part: len(part.batch.roles))
    kept = solve_module.solve_part(0, part.batch, pairs.iloc[0:0], scenario, role_candidates=part.role_candidates)
    monkeypatch.setattr(solve_module, "completed_hint", lambda model, limits: None)
    # It stops at its first plan too; the longer limit only keeps a loaded machine from leaving it without one.
    unstarted = solve_module.solve_part(0, part.batch, pairs.iloc[0:0], scenario.with_({"solver.time_limit_s": 60}),
                                        role_candidates=part.role_candidates)
    assert (kept.method, kept.start, kept.status) == ("completed start", "labor LP", matcher.Status.FEASIBLE)
    assert (unstarted.method, unstarted.start) == ("cp-sat", "labor LP positions")
    assert kept.objective > unstarted.objective
    required = set(part.batch.roles.loc[part.batch.roles["required"].astype(bool), "role_id"])
    assert required <= set(kept.positions.loc[kept.positions["position"] == "lead", "role_id"])


def largest_roles_part(tmp_path):
    """The largest roles-only part of a generated city batch with 400 roles (225 roles, 431 candidates), and its
    scenario."""
    from matcher.decompose import find_parts
    from matcher.generate import generate_batch

    batch = matcher.read_batch(generate_batch(tmp_path / "batch", "city", 3, roles=400))
    scenario = batch.scenario.with_({"solver.workers": 1, "solver.time_limit_s": 5})
    pairs = eligible_pairs(batch)
    part = max(find_parts(batch, pairs, scenario), key=lambda part: len(part.batch.roles))
    return part, pairs.iloc[0:0], scenario


def test_the_search_near_the_labor_lp_leaves_out_positions_without_a_share_strength_or_start(
        tmp_path, monkeypatch):
    from matcher.labor import hint_positions
    from matcher.model import build_model

    solve_module = importlib.import_module("matcher.solve")
    monkeypatch.setattr(solve_module, "NEAR_LP_STRONGEST", 1)  # the city's roles have fewer than 10 candidates
    part, pairs, scenario = largest_roles_part(tmp_path)
    m = build_model(part.batch, pairs, scenario, role_candidates=part.role_candidates)
    relaxed = labor_relaxation(part.batch, m.roles, scenario, 10.0)
    hint_positions(m, *rounded_roles(part.batch, m.roles, relaxed, fill=True))
    completed = solve_module.completed_hint(m.model, scenario.solver)
    assert completed is not None
    copy = solve_module.near_lp_positions(m, relaxed, completed)

    rank = m.roles.groupby("role_id")["strength"].rank(method="first", ascending=False)
    for variables, share in ((m.lead, relaxed.lead), (m.support, relaxed.support)):
        expected = [share[i] <= 1e-6 and rank[i] > solve_module.NEAR_LP_STRONGEST
                    and not completed.boolean_value(v) for i, v in variables.items()]
        fixed = [list(copy.proto.variables[v.index].domain) == [0, 0] for v in variables.values()]
        assert fixed == expected
        assert all(list(m.model.proto.variables[v.index].domain) == [0, 1] for v in variables.values())
    assert 0 < sum(list(copy.proto.variables[v.index].domain) == [0, 0] for v in m.lead.values()) < len(m.lead)

    assert hinted_value(copy) == round(completed.objective_value)  # the completed start is a plan of the copy


def test_a_large_roles_only_part_searches_near_its_lp_and_is_bounded_by_it(tmp_path, monkeypatch):
    solve_module = importlib.import_module("matcher.solve")
    monkeypatch.setattr(solve_module, "LABOR_LP_CANDIDATES", 100)
    monkeypatch.setattr(solve_module, "NEAR_LP_CANDIDATES", 100)
    part, pairs, scenario = largest_roles_part(tmp_path)
    seen = []
    outcome = solve_module.solve_part(0, part.batch, pairs, scenario, role_candidates=part.role_candidates,
                                      progress=lambda *line: seen.append(line))
    relaxed = labor_relaxation(part.batch, part.role_candidates, scenario, 10.0)
    assert outcome.method in ("cp-sat on LP positions", "completed start")  # the start, if the search ends below it
    assert (outcome.start, outcome.bound_from, outcome.bound) == ("labor LP", "labor LP", relaxed.bound)
    assert outcome.status is matcher.Status.FEASIBLE and seen
    assert {bound for _, _, bound in seen} == {relaxed.bound / OBJECTIVE_SCALE}  # never the restricted copy's own


def test_the_rounded_positions_are_hinted_on_every_lead_and_support(tmp_path):
    from matcher.labor import hint_positions
    from matcher.model import build_model

    part, pairs, scenario = largest_roles_part(tmp_path)
    m = build_model(part.batch, pairs, scenario, role_candidates=part.role_candidates)
    leads = (np.arange(len(m.roles)) % 3 == 0).astype(int)
    supports = (np.arange(len(m.roles)) % 3 == 1).astype(int)
    m.model.add_hint(next(iter(m.lead.values())), 1)  # an earlier hint, cleared
    hint_positions(m, leads, supports)
    hint = m.model.proto.solution_hint
    hinted = dict(zip(hint.vars, hint.values))
    assert len(hint.vars) == len(hinted) == len(m.lead) + len(m.support)
    assert all(hinted[v.index] == leads[i] for i, v in m.lead.items())
    assert all(hinted[v.index] == supports[i] for i, v in m.support.items())
