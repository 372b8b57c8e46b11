"""The infeasible core: the smallest set of negotiated rules that cannot hold together, and single relaxations."""
from __future__ import annotations

import pytest

import matcher
from matcher.candidates import eligible_pairs
from matcher.infeasibility import explain_infeasibility
from matcher.model import build_model
from tests.builders import build, write_batch
from tests.test_cli import run

ANYWHERE = {"resource": "volunteers", "reach": "any"}
OFFERS = [{"offer_id": "O1", "partner_id": "P1", "quantity": 10, **ANYWHERE},
          {"offer_id": "O2", "partner_id": "P2", "quantity": 5, **ANYWHERE}]
NEEDS = [{"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 10, "floor": 8},
         {"need_id": "N2", "district_id": "D2", "resource": "volunteers", "quantity": 10, "floor": 6},
         {"need_id": "N3", "district_id": "D2", "resource": "volunteers", "quantity": 10},
         {"need_id": "N4", "district_id": "D1", "resource": "volunteers", "quantity": 10}]
LOCK = [{"action": "lock", "offer_id": "O2", "need_id": "N3", "quantity": 3}]


def core_of(tmp_path, **tables) -> matcher.infeasibility.Infeasibility:
    batch = build(tmp_path / "batch", **tables)
    return explain_infeasibility(batch, batch.scenario.with_({"solver.workers": 1}))


def test_floors_and_a_lock_that_cannot_hold_together_form_the_core(tmp_path):
    # 15 hours in all: floors 8 + 6 = 14, but the lock sends 3 of them to N3, which has no floor.
    found = core_of(tmp_path, offers=OFFERS, needs=NEEDS, decisions=LOCK)
    assert found.minimal and not found.feasible
    assert [(r.group, r.label) for r in found.core] == [("floor", "N1"), ("floor", "N2"), ("lock", "2")]
    assert [(r.file, r.row) for r in found.core] == [("needs.csv", 2), ("needs.csv", 3), ("decisions.csv", 2)]
    assert "need N1 (volunteers in One (D1)) must get at least 8 hours" in found.core[0].text
    assert "lock: offer O2 to need N3, exactly 3" in found.core[2].text


def test_every_rule_of_the_core_is_needed_and_each_relaxation_gives_a_plan(tmp_path):
    found = core_of(tmp_path, offers=OFFERS, needs=NEEDS, decisions=LOCK)
    assert {r.rule.label for r in found.relaxations} == {"N1", "N2", "2"}
    coverages = [r.coverage for r in found.relaxations]
    assert coverages == sorted(coverages, reverse=True) and all(c > 0 for c in coverages)
    assert all(r.status == "optimal" and r.met == {"volunteers": "15 of 40"} for r in found.relaxations)


def test_a_rule_that_is_not_part_of_the_conflict_is_left_out(tmp_path):
    needs = NEEDS + [{"need_id": "N5", "district_id": "D2", "resource": "volunteers", "quantity": 10, "floor": 0}]
    offers = OFFERS + [{"offer_id": "O3", "partner_id": "P2", "quantity": 4, "reach": "home",
                        "resource": "volunteers"}]
    more = [*LOCK, {"action": "lock", "offer_id": "O3", "need_id": "N5"}]  # satisfiable on its own
    found = core_of(tmp_path, offers=offers, needs=needs, decisions=more)
    labels = {r.label for r in found.core}
    assert "3" not in labels and "N5" not in labels


def test_a_district_limit_and_two_floors(tmp_path):
    partners = [{"partner_id": "P1", "name": "Alpha", "home_district": "D1", "max_districts": 1},
                {"partner_id": "P2", "name": "Beta", "home_district": "D2"}]
    found = core_of(tmp_path, partners=partners, offers=OFFERS[:1],
                    needs=[dict(NEEDS[0], floor=2), dict(NEEDS[1], floor=2)])
    assert [r.group for r in found.core] == ["floor", "floor", "district_limit"]
    assert "P1 works in at most 1 district(s)" in found.core[2].text
    assert found.core[2].file == "partners.csv" and found.core[2].row == 2


def test_a_conflict_in_the_core_names_its_row(tmp_path):
    needs = [{"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 15, "floor": 12}]
    conflicts = [{"partner_a": "P1", "partner_b": "P2", "scope": "district", "note": "old feud"}]
    found = core_of(tmp_path, offers=OFFERS, needs=needs, conflicts=conflicts)
    assert [(r.group, r.file, r.row) for r in found.core] == [("floor", "needs.csv", 2),
                                                              ("conflict", "conflicts.csv", 2)]
    assert "P1 and P2 never work in the same district" in found.core[1].text
    assert {r.rule.group for r in found.relaxations} == {"conflict", "floor"}


def test_a_legal_cap_in_the_core(tmp_path):
    partners = [{"partner_id": "P1", "name": "Alpha", "kind": "pac", "home_district": "D1"}]
    districts = [{"district_id": "D1", "name": "One", "candidate": "Okafor"}]
    offers = [{"offer_id": "O1", "partner_id": "P1", "resource": "money", "quantity": 9000}]
    needs = [{"need_id": "N1", "district_id": "D1", "resource": "money", "quantity": 9000, "floor": 6000}]
    found = core_of(tmp_path, partners=partners, districts=districts, offers=offers, needs=needs)
    assert [r.group for r in found.core] == ["floor", "legal_cap"]
    assert "P1, a pac, may give candidate Okafor at most $5,000" in found.core[1].text


def test_two_floors_on_one_whole_office(tmp_path):
    offers = [{"offer_id": "O1", "partner_id": "P1", "resource": "office_space", "quantity": 1, "reach": "any"}]
    needs = [{"need_id": f"N{i}", "district_id": f"D{i}", "resource": "office_space", "quantity": 1, "floor": 1}
             for i in (1, 2)]
    found = core_of(tmp_path, offers=offers, needs=needs)
    assert [r.label for r in found.core] == ["N1", "N2"]
    assert [r.coverage for r in found.relaxations] == [pytest.approx(0.75)] * 2


def test_a_feasible_batch_has_nothing_to_explain(tmp_path):
    found = core_of(tmp_path, offers=OFFERS, needs=NEEDS[:2])
    assert found.feasible and found.core == [] and "has a plan" in str(found)


def test_normal_solves_add_no_guard_literals(tmp_path):
    batch = build(tmp_path / "batch", offers=OFFERS, needs=NEEDS, decisions=LOCK)
    pairs = eligible_pairs(batch)
    plain = build_model(batch, pairs, batch.scenario)
    guarded = build_model(batch, pairs, batch.scenario, guarded=True)
    assert plain.guards is None
    assert sorted(guarded.guards) == [("floor", "N1"), ("floor", "N2"), ("lock", "2")]
    assert len(guarded.model.proto.variables) == len(plain.model.proto.variables) + 3
    assert not any(c.enforcement_literal for c in plain.model.proto.constraints)


def test_the_api_raises_with_the_core_as_data(tmp_path):
    batch = build(tmp_path / "batch", offers=OFFERS, needs=NEEDS, decisions=LOCK)
    result = matcher.solve(batch, batch.scenario.with_({"solver.workers": 1}))
    assert result.infeasibility().to_dict()["core"][0]["label"] == "N1"
    with pytest.raises(matcher.InfeasibleError) as caught:
        result.raise_for_status()
    assert caught.value.core is result.infeasibility()
    assert str(caught.value).startswith("no plan meets every hard rule: these 3 rule(s) cannot hold together")


def test_the_cli_prints_the_core_and_exits_3(tmp_path):
    folder = write_batch(tmp_path / "batch", offers=OFFERS, needs=NEEDS, decisions=LOCK)
    result = run("solve", folder, "-o", tmp_path / "out", "--set", "solver.workers=1")
    assert result.exit_code == 3
    assert "needs.csv, row 2: hard floor: need N1" in result.stderr
    assert "decisions.csv, row 2: lock: offer O2 to need N3, exactly 3" in result.stderr
    assert "Relax any one of these and the batch is solvable" in result.stderr
    assert not (tmp_path / "out").exists()


ROLE_PARTNERS = [{"partner_id": "P1", "name": "Alpha", "home_district": "D1", "role_hours": 10},
                 {"partner_id": "P2", "name": "Beta", "home_district": "D2"}]
ROLES = [{"role_id": "R1", "name": "Field lead, One", "skill": "canvassing", "district_id": "D1", "hours": 6},
         {"role_id": "R2", "name": "Field lead, Two", "skill": "canvassing", "district_id": "D2", "hours": 6}]
RATED = [{"partner_id": "P1", "skill": "canvassing", "strength": 7}]


def test_two_required_roles_with_one_possible_lead(tmp_path):
    found = core_of(tmp_path, partners=ROLE_PARTNERS, offers=OFFERS[:1], needs=NEEDS[:1], roles=ROLES,
                    capabilities=RATED)
    assert [(r.group, r.file, r.row) for r in found.core] == [("role_lead", "roles.csv", 2),
                                                              ("role_lead", "roles.csv", 3)]
    assert "required role: R1 (Field lead, One) must have a lead" in found.core[0].text
    assert len(found.relaxations) == 2


def test_a_role_lock_against_a_required_role(tmp_path):
    roles = [dict(ROLES[0], required=False), ROLES[1]]
    found = core_of(tmp_path, partners=ROLE_PARTNERS, offers=OFFERS[:1], needs=NEEDS[:1], roles=roles,
                    capabilities=RATED, decisions=[{"action": "lock", "partner_id": "P1", "role_id": "R1"}])
    assert [r.group for r in found.core] == ["role_lock", "role_lead"]
    assert "decisions.csv, row 2: lock: P1 leads role R1" in str(found)
