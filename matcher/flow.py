"""Parts that are pure transportation problems, solved exactly by OR-Tools min-cost flow.

A part qualifies when every offer is divisible in single units, no rule reads more than one pair
(no floors, decisions, conflicts, limits, caps, roles, policies), and no term charges per pairing
(travel is zero on every pair). Then the concave coverage curve becomes parallel need → sink arcs
with decreasing per-unit gains, a min-cost flow fills the best arcs first, and its integral optimum
is the part's optimum. The objective is reported in CP-SAT's units, from the flow's amounts.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
from ortools.graph.python import min_cost_flow

from matcher.batch import Batch
from matcher.model import COVERAGE_SCALE, OBJECTIVE_SCALE, scaled
from matcher.result import Status
from matcher.scenario import Scenario
from matcher.terms import coverage_lines, coverage_value


def is_transportation(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> bool:
    """True when the part has nothing but capacities, need sizes, coverage and per-unit cost."""
    policy, weights = scenario.policy, scenario.weights
    no_km = (pairs["distance_km"] == 0) | (pairs["resource"] == "money")
    travel_free = weights.travel == 0 or bool(no_km.all())
    capped = [k for k, cap in scenario.legal.caps_usd.items() if cap > 0]
    kinds = pairs["partner_id"].map(batch.partners.set_index("partner_id")["kind"])
    return bool(
        scenario.solver.flow and len(pairs) > 0 and travel_free
        and batch.roles.empty and batch.decisions.empty and batch.conflicts.empty
        and pairs["divisible"].all() and (pairs["min_chunk"] == 1).all()
        and not (batch.needs["floor"] > 0).any() and batch.partners["max_districts"].isna().all()
        and not (pairs["candidate"].notna() & (pairs["contribution_per_unit"] > 0) & kinds.isin(capped)).any()
        and policy.reliability == "nominal" and policy.dependence == "off" and policy.resilience == "off"
        and (policy.min_benefit == "off" or not any(batch.partners["preferred_districts"].map(len)))
        and (weights.pooling == 0 or pairs["resource"].nunique() == 1)
        and weights.fairness == 0 and scenario.solver.mode == "weighted"
    )


def solve_by_flow(index: int, batch: Batch, pairs: pd.DataFrame, scenario: Scenario):
    """The exact optimum of a transportation part, as a PartOutcome."""
    from matcher.solve import PartOutcome

    started = time.perf_counter()
    offers = pd.Index(pairs["offer_id"].unique())
    needs = pd.Index(pairs["need_id"].unique())
    source, sink = 0, 1 + len(offers) + len(needs)
    offer_node = {o: 1 + i for i, o in enumerate(offers)}
    need_node = {n: 1 + len(offers) + i for i, n in enumerate(needs)}
    flow = min_cost_flow.SimpleMinCostFlow()
    supply = pairs.drop_duplicates("offer_id").set_index("offer_id")["offer_quantity"]
    total = int(supply.sum())
    for offer, node in offer_node.items():
        flow.add_arc_with_capacity_and_unit_cost(source, node, int(supply[offer]), 0)
    pair_arcs = [flow.add_arc_with_capacity_and_unit_cost(offer_node[o], need_node[n], int(u),
                                                          scaled(scenario.weights.cost * c))
                 for o, n, u, c in zip(pairs["offer_id"], pairs["need_id"], pairs["upper"], pairs["cost_per_unit"])]
    weights = need_weights(batch, scenario)
    for need, node in need_node.items():
        quantity = int(batch.needs.loc[batch.needs["need_id"] == need, "quantity"].iloc[0])
        for capacity, gain in coverage_arcs(quantity, scenario.coverage.segments, weights[need]):
            flow.add_arc_with_capacity_and_unit_cost(node, sink, capacity, -gain)
    flow.add_arc_with_capacity_and_unit_cost(source, sink, total, 0)  # supply left unused
    flow.set_node_supply(source, total)
    flow.set_node_supply(sink, -total)
    if flow.solve() != flow.OPTIMAL:
        return PartOutcome(index, Status.MODEL_INVALID, "min-cost-flow", solve_s=time.perf_counter() - started)
    amounts = np.array([flow.flow(arc) for arc in pair_arcs], dtype="int64")
    objective, breakdown = cp_sat_objective(batch, pairs, amounts, scenario)
    return PartOutcome(index, Status.OPTIMAL, "min-cost-flow", objective=objective, bound=objective, amounts=amounts,
                       breakdown=breakdown, solve_s=time.perf_counter() - started, variables=len(pair_arcs))


def need_weights(batch: Batch, scenario: Scenario) -> dict[str, float]:
    """coverage weight × need priority × district priority, per need."""
    district = batch.districts.set_index("district_id")["priority"]
    return {n: scenario.weights.coverage * p * district[d]
            for n, p, d in zip(batch.needs["need_id"], batch.needs["priority"], batch.needs["district_id"])}


def coverage_arcs(quantity: int, segments, weight: float) -> list[tuple[int, int]]:
    """(capacity, gain per unit in 1/OBJECTIVE_SCALE) arcs tracing weight × f in whole units; gains decrease.

    Units inside one segment share its slope; a unit that straddles a breakpoint gets an arc of its own.
    """
    arcs: list[tuple[int, int]] = []
    start = 0
    for upto, _ in segments:
        end = math.floor(upto * quantity)
        if end > start:
            gain = weight * (coverage_value(end / quantity, segments) - coverage_value(start / quantity, segments))
            arcs.append((end - start, round(gain * OBJECTIVE_SCALE / (end - start))))
            start = end
        if start < quantity and upto * quantity > start:
            gain = weight * (coverage_value((start + 1) / quantity, segments)
                             - coverage_value(start / quantity, segments))
            arcs.append((1, round(gain * OBJECTIVE_SCALE)))
            start += 1
    return arcs


def cp_sat_objective(batch: Batch, pairs: pd.DataFrame, amounts: np.ndarray, scenario: Scenario):
    """The objective CP-SAT would report for these amounts, in its integer units, with the term breakdown."""
    lines = [(math.floor(COVERAGE_SCALE * s + 1e-9), math.floor(COVERAGE_SCALE * b + 1e-9))
             for s, b in coverage_lines(scenario.coverage.segments)]
    got = pd.Series(amounts, index=pairs["need_id"]).groupby(level=0).sum()
    weights = need_weights(batch, scenario)
    quantity = batch.needs.set_index("need_id")["quantity"]
    coverage = 0
    for need, amount in got.items():
        q = int(quantity[need])
        covered = min((slope * int(amount) + intercept * q) // q for slope, intercept in lines)
        coverage += round(weights[need] * OBJECTIVE_SCALE / COVERAGE_SCALE) * covered
    cost = sum(scaled(scenario.weights.cost * c) * int(a) for c, a in zip(pairs["cost_per_unit"], amounts))
    return coverage - cost, {"Coverage": coverage, "Cost": -cost}
