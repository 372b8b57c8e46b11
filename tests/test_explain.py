"""Reasons for every allocation and labor row, causes for every unmet need, `matcher explain` and what-if."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

import matcher
from matcher.explain import FILTERS, Explainer, candidate_strengths, parse_decision, ruled_out, what_if
from matcher.outputs import district_places
from tests.builders import build, solve_batch, write_batch
from tests.test_cli import run

PARTNERS = [{"partner_id": "P1", "name": "Alpha", "home_district": "D1", "role_hours": 10,
             "preferred_districts": "D2"},
            {"partner_id": "P2", "name": "Beta", "home_district": "D2", "role_hours": 10},
            {"partner_id": "P3", "name": "Gamma", "home_district": "D2", "kind": "pac"}]
DISTRICTS = [{"district_id": "D1", "name": "One", "priority": 2.0, "neighbors": "D2", "lat": 45.0, "lon": -93.0},
             {"district_id": "D2", "name": "Two", "priority": 1.0, "neighbors": "D1", "lat": 45.1, "lon": -93.0,
              "candidate": "Okafor"}]
OFFERS = [{"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "skill": "canvassing", "quantity": 40,
           "reach": "adjacent"},
          {"offer_id": "O2", "partner_id": "P2", "resource": "office_space", "quantity": 1, "reach": "any"},
          {"offer_id": "O3", "partner_id": "P3", "resource": "money", "quantity": 9000, "reach": "any"},
          {"offer_id": "O4", "partner_id": "P2", "resource": "expertise", "skill": "legal", "quantity": 10,
           "reach": "home", "available_to": "2026-09-01"}]
NEEDS = [{"need_id": "N1", "district_id": "D1", "resource": "volunteers", "skill": "canvassing", "quantity": 30,
          "priority": 2, "floor": 10},
         {"need_id": "N2", "district_id": "D1", "resource": "office_space", "quantity": 1},
         {"need_id": "N3", "district_id": "D2", "resource": "volunteers", "skill": "canvassing", "quantity": 30},
         {"need_id": "N4", "district_id": "D2", "resource": "money", "quantity": 8000},
         {"need_id": "N5", "district_id": "D1", "resource": "expertise", "skill": "legal", "quantity": 10},
         {"need_id": "N6", "district_id": "D2", "resource": "expertise", "skill": "legal", "quantity": 10,
          "needed_from": "2026-10-01"},
         {"need_id": "N7", "district_id": "D2", "resource": "volunteers", "skill": "data", "quantity": 5}]
ROLES = [{"role_id": "R1", "name": "Field lead", "skill": "canvassing", "district_id": "D1", "hours": 6}]
CAPABILITIES = [{"partner_id": "P1", "skill": "canvassing", "strength": 8},
                {"partner_id": "P2", "skill": "canvassing", "strength": 5}]
TABLES = dict(partners=PARTNERS, districts=DISTRICTS, offers=OFFERS, needs=NEEDS, roles=ROLES,
              capabilities=CAPABILITIES)


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> matcher.Result:
    return solve_batch(build(tmp_path_factory.mktemp("explain") / "batch", **TABLES))


@pytest.fixture(scope="module")
def out(result, tmp_path_factory) -> Path:
    return result.write(tmp_path_factory.mktemp("run") / "out")


def reason(result, need_id: str, offer_id: str) -> str:
    a = result.allocations
    return a[(a["need_id"] == need_id) & (a["offer_id"] == offer_id)]["reason"].iloc[0]


def cause(result, need_id: str) -> str:
    return result.unmet.set_index("need_id").at[need_id, "reason"]


def test_every_allocation_and_labor_row_has_a_reason(result):
    assert result.allocations["reason"].str.len().gt(10).all()
    assert result.labor["reason"].str.len().gt(10).all()


def test_an_allocation_reason_names_the_terms_that_made_it_worth_it(result):
    text = reason(result, "N1", "O1")
    assert text.startswith("covers ") and "of a priority-2 need in One (district priority 2)" in text
    assert "toward its hard floor of 10 hours" in text and "partner's home district" in text
    assert "pairs with P2's office space" in text and "Beta" not in text  # names are contact data
    assert "pairs with P1's volunteers" in reason(result, "N2", "O2")


def test_a_labor_reason_names_strength_and_hours(result):
    lead = result.labor[result.labor["position"] == "lead"].iloc[0]
    assert lead["partner_id"] == "P1"
    assert lead["reason"].startswith("lead: strength 8/10 in canvassing (the strongest; 2 could lead)")
    assert "6 of its 10 role hours a week" in lead["reason"] and "based in the role's district" in lead["reason"]


def test_no_eligible_offer_names_the_filters_that_ruled_them_out(result):
    assert cause(result, "N5") == "no eligible offer: of 1 expertise offer(s), 1 ruled out by reach"
    assert cause(result, "N6") == "no eligible offer: of 1 expertise offer(s), 1 ruled out by dates"
    assert cause(result, "N7") == "no eligible offer: of 1 volunteers offer(s), 1 ruled out by skill"


def test_a_legal_cap_is_named_as_the_cause(result):
    assert cause(result, "N4").startswith("blocked: legal cap: P3 (a pac) has given candidate Okafor $5,000 of its "
                                          "$5,000 limit")


def test_capacity_used_names_the_higher_priority_needs(result):
    text = cause(result, "N3")
    assert text.startswith("capacity used: all 1 eligible offer(s) (O1) are used up")
    assert "higher-priority: N1 (4)" in text and "this need's priority is 1" in text


def test_a_conflict_is_named_as_the_cause(tmp_path):
    conflicts = [{"partner_a": "P1", "partner_b": "P2", "scope": "district", "note": "old feud"}]
    offers = [dict(OFFERS[0], reach="any"), {"offer_id": "O5", "partner_id": "P2", "resource": "volunteers",
                                             "skill": "canvassing", "quantity": 50, "reach": "home"}]
    needs = [NEEDS[2], dict(NEEDS[2], need_id="N8", quantity=40)]
    done = solve_batch(build(tmp_path / "b", partners=PARTNERS, districts=DISTRICTS, offers=offers, needs=needs,
                             conflicts=conflicts))
    assert set(done.allocations["partner_id"]) == {"P2"}
    assert set(done.unmet["reason"]) == {"blocked: conflict: P1 and P2 never share a district, and P2 works in D2 "
                                         "(conflicts.csv row 2)"}


def test_a_forbid_is_named_as_the_filter(tmp_path):
    decisions = [{"action": "forbid", "offer_id": "O1", "need_id": "N3"}]
    lone = solve_batch(build(tmp_path / "c", partners=PARTNERS, districts=DISTRICTS, offers=OFFERS[:1],
                             needs=[NEEDS[2]], decisions=decisions))
    assert lone.unmet.at[0, "reason"] == "no eligible offer: of 1 volunteers offer(s), 1 ruled out by a forbid decision"


def test_explain_a_need_a_partner_and_a_district(out, result):
    explainer = Explainer.from_folder(out)
    need = explainer.text(need="N1")
    assert need.startswith("Need N1: volunteers (canvassing) in D1, priority 2, hard floor 10: needs 30 hours")
    assert "from P1 (offer O1): covers" in need
    partner = explainer.text(partner="P2")
    assert "offer O2: 1 desks to N2 (D1)" in partner and "offer O4 (expertise, 10 hours) is not used" in partner
    district = explainer.text(district="D2")
    assert district.startswith("District D2 (Two, priority 1): coverage")
    assert "N4 short by" in district and "legal cap" in district
    assert result.explain(need="N5") == explainer.text(need="N5")


def test_the_explain_command(out):
    shown = run("explain", out, "--need", "N7")
    assert shown.exit_code == 0 and "ruled out by skill" in shown.output
    assert run("explain", out, "--partner", "P1").output.startswith("Partner P1 (group, home D1)")
    assert run("explain", out, "--need", "N99").exit_code == 1
    assert run("explain", out).exit_code == 2


def test_parse_decisions(tmp_path):
    batch = build(tmp_path / "b", **TABLES)
    assert parse_decision("lock O1->N3", batch) == {"action": "lock", "offer_id": "O1", "need_id": "N3"}
    assert parse_decision("lock O1 -> N3 = 12", batch)["quantity"] == 12
    assert parse_decision("forbid P1->D2", batch) == {"action": "forbid", "partner_id": "P1", "district_id": "D2"}
    assert parse_decision("lead P2->R1", batch) == {"action": "lock", "partner_id": "P2", "role_id": "R1"}
    for bad in ("give O1 to N3", "lock O1->N99", "lead O1->N3"):
        with pytest.raises(matcher.InputError):
            parse_decision(bad, batch)


def test_what_if_prices_a_lock_per_term_and_names_what_moves(out):
    answer = what_if(out, "lock O1->N3=25")
    terms = answer.terms.set_index("term")
    assert terms.at["coverage", "points"] < 0  # N1's priority-4 hours move to a priority-1 need
    assert "O1" in set(answer.diff.allocations["offer_id"]) and "N3" in set(answer.diff.needs["need_id"])
    text = str(answer)
    assert text.startswith("What if lock O1->N3=25: the plan is optimal.") and "coverage:" in text
    assert "Needs that gain or lose" in text and "points in all" in text


def test_what_if_a_partner_leads_a_role(out):
    answer = what_if(out, "lead P2->R1")
    assert answer.diff.labor.set_index("partner_id").at["P2", "position_b"] == "lead"
    assert answer.terms.set_index("term").at["strength_fit", "points"] < 0
    shown = run("explain", out, "--what-if", "lead P2->R1")
    assert shown.exit_code == 0 and "strength_fit" in shown.output and "R1 P2: — → lead" in shown.output


def test_what_if_an_impossible_decision_explains_the_core(out):
    answer = what_if(out, "lock O3->N4=6000")  # beyond P3's legal cap for candidate Okafor
    assert answer.infeasibility is not None and answer.status == "infeasible"
    assert "legal cap" in str(answer) and "decisions.csv, row 2: lock" in str(answer)


def test_a_run_folder_without_its_batch_needs_batch(tmp_path, out):
    other = write_batch(tmp_path / "copy", **TABLES)
    assert Explainer.from_folder(out, other).text(need="N2").startswith("Need N2")


def test_a_hard_dependence_cap_is_named_as_the_cause(tmp_path):
    offers = [{"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "quantity": 40, "reach": "any"},
              {"offer_id": "O2", "partner_id": "P2", "resource": "volunteers", "quantity": 10, "reach": "any"}]
    needs = [{"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 40}]
    done = solve_batch(build(tmp_path / "b", offers=offers, needs=needs,
                             scenario='[policy]\ndependence = "hard"\ndependence_cap = 0.5\n'))
    assert done.unmet.at[0, "reason"] == ('blocked: policy: P1 already gives N1 its dependence cap (50% of what the '
                                          'need gets; policy.dependence = "hard")')


def test_unmet_causes_are_counted_the_same_a_few_needs_at_a_time(monkeypatch):
    import matcher.explain as explain

    batch = matcher.read_batch("data/sample")
    whole = explain.ruled_out(batch)
    monkeypatch.setattr(explain, "RULED_OUT_ROWS", 50)  # a handful of needs × offers per slice
    assert explain.ruled_out(batch) == whole
    assert sum(sum(c.values()) for c in whole.values()) > 0


def first_failing_filter_per_pair(batch: matcher.Batch) -> dict[str, Counter]:
    """The reference for `ruled_out`: every need × offer of its resource as one row, each filter checked on all."""
    from matcher.candidates import (contribution_per_unit, forbidden, legally_allowed, offers_by_district,
                                    skills_match, windows_overlap)
    from matcher.geography import Geography

    offers = batch.offers.merge(batch.partners[["partner_id", "home_district", "kind", "independent"]],
                                on="partner_id")
    offers["contribution_per_unit"] = contribution_per_unit(offers)
    needs = batch.needs.rename(columns={"quantity": "need_quantity", "skill": "need_skill",
                                        "resource": "need_resource"}).merge(
        batch.districts[["district_id", "candidate"]], on="district_id")
    frame = needs.drop(columns="csv_row").merge(offers.drop(columns="csv_row"), left_on="need_resource",
                                                right_on="resource")
    geography = Geography(batch.districts, batch.scenario.travel.km_per_hop)
    reach = set(zip(*offers_by_district(offers, batch.districts, geography)[["offer_id", "district_id"]].T.values))
    passes = {
        "skill": skills_match(frame["skill"], frame["need_skill"]),
        "window": windows_overlap(frame["available_from"], frame["available_to"], frame["needed_from"],
                                  frame["needed_to"]),
        "reach": pd.Series([key in reach for key in zip(frame["offer_id"], frame["district_id"])], index=frame.index),
        "chunk": ~frame["divisible"] | (frame["min_chunk"] <= frame[["quantity", "need_quantity"]].min(axis=1)),
        "legal": legally_allowed(frame, batch.scenario),
        "forbid": ~forbidden(frame, batch.decisions),
    }
    first = [next((name for name in FILTERS if not passes[name].iat[i]), None) for i in range(len(frame))]
    counts = {need: Counter() for need in frame["need_id"]}
    for need, failed in zip(frame["need_id"], first):
        counts[need].update([failed] if failed else [])
    return counts


def test_ruled_out_counts_each_offer_at_the_first_filter_it_fails():
    """Skill and dates checked on every need × offer, the later filters only where those pass and the offer
    reaches: the same counts as checking every filter on every row, on a batch where each filter rules some out."""
    batch = matcher.read_batch("data/sample")
    offers = batch.offers.copy()
    offers.loc[offers.index[:8], "min_chunk"] = 10_000  # more than any need takes: ruled out by minimum chunk
    batch = replace(batch, offers=offers)
    counted = ruled_out(batch)
    assert counted == first_failing_filter_per_pair(batch)
    assert {name for counts in counted.values() for name in counts} == set(FILTERS)


def test_candidate_strengths_are_per_role_and_position_ascending():
    candidates = pd.DataFrame({"role_id": ["R1", "R1", "R1", "R2"], "strength": [7.0, 3.0, 9.0, 4.0],
                               "can_lead": [True, True, False, False], "can_support": [True, False, True, True]})
    pools = candidate_strengths(candidates)
    assert set(pools) == {("R1", "lead"), ("R1", "support"), ("R2", "support")}
    assert pools[("R1", "lead")].tolist() == [3.0, 7.0] and pools[("R1", "support")].tolist() == [7.0, 9.0]


def test_a_district_without_a_name_is_called_by_its_id():
    districts = pd.DataFrame({"district_id": ["D1", "D2", "D3"], "name": ["North", None, ""]})
    assert district_places(districts).to_dict() == {"D1": "North", "D2": "D2", "D3": "D3"}
