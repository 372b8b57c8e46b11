"""The flow relaxation's bound, reported when it is tighter than CP-SAT's: never below the true optimum."""
from __future__ import annotations

import pytest

import matcher
from matcher.candidates import eligible_pairs
from matcher.flow import relaxation_bound, rounding_slack
from matcher.model import OBJECTIVE_SCALE
from matcher.terms import coverage_coefficients, need_weight_series
from tests.builders import solve_batch
from tests.test_random_rules import random_batch
from tests.test_scale import clustered_batch

SOFT_POLICIES = {"policy.min_benefit": "soft", "policy.dependence": "soft", "policy.resilience": "soft",
                 "policy.dependence_cap": 0.6, "policy.resilience_share": 0.4, "weights.pooling": 2.0,
                 "pooling.pairs": [["volunteers", "office_space"], ["money", "expertise"]]}


def proven_optima(folder, soft: bool, seeds: range):
    """(seed, batch, scenario, optimum in 1/OBJECTIVE_SCALE) of each random batch CP-SAT proves optimal."""
    for seed in seeds:
        batch, _ = random_batch(folder / f"b{seed}", seed)
        scenario = batch.scenario.with_({"solver.workers": 1, "solver.time_limit_s": 20.0, "labor.fairness": 0.0,
                                         **(SOFT_POLICIES if soft else {})})
        try:
            result = matcher.solve(batch, scenario)
        except matcher.InputError:
            continue  # a random lock that collides with a forbid is refused up front
        if result.status is matcher.Status.OPTIMAL:
            yield seed, batch, scenario, round(result.objective * OBJECTIVE_SCALE)


@pytest.mark.parametrize("soft", [False, True], ids=["as drawn", "soft policies and pooling"])
def test_the_relaxation_bound_is_at_least_the_proven_optimum_on_random_batches(tmp_path, soft):
    checked = 0
    for seed, batch, scenario, optimum in proven_optima(tmp_path, soft, range(16)):
        bound = relaxation_bound(batch, eligible_pairs(batch), scenario)
        assert bound is not None
        assert bound >= optimum, seed
        checked += 1
    assert checked >= 8


@pytest.mark.parametrize("seed", range(4))
def test_the_relaxation_bound_is_tight_on_transportation_batches(tmp_path, seed):
    batch = clustered_batch(tmp_path, seed, transport=True)
    result = solve_batch(batch, {"weights.travel": 0.0, "weights.pooling": 0.0})
    pairs = eligible_pairs(batch)
    scenario = result.scenario
    bound = relaxation_bound(batch, pairs, scenario)
    optimum = round(result.objective * OBJECTIVE_SCALE)
    # The model floors each need's coverage to whole 1/COVERAGE_SCALE units (its lines too): up to 3 units a need.
    floored = 3 * coverage_coefficients(need_weight_series(batch, scenario).to_numpy()).sum()
    assert optimum <= bound <= optimum + rounding_slack(batch, pairs, scenario) + floored


def test_no_relaxation_bound_where_roles_or_ranked_terms_are_in_the_part(tmp_path):
    batch = clustered_batch(tmp_path, 0)
    pairs = eligible_pairs(batch)
    assert relaxation_bound(batch, pairs, batch.scenario.with_({"solver.mode": "lexicographic"})) is None
    assert relaxation_bound(batch, pairs, batch.scenario) is not None
