"""Every validation rule of a batch, shown with a bad batch and the file, spreadsheet row and column it names.

Each test starts from a valid batch (tests.builders defaults) and breaks one thing; the reader must
report it, as `Problem(file, row, column, message)` with the header as row 1, and read nothing.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import matcher
from matcher.errors import Problem
from tests.builders import write_batch

OFFER = {"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "quantity": 10}
NEED = {"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 10}


def batch_folder(tmp_path: Path, offers: list[dict] | None = None, needs: list[dict] | None = None,
                 **tables) -> Path:
    return write_batch(tmp_path / "batch", offers=offers or [OFFER], needs=needs or [NEED], **tables)


def problems_of(folder: Path) -> list[Problem]:
    with pytest.raises(matcher.InputError) as caught:
        matcher.read_batch(folder)
    return caught.value.problems


def problems(tmp_path: Path, files: dict[str, str | bytes] | None = None, **tables) -> list[Problem]:
    """Problems of a valid batch with `tables` rows replaced and `files` written over as raw text."""
    folder = batch_folder(tmp_path, **tables)
    for name, content in (files or {}).items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content, encoding="utf-8")
    return problems_of(folder)


def where(found: list[Problem]) -> list[tuple]:
    return [(p.file, p.row, p.column) for p in found]


def one(found: list[Problem]) -> Problem:
    assert len(found) == 1, found
    return found[0]


# A valid batch --------------------------------------------------------------------------------------------

def test_a_valid_batch_reads_with_defaults(tmp_path):
    office = dict(OFFER, offer_id="O2", resource="office_space", quantity=2)
    batch = matcher.read_batch(batch_folder(tmp_path, offers=[OFFER, office]))
    offers = batch.offers.set_index("offer_id")
    assert offers.at["O1", "unit"] == "hours" and offers.at["O2", "unit"] == "desks"
    assert offers.at["O1", "divisible"] and not offers.at["O2", "divisible"]
    assert offers.at["O1", "reach"] == "home" and offers.at["O1", "skill"] == "any"
    assert offers.at["O1", "min_chunk"] == 1 and offers.at["O1", "cost_per_unit"] == 0
    assert batch.needs.set_index("need_id").at["N1", "priority"] == 1.0
    assert batch.summary()["offers"] == {"office_space": 1, "volunteers": 1}


def test_choices_and_units_ignore_case_and_a_byte_order_mark_is_fine(tmp_path):
    folder = batch_folder(tmp_path)
    (folder / "offers.csv").write_text("\ufeffoffer_id,partner_id,resource,quantity,unit,reach,skill\n"
                                       "O1,P1,Volunteers,3,HOURS,ANY,Canvassing\n", encoding="utf-8")
    offer = matcher.read_batch(folder).offers.iloc[0]
    assert (offer["resource"], offer["unit"], offer["reach"], offer["skill"]) == (
        "volunteers", "hours", "any", "canvassing")


def test_unknown_columns_are_kept(tmp_path):
    batch = matcher.read_batch(batch_folder(tmp_path, offers=[dict(OFFER, note="ask Maria first")]))
    assert batch.offers.at[0, "note"] == "ask Maria first"


# Files and headers ----------------------------------------------------------------------------------------

def test_missing_required_file(tmp_path):
    folder = batch_folder(tmp_path)
    (folder / "needs.csv").unlink()
    assert str(one(problems_of(folder))) == f"needs.csv: is missing from {folder}"


def test_optional_files_may_be_missing(tmp_path):
    folder = batch_folder(tmp_path)
    assert not (folder / "roles.csv").exists()
    assert len(matcher.read_batch(folder).roles) == 0


def test_a_batch_that_is_not_a_folder(tmp_path):
    assert where(problems_of(tmp_path / "nowhere")) == [(str(tmp_path / "nowhere"), None, None)]


def test_missing_required_column(tmp_path):
    found = problems(tmp_path, files={"needs.csv": "need_id,district_id,resource\nN1,D1,volunteers\n"})
    assert str(one(found)) == "needs.csv, row 1, column quantity: required column is missing"


def test_duplicate_header(tmp_path):
    found = problems(tmp_path, files={"needs.csv": "need_id,district_id,resource,quantity,quantity\n"
                                                   "N1,D1,volunteers,3,4\n"})
    assert str(one(found)) == "needs.csv, row 1, column quantity: appears twice in the header"


def test_empty_file_has_no_header(tmp_path):
    assert where(problems(tmp_path, files={"needs.csv": ""})) == [("needs.csv", 1, None)]


def test_non_utf8_file_names_the_row_of_the_first_bad_byte(tmp_path):
    text = "partner_id,name,home_district\nP1,Alpha,D1\nP2,Caf\u00e9 Workers,D2\n"
    found = one(problems(tmp_path, files={"partners.csv": text.encode("latin-1")}))
    assert str(found) == "partners.csv, row 3: is not UTF-8 text; save it from your spreadsheet as 'CSV UTF-8'"


def test_a_row_with_more_cells_than_the_header(tmp_path):
    found = problems(tmp_path, files={"needs.csv": "need_id,district_id,resource,quantity\n"
                                                   "N1,D1,volunteers,3\nN2,D1,volunteers,3,9\n"})
    assert str(one(found)) == "needs.csv, row 3: has 5 cells but the header has 4 columns"


def test_a_table_with_a_header_and_no_rows_is_valid(tmp_path):
    folder = batch_folder(tmp_path)
    (folder / "roles.csv").write_text("role_id,name,skill,district_id,hours\n", encoding="utf-8")
    assert len(matcher.read_batch(folder).roles) == 0


def test_a_bad_row_dropped_for_extra_cells_reports_only_itself(tmp_path):
    found = problems(tmp_path, files={"needs.csv": "need_id,district_id,resource,quantity\n"
                                                   "N1,D1,volunteers,3,9\n"})
    assert where(found) == [("needs.csv", 2, None)]


# Cells ----------------------------------------------------------------------------------------------------

def test_empty_required_cell(tmp_path):
    found = problems(tmp_path, offers=[dict(OFFER, offer_id="")])
    assert str(one(found)) == "offers.csv, row 2, column offer_id: is required but empty"


def test_non_number(tmp_path):
    found = problems(tmp_path, offers=[dict(OFFER, quantity="ten")])
    assert str(one(found)) == "offers.csv, row 2, column quantity: must be a number, not 'ten'"


def test_non_whole_quantity(tmp_path):
    found = problems(tmp_path, offers=[dict(OFFER, quantity=2.5)])
    assert str(one(found)) == "offers.csv, row 2, column quantity: must be a whole number, not '2.5'"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_nan_and_infinity_are_not_numbers(tmp_path, value):
    found = one(problems(tmp_path, needs=[dict(NEED, priority=value)]))
    assert (found.file, found.row, found.column) == ("needs.csv", 2, "priority")
    assert found.message.startswith("must be a") and f"'{value}'" in found.message


@pytest.mark.parametrize("table, column, value", [
    ("offers", "quantity", -3), ("offers", "quantity", 0), ("needs", "quantity", -1), ("needs", "floor", -1),
    ("offers", "min_chunk", 0), ("offers", "cost_per_unit", -2), ("needs", "priority", -1),
    ("offers", "radius_km", -5), ("offers", "inkind_value_per_unit", -1),
])
def test_negative_or_zero_amounts(tmp_path, table, column, value):
    rows = {"offers": [dict(OFFER, **{column: value})]} if table == "offers" else {
        "needs": [dict(NEED, **{column: value})]}
    found = one(problems(tmp_path, **rows))
    assert (found.file, found.row, found.column) == (f"{table}.csv", 2, column)
    assert found.message.startswith("must be")


def test_a_range_problem_shows_the_value_as_written(tmp_path):
    found = one(problems(tmp_path, offers=[dict(OFFER, quantity=-3)]))
    assert str(found) == "offers.csv, row 2, column quantity: must be more than 0, not -3"


def test_reliability_is_a_share(tmp_path):
    found = problems(tmp_path, partners=[{"partner_id": "P1", "home_district": "D1", "reliability": 1.5}])
    assert str(one(found)) == "partners.csv, row 2, column reliability: must be at most 1, not 1.5"


@pytest.mark.parametrize("table, column, value", [
    ("offers", "resource", "cash"), ("offers", "reach", "everywhere"), ("needs", "resource", "people"),
    ("partners", "kind", "church"),
])
def test_bad_choice(tmp_path, table, column, value):
    rows = {"offers": {"offers": [dict(OFFER, **{column: value})]},
            "needs": {"needs": [dict(NEED, **{column: value})]},
            "partners": {"partners": [{"partner_id": "P1", "home_district": "D1", column: value}]}}[table]
    found = one(problems(tmp_path, **rows))
    assert (found.file, found.row, found.column) == (f"{table}.csv", 2, column)
    assert found.message.startswith("must be one of: ") and found.message.endswith(f"not '{value}'")


def test_bad_choice_lists_the_choices(tmp_path):
    found = one(problems(tmp_path, offers=[dict(OFFER, resource="cash")]))
    assert str(found) == ("offers.csv, row 2, column resource: must be one of: volunteers, office_space, money, "
                          "expertise, not 'cash'")


def test_bad_bool(tmp_path):
    found = problems(tmp_path, offers=[dict(OFFER, divisible="maybe")])
    assert str(one(found)) == "offers.csv, row 2, column divisible: must be true or false, not 'maybe'"


@pytest.mark.parametrize("value", ["2026-13-01", "next week", "30/09/2026"])
def test_bad_date(tmp_path, value):
    found = one(problems(tmp_path, offers=[dict(OFFER, available_from=value)]))
    assert str(found) == f"offers.csv, row 2, column available_from: must be a date like 2026-09-30, not '{value}'"


def test_reversed_offer_window(tmp_path):
    found = problems(tmp_path, offers=[dict(OFFER, available_from="2026-10-01", available_to="2026-09-01")])
    assert str(one(found)) == "offers.csv, row 2, column available_to: is before available_from"


def test_reversed_need_window(tmp_path):
    found = problems(tmp_path, needs=[dict(NEED, needed_from="2026-10-01", needed_to="2026-09-01")])
    assert where(found) == [("needs.csv", 2, "needed_to")]


def test_a_one_day_window_is_fine(tmp_path):
    folder = batch_folder(tmp_path, offers=[dict(OFFER, available_from="2026-10-01", available_to="2026-10-01")])
    assert len(matcher.read_batch(folder).offers) == 1


def test_duplicate_id_names_every_copy(tmp_path):
    found = problems(tmp_path, offers=[OFFER, dict(OFFER, quantity=3)])
    assert [str(p) for p in found] == ["offers.csv, row 2, column offer_id: is a duplicate id",
                                       "offers.csv, row 3, column offer_id: is a duplicate id"]


# References -----------------------------------------------------------------------------------------------

def test_unknown_partner(tmp_path):
    found = problems(tmp_path, offers=[dict(OFFER, partner_id="PX")])
    assert str(one(found)) == "offers.csv, row 2, column partner_id: 'PX' is not a partner_id in partners.csv"


def test_unknown_district(tmp_path):
    found = problems(tmp_path, needs=[dict(NEED, district_id="DX")])
    assert str(one(found)) == "needs.csv, row 2, column district_id: 'DX' is not a district_id in districts.csv"


def test_unknown_home_district(tmp_path):
    found = problems(tmp_path, offers=[dict(OFFER, reach="any")],
                     partners=[{"partner_id": "P1", "home_district": "DX"}])
    assert where(found) == [("partners.csv", 2, "home_district")]


def test_unknown_home_district_of_a_radius_offer(tmp_path):
    found = problems(tmp_path, offers=[dict(OFFER, reach="radius", radius_km=5)],
                     partners=[{"partner_id": "P1", "home_district": "DX"}])
    assert where(found) == [("partners.csv", 2, "home_district")]


@pytest.mark.parametrize("table, column, rows", [
    ("offers", "districts", {"offers": [dict(OFFER, reach="listed", districts="D1;DX")]}),
    ("districts", "neighbors", {"districts": [{"district_id": "D1", "neighbors": "DX"},
                                              {"district_id": "D2", "neighbors": "D1"}]}),
    ("partners", "preferred_districts", {"partners": [{"partner_id": "P1", "home_district": "D1",
                                                       "preferred_districts": "D2;DX"}]}),
])
def test_unknown_id_in_a_list(tmp_path, table, column, rows):
    found = one(problems(tmp_path, **rows))
    assert (found.file, found.row, found.column) == (f"{table}.csv", 2, column)
    assert found.message == "'DX' is not a district_id in districts.csv"


# Rules across columns -------------------------------------------------------------------------------------

def test_wrong_unit(tmp_path):
    found = problems(tmp_path, offers=[dict(OFFER, unit="usd")])
    assert str(one(found)) == "offers.csv, row 2, column unit: 'usd' is not the unit of volunteers; use hours"


def test_wrong_unit_on_a_need(tmp_path):
    found = problems(tmp_path, needs=[dict(NEED, resource="office_space", unit="rooms", quantity=2)])
    assert str(one(found)) == "needs.csv, row 2, column unit: 'rooms' is not the unit of office_space; use desks"


def test_floor_above_quantity(tmp_path):
    found = problems(tmp_path, needs=[dict(NEED, floor=11)])
    assert str(one(found)) == "needs.csv, row 2, column floor: 11 is more than the quantity 10"


def test_reach_radius_without_radius_km(tmp_path):
    found = problems(tmp_path, offers=[dict(OFFER, reach="radius")])
    assert str(one(found)) == "offers.csv, row 2, column radius_km: is required when reach is 'radius'"


def test_reach_radius_from_a_district_without_coordinates(tmp_path):
    found = problems(tmp_path, offers=[dict(OFFER, reach="radius", radius_km=5)],
                     districts=[{"district_id": "D1", "neighbors": "D2"}, {"district_id": "D2"}])
    assert where(found) == [("offers.csv", 2, "reach")]


def test_reach_listed_without_districts(tmp_path):
    found = problems(tmp_path, offers=[dict(OFFER, reach="listed")])
    assert str(one(found)) == "offers.csv, row 2, column districts: is required when reach is 'listed'"


@pytest.mark.parametrize("reach", ["home", "adjacent"])
def test_reach_from_home_for_a_partner_without_home_district(tmp_path, reach):
    found = problems(tmp_path, offers=[dict(OFFER, reach=reach)], partners=[{"partner_id": "P1", "name": "Alpha"}])
    assert str(one(found)) == (f"offers.csv, row 2, column reach: '{reach}' needs the partner's home_district in "
                               "partners.csv (partner P1 has none); use 'any' or 'listed'")


def test_reach_any_needs_no_home_district(tmp_path):
    folder = batch_folder(tmp_path, offers=[dict(OFFER, reach="any")], partners=[{"partner_id": "P1"}])
    assert len(matcher.read_batch(folder).partners) == 1


# Many problems at once ------------------------------------------------------------------------------------

def test_every_problem_is_reported_together_and_sorted(tmp_path):
    found = problems(tmp_path, files={
        "needs.csv": "need_id,district_id,resource,quantity\nN1,D1,volunteers,x\nN2,,volunteers,\n",
        "offers.csv": "offer_id,partner_id,resource,quantity,divisible\nO1,P1,volunteers,1.5,perhaps\n",
    })
    assert where(found) == [("needs.csv", 2, "quantity"), ("needs.csv", 3, "district_id"),
                            ("needs.csv", 3, "quantity"), ("offers.csv", 2, "divisible"),
                            ("offers.csv", 2, "quantity")]
    assert found == sorted(found, key=lambda p: (p.file, p.row or 0, p.column or "", p.message))


def test_the_error_message_lists_every_problem(tmp_path):
    folder = batch_folder(tmp_path, offers=[dict(OFFER, quantity="ten")], needs=[dict(NEED, floor=11)])
    with pytest.raises(matcher.InputError) as caught:
        matcher.read_batch(folder)
    assert str(caught.value).splitlines() == [str(p) for p in caught.value.problems]
    assert len(caught.value.problems) >= 1


def test_problems_of_every_kind_are_reported_together(tmp_path):
    found = problems(tmp_path, files={"needs.csv": "need_id,district_id,resource,quantity\n"
                                                   "N1,D1,volunteers,x\nN2,D1,volunteers,-1\nN3,DX,volunteers,2\n"})
    assert where(found) == [("needs.csv", 2, "quantity"), ("needs.csv", 3, "quantity"),
                            ("needs.csv", 4, "district_id")]


def test_row_numbers_count_the_header_and_blank_lines(tmp_path):
    text = ("need_id,district_id,resource,quantity\n"  # row 1
            "N1,D1,volunteers,3\n"  # row 2
            "\n"  # row 3: blank
            ",,,\n"  # row 4: empty cells, skipped like a blank line
            "N2,D1,volunteers,4\n"  # row 5
            "\n"  # row 6
            "N3,D1,volunteers,x\n")  # row 7
    assert where(problems(tmp_path, files={"needs.csv": text})) == [("needs.csv", 7, "quantity")]


def test_row_numbers_count_a_multi_line_cell_as_one_row(tmp_path):
    text = ('need_id,district_id,resource,quantity,note\n'
            'N1,D1,volunteers,3,"two\nlines"\n'
            'N2,D1,volunteers,x,\n')
    assert where(problems(tmp_path, files={"needs.csv": text})) == [("needs.csv", 3, "quantity")]


def test_scenario_problems_are_reported_with_the_tables(tmp_path):
    found = problems(tmp_path, offers=[dict(OFFER, quantity="ten")], scenario="[weights]\ntravl = 1\n")
    assert ("scenario.toml", None, "weights.travl") in where(found)
    assert ("offers.csv", 2, "quantity") in where(found)
