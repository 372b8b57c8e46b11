"""The sparse LP under the relaxations: any row multipliers bound it from above; whole columns at SCIP's root
or in HiGHS's search bound it more tightly."""
import numpy as np
import pytest

from matcher.sparse_lp import SparseLp, dual_bound, search_bound, solve_root


def test_any_multipliers_bound_the_lp_from_above():
    # max x + 2y  with  x + y ≤ 1,  x − y ≥ −0.5,  0 ≤ x, y ≤ 1: optimum 1.75 at x = 0.25, y = 0.75.
    lp = SparseLp()
    x, y = lp.columns(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    lp.rows(np.array([0, 0, 1, 1]), np.array([x, y, x, y]), np.array([1.0, 1.0, 1.0, -1.0]), [-np.inf, -0.5],
            [1.0, np.inf])
    values, bound = lp.solve(10.0)
    assert values[[x, y]] == pytest.approx([0.25, 0.75]) and bound == pytest.approx(1.75)
    rng = np.random.default_rng(0)
    arrays = lp.arrays()
    for _ in range(200):
        assert dual_bound(*arrays, rng.normal(size=2) * 3) >= 1.75 - 1e-9


def knapsack() -> tuple[SparseLp, np.ndarray]:
    """max 5a + 4b + 3c  with  2a + 2b + 2c ≤ 3: the LP takes a and half of b (7), whole columns only a (5)."""
    lp = SparseLp()
    columns = lp.columns(np.array([5.0, 4.0, 3.0]), np.ones(3))
    lp.rows(np.zeros(3, dtype=int), columns, np.full(3, 2.0), [-np.inf], [3.0])
    return lp, columns


def test_whole_columns_at_the_root_bound_tighter_than_the_lp():
    lp, columns = knapsack()
    assert lp.solve(10.0)[1] == pytest.approx(7.0)
    root = solve_root(lp, columns, 10.0)
    assert root.values[columns].tolist() == pytest.approx([1.0, 0.0, 0.0]) and root.objective == pytest.approx(5.0)
    assert 5.0 <= root.bound <= 5.0 + 1e-3  # widened by its margin only
    assert lp.solve(10.0)[1] == pytest.approx(7.0)  # the root leaves the LP's columns as they were


def test_whole_columns_in_highs_search_bound_tighter_than_the_lp():
    lp, columns = knapsack()
    assert 5.0 <= search_bound(lp, columns, 10.0) <= 5.0 + 1e-3


def test_a_root_that_cannot_end_in_its_time_gives_nothing():
    lp, columns = knapsack()
    assert solve_root(lp, columns, 1e-6) is None
