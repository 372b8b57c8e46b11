"""The district LP: a bound that knows partners' district limits, and the districts it picks for the warm start."""
from __future__ import annotations

import concurrent.futures
import dataclasses

import pandas as pd
import pytest

import matcher
from matcher.candidates import eligible_pairs
from matcher.districts_lp import district_relaxation
from matcher.flow import flow_relaxation, relaxation_bound, rounding_slack
from matcher.model import OBJECTIVE_SCALE
from matcher.rounding import outside_chosen_districts, rounded_plan
from tests.builders import build
from tests.test_relaxation_bound import proven_optima

DISTRICTS = [{"district_id": f"D{i}", "name": f"D{i}", "priority": 1.0, "lat": 45.0, "lon": -93.0 + 0.01 * i,
              "neighbors": ";".join(f"D{j}" for j in range(1, 4) if j != i)} for i in range(1, 4)]


def spread_batch(folder, max_districts: str, floor: int = 0) -> matcher.Batch:
    """One partner with 20 volunteers and three needs of 10 in three districts it can reach."""
    partners = [{"partner_id": "P1", "name": "Alpha", "home_district": "D1", "max_districts": max_districts}]
    needs = [{"need_id": f"N{i}", "district_id": f"D{i}", "resource": "volunteers", "quantity": 10,
              "priority": 1.0, "floor": floor if i == 3 else 0} for i in range(1, 4)]
    offers = [{"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "quantity": 20, "reach": "any"}]
    return build(folder, districts=DISTRICTS, partners=partners, offers=offers, needs=needs,
                 scenario="[weights]\ntravel = 0.0\npooling = 0.0\nfairness = 0.0\n")


def lp_value(batch: matcher.Batch) -> float:
    relaxed = district_relaxation(batch, eligible_pairs(batch), batch.scenario, 10.0)
    return relaxed.bound / OBJECTIVE_SCALE


def test_a_district_limit_keeps_the_lp_from_spreading_a_partner_everywhere(tmp_path):
    # Unlimited, 20 volunteers over three needs of 10: 6⅔ each, f = 0.5 + 0.5 × 1/6 apiece, 1.75 in all (the
    # flow). With one district, every pair carries at most 10 × its presence and the presences add up to 1,
    # so at most 10 units in all: 3⅓ each, 1.0. The best plan sends 10 to one need: 0.75.
    limited = spread_batch(tmp_path / "one", "1")
    assert relaxation_bound(limited, eligible_pairs(limited), limited.scenario) / OBJECTIVE_SCALE == pytest.approx(
        1.75, abs=1e-3)
    assert lp_value(limited) == pytest.approx(1.0, abs=1e-3)
    assert matcher.solve(limited).objective == pytest.approx(0.75, abs=1e-4)
    # With two districts the presences allow 20 units again: the LP is back at the flow's 1.75, the best plan 1.5.
    two = spread_batch(tmp_path / "two", "2")
    assert lp_value(two) == pytest.approx(1.75, abs=1e-3)
    assert matcher.solve(two).objective == pytest.approx(1.5, abs=1e-4)


def test_whole_presences_at_the_mip_root_bound_a_spread_partner_at_its_best_plan(tmp_path, monkeypatch):
    # The LP's 1.0 has P1 a third present in each district; with presences whole it is in one, 0.75.
    batch = spread_batch(tmp_path, "1")
    pairs = eligible_pairs(batch)
    rooted = district_relaxation(batch, pairs, batch.scenario, 10.0, mip_time_limit_s=10.0)
    assert rooted.method == "district MIP"
    assert rooted.bound / OBJECTIVE_SCALE == pytest.approx(0.75, abs=1e-3)
    assert sorted(rooted.presence["presence"].round(6).tolist()) == [0.0, 0.0, 1.0]
    assert rooted.presence.loc[rooted.presence["presence"] > 0.5, "sent"].tolist() == pytest.approx([10.0])
    # No time for a MIP: the LP alone, P1 spread over two or three districts.
    alone = district_relaxation(batch, pairs, batch.scenario, 10.0)
    assert alone.method == "district LP" and alone.bound / OBJECTIVE_SCALE == pytest.approx(1.0, abs=1e-3)
    assert alone.presence["presence"].max() < 1.0 - 1e-6
    # A MIP solution too far from its bound leaves the districts to the LP's presences.
    monkeypatch.setattr("matcher.districts_lp.MIP_PLAN_GAP", -1.0)
    distrusted = district_relaxation(batch, pairs, batch.scenario, 10.0, mip_time_limit_s=10.0)
    assert distrusted.bound == rooted.bound
    assert distrusted.presence["presence"].tolist() == alone.presence["presence"].tolist()


def test_a_highs_search_beside_the_model_bounds_a_spread_partner_once_settled(tmp_path, monkeypatch):
    # Too large for SCIP's root (here: at any size), in a run that need not be reproducible: HiGHS searches on a
    # thread. Its bound, 0.75, counts once it has ended; the districts stay the LP's.
    monkeypatch.setattr("matcher.districts_lp.MIP_ROOT_PAIRS", 1e-9)
    batch = spread_batch(tmp_path, "1")
    pairs = eligible_pairs(batch)
    searching = district_relaxation(batch, pairs, batch.scenario.with_({"solver.deterministic": False}), 10.0,
                                    search_time_limit_s=10.0)
    assert searching.method == "district LP" and searching.bound / OBJECTIVE_SCALE == pytest.approx(1.0, abs=1e-3)
    settled = searching.settled()
    assert settled.method == "district MIP" and settled.bound / OBJECTIVE_SCALE == pytest.approx(0.75, abs=1e-3)
    assert settled.presence["presence"].tolist() == searching.presence["presence"].tolist()
    assert settled.searching is None and settled.settled() is settled
    # A run stopped by Ctrl-C does not wait for a search still under way: the LP's bound stands.
    under_way = dataclasses.replace(searching, searching=concurrent.futures.Future())
    assert under_way.settled(stopped=True).bound == searching.bound
    # A reproducible run does not search on the clock.
    assert district_relaxation(batch, pairs, batch.scenario, 10.0, search_time_limit_s=10.0).searching is None


def test_what_a_partner_sends_a_district_is_held_to_its_presence_there_in_all(tmp_path, monkeypatch):
    # Three offers of 10, one district, three needs of 10 in three districts. Each pair alone allows
    # 10 × presence, so with presences of ⅓ each need could still get 3 × 3⅓, all it asks: 3 × 0.75.
    # Held to 10 × presence per district in all, each need gets 3⅓ at most: 3 × ⅓ = 1.0.
    partners = [{"partner_id": "P1", "name": "Alpha", "home_district": "D1", "max_districts": 1}]
    needs = [{"need_id": f"N{i}", "district_id": f"D{i}", "resource": "volunteers", "quantity": 10,
              "priority": 1.0} for i in range(1, 4)]
    offers = [{"offer_id": f"O{i}", "partner_id": "P1", "resource": "volunteers", "quantity": 10, "reach": "any"}
              for i in range(1, 4)]
    batch = build(tmp_path, districts=DISTRICTS, partners=partners, offers=offers, needs=needs,
                  scenario="[weights]\ntravel = 0.0\npooling = 0.0\nfairness = 0.0\n")
    assert lp_value(batch) == pytest.approx(1.0, abs=1e-3)
    monkeypatch.setattr("matcher.districts_lp.district_capacity_rows", lambda *args: None)
    assert lp_value(batch) == pytest.approx(2.25, abs=1e-3)


def test_no_district_lp_without_a_district_limit_or_with_roles_or_ranked_terms(tmp_path):
    unlimited = spread_batch(tmp_path / "none", "")
    assert district_relaxation(unlimited, eligible_pairs(unlimited), unlimited.scenario, 10.0) is None
    limited = spread_batch(tmp_path / "one", "1")
    ranked = limited.scenario.with_({"solver.mode": "lexicographic"})
    assert district_relaxation(limited, eligible_pairs(limited), ranked, 10.0) is None
    assert district_relaxation(limited, eligible_pairs(limited), limited.scenario, 1e-5) is None  # too big for it
    role = {"role_id": "R1", "name": "R1", "skill": "canvassing", "district_id": "D1", "hours": 8.0,
            "required": True, "supporters": 0}
    with_roles = dataclasses.replace(limited, roles=pd.DataFrame([role]))
    assert district_relaxation(with_roles, eligible_pairs(limited), limited.scenario, 10.0) is None
    assert district_relaxation(limited, eligible_pairs(limited), limited.scenario, 10.0) is not None


def test_a_hard_floor_holds_in_the_lp(tmp_path):
    # N3 must get 8 of the 10 units the one district allows: its presence is at least 0.8, what is left is 2.
    # Best then: N3 gets 8 (0.5 + 0.5 × 0.3), the 2 left go to N1 or N2 (0.2 × 1): 0.85.
    relaxed = district_relaxation(batch := spread_batch(tmp_path, "1", floor=8), eligible_pairs(batch),
                                  batch.scenario, 10.0)
    assert relaxed.bound / OBJECTIVE_SCALE == pytest.approx(0.85, abs=1e-3)
    assert relaxed.presence.set_index("district_id")["presence"]["D3"] >= 0.8 - 1e-6


def test_a_legal_cap_holds_in_the_lp(tmp_path):
    partners = [{"partner_id": "P1", "name": "Alpha", "home_district": "D1", "kind": "individual",
                 "max_districts": 3}]
    districts = [dict(d, candidate="Alvarez") for d in DISTRICTS]
    needs = [{"need_id": "N1", "district_id": "D1", "resource": "money", "quantity": 1000, "priority": 1.0}]
    offers = [{"offer_id": "O1", "partner_id": "P1", "resource": "money", "quantity": 1000, "reach": "any"}]
    scenario = "[weights]\ntravel = 0.0\npooling = 0.0\ncost = 0.0\n[legal]\ncaps_usd = { individual = 250 }\n"
    batch = build(tmp_path, districts=districts, partners=partners, offers=offers, needs=needs, scenario=scenario)
    assert lp_value(batch) == pytest.approx(0.25, abs=1e-3)  # $250 of a $1,000 need: a quarter, in the first half


@pytest.mark.parametrize("soft", [False, True], ids=["as drawn", "soft policies and pooling"])
def test_the_district_lp_bound_is_at_least_the_proven_optimum_on_random_batches(tmp_path, monkeypatch, soft):
    checked = tighter = searched_tighter = 0
    for seed, batch, scenario, optimum in proven_optima(tmp_path, soft, range(24)):
        pairs = eligible_pairs(batch)
        relaxed = district_relaxation(batch, pairs, scenario, 10.0)
        if relaxed is None:
            continue  # no partner with a district limit among the pairs
        assert optimum <= relaxed.bound, seed
        rooted = district_relaxation(batch, pairs, scenario, 10.0, mip_time_limit_s=10.0)
        assert optimum <= rooted.bound <= relaxed.bound, seed
        with monkeypatch.context() as patched:  # too large for the root, in a run that need not be reproducible
            patched.setattr("matcher.districts_lp.MIP_ROOT_PAIRS", 1e-9)
            searched = district_relaxation(batch, pairs, scenario.with_({"solver.deterministic": False}), 10.0,
                                           search_time_limit_s=10.0).settled()
        assert optimum <= searched.bound <= relaxed.bound, seed
        searched_tighter += searched.method == "district MIP"
        tighter += rooted.method == "district MIP"
        # Never looser than the flow's, but for the two bounds' allowances for the model's integer rounding.
        rounding = len(pairs) + rounding_slack(batch, pairs, scenario)
        assert relaxed.bound <= relaxation_bound(batch, pairs, scenario) + rounding, seed
        checked += 1
    assert checked >= 8 and tighter >= 1 and searched_tighter >= 1


def test_each_limited_partner_starts_in_the_districts_the_lp_has_it_most_present(tmp_path):
    batch = spread_batch(tmp_path, "1")
    pairs = eligible_pairs(batch)
    presence = pd.DataFrame({"partner_id": "P1", "district_id": ["D1", "D2", "D3"], "presence": [0.2, 0.2, 0.6],
                             "sent": [2.0, 3.0, 6.0]})
    assert outside_chosen_districts(batch, pairs, presence).tolist() == [True, True, False]
    tie = presence.assign(presence=0.5, sent=[2.0, 6.0, 3.0])
    assert outside_chosen_districts(batch, pairs, tie).tolist() == [True, False, True]  # then by what it sent
    amounts = rounded_plan(batch, pairs, batch.scenario, presence=presence)
    assert dict(zip(pairs["need_id"], amounts)) == {"N1": 0, "N2": 0, "N3": 10}
    relaxed, _ = flow_relaxation(batch, pairs, batch.scenario)  # not the first round's flow where the LP narrows it
    assert rounded_plan(batch, pairs, batch.scenario, presence=presence, relaxed=relaxed).tolist() == amounts.tolist()


def test_a_large_part_with_district_limits_is_bounded_by_the_district_lp(tmp_path):
    from matcher.decompose import find_parts
    from matcher.generate import generate_batch
    from matcher.solve import solve_part

    batch = matcher.read_batch(generate_batch(tmp_path / "batch", "city", 3, partners=150, offers=700, needs=400))
    scenario = batch.scenario.with_({"solver.workers": 1, "solver.time_limit_s": 12.0})
    pairs = eligible_pairs(batch)
    part = max(find_parts(batch, pairs, scenario), key=lambda part: len(part.positions))
    part_pairs = pairs.iloc[part.positions].reset_index(drop=True)
    outcome = solve_part(0, part.batch, part_pairs, scenario)
    assert outcome.status.has_plan and outcome.bound_from == "district LP"
    assert outcome.objective <= outcome.bound < relaxation_bound(part.batch, part_pairs, scenario)
