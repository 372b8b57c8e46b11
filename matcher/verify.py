"""An independent check of a plan: every hard rule recomputed from the output files and the batch.

It shares no code with the candidate builder or the model on purpose: eligibility, capacities,
floors and the coverage sum are recomputed here row by row, so a bug there cannot hide itself.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from matcher.batch import Batch, read_batch
from matcher.errors import InputError, Problem, VerificationError

COVERAGE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Violation:
    """A hard rule the plan breaks, named as the rule registry names it."""

    rule: str
    file: str
    row: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}, row {self.row}"
        return f"[{self.rule}] {where}: {self.message}"


@dataclass
class Report:
    """All violations found; empty means the plan meets every hard rule checked."""

    violations: list[Violation]
    checked: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.violations

    def raise_if_any(self) -> None:
        if self.violations:
            raise VerificationError(self.violations)


CHECKS = ("Known ids", "Eligible pair", "Whole units", "Offer capacity", "Whole offers", "Minimum chunk",
          "Need quantity", "Hard floor", "Unmet table", "Reported coverage", "Reported status")


def verify(batch: Batch | str | Path, out: str | Path) -> Report:
    """Verify an output folder against its batch (a Batch or the batch folder)."""
    if not isinstance(batch, Batch):
        batch = read_batch(batch)
    return verify_folder(batch, Path(out))


def verify_folder(batch: Batch, out: Path) -> Report:
    """Read the plan's files and check them; a missing or unreadable file is itself an input error."""
    problems = []
    tables = {}
    for name in ("allocations", "unmet"):
        path = out / f"{name}.csv"
        if not path.exists():
            problems.append(Problem(path.name, None, None, f"is missing from {out}"))
            continue
        tables[name] = pd.read_csv(path, dtype={"offer_id": str, "need_id": str, "partner_id": str,
                                               "district_id": str, "skill": str}, keep_default_na=False)
    manifest_path = out / "run.json"
    if not manifest_path.exists():
        problems.append(Problem("run.json", None, None, f"is missing from {out}"))
    if problems:
        raise InputError(problems)
    manifest = json.loads(manifest_path.read_text())
    return verify_tables(batch, tables, manifest)


def verify_tables(batch: Batch, tables: dict[str, pd.DataFrame], manifest: dict) -> Report:
    """Check an allocation (and its unmet table and manifest) against every hard rule."""
    found: list[Violation] = []
    allocations = tables["allocations"]
    offers = {r.offer_id: r for r in batch.offers.itertuples(index=False)}
    needs = {r.need_id: r for r in batch.needs.itertuples(index=False)}
    partners = {r.partner_id: r for r in batch.partners.itertuples(index=False)}
    districts = {r.district_id: r for r in batch.districts.itertuples(index=False)}
    neighbours = _neighbours(batch.districts)

    given = defaultdict(int)
    received = defaultdict(int)
    needs_of_offer = defaultdict(list)
    seen = set()
    for row, a in enumerate(allocations.itertuples(index=False), start=2):
        def fail(rule: str, message: str) -> None:
            found.append(Violation(rule, "allocations.csv", row, message))

        offer, need = offers.get(a.offer_id), needs.get(a.need_id)
        if offer is None or need is None:
            fail("Known ids", f"offer '{a.offer_id}' or need '{a.need_id}' is not in the batch")
            continue
        if (a.offer_id, a.need_id) in seen:
            fail("Known ids", f"pair {a.offer_id} → {a.need_id} appears twice")
        seen.add((a.offer_id, a.need_id))
        if (a.partner_id, a.district_id, a.resource) != (offer.partner_id, need.district_id, offer.resource):
            fail("Known ids", "partner, district or resource does not match the offer and need")
        quantity = a.quantity
        if not float(quantity).is_integer() or quantity <= 0:
            fail("Whole units", f"quantity {quantity} is not a positive whole number")
            continue
        quantity = int(quantity)
        why_not = _ineligible(offer, need, partners[offer.partner_id], districts, neighbours)
        if why_not:
            fail("Eligible pair", f"{a.offer_id} cannot serve {a.need_id}: {why_not}")
        if offer.divisible:
            if quantity < offer.min_chunk:
                fail("Minimum chunk", f"{quantity} is less than the minimum chunk {offer.min_chunk} of {a.offer_id}")
        elif quantity != min(offer.quantity, need.quantity):
            fail("Whole offers", f"indivisible {a.offer_id} must credit {min(offer.quantity, need.quantity)}, "
                                 f"not {quantity}")
        given[a.offer_id] += quantity
        received[a.need_id] += quantity
        needs_of_offer[a.offer_id].append(a.need_id)

    for offer_id, total in given.items():
        offer = offers[offer_id]
        if offer.divisible and total > offer.quantity:
            found.append(Violation("Offer capacity", "allocations.csv", None,
                                   f"{offer_id} gives {total}, more than its {offer.quantity}"))
        if not offer.divisible and len(needs_of_offer[offer_id]) > 1:
            found.append(Violation("Whole offers", "allocations.csv", None,
                                   f"indivisible {offer_id} goes to {len(needs_of_offer[offer_id])} needs"))
    for need in needs.values():
        got = received.get(need.need_id, 0)
        if got > need.quantity:
            found.append(Violation("Need quantity", "allocations.csv", None,
                                   f"{need.need_id} gets {got}, more than the {need.quantity} it needs"))
        if got < need.floor:
            found.append(Violation("Hard floor", "allocations.csv", None,
                                   f"{need.need_id} gets {got}, below its floor of {need.floor}"))
    found += _check_unmet(tables["unmet"], needs, received)
    found += _check_manifest(manifest, batch, needs, received)
    return Report(found, CHECKS)


def _ineligible(offer, need, partner, districts, neighbours) -> str:
    """Why an offer cannot serve a need under DESIGN.md's rules, or '' if it can."""
    if offer.resource != need.resource:
        return f"resource {offer.resource} is not {need.resource}"
    if "any" not in (offer.skill, need.skill) and offer.skill != need.skill:
        return f"skill {offer.skill} is not {need.skill}"
    home, target = partner.home_district, need.district_id
    if offer.reach == "home" and target != home:
        return f"reach is home ({home}), need is in {target}"
    if offer.reach == "adjacent" and target != home and target not in neighbours[home]:
        return f"{target} is not {home} or a neighbour of it"
    if offer.reach == "listed" and target not in offer.districts:
        return f"{target} is not among the listed districts"
    if offer.reach == "radius":
        a, b = districts[home], districts[target]
        km = _great_circle_km(a.lat, a.lon, b.lat, b.lon)
        if not km <= offer.radius_km:
            return f"{target} is {km:.1f} km from {home}, beyond the {offer.radius_km:g} km radius"
    starts = [d for d in (offer.available_from, need.needed_from) if not pd.isna(d)]
    ends = [d for d in (offer.available_to, need.needed_to) if not pd.isna(d)]
    if starts and ends and max(starts) > min(ends):
        return "availability and need windows do not overlap"
    return ""


def _great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(min(1.0, h)))


def _neighbours(districts: pd.DataFrame) -> dict:
    result = defaultdict(set)
    for district, listed in zip(districts["district_id"], districts["neighbors"]):
        for other in listed:
            result[district].add(other)
            result[other].add(district)
    return result


def _check_unmet(unmet: pd.DataFrame, needs: dict, received: dict) -> list[Violation]:
    found = []
    listed = {}
    for row, u in enumerate(unmet.itertuples(index=False), start=2):
        listed[u.need_id] = u
        need = needs.get(u.need_id)
        got = received.get(u.need_id, 0)
        if need is None or (u.needed, u.allocated, u.shortfall) != (need.quantity, got, need.quantity - got):
            found.append(Violation("Unmet table", "unmet.csv", row,
                                   f"{u.need_id}: needed/allocated/shortfall do not match the allocations"))
    for need in needs.values():
        if received.get(need.need_id, 0) < need.quantity and need.need_id not in listed:
            found.append(Violation("Unmet table", "unmet.csv", None, f"{need.need_id} is short but not listed"))
    return found


def _check_manifest(manifest: dict, batch: Batch, needs: dict, received: dict) -> list[Violation]:
    found = []
    segments = manifest["scenario"]["coverage"]["segments"]
    priority = dict(zip(batch.districts["district_id"], batch.districts["priority"]))
    coverage = 0.0
    for need in needs.values():
        share, value, start = received.get(need.need_id, 0) / need.quantity, 0.0, 0.0
        for upto, slope in segments:
            value += slope * max(0.0, min(share, upto) - start)
            start = upto
        coverage += need.priority * priority[need.district_id] * value
    if abs(coverage - manifest["coverage"]) > COVERAGE_TOLERANCE * max(1.0, len(needs)):
        found.append(Violation("Reported coverage", "run.json", None,
                               f"coverage is {manifest['coverage']}, but the allocations give {coverage}"))
    objective, bound, gap = manifest["objective"], manifest["best_bound"], manifest["gap"]
    if manifest["status"] == "optimal" and gap > 0:
        found.append(Violation("Reported status", "run.json", None, f"called optimal with a gap of {gap}"))
    if manifest["status"] not in ("optimal", "feasible"):
        found.append(Violation("Reported status", "run.json", None,
                               f"a plan was written with status {manifest['status']}"))
    expected_gap = max(0.0, bound - objective) / max(abs(objective), 1.0)
    if abs(expected_gap - gap) > 1e-9:
        found.append(Violation("Reported status", "run.json", None,
                               f"gap {gap} does not follow from objective {objective} and bound {bound}"))
    return found
