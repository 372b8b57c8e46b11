"""CSV injection, contact fields and paths: what keeps a plan safe to open and to share."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import matcher
from matcher.cli import main
from matcher.safety import is_contact, neutralise, safe_table
from tests.builders import write_batch

OFFERS = [{"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "quantity": 10},
          {"offer_id": "O2", "partner_id": "P2", "resource": "office_space", "quantity": 1, "reach": "any"}]
NEEDS = [{"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 6},
         {"need_id": "N2", "district_id": "D2", "resource": "office_space", "quantity": 1}]
ONE_WORKER = ["--set", "solver.workers=1", "--quiet"]
NAME, EMAIL, PHONE = "Zelda Quixote-Marr", "zelda@example.org", "+1 612 555 0199"


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output + result.stderr
    return result


# Formula neutralisation -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["=1+1", "+1 612 555", "-cmd", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"x\")"])
def test_text_that_a_spreadsheet_would_run_gets_an_apostrophe(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("value", ["-5", "+3", "-0.25", "1e-3", "Alpha", "", "a=b", -5, -2.5, None])
def test_numbers_and_plain_text_are_kept(value):
    assert neutralise(value) == value


def test_numeric_columns_are_never_touched():
    table = pd.DataFrame({"quantity": [-5, 3], "share": [-0.5, 0.25], "note": ["-5", "=1"]})
    safe = safe_table("allocations", table)
    assert safe["quantity"].tolist() == [-5, 3] and safe["share"].tolist() == [-0.5, 0.25]
    assert safe["note"].tolist() == ["-5", "'=1"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_no_written_text_cell_starts_like_a_formula_unless_it_is_a_number(text):
    value = neutralise(text)
    if value.startswith(("=", "+", "-", "@", "\t", "\r")):
        float(value)  # a plain number, which a spreadsheet reads as a number
    assert value.lstrip("'") == text.lstrip("'") or value == "'" + text


@pytest.fixture
def hostile(tmp_path) -> Path:
    """A batch whose free text is written to be run by a spreadsheet, with contact data beside it."""
    partners = [{"partner_id": "P1", "name": NAME, "home_district": "D1", "email": EMAIL, "phone": PHONE},
                {"partner_id": "P2", "name": "=HYPERLINK(\"http://evil\",\"x\")", "home_district": "D2",
                 "email": "b@example.org", "phone": "+1 555"}]
    districts = [{"district_id": "D1", "name": "@Downtown", "region": "-North", "neighbors": "D2", "lat": 45.0,
                  "lon": -93.0},
                 {"district_id": "D2", "name": "Two", "region": "+South", "neighbors": "D1", "lat": 45.1,
                  "lon": -93.0}]
    decisions = [{"action": "lock", "offer_id": "O1", "need_id": "N1", "agreed_by": NAME,
                  "note": "=cmd|' /C calc'!A0"}]
    return write_batch(tmp_path / "batch", offers=OFFERS, needs=NEEDS, partners=partners, districts=districts,
                       decisions=decisions)


def test_outputs_neutralise_formulas_and_keep_numbers(hostile, tmp_path):
    out = tmp_path / "out"
    assert run("solve", hostile, "-o", out, *ONE_WORKER).exit_code == 0
    texts = {p.name: p.read_text() for p in out.glob("*.csv")}
    allocations = pd.read_csv(out / "allocations.csv", keep_default_na=False)
    assert allocations.loc[allocations["offer_id"] == "O1", "note"].item() == "'=cmd|' /C calc'!A0"
    summary = pd.read_csv(out / "partners_summary.csv", keep_default_na=False).set_index("partner_id")
    assert summary.at["P2", "name"] == "'=HYPERLINK(\"http://evil\",\"x\")"
    districts = pd.read_csv(out / "districts_summary.csv", keep_default_na=False).set_index("district_id")
    assert (districts.at["D1", "name"], districts.at["D1", "region"]) == ("'@Downtown", "'-North")
    for name, text in texts.items():
        for line in text.splitlines()[1:]:
            for cell in line.split(","):
                assert not cell.startswith(("=", "@")), (name, line)
    assert allocations["quantity"].dtype.kind == "i"
    assert matcher.verify(hostile, out).ok


# Contact fields -------------------------------------------------------------------------------------------

def test_which_columns_are_contact_fields():
    assert is_contact("partners", "name") and is_contact("decisions", "agreed_by")
    assert is_contact("offers", "contact_email") and is_contact("partners", "Phone") and is_contact("x", "address")
    assert not is_contact("districts", "name") and not is_contact("partners", "partner_id")


def test_contact_fields_never_appear_in_error_messages(hostile, tmp_path):
    offers = pd.read_csv(hostile / "offers.csv", dtype=str)
    offers.loc[0, "quantity"] = "ten"
    offers["contact_phone"] = ["ten", "x"]  # an unknown contact column with junk in it
    offers.to_csv(hostile / "offers.csv", index=False)
    partners = pd.read_csv(hostile / "partners.csv", dtype=str)
    partners.loc[0, "home_district"] = "DX"
    partners.to_csv(hostile / "partners.csv", index=False)
    for command in (["validate", hostile], ["solve", hostile, "-o", tmp_path / "out"]):
        result = run(*command)
        assert result.exit_code == 1
        assert "must be a number, not 'ten'" in result.stderr
        for secret in (NAME, EMAIL, PHONE, "Quixote", "example.org"):
            assert secret not in result.output + result.stderr
    assert not (tmp_path / "out").exists()


def test_a_bad_value_in_a_contact_column_is_described_without_it(tmp_path, monkeypatch):
    from matcher import safety

    monkeypatch.setitem(safety.CONTACT_COLUMNS, "offers", ("quantity",))  # pretend quantity were contact data
    folder = write_batch(tmp_path / "batch", offers=[dict(OFFERS[0], quantity=NAME)], needs=NEEDS[:1])
    with pytest.raises(matcher.InputError) as caught:
        matcher.read_batch(folder)
    assert [str(p) for p in caught.value.problems] == ["offers.csv, row 2, column quantity: must be a number"]


def test_an_internal_error_does_not_echo_its_message(batch_with_bug, tmp_path):
    result = run("validate", batch_with_bug)
    assert result.exit_code == 1
    assert result.stderr.startswith("Internal error (a bug in matcher, please report it): KeyError at ")
    assert NAME not in result.stderr


@pytest.fixture
def batch_with_bug(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError(NAME)
    monkeypatch.setattr(matcher, "read_batch", broken)
    return write_batch(tmp_path / "batch", offers=OFFERS, needs=NEEDS)


def test_redact_empties_contact_fields_in_every_output(hostile, tmp_path):
    out = tmp_path / "out"
    result = run("solve", hostile, "-o", out, "--redact", *ONE_WORKER)
    assert result.exit_code == 0, result.stderr
    every_byte = "".join(p.read_text() for p in out.iterdir())
    for secret in (NAME, EMAIL, PHONE, "HYPERLINK"):
        assert secret not in every_byte
    summary = pd.read_csv(out / "partners_summary.csv")
    assert "name" in summary.columns and summary["name"].isna().all()
    assert json.loads((out / "run.json").read_text())["redacted"] is True
    assert matcher.verify(hostile, out).ok


def test_without_redact_names_are_kept(hostile, tmp_path):
    out = tmp_path / "out"
    assert run("solve", hostile, "-o", out, *ONE_WORKER).exit_code == 0
    assert NAME in (out / "partners_summary.csv").read_text()
    assert "redacted" not in json.loads((out / "run.json").read_text())


# Paths ----------------------------------------------------------------------------------------------------

def test_output_is_written_only_in_the_named_folder(tmp_path):
    batch = write_batch(tmp_path / "work" / "batch", offers=OFFERS, needs=NEEDS)
    cwd = tmp_path / "work" / "here"
    cwd.mkdir()
    before = {p for p in tmp_path.rglob("*")}
    result = CliRunner().invoke(main, ["solve", str(batch), "-o", str(cwd / ".." / "plan"), *ONE_WORKER])
    assert result.exit_code == 0, result.stderr
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(p.is_relative_to(tmp_path / "work" / "plan") or p == tmp_path / "work" / "plan"
                           for p in created)


def test_an_output_folder_that_is_a_link_is_refused(tmp_path):
    batch = write_batch(tmp_path / "batch", offers=OFFERS, needs=NEEDS)
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "real")
    result = run("solve", batch, "-o", tmp_path / "out", *ONE_WORKER)
    assert result.exit_code == 1 and "is a symbolic link" in result.stderr
    assert list((tmp_path / "real").iterdir()) == []


def test_the_root_is_not_an_output_folder(tmp_path):
    batch = write_batch(tmp_path / "batch", offers=OFFERS, needs=NEEDS)
    result = run("solve", batch, "-o", "/", *ONE_WORKER)
    assert result.exit_code == 1 and "name a folder for the outputs" in result.stderr
