"""The output tables of a run, built from the solved amounts, and their atomic writing.

Tables are computed from the allocation itself (not from solver internals), so every number in
them, and each objective term in run.json, can be recomputed by anyone from the files.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.batch import Batch
from matcher.errors import OutputError
from matcher.scenario import Scenario
from matcher.schema import ANY_SKILL, RESOURCES
from matcher.terms import coverage_value

OUTPUT_FILES = ("allocations.csv", "unmet.csv", "partners_summary.csv", "districts_summary.csv", "run.json")
ALLOCATION_COLUMNS = ["offer_id", "partner_id", "need_id", "district_id", "resource", "skill", "quantity", "unit",
                      "share_of_need", "distance_km", "cost_usd", "reason"]
UNMET_COLUMNS = ["need_id", "district_id", "resource", "skill", "needed", "allocated", "shortfall", "reason"]


def build_tables(batch: Batch, pairs: pd.DataFrame, amounts: list[int], scenario: Scenario) -> dict:
    """Every output table for one plan: `amounts[i]` is what pair i of `pairs` carries."""
    chosen = pairs.assign(quantity=amounts)
    chosen = chosen[chosen["quantity"] > 0]
    allocations = allocation_table(batch, chosen)
    needs = need_progress(batch, allocations, scenario)
    return {
        "allocations": allocations,
        "unmet": unmet_table(batch, pairs, allocations, needs),
        "partners_summary": partners_summary(batch, allocations),
        "districts_summary": districts_summary(batch, needs),
    }


def allocation_table(batch: Batch, chosen: pd.DataFrame) -> pd.DataFrame:
    """The pairings: who sends what, where, how much, and a short reason."""
    offers = batch.offers.set_index("offer_id")
    needs = batch.needs.set_index("need_id")
    districts = batch.districts.set_index("district_id")
    rows = []
    for pair in chosen.itertuples(index=False):
        offer, need = offers.loc[pair.offer_id], needs.loc[pair.need_id]
        share = pair.quantity / need["quantity"]
        skill = need["skill"] if need["skill"] != ANY_SKILL else offer["skill"]
        rows.append({
            "offer_id": pair.offer_id, "partner_id": pair.partner_id, "need_id": pair.need_id,
            "district_id": pair.district_id, "resource": pair.resource, "skill": skill,
            "quantity": int(pair.quantity), "unit": need["unit"], "share_of_need": round(share, 4),
            "distance_km": round(float(pair.distance_km), 1),
            "cost_usd": round(float(pair.quantity * pair.cost_per_unit), 2),
            "reason": allocation_reason(share, need, districts.loc[pair.district_id], pair.distance_km),
        })
    return pd.DataFrame(rows, columns=ALLOCATION_COLUMNS)


def allocation_reason(share: float, need: pd.Series, district: pd.Series, distance_km: float) -> str:
    place = district["name"] if isinstance(district["name"], str) else district.name
    where = "partner's home district" if distance_km == 0 else f"{distance_km:.0f} km from the partner's home"
    return (f"covers {share:.0%} of a priority-{need['priority']:g} need in {place} "
            f"(district priority {district['priority']:g}); {where}")


def need_progress(batch: Batch, allocations: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Each need with what it got and the coverage it earns, exactly as DESIGN.md defines it."""
    got = allocations.groupby("need_id")["quantity"].sum()
    needs = batch.needs[["need_id", "district_id", "resource", "skill", "quantity", "priority", "floor"]].copy()
    needs["allocated"] = needs["need_id"].map(got).fillna(0).astype("int64")
    district_priority = needs["district_id"].map(batch.districts.set_index("district_id")["priority"])
    segments = scenario.coverage.segments
    needs["coverage"] = [p * dp * coverage_value(a / q, segments) for p, dp, a, q in
                         zip(needs["priority"], district_priority, needs["allocated"], needs["quantity"])]
    needs["coverage_possible"] = needs["priority"] * district_priority * coverage_value(1.0, segments)
    return needs


def unmet_table(batch: Batch, pairs: pd.DataFrame, allocations: pd.DataFrame,
                needs: pd.DataFrame) -> pd.DataFrame:
    """Every need not fully met, its shortfall, and why."""
    used_by_offer = allocations.groupby("offer_id")["quantity"].sum()
    offers = batch.offers.set_index("offer_id")
    eligible = pairs.groupby("need_id")["offer_id"].agg(list)
    takers = allocations.groupby("offer_id")["need_id"].agg(list)
    rows = []
    for need in needs[needs["allocated"] < needs["quantity"]].itertuples(index=False):
        candidates = eligible.get(need.need_id, [])
        rows.append({
            "need_id": need.need_id, "district_id": need.district_id, "resource": need.resource,
            "skill": need.skill, "needed": int(need.quantity), "allocated": int(need.allocated),
            "shortfall": int(need.quantity - need.allocated),
            "reason": unmet_reason(need.need_id, candidates, offers, used_by_offer, takers),
        })
    return pd.DataFrame(rows, columns=UNMET_COLUMNS)


def unmet_reason(need_id: str, candidates: list[str], offers: pd.DataFrame, used_by_offer: pd.Series,
                 takers: pd.Series) -> str:
    if not candidates:
        return "no eligible offer: resource, skill, reach or dates rule out every offer"
    left = [o for o in candidates if _spare(o, offers, used_by_offer) > 0]
    if not left:
        others = sorted({n for o in candidates for n in takers.get(o, []) if n != need_id})
        return f"all {len(candidates)} eligible offers are used up, by needs {', '.join(others[:5])}" + (
            "…" if len(others) > 5 else "")
    return (f"{len(left)} eligible offers have spare capacity, but their minimum chunk, whole-offer size, "
            "travel or cost outweigh the coverage they would add")


def _spare(offer_id: str, offers: pd.DataFrame, used_by_offer: pd.Series) -> int:
    used = int(used_by_offer.get(offer_id, 0))
    if not offers.at[offer_id, "divisible"]:
        return 0 if used else int(offers.at[offer_id, "quantity"])
    return int(offers.at[offer_id, "quantity"]) - used


def partners_summary(batch: Batch, allocations: pd.DataFrame) -> pd.DataFrame:
    """Per partner: offered vs allocated per resource, districts served, and whether it benefits."""
    partners = batch.partners[["partner_id", "name", "kind", "home_district"]].copy()
    offered = batch.offers.pivot_table(index="partner_id", columns="resource", values="quantity", aggfunc="sum")
    allocated = allocations.pivot_table(index="partner_id", columns="resource", values="quantity", aggfunc="sum")
    for resource in RESOURCES:
        for label, table in (("offered", offered), ("allocated", allocated)):
            column = table[resource] if resource in table.columns else pd.Series(dtype="float64")
            partners[f"{label}_{resource}"] = partners["partner_id"].map(column).fillna(0).astype("int64")
    partners["offers"] = partners["partner_id"].map(batch.offers.groupby("partner_id").size()).fillna(0)
    partners["offers_used"] = partners["partner_id"].map(allocations.groupby("partner_id")["offer_id"].nunique())
    served = allocations.groupby("partner_id")["district_id"].agg(lambda d: tuple(sorted(set(d))))
    partners["districts_served"] = partners["partner_id"].map(lambda p: ";".join(served.get(p, ())))
    preferred = batch.partners.set_index("partner_id")["preferred_districts"]
    partners["preferred_served"] = [len(set(preferred[p]) & set(served.get(p, ()))) for p in partners["partner_id"]]
    partners["benefit"] = [bool(served.get(p)) and (not preferred[p] or n > 0)
                           for p, n in zip(partners["partner_id"], partners["preferred_served"])]
    for column in ("offers", "offers_used"):
        partners[column] = partners[column].fillna(0).astype("int64")
    return partners


def districts_summary(batch: Batch, needs: pd.DataFrame) -> pd.DataFrame:
    """Per district: needed vs allocated per resource and the coverage earned against what was possible."""
    districts = batch.districts[["district_id", "name", "region", "priority"]].copy()
    by_district = needs.groupby("district_id")
    districts["needs"] = districts["district_id"].map(by_district.size()).fillna(0).astype("int64")
    fully_met = needs[needs["allocated"] == needs["quantity"]].groupby("district_id").size()
    districts["needs_fully_met"] = districts["district_id"].map(fully_met).fillna(0).astype("int64")
    for resource in RESOURCES:
        of_kind = needs[needs["resource"] == resource].groupby("district_id")
        for label, column in (("needed", "quantity"), ("allocated", "allocated")):
            districts[f"{label}_{resource}"] = districts["district_id"].map(of_kind[column].sum()).fillna(0).astype(
                "int64")
    districts["coverage"] = districts["district_id"].map(by_district["coverage"].sum()).fillna(0.0).round(6)
    districts["coverage_possible"] = districts["district_id"].map(
        by_district["coverage_possible"].sum()).fillna(0.0).round(6)
    return districts


def objective_terms(batch: Batch, tables: dict, scenario: Scenario) -> dict[str, dict[str, float]]:
    """Each term's raw value (in its own unit), weight and weighted contribution, from the tables."""
    allocations = tables["allocations"]
    coverage = float(need_progress(batch, allocations, scenario)["coverage"].sum())
    travel_km = float(allocations["distance_km"].sum())
    cost_usd = float(allocations["cost_usd"].sum())
    w = scenario.weights
    return {
        "coverage": {"value": coverage, "unit": "priority-weighted needs", "weight": w.coverage,
                     "contribution": w.coverage * coverage},
        "travel": {"value": travel_km, "unit": "km", "weight": w.travel, "contribution": -w.travel * travel_km},
        "cost": {"value": cost_usd, "unit": "usd", "weight": w.cost, "contribution": -w.cost * cost_usd},
    }


def write_folder(folder: Path, tables: dict[str, pd.DataFrame], manifest: dict, batch: Batch) -> Path:
    """Write to a temporary sibling, verify the files there, then rename: a whole folder or none."""
    from matcher.verify import verify_folder

    folder = folder.resolve()
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file; name a folder for the outputs")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "run.json").exists():
        raise OutputError(f"{folder} already holds files that are not a matcher output; choose another folder")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder.parent}: {exc.strerror}") from None
    staging = folder.parent / f".{folder.name}.writing-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        for name, table in tables.items():
            table.to_csv(staging / f"{name}.csv", index=False, lineterminator="\n")
        (staging / "run.json").write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n")
        verify_folder(batch, staging).raise_if_any()
        replace_folder(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def replace_folder(new: Path, folder: Path) -> None:
    """Swap a finished folder into place; an older run there is removed only after the swap."""
    old = folder.parent / f".{folder.name}.old-{os.getpid()}"
    if folder.exists():
        os.replace(folder, old)
    os.replace(new, folder)
    shutil.rmtree(old, ignore_errors=True)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(f"cannot write {type(value)} to JSON")
