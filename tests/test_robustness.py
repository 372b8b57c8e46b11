"""Bad input of every kind gets a message naming file, row and column, exit 1 and no output folder.

tests/test_batch.py holds the validation rules one by one; here are the files a spreadsheet or a
hand edit produces (wrong delimiter, workbooks, UTF-16, links, huge files and numbers), the size
limits, and a property-based run that breaks a valid batch at random and expects only InputError.
"""
from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matcher
from matcher import limits
from matcher.cli import main
from matcher.errors import Problem
from tests.builders import write_batch

OFFER = {"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "quantity": 10}
NEED = {"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 10}


def batch_folder(tmp_path: Path, **tables) -> Path:
    tables.setdefault("offers", [OFFER])
    tables.setdefault("needs", [NEED])
    return write_batch(tmp_path / "batch", **tables)


def problems_of(folder: Path) -> list[Problem]:
    with pytest.raises(matcher.InputError) as caught:
        matcher.read_batch(folder)
    return caught.value.problems


def one(found: list[Problem]) -> Problem:
    assert len(found) == 1, found
    return found[0]


def with_file(tmp_path: Path, name: str, content: str | bytes) -> Path:
    folder = batch_folder(tmp_path)
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return folder


# Files a spreadsheet produces ------------------------------------------------------------------------------

@pytest.mark.parametrize("separator, word", [(";", "semicolons"), ("\t", "tabs")])
def test_a_file_separated_by_semicolons_or_tabs(tmp_path, separator, word):
    text = separator.join(["need_id", "district_id", "resource", "quantity"]) + "\nN1;D1;volunteers;3\n"
    found = one(problems_of(with_file(tmp_path, "needs.csv", text)))
    assert (found.file, found.row, found.column) == ("needs.csv", 1, None)
    assert found.message.startswith(f"separates its columns with {word}, not commas")


@pytest.mark.parametrize("magic, what", [(b"PK\x03\x04", "is an Excel workbook"),
                                         (b"\xd0\xcf\x11\xe0", "is an old-style Excel workbook"),
                                         (b"\xff\xfe", "is UTF-16 text")])
def test_a_workbook_or_utf16_file_saved_under_a_csv_name(tmp_path, magic, what):
    found = one(problems_of(with_file(tmp_path, "offers.csv", magic + b"\x00junk\x00")))
    assert found.file == "offers.csv" and found.message.startswith(what)
    assert found.message.endswith("save it from your spreadsheet as 'CSV UTF-8'")


def test_utf16_as_excel_writes_it(tmp_path):
    text = "need_id,district_id,resource,quantity\nN1,D1,volunteers,3\n"
    found = one(problems_of(with_file(tmp_path, "needs.csv", text.encode("utf-16"))))
    assert found.message.startswith("is UTF-16 text")


def test_mixed_encodings_name_the_first_bad_row(tmp_path):
    raw = ("partner_id,name,home_district\nP1,Caf\u00e9 Alpha,D1\n".encode("utf-8")
           + "P2,Caf\u00e9 Beta,D2\n".encode("latin-1"))
    assert str(one(problems_of(with_file(tmp_path, "partners.csv", raw)))) == (
        "partners.csv, row 3: is not UTF-8 text; save it from your spreadsheet as 'CSV UTF-8'")


def test_a_header_only_file_reads_as_an_empty_table(tmp_path):
    folder = with_file(tmp_path, "conflicts.csv", "partner_a,partner_b,scope,note\n")
    assert len(matcher.read_batch(folder).conflicts) == 0


def test_a_header_only_required_table_is_an_empty_table(tmp_path):
    folder = with_file(tmp_path, "needs.csv", "need_id,district_id,resource,quantity\n")
    assert len(matcher.read_batch(folder).needs) == 0


def test_trailing_blank_rows_and_columns_of_a_spreadsheet_are_ignored(tmp_path):
    text = ("need_id,district_id,resource,quantity,,,\r\n"
            "N1,D1,volunteers,3,,,\r\n"
            ",,,,,,\r\n"
            ",,,,,,\r\n")
    batch = matcher.read_batch(with_file(tmp_path, "needs.csv", text))
    assert list(batch.needs["need_id"]) == ["N1"]


def test_a_byte_order_mark_in_the_middle_of_a_header_is_ignored(tmp_path):
    text = "\ufeffneed_id,\ufeffdistrict_id,resource,quantity\nN1,D1,volunteers,3\n"
    assert list(matcher.read_batch(with_file(tmp_path, "needs.csv", text)).needs["district_id"]) == ["D1"]


def test_an_unclosed_quote_or_a_huge_cell_is_a_problem_not_a_crash(tmp_path):
    text = "need_id,district_id,resource,quantity,note\nN1,D1,volunteers,3," + "x" * 200_000 + "\n"
    found = one(problems_of(with_file(tmp_path, "needs.csv", text)))
    assert (found.file, found.row) == ("needs.csv", 2)
    assert found.message == "cannot be read as CSV: a cell is longer than 131,072 characters"


def test_a_nul_byte_is_a_problem_or_a_value_never_a_crash(tmp_path):
    text = "need_id,district_id,resource,quantity\nN1,D1,volunteers,3\x00\n"
    found = one(problems_of(with_file(tmp_path, "needs.csv", text)))
    assert (found.file, found.row, found.column) == ("needs.csv", 2, "quantity")


# Values ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("table, column", [("offers", "quantity"), ("needs", "quantity"), ("needs", "floor"),
                                           ("offers", "cost_per_unit"), ("needs", "priority")])
def test_absurdly_large_numbers_are_refused_with_their_cell(tmp_path, table, column):
    rows = {"offers": [dict(OFFER, **{column: "1e15"})]} if table == "offers" else {
        "needs": [dict(NEED, **{column: "1e15"})]}
    found = one(problems_of(batch_folder(tmp_path, **rows)))
    assert str(found) == f"{table}.csv, row 2, column {column}: is too large (at most 1,000,000,000), not '1e15'"


def test_the_largest_allowed_quantity_is_read(tmp_path):
    folder = batch_folder(tmp_path, offers=[dict(OFFER, quantity=limits.MAX_NUMBER)],
                          needs=[dict(NEED, quantity=limits.MAX_NUMBER)])
    assert int(matcher.read_batch(folder).offers.at[0, "quantity"]) == limits.MAX_NUMBER


@pytest.mark.parametrize("setting, message", [("inf", "must be a finite number"), ("nan", "must be a finite number"),
                                              ("1e300", "is too large (at most 1,000,000,000)")])
def test_absurd_scenario_numbers(tmp_path, setting, message):
    found = one(problems_of(batch_folder(tmp_path, scenario=f"[weights]\ntravel = {setting}\n")))
    assert str(found) == f"scenario.toml, column weights.travel: {message}"


def test_absurd_set_overrides_exit_1(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["solve", str(batch_folder(tmp_path)), "-o", str(out),
                                       "--set", "weights.cost=inf"])
    assert result.exit_code == 1, result.output
    assert "--set, column weights.cost: must be a finite number" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("value, message", [
    ("2", "must be a date like 2026-09-30"), ("0001-01-01", "must be a date from 1900 to 2199"),
    ("9999-12-31", "must be a date from 1900 to 2199"), ("2026-01-01T00:00:00+05:00", "must be a date like 2026-09-30"),
    ("2026-W01", "must be a date like 2026-09-30"), ("2026-02-30", "must be a date like 2026-09-30"),
])
def test_dates_out_of_range_or_with_a_time_zone(tmp_path, value, message):
    found = one(problems_of(batch_folder(tmp_path, offers=[dict(OFFER, available_from=value)])))
    assert str(found) == f"offers.csv, row 2, column available_from: {message}, not '{value}'"


def test_mixed_time_zones_in_one_column_are_problems_not_a_crash(tmp_path):
    offers = [dict(OFFER, available_to="2026-10-01T00:00:00+05:00"),
              dict(OFFER, offer_id="O2", available_to="2026-10-01T00:00:00+01:00")]
    assert len(problems_of(batch_folder(tmp_path, offers=offers))) == 2


def test_a_date_with_a_time_reads(tmp_path):
    folder = batch_folder(tmp_path, offers=[dict(OFFER, available_from="2026-09-30 08:00")])
    assert str(matcher.read_batch(folder).offers.at[0, "available_from"]) == "2026-09-30 08:00:00"


@pytest.mark.parametrize("column", ["offer_id", "partner_id"])
@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_ids_that_a_spreadsheet_would_run_as_formulas_are_refused(tmp_path, column, start):
    found = problems_of(batch_folder(tmp_path, offers=[dict(OFFER, **{column: f"{start}1+1"})]))
    assert (f"offers.csv, row 2, column {column}: may not start with =, +, - or @ (a spreadsheet would run it as "
            f"a formula), not '{start}1+1'") in [str(p) for p in found]


def test_a_formula_in_a_list_of_ids_or_a_skill_is_refused(tmp_path):
    found = problems_of(batch_folder(tmp_path, offers=[dict(OFFER, reach="listed", districts="D1;=D2",
                                                            skill="@cmd")]))
    assert {(p.column, p.message.split(",")[0]) for p in found} >= {("districts", "may not start with ="),
                                                                    ("skill", "may not start with =")}


# Rules across tables, and the command line's answer to each kind of bad batch -----------------------------

LOCK = {"action": "lock", "offer_id": "O1", "need_id": "N1"}


def test_a_partner_in_conflict_with_itself(tmp_path):
    found = problems_of(batch_folder(tmp_path, conflicts=[{"partner_a": "P1", "partner_b": "P1"}]))
    assert str(one(found)) == "conflicts.csv, row 2, column partner_b: P1 cannot be in conflict with itself"


def test_a_lock_that_contradicts_a_forbid(tmp_path):
    found = problems_of(batch_folder(tmp_path, decisions=[LOCK, dict(LOCK, action="forbid")]))
    assert str(one(found)) == "decisions.csv, row 3, column action: contradicts the lock on row 2"


def test_a_lock_beyond_the_offer(tmp_path):
    found = problems_of(batch_folder(tmp_path, decisions=[dict(LOCK, quantity=11)]))
    assert str(one(found)) == ("decisions.csv, row 2, column quantity: 11 is more than offer O1 has or need N1 "
                               "asks for")


def test_a_lock_on_a_duplicated_need_reports_the_duplicate_not_a_crash(tmp_path):
    found = problems_of(batch_folder(tmp_path, needs=[NEED, NEED], decisions=[dict(LOCK, quantity=5)]))
    assert [(p.file, p.row, p.column) for p in found] == [("needs.csv", 2, "need_id"), ("needs.csv", 3, "need_id")]


BAD_BATCHES = {
    "missing file": ({"needs.csv": None}, "needs.csv: is missing from"),
    "empty file": ({"needs.csv": ""}, "needs.csv, row 1: has no header row"),
    "semicolons": ({"needs.csv": "need_id;district_id;resource;quantity\nN1;D1;volunteers;3\n"},
                   "needs.csv, row 1: separates its columns with semicolons"),
    "latin-1": ({"partners.csv": "partner_id,name,home_district\nP1,Caf\u00e9,D1\n".encode("latin-1")},
                "partners.csv, row 2: is not UTF-8 text"),
    "duplicate header": ({"needs.csv": "need_id,district_id,resource,quantity,quantity\nN1,D1,volunteers,3,3\n"},
                         "needs.csv, row 1, column quantity: appears twice in the header"),
    "negative": ({"needs.csv": "need_id,district_id,resource,quantity\nN1,D1,volunteers,-3\n"},
                 "needs.csv, row 2, column quantity: must be more than 0"),
    "huge": ({"needs.csv": "need_id,district_id,resource,quantity\nN1,D1,volunteers,1e13\n"},
             "needs.csv, row 2, column quantity: is too large"),
    "unknown unit": ({"needs.csv": "need_id,district_id,resource,quantity,unit\nN1,D1,volunteers,3,people\n"},
                     "needs.csv, row 2, column unit: 'people' is not the unit of volunteers"),
    "dangling id": ({"needs.csv": "need_id,district_id,resource,quantity\nN1,D7,volunteers,3\n"},
                    "needs.csv, row 2, column district_id: 'D7' is not a district_id"),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_the_command_line_reports_a_bad_batch_without_a_traceback_or_an_output(tmp_path, case):
    files, expected = BAD_BATCHES[case]
    folder = batch_folder(tmp_path)
    for name, content in files.items():
        if content is None:
            (folder / name).unlink()
        elif isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["solve", str(folder), "-o", str(out)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output + result.stderr and result.exception.__class__ is SystemExit
    assert any(line.strip().startswith(expected) for line in result.stderr.splitlines()), result.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["batch"]


# Paths ----------------------------------------------------------------------------------------------------

def test_a_link_to_a_file_outside_the_batch_is_refused(tmp_path):
    folder = batch_folder(tmp_path)
    secret = tmp_path / "secret.csv"
    secret.write_text("need_id,district_id,resource,quantity\nN1,D1,volunteers,3\n")
    (folder / "needs.csv").unlink()
    (folder / "needs.csv").symlink_to(secret)
    assert str(one(problems_of(folder))) == ("needs.csv: is a link to a file outside the batch folder; copy the "
                                             "file into the folder instead")


def test_a_link_to_a_scenario_outside_the_batch_is_refused(tmp_path):
    folder = batch_folder(tmp_path)
    (tmp_path / "elsewhere.toml").write_text("[weights]\ntravel = 0\n")
    (folder / "scenario.toml").symlink_to(tmp_path / "elsewhere.toml")
    assert one(problems_of(folder)).file == "scenario.toml"


def test_a_link_inside_the_batch_is_fine(tmp_path):
    folder = batch_folder(tmp_path)
    (folder / "needs.csv").rename(folder / "needs-v2.csv")
    (folder / "needs.csv").symlink_to("needs-v2.csv")
    assert len(matcher.read_batch(folder).needs) == 1


def test_a_dangling_link_or_a_folder_or_a_pipe_in_place_of_a_file(tmp_path):
    folder = batch_folder(tmp_path)
    (folder / "roles.csv").symlink_to(tmp_path / "nowhere.csv")
    (folder / "conflicts.csv").mkdir()
    os.mkfifo(folder / "decisions.csv")
    found = {p.file: p.message for p in problems_of(folder)}
    assert found["roles.csv"].startswith("cannot be read")
    assert found["conflicts.csv"] == "is not a regular file"
    assert found["decisions.csv"] == "is not a regular file"


# Size limits ----------------------------------------------------------------------------------------------

def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("MATCHER_MAX_FILE_MB", "0.001")  # 1 KiB
    folder = batch_folder(tmp_path, needs=[dict(NEED, need_id=f"N{i}") for i in range(100)])
    found = one(problems_of(folder))
    assert found.file == "needs.csv" and "more than the limit of" in found.message


def test_a_file_with_too_many_rows_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MATCHER_MAX_ROWS", "5")
    folder = batch_folder(tmp_path, needs=[dict(NEED, need_id=f"N{i}") for i in range(6)])
    assert str(one(problems_of(folder))) == "needs.csv: has more than 5 rows, the limit (see Limits in the README)"


def test_limits_ignore_a_nonsense_override(monkeypatch):
    monkeypatch.setenv("MATCHER_MAX_ROWS", "lots")
    assert limits.max_rows() == limits.MAX_ROWS


def test_the_limits_are_documented_in_the_readme():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for value in (f"{limits.MAX_FILE_MB} MiB", f"{limits.MAX_ROWS:,}", f"{limits.MAX_NUMBER:,}",
                  "MATCHER_MAX_FILE_MB", "MATCHER_MAX_ROWS"):
        assert value in readme, value


# Property-based: a valid batch broken at random reads as InputError, never anything else -----------------

FILES = ("partners.csv", "offers.csv", "needs.csv", "districts.csv", "conflicts.csv", "decisions.csv")
NASTY = st.sampled_from(["", " ", "-1", "0", "1e400", "nan", "inf", "-inf", "1e15", "2.5", "=1+1", "@x", "+1",
                         "P1", "D1", "N1", "O1", "D9", "\"", "\"\"", ";", ",", "\n", "\r\n", "\ufeff", "\x00",
                         "volunteers", "office_space", "lock", "forbid", "2026-13-01", "2026-01-01", "true",
                         "ДМ", "é", "\u202e", "ten"])
CELL = st.one_of(NASTY, st.text(alphabet=string.printable + "éД\u00a0", max_size=8))


def mutate(text: str, data) -> str:
    """Apply a few random edits: a cell replaced, a line duplicated or dropped, bytes cut or inserted."""
    lines = text.split("\n")
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["cell", "cell", "dup", "drop", "cut", "insert", "header"]))
        i = data.draw(st.integers(0, max(0, len(lines) - 1)))
        if kind in ("cell", "header"):
            i = 0 if kind == "header" else i
            cells = lines[i].split(",")
            j = data.draw(st.integers(0, max(0, len(cells) - 1)))
            cells[j] = data.draw(CELL)
            lines[i] = ",".join(cells)
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "drop" and len(lines) > 1:
            lines.pop(i)
        elif kind == "cut":
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))]
        else:
            lines[i] = lines[i] + data.draw(CELL)
    return "\n".join(lines)


@pytest.fixture(scope="module")
def valid_batch(tmp_path_factory) -> dict[str, str]:
    folder = write_batch(
        tmp_path_factory.mktemp("valid") / "batch",
        offers=[OFFER, dict(OFFER, offer_id="O2", partner_id="P2", resource="office_space", quantity=1,
                            reach="any")],
        needs=[NEED, dict(NEED, need_id="N2", district_id="D2", resource="office_space", quantity=1)],
        conflicts=[{"partner_a": "P1", "partner_b": "P2", "scope": "district", "note": "old feud"}],
        decisions=[{"action": "lock", "offer_id": "O1", "need_id": "N1", "quantity": 5}])
    return {name: (folder / name).read_text() for name in FILES}


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_a_randomly_broken_batch_gives_input_error_or_reads(tmp_path_factory, valid_batch, data):
    folder = tmp_path_factory.mktemp("fuzz")
    broken = data.draw(st.lists(st.sampled_from(FILES), min_size=1, max_size=3, unique=True))
    for name, text in valid_batch.items():
        text = mutate(text, data) if name in broken else text
        (folder / name).write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        matcher.read_batch(folder)
    except matcher.InputError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file in FILES + ("scenario.toml",) and problem.message
            assert problem.row is None or problem.row >= 1
