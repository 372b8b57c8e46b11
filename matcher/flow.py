"""Parts that are pure transportation problems, solved exactly by OR-Tools min-cost flow.

A part qualifies when every offer is divisible in single units, no rule reads more than one pair
(no floors, decisions, conflicts, limits, caps, roles, policies), and no term charges per pairing
(travel is zero on every pair). Then the concave coverage curve becomes parallel need → sink arcs
with decreasing per-unit gains, a min-cost flow fills the best arcs first, and its integral optimum
is the part's optimum. The objective is reported in CP-SAT's units, from the flow's amounts.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matcher.batch import Batch
from matcher.decompose import legally_capped
from matcher.flow_network import PairArcs, network_amounts, renumbered
from matcher.model import COVERAGE_SCALE, OBJECTIVE_SCALE
from matcher.result import Status
from matcher.scenario import Scenario
from matcher.terms import (coverage_coefficients, coverage_value, need_weight_series, scaled_coverage_lines,
                           travel_km)


def is_transportation(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> bool:
    """True when the part has nothing but capacities, need sizes, coverage and per-unit cost.

    The whole-table checks come first and the per-pair ones last, each only if all before it passed: on
    a transportation part they are all paid, and count in its solve time.
    """
    policy, weights = scenario.policy, scenario.weights
    return bool(
        scenario.solver.flow and len(pairs) > 0 and scenario.solver.mode == "weighted" and weights.fairness == 0
        and batch.roles.empty and batch.decisions.empty and batch.conflicts.empty
        and policy.reliability == "nominal" and policy.dependence == "off" and policy.resilience == "off"
        and (policy.min_benefit == "off" or not any(batch.partners["preferred_districts"].map(len)))
        and not (batch.needs["floor"] > 0).any() and batch.partners["max_districts"].isna().all()
        and pairs["divisible"].all() and (pairs["min_chunk"] == 1).all()
        and (weights.pooling == 0 or pairs["resource"].nunique() == 1)
        and (weights.travel == 0 or bool((travel_km(pairs) == 0).all()))
        and legally_capped(pairs, scenario, batch).empty
    )


def solve_by_flow(index: int, batch: Batch, pairs: pd.DataFrame, scenario: Scenario):
    """The exact optimum of a transportation part, as a PartOutcome."""
    from matcher.solve import PartOutcome

    started = time.perf_counter()
    numbers = PartNumbers.of(batch, pairs, scenario)
    solved = numbers.optimum(scenario.coverage.segments)
    if solved is None:
        return PartOutcome(index, Status.MODEL_INVALID, "min-cost-flow", solve_s=time.perf_counter() - started)
    amounts = solved[0]
    objective, breakdown = numbers.cp_sat_objective(amounts, scenario.coverage.segments)
    return PartOutcome(index, Status.OPTIMAL, "min-cost-flow", objective=objective, bound=objective, amounts=amounts,
                       breakdown=breakdown, solve_s=time.perf_counter() - started, variables=len(pairs))


def transportation_amounts(batch: Batch, pairs: pd.DataFrame, scenario: Scenario,
                           km_cost_per_unit: bool = False) -> np.ndarray | None:
    """Amounts per pair maximising coverage minus per-unit cost, with capacities and need sizes only.

    With `km_cost_per_unit`, each pair's travel charge is spread over the units it could carry: the
    relaxation used to warm-start CP-SAT on parts that are not transportation problems. Offers and
    needs of different resources never meet, so each resource is its own, smaller network.
    """
    solved = transportation_optimum(batch, pairs, scenario, km_cost_per_unit)
    return None if solved is None else solved[0]


def transportation_optimum(batch: Batch, pairs: pd.DataFrame, scenario: Scenario,
                           km_cost_per_unit: bool = False) -> tuple[np.ndarray, int] | None:
    """`transportation_amounts` and the flow's optimal value (arc gains less unit costs, in 1/OBJECTIVE_SCALE)."""
    return PartNumbers.of(batch, pairs, scenario, km_cost_per_unit).optimum(scenario.coverage.segments)


@dataclass(frozen=True)
class PartNumbers:
    """A part's pairs and needs as arrays, looked up once for all its flows and its objective.

    Offers and needs of different resources never meet, so each resource gets its own network: apart,
    the state batch's four flows took 117 ms against 149 ms as one network (before `ClassNetwork`), and
    looking the numbers up per resource cost the city batch (906 pairs) more than its flows did.
    """

    arcs: PairArcs  # per pair, with codes into `supply` and `quantity`/`weight`
    resource: np.ndarray  # per pair, the resource's code
    supply: np.ndarray  # per offer code
    quantity: np.ndarray  # per need code
    weight: np.ndarray  # per need code

    @classmethod
    def of(cls, batch: Batch, pairs: pd.DataFrame, scenario: Scenario, km_cost_per_unit: bool = False) -> PartNumbers:
        """With `km_cost_per_unit`, each pair's travel charge is spread over the units it could carry."""
        offers, offer_codes = renumbered_column(pairs["offer_code"])
        needs, need_codes = renumbered_column(pairs["need_code"])
        supply, quantity = np.zeros(len(offers), dtype="int64"), np.zeros(len(needs), dtype="int64")
        supply[offer_codes] = pairs["offer_quantity"].to_numpy("int64")
        quantity[need_codes] = pairs["need_quantity"].to_numpy("int64")
        pair_of_offer, pair_of_need = np.empty(len(offers), dtype="int64"), np.empty(len(needs), dtype="int64")
        pair_of_offer[offer_codes] = np.arange(len(pairs))  # one pair per offer: its resource is the offer's
        pair_of_need[need_codes] = np.arange(len(pairs))  # and per need: its need_id
        resources = pd.factorize(pairs["resource"].to_numpy()[pair_of_offer], sort=True)[0]
        unit_cost = scaled_array(scenario.weights.cost * pairs["cost_per_unit"].to_numpy(float))
        upper = pairs["upper"].to_numpy("int64")
        if km_cost_per_unit:
            km = travel_km(pairs).to_numpy(float)
            unit_cost = unit_cost + scaled_array(scenario.weights.travel * km) // np.maximum(1, upper)
        weight = need_weight_series(batch, scenario).loc[pairs["need_id"].to_numpy()[pair_of_need]].to_numpy(float)
        return cls(PairArcs(offer_codes, need_codes, upper, unit_cost), resources[offer_codes], supply, quantity,
                   weight)

    def optimum(self, segments) -> tuple[np.ndarray, int] | None:
        """Amounts per pair and the flows' value, one network per resource; None if a flow is not solved."""
        amounts = np.zeros(len(self.resource), dtype="int64")
        value = 0
        for resource in range(int(self.resource.max(initial=-1)) + 1):
            positions = np.flatnonzero(self.resource == resource)
            found = network_amounts(self.arcs.take(positions), self.supply, self.quantity, self.weight, segments)
            if found is None:
                return None
            amounts[positions], gained = found
            value += gained
        return amounts, value

    def cp_sat_objective(self, amounts: np.ndarray, segments) -> tuple[int, dict[str, int]]:
        """The objective CP-SAT would report for these amounts, in its integer units, with the term breakdown:
        its coverage is floored per need, which the flow's per-unit gains are not. For numbers made without
        `km_cost_per_unit`, whose unit costs are the model's."""
        amount = np.bincount(self.arcs.need, weights=amounts, minlength=len(self.quantity)).astype("int64")
        q = self.quantity
        lines = scaled_coverage_lines(segments)
        covered = np.min([(slope * amount + intercept * q) // q for slope, intercept in lines], axis=0)
        coverage = int(np.dot(coverage_coefficients(self.weight), covered))
        cost = int(np.dot(self.arcs.unit_cost, np.asarray(amounts, dtype="int64")))
        return coverage - cost, {"Coverage": coverage, "Cost": -cost}


def renumbered_column(codes: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """`flow_network.renumbered` for a column of non-negative integer codes."""
    values = codes.to_numpy("int64")
    return renumbered(values, int(values.max(initial=-1)) + 1)


def scaled_array(values: np.ndarray) -> np.ndarray:
    """`matcher.model.scaled` for a whole array: coefficients in integer units of 1/OBJECTIVE_SCALE."""
    return np.round(values * OBJECTIVE_SCALE).astype("int64")


def relaxation_bound(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> int | None:
    """An upper bound on a pairings-only part's objective (in 1/OBJECTIVE_SCALE): `flow_relaxation`'s."""
    relaxed = flow_relaxation(batch, pairs, scenario)
    return None if relaxed is None else relaxed[1]


def flow_relaxation(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> tuple[np.ndarray, int] | None:
    """The flow relaxation's amounts per pair, and the upper bound on the part's objective (in
    1/OBJECTIVE_SCALE) they give.

    Every hard rule is dropped, each pairing's travel is spread over the units it could carry (never
    more than it costs), the reliability discount is ignored, pooling counts in every district where
    both resources could meet, and the penalty terms count 0: each change can only raise the best
    value, so the flow's optimum plus these is at least the model's. `rounding_slack` covers the
    model's integer rounding. None where it does not apply: roles in the part (their terms are not in
    the flow) or lexicographic solving (another objective).
    """
    if len(batch.roles) or scenario.solver.mode != "weighted" or pairs.empty:
        return None
    solved = transportation_optimum(batch, pairs, scenario, km_cost_per_unit=True)
    if solved is None:
        return None
    amounts, value = solved
    return amounts, value + pooling_ceiling(batch, pairs, scenario) + rounding_slack(batch, pairs, scenario)


def pooling_ceiling(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> int:
    """The pooling term if every district where both resources of a pooling pair could arrive were pooled."""
    weight = scenario.weights.pooling
    if weight == 0:
        return 0
    priority = batch.districts.set_index("district_id")["priority"]
    arriving = pairs.groupby("district_id")["resource"].agg(set)
    return sum(round(weight * priority[district] * OBJECTIVE_SCALE)
               for district, resources in arriving.items()
               for first, second in scenario.pooling.pairs if first in resources and second in resources)


def rounding_slack(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> int:
    """What the model's integer coverage can exceed the flow's per-unit gains by, summed over the needs.

    Per need: the coverage coefficient is rounded to the nearest unit (½ × COVERAGE_SCALE × f(1)),
    and each flow arc's per-unit gain to the nearest unit (½ per unit of the need).
    """
    needs = batch.needs[batch.needs["need_id"].isin(pairs["need_id"])]
    top = coverage_value(1.0, scenario.coverage.segments)
    return int(np.ceil((0.5 * COVERAGE_SCALE * top + 1) * len(needs) + 0.5 * needs["quantity"].sum()))
