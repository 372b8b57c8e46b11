"""The output tables of a run, built from the solved amounts, and their atomic writing.

Tables are computed from the allocation itself (not from solver internals), so every number in
them, and each objective term in run.json, can be recomputed by anyone from the files.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.batch import Batch
from matcher.errors import OutputError
from matcher.safety import write_csv
from matcher.scenario import Scenario
from matcher.schema import ANY_SKILL, RESOURCES
from matcher.terms import coverage_value

OUTPUT_FILES = ("allocations.csv", "labor.csv", "teams.csv", "unmet.csv", "partners_summary.csv",
                "districts_summary.csv", "run.json")
ALLOCATION_COLUMNS = ["offer_id", "partner_id", "need_id", "district_id", "resource", "skill", "quantity", "unit",
                      "share_of_need", "expected_quantity", "distance_km", "cost_usd", "reason", "decision",
                      "agreed_by", "agreed_on", "note"]
LABOR_COLUMNS = ["role_id", "district_id", "partner_id", "position", "hours", "strength"]
UNMET_COLUMNS = ["need_id", "district_id", "resource", "skill", "needed", "allocated", "shortfall", "reason"]


def build_tables(batch: Batch, pairs: pd.DataFrame, amounts: list[int], scenario: Scenario,
                 positions: pd.DataFrame | None = None) -> dict:
    """Every output table for one plan: `amounts[i]` is what pair i of `pairs` carries; `positions` are the
    roles held (labor.csv rows)."""
    chosen = pairs.assign(quantity=amounts)
    chosen = chosen[chosen["quantity"] > 0]
    allocations = allocation_table(batch, chosen)
    needs = need_progress(batch, allocations, scenario)
    return {
        "allocations": allocations,
        "unmet": unmet_table(batch, pairs, allocations, needs),
        "labor": (labor := labor_table(batch, positions)),
        "teams": teams_table(allocations, scenario),
        "partners_summary": partners_summary(batch, allocations, labor),
        "districts_summary": districts_summary(batch, needs),
    }


def allocation_table(batch: Batch, chosen: pd.DataFrame) -> pd.DataFrame:
    """The pairings: who sends what, where, how much, and a short reason.

    Columns are looked up for all rows at once and only the rounding and the sentences are per row,
    in plain Python (a national plan has some 85,000 rows).
    """
    if chosen.empty:
        return with_decisions(pd.DataFrame(columns=ALLOCATION_COLUMNS), batch.decisions)
    needs = batch.needs.set_index("need_id")
    districts = batch.districts.set_index("district_id")
    quantity = chosen["quantity"].to_numpy("int64")
    shares = quantity / chosen["need_id"].map(needs["quantity"]).to_numpy(float)
    need_skill = chosen["need_id"].map(needs["skill"])
    offer_skill = chosen["offer_id"].map(batch.offers.set_index("offer_id")["skill"])
    table = pd.DataFrame({
        "offer_id": chosen["offer_id"].to_numpy(), "partner_id": chosen["partner_id"].to_numpy(),
        "need_id": chosen["need_id"].to_numpy(), "district_id": chosen["district_id"].to_numpy(),
        "resource": chosen["resource"].to_numpy(),
        "skill": need_skill.where(need_skill != ANY_SKILL, offer_skill).to_numpy(),
        "quantity": quantity, "unit": chosen["need_id"].map(needs["unit"]).to_numpy(),
        "share_of_need": np.round(shares, 4),
        "expected_quantity": [round(q * round(r, 3), 3)
                              for q, r in zip(quantity.tolist(), chosen["reliability"].to_numpy(float).tolist())],
        "distance_km": [round(km, 1) for km in chosen["distance_km"].to_numpy(float).tolist()],
        "cost_usd": [round(cost, 2) for cost in (quantity * chosen["cost_per_unit"].to_numpy(float)).tolist()],
        "reason": [allocation_reason(share, priority, place, district_priority, km) for
                   share, priority, place, district_priority, km in zip(
                       shares.tolist(), chosen["need_id"].map(needs["priority"]).tolist(),
                       chosen["district_id"].map(district_places(batch.districts)).tolist(),
                       chosen["district_id"].map(districts["priority"]).tolist(), chosen["distance_km"].tolist())],
    }, columns=ALLOCATION_COLUMNS)
    return with_decisions(table, batch.decisions)


def district_places(districts: pd.DataFrame) -> pd.Series:
    """Each district's name for sentences, or its id where it has none."""
    named = districts["name"].map(lambda name: isinstance(name, str) and bool(name))
    return pd.Series(districts["name"].where(named, districts["district_id"]).to_numpy(),
                     index=districts["district_id"])


def with_decisions(allocations: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """Rows fixed by a lock carry it: which decisions.csv row, who agreed, when, and the note."""
    keys = ("offer_id", "need_id", "partner_id", "district_id")
    for column in ("decision", "agreed_by", "agreed_on", "note"):
        allocations[column] = allocations[column].astype(object)
    for d in decisions[(decisions["action"] == "lock") & decisions["role_id"].isna()].itertuples(index=False):
        match = pd.Series(True, index=allocations.index)
        for key in keys:
            if not pd.isna(getattr(d, key)):
                match &= allocations[key] == getattr(d, key)
        allocations.loc[match, "decision"] = f"lock (decisions.csv row {d.csv_row})"
        allocations.loc[match, "agreed_by"] = d.agreed_by
        allocations.loc[match, "agreed_on"] = None if pd.isna(d.agreed_on) else d.agreed_on.date().isoformat()
        allocations.loc[match, "note"] = d.note
    return allocations


def allocation_reason(share: float, need_priority: float, place: str, district_priority: float,
                      distance_km: float) -> str:
    where = "partner's home district" if distance_km == 0 else f"{distance_km:.0f} km from the partner's home"
    return (f"covers {share:.0%} of a priority-{need_priority:g} need in {place} "
            f"(district priority {district_priority:g}); {where}")


TEAM_COLUMNS = ["district_id", "partner_id", "brings", "complements", "pooled"]


def teams_table(allocations: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Per district, who works there and what each brings; complementary partners are named.

    A partner complements another when, under scenario.pooling.pairs, one brings one resource of a
    pair (volunteers, say) and the other the other (an office); `pooled` marks districts with such a pair.
    """
    brought = allocations.groupby(["district_id", "partner_id", "resource"], sort=True)["quantity"].sum()
    units = allocations.groupby(["district_id", "resource"])["unit"].first().to_dict()
    complements: dict[tuple, set] = {}
    for (district, partner, _), others in complementary_partners(allocations, scenario).items():
        complements.setdefault((district, partner), set()).update(other for other, _ in others)
    pooled = {district for district, _ in complements}
    brings: dict[tuple, list[str]] = {}
    for (district, partner, resource), quantity in brought.items():
        brings.setdefault((district, partner), []).append(f"{resource} {quantity} {units[(district, resource)]}")
    rows = [{"district_id": district, "partner_id": partner, "brings": "; ".join(brought_here),
             "complements": ";".join(sorted(complements.get((district, partner), ()))), "pooled": district in pooled}
            for (district, partner), brought_here in brings.items()]
    return pd.DataFrame(rows, columns=TEAM_COLUMNS)


def complementary_partners(allocations: pd.DataFrame, scenario: Scenario) -> dict:
    """(district, partner, resource) -> [(other partner, its complementary resource)] under pooling.pairs."""
    partners = allocations.groupby(["district_id", "resource"], sort=True)["partner_id"].agg(
        lambda p: sorted(set(p))).to_dict()
    found: dict[tuple, list] = {}
    for district in sorted({district for district, _ in partners}):
        for first, second in scenario.pooling.pairs:
            for mine, theirs in ((first, second), (second, first)):
                for partner in partners.get((district, mine), []):
                    for other in partners.get((district, theirs), []):
                        if other != partner:
                            found.setdefault((district, partner, mine), []).append((other, theirs))
    return found


def need_progress(batch: Batch, allocations: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Each need with what it is credited and the coverage it earns, exactly as DESIGN.md defines it.

    `allocated` is what is sent, or its expected delivery (reliability × quantity) when the scenario
    plans with reliability.
    """
    column = "expected_quantity" if scenario.policy.reliability == "expected" else "quantity"
    got = allocations.groupby("need_id")[column].sum()
    needs = batch.needs[["need_id", "district_id", "resource", "skill", "quantity", "priority", "floor"]].copy()
    needs["allocated"] = needs["need_id"].map(got).fillna(0).round(3)
    district_priority = needs["district_id"].map(batch.districts.set_index("district_id")["priority"])
    segments = scenario.coverage.segments
    shares = needs["allocated"].to_numpy(float) / needs["quantity"].to_numpy(float)
    needs["coverage"] = needs["priority"] * district_priority * coverage_value(shares, segments)
    needs["coverage_possible"] = needs["priority"] * district_priority * coverage_value(1.0, segments)
    return needs


def unmet_table(batch: Batch, pairs: pd.DataFrame, allocations: pd.DataFrame,
                needs: pd.DataFrame) -> pd.DataFrame:
    """Every need not fully met, its shortfall, and why (the cause: see matcher.explain.UnmetCauses)."""
    from matcher.explain import UnmetCauses

    causes = UnmetCauses(batch, pairs, allocations)
    rows = []
    for need in needs[needs["allocated"] < needs["quantity"]].itertuples(index=False):
        rows.append({
            "need_id": need.need_id, "district_id": need.district_id, "resource": need.resource,
            "skill": need.skill, "needed": int(need.quantity), "allocated": _number(need.allocated),
            "shortfall": _number(round(need.quantity - need.allocated, 3)),
            "reason": unmet_reason(causes, need.need_id),
        })
    return pd.DataFrame(rows, columns=UNMET_COLUMNS)


def _number(value: float) -> int | float:
    """Whole numbers print without a decimal point; expected amounts keep three decimals."""
    return int(value) if float(value).is_integer() else round(float(value), 3)


def _whole(values: pd.Series) -> pd.Series:
    """Integers when every value is whole (nominal plans), else three decimals (expected delivery)."""
    rounded = values.astype("float64").round(3)
    return rounded.astype("int64") if (rounded == rounded.round()).all() else rounded


def unmet_reason(causes, need_id: str) -> str:
    """Why one need is short: no eligible offer (and which filter ruled each out), capacity used by other
    needs (named, higher priority first), a cap, limit, conflict or policy, or the objective's trade-offs."""
    return causes.cause(need_id)


def labor_table(batch: Batch, positions: pd.DataFrame | None) -> pd.DataFrame:
    """labor.csv: one row per position held, and a `vacant` row for each optional role left without a lead."""
    held = positions if positions is not None else pd.DataFrame(columns=LABOR_COLUMNS)
    led = set(held.loc[held["position"] == "lead", "role_id"])
    empty = batch.roles[~batch.roles["role_id"].isin(led)]
    vacant = pd.DataFrame({"role_id": empty["role_id"], "district_id": empty["district_id"],
                           "partner_id": pd.Series(None, index=empty.index, dtype=object),
                           "position": "vacant", "hours": 0.0, "strength": 0.0})
    table = pd.concat([t for t in (held, vacant) if len(t)] or [held], ignore_index=True)
    rank = table["position"].map({"lead": 0, "support": 1, "vacant": 2})
    keys = list(zip(table["role_id"], rank, table["partner_id"].fillna("").astype(str)))
    order = sorted(range(len(table)), key=keys.__getitem__)
    return table.iloc[order].reset_index(drop=True)[LABOR_COLUMNS]


def workloads(batch: Batch, labor: pd.DataFrame) -> pd.DataFrame:
    """Per partner: role hours it can give, roles led and supported, hours used and load/capacity."""
    held = labor[labor["position"].isin(("lead", "support"))]
    table = batch.partners[["partner_id", "role_hours"]].copy()
    for position, column in (("lead", "roles_led"), ("support", "roles_supported")):
        count = held[held["position"] == position].groupby("partner_id").size()
        table[column] = table["partner_id"].map(count).fillna(0).astype("int64")
    table["role_hours_used"] = table["partner_id"].map(held.groupby("partner_id")["hours"].sum()).fillna(0.0)
    capacity = table["role_hours"].where(table["role_hours"] > 0)
    table["workload"] = table["role_hours_used"] / capacity
    return table


def partners_summary(batch: Batch, allocations: pd.DataFrame, labor: pd.DataFrame | None = None) -> pd.DataFrame:
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
    work = workloads(batch, labor if labor is not None else pd.DataFrame(columns=LABOR_COLUMNS))
    for column in ("role_hours", "roles_led", "roles_supported", "role_hours_used", "workload"):
        partners[column] = work[column].round(4).to_numpy()
    partners["benefit"] |= (partners["roles_led"] + partners["roles_supported"]) > 0
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
            districts[f"{label}_{resource}"] = _whole(districts["district_id"].map(of_kind[column].sum()).fillna(0))
    districts["coverage"] = districts["district_id"].map(by_district["coverage"].sum()).fillna(0.0).round(6)
    districts["coverage_possible"] = districts["district_id"].map(
        by_district["coverage_possible"].sum()).fillna(0.0).round(6)
    return districts


def objective_terms(batch: Batch, tables: dict, scenario: Scenario) -> dict[str, dict[str, float]]:
    """Each term's raw value (in its own unit), weight and weighted contribution, from the tables."""
    allocations = tables["allocations"]
    coverage = float(need_progress(batch, allocations, scenario)["coverage"].sum())
    travel_km = float(allocations.loc[allocations["resource"] != "money", "distance_km"].sum())  # money does not travel
    cost_usd = float(allocations["cost_usd"].sum())
    w = scenario.weights
    return {
        "coverage": {"value": coverage, "unit": "priority-weighted needs", "weight": w.coverage,
                     "contribution": w.coverage * coverage},
        "travel": {"value": travel_km, "unit": "km", "weight": w.travel, "contribution": -w.travel * travel_km},
        "cost": {"value": cost_usd, "unit": "usd", "weight": w.cost, "contribution": -w.cost * cost_usd},
    } | labor_terms(batch, tables.get("labor"), scenario)


def labor_terms(batch: Batch, labor: pd.DataFrame | None, scenario: Scenario) -> dict[str, dict[str, float]]:
    """Strength fit, workload fairness and roles held, recomputed from labor.csv."""
    w = scenario.labor
    labor = labor if labor is not None else pd.DataFrame(columns=LABOR_COLUMNS)
    is_lead = labor["position"] == "lead"
    strength = float((labor["strength"] * is_lead.map({True: w.lead_factor, False: 1.0})).sum())
    work = workloads(batch, labor)
    ratios = work.loc[work["role_hours"] > 0, "workload"]
    fairness = 0.0
    if len(ratios):
        fairness = float(ratios.max() - (ratios.min() if w.fairness_mode == "spread" else 0.0))
    holding = int(((work["role_hours"] > 0) & (work["roles_led"] + work["roles_supported"] > 0)).sum())
    return {
        "strength_fit": {"value": strength, "unit": "strength points (leads × lead_factor)", "weight": w.strength,
                         "contribution": w.strength * strength},
        "workload_fairness": {"value": fairness, "unit": f"load/capacity ({w.fairness_mode})",
                              "weight": w.fairness, "contribution": -w.fairness * fairness},
        "role_held": {"value": holding, "unit": "partners with role hours holding a role", "weight": w.role_held,
                      "contribution": w.role_held * holding},
    }


def write_folder(folder: Path, tables: dict[str, pd.DataFrame], manifest: dict, batch: Batch,
                 redact: bool = False) -> Path:
    """Write to a temporary sibling, verify the files there, then rename: a whole folder or none.

    Only the named folder and its hidden siblings `.NAME.writing-PID` (the staging folder) and
    `.NAME.old-PID` (the run being replaced) are ever written; siblings left by a run that was
    killed are cleaned up by the next. `redact` empties contact fields (matcher.safety).
    """
    from matcher.verify import verify_folder

    folder = Path(os.path.abspath(folder))
    if not folder.name:
        raise OutputError(f"{folder} is not a folder matcher can write; name a folder for the outputs")
    if folder.is_symlink():
        raise OutputError(f"{folder} is a symbolic link; name a real folder for the outputs")
    folder = folder.parent.resolve() / folder.name
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file; name a folder for the outputs")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "run.json").exists():
        raise OutputError(f"{folder} already holds files that are not a matcher output; choose another folder")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder.parent}: {exc.strerror}") from None
    _clean_abandoned(folder)
    staging = folder.parent / f".{folder.name}.writing-{os.getpid()}"
    if redact:
        manifest = {**manifest, "redacted": True}
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for name, table in tables.items():
            write_csv(name, table, staging / f"{name}.csv", redact=redact)
        (staging / "run.json").write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n")
        for path in staging.iterdir():
            _sync(path)
        _sync(staging)
        verify_folder(batch, staging).raise_if_any()
        replace_folder(staging, folder)
    except OSError as exc:
        raise OutputError(f"cannot write {folder}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def replace_folder(new: Path, folder: Path) -> None:
    """Swap a finished folder into place; an older run there is removed only after the swap.

    Between the two renames the named folder is briefly absent, never half written; a run killed
    just then leaves the older run in `.NAME.old-PID`, which the next write puts back first.
    """
    old = folder.parent / f".{folder.name}.old-{os.getpid()}"
    if folder.exists():
        os.replace(folder, old)
    os.replace(new, folder)
    _sync(folder.parent)
    shutil.rmtree(old, ignore_errors=True)


def _clean_abandoned(folder: Path) -> None:
    """Remove what a killed run left beside `folder`; restore the run it was replacing, if that is gone."""
    pattern = re.compile(re.escape(f".{folder.name}.") + r"(writing|old)-(\d+)")
    for sibling in sorted(folder.parent.iterdir()):
        found = pattern.fullmatch(sibling.name)
        if not found or _alive(int(found.group(2))) or sibling.is_symlink():
            continue
        if found.group(1) == "old" and not folder.exists():
            os.replace(sibling, folder)
        else:
            shutil.rmtree(sibling, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _sync(path: Path) -> None:
    """Flush a file or folder to disk, so a power cut cannot leave a renamed but empty file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(f"cannot write {type(value)} to JSON")
