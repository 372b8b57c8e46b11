"""The GAP benchmark on tiny instances: the conversion to a batch is exact in both senses, and the run works."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from benchmarks import gap
from benchmarks.__main__ import main


def tiny(sense: str) -> gap.Instance:
    costs = np.array([[12, 5, 40], [7, 30, 9]])
    uses = np.array([[4, 3, 5], [2, 6, 4]])
    capacity = np.array([8, 7])
    values = [costs[a, range(3)].sum() for a in itertools.product(range(2), repeat=3)
              if all(uses[a, range(3)][np.array(a) == i].sum() <= capacity[i] for i in range(2))]
    known = max(values) if sense == "max" else min(values)
    return gap.Instance("tiny", "tiny", sense, int(known), "optimal", costs, uses, capacity)


@pytest.mark.parametrize("sense", ["max", "min"])
def test_matcher_labor_model_solves_a_tiny_gap_exactly(sense):
    instance = tiny(sense)
    found = gap.solve_matcher(instance, time_limit_s=5, workers=1)
    assert (found.value, found.bound, found.feasible) == (instance.known, instance.known, True)
    assert found.status == "optimal"
    assert gap.solve_cpsat(instance, 5, 1).value == gap.solve_highs(instance, 5).value == instance.known


@pytest.mark.parametrize("sense", ["max", "min"])
def test_strengths_are_positive_and_scaled_into_range_by_a_power_of_ten(sense):
    instance = tiny(sense)
    values, divisor = gap.strengths(instance)
    expected = instance.costs if sense == "max" else instance.costs.max() + 1 - instance.costs
    assert (values == expected).all() and (values > 0).all()
    assert divisor == 10 and values.max() / divisor <= 10 < values.max()


def test_run_on_one_orlibrary_instance(tmp_path):
    try:
        gap.find_data()
    except SystemExit:
        pytest.skip("GAP instances are not available here")
    out = tmp_path / "gap.json"
    code = main(["gap", "--only", "c515-1", "--time-limit", "5", "--workers", "1", "--out", str(out)])
    results = json.loads(out.read_text())["results"]
    assert code == 0
    assert {(r["solver"], r["value"], r["feasible"]) for r in results} == {
        ("matcher", 336, True), ("cpsat", 336, True), ("highs", 336, True)}
