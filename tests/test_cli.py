"""The `matcher` command, through click's CliRunner: exit codes, messages and the folders it writes."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import matcher
from matcher.cli import main
from matcher.schema import columns_markdown
from tests.builders import write_batch

SAMPLE = Path(__file__).parents[1] / "data" / "sample"
OUTPUTS = ("allocations.csv", "unmet.csv", "partners_summary.csv", "districts_summary.csv", "run.json")
OFFERS = [{"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "quantity": 10},
          {"offer_id": "O2", "partner_id": "P2", "resource": "office_space", "quantity": 1, "reach": "any"}]
NEEDS = [{"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 6, "floor": 2},
         {"need_id": "N2", "district_id": "D1", "resource": "volunteers", "quantity": 6},
         {"need_id": "N3", "district_id": "D2", "resource": "office_space", "quantity": 1}]
ONE_WORKER = ["--set", "solver.workers=1"]


def run(*args: object) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output + result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def batch(tmp_path) -> Path:
    return write_batch(tmp_path / "batch", offers=OFFERS, needs=NEEDS)


# Help and version -----------------------------------------------------------------------------------------

def test_help_lists_every_command_and_the_exit_codes():
    result = run("--help")
    assert result.exit_code == 0
    for name, command in main.commands.items():
        assert re.search(rf"^  {name}\s", result.output, re.MULTILINE), name
        assert command.help, f"{name} has no help"
    for code in ("0", "1", "2", "3", "4"):
        assert re.search(rf"^\s+{code}\s+\w", result.output, re.MULTILINE), code


@pytest.mark.parametrize("command", ["validate", "solve", "verify"])
def test_each_command_has_help_with_the_exit_codes(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Exit codes:" in result.output and "3  infeasible" in result.output


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert result.output == f"matcher, version {matcher.__version__}\n"


def test_usage_error_exits_2(batch):
    result = run("solve", batch)  # no -o
    assert result.exit_code == 2
    assert "Missing option '-o' / '--out'" in result.stderr


def test_columns_prints_the_column_table():
    result = run("columns")
    assert result.exit_code == 0
    assert result.output == columns_markdown() + "\n"


# validate -------------------------------------------------------------------------------------------------

def test_validate_summarises_a_valid_batch(batch):
    result = run("validate", batch)
    assert result.exit_code == 0
    assert "is valid" in result.output
    assert "2 partners, 2 districts, 0 roles" in result.output
    assert re.search(r"offers\s*│\s*1\s*│\s*1\s*│", result.output)  # one volunteers offer, one office


def test_validate_lists_every_problem_on_its_own_line(tmp_path):
    folder = write_batch(tmp_path / "bad", offers=[dict(OFFERS[0], quantity="ten", reach="radius")],
                         needs=[dict(NEEDS[0], floor=7), NEEDS[1]],
                         partners=[{"partner_id": "P1", "home_district": "D1"}])
    with pytest.raises(matcher.InputError) as caught:
        matcher.read_batch(folder)
    result = run("validate", folder)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"Error: the input has {len(caught.value.problems)} problem(s):"
    assert lines[1:] == [f"  {p}" for p in caught.value.problems]
    assert "  offers.csv, row 2, column quantity: must be a number, not 'ten'" in lines
    assert result.stdout == ""


def test_validate_keeps_a_long_problem_on_one_line(tmp_path):
    folder = write_batch(tmp_path / "bad", offers=[dict(OFFERS[0], reach="home")], needs=NEEDS[:1],
                         partners=[{"partner_id": "P1"}, {"partner_id": "P2", "home_district": "D2"}])
    result = run("validate", folder)
    assert result.exit_code == 1
    assert ("  offers.csv, row 2, column reach: 'home' needs the partner's home_district in partners.csv "
            "(partner P1 has none); use 'any' or 'listed'") in result.stderr.splitlines()


def test_validate_a_folder_that_does_not_exist(tmp_path):
    result = run("validate", tmp_path / "nowhere")
    assert result.exit_code == 1
    assert "is not a folder" in result.stderr


# solve ----------------------------------------------------------------------------------------------------

def test_solve_writes_every_output_and_prints_status_and_gap(batch, tmp_path):
    out = tmp_path / "out"
    result = run("solve", batch, "-o", out, *ONE_WORKER)
    assert result.exit_code == 0, result.stderr
    assert {p.name for p in out.iterdir()} >= set(OUTPUTS)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "optimal"
    assert re.search(r"status\W+optimal \(proven\)", result.output)
    assert re.search(r"gap\W+0\.0000%", result.output)
    assert f"Plan verified and written to {out.resolve()}/" in result.output
    allocations = pd.read_csv(out / "allocations.csv")
    assert set(allocations["need_id"]) == {"N1", "N2", "N3"}
    assert matcher.verify(batch, out).ok


def test_solve_an_infeasible_batch_exits_3_and_writes_nothing(tmp_path):
    folder = write_batch(tmp_path / "batch", offers=OFFERS[:1], needs=[dict(NEEDS[0], quantity=12, floor=11)])
    out = tmp_path / "out"
    result = run("solve", folder, "-o", out, *ONE_WORKER)
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: no plan meets every hard rule")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [folder]


def test_solve_an_invalid_batch_exits_1_and_writes_nothing(tmp_path):
    folder = write_batch(tmp_path / "batch", offers=[dict(OFFERS[0], quantity=-1)], needs=NEEDS)
    result = run("solve", folder, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "offers.csv, row 2, column quantity: must be more than 0" in result.stderr
    assert not (tmp_path / "out").exists()


def test_solve_with_set_overrides_the_scenario(batch, tmp_path):
    out = tmp_path / "out"
    result = run("solve", batch, "-o", out, "--set", "solver.time_limit_s=7.5", "--set", "weights.travel=0",
                 *ONE_WORKER)
    assert result.exit_code == 0, result.stderr
    scenario = json.loads((out / "run.json").read_text())["scenario"]
    assert scenario["solver"]["time_limit_s"] == 7.5
    assert scenario["weights"]["travel"] == 0.0
    assert scenario["solver"]["workers"] == 1


def test_solve_time_limit_option(batch, tmp_path):
    result = run("solve", batch, "-o", tmp_path / "out", "--time-limit", "4", *ONE_WORKER)
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "out" / "run.json").read_text())["scenario"]["solver"]["time_limit_s"] == 4.0


def test_solve_with_an_unknown_set_key_suggests_the_closest(batch, tmp_path):
    result = run("solve", batch, "-o", tmp_path / "out", "--set", "solver.time_limt_s=3")
    assert result.exit_code == 1
    assert ("  --set, column solver.time_limt_s: unknown setting; did you mean 'solver.time_limit_s'?"
            in result.stderr.splitlines())
    assert not (tmp_path / "out").exists()


def test_solve_with_a_set_that_is_not_key_value(batch, tmp_path):
    result = run("solve", batch, "-o", tmp_path / "out", "--set", "solver.time_limit_s")
    assert result.exit_code == 1
    assert "must look like section.name=value" in result.stderr


def test_solve_refuses_a_folder_of_foreign_files(batch, tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("do not lose me")
    result = run("solve", batch, "-o", out, *ONE_WORKER)
    assert result.exit_code == 1
    assert "not a matcher output" in result.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "do not lose me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch", "precious"]  # no staging folder left


def test_solve_refuses_a_file_as_output(batch, tmp_path):
    out = tmp_path / "plan.csv"
    out.write_text("x")
    result = run("solve", batch, "-o", out, *ONE_WORKER)
    assert result.exit_code == 1
    assert out.read_text() == "x"


def test_solving_again_replaces_an_earlier_run(batch, tmp_path):
    out = tmp_path / "out"
    assert run("solve", batch, "-o", out, *ONE_WORKER).exit_code == 0
    (out / "stale.txt").write_text("from the first run")
    result = run("solve", batch, "-o", out, "--set", "weights.travel=0.5", *ONE_WORKER)
    assert result.exit_code == 0, result.stderr
    assert not (out / "stale.txt").exists()
    assert json.loads((out / "run.json").read_text())["scenario"]["weights"]["travel"] == 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch", "out"]


# verify ---------------------------------------------------------------------------------------------------

def test_verify_ok_and_tampered(batch, tmp_path):
    out = tmp_path / "out"
    assert run("solve", batch, "-o", out, *ONE_WORKER).exit_code == 0
    result = run("verify", batch, out)
    assert result.exit_code == 0
    assert result.output.startswith(f"OK: {out} meets every hard rule")

    allocations = pd.read_csv(out / "allocations.csv")
    allocations.loc[allocations["offer_id"] == "O1", "quantity"] = 6
    allocations.to_csv(out / "allocations.csv", index=False)
    result = run("verify", batch, out)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith("Error: ")
    assert "  [Offer capacity] allocations.csv: O1 gives 12, more than its 10" in result.stderr.splitlines()


def test_verify_an_unreadable_manifest(batch, tmp_path):
    out = tmp_path / "out"
    assert run("solve", batch, "-o", out, *ONE_WORKER).exit_code == 0
    (out / "run.json").write_text("{")
    result = run("verify", batch, out)
    assert result.exit_code == 1
    assert "  run.json: is not valid JSON" in result.stderr


def test_verify_a_folder_without_outputs(batch, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("verify", batch, tmp_path / "empty")
    assert result.exit_code == 1
    assert "allocations.csv: is missing from" in result.stderr


# The sample batch, end to end -----------------------------------------------------------------------------

@pytest.mark.slow
def test_sample_batch_end_to_end(tmp_path):
    assert run("validate", SAMPLE).exit_code == 0
    out = tmp_path / "sample"
    result = run("solve", SAMPLE, "-o", out, "--quiet", *ONE_WORKER)
    assert result.exit_code == 0, result.stderr
    assert {p.name for p in out.iterdir()} >= set(OUTPUTS)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] in ("optimal", "feasible")
    assert set(manifest["inputs"]) >= {"partners.csv", "offers.csv", "needs.csv", "districts.csv", "scenario.toml"}
    assert run("verify", SAMPLE, out).exit_code == 0
