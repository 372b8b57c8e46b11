"""`matcher diff` and Result.diff(): what moved between two runs (allocations, roles, coverage by district)."""
from __future__ import annotations

from tests.builders import build, solve_batch
from tests.test_cli import run
from tests.test_explain import TABLES


def test_a_run_compared_with_itself_moves_nothing(tmp_path):
    result = solve_batch(build(tmp_path / "a", **TABLES))
    moved = result.diff(result)
    assert moved.empty and moved.allocations.empty and moved.labor.empty
    assert moved.text().endswith("Nothing moved.")


def test_a_forbid_moves_the_pairing_the_role_and_the_coverage(tmp_path):
    before = solve_batch(build(tmp_path / "a", **TABLES))
    after = solve_batch(build(tmp_path / "b", **TABLES, decisions=[
        {"action": "forbid", "offer_id": "O1", "need_id": "N3"},
        {"action": "forbid", "partner_id": "P1", "role_id": "R1"}]))
    moved = before.diff(after)
    rows = moved.allocations.set_index(["offer_id", "need_id"])
    assert rows.at[("O1", "N3"), "change"] == "removed" and rows.at[("O1", "N3"), "quantity_b"] == 0
    labor = moved.labor.set_index("partner_id")
    assert labor.at["P1", "change"] == "removed" and labor.at["P2", "position_b"] == "lead"
    coverage = moved.coverage.set_index("district_id")
    assert coverage.at["D2", "delta"] < 0
    assert moved.needs.set_index("need_id").at["N3", "change"] == -10
    text = moved.text()
    assert "removed: offer O1 (P1) → N3 (D2, volunteers): 10 → 0" in text
    assert "added: R1 P2: — → lead" in text and "D2:" in text
    assert moved.to_dict()["headline"]["coverage_a"] > moved.to_dict()["headline"]["coverage_b"]


def test_the_diff_command_compares_two_folders(tmp_path):
    a = solve_batch(build(tmp_path / "a", **TABLES)).write(tmp_path / "run_a")
    b = solve_batch(build(tmp_path / "b", **TABLES, decisions=[
        {"action": "forbid", "offer_id": "O1", "need_id": "N3"}])).write(tmp_path / "run_b")
    shown = run("diff", a, b)
    assert shown.exit_code == 0
    assert f"What moved from {a} to {b}: coverage" in shown.output and "O1 (P1) → N3" in shown.output
    assert run("diff", a, tmp_path / "nothing").exit_code == 1
