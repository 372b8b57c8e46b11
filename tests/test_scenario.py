"""scenario.toml: every key checked, types enforced, the coverage curve concave; with_ and --set overrides."""
from __future__ import annotations

from pathlib import Path

import pytest

import matcher
from matcher.errors import Problem
from matcher.scenario import Scenario, parse_override


def problems_of_toml(tmp_path, text: str) -> list[Problem]:
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(matcher.InputError) as caught:
        Scenario.from_toml(path)
    return caught.value.problems


def keyed(found: list[Problem]) -> dict[str, str]:
    return {p.column: p.message for p in found}


def test_an_empty_scenario_is_the_defaults(tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text("# nothing set\n", encoding="utf-8")
    assert Scenario.from_toml(path).to_dict() == Scenario().to_dict()
    assert Scenario().coverage.segments == ((0.5, 1.0), (1.0, 0.5))


def test_settings_are_read(tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text("[weights]\ntravel = 0.5\n[coverage]\nsegments = [[1.0, 1.0]]\n[solver]\ntime_limit_s = 30\n",
                    encoding="utf-8")
    scenario = Scenario.from_toml(path)
    assert scenario.weights.travel == 0.5
    assert scenario.coverage.segments == ((1.0, 1.0),)
    assert scenario.solver.time_limit_s == 30.0 and isinstance(scenario.solver.time_limit_s, float)
    assert scenario.weights.coverage == Scenario().weights.coverage  # unset keys keep their default


def test_the_sample_scenario_is_valid():
    assert Scenario.from_toml(Path(__file__).parents[1] / "data" / "sample" / "scenario.toml").solver.seed == 7


def test_unknown_key_names_the_closest_valid_key(tmp_path):
    found = problems_of_toml(tmp_path, "[weights]\ntravl = 1.0\n")
    assert [str(p) for p in found] == [
        "scenario.toml, column weights.travl: unknown setting; did you mean 'weights.travel'?"]


def test_unknown_section_names_the_closest_section(tmp_path):
    assert keyed(problems_of_toml(tmp_path, "[solvr]\nseed = 1\n")) == {
        "solvr": "unknown setting; did you mean 'solver'?"}


def test_unknown_key_with_nothing_close_lists_the_valid_keys(tmp_path):
    message = keyed(problems_of_toml(tmp_path, "[travel]\nzzz = 1\n"))["travel.zzz"]
    assert message == "unknown setting; valid keys: travel.km_per_hop"


def test_a_section_must_be_a_table(tmp_path):
    assert keyed(problems_of_toml(tmp_path, "weights = 3\n")) == {"weights": "must be a table of settings"}


@pytest.mark.parametrize("line, key, message", [
    ("[weights]\ncoverage = 'x'", "weights.coverage", "must be a number, not 'x'"),
    ("[weights]\ntravel = true", "weights.travel", "must be a number, not True"),
    ("[solver]\nworkers = 1.5", "solver.workers", "must be a whole number, not 1.5"),
    ("[solver]\nseed = '7'", "solver.seed", "must be a whole number, not '7'"),
    ("[coverage]\nsegments = 'steep'", "coverage.segments", "must be a list of [upto, slope] pairs, not 'steep'"),
    ("[coverage]\nsegments = [[0.5, 1.0, 3.0]]", "coverage.segments",
     "must be a list of [upto, slope] pairs, not [[0.5, 1.0, 3.0]]"),
])
def test_wrong_type(tmp_path, line, key, message):
    assert keyed(problems_of_toml(tmp_path, line + "\n")) == {key: message}


@pytest.mark.parametrize("segments, message", [
    ("[[0.5, 0.5], [1.0, 1.0]]", "slopes must be non-negative and non-increasing (diminishing returns)"),
    ("[[0.5, 1.0], [1.0, -0.5]]", "slopes must be non-negative and non-increasing (diminishing returns)"),
    ("[[0.5, 1.0], [0.4, 0.5], [1.0, 0.2]]", "upto values must increase from above 0"),
    ("[[0.0, 1.0], [1.0, 0.5]]", "upto values must increase from above 0"),
    ("[[0.5, 1.0], [0.9, 0.5]]", "the last segment must end at 1.0 (a fully met need)"),
    ("[]", "needs at least one [upto, slope] segment"),
])
def test_bad_segments(tmp_path, segments, message):
    found = problems_of_toml(tmp_path, f"[coverage]\nsegments = {segments}\n")
    assert (found[0].file, found[0].column) == ("scenario.toml", "coverage.segments")
    assert message in [p.message for p in found]


@pytest.mark.parametrize("line, key", [
    ("[weights]\ntravel = -1", "weights.travel"), ("[weights]\ncost = -0.1", "weights.cost"),
    ("[solver]\ntime_limit_s = 0", "solver.time_limit_s"), ("[solver]\nrelative_gap = 1.0", "solver.relative_gap"),
    ("[solver]\nworkers = -1", "solver.workers"), ("[travel]\nkm_per_hop = -3", "travel.km_per_hop"),
])
def test_out_of_range(tmp_path, line, key):
    assert key in keyed(problems_of_toml(tmp_path, line + "\n"))


def test_every_problem_is_reported_together(tmp_path):
    found = problems_of_toml(tmp_path, "[weights]\ntravl = 1\ncoverage = 'x'\n[solvr]\n")
    assert sorted(keyed(found)) == ["solvr", "weights.coverage", "weights.travl"]


def test_invalid_toml(tmp_path):
    found = problems_of_toml(tmp_path, "[weights\n")
    assert len(found) == 1 and found[0].file == "scenario.toml"
    assert found[0].message.startswith("is not valid TOML: ")


def test_with_returns_a_changed_copy():
    base = Scenario()
    changed = base.with_({"weights.travel": 0.0}, solver__time_limit_s=5)
    assert (changed.weights.travel, changed.solver.time_limit_s) == (0.0, 5.0)
    assert base.weights.travel == Scenario().weights.travel
    assert changed.weights.coverage == base.weights.coverage


def test_with_rejects_an_unknown_key_and_names_the_closest():
    with pytest.raises(matcher.InputError) as caught:
        Scenario().with_({"solver.time_limt_s": 3})
    assert [str(p) for p in caught.value.problems] == [
        "--set, column solver.time_limt_s: unknown setting; did you mean 'solver.time_limit_s'?"]


def test_with_rejects_an_unknown_section():
    with pytest.raises(matcher.InputError) as caught:
        Scenario().with_({"weight.travel": 3})
    assert "did you mean 'weights.travel'?" in caught.value.problems[0].message


def test_with_checks_the_new_values():
    with pytest.raises(matcher.InputError) as caught:
        Scenario().with_({"coverage.segments": [[0.5, 0.5], [1.0, 1.0]]})
    assert [p.column for p in caught.value.problems] == ["coverage.segments"]
    with pytest.raises(matcher.InputError):
        Scenario().with_({"solver.time_limit_s": "soon"})


def test_to_dict_round_trips():
    scenario = Scenario().with_({"weights.cost": 0.5, "coverage.segments": [[0.25, 2.0], [1.0, 0.5]]})
    assert Scenario.from_dict(scenario.to_dict()).to_dict() == scenario.to_dict()


@pytest.mark.parametrize("text, expected", [
    ("solver.time_limit_s=10", ("solver.time_limit_s", 10)),
    ("weights.travel = 0.5", ("weights.travel", 0.5)),
    ("coverage.segments=[[1.0, 1.0]]", ("coverage.segments", [[1.0, 1.0]])),
    ("solver.seed=7", ("solver.seed", 7)),
    ("name=plain words", ("name", "plain words")),
    ("flag=true", ("flag", True)),
])
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["solver.time_limit_s", "=10", " =3"])
def test_parse_override_needs_key_and_value(text):
    with pytest.raises(matcher.InputError) as caught:
        parse_override(text)
    assert caught.value.problems[0].message == "must look like section.name=value"


def test_an_override_parsed_from_text_applies():
    scenario = Scenario().with_(dict([parse_override("solver.time_limit_s=2.5"), parse_override("solver.workers=1")]))
    assert (scenario.solver.time_limit_s, scenario.solver.workers) == (2.5, 1)
