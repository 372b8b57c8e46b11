"""Transparency: why each pairing and role was chosen, why a need is unmet, and what a decision would cost.

Partners are named by id only, never by name: a name is a contact field (matcher.safety).

- `allocation_reasons` and `labor_reasons`: one short sentence per row, naming the terms that made
  the row worth it (coverage of a priority need, a floor, home or preferred district, pooling with
  a complementary partner, a lock, strength in the role's skill).
- `unmet_cause`: why a need is not fully met: no eligible offer (and which filter ruled each offer
  out), capacity taken by other needs (named, higher priority first), or a cap, a limit, a conflict
  or a policy; otherwise the objective's trade-off (travel, cost, chunks).
- `Explainer`: the answers for one need, partner or district, from a Result or an output folder.
- `what_if`: re-solve with one more decision and report what it costs in each term and what moves.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.batch import ROW, Batch
from matcher.candidates import (contribution_per_unit, forbidden, legally_allowed, offers_by_district, skills_match,
                                windows_overlap)
from matcher.errors import InputError, Problem
from matcher.geography import Geography
from matcher.outputs import complementary_partners, district_places
from matcher.scenario import Scenario
from matcher.schema import ANY_SKILL

FILTERS = ("skill", "window", "reach", "chunk", "legal", "forbid")
FILTER_WORDS = {"skill": "skill", "window": "dates", "reach": "reach",
                "chunk": "minimum chunk", "legal": "legal rules", "forbid": "a forbid decision"}


# Reasons for allocation rows ------------------------------------------------------------------------------

def allocation_reasons(batch: Batch, allocations: pd.DataFrame, scenario: Scenario) -> pd.Series:
    """One short reason per allocation row: the terms that made the pairing worth it."""
    if allocations.empty:
        return pd.Series([], index=allocations.index, dtype=object)
    needs = batch.needs.set_index("need_id")
    districts = batch.districts.set_index("district_id")
    partners = batch.partners.set_index("partner_id")
    complements = complementary_partners(allocations, scenario)
    need_ids, district_ids, partner_ids = allocations["need_id"], allocations["district_id"], allocations["partner_id"]
    rows = zip(allocations["share_of_need"].tolist(), need_ids.map(needs["priority"]).tolist(),
               district_ids.map(district_places(batch.districts)).tolist(),
               district_ids.map(districts["priority"]).tolist(), need_ids.map(needs["floor"]).tolist(),
               need_ids.map(needs["unit"]).tolist(), district_ids.tolist(), partner_ids.tolist(),
               partner_ids.map(partners["home_district"]).tolist(),
               partner_ids.map(partners["preferred_districts"]).tolist(), allocations["resource"].tolist(),
               allocations["distance_km"].tolist(), allocations["cost_usd"].tolist(),
               (allocations["decision"] if "decision" in allocations else pd.Series(None, index=allocations.index)
                ).tolist())
    reasons = []
    for (share, priority, place, district_priority, floor, unit, district, partner, home, preferred, resource,
         km, cost, decision) in rows:
        parts = [f"covers {share:.0%} of a priority-{priority:g} need in {place} (district priority "
                 f"{district_priority:g})"]
        if floor > 0:
            parts.append(f"toward its hard floor of {int(floor):,} {unit}")
        if district == home:
            parts.append("partner's home district")
        elif district in preferred:
            parts.append(f"a preferred district of the partner, {km:.0f} km away")
        elif resource != "money":
            parts.append(f"{km:.0f} km from the partner's home")
        for other, their_resource in complements.get((district, partner, resource), []):
            parts.append(f"pairs with {other}'s {their_resource.replace('_', ' ')}")
        if cost > 0:
            parts.append(f"costs ${cost:,.0f}")
        if isinstance(decision, str) and decision:
            parts.append(f"agreed: {decision}")
        reasons.append("; ".join(parts))
    return pd.Series(reasons, index=allocations.index, dtype=object)


def labor_reasons(batch: Batch, labor: pd.DataFrame, scenario: Scenario) -> pd.Series:
    """One short reason per labor.csv row: strength, how it ranks among the candidates, hours, locks."""
    from matcher.labor import role_candidates, role_decisions

    if labor is None or labor.empty:
        return pd.Series([], dtype=object)
    pools = candidate_strengths(role_candidates(batch, scenario))
    roles = batch.roles.set_index("role_id")
    skill, role_district = roles["skill"].to_dict(), roles["district_id"].to_dict()
    partners = batch.partners.set_index("partner_id")
    capacity, home = partners["role_hours"].to_dict(), partners["home_district"].to_dict()
    locked = role_decisions(batch, "lock")
    locks = dict(zip(zip(locked["role_id"], locked["partner_id"]), locked[ROW]))
    reasons = []
    for role_id, partner_id, position, strength, hours in zip(labor["role_id"], labor["partner_id"],
                                                              labor["position"], labor["strength"], labor["hours"]):
        if position == "vacant":
            reasons.append("optional role left empty: no candidate could lead it within their hours, or its "
                           "strength was not worth their time")
            continue
        pool = pools.get((role_id, position), np.empty(0))
        stronger = len(pool) - int(np.searchsorted(pool, strength, side="right"))
        rank = ("the strongest" if stronger == 0 else
                f"{stronger} stronger candidate(s) were needed elsewhere or cost more hours")
        parts = [f"{position}: strength {strength:g}/10 in {skill[role_id]} ({rank}; {len(pool)} could "
                 f"{position})", f"{hours:g} of its {capacity[partner_id]:g} role hours a week"]
        if not pd.isna(role_district[role_id]) and home[partner_id] == role_district[role_id]:
            parts.append("based in the role's district")
        if (role_id, partner_id) in locks and position == "lead":
            parts.append(f"agreed: lock (decisions.csv row {locks[(role_id, partner_id)]})")
        reasons.append("; ".join(parts))
    return pd.Series(reasons, index=labor.index, dtype=object)


def candidate_strengths(candidates: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    """(role, "lead" or "support") -> the strengths of the candidates who could take that position, ascending."""
    pools = {}
    for position, column in (("lead", "can_lead"), ("support", "can_support")):
        able = candidates[candidates[column]]
        for role_id, strengths in able.groupby("role_id")["strength"]:
            pools[(role_id, position)] = np.sort(strengths.to_numpy(float))
    return pools


def with_reasons(batch: Batch, tables: dict[str, pd.DataFrame], scenario: Scenario) -> dict[str, pd.DataFrame]:
    """The tables with their reason columns filled: allocations.reason and labor.reason."""
    tables = dict(tables)
    if "allocations" in tables and len(tables["allocations"]):
        tables["allocations"] = tables["allocations"].assign(
            reason=allocation_reasons(batch, tables["allocations"], scenario))
    labor = tables.get("labor")
    if labor is not None:
        tables["labor"] = labor.assign(reason=labor_reasons(batch, labor, scenario) if len(labor) else
                                       pd.Series([], dtype=object))
    return tables


# Causes of unmet needs ------------------------------------------------------------------------------------

class UnmetCauses:
    """Why needs are not fully met, for one plan: built once, asked per need."""

    def __init__(self, batch: Batch, pairs: pd.DataFrame, allocations: pd.DataFrame, scenario: Scenario | None = None):
        self.batch = batch
        self.scenario = scenario or batch.scenario
        self.needs = batch.needs.set_index("need_id")
        partners = batch.partners.set_index("partner_id")
        self.district_limit, self.partner_kind = partners["max_districts"].to_dict(), partners["kind"].to_dict()
        self.partner_row = partners[ROW].to_dict()
        district_priority = batch.districts.set_index("district_id")["priority"]
        self.weight = (self.needs["priority"] * self.needs["district_id"].map(district_priority)).to_dict()
        self.need_district = self.needs["district_id"].to_dict()
        self.eligible = pairs.groupby("need_id")["offer_id"].agg(list).to_dict()
        used = batch.offers["offer_id"].map(allocations.groupby("offer_id")["quantity"].sum()).fillna(0)
        quantity = batch.offers["quantity"].astype("int64")
        spare = quantity.where(used == 0, 0).where(~batch.offers["divisible"], quantity - used)
        self.spare_of = dict(zip(batch.offers["offer_id"], spare.astype("int64").tolist()))
        self.offer_partner = dict(zip(batch.offers["offer_id"], batch.offers["partner_id"]))
        self.takers = allocations.groupby("offer_id")["need_id"].agg(lambda n: sorted(set(n))).to_dict()
        self.present = set(zip(allocations["partner_id"], allocations["district_id"]))
        self.served = allocations.groupby("partner_id")["district_id"].agg(lambda d: set(d)).to_dict()
        self.sent = allocations.groupby(["need_id", "partner_id"])["quantity"].sum().to_dict()
        self.received = allocations.groupby("need_id")["quantity"].sum().to_dict()
        self._ruled_out = None
        conflicts = batch.conflicts[batch.conflicts["scope"].isin(["district", "coalition"])]
        self.apart: dict[str, list] = {}
        for a, b, row in zip(conflicts["partner_a"], conflicts["partner_b"], conflicts[ROW]):
            self.apart.setdefault(a, []).append((b, row))
            self.apart.setdefault(b, []).append((a, row))
        self.candidates = batch.districts.set_index("district_id")["candidate"].to_dict()
        valued = pairs[pairs["candidate"].notna() & (pairs["contribution_per_unit"] > 0)]
        self.unit_value = valued.groupby(["partner_id", "candidate"])["contribution_per_unit"].max().to_dict()
        sent = allocations[["offer_id", "need_id", "quantity"]].merge(
            valued[["offer_id", "need_id", "partner_id", "candidate", "contribution_per_unit"]],
            on=["offer_id", "need_id"])
        self.given = (sent["quantity"] * sent["contribution_per_unit"]).groupby(
            [sent["partner_id"], sent["candidate"]]).sum().to_dict()

    def cause(self, need_id: str) -> str:
        candidates = self.eligible.get(need_id, [])
        if not candidates:
            return self.no_eligible_offer(need_id)
        spare = [o for o in candidates if self.spare_of[o] > 0]
        if not spare:
            return self.capacity_used(need_id, candidates)
        blocks = [self.blocked(need_id, o) for o in spare]
        if all(blocks):
            return "blocked: " + "; ".join(dict.fromkeys(blocks))
        free = [o for o, b in zip(spare, blocks) if not b]
        return (f"{len(free)} eligible offer(s) ({', '.join(free[:5])}) have spare capacity, but their minimum "
                "chunk, whole-offer size, travel or cost outweigh the coverage they would add")

    def capacity_used(self, need_id: str, candidates: list[str]) -> str:
        mine = self.weight.get(need_id, 0.0)
        others = sorted({n for o in candidates for n in self.takers.get(o, []) if n != need_id},
                        key=lambda n: (-self.weight.get(n, 0.0), n))
        higher = [n for n in others if self.weight.get(n, 0.0) > mine]
        rest = [n for n in others if self.weight.get(n, 0.0) <= mine]
        text = f"capacity used: all {len(candidates)} eligible offer(s) ({_listed(candidates)}) are used up"
        if not others:
            return text + ", all of them on this need"
        if higher:
            text += f"; higher-priority: {_listed([f'{n} ({self.weight[n]:g})' for n in higher])}"
        if rest:
            text += (f"; same or lower priority (coverage's diminishing returns spread it): "
                     f"{_listed(rest)}")
        return text + f"; this need's priority is {mine:g} (need × district)"

    def blocked(self, need_id: str, offer_id: str) -> str | None:
        """A cap, limit or conflict that keeps this offer's partner from giving more to this need."""
        partner_id = self.offer_partner[offer_id]
        district = self.need_district[need_id]
        for other, row in self.apart.get(partner_id, []):
            if (other, district) in self.present:
                return (f"conflict: {partner_id} and {other} never share a district, and {other} works in {district} "
                        f"(conflicts.csv row {row})")
        limit = self.district_limit[partner_id]
        served = self.served.get(partner_id, set())
        if not pd.isna(limit) and district not in served and len(served) >= int(limit):
            return (f"district limit: {partner_id} already works in {len(served)} district(s), its max_districts "
                    f"(partners.csv row {self.partner_row[partner_id]})")
        return self.legal_cap_reached(partner_id, district) or self.dependence_cap_reached(need_id, partner_id)

    def dependence_cap_reached(self, need_id: str, partner_id: str) -> str | None:
        policy = self.scenario.policy
        if policy.dependence != "hard":
            return None
        mine = float(self.sent.get((need_id, partner_id), 0))
        if mine + 1 > policy.dependence_cap * (float(self.received.get(need_id, 0)) + 1):
            return (f"policy: {partner_id} already gives {need_id} its dependence cap "
                    f"({policy.dependence_cap:.0%} of what the need gets; policy.dependence = \"hard\")")
        return None

    def legal_cap_reached(self, partner_id: str, district: str) -> str | None:
        candidate = self.candidates.get(district)
        kind = self.partner_kind[partner_id]
        cap = self.scenario.legal.caps_usd.get(kind)
        if pd.isna(candidate) or cap is None:
            return None
        given = float(self.given.get((partner_id, candidate), 0.0))
        unit = float(self.unit_value.get((partner_id, candidate), 0.0))
        if unit > 0 and given + unit > cap:
            return (f"legal cap: {partner_id} (a {kind}) has given candidate {candidate} ${given:,.0f} of its "
                    f"${cap:,.0f} limit (legal.caps_usd.{kind})")
        return None

    def no_eligible_offer(self, need_id: str) -> str:
        counts = self.ruled_out().get(need_id, Counter())
        need = self.needs.loc[need_id]
        total = sum(counts.values())
        if total == 0:
            return f"no eligible offer: no partner offers {need['resource'].replace('_', ' ')} (resource)"
        by = ", ".join(f"{counts[f]} ruled out by {FILTER_WORDS[f]}" for f in FILTERS if counts.get(f))
        return f"no eligible offer: of {total} {need['resource'].replace('_', ' ')} offer(s), {by}"

    def ruled_out(self) -> dict[str, Counter]:
        """Per need, how many offers each filter ruled out (each offer counted at the first filter it fails)."""
        if self._ruled_out is None:
            lacking = [n for n in self.batch.needs["need_id"] if n not in self.eligible]
            self._ruled_out = ruled_out(self.batch, self.scenario, lacking)
        return self._ruled_out


def ruled_out(batch: Batch, scenario: Scenario | None = None, need_ids: list[str] | None = None) -> dict[str, Counter]:
    """Per need, a count of its resource's offers per first failing eligibility filter (skill, window, reach…).

    Skill and dates are checked on every need × offer of the need's resource, as arrays, a bounded
    slice of needs at a time; the later filters only on the offers that pass those and reach the need's
    district, which are few. Every need with offers of its resource gets a count, empty if none fails.
    """
    scenario = scenario or batch.scenario
    offers = batch.offers.merge(batch.partners[["partner_id", "home_district", "kind", "independent"]],
                                on="partner_id", how="left")
    offers["contribution_per_unit"] = contribution_per_unit(offers)
    needs = batch.needs if need_ids is None else batch.needs[batch.needs["need_id"].isin(need_ids)]
    needs = needs.rename(columns={"quantity": "need_quantity", "skill": "need_skill", "resource": "need_resource"})
    needs = needs.merge(batch.districts[["district_id", "candidate"]], on="district_id", how="left")
    needs = needs[["need_id", "district_id", "need_resource", "need_skill", "need_quantity", "needed_from",
                   "needed_to", "candidate"]]
    needs = needs[needs["need_resource"].isin(offers["resource"])]
    counts = {need: Counter() for need in needs["need_id"]}
    passed = skill_and_date_failures(needs, offers, counts)
    geography = Geography(batch.districts, batch.scenario.travel.km_per_hop)
    reach = offers_by_district(offers, batch.districts, geography)[["offer_id", "district_id"]].drop_duplicates()
    reached = needs.merge(reach, on="district_id").merge(offers, on="offer_id")
    reached = reached[(reached["resource"] == reached["need_resource"])
                      & skills_match(reached["skill"], reached["need_skill"])
                      & windows_overlap(reached["available_from"], reached["available_to"], reached["needed_from"],
                                        reached["needed_to"])]
    within = reached.groupby("need_id").size()
    for need, number in passed.items():
        if missed := number - int(within.get(need, 0)):
            counts[need]["reach"] = missed
    for need, fails in later_failures(reached, batch, scenario).items():
        counts[need].update(fails)
    return counts


RULED_OUT_ROWS = 2_000_000  # need × offer cells checked at once by `skill_and_date_failures`


def skill_and_date_failures(needs: pd.DataFrame, offers: pd.DataFrame, counts: dict[str, Counter]) -> dict[str, int]:
    """Counts the offers of each need's resource that fail on skill, then on dates, into `counts`; returns how
    many pass both, per need."""
    passed = {}
    for resource, of_resource in needs.groupby("need_resource", sort=True):
        mine = offers[offers["resource"] == resource]
        skills = pd.Index(pd.concat([mine["skill"], of_resource["need_skill"]]).unique())
        offer_skill, offer_any = skills.get_indexer(mine["skill"]), (mine["skill"] == ANY_SKILL).to_numpy()
        offer_from, offer_to = day_bounds(mine["available_from"], mine["available_to"])
        slice_ = max(1, RULED_OUT_ROWS // len(mine))
        for start in range(0, len(of_resource), slice_):
            group = of_resource.iloc[start:start + slice_]
            need_skill = skills.get_indexer(group["need_skill"])[:, None]
            need_any = (group["need_skill"] == ANY_SKILL).to_numpy()[:, None]
            need_from, need_to = (bound[:, None] for bound in day_bounds(group["needed_from"], group["needed_to"]))
            skill_ok = offer_any | need_any | (offer_skill == need_skill)
            date_ok = (offer_from <= need_to) & (need_from <= offer_to)
            skill_fails, date_fails = (~skill_ok).sum(axis=1), (skill_ok & ~date_ok).sum(axis=1)
            for need, by_skill, by_date in zip(group["need_id"], skill_fails.tolist(), date_fails.tolist()):
                counts[need].update({name: n for name, n in (("skill", by_skill), ("window", by_date)) if n})
                passed[need] = len(mine) - by_skill - by_date
    return passed


def day_bounds(start: pd.Series, end: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A date window as int64 nanoseconds, an empty date open-ended (the smallest or largest int64)."""
    low, high = np.iinfo("int64").min, np.iinfo("int64").max
    first = start.to_numpy("datetime64[ns]").astype("int64")
    last = end.to_numpy("datetime64[ns]").astype("int64")
    return np.where(start.isna().to_numpy(), low, first), np.where(end.isna().to_numpy(), high, last)


def later_failures(reached: pd.DataFrame, batch: Batch, scenario: Scenario) -> dict[str, Counter]:
    """For need × offer rows that pass skill, dates and reach: the count per need of the first later filter failed."""
    upper = reached[["quantity", "need_quantity"]].min(axis=1)
    checks = {
        "chunk": ~reached["divisible"].astype(bool) | (reached["min_chunk"] <= upper),
        "legal": legally_allowed(reached, scenario),
        "forbid": ~forbidden(reached, batch.decisions),
    }
    fails = pd.Series(None, index=reached.index, dtype=object)
    for name in reversed(list(checks)):  # the first failing filter wins: fill from the last one back
        fails = fails.mask(~checks[name].to_numpy(), name)
    failed = reached.assign(fails=fails).dropna(subset=["fails"])
    return {need: Counter(group) for need, group in failed.groupby("need_id")["fails"]}


# Answers for a person --------------------------------------------------------------------------------------

@dataclass
class Explainer:
    """A plan (its tables and manifest) with the batch it came from, asked about one row at a time."""

    batch: Batch
    scenario: Scenario
    tables: dict[str, pd.DataFrame]
    manifest: dict

    @classmethod
    def from_result(cls, result) -> Explainer:
        result.raise_for_status()
        return cls(result.batch, result.scenario, result.tables, result.manifest())

    @classmethod
    def from_folder(cls, out: str | Path, batch: Batch | str | Path | None = None) -> Explainer:
        tables, manifest = read_run(out)
        if batch is None:
            batch = manifest.get("batch")
            if not batch:
                raise InputError([Problem(str(Path(out) / "run.json"), None, "batch",
                                          "does not say which batch folder the run solved; pass --batch")])
        if not isinstance(batch, Batch):
            from matcher.batch import read_batch

            batch = read_batch(batch)
        scenario = Scenario.from_dict(manifest["scenario"], source="run.json")
        return cls(batch, scenario, tables, manifest)

    def text(self, need: str | None = None, partner: str | None = None, district: str | None = None) -> str:
        asked = [x for x in (need, partner, district) if x]
        if len(asked) != 1:
            raise ValueError("ask about exactly one of need, partner, district")
        if need:
            return self.need(need)
        if partner:
            return self.partner(partner)
        return self.district(district)

    def _check(self, table: pd.DataFrame, column: str, value: str, file: str) -> None:
        if value not in set(table[column]):
            raise InputError([Problem(file, None, column, f"'{value}' is not a {column} in {file}")])

    def need(self, need_id: str) -> str:
        self._check(self.batch.needs, "need_id", need_id, "needs.csv")
        need = self.batch.needs.set_index("need_id").loc[need_id]
        allocations = self.tables["allocations"]
        mine = allocations[allocations["need_id"] == need_id]
        got = int(mine["quantity"].sum())
        skill = "" if need["skill"] == ANY_SKILL else f" ({need['skill']})"
        lines = [f"Need {need_id}: {need['resource'].replace('_', ' ')}{skill} in {need['district_id']}, "
                 f"priority {need['priority']:g}" + (f", hard floor {int(need['floor'])}" if need["floor"] else "")
                 + f": needs {int(need['quantity']):,} {need['unit']}, gets {got:,} ({got / need['quantity']:.0%})."]
        for row in mine.itertuples():
            lines.append(f"  - {row.quantity:,} {row.unit} from {row.partner_id} (offer {row.offer_id}): {row.reason}")
        unmet = self.tables["unmet"]
        reason = unmet.loc[unmet["need_id"] == need_id, "reason"]
        if len(reason):
            lines.append(f"Not fully met: {reason.iloc[0]}")
        return "\n".join(lines)

    def partner(self, partner_id: str) -> str:
        self._check(self.batch.partners, "partner_id", partner_id, "partners.csv")
        p = self.batch.partners.set_index("partner_id").loc[partner_id]
        allocations = self.tables["allocations"]
        mine = allocations[allocations["partner_id"] == partner_id]
        lines = [f"Partner {partner_id} ({p['kind']}, home {p['home_district']}): "
                 f"gives to {mine['need_id'].nunique()} need(s) in {mine['district_id'].nunique()} district(s)."]
        for row in mine.itertuples():
            lines.append(f"  - offer {row.offer_id}: {row.quantity:,} {row.unit} to {row.need_id} "
                         f"({row.district_id}): {row.reason}")
        offers = self.batch.offers[self.batch.offers["partner_id"] == partner_id]
        unused = offers[~offers["offer_id"].isin(mine["offer_id"])]
        for offer in unused.itertuples():
            lines.append(f"  - offer {offer.offer_id} ({offer.resource}, {offer.quantity:,} {offer.unit}) is not used")
        labor = self.tables.get("labor")
        if labor is not None and len(labor):
            for row in labor[labor["partner_id"] == partner_id].itertuples():
                reason = getattr(row, "reason", "")
                lines.append(f"  - role {row.role_id}: {row.position}, {row.hours:g} h/week" +
                             (f": {reason}" if isinstance(reason, str) and reason else ""))
        return "\n".join(lines)

    def district(self, district_id: str) -> str:
        self._check(self.batch.districts, "district_id", district_id, "districts.csv")
        summary = self.tables["districts_summary"].set_index("district_id").loc[district_id]
        lines = [f"District {district_id} ({summary['name']}, priority {summary['priority']:g}): coverage "
                 f"{summary['coverage']:.3f} of {summary['coverage_possible']:.3f} possible; "
                 f"{int(summary['needs_fully_met'])} of {int(summary['needs'])} needs fully met."]
        allocations = self.tables["allocations"]
        here = allocations[allocations["district_id"] == district_id]
        for partner_id, rows in here.groupby("partner_id", sort=True):
            brings = "; ".join(f"{q:,} {u} to {n}" for q, u, n in zip(rows["quantity"], rows["unit"], rows["need_id"]))
            lines.append(f"  - {partner_id} brings {brings}")
        unmet = self.tables["unmet"]
        for row in unmet[unmet["district_id"] == district_id].itertuples():
            lines.append(f"  - {row.need_id} short by {row.shortfall} ({row.resource}): {row.reason}")
        labor = self.tables.get("labor")
        if labor is not None and len(labor):
            for row in labor[labor["district_id"] == district_id].itertuples():
                lines.append(f"  - role {row.role_id}: {row.partner_id} ({row.position})")
        return "\n".join(lines)


def read_run(out: str | Path) -> tuple[dict[str, pd.DataFrame], dict]:
    """An output folder's tables and run.json."""
    out = Path(out)
    manifest_path = out / "run.json"
    if not manifest_path.exists():
        raise InputError([Problem(str(out), None, None, "is not a matcher output folder (no run.json)")])
    ids = {c: str for c in ("offer_id", "partner_id", "need_id", "district_id", "role_id")}
    tables = {}
    for name in ("allocations", "labor", "teams", "unmet", "partners_summary", "districts_summary"):
        path = out / f"{name}.csv"
        if path.exists():
            tables[name] = pd.read_csv(path, dtype=ids, keep_default_na=False, na_values=[""])
    return tables, json.loads(manifest_path.read_text())


# What-if ----------------------------------------------------------------------------------------------------

WHAT_IF = re.compile(r"^\s*(lock|forbid|lead)\s+(\S+?)\s*->\s*([^\s=]+)\s*(?:=\s*(\d+))?\s*$", re.IGNORECASE)


def parse_decision(text: str, batch: Batch) -> dict:
    """`lock O12->N7[=300]`, `forbid O12->N7`, `forbid P3->D2`, `lead P3->R2` as a decisions.csv row."""
    match = WHAT_IF.match(text)
    if not match:
        raise InputError([Problem("--what-if", None, None, f"'{text}' is not a decision; write e.g. 'lock O12->N7', "
                                  "'lock O12->N7=300', 'forbid P3->D2' or 'lead P3->R2'")])
    action, first, second, quantity = match.groups()
    action = action.lower()
    kinds = {"offer_id": batch.offers["offer_id"], "partner_id": batch.partners["partner_id"],
             "need_id": batch.needs["need_id"], "district_id": batch.districts["district_id"],
             "role_id": batch.roles["role_id"]}
    row: dict = {"action": "lock" if action == "lead" else action}
    for value in (first, second):
        kind = next((k for k, ids in kinds.items() if value in set(ids)), None)
        if kind is None:
            raise InputError([Problem("--what-if", None, None, f"'{value}' is not an offer, partner, need, district "
                                      "or role id of this batch")])
        row[kind] = value
    if action == "lead" and not {"partner_id", "role_id"} <= row.keys():
        raise InputError([Problem("--what-if", None, None, "'lead' takes a partner and a role: 'lead P3->R2'")])
    if quantity:
        row["quantity"] = int(quantity)
    return row


def with_decision(batch: Batch, decision: dict) -> Batch:
    """The batch with one more decisions.csv row (marked as a what-if)."""
    decisions = batch.decisions
    row = {column: None for column in decisions.columns}
    row.update(decision, note="what-if", agreed_by="what-if")
    row[ROW] = int(decisions[ROW].max()) + 1 if len(decisions) else 2
    added = pd.DataFrame([row]).astype({c: t for c, t in decisions.dtypes.items() if c in row}, errors="ignore")
    merged = pd.concat([decisions, added], ignore_index=True) if len(decisions) else added
    return replace(batch, decisions=merged.astype(decisions.dtypes.to_dict()))


@dataclass
class WhatIf:
    """What one decision costs: each term before and after, and the pairings and roles that move."""

    decision: str
    status: str
    terms: pd.DataFrame  # term, before, after, change (in the term's unit), points (objective change)
    diff: object | None = None  # matcher.diff.RunDiff, when the decision leaves a plan
    infeasibility: object | None = None  # matcher.infeasibility.Infeasibility, when it does not
    base_status: str = "optimal"  # the status of the run the decision is priced against

    def __str__(self) -> str:
        if self.infeasibility is not None:
            return f"What if {self.decision}: no plan can hold it.\n{self.infeasibility}"
        lines = [f"What if {self.decision}: the plan is {self.status}."]
        if self.base_status != "optimal" or self.status != "optimal":
            lines.append(f"(The run compared against is {self.base_status}; a plan not proven optimal can differ "
                         "by more than the decision's own price.)")
        lines.append("Cost in each term (after − before; points are objective points):")
        for row in self.terms.itertuples():
            if abs(row.change) > 1e-9 or abs(row.points) > 1e-9:
                lines.append(f"  - {row.term}: {row.before:,.4g} → {row.after:,.4g} {row.unit} "
                             f"({row.points:+.4f} points)")
        total = self.terms["points"].sum()
        lines.append(f"  = {total:+.4f} points in all" if len(self.terms) else "  (no terms)")
        if self.diff is not None:
            lines.append(self.diff.text(title="What moves"))
        return "\n".join(lines)


def what_if(out: str | Path, decision: str, batch: Batch | str | Path | None = None,
            scenario: Scenario | None = None) -> WhatIf:
    """Re-solve the run in `out` with one more decision; report its price per term and what moves."""
    from matcher.diff import diff_runs
    from matcher.solve import solve

    base = Explainer.from_folder(out, batch)
    scenario = scenario or base.scenario
    row = parse_decision(decision, base.batch)
    if row["action"] == "lock" and "role_id" in row:
        cannot = cannot_lead(base.batch, scenario, row["partner_id"], row["role_id"])
        if cannot:
            raise InputError([Problem("--what-if", None, None, cannot)])
    changed = with_decision(base.batch, row)
    result = solve(changed, scenario, hint=base.tables["allocations"])  # keep what the decision need not move
    if not result.status.has_plan:
        from matcher.infeasibility import explain_infeasibility

        return WhatIf(decision, result.status.value, pd.DataFrame(), infeasibility=explain_infeasibility(
            changed, scenario))
    before, after = base.manifest.get("terms", {}), result.terms
    rows = []
    for term in after:
        b, a = before.get(term, {}), after[term]
        rows.append({"term": term, "unit": a.get("unit", ""), "before": b.get("value", 0.0), "after": a["value"],
                     "change": a["value"] - b.get("value", 0.0),
                     "points": a["contribution"] - b.get("contribution", 0.0)})
    return WhatIf(decision, result.status.value, pd.DataFrame(rows), diff=diff_runs(out, result),
                  base_status=base.manifest.get("status", "optimal"))


def cannot_lead(batch: Batch, scenario: Scenario, partner_id: str, role_id: str) -> str | None:
    """Why a partner can never lead a role (no rating, too weak, too few hours, forbidden), or None if it can."""
    from matcher.labor import role_candidates, role_strengths

    candidates = role_candidates(batch, scenario)
    row = candidates[(candidates["role_id"] == role_id) & (candidates["partner_id"] == partner_id)]
    if len(row) and bool(row["can_lead"].iloc[0]):
        return None
    role = batch.roles.set_index("role_id").loc[role_id]
    partner = batch.partners.set_index("partner_id").loc[partner_id]
    rated = role_strengths(batch)
    rated = rated[(rated["role_id"] == role_id) & (rated["partner_id"] == partner_id)]
    why = f"{partner_id} cannot lead {role_id}: "
    if rated.empty or rated["strength"].iloc[0] <= 0:
        return why + f"capabilities.csv gives it no strength in {role['skill']} or for {role_id}"
    if rated["strength"].iloc[0] < scenario.labor.min_lead_strength:
        return why + f"its strength {rated['strength'].iloc[0]:g} is below labor.min_lead_strength"
    if rated["hours"].iloc[0] > partner["role_hours"]:
        return why + (f"the role takes {rated['hours'].iloc[0]:g} h a week and it gives roles "
                      f"{partner['role_hours']:g} (partners.csv role_hours)")
    return why + "a forbid decision, or the lead-presence rule, rules it out"


def _listed(items: list[str], most: int = 5) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")
