"""The sparse LP under the relaxations: any row multipliers bound it from above."""
import numpy as np
import pytest

from matcher.sparse_lp import SparseLp, dual_bound


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
