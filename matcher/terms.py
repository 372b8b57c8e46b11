"""Soft terms of the objective, each weighted by the scenario and returned as a scaled expression to maximise."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ortools.sat.python import cp_model

from matcher.model import COVERAGE_SCALE, OBJECTIVE_SCALE, SHARE_SCALE, AllocationModel, scaled
from matcher.registry import Term, registrar
from matcher.rules import benefit_indicators, dependence_excess, resilience_excess

OBJECTIVE_TERMS: list[Term] = []
objective_term = registrar(OBJECTIVE_TERMS, Term)


def coverage_lines(segments) -> list[tuple[float, float]]:
    """The concave curve f as (slope, intercept) lines; f(r) is the smallest of them at r."""
    lines, start, height = [], 0.0, 0.0
    for upto, slope in segments:
        lines.append((slope, height - slope * start))
        height += slope * (upto - start)
        start = upto
    return lines


def coverage_value(share, segments):
    """f(share) exactly as DESIGN.md defines it: piecewise linear through (0, 0); `share` may be an array."""
    value, start = 0.0, 0.0
    for upto, slope in segments:
        value = value + slope * np.clip(np.minimum(share, upto) - start, 0.0, None)
        start = upto
    return value


def scaled_coverage_lines(segments) -> list[tuple[int, int]]:
    """The lines of f in integer units of 1/COVERAGE_SCALE, rounded down so the model never over-credits."""
    return [(math.floor(COVERAGE_SCALE * s + 1e-9), math.floor(COVERAGE_SCALE * b + 1e-9))
            for s, b in coverage_lines(segments)]


def need_weight_series(batch, scenario) -> pd.Series:
    """coverage weight × need priority × district priority, indexed by need_id."""
    district = batch.districts.set_index("district_id")["priority"]
    priority = batch.needs["priority"].to_numpy(float) * batch.needs["district_id"].map(district).to_numpy(float)
    return pd.Series(scenario.weights.coverage * priority, index=batch.needs["need_id"].to_numpy())


def need_weights(batch, scenario) -> dict[str, float]:
    """`need_weight_series` as a dict, for lookups one need at a time."""
    return need_weight_series(batch, scenario).to_dict()


def coverage_coefficients(weights: np.ndarray) -> np.ndarray:
    """The objective coefficient of one 1/COVERAGE_SCALE unit of coverage of needs worth `weights`."""
    return np.round(np.asarray(weights, dtype=float) * OBJECTIVE_SCALE / COVERAGE_SCALE).astype("int64")


def coverage_coefficient(weight: float) -> int:
    """`coverage_coefficients` for one need."""
    return int(coverage_coefficients(np.array([weight]))[0])


@objective_term("Coverage")
def coverage(m: AllocationModel) -> cp_model.LinearExpr:
    """Priority-weighted share of each need met, with diminishing returns (half of two needs beats all of one)."""
    segments = m.scenario.coverage.segments
    lines = scaled_coverage_lines(segments)
    top = math.ceil(COVERAGE_SCALE * coverage_value(1.0, segments))
    weights = need_weights(m.batch, m.scenario)
    positions_by_need = m.pairs_by("need_id")
    terms = []
    for need in m.batch.needs.itertuples(index=False):
        positions = positions_by_need.get(need.need_id)
        if not positions:
            continue
        covered = m.model.new_int_var(0, top, f"coverage[{need.need_id}]")
        credited, quantity = m.credited(positions), m.credit_scale * int(need.quantity)
        for slope, intercept in lines:
            m.model.add(quantity * covered <= slope * credited + intercept * quantity)
        terms.append(coverage_coefficient(weights[need.need_id]) * covered)
    return sum(terms, cp_model.LinearExpr.constant(0))


@objective_term("Travel")
def travel(m: AllocationModel) -> cp_model.LinearExpr:
    """Fewer miles: each pairing of people or places costs the km from the partner's home to the district.

    Money does not travel, so money pairings cost no km.
    """
    weight = m.scenario.weights.travel
    km = travel_km(m.pairs)
    return -sum((scaled(weight * d) * m.used[p] for p, d in enumerate(km) if d > 0),
                cp_model.LinearExpr.constant(0))


def travel_km(pairs: pd.DataFrame) -> pd.Series:
    """The km each pairing travels: from the partner's home to the district, 0 for money."""
    return pairs["distance_km"].where(pairs["resource"] != "money", 0.0)


@objective_term("Cost")
def cost(m: AllocationModel) -> cp_model.LinearExpr:
    """Fewer dollars: what the coalition pays per unit allocated."""
    weight = m.scenario.weights.cost
    return -sum((scaled(weight * c) * m.amount[p] for p, c in enumerate(m.pairs["cost_per_unit"]) if c > 0),
                cp_model.LinearExpr.constant(0))


@objective_term("Member benefit")
def member_benefit(m: AllocationModel) -> cp_model.LinearExpr:
    """Every member benefits: with policy.min_benefit = "soft", a penalty per partner left without benefit."""
    if m.scenario.policy.min_benefit != "soft":
        return cp_model.LinearExpr.constant(0)
    indicators = benefit_indicators(m)
    weight = scaled(m.scenario.weights.benefit)
    return weight * sum(indicators.values(), cp_model.LinearExpr.constant(0)) - weight * len(indicators)


@objective_term("Pooling")
def pooling(m: AllocationModel) -> cp_model.LinearExpr:
    """Complementary resources (volunteers and an office) from different partners meeting in one district."""
    weight = m.scenario.weights.pooling
    if weight == 0:
        return cp_model.LinearExpr.constant(0)
    priority = m.batch.districts.set_index("district_id")["priority"]
    bonus = []
    for district, positions in m.pairs_by("district_id").items():
        for first, second in m.scenario.pooling.pairs:
            brings = {r: _brings(m, district, positions, r) for r in (first, second)}
            if not brings[first] or not brings[second]:
                continue
            pooled = m.model.new_bool_var(f"pooled[{district},{first},{second}]")
            counts = {r: sum(brings[r].values()) for r in (first, second)}
            m.model.add(pooled <= counts[first])
            m.model.add(pooled <= counts[second])
            for partner in sorted(brings[first].keys() & brings[second].keys()):
                m.model.add(pooled <= counts[first] - brings[first][partner] + counts[second] - brings[second][partner])
            bonus.append(scaled(weight * priority[district]) * pooled)
    return sum(bonus, cp_model.LinearExpr.constant(0))


def _brings(m: AllocationModel, district: str, positions: list[int], resource: str) -> dict:
    """Per partner that can bring `resource` to `district`, a 0/1 variable: it does."""
    resources = m.pairs["resource"].to_numpy()
    partners = m.pairs["partner_id"].to_numpy()
    by_partner: dict[str, list] = {}
    for p in positions:
        if resources[p] == resource:
            by_partner.setdefault(partners[p], []).append(m.used[p])
    brings = {}
    for partner, used in by_partner.items():
        flag = m.model.new_bool_var(f"brings[{district},{partner},{resource}]")
        m.model.add_max_equality(flag, used)
        brings[partner] = flag
    return brings


@objective_term("Offer fairness")
def offer_fairness(m: AllocationModel) -> cp_model.LinearExpr:
    """Workload in proportion to capacity: a penalty on the largest share of its offers any partner gives."""
    weight = m.scenario.weights.fairness
    if weight == 0 or m.pairs.empty:
        return cp_model.LinearExpr.constant(0)
    offers_per_partner = m.batch.offers.groupby("partner_id").size()
    largest = m.model.new_int_var(0, SHARE_SCALE, "largest_offer_share")
    quantity = m.pairs["offer_quantity"].to_numpy()
    for partner, positions in m.pairs_by("partner_id").items():
        count = int(offers_per_partner[partner])
        share = sum(round(SHARE_SCALE / (quantity[p] * count)) * m.amount[p] for p in positions)
        m.model.add(largest >= share)
    return -round(scaled(weight) / SHARE_SCALE) * largest


@objective_term("Dependence")
def dependence(m: AllocationModel) -> cp_model.LinearExpr:
    """No weak links: with policy.dependence = "soft", a penalty per need-share above the dependence cap."""
    if m.scenario.policy.dependence != "soft":
        return cp_model.LinearExpr.constant(0)
    return -_penalised_excess(m, dependence_excess(m), m.scenario.weights.dependence, "dependence")


@objective_term("Resilience")
def resilience(m: AllocationModel) -> cp_model.LinearExpr:
    """N-1: with policy.resilience = "soft", a penalty per need-share a district would lose beyond its target."""
    if m.scenario.policy.resilience != "soft":
        return cp_model.LinearExpr.constant(0)
    return -_penalised_excess(m, resilience_excess(m), m.scenario.weights.resilience, "resilience")


def _penalised_excess(m: AllocationModel, excess: dict, weight: float, label: str) -> cp_model.LinearExpr:
    """Σ weight × max(0, e/k) over the (k, e) excesses, each e/k a need-share in 1/SHARE_SCALE."""
    penalty = []
    for key, (multiplier, expression) in excess.items():
        over = m.model.new_int_var(0, SHARE_SCALE * 10_000, f"{label}_over[{','.join(key)}]")
        m.model.add(multiplier * over >= expression)
        penalty.append(over)
    return round(scaled(weight) / SHARE_SCALE) * sum(penalty, cp_model.LinearExpr.constant(0))
