"""Coalition rules and soft terms, each alone on the smallest batch where it changes the answer.

Hard rules are also shown biting: taken out of the model, the plan breaks them and the verifier
names them. Filters applied to candidate pairs (forbids, legal eligibility, the firewall) are shown
the same way by switching the filter off.
"""
from __future__ import annotations

import pytest

import matcher
from matcher import candidates, rules
from tests.builders import allocated, build, solve_batch
from tests.test_allocation_rules import assert_rule_bites, need, offer, per_need

CANDIDATE_DISTRICTS = [
    {"district_id": "D1", "name": "One", "priority": 1.0, "neighbors": "D2", "lat": 45.0, "lon": -93.0,
     "candidate": "Alvarez"},
    {"district_id": "D2", "name": "Two", "priority": 1.0, "neighbors": "D1", "lat": 45.1, "lon": -93.0,
     "candidate": "Alvarez"},
    {"district_id": "D3", "name": "Three", "priority": 1.0, "neighbors": "", "lat": 45.2, "lon": -93.0},
]


def partner(partner_id: str, home: str = "D1", **columns) -> dict:
    return {"partner_id": partner_id, "name": partner_id, "home_district": home, **columns}


def per_partner(result: matcher.Result, need_id: str) -> dict[str, int]:
    rows = result.allocations[result.allocations["need_id"] == need_id]
    return rows.groupby("partner_id")["quantity"].sum().astype(int).to_dict()


def violations_without_filter(monkeypatch, batch: matcher.Batch, filter_name: str, replacement) -> set[str]:
    """Solve with one candidate filter switched off; return the verifier's rule names."""
    monkeypatch.setattr(candidates, filter_name, replacement)
    with pytest.raises(matcher.VerificationError) as caught:
        solve_batch(batch)
    return {v.rule for v in caught.value.violations}


# Negotiated lock and forbid -------------------------------------------------------------------------------

def lock_batch(tmp_path, decisions):
    optional = {"decisions": decisions} if decisions else {}
    return build(tmp_path, offers=[offer("O1", 10)], needs=[need("N1", 10, priority=1), need("N2", 10, priority=3)],
                 **optional)


def test_negotiated_lock_with_a_quantity_is_honoured_exactly(tmp_path, monkeypatch):
    batch = lock_batch(tmp_path, [{"action": "lock", "offer_id": "O1", "need_id": "N1", "quantity": 7}])
    assert allocated(solve_batch(batch))[("O1", "N1")] == 7
    assert_rule_bites(monkeypatch, batch, "negotiated_lock")


def test_negotiated_lock_without_a_quantity_makes_the_pairing_happen(tmp_path):
    free = allocated(solve_batch(lock_batch(tmp_path / "free", [])))
    assert ("O1", "N1") not in free or free[("O1", "N1")] < 5
    locked = solve_batch(lock_batch(tmp_path / "locked", [{"action": "lock", "offer_id": "O1", "need_id": "N1"}]))
    assert allocated(locked)[("O1", "N1")] >= 1


def test_negotiated_lock_of_a_partner_to_a_district(tmp_path, monkeypatch):
    batch = build(tmp_path, offers=[offer("O1", 10, reach="adjacent")],
                  needs=[need("N1", 10, district="D1", priority=3), need("N2", 10, district="D2")],
                  decisions=[{"action": "lock", "partner_id": "P1", "district_id": "D2"}])
    assert per_need(solve_batch(batch)).get("N2", 0) >= 1
    assert_rule_bites(monkeypatch, batch, "negotiated_lock")


def test_a_lock_no_eligible_pairing_matches_is_an_input_error_naming_the_row(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 10)], needs=[need("N1", 10), need("N2", 10, district="D2")],
                  decisions=[{"action": "forbid", "offer_id": "O1", "need_id": "N1"},
                             {"action": "lock", "offer_id": "O1", "need_id": "N2"}])
    with pytest.raises(matcher.InputError) as caught:
        solve_batch(batch)
    problem = caught.value.problems[0]
    assert (problem.file, problem.row, problem.column) == ("decisions.csv", 3, "action")
    assert "no eligible pairing" in problem.message


def test_negotiated_forbid_removes_the_pairing(tmp_path, monkeypatch):
    batch = lock_batch(tmp_path, [{"action": "forbid", "offer_id": "O1", "need_id": "N2"}])
    assert ("O1", "N2") not in allocated(solve_batch(batch))
    assert "Negotiated forbid" in violations_without_filter(
        monkeypatch, batch, "forbidden", lambda pairs, decisions: pairs["offer_id"] != pairs["offer_id"])


def test_a_forbid_of_a_partner_in_a_district_removes_all_its_pairings_there(tmp_path):
    batch = build(tmp_path, offers=[offer("O1", 10, reach="adjacent"), offer("O2", 10, reach="adjacent")],
                  needs=[need("N1", 10, district="D2")],
                  decisions=[{"action": "forbid", "partner_id": "P1", "district_id": "D2"}])
    assert solve_batch(batch).allocations.empty


# Agree to disagree ----------------------------------------------------------------------------------------

def conflict_batch(tmp_path, scope: str):
    return build(tmp_path, offers=[offer("O1", 5), offer("O2", 5, partner="P2", reach="adjacent")],
                 needs=[need("N1", 10)],
                 conflicts=[{"partner_a": "P1", "partner_b": "P2", "scope": scope}])


@pytest.mark.parametrize("scope", ["district", "coalition"])
def test_agree_to_disagree_keeps_partners_out_of_the_same_district(tmp_path, monkeypatch, scope):
    batch = conflict_batch(tmp_path, scope)
    assert len(per_partner(solve_batch(batch), "N1")) == 1
    assert_rule_bites(monkeypatch, batch, "agree_to_disagree")


def test_agree_to_disagree_with_role_scope_leaves_districts_alone(tmp_path):
    assert per_partner(solve_batch(conflict_batch(tmp_path, "role")), "N1") == {"P1": 5, "P2": 5}


# Partner district limit -----------------------------------------------------------------------------------

def test_partner_district_limit_bites(tmp_path, monkeypatch):
    batch = build(tmp_path, partners=[partner("P1", max_districts=1)], offers=[offer("O1", 10, reach="adjacent")],
                  needs=[need("N1", 10, district="D1"), need("N2", 10, district="D2")])
    assert len(per_need(solve_batch(batch))) == 1
    assert_rule_bites(monkeypatch, batch, "partner_district_limit")


def test_partner_district_limit_does_not_bite_when_wide_enough(tmp_path):
    batch = build(tmp_path, partners=[partner("P1", max_districts=2)], offers=[offer("O1", 10, reach="adjacent")],
                  needs=[need("N1", 10, district="D1"), need("N2", 10, district="D2")])
    assert len(per_need(solve_batch(batch))) == 2


# Legal limits ---------------------------------------------------------------------------------------------

CAPS = "[legal]\ncaps_usd = { individual = 1000 }\n"


def money_batch(tmp_path, kind: str = "individual", scenario: str = CAPS, **partner_columns):
    return build(tmp_path, districts=CANDIDATE_DISTRICTS, scenario=scenario,
                 partners=[partner("P1", kind=kind, **partner_columns)],
                 offers=[offer("O1", 5000, resource="money", reach="any")],
                 needs=[need("N1", 600, resource="money", district="D1"),
                        need("N2", 600, resource="money", district="D2"),
                        need("N3", 600, resource="money", district="D3")])


def test_legal_contribution_cap_holds_across_districts_of_one_candidate(tmp_path, monkeypatch):
    batch = money_batch(tmp_path)
    got = per_need(solve_batch(batch))
    assert got.get("N1", 0) + got.get("N2", 0) == 1000  # one candidate, Alvarez, in D1 and D2
    assert got["N3"] == 600  # no candidate in D3: no cap
    assert_rule_bites(monkeypatch, batch, "legal_contribution_cap")


def test_legal_contribution_cap_counts_inkind_value(tmp_path):
    batch = build(tmp_path, districts=CANDIDATE_DISTRICTS, scenario=CAPS, partners=[partner("P1", kind="individual")],
                  offers=[offer("O1", 20, resource="expertise", inkind_value_per_unit=100.0)],
                  needs=[need("N1", 20, resource="expertise")])
    assert per_need(solve_batch(batch))["N1"] == 10


def test_a_kind_without_a_cap_is_not_limited(tmp_path):
    assert sum(per_need(solve_batch(money_batch(tmp_path, kind="party"))).values()) == 1800


def test_a_501c3_gives_no_money_to_a_candidate_but_its_members_may_volunteer(tmp_path, monkeypatch):
    batch = build(tmp_path, districts=CANDIDATE_DISTRICTS, partners=[partner("P1", kind="501c3")],
                  offers=[offer("O1", 500, resource="money", reach="any"), offer("O2", 10)],
                  needs=[need("N1", 500, resource="money"), need("N3", 500, resource="money", district="D3"),
                         need("N2", 10)])
    assert per_need(solve_batch(batch)) == {"N3": 500, "N2": 10}
    everything = lambda pairs, scenario: pairs["offer_id"] == pairs["offer_id"]  # noqa: E731
    assert "Legal eligibility" in violations_without_filter(monkeypatch, batch, "legally_allowed", everything)


def test_independent_expenditure_partners_never_serve_a_candidate(tmp_path, monkeypatch):
    batch = money_batch(tmp_path, kind="pac", scenario="", independent="true")
    assert set(per_need(solve_batch(batch))) == {"N3"}
    everything = lambda pairs, scenario: pairs["offer_id"] == pairs["offer_id"]  # noqa: E731
    assert "Independent firewall" in violations_without_filter(monkeypatch, batch, "legally_allowed", everything)


# Every member benefits ------------------------------------------------------------------------------------

def benefit_batch(tmp_path, min_benefit: str):
    return build(tmp_path, partners=[partner("P1"), partner("P2", preferred_districts="D2")],
                 offers=[offer("O1", 10), offer("O2", 10, partner="P2", reach="adjacent")],
                 needs=[need("N1", 20, district="D1", priority=3), need("N2", 20, district="D2")],
                 scenario=f'[policy]\nmin_benefit = "{min_benefit}"\n')


def test_every_member_benefits_hard(tmp_path, monkeypatch):
    batch = benefit_batch(tmp_path, "hard")
    assert "P2" in per_partner(solve_batch(batch), "N2")  # an hour is enough to serve its district
    assert_rule_bites(monkeypatch, batch, "every_member_benefits")


def term_name(key: str) -> str:
    return next(t.name for t in matcher.terms.OBJECTIVE_TERMS if t.key == key)


def test_member_benefit_soft_is_a_weighted_trade_off(tmp_path):
    batch = benefit_batch(tmp_path, "soft")
    strong = solve_batch(batch, {"weights.benefit": 5.0})
    assert "N2" in per_need(strong)
    assert strong.breakdown[term_name("member_benefit")] == 0.0  # nobody left without benefit
    assert "N2" not in per_need(solve_batch(batch, {"weights.benefit": 0.01}))


def test_member_benefit_off_lets_coverage_decide(tmp_path):
    assert "N2" not in per_need(solve_batch(benefit_batch(tmp_path, "off")))


# No weak links: reliability, dependence, resilience ------------------------------------------------------

def two_sources(tmp_path, scenario: str, reliability: float = 1.0):
    """P1 at home and P2 next door can each fill N1 alone; travel makes P1 the cheaper choice."""
    return build(tmp_path, partners=[partner("P1", reliability=reliability), partner("P2", home="D2")],
                 offers=[offer("O1", 10), offer("O2", 10, partner="P2", reach="adjacent")],
                 needs=[need("N1", 10)], scenario=scenario)


def test_expected_reliability_credits_the_show_rate(tmp_path):
    nominal = solve_batch(two_sources(tmp_path / "n", "", reliability=0.5))
    assert per_partner(nominal, "N1") == {"P1": 10}
    expected = solve_batch(two_sources(tmp_path / "e", '[policy]\nreliability = "expected"\n', reliability=0.5))
    # 10 hours at a 50% show rate credit 5; the other 5 come from the reliable partner.
    assert per_partner(expected, "N1") == {"P1": 10, "P2": 5}
    assert expected.unmet.empty


def test_dependence_cap_hard(tmp_path, monkeypatch):
    batch = two_sources(tmp_path, '[policy]\ndependence = "hard"\ndependence_cap = 0.5\n')
    assert per_partner(solve_batch(batch), "N1") == {"P1": 5, "P2": 5}
    assert_rule_bites(monkeypatch, batch, "dependence_cap")


def test_dependence_soft_trades_travel_against_reliance(tmp_path):
    batch = two_sources(tmp_path, '[policy]\ndependence = "soft"\ndependence_cap = 0.5\n')
    assert per_partner(solve_batch(batch, {"weights.dependence": 10.0}), "N1") == {"P1": 5, "P2": 5}
    assert per_partner(solve_batch(batch, {"weights.dependence": 0.0}), "N1") == {"P1": 10}


def resilience_batch(tmp_path, scenario: str):
    return build(tmp_path, partners=[partner("P1"), partner("P2", home="D2")],
                 offers=[offer("O1", 20), offer("O2", 20, partner="P2", reach="adjacent")],
                 needs=[need("N1", 10), need("N2", 10)], scenario=scenario)


def test_n_minus_one_resilience_hard(tmp_path, monkeypatch):
    batch = resilience_batch(tmp_path, '[policy]\nresilience = "hard"\nresilience_share = 0.5\n')
    plan = solve_batch(batch).allocations
    shares = plan.groupby("partner_id")["quantity"].sum()
    assert shares["P1"] == shares["P2"] == 10  # either partner leaving keeps half of D1's coverage
    assert_rule_bites(monkeypatch, batch, "n_minus_one_resilience")


def test_resilience_soft_weight_decides(tmp_path):
    batch = resilience_batch(tmp_path, '[policy]\nresilience = "soft"\nresilience_share = 0.5\n')
    strong = solve_batch(batch, {"weights.resilience": 10.0}).allocations
    assert set(strong["partner_id"]) == {"P1", "P2"}
    weak = solve_batch(batch, {"weights.resilience": 0.0}).allocations
    assert set(weak["partner_id"]) == {"P1"}


# Pooling and fairness -------------------------------------------------------------------------------------

def pooling_batch(tmp_path):
    """P1 has volunteers and an office at home; P2 an office next door. Pooling prefers P2's office."""
    return build(tmp_path, partners=[partner("P1"), partner("P2", home="D2")],
                 offers=[offer("O1", 10), offer("O2", 2, resource="office_space"),
                         offer("O3", 2, partner="P2", resource="office_space", reach="adjacent")],
                 needs=[need("N1", 10), need("N2", 2, resource="office_space")])


def test_pooling_brings_complementary_partners_together(tmp_path):
    batch = pooling_batch(tmp_path)
    alone = solve_batch(batch, {"weights.pooling": 0.0})
    assert per_partner(alone, "N2") == {"P1": 2}
    pooled = solve_batch(batch, {"weights.pooling": 1.0})
    assert per_partner(pooled, "N2") == {"P2": 2}
    teams = pooled.tables["teams"].set_index("partner_id")
    assert teams.loc["P1", "complements"] == "P2" and teams.loc["P2", "complements"] == "P1"
    assert teams["pooled"].all()
    assert not alone.tables["teams"]["pooled"].any()


def test_offer_fairness_spreads_load_over_partners(tmp_path):
    batch = build(tmp_path, partners=[partner("P1"), partner("P2")],
                  offers=[offer("O1", 10), offer("O2", 10, partner="P2")], needs=[need("N1", 10)])
    fair = solve_batch(batch, {"weights.fairness": 1.0})
    assert per_partner(fair, "N1") == {"P1": 5, "P2": 5}
    assert fair.breakdown[term_name("offer_fairness")] == pytest.approx(-0.5)  # the largest share given is half


def test_objective_breakdown_adds_up_to_the_objective(tmp_path):
    result = solve_batch(benefit_batch(tmp_path, "soft"), {"weights.benefit": 5.0, "weights.pooling": 1.0,
                                                           "weights.fairness": 1.0})
    assert sum(result.breakdown.values()) == pytest.approx(result.objective, abs=1e-6)
    assert set(result.breakdown) >= {t.name for t in matcher.terms.OBJECTIVE_TERMS}


def test_every_hard_rule_is_checked_by_the_verifier():
    from matcher.verify import CHECKS, COALITION_CHECKS
    assert {r.name for r in rules.HARD_RULES} <= set(CHECKS + COALITION_CHECKS)
