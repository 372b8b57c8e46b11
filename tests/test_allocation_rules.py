"""Each hard rule, each eligibility condition and each foundation objective term, alone, on the smallest batch.

For a hard rule, the batch where it bites is solved twice: with the rule the plan is as DESIGN.md says;
with the rule taken out of the model the plan changes, and the verifier rejects it under the rule's name.
Where the rule does not bite, taking it out changes nothing.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import matcher
from matcher import rules, terms
from matcher.candidates import eligible_pairs
from matcher.verify import CHECKS
from tests.builders import allocated, build, design_coverage, solve_batch

TESTS = Path(__file__).parent

THREE_DISTRICTS = [
    {"district_id": "D1", "name": "One", "priority": 1.0, "neighbors": "D2", "lat": 45.0, "lon": -93.0},
    {"district_id": "D2", "name": "Two", "priority": 1.0, "neighbors": "", "lat": 45.1, "lon": -93.0},
    {"district_id": "D3", "name": "Three", "priority": 1.0, "neighbors": "", "lat": 46.0, "lon": -93.0},
]


def offer(offer_id: str, quantity: int, partner: str = "P1", resource: str = "volunteers", **columns) -> dict:
    return {"offer_id": offer_id, "partner_id": partner, "resource": resource, "quantity": quantity, **columns}


def need(need_id: str, quantity: int, district: str = "D1", resource: str = "volunteers", **columns) -> dict:
    return {"need_id": need_id, "district_id": district, "resource": resource, "quantity": quantity, **columns}


def rule_named(key: str) -> rules.Rule:
    return next(r for r in rules.HARD_RULES if r.key == key)


def without(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """Take one hard rule out of every model built from now on in this test."""
    rule_named(key)
    monkeypatch.setattr(rules, "HARD_RULES", [r for r in rules.HARD_RULES if r.key != key])


def assert_rule_bites(monkeypatch: pytest.MonkeyPatch, batch: matcher.Batch, key: str) -> None:
    """Without the rule the solver finds a plan that the verifier rejects under the rule's display name."""
    name = rule_name(key)
    without(monkeypatch, key)
    with pytest.raises(matcher.VerificationError) as caught:
        solve_batch(batch)
    assert name in {v.rule for v in caught.value.violations}


def rule_name(key: str) -> str:
    return next(r.name for r in rules.HARD_RULES if r.key == key)


def assert_rule_idle(monkeypatch: pytest.MonkeyPatch, batch: matcher.Batch, key: str, plan: dict) -> None:
    """Without the rule the plan is the same."""
    without(monkeypatch, key)
    assert allocated(solve_batch(batch)) == plan


def per_need(result: matcher.Result) -> dict[str, int]:
    return result.allocations.groupby("need_id")["quantity"].sum().astype(int).to_dict()


# Offer capacity -------------------------------------------------------------------------------------------

def test_offer_capacity_bites(tmp_path, monkeypatch):
    batch = build(tmp_path, offers=[offer("O1", 5)], needs=[need("N1", 5), need("N2", 5)])
    result = solve_batch(batch)
    assert result.status is matcher.Status.OPTIMAL
    # 5 hours cannot fill both needs; concave coverage splits them as evenly as whole hours allow.
    assert sorted(per_need(result).values()) == [2, 3]
    assert_rule_bites(monkeypatch, batch, "offer_capacity")


def test_offer_capacity_does_not_bite(tmp_path, monkeypatch):
    batch = build(tmp_path, offers=[offer("O1", 10)], needs=[need("N1", 5), need("N2", 5)])
    plan = allocated(solve_batch(batch))
    assert plan == {("O1", "N1"): 5, ("O1", "N2"): 5}
    assert_rule_idle(monkeypatch, batch, "offer_capacity", plan)


# Whole offers ---------------------------------------------------------------------------------------------

def test_whole_offers_bites(tmp_path, monkeypatch):
    office = offer("O1", 2, resource="office_space")  # office space is indivisible unless it says otherwise
    batch = build(tmp_path, offers=[office], needs=[need("N1", 2, resource="office_space"),
                                                    need("N2", 2, resource="office_space")])
    result = solve_batch(batch)
    assert list(per_need(result).values()) == [2]
    assert_rule_bites(monkeypatch, batch, "whole_offers")


def test_whole_offers_does_not_bite(tmp_path, monkeypatch):
    batch = build(tmp_path, offers=[offer("O1", 2, resource="office_space")],
                  needs=[need("N1", 2, resource="office_space")])
    plan = allocated(solve_batch(batch))
    assert plan == {("O1", "N1"): 2}
    assert_rule_idle(monkeypatch, batch, "whole_offers", plan)


def test_whole_offers_credit_the_smaller_of_offer_and_need(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 3, resource="office_space")],
                  needs=[need("N1", 2, resource="office_space"), need("N2", 1, resource="office_space")])
    plan = allocated(solve_batch(batch))
    # the 3-desk office goes whole to the larger need, credited 2; the desk left over is not split off.
    assert plan == {("O1", "N1"): 2}


def test_office_space_marked_divisible_is_split(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 4, resource="office_space", divisible="true")],
                  needs=[need("N1", 2, resource="office_space"), need("N2", 2, resource="office_space")])
    assert allocated(solve_batch(batch)) == {("O1", "N1"): 2, ("O1", "N2"): 2}


# Minimum chunk --------------------------------------------------------------------------------------------

def test_minimum_chunk_bites(tmp_path, monkeypatch):
    # 3 + 3 would cover most, but a part of this offer must be at least 4: all 6 go to one need.
    batch = build(tmp_path, offers=[offer("O1", 6, min_chunk=4)], needs=[need("N1", 6), need("N2", 6)])
    assert list(per_need(solve_batch(batch)).values()) == [6]
    assert_rule_bites(monkeypatch, batch, "minimum_chunk")


def test_minimum_chunk_does_not_bite(tmp_path, monkeypatch):
    batch = build(tmp_path, offers=[offer("O1", 6, min_chunk=3)], needs=[need("N1", 6), need("N2", 6)])
    plan = allocated(solve_batch(batch))
    assert plan == {("O1", "N1"): 3, ("O1", "N2"): 3}
    assert_rule_idle(monkeypatch, batch, "minimum_chunk", plan)


def test_minimum_chunk_above_what_a_pair_could_carry_makes_it_ineligible(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 10, min_chunk=5), offer("O2", 10, min_chunk=3)],
                  needs=[need("N1", 3)])
    assert pair_set(batch) == {("O2", "N1")}


def test_minimum_chunk_does_not_apply_to_a_whole_offer(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 10, min_chunk=5, divisible="false")], needs=[need("N1", 3)])
    assert pair_set(batch) == {("O1", "N1")}
    assert allocated(solve_batch(batch)) == {("O1", "N1"): 3}


# Need quantity --------------------------------------------------------------------------------------------

def test_need_quantity_bites(tmp_path, monkeypatch):
    offices = [offer("O1", 4, resource="office_space"), offer("O2", 4, resource="office_space")]
    batch = build(tmp_path, offers=offices, needs=[need("N1", 6, resource="office_space")])
    # two whole 4-desk offices would send 8 desks to a need of 6: only one may go.
    assert per_need(solve_batch(batch)) == {"N1": 4}
    assert_rule_bites(monkeypatch, batch, "need_quantity")


def test_need_quantity_does_not_bite(tmp_path, monkeypatch):
    batch = build(tmp_path, offers=[offer("O1", 4, resource="office_space")],
                  needs=[need("N1", 6, resource="office_space")])
    plan = allocated(solve_batch(batch))
    assert plan == {("O1", "N1"): 4}
    assert_rule_idle(monkeypatch, batch, "need_quantity", plan)


# Hard floor -----------------------------------------------------------------------------------------------

def test_hard_floor_bites(tmp_path, monkeypatch):
    # Priority sends all 4 hours to N1 unless N2's floor of 3 holds.
    batch = build(tmp_path, offers=[offer("O1", 4)], needs=[need("N1", 4, priority=3), need("N2", 4, floor=3)])
    assert per_need(solve_batch(batch)) == {"N1": 1, "N2": 3}
    assert_rule_bites(monkeypatch, batch, "hard_floor")


def test_hard_floor_does_not_bite(tmp_path, monkeypatch):
    batch = build(tmp_path, offers=[offer("O1", 4)], needs=[need("N1", 4, priority=3, floor=2), need("N2", 4)])
    plan = allocated(solve_batch(batch))
    assert plan == {("O1", "N1"): 4}
    assert_rule_idle(monkeypatch, batch, "hard_floor", plan)


def test_hard_floor_beyond_every_offer_is_infeasible(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 4)], needs=[need("N1", 5, floor=5)])
    result = solve_batch(batch)
    assert result.status is matcher.Status.INFEASIBLE
    with pytest.raises(matcher.InfeasibleError):
        result.raise_for_status()


def test_hard_floor_without_any_eligible_offer_is_infeasible(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 4)], needs=[need("N1", 2, district="D2", floor=1)])
    assert pair_set(batch) == set()
    assert solve_batch(batch).status is matcher.Status.INFEASIBLE


# Eligibility (matcher/candidates.py) ----------------------------------------------------------------------

def pair_set(batch: matcher.Batch) -> set[tuple[str, str]]:
    pairs = eligible_pairs(batch)
    return set(zip(pairs["offer_id"], pairs["need_id"]))


def test_resource_must_match(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 5), offer("O2", 500, resource="money")],
                  needs=[need("N1", 5), need("N2", 300, resource="money")])
    assert pair_set(batch) == {("O1", "N1"), ("O2", "N2")}


def test_pair_codes_are_the_rows_of_their_offer_and_need(tmp_path):
    offers = [offer("O2", 5), offer("O1", 5, skill="canvassing"), offer("O3", 500, resource="money")]
    needs = [need("N3", 300, resource="money"), need("N2", 5, skill="canvassing"), need("N1", 5)]
    batch = build(tmp_path, offers=offers, needs=needs)
    pairs = eligible_pairs(batch)
    assert len(pairs) == 5  # O1 and O2 each meet N1 and N2 (`any` skill), O3 meets N3
    assert list(batch.offers["offer_id"].iloc[pairs["offer_code"]]) == list(pairs["offer_id"])
    assert list(batch.needs["need_id"].iloc[pairs["need_code"]]) == list(pairs["need_id"])


def test_skill_must_match_unless_either_side_is_any(tmp_path):
    offers = [offer("O1", 5, skill="canvassing"), offer("O2", 5, skill="any"), offer("O3", 5, skill="Phone_Banking")]
    needs = [need("N1", 5, skill="canvassing"), need("N2", 5, skill="phone_banking"), need("N3", 5, skill="any")]
    assert pair_set(build(tmp_path, offers=offers, needs=needs)) == {
        ("O1", "N1"), ("O1", "N3"),
        ("O2", "N1"), ("O2", "N2"), ("O2", "N3"),
        ("O3", "N2"), ("O3", "N3"),  # skills compare without regard to case
    }


def test_skill_mismatch_leaves_the_need_unmet_with_a_reason(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 5, skill="canvassing")], needs=[need("N1", 5, skill="legal")])
    result = solve_batch(batch)
    assert allocated(result) == {}
    assert result.unmet.set_index("need_id").at["N1", "reason"].startswith("no eligible offer")


def reach_pairs(tmp_path, **columns) -> set[str]:
    """The districts an offer of partner P1 (home D1) reaches, among needs in D1, D2 and D3."""
    batch = build(tmp_path, offers=[offer("O1", 5, **columns)], districts=THREE_DISTRICTS,
                  needs=[need("N1", 5, "D1"), need("N2", 5, "D2"), need("N3", 5, "D3")])
    return {n.replace("N", "D") for _, n in pair_set(batch)}


def test_reach_home_is_the_partners_home_district_only(tmp_path):
    assert reach_pairs(tmp_path, reach="home") == {"D1"}
    assert reach_pairs(tmp_path / "default") == {"D1"}  # home is the default reach


def test_reach_adjacent_is_home_and_its_neighbours(tmp_path):
    assert reach_pairs(tmp_path, reach="adjacent") == {"D1", "D2"}


def test_reach_adjacent_counts_a_neighbour_listed_on_one_side_only(tmp_path):
    districts = [dict(d, neighbors="") for d in THREE_DISTRICTS]
    districts[2]["neighbors"] = "D1"  # only D3 lists D1
    batch = build(tmp_path, offers=[offer("O1", 5, reach="adjacent")], districts=districts,
                  needs=[need("N1", 5, "D1"), need("N2", 5, "D2"), need("N3", 5, "D3")])
    assert pair_set(batch) == {("O1", "N1"), ("O1", "N3")}


def test_reach_radius_is_centres_within_radius_km(tmp_path):
    # D2 is 11.1 km north of D1, D3 111 km.
    assert reach_pairs(tmp_path / "20", reach="radius", radius_km=20) == {"D1", "D2"}
    assert reach_pairs(tmp_path / "5", reach="radius", radius_km=5) == {"D1"}
    assert reach_pairs(tmp_path / "200", reach="radius", radius_km=200) == {"D1", "D2", "D3"}


def test_reach_radius_never_reaches_a_district_without_coordinates(tmp_path):
    districts = [dict(d) for d in THREE_DISTRICTS]
    districts[1].update(lat="", lon="")
    batch = build(tmp_path, offers=[offer("O1", 5, reach="radius", radius_km=500)], districts=districts,
                  needs=[need("N1", 5, "D1"), need("N2", 5, "D2"), need("N3", 5, "D3")])
    assert pair_set(batch) == {("O1", "N1"), ("O1", "N3")}


def test_reach_listed_is_the_listed_districts_only(tmp_path):
    assert reach_pairs(tmp_path, reach="listed", districts="D2;D3") == {"D2", "D3"}


def test_reach_any_is_every_district(tmp_path):
    assert reach_pairs(tmp_path, reach="any") == {"D1", "D2", "D3"}


def test_windows_must_share_a_day_and_an_empty_date_is_open(tmp_path):
    september = {"available_from": "2026-09-01", "available_to": "2026-09-30"}
    offers = [offer("O1", 5, **september), offer("O2", 5)]
    needs = [need("N1", 5, needed_from="2026-10-01", needed_to="2026-10-31"),
             need("N2", 5, needed_from="2026-09-30", needed_to="2026-10-31"),  # one shared day
             need("N3", 5),
             need("N4", 5, needed_to="2026-08-31"),
             need("N5", 5, needed_from="2026-09-15")]
    assert pair_set(build(tmp_path, offers=offers, needs=needs)) == {
        ("O1", "N2"), ("O1", "N3"), ("O1", "N5"),
        ("O2", "N1"), ("O2", "N2"), ("O2", "N3"), ("O2", "N4"), ("O2", "N5"),
    }


def test_an_ineligible_offer_is_never_allocated(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 5, available_to="2026-09-30")],
                  needs=[need("N1", 5, needed_from="2026-10-01"), need("N2", 5, district="D2")])
    result = solve_batch(batch)
    assert allocated(result) == {}
    assert set(result.unmet["need_id"]) == {"N1", "N2"}


# Objective terms ------------------------------------------------------------------------------------------

def test_coverage_spreads_hours_over_two_needs_rather_than_filling_one(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 10)], needs=[need("N1", 10), need("N2", 10)])
    result = solve_batch(batch)
    assert allocated(result) == {("O1", "N1"): 5, ("O1", "N2"): 5}
    segments = batch.scenario.coverage.segments
    assert design_coverage(0.5, segments) * 2 > design_coverage(1.0, segments)
    assert result.coverage == pytest.approx(2 * design_coverage(0.5, segments))


def test_coverage_curve_comes_from_the_scenario(tmp_path):
    needs = [need("N1", 10, priority=1.2), need("N2", 10)]
    concave = build(tmp_path / "concave", offers=[offer("O1", 10)], needs=needs)
    linear = build(tmp_path / "linear", offers=[offer("O1", 10)], needs=needs,
                   scenario="[coverage]\nsegments = [[1.0, 1.0]]\n")
    assert per_need(solve_batch(concave)) == {"N1": 5, "N2": 5}
    # without diminishing returns, every hour goes to the need with the higher priority.
    assert per_need(solve_batch(linear)) == {"N1": 10}


def test_coverage_is_need_priority_times_district_priority_times_f_of_share(tmp_path):
    districts = [{"district_id": "D1", "priority": 1.5}, {"district_id": "D2", "priority": 1.0}]
    partners = [{"partner_id": "P1", "home_district": "D1"}]
    batch = build(tmp_path, offers=[offer("O1", 1)], needs=[need("N1", 3, priority=2)], districts=districts,
                  partners=partners)
    result = solve_batch(batch)
    expected = 2 * 1.5 * design_coverage(1 / 3, batch.scenario.coverage.segments)
    assert result.coverage == pytest.approx(expected)
    assert result.terms["coverage"]["value"] == pytest.approx(expected)
    # no travel or cost here: the solver's objective is the coverage, to the model's resolution.
    assert result.objective == pytest.approx(expected, abs=1e-3)


def test_coverage_counts_needs_no_offer_can_reach_as_zero(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 4)], needs=[need("N1", 4), need("N2", 4, district="D2")])
    result = solve_batch(batch)
    assert result.coverage == pytest.approx(design_coverage(1.0, batch.scenario.coverage.segments))


@pytest.mark.parametrize("district, nearer", [("D1", "O1"), ("D2", "O2")])
def test_travel_prefers_the_nearer_partner(tmp_path, district, nearer):
    offers = [offer("O1", 5, partner="P1", reach="any"), offer("O2", 5, partner="P2", reach="any")]
    batch = build(tmp_path, offers=offers, needs=[need("N1", 5, district=district)])
    result = solve_batch(batch)
    assert allocated(result) == {(nearer, "N1"): 5}
    assert result.terms["travel"]["value"] == 0


def test_travel_term_counts_km_per_pairing_used(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 5, partner="P2", reach="any")], needs=[need("N1", 5)])
    result = solve_batch(batch)
    assert allocated(result) == {("O1", "N1"): 5}
    km = result.terms["travel"]["value"]
    assert km == pytest.approx(11.1, abs=0.1)  # 0.1° of latitude between the two default districts
    full = design_coverage(1.0, batch.scenario.coverage.segments)
    assert result.objective == pytest.approx(full - batch.scenario.weights.travel * km, abs=1e-3)


def test_travel_heavy_enough_outweighs_coverage(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 5, partner="P2", reach="any")], needs=[need("N1", 5)])
    assert allocated(solve_batch(batch, {"weights.travel": 1.0})) == {}


def test_cost_prefers_the_cheaper_offer(tmp_path):
    offers = [offer("O1", 5, cost_per_unit=10), offer("O2", 5, cost_per_unit=0)]
    result = solve_batch(build(tmp_path, offers=offers, needs=[need("N1", 5)]))
    assert allocated(result) == {("O2", "N1"): 5}
    assert result.terms["cost"]["value"] == 0


def test_cost_is_paid_when_only_a_paid_offer_serves(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 5, cost_per_unit=10)], needs=[need("N1", 5)])
    result = solve_batch(batch)
    assert allocated(result) == {("O1", "N1"): 5}
    assert result.terms["cost"]["value"] == pytest.approx(50)
    full = design_coverage(1.0, batch.scenario.coverage.segments)
    assert result.objective == pytest.approx(full - batch.scenario.weights.cost * 50, abs=1e-3)


def test_cost_heavy_enough_outweighs_coverage(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 5, cost_per_unit=10)], needs=[need("N1", 5)])
    assert allocated(solve_batch(batch, {"weights.cost": 1.0})) == {}


# Every rule and term is documented, named and tested ------------------------------------------------------

def source_of_tests() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(TESTS.glob("test_*.py")))


@pytest.mark.parametrize("entry", rules.HARD_RULES + terms.OBJECTIVE_TERMS, ids=lambda e: e.key)
def test_every_rule_and_term_is_documented_named_and_tested(entry):
    assert entry.doc, f"{entry.key} has no docstring"
    assert entry.doc.endswith(".") and "\n" not in entry.doc.split(".")[0], entry.doc
    assert entry.name.strip() and entry.name[0].isupper(), f"{entry.key} has no display name"
    assert re.search(rf"\b{re.escape(entry.key)}\b", source_of_tests()), f"no test targets {entry.key}"


def test_display_names_are_unique():
    for registry in (rules.HARD_RULES, terms.OBJECTIVE_TERMS):
        names = [e.name for e in registry]
        assert len(names) == len(set(names))


def test_foundation_rules_are_checked_by_the_verifier():
    foundation = {"offer_capacity", "whole_offers", "minimum_chunk", "need_quantity", "hard_floor"}
    assert foundation <= {r.key for r in rules.HARD_RULES}
    for rule in rules.HARD_RULES:
        if rule.key in foundation:
            assert rule.name in CHECKS
