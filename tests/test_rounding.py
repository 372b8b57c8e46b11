"""The rounded transportation plan that starts CP-SAT on large parts: each repair alone, then whole plans."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import matcher
from benchmarks.baselines import plan_tables
from matcher.candidates import eligible_pairs
from matcher.flow import flow_relaxation
from matcher.generate import generate_batch
from matcher.model import build_model
from matcher.rounding import (cut_over, in_conflict, keep_locks, locked_pairs, over_district_limit, rounded_plan,
                              second_need_of_whole_offer)
from matcher.solve import hint_amounts, warm_start
from matcher.verify import verify_tables
from tests.builders import build


def sent(rows: list[tuple]) -> pd.DataFrame:
    """(offer, need, partner, district, divisible, amount) rows, as `broken_pairs` sees them."""
    frame = pd.DataFrame(rows, columns=["offer_id", "need_id", "partner_id", "district_id", "divisible", "amount"])
    return frame.assign(locked=False)


class Tables:
    """Just the tables the repairs read."""

    def __init__(self, partners=None, conflicts=None):
        self.partners = pd.DataFrame(partners or [], columns=["partner_id", "max_districts"])
        self.conflicts = pd.DataFrame(conflicts or [], columns=["partner_a", "partner_b", "scope"])


def test_a_partner_over_its_district_limit_keeps_the_districts_it_sends_most_to():
    frame = sent([("O1", "N1", "P1", "D1", True, 5), ("O1", "N2", "P1", "D2", True, 9),
                  ("O2", "N3", "P1", "D3", True, 2), ("O3", "N1", "P2", "D1", True, 4)])
    dropped = over_district_limit(Tables(partners=[("P1", 2), ("P2", np.nan)]), frame)
    assert dropped.tolist() == [False, False, True, False]


def test_a_partner_within_its_district_limit_keeps_everything():
    frame = sent([("O1", "N1", "P1", "D1", True, 5), ("O1", "N2", "P1", "D2", True, 9)])
    assert not over_district_limit(Tables(partners=[("P1", 2)]), frame).any()


def test_of_two_partners_in_conflict_the_one_sending_less_leaves_the_district():
    frame = sent([("O1", "N1", "P1", "D1", True, 5), ("O2", "N2", "P2", "D1", True, 9),
                  ("O1", "N3", "P1", "D2", True, 3)])
    dropped = in_conflict(Tables(conflicts=[("P1", "P2", "district")]), frame)
    assert dropped.tolist() == [True, False, False]
    assert not in_conflict(Tables(conflicts=[("P1", "P2", "role")]), frame).any()  # role teams only


def test_an_indivisible_offer_spread_over_needs_keeps_its_best_need():
    frame = sent([("O1", "N1", "P1", "D1", False, 2), ("O1", "N2", "P1", "D1", False, 5),
                  ("O2", "N1", "P1", "D1", True, 3), ("O2", "N2", "P1", "D1", True, 3)])
    assert second_need_of_whole_offer(frame).tolist() == [True, False, False, False]


def test_a_group_over_its_limit_is_cut_smallest_part_first_and_never_below_a_chunk():
    pairs = pd.DataFrame({"divisible": [True, True, True, True], "min_chunk": [1, 4, 1, 1]})
    amounts = np.array([10, 5, 8, 7])
    group = np.array(["a", "a", "a", "b"], dtype=object)
    nothing_kept = np.zeros(4, dtype="int64")
    cut = cut_over(pairs, amounts, group, np.array([15.0, 15.0, 15.0, 7.0]), np.ones(4), nothing_kept)
    # group a carries 23 of 15: the 5 (chunk 4) cannot shrink to 0 < x < 4 and goes; then 8 → 5
    assert cut.tolist() == [10, 0, 5, 7]
    kept = np.array([0, 5, 0, 0])  # a locked pairing keeps all it carries
    cut = cut_over(pairs, amounts, group, np.array([15.0, 15.0, 15.0, 7.0]), np.ones(4), kept)
    assert cut.tolist() == [10, 5, 0, 7]
    kept = np.array([0, 4, 0, 0])  # a floor's reserved pairing is cut last, and only down to the floor's share
    cut = cut_over(pairs, amounts, group, np.array([3.0, 3.0, 3.0, 7.0]), np.ones(4), kept)
    assert cut.tolist() == [0, 4, 0, 7]


def test_a_lock_with_a_quantity_gets_exactly_that_on_one_pair(tmp_path):
    batch = build(tmp_path, offers=[{"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "quantity": 20}],
                  needs=[{"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 30}],
                  decisions=[{"action": "lock", "offer_id": "O1", "need_id": "N1", "quantity": 12}])
    pairs = eligible_pairs(batch)
    amounts = keep_locks(batch, pairs, np.array([20]), locked_pairs(batch, pairs, batch.scenario))
    assert amounts.tolist() == [12]
    assert keep_locks(batch, pairs, np.array([0]), locked_pairs(batch, pairs, batch.scenario)).tolist() == [12]


LARGER = {"partners": 150, "offers": 700, "needs": 400}  # seed 5: a floor's only offers were capped ones


@pytest.mark.parametrize("seed, sizes, gradual", [(0, {}, True), (1, {}, True), (2, {}, True), (3, {}, True),
                                                  (5, LARGER, True), (6, LARGER, True), (1, {}, False),
                                                  (6, LARGER, False)])
def test_the_rounded_plan_of_a_generated_batch_keeps_every_allocation_rule(tmp_path, seed, sizes, gradual):
    batch = matcher.read_batch(generate_batch(tmp_path / "batch", "city", seed, roles=0, **sizes))
    pairs = eligible_pairs(batch)
    amounts = rounded_plan(batch, pairs, batch.scenario, gradual=gradual)
    tables, manifest = plan_tables(batch, pairs, amounts, batch.scenario)
    report = verify_tables(batch, tables, manifest)
    assert report.ok, [str(v) for v in report.violations[:5]]
    assert len(tables["allocations"]) > 0


@pytest.mark.parametrize("gradual", [True, False])
def test_the_rounded_plan_from_the_callers_flow_relaxation_is_the_one_it_would_solve_for(tmp_path, gradual):
    batch = matcher.read_batch(generate_batch(tmp_path / "batch", "city", 1, roles=0))
    pairs = eligible_pairs(batch)
    amounts, _ = flow_relaxation(batch, pairs, batch.scenario)
    expected = rounded_plan(batch, pairs, batch.scenario, gradual=gradual)
    assert np.array_equal(rounded_plan(batch, pairs, batch.scenario, gradual=gradual, relaxed=amounts), expected)
    nothing = np.zeros_like(amounts)  # a first round taken from the caller, not solved again
    assert not np.array_equal(rounded_plan(batch, pairs, batch.scenario, gradual=gradual, relaxed=nothing), expected)


def test_the_warm_start_completes_the_rounded_plan_and_the_search_starts_from_it(tmp_path):
    batch = matcher.read_batch(generate_batch(tmp_path / "batch", "city", 3, partners=150, offers=700, needs=400))
    scenario = batch.scenario.with_({"solver.workers": 1, "solver.time_limit_s": 5.0})
    pairs = eligible_pairs(batch)
    assert len(pairs) >= 1_000
    m = build_model(batch, pairs, scenario)
    start, completed = warm_start(m, scenario.solver)
    assert start == "complete"
    hint = m.model.proto.solution_hint
    assert list(hint.vars) == list(range(len(m.model.proto.variables)))
    assert list(hint.values) == list(completed.response_proto.solution)


def test_the_rounded_amounts_are_hinted_on_every_pair(tmp_path):
    batch = matcher.read_batch(generate_batch(tmp_path / "batch", "city", 3, partners=40, offers=120, needs=80))
    pairs = eligible_pairs(batch)
    m = build_model(batch, pairs, batch.scenario)
    amounts = np.where(np.arange(len(pairs)) % 3 == 0, pairs["upper"].to_numpy("int64"), 0)
    hint_amounts(m.model, m, amounts)
    hinted = dict(zip(m.model.proto.solution_hint.vars, m.model.proto.solution_hint.values))
    assert [hinted[used.index] for used in m.used] == (amounts > 0).astype(int).tolist()
    divisible = pairs["divisible"].to_numpy()
    assert [hinted[m.amount[p].index] for p in np.flatnonzero(divisible)] == amounts[divisible].tolist()
    assert len(hinted) == len(pairs) + int(divisible.sum())


def test_two_floors_on_one_offer_share_it_within_its_quantity(tmp_path):
    batch = build(tmp_path, offers=[{"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "quantity": 10}],
                  needs=[{"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 10,
                          "priority": 3, "floor": 2},
                         {"need_id": "N2", "district_id": "D1", "resource": "volunteers", "quantity": 5,
                          "priority": 0.1, "floor": 4}])
    pairs = eligible_pairs(batch)
    amounts = dict(zip(pairs["need_id"], rounded_plan(batch, pairs, batch.scenario)))
    assert amounts["N2"] >= 4 and amounts["N1"] >= 2
    assert amounts["N1"] + amounts["N2"] <= 10


def test_gradually_a_partner_over_its_district_limit_loses_only_the_district_it_sends_least_to():
    frame = sent([("O1", "N1", "P1", "D1", True, 5), ("O1", "N2", "P1", "D2", True, 9),
                  ("O2", "N3", "P1", "D3", True, 2), ("O2", "N4", "P1", "D4", True, 0),
                  ("O3", "N1", "P2", "D1", True, 4)])
    dropped = over_district_limit(Tables(partners=[("P1", 1), ("P2", np.nan)]), frame, gradual=True)
    assert dropped.tolist() == [False, False, True, True, False]  # D4: it does not work there, so it may not start
    assert over_district_limit(Tables(partners=[("P1", 1)]), frame).tolist() == [True, False, True, True, False]


def test_a_pairing_lock_matches_every_pair_with_all_the_ids_it_names(tmp_path):
    offer = {"resource": "volunteers", "quantity": 20, "reach": "adjacent"}
    offers = [dict(offer, offer_id="O1", partner_id="P1"), dict(offer, offer_id="O2", partner_id="P2"),
              dict(offer, offer_id="O3", partner_id="P1")]
    needs = [{"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 30},
             {"need_id": "N2", "district_id": "D2", "resource": "volunteers", "quantity": 30}]
    decisions = [{"action": "lock", "partner_id": "P1", "district_id": "D2"},
                 {"action": "lock", "offer_id": "O2", "need_id": "N2"},
                 {"action": "lock", "partner_id": "P2", "district_id": "D1"}]
    batch = build(tmp_path, offers=offers, needs=needs, decisions=decisions)
    pairs = eligible_pairs(batch)
    assert len(pairs) == 6
    locks = locked_pairs(batch, pairs, batch.scenario)
    matched = {lock: set(zip(pairs.loc[group["position"], "offer_id"], pairs.loc[group["position"], "need_id"]))
               for lock, group in locks.groupby("lock")}
    assert matched == {"lock:0": {("O1", "N2"), ("O3", "N2")}, "lock:1": {("O2", "N2")}, "lock:2": {("O2", "N1")}}


def test_an_earlier_plan_is_hinted_on_every_pair_within_its_upper_bound(tmp_path):
    from matcher.model import hint_plan

    batch = matcher.read_batch(generate_batch(tmp_path / "batch", "city", 3, partners=40, offers=120, needs=80))
    pairs = eligible_pairs(batch)
    m = build_model(batch, pairs, batch.scenario)
    plan = {(offer, need): int(upper) + 1
            for p, (offer, need, upper) in enumerate(zip(pairs["offer_id"], pairs["need_id"], pairs["upper"]))
            if p % 2 == 0}
    hint_plan(m, plan)
    hinted = dict(zip(m.model.proto.solution_hint.vars, m.model.proto.solution_hint.values))
    amounts = np.where(np.arange(len(pairs)) % 2 == 0, pairs["upper"].to_numpy("int64"), 0)
    assert [hinted[used.index] for used in m.used] == (amounts > 0).astype(int).tolist()
    divisible = pairs["divisible"].to_numpy()
    assert [hinted[m.amount[p].index] for p in np.flatnonzero(divisible)] == amounts[divisible].tolist()
