"""The labor LP: a bound on roles-only parts that keeps the labor rules, and the start rounded from it."""
from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

import matcher
from matcher.candidates import eligible_pairs
from matcher.labor import hours_units, role_candidates, role_conflict_rows
from matcher.labor_lp import labor_relaxation, rounded_roles
from matcher.model import OBJECTIVE_SCALE
from tests.builders import build
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


@pytest.mark.parametrize("seed", range(12))
def test_the_rounded_start_keeps_every_labor_rule_it_can(tmp_path, seed):
    roles, caps, partners = random_roles(seed)
    conflict = [{"partner_a": "P1", "partner_b": "P3", "scope": "role"}]
    batch, candidates, relaxed = relax(tmp_path, roles, caps, partners=partners, scenario=RANDOM_SCENARIO,
                                       conflicts=conflict)
    if relaxed is None:
        return  # the LP is infeasible: a required role without a lead candidate
    leads, supports = rounded_roles(batch, candidates, relaxed)
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
