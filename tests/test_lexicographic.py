"""Lexicographic mode: rank the terms, solve for the first, hold it within a tolerance, then the next."""
from __future__ import annotations

import pytest

import matcher
from tests.builders import build, solve_batch
from tests.test_allocation_rules import need, offer
from tests.test_coalition_rules import partner

FAR_ONLY = "[weights]\ntravel = 1.0\n"  # travel so heavy that the weighted plan gives up the far need


def far_batch(tmp_path):
    """P2 lives in D2; its 10 hours can only serve D1's need, 11 km away."""
    return build(tmp_path, partners=[partner("P1"), partner("P2", home="D2")],
                 offers=[offer("O1", 10, partner="P2", reach="adjacent")], needs=[need("N1", 10)], scenario=FAR_ONLY)


def test_weighted_mode_trades_coverage_for_travel(tmp_path):
    weighted = solve_batch(far_batch(tmp_path), {"weights.travel": 1.0})
    assert weighted.allocations.empty


def test_lexicographic_mode_puts_coverage_first(tmp_path):
    ranked = solve_batch(far_batch(tmp_path), {"weights.travel": 1.0, "solver.mode": "lexicographic",
                                               "lexicographic.order": ["coverage", "travel"]})
    assert ranked.allocations["quantity"].sum() == 10
    assert ranked.status is matcher.Status.OPTIMAL
    assert [stage["term"] for stage in ranked.stages] == ["coverage", "travel"]
    assert ranked.stages[0]["value"] == pytest.approx(ranked.coverage, abs=1e-3)


def test_lexicographic_tolerance_lets_later_terms_take_some_of_the_first(tmp_path):
    """P1 at home can give 9 of N1's 10 hours; the 10th needs P2 from 11 km away."""
    def batch(folder):
        return build(folder, partners=[partner("P1"), partner("P2", home="D2")], scenario=FAR_ONLY,
                     offers=[offer("O1", 9), offer("O2", 10, partner="P2", reach="adjacent")], needs=[need("N1", 10)])
    settings = {"weights.travel": 1.0, "solver.mode": "lexicographic", "lexicographic.order": ["coverage", "travel"]}
    strict = solve_batch(batch(tmp_path / "a"), settings)
    loose = solve_batch(batch(tmp_path / "b"), {**settings, "lexicographic.tolerance": 0.1})
    assert "P2" in set(strict.allocations["partner_id"])  # the 10th hour must come from afar
    assert set(loose.allocations["partner_id"]) == {"P1"}
    assert strict.coverage * 0.9 <= loose.coverage < strict.coverage


def test_an_unknown_term_in_the_order_is_an_input_error(tmp_path):
    with pytest.raises(matcher.InputError, match="'coverag' is not a term"):
        solve_batch(far_batch(tmp_path), {"solver.mode": "lexicographic", "lexicographic.order": ["coverag"]})
