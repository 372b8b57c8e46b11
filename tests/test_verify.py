"""The verifier catches every kind of violation in a written plan, under the rule's name, and passes a clean one.

One small batch, with a case for each rule (a floor, a whole office, a minimum chunk, each reach, a
skill and a window), is solved and written once; each test tampers with a copy of the output folder.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import matcher
from tests.builders import solve_batch, write_batch

FOUNDATION_CHECKS = ("Known ids", "Eligible pair", "Whole units", "Offer capacity", "Whole offers", "Minimum chunk",
                     "Need quantity", "Hard floor", "Unmet table", "Reported coverage", "Reported status")
DISTRICTS = [
    {"district_id": "D1", "name": "One", "neighbors": "D2", "lat": 45.0, "lon": -93.0},
    {"district_id": "D2", "name": "Two", "neighbors": "D1", "lat": 45.1, "lon": -93.0},
    {"district_id": "D3", "name": "Three", "neighbors": "", "lat": 46.0, "lon": -93.0},
]
OFFERS = [
    {"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "skill": "canvassing", "quantity": 10,
     "reach": "home", "min_chunk": 3},
    {"offer_id": "O2", "partner_id": "P2", "resource": "office_space", "quantity": 2, "reach": "adjacent"},
    {"offer_id": "O3", "partner_id": "P2", "resource": "money", "quantity": 500, "reach": "any", "min_chunk": 100},
    {"offer_id": "O4", "partner_id": "P1", "resource": "volunteers", "skill": "phone_banking", "quantity": 4,
     "available_from": "2026-09-01", "available_to": "2026-09-30"},
    {"offer_id": "O5", "partner_id": "P1", "resource": "expertise", "skill": "legal", "quantity": 5,
     "reach": "radius", "radius_km": 20},
]
NEEDS = [
    {"need_id": "N1", "district_id": "D1", "resource": "volunteers", "skill": "canvassing", "quantity": 6,
     "floor": 4},
    {"need_id": "N2", "district_id": "D1", "resource": "volunteers", "skill": "canvassing", "quantity": 6},
    {"need_id": "N3", "district_id": "D1", "resource": "office_space", "quantity": 2},
    {"need_id": "N4", "district_id": "D2", "resource": "office_space", "quantity": 2},
    {"need_id": "N5", "district_id": "D3", "resource": "money", "quantity": 1000},
    {"need_id": "N6", "district_id": "D1", "resource": "volunteers", "skill": "phone_banking", "quantity": 4,
     "needed_from": "2026-09-15"},
    {"need_id": "N7", "district_id": "D2", "resource": "volunteers", "skill": "canvassing", "quantity": 5},
    {"need_id": "N8", "district_id": "D1", "resource": "volunteers", "skill": "data", "quantity": 3},
    {"need_id": "N9", "district_id": "D1", "resource": "volunteers", "skill": "phone_banking", "quantity": 3,
     "needed_from": "2026-10-01", "needed_to": "2026-10-31"},
    {"need_id": "N10", "district_id": "D3", "resource": "office_space", "quantity": 1},
    {"need_id": "N11", "district_id": "D2", "resource": "expertise", "skill": "legal", "quantity": 5},
    {"need_id": "N12", "district_id": "D3", "resource": "expertise", "skill": "legal", "quantity": 2},
]


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> tuple[matcher.Batch, Path]:
    """The batch and its verified output folder, written once."""
    root = tmp_path_factory.mktemp("verify")
    batch = matcher.read_batch(write_batch(root / "batch", offers=OFFERS, needs=NEEDS, districts=DISTRICTS))
    result = solve_batch(batch)
    return batch, result.write(root / "out")


@pytest.fixture
def out(solved, tmp_path) -> Path:
    """A fresh copy of the output folder to tamper with."""
    return Path(shutil.copytree(solved[1], tmp_path / "out"))


@pytest.fixture
def batch(solved) -> matcher.Batch:
    return solved[0]


def allocations(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "allocations.csv", dtype={"offer_id": str, "need_id": str}, keep_default_na=False)


def save(out: Path, table: pd.DataFrame, name: str = "allocations.csv") -> None:
    table.to_csv(out / name, index=False)


def set_quantity(out: Path, offer_id: str, need_id: str, quantity) -> None:
    table = allocations(out)
    row = (table["offer_id"] == offer_id) & (table["need_id"] == need_id)
    assert row.sum() == 1, f"the plan has no pairing {offer_id} → {need_id}"
    table["quantity"] = table["quantity"].astype(object)
    table.loc[row, "quantity"] = quantity
    save(out, table)


def add_pairing(out: Path, offer_id: str, need_id: str, quantity, **columns) -> None:
    """Append a pairing (other columns left empty)."""
    table = allocations(out)
    row = {"offer_id": offer_id, "need_id": need_id, "quantity": quantity, **columns}
    save(out, pd.concat([table, pd.DataFrame([row])], ignore_index=True))


def rules_found(batch: matcher.Batch, out: Path) -> dict[str, list[str]]:
    report = matcher.verify(batch, out)
    assert not report.ok
    found: dict[str, list[str]] = {}
    for violation in report.violations:
        found.setdefault(violation.rule, []).append(str(violation))
    return found


# The clean plan -------------------------------------------------------------------------------------------

def test_the_plan_uses_every_case_the_tampering_needs(batch, out):
    """Guard for the tests below: the solved plan has the pairings they change."""
    plan = {(o, n): q for o, n, q in allocations(out)[["offer_id", "need_id", "quantity"]].itertuples(index=False)}
    assert plan[("O1", "N1")] + plan[("O1", "N2")] == 10 and plan[("O1", "N1")] >= 4
    assert plan[("O2", "N4")] == 2
    assert plan[("O3", "N5")] == 500
    assert plan[("O4", "N6")] == 4
    assert plan[("O5", "N11")] == 5
    assert set(pd.read_csv(out / "unmet.csv")["need_id"]) >= {"N3", "N5", "N7", "N8", "N9"}


def test_clean_output_verifies(batch, out):
    report = matcher.verify(batch, out)
    assert report.ok, report.violations
    assert set(FOUNDATION_CHECKS) <= set(report.checked)


def test_clean_output_verifies_against_the_batch_folder(solved):
    batch, out = solved
    assert matcher.verify(str(batch.folder), str(out)).ok


# Each kind of violation -----------------------------------------------------------------------------------

def test_catches_offer_capacity(batch, out):
    set_quantity(out, "O1", "N1", 6)
    set_quantity(out, "O1", "N2", 6)
    found = rules_found(batch, out)
    assert "Offer capacity" in found
    assert any("O1 gives 12, more than its 10" in m for m in found["Offer capacity"])


def test_catches_a_split_whole_office(batch, out):
    set_quantity(out, "O2", "N4", 1)
    add_pairing(out, "O2", "N3", 1, partner_id="P2", district_id="D1", resource="office_space")
    found = rules_found(batch, out)
    assert "Whole offers" in found
    assert any("goes to 2 needs" in m for m in found["Whole offers"])


def test_catches_a_whole_office_credited_less_than_it_carries(batch, out):
    set_quantity(out, "O2", "N4", 1)
    assert "Whole offers" in rules_found(batch, out)


def test_catches_a_part_below_the_minimum_chunk(batch, out):
    plan = allocations(out).set_index(["offer_id", "need_id"])["quantity"]
    set_quantity(out, "O1", "N2", 2)
    set_quantity(out, "O1", "N1", plan[("O1", "N1")])
    found = rules_found(batch, out)
    assert "Minimum chunk" in found
    assert any("minimum chunk 3 of O1" in m for m in found["Minimum chunk"])


def test_catches_more_than_a_need_asked_for(batch, out):
    set_quantity(out, "O1", "N1", 7)
    set_quantity(out, "O1", "N2", 3)
    found = rules_found(batch, out)
    assert "Need quantity" in found
    assert "Offer capacity" not in found


def test_catches_a_need_below_its_floor(batch, out):
    set_quantity(out, "O1", "N1", 3)
    found = rules_found(batch, out)
    assert "Hard floor" in found
    assert any("N1 gets 3, below its floor of 4" in m for m in found["Hard floor"])


@pytest.mark.parametrize("offer_id, need_id, quantity, district, resource, why", [
    ("O1", "N7", 3, "D2", "volunteers", "reach is home"),  # home reach, need in another district
    ("O2", "N10", 1, "D3", "office_space", "not D2 or a neighbour"),  # adjacent reach, far district
    ("O5", "N12", 2, "D3", "expertise", "beyond the 20 km radius"),  # radius reach
    ("O4", "N8", 3, "D1", "volunteers", "skill phone_banking is not data"),
    ("O4", "N9", 3, "D1", "volunteers", "windows do not overlap"),
])
def test_catches_an_ineligible_pair(batch, out, offer_id, need_id, quantity, district, resource, why):
    table = allocations(out)
    save(out, table[table["offer_id"] != offer_id])
    partner = "P2" if offer_id == "O2" else "P1"
    add_pairing(out, offer_id, need_id, quantity, partner_id=partner, district_id=district, resource=resource)
    found = rules_found(batch, out)
    assert "Eligible pair" in found
    assert any(why in m for m in found["Eligible pair"]), found


@pytest.mark.parametrize("column, value", [("offer_id", "O99"), ("need_id", "N99")])
def test_catches_an_unknown_id(batch, out, column, value):
    table = allocations(out)
    table.loc[0, column] = value
    save(out, table)
    found = rules_found(batch, out)
    assert "Known ids" in found
    assert any(value in m for m in found["Known ids"])


def test_an_unknown_partner_is_reported_not_a_crash(batch, out):
    table = allocations(out)
    table.loc[0, "partner_id"] = "P99"  # the coalition rules look partners up: a KeyError before
    save(out, table)
    assert any("row 2" in m for m in rules_found(batch, out)["Known ids"])


def test_catches_a_pairing_whose_partner_is_not_the_offers(batch, out):
    table = allocations(out)
    table.loc[table["offer_id"] == "O1", "partner_id"] = "P2"
    save(out, table)
    assert "Known ids" in rules_found(batch, out)


@pytest.mark.parametrize("quantity", [2.5, 0, -3, "", "lots"])
def test_catches_a_quantity_that_is_not_a_positive_whole_number(batch, out, quantity):
    set_quantity(out, "O3", "N5", quantity)
    found = rules_found(batch, out)
    assert any(f"quantity '{quantity}' is not a positive whole number" in m for m in found["Whole units"])


def test_catches_an_unmet_row_that_disagrees_with_the_allocations(batch, out):
    unmet = pd.read_csv(out / "unmet.csv")
    unmet.loc[unmet["need_id"] == "N5", "shortfall"] = 1
    save(out, unmet, "unmet.csv")
    found = rules_found(batch, out)
    assert list(found) == ["Unmet table"]
    assert any("unmet.csv, row" in m and "N5" in m for m in found["Unmet table"])


def test_catches_a_need_listed_twice_in_unmet(batch, out):
    unmet = pd.read_csv(out / "unmet.csv")
    save(out, pd.concat([unmet, unmet[unmet["need_id"] == "N5"]]), "unmet.csv")
    found = rules_found(batch, out)
    assert list(found) == ["Unmet table"]
    assert any("N5 is listed twice" in m for m in found["Unmet table"])


def test_catches_a_short_need_missing_from_unmet(batch, out):
    unmet = pd.read_csv(out / "unmet.csv")
    save(out, unmet[unmet["need_id"] != "N5"], "unmet.csv")
    found = rules_found(batch, out)
    assert any("N5 is short but not listed" in m for m in found["Unmet table"])


def edit_manifest(out: Path, **changes) -> None:
    manifest = json.loads((out / "run.json").read_text())
    manifest.update(changes)
    (out / "run.json").write_text(json.dumps(manifest))


def test_catches_a_wrong_coverage_in_run_json(batch, out):
    manifest = json.loads((out / "run.json").read_text())
    edit_manifest(out, coverage=manifest["coverage"] + 0.01)
    assert list(rules_found(batch, out)) == ["Reported coverage"]


def test_catches_optimal_reported_with_a_gap(batch, out):
    manifest = json.loads((out / "run.json").read_text())
    objective = manifest["objective"]
    bound = objective + 0.1 * max(abs(objective), 1.0)
    edit_manifest(out, status="optimal", best_bound=bound, gap=0.1)
    found = rules_found(batch, out)
    assert list(found) == ["Reported status"]
    assert any("called optimal with a gap of 0.1" in m for m in found["Reported status"])


def test_accepts_feasible_reported_with_a_gap(batch, out):
    manifest = json.loads((out / "run.json").read_text())
    objective = manifest["objective"]
    edit_manifest(out, status="feasible", best_bound=objective + 0.1 * max(abs(objective), 1.0), gap=0.1)
    assert matcher.verify(batch, out).ok


def test_catches_a_gap_that_does_not_follow_from_objective_and_bound(batch, out):
    edit_manifest(out, status="feasible", gap=0.25)
    assert "Reported status" in rules_found(batch, out)


def test_catches_a_plan_written_with_status_infeasible(batch, out):
    edit_manifest(out, status="infeasible")
    assert "Reported status" in rules_found(batch, out)


def test_a_missing_output_file_is_an_input_error(batch, out):
    (out / "unmet.csv").unlink()
    with pytest.raises(matcher.InputError) as caught:
        matcher.verify(batch, out)
    assert [(p.file, p.row, p.column) for p in caught.value.problems] == [("unmet.csv", None, None)]


def test_a_missing_output_column_is_an_input_error(batch, out):
    save(out, allocations(out).drop(columns=["quantity"]))
    with pytest.raises(matcher.InputError) as caught:
        matcher.verify(batch, out)
    assert [str(p) for p in caught.value.problems] == ["allocations.csv, row 1, column quantity: required column is "
                                                       "missing"]


def test_an_unreadable_run_json_is_an_input_error(batch, out):
    (out / "run.json").write_text("{")
    with pytest.raises(matcher.InputError) as caught:
        matcher.verify(batch, out)
    assert caught.value.problems[0].message.startswith("is not valid JSON")


def test_a_run_json_without_coverage_is_an_input_error(batch, out):
    edit_manifest(out, coverage=None)
    with pytest.raises(matcher.InputError) as caught:
        matcher.verify(batch, out)
    assert [(p.file, p.column) for p in caught.value.problems] == [("run.json", "coverage")]


def test_violations_read_as_rule_file_row_and_message(batch, out):
    set_quantity(out, "O1", "N1", 3)
    report = matcher.verify(batch, out)
    floor = next(v for v in report.violations if v.rule == "Hard floor")
    assert str(floor) == "[Hard floor] allocations.csv: N1 gets 3, below its floor of 4"
    with pytest.raises(matcher.VerificationError, match=r"\[Hard floor\]"):
        report.raise_if_any()
