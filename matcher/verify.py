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
AMOUNT_TOLERANCE = 1e-3  # expected amounts are written with three decimals


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


OUTPUT_COLUMNS = {"allocations": ("offer_id", "partner_id", "need_id", "district_id", "resource", "quantity"),
                  "unmet": ("need_id", "needed", "allocated", "shortfall")}
MANIFEST_KEYS = ("coverage", "objective", "best_bound", "gap")


def verify_folder(batch: Batch, out: Path) -> Report:
    """Read the plan's files and check them; a missing or unreadable file is itself an input error."""
    problems = []
    tables = {}
    for name in ("allocations", "unmet"):
        path = out / f"{name}.csv"
        if not path.exists():
            problems.append(Problem(path.name, None, None, f"is missing from {out}"))
            continue
        ids = {"offer_id": str, "need_id": str, "partner_id": str, "district_id": str, "skill": str}
        tables[name] = pd.read_csv(path, dtype=ids, keep_default_na=False)
        for column in OUTPUT_COLUMNS[name]:
            if column not in tables[name].columns:
                problems.append(Problem(path.name, 1, column, "required column is missing"))
    labor_path = out / "labor.csv"
    if labor_path.exists():
        tables["labor"] = pd.read_csv(labor_path, dtype={"role_id": str, "district_id": str, "partner_id": str,
                                                         "position": str}, keep_default_na=False)
    elif len(batch.roles):
        problems.append(Problem(labor_path.name, None, None, f"is missing from {out}"))
    manifest_path = out / "run.json"
    if not manifest_path.exists():
        problems.append(Problem("run.json", None, None, f"is missing from {out}"))
    if problems:
        raise InputError(problems)
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError([Problem("run.json", None, None, f"is not valid JSON: {exc}")]) from None
    missing = [key for key in MANIFEST_KEYS if not isinstance(manifest.get(key), (int, float))]
    if missing:
        raise InputError([Problem("run.json", None, key, "must be a number") for key in missing])
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
    expected = manifest["scenario"]["policy"]["reliability"] == "expected"

    def credit_factor(partner) -> float:
        """A need is credited the show rate (reliability to three decimals) when planning expected delivery."""
        return round(float(partner.reliability), 3) if expected else 1.0

    given = defaultdict(int)
    received = defaultdict(float)
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
        quantity = pd.to_numeric(a.quantity, errors="coerce")
        if pd.isna(quantity) or not float(quantity).is_integer() or quantity <= 0:
            fail("Whole units", f"quantity '{a.quantity}' is not a positive whole number")
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
        received[a.need_id] += quantity * credit_factor(partners[offer.partner_id])
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
        if got > need.quantity + AMOUNT_TOLERANCE:
            found.append(Violation("Need quantity", "allocations.csv", None,
                                   f"{need.need_id} gets {got:g}, more than the {need.quantity} it needs"))
        if got < need.floor - AMOUNT_TOLERANCE:
            found.append(Violation("Hard floor", "allocations.csv", None,
                                   f"{need.need_id} gets {got:g}, below its floor of {need.floor}"))
    found += _check_unmet(tables["unmet"], needs, received)
    found += _check_manifest(manifest, batch, needs, received)
    found += verify_coalition_rules(batch, allocations, manifest["scenario"], tables.get("labor"))
    if "labor" in tables or len(batch.roles):
        found += verify_labor(batch, tables.get("labor"), allocations, manifest["scenario"]["labor"])
    return Report(found, CHECKS + COALITION_CHECKS + LABOR_CHECKS)


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
        if u.need_id in listed:
            found.append(Violation("Unmet table", "unmet.csv", row, f"{u.need_id} is listed twice"))
        listed[u.need_id] = u
        need = needs.get(u.need_id)
        got = received.get(u.need_id, 0)
        consistent = need is not None and u.needed == need.quantity and abs(u.allocated - got) <= AMOUNT_TOLERANCE \
            and abs(u.shortfall - (need.quantity - got)) <= AMOUNT_TOLERANCE
        if not consistent:
            found.append(Violation("Unmet table", "unmet.csv", row,
                                   f"{u.need_id}: needed/allocated/shortfall do not match the allocations"))
    for need in needs.values():
        if received.get(need.need_id, 0) < need.quantity - AMOUNT_TOLERANCE and need.need_id not in listed:
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


LABOR_CHECKS = ("Labor rows", "Role eligible", "Lead strength", "Role lead", "Role supporters",
                "One position per role", "Role hours", "Max roles", "Role conflicts", "Lead presence",
                "Role decisions")
HOURS_PER_UNIT = 100  # role hours are planned in whole 1/100 hours, each position rounded on its own
LABOR_HOURS_TOLERANCE = 0.5 / HOURS_PER_UNIT + 1e-9


def verify_labor(batch: Batch, labor: pd.DataFrame | None, allocations: pd.DataFrame,
                 settings: dict) -> list[Violation]:
    """Every labor rule, recomputed from labor.csv, the batch and the labor settings recorded in run.json."""
    found: list[Violation] = []
    if labor is None:
        return [Violation("Labor rows", "labor.csv", None, "the batch has roles but the plan has no labor table")]
    roles = {r.role_id: r for r in batch.roles.itertuples(index=False)}
    partners = {r.partner_id: r for r in batch.partners.itertuples(index=False)}
    skill_strength, role_rating = {}, {}
    for c in batch.capabilities.itertuples(index=False):
        if not _blank(c.role_id):
            role_rating[(c.partner_id, c.role_id)] = c
        elif not _blank(c.skill):
            skill_strength[(c.partner_id, c.skill)] = c.strength
    fraction = settings["supporter_hours_fraction"]
    leads, supporters, vacant = defaultdict(list), defaultdict(list), set()
    hours_of, roles_of = defaultdict(int), defaultdict(int)
    seen = set()
    for row, x in enumerate(labor.itertuples(index=False), start=2):
        def fail(rule: str, message: str) -> None:
            found.append(Violation(rule, "labor.csv", row, message))

        role = roles.get(x.role_id)
        if role is None or x.position not in ("lead", "support", "vacant"):
            fail("Labor rows", f"role '{x.role_id}' or position '{x.position}' is not known")
            continue
        if _text(x.district_id) != _text(role.district_id):
            fail("Labor rows", f"district '{_text(x.district_id)}' is not the district of {x.role_id}")
        if x.position == "vacant":
            vacant.add(x.role_id)
            if not _blank(x.partner_id):
                fail("Labor rows", f"a vacant row of {x.role_id} names partner {x.partner_id}")
            continue
        partner = partners.get(x.partner_id)
        if partner is None:
            fail("Labor rows", f"partner '{x.partner_id}' is not in the batch")
            continue
        if (x.role_id, x.partner_id) in seen:
            fail("One position per role", f"{x.partner_id} holds {x.role_id} twice (lead and support at most once)")
        seen.add((x.role_id, x.partner_id))
        rated = role_rating.get((x.partner_id, x.role_id))
        strength = rated.strength if rated is not None else skill_strength.get((x.partner_id, role.skill), 0.0)
        base_hours = rated.hours if rated is not None and not pd.isna(rated.hours) else role.hours
        hours = base_hours if x.position == "lead" else base_hours * fraction
        if abs(x.strength - strength) > 1e-9:
            fail("Labor rows", f"strength {x.strength} of {x.partner_id} for {x.role_id} should be {strength}")
        if abs(x.hours - hours) > LABOR_HOURS_TOLERANCE:
            fail("Labor rows", f"hours {x.hours} of {x.partner_id} for {x.role_id} should be {hours:g}")
        if strength <= 0:
            fail("Role eligible", f"{x.partner_id} has no strength for {x.role_id} (skill {role.skill})")
        if x.position == "lead" and strength < settings["min_lead_strength"]:
            fail("Lead strength", f"lead {x.partner_id} of {x.role_id} has strength {strength:g}, below the "
                                  f"minimum {settings['min_lead_strength']:g}")
        (leads if x.position == "lead" else supporters)[x.role_id].append(x.partner_id)
        hours_of[x.partner_id] += round(hours * HOURS_PER_UNIT)
        roles_of[x.partner_id] += 1

    for role in roles.values():
        count = len(leads[role.role_id])
        if (role.required and count != 1) or count > 1:
            found.append(Violation("Role lead", "labor.csv", None, f"{role.role_id} has {count} leads; it needs "
                                   + ("exactly one" if role.required else "at most one")))
        if count == 0 and not role.required and role.role_id not in vacant:
            found.append(Violation("Labor rows", "labor.csv", None, f"optional {role.role_id} is empty but not "
                                   "reported vacant"))
        if count and role.role_id in vacant:
            found.append(Violation("Labor rows", "labor.csv", None, f"{role.role_id} has a lead and a vacant row"))
        taken = len(supporters[role.role_id])
        if taken > role.supporters or (taken and not count):
            found.append(Violation("Role supporters", "labor.csv", None,
                                   f"{role.role_id} has {taken} supporters and {count} leads; it takes at most "
                                   f"{role.supporters}, and none without a lead"))
    for partner_id, hours in hours_of.items():
        partner = partners[partner_id]
        if hours > round(partner.role_hours * HOURS_PER_UNIT):
            found.append(Violation("Role hours", "labor.csv", None, f"{partner_id} spends {hours / HOURS_PER_UNIT:g} "
                                   f"hours on roles, more than its role_hours {partner.role_hours:g}"))
        if not pd.isna(partner.max_roles) and roles_of[partner_id] > partner.max_roles:
            found.append(Violation("Max roles", "labor.csv", None, f"{partner_id} holds {roles_of[partner_id]} "
                                   f"roles, more than its max_roles {partner.max_roles}"))
    found += _check_role_teams(batch, leads, supporters)
    if settings["require_lead_presence"]:
        found += _check_lead_presence(roles, partners, leads, allocations)
    return found


def _check_role_teams(batch: Batch, leads: dict, supporters: dict) -> list[Violation]:
    """Role-scope conflicts kept off the same team; role locks and forbids respected."""
    found = []
    apart = [(c.partner_a, c.partner_b) for c in batch.conflicts.itertuples(index=False)
             if c.scope in ("role", "coalition")]
    for role_id in set(leads) | set(supporters):
        team = set(leads[role_id]) | set(supporters[role_id])
        for a, b in apart:
            if a != b and a in team and b in team:
                found.append(Violation("Role conflicts", "labor.csv", None,
                                       f"{a} and {b} are in conflict but both serve on {role_id}"))
    for d in batch.decisions.itertuples(index=False):
        if _blank(d.partner_id) or _blank(d.role_id):
            continue
        team = set(leads.get(d.role_id, [])) | set(supporters.get(d.role_id, []))
        if d.action == "lock" and d.partner_id not in leads.get(d.role_id, []):
            found.append(Violation("Role decisions", "labor.csv", None,
                                   f"{d.partner_id} is locked to lead {d.role_id} but does not"))
        if d.action == "forbid" and d.partner_id in team:
            found.append(Violation("Role decisions", "labor.csv", None,
                                   f"{d.partner_id} is forbidden from {d.role_id} but serves on it"))
    return found


def _check_lead_presence(roles: dict, partners: dict, leads: dict, allocations: pd.DataFrame) -> list[Violation]:
    """A district role's lead lives in the district or sends it something."""
    present = {(p, d) for p, d, q in zip(allocations["partner_id"], allocations["district_id"],
                                         allocations["quantity"]) if q > 0}
    found = []
    for role_id, partner_ids in leads.items():
        district = _text(roles[role_id].district_id)
        for partner_id in partner_ids:
            home = _text(partners[partner_id].home_district)
            if district and district != home and (partner_id, district) not in present:
                found.append(Violation("Lead presence", "labor.csv", None,
                                       f"lead {partner_id} of {role_id} neither lives in {district} "
                                       "nor sends anything there"))
    return found


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value == ""


def _text(value) -> str:
    return "" if _blank(value) else str(value)


COALITION_CHECKS = ("Negotiated forbid", "Negotiated lock", "Agree to disagree", "Partner district limit",
                    "Legal contribution cap", "Legal eligibility", "Independent firewall", "Every member benefits",
                    "Dependence cap", "N-1 resilience")
SHARE_TOLERANCE = 1e-4  # the model holds shares to 1/1,000,000 of a need


def verify_coalition_rules(batch: Batch, allocations: pd.DataFrame, scenario: dict,
                           labor: pd.DataFrame | None = None) -> list[Violation]:
    """Decisions, conflicts, district limits and campaign-finance rules, recomputed from the allocations."""
    found: list[Violation] = []
    offers = {o.offer_id: o for o in batch.offers.itertuples(index=False)}
    partners = {p.partner_id: p for p in batch.partners.itertuples(index=False)}
    candidate_of = dict(zip(batch.districts["district_id"], batch.districts["candidate"]))
    rows = list(allocations.itertuples(index=False))
    keys = ("offer_id", "need_id", "partner_id", "district_id")
    rows_with = {k: defaultdict(list) for k in keys}  # id -> numbers of the rows that name it, in order
    for i, a in enumerate(rows):
        for k in keys:
            rows_with[k][getattr(a, k)].append(i)

    for d in batch.decisions.itertuples(index=False):
        if not _blank(d.role_id):
            continue
        named = [(k, getattr(d, k)) for k in keys if not _blank(getattr(d, k))]
        among = min((rows_with[k].get(v, []) for k, v in named), key=len) if named else []
        hits = [(i + 2, rows[i]) for i in among if all(getattr(rows[i], k) == v for k, v in named)]
        if d.action == "forbid":
            found += [Violation("Negotiated forbid", "allocations.csv", row, f"pairs {a.offer_id} → {a.need_id}, "
                                f"which decisions.csv row {d.csv_row} forbids") for row, a in hits]
        elif not hits:
            found.append(Violation("Negotiated lock", "allocations.csv", None,
                                   f"decisions.csv row {d.csv_row} locks a pairing the plan does not make"))
        elif not _blank(d.quantity) and sum(a.quantity for _, a in hits) != d.quantity:
            found.append(Violation("Negotiated lock", "allocations.csv", hits[0][0],
                                   f"decisions.csv row {d.csv_row} locks {d.quantity}, the plan sends "
                                   f"{sum(a.quantity for _, a in hits)}"))

    districts_of = defaultdict(set)
    for a in rows:
        districts_of[a.partner_id].add(a.district_id)
    for c in batch.conflicts.itertuples(index=False):
        shared = districts_of[c.partner_a] & districts_of[c.partner_b]
        if c.scope in ("district", "coalition") and shared:
            found.append(Violation("Agree to disagree", "allocations.csv", None,
                                   f"{c.partner_a} and {c.partner_b} both work in {', '.join(sorted(shared))}"))
    for partner, served in districts_of.items():
        limit = partners[partner].max_districts if partner in partners else None  # else reported as unknown
        if not _blank(limit) and len(served) > limit:
            found.append(Violation("Partner district limit", "allocations.csv", None,
                                   f"{partner} works in {len(served)} districts, more than its {limit}"))

    caps, barred = scenario["legal"]["caps_usd"], set(scenario["legal"]["no_candidate_support"])
    given = defaultdict(float)
    for row, a in enumerate(rows, start=2):
        candidate = candidate_of.get(a.district_id)
        offer, partner = offers.get(a.offer_id), partners.get(a.partner_id)
        if _blank(candidate) or offer is None or partner is None:  # unknown ids are reported by verify_tables
            continue
        value = 1.0 if a.resource == "money" else float(offer.inkind_value_per_unit)
        if partner.independent:
            found.append(Violation("Independent firewall", "allocations.csv", row,
                                   f"{a.partner_id} makes independent expenditures but serves {candidate}"))
        if partner.kind in barred and not (a.resource == "volunteers" and value == 0):
            found.append(Violation("Legal eligibility", "allocations.csv", row,
                                   f"{a.partner_id} ({partner.kind}) may not give {a.resource} to {candidate}"))
        given[(a.partner_id, candidate)] += value * a.quantity
    for (partner, candidate), total in given.items():
        cap = caps.get(partners[partner].kind)
        if cap is not None and total > cap + 1e-6:
            found.append(Violation("Legal contribution cap", "allocations.csv", None,
                                   f"{partner} gives {candidate} ${total:,.2f}, over the ${cap:,.2f} cap"))
    if scenario["policy"]["min_benefit"] == "hard":
        holding = set() if labor is None else set(labor.loc[labor["position"].isin(["lead", "support"]), "partner_id"])
        found += _check_benefit(batch, districts_of, holding)
    if scenario["policy"]["dependence"] == "hard":
        found += _check_dependence(batch, rows, scenario["policy"]["dependence_cap"])
    if scenario["policy"]["resilience"] == "hard":
        found += _check_resilience(batch, rows, scenario["policy"]["resilience_share"])
    return found


def _check_dependence(batch: Batch, rows: list, cap: float) -> list[Violation]:
    """No need gets more than `cap` of what it is sent from one partner."""
    total, from_partner = defaultdict(int), defaultdict(int)
    quantity = dict(zip(batch.needs["need_id"], batch.needs["quantity"]))
    for a in rows:
        if a.need_id in quantity:  # else reported as unknown by verify_tables
            total[a.need_id] += a.quantity
            from_partner[(a.need_id, a.partner_id)] += a.quantity
    return [Violation("Dependence cap", "allocations.csv", None,
                      f"{need} gets {sent} of its {total[need]} from {partner}, over the {cap:.0%} cap")
            for (need, partner), sent in from_partner.items()
            if (sent - cap * total[need]) / quantity[need] > SHARE_TOLERANCE]


def _check_resilience(batch: Batch, rows: list, share: float) -> list[Violation]:
    """If any one partner left a district, the district keeps `share` of its need-shares covered."""
    quantity = dict(zip(batch.needs["need_id"], batch.needs["quantity"]))
    covered, lost = defaultdict(float), defaultdict(float)
    for a in (a for a in rows if a.need_id in quantity):  # others are reported as unknown by verify_tables
        covered[a.district_id] += a.quantity / quantity[a.need_id]
        lost[(a.district_id, a.partner_id)] += a.quantity / quantity[a.need_id]
    return [Violation("N-1 resilience", "allocations.csv", None,
                      f"{district} would keep {1 - loss / covered[district]:.0%} of its coverage without {partner}, "
                      f"under the {share:.0%} target")
            for (district, partner), loss in lost.items()
            if loss - (1 - share) * covered[district] > SHARE_TOLERANCE * len(quantity)]


def _check_benefit(batch: Batch, districts_of: dict, holding: set) -> list[Violation]:
    """Under a hard min_benefit, a partner that serves nothing it prefers and holds no role had no way to."""
    from matcher.candidates import eligible_pairs

    reachable = eligible_pairs(batch).groupby("partner_id")["district_id"].agg(set)
    found = []
    for partner, preferred in zip(batch.partners["partner_id"], batch.partners["preferred_districts"]):
        could = set(preferred) & reachable.get(partner, set())
        if could and not set(preferred) & districts_of[partner] and partner not in holding:
            found.append(Violation("Every member benefits", "allocations.csv", None,
                                   f"{partner} serves none of its preferred districts, though it could serve "
                                   f"{', '.join(sorted(could))}"))
    return found
