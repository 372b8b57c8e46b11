"""Soft terms of the objective, each weighted by the scenario and returned as a scaled expression to maximise."""
from __future__ import annotations

import math

from ortools.sat.python import cp_model

from matcher.model import COVERAGE_SCALE, OBJECTIVE_SCALE, AllocationModel, scaled
from matcher.registry import Term, registrar

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


def coverage_value(share: float, segments) -> float:
    """f(share) exactly as DESIGN.md defines it: piecewise linear through (0, 0)."""
    value, start = 0.0, 0.0
    for upto, slope in segments:
        value += slope * max(0.0, min(share, upto) - start)
        start = upto
    return value


@objective_term("Coverage")
def coverage(m: AllocationModel) -> cp_model.LinearExpr:
    """Priority-weighted share of each need met, with diminishing returns (half of two needs beats all of one)."""
    segments = m.scenario.coverage.segments
    lines = [(math.floor(COVERAGE_SCALE * s + 1e-9), math.floor(COVERAGE_SCALE * b + 1e-9))
             for s, b in coverage_lines(segments)]
    top = math.ceil(COVERAGE_SCALE * coverage_value(1.0, segments))
    district_priority = m.batch.districts.set_index("district_id")["priority"]
    weight = m.scenario.weights.coverage
    positions_by_need = m.pairs_by("need_id")
    terms = []
    for need in m.batch.needs.itertuples(index=False):
        positions = positions_by_need.get(need.need_id)
        if not positions:
            continue
        covered = m.model.new_int_var(0, top, f"coverage[{need.need_id}]")
        amount = m.need_amount(positions)
        for slope, intercept in lines:
            m.model.add(int(need.quantity) * covered <= slope * amount + intercept * int(need.quantity))
        value = weight * need.priority * district_priority[need.district_id]
        terms.append(round(value * OBJECTIVE_SCALE / COVERAGE_SCALE) * covered)
    return sum(terms, cp_model.LinearExpr.constant(0))


@objective_term("Travel")
def travel(m: AllocationModel) -> cp_model.LinearExpr:
    """Fewer miles: each pairing used costs the km from the partner's home to the need's district."""
    weight = m.scenario.weights.travel
    return -sum((scaled(weight * km) * m.used[p] for p, km in enumerate(m.pairs["distance_km"]) if km > 0),
                cp_model.LinearExpr.constant(0))


@objective_term("Cost")
def cost(m: AllocationModel) -> cp_model.LinearExpr:
    """Fewer dollars: what the coalition pays per unit allocated."""
    weight = m.scenario.weights.cost
    return -sum((scaled(weight * c) * m.amount[p] for p, c in enumerate(m.pairs["cost_per_unit"]) if c > 0),
                cp_model.LinearExpr.constant(0))
