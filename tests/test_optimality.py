"""The solver's plans are optimal: checked against brute force over every allocation of small random batches.

The brute force shares no code with matcher: eligibility, the hard rules and the objective (coverage as
DESIGN.md defines it, minus travel weight × km per pairing used, minus cost weight × usd) are written
out again here from DESIGN.md. Distances are neighbour steps × km_per_hop (the districts have no
coordinates) along a chain D1 – D2 – D3.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import pytest

import matcher
from tests.builders import build, design_coverage, solve_batch

SEEDS = range(40)
TOLERANCE = 1e-3
DISTRICTS = ("D1", "D2", "D3")
KM_PER_HOP = 10.0
SKILLS = ("any", "any", "canvassing", "phone_banking")
DATES = ("", "", "2026-09-01", "2026-10-01", "2026-11-01")


@dataclass(frozen=True)
class Scenario:
    segments: tuple[tuple[float, float], ...]
    travel: float
    cost: float


def random_batch(seed: int) -> dict:
    """Rows for a batch of 2–3 offers and 2–3 needs of one resource, with quantities of at most 4."""
    rng = random.Random(seed)
    partners = [{"partner_id": f"P{i}", "home_district": rng.choice(DISTRICTS)} for i in range(1, 3)]
    districts = [{"district_id": d, "priority": rng.choice([1.0, 1.0, 2.0]),
                  "neighbors": DISTRICTS[i + 1] if i + 1 < len(DISTRICTS) else ""}
                 for i, d in enumerate(DISTRICTS)]
    offers = []
    for i in range(1, rng.randint(2, 3) + 1):
        quantity = rng.randint(1, 4)
        reach = rng.choice(["home", "adjacent", "any", "any", "listed"])
        start, end = sorted([rng.choice(DATES), rng.choice(DATES)], key=lambda d: d or "0")
        offers.append({
            "offer_id": f"O{i}", "partner_id": rng.choice(partners)["partner_id"], "resource": "volunteers",
            "skill": rng.choice(SKILLS), "quantity": quantity, "reach": reach,
            "districts": ";".join(rng.sample(DISTRICTS, 2)) if reach == "listed" else "",
            "divisible": rng.choice(["true", "true", "false"]), "min_chunk": rng.choice([1, 1, 2, 3]),
            "cost_per_unit": rng.choice([0, 0, 1, 5]),
            "available_from": start if rng.random() < 0.5 else "", "available_to": end,
        })
    needs = []
    for i in range(1, rng.randint(2, 3) + 1):
        quantity = rng.randint(1, 4)
        start, end = sorted([rng.choice(DATES), rng.choice(DATES)], key=lambda d: d or "9")
        needs.append({
            "need_id": f"N{i}", "district_id": rng.choice(DISTRICTS), "resource": "volunteers",
            "skill": rng.choice(SKILLS), "quantity": quantity, "priority": rng.choice([0.5, 1.0, 1.5, 2.0]),
            "floor": rng.randint(1, quantity) if rng.random() < 0.25 else 0,
            "needed_from": start, "needed_to": end if rng.random() < 0.5 else "",
        })
    segments = rng.choice([[[0.5, 1.0], [1.0, 0.5]], [[1.0, 1.0]], [[0.25, 2.0], [0.75, 1.0], [1.0, 0.25]]])
    scenario = (f"[coverage]\nsegments = {segments}\n[travel]\nkm_per_hop = {KM_PER_HOP}\n"
                f"[weights]\ntravel = {rng.choice([0.001, 0.01, 0.05])}\ncost = {rng.choice([0.0001, 0.01])}\n")
    return {"partners": partners, "districts": districts, "offers": offers, "needs": needs, "scenario": scenario}


# The independent model ------------------------------------------------------------------------------------

def hops(a: str, b: str) -> int:
    return abs(DISTRICTS.index(a) - DISTRICTS.index(b))


def eligible(o: dict, n: dict, home: str) -> bool:
    """DESIGN.md: resource, skill (`any` on either side), reach, and windows that share a day."""
    if o["resource"] != n["resource"]:
        return False
    if "any" not in (o["skill"], n["skill"]) and o["skill"] != n["skill"]:
        return False
    district = n["district_id"]
    reach = {"home": district == home, "adjacent": hops(home, district) <= 1, "any": True,
             "listed": district in o["districts"].split(";")}[o["reach"]]
    if not reach:
        return False
    starts = [d for d in (o["available_from"], n["needed_from"]) if d]
    ends = [d for d in (o["available_to"], n["needed_to"]) if d]
    return not (starts and ends and max(starts) > min(ends))


def options(o: dict, needs: list[dict], home: str) -> list[dict[str, int]]:
    """Every way one offer may be used: whole to one need, or split in whole parts of at least min_chunk."""
    targets = [n for n in needs if eligible(o, n, home)]
    if o["divisible"] == "false":
        return [{}] + [{n["need_id"]: min(o["quantity"], n["quantity"])} for n in targets]
    choices = []
    for n in targets:
        top = min(o["quantity"], n["quantity"])
        choices.append([0] + list(range(o["min_chunk"], top + 1)))
    ways = []
    for amounts in itertools.product(*choices):
        if sum(amounts) <= o["quantity"]:
            ways.append({n["need_id"]: a for n, a in zip(targets, amounts) if a})
    return ways


def coverage(plan: dict[tuple[str, str], int], rows: dict, segments) -> float | None:
    """The plan's coverage, or None when it breaks need quantity or a hard floor."""
    district_priority = {d["district_id"]: d["priority"] for d in rows["districts"]}
    total = 0.0
    for n in rows["needs"]:
        got = sum(q for (_, need_id), q in plan.items() if need_id == n["need_id"])
        if got > n["quantity"] or got < n["floor"]:
            return None
        total += n["priority"] * district_priority[n["district_id"]] * design_coverage(got / n["quantity"], segments)
    return total


def objective(plan: dict[tuple[str, str], int], rows: dict, scenario: Scenario) -> float | None:
    """Coverage minus travel and cost, or None when the plan breaks need quantity or a hard floor."""
    total = coverage(plan, rows, scenario.segments)
    if total is None:
        return None
    homes = {p["partner_id"]: p["home_district"] for p in rows["partners"]}
    offers = {o["offer_id"]: o for o in rows["offers"]}
    needs = {n["need_id"]: n for n in rows["needs"]}
    for (offer_id, need_id), quantity in plan.items():
        o = offers[offer_id]
        total -= scenario.travel * KM_PER_HOP * hops(homes[o["partner_id"]], needs[need_id]["district_id"])
        total -= scenario.cost * o["cost_per_unit"] * quantity
    return total


def brute_force(rows: dict, scenario: Scenario) -> float | None:
    """The best objective over every allocation, or None when no allocation meets the hard rules."""
    homes = {p["partner_id"]: p["home_district"] for p in rows["partners"]}
    per_offer = []
    for o in rows["offers"]:
        ways = options(o, rows["needs"], homes[o["partner_id"]])
        per_offer.append([{(o["offer_id"], n): q for n, q in way.items()} for way in ways])
    best = None
    for combination in itertools.product(*per_offer):
        plan = {k: v for part in combination for k, v in part.items()}
        value = objective(plan, rows, scenario)
        if value is not None and (best is None or value > best):
            best = value
    return best


def plan_is_valid(plan: dict[tuple[str, str], int], rows: dict) -> bool:
    """Every pairing of matcher's plan is one the brute force could have chosen for its offer."""
    homes = {p["partner_id"]: p["home_district"] for p in rows["partners"]}
    for o in rows["offers"]:
        mine = {n: q for (offer_id, n), q in plan.items() if offer_id == o["offer_id"]}
        if mine not in options(o, rows["needs"], homes[o["partner_id"]]):
            return False
    return True


# The check ------------------------------------------------------------------------------------------------

def test_brute_force_itself_prefers_spreading_under_the_default_curve():
    rows = {"partners": [{"partner_id": "P1", "home_district": "D1"}],
            "districts": [{"district_id": d, "priority": 1.0} for d in DISTRICTS],
            "offers": [{"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "skill": "any",
                        "quantity": 4, "reach": "home", "districts": "", "divisible": "true", "min_chunk": 1,
                        "cost_per_unit": 0, "available_from": "", "available_to": ""}],
            "needs": [{"need_id": n, "district_id": "D1", "resource": "volunteers", "skill": "any", "quantity": 4,
                       "priority": 1.0, "floor": 0, "needed_from": "", "needed_to": ""} for n in ("N1", "N2")]}
    scenario = Scenario(((0.5, 1.0), (1.0, 0.5)), 0.0, 0.0)
    assert brute_force(rows, scenario) == pytest.approx(1.0)
    assert objective({("O1", "N1"): 4}, rows, scenario) == pytest.approx(0.75)


@pytest.mark.parametrize("seed", SEEDS)
def test_plan_is_as_good_as_brute_force(tmp_path, seed):
    rows = random_batch(seed)
    batch = build(tmp_path, **rows)
    scenario = Scenario(tuple(map(tuple, batch.scenario.coverage.segments)), batch.scenario.weights.travel,
                        batch.scenario.weights.cost)
    best = brute_force(rows, scenario)
    result = solve_batch(batch)
    if best is None:
        assert result.status is matcher.Status.INFEASIBLE
        return
    assert result.status is matcher.Status.OPTIMAL
    a = result.allocations
    plan = {(o, n): int(q) for o, n, q in zip(a["offer_id"], a["need_id"], a["quantity"])}
    assert plan_is_valid(plan, rows), plan
    mine = objective(plan, rows, scenario)
    assert mine is not None, plan
    assert mine == pytest.approx(best, abs=TOLERANCE)
    assert result.objective == pytest.approx(mine, abs=TOLERANCE)
    assert result.coverage == pytest.approx(coverage(plan, rows, scenario.segments), abs=1e-9)


def test_random_batches_cover_the_interesting_cases():
    """The seeds include infeasible batches, whole offers, floors, min chunks and unreachable needs."""
    outcomes = {"infeasible": 0, "whole": 0, "floor": 0, "chunk": 0}
    for seed in SEEDS:
        rows = random_batch(seed)
        scenario = Scenario(((1.0, 1.0),), 0.0, 0.0)
        outcomes["infeasible"] += brute_force(rows, scenario) is None
        outcomes["whole"] += any(o["divisible"] == "false" for o in rows["offers"])
        outcomes["floor"] += any(n["floor"] for n in rows["needs"])
        outcomes["chunk"] += any(o["min_chunk"] > 1 and o["divisible"] == "true" for o in rows["offers"])
    assert all(count >= 3 for count in outcomes.values()), outcomes
    assert outcomes["infeasible"] < len(SEEDS) / 2, outcomes
