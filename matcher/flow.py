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
from matcher.model import OBJECTIVE_SCALE, scaled
from matcher.result import Status
from matcher.scenario import Scenario
from matcher.terms import coverage_coefficient, coverage_value, need_weights, scaled_coverage_lines


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
    amounts = transportation_amounts(batch, pairs, scenario)
    if amounts is None:
        return PartOutcome(index, Status.MODEL_INVALID, "min-cost-flow", solve_s=time.perf_counter() - started)
    objective, breakdown = cp_sat_objective(batch, pairs, amounts, scenario)
    return PartOutcome(index, Status.OPTIMAL, "min-cost-flow", objective=objective, bound=objective, amounts=amounts,
                       breakdown=breakdown, solve_s=time.perf_counter() - started, variables=len(pairs))


def transportation_amounts(batch: Batch, pairs: pd.DataFrame, scenario: Scenario,
                           km_cost_per_unit: bool = False) -> np.ndarray | None:
    """Amounts per pair maximising coverage minus per-unit cost, with capacities and need sizes only.

    With `km_cost_per_unit`, each pair's travel charge is spread over the units it could carry: the
    relaxation used to warm-start CP-SAT on parts that are not transportation problems.
    """
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
    unit_cost = [scaled(scenario.weights.cost * c) for c in pairs["cost_per_unit"]]
    if km_cost_per_unit:
        km = pairs["distance_km"].where(pairs["resource"] != "money", 0.0)
        unit_cost = [c + scaled(scenario.weights.travel * d) // max(1, int(u))
                     for c, d, u in zip(unit_cost, km, pairs["upper"])]
    pair_arcs = [flow.add_arc_with_capacity_and_unit_cost(offer_node[o], need_node[n], int(u), c)
                 for o, n, u, c in zip(pairs["offer_id"], pairs["need_id"], pairs["upper"], unit_cost)]
    weights = need_weights(batch, scenario)
    quantity = batch.needs.set_index("need_id")["quantity"]
    for need, node in need_node.items():
        for capacity, gain in coverage_arcs(int(quantity[need]), scenario.coverage.segments, weights[need]):
            flow.add_arc_with_capacity_and_unit_cost(node, sink, capacity, -gain)
    flow.add_arc_with_capacity_and_unit_cost(source, sink, total, 0)  # supply left unused
    flow.set_node_supply(source, total)
    flow.set_node_supply(sink, -total)
    if flow.solve() != flow.OPTIMAL:
        return None
    return np.array([flow.flow(arc) for arc in pair_arcs], dtype="int64")


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
    lines = scaled_coverage_lines(scenario.coverage.segments)
    got = pd.Series(amounts, index=pairs["need_id"]).groupby(level=0).sum()
    weights = need_weights(batch, scenario)
    quantity = batch.needs.set_index("need_id")["quantity"]
    coverage = 0
    for need, amount in got.items():
        q = int(quantity[need])
        covered = min((slope * int(amount) + intercept * q) // q for slope, intercept in lines)
        coverage += coverage_coefficient(weights[need]) * covered
    cost = sum(scaled(scenario.weights.cost * c) * int(a) for c, a in zip(pairs["cost_per_unit"], amounts))
    return coverage - cost, {"Coverage": coverage, "Cost": -cost}


WARM_START_PAIRS = 1_000  # parts at least this large start CP-SAT from the transportation relaxation


def warm_start(m) -> bool:
    """Hint CP-SAT with the transportation relaxation's plan, rounded to minimum chunks and whole offers.

    The hint may break rules the relaxation ignores (caps, limits, floors); CP-SAT repairs it. Returns
    whether a hint was given.
    """
    pairs = m.pairs
    if len(pairs) < WARM_START_PAIRS:
        return False
    amounts = transportation_amounts(m.batch, pairs, m.scenario, km_cost_per_unit=True)
    if amounts is None:
        return False
    divisible = pairs["divisible"].to_numpy()
    hinted = np.where(divisible & (amounts >= pairs["min_chunk"].to_numpy()), amounts, 0)
    whole = pd.DataFrame({"offer": pairs["offer_id"], "flow": amounts})[~divisible]
    best = whole[whole["flow"] > 0].sort_values("flow", ascending=False, kind="stable").drop_duplicates("offer")
    chosen = set(best.index)
    for p in range(len(pairs)):
        used = (p in chosen) if not divisible[p] else bool(hinted[p] > 0)
        m.model.add_hint(m.used[p], used)
        if divisible[p]:
            m.model.add_hint(m.amount[p], int(hinted[p]))
    return True
