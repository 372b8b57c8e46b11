"""What moved between two runs: allocations, roles and coverage by district, for progress from batch to batch.

A run is a Result or an output folder. Allocations are matched on (offer, need); roles on (role,
partner); coverage on district. Rows present in only one run are `added` or `removed`; rows whose
quantity or position changed are `changed`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ALLOCATION_KEYS = ["offer_id", "need_id"]
LABOR_KEYS = ["role_id", "partner_id"]


@dataclass
class RunDiff:
    """The differences between run A and run B; each table holds only what changed."""

    allocations: pd.DataFrame  # offer_id, need_id, partner_id, district_id, resource, quantity_a, quantity_b, change
    labor: pd.DataFrame  # role_id, partner_id, position_a, position_b, change
    coverage: pd.DataFrame  # district_id, coverage_a, coverage_b, delta (every district)
    headline: dict  # objective and coverage of each run
    needs: pd.DataFrame | None = None  # need_id, district_id, resource, allocated_a, allocated_b, change (net)

    @property
    def empty(self) -> bool:
        return self.allocations.empty and self.labor.empty and (self.coverage["delta"].abs() < 1e-9).all()

    def text(self, title: str = "What moved from A to B", most: int = 20) -> str:
        """In words: the headline, the needs that gain or lose, the pairings and roles that move, coverage."""
        h = self.headline
        lines = [f"{title}: coverage {h['coverage_a']:.3f} → {h['coverage_b']:.3f}, objective "
                 f"{_fmt(h['objective_a'])} → {_fmt(h['objective_b'])}."]
        if self.empty:
            return lines[0] + "\nNothing moved."
        if self.needs is not None and len(self.needs):
            lines.append(f"Needs that gain or lose ({len(self.needs)}):")
            for row in self.needs.head(most).itertuples():
                lines.append(f"  - {row.need_id} ({row.district_id}, {row.resource}): {_qty(row.allocated_a)} → "
                             f"{_qty(row.allocated_b)} ({row.change:+,.0f})")
            if len(self.needs) > most:
                lines.append(f"  … and {len(self.needs) - most} more")
        if len(self.allocations):
            lines.append(f"Pairings ({len(self.allocations)} moved; the largest first):")
            for row in self.allocations.head(most).itertuples():
                lines.append(f"  - {row.change}: offer {row.offer_id} ({row.partner_id}) → {row.need_id} "
                             f"({row.district_id}, {row.resource}): {_qty(row.quantity_a)} → {_qty(row.quantity_b)}")
            if len(self.allocations) > most:
                lines.append(f"  … and {len(self.allocations) - most} more")
        if len(self.labor):
            lines.append(f"Roles ({len(self.labor)} moved):")
            for row in self.labor.itertuples():
                lines.append(f"  - {row.change}: {row.role_id} {row.partner_id}: {row.position_a or '—'} → "
                             f"{row.position_b or '—'}")
        moved = self.coverage[self.coverage["delta"].abs() >= 1e-9]
        if len(moved):
            lines.append("Coverage by district:")
            for row in moved.itertuples():
                lines.append(f"  - {row.district_id}: {row.coverage_a:.3f} → {row.coverage_b:.3f} ({row.delta:+.3f})")
        return "\n".join(lines)

    __str__ = text

    def to_dict(self) -> dict:
        return {"headline": self.headline, "allocations": self.allocations.to_dict("records"),
                "needs": [] if self.needs is None else self.needs.to_dict("records"),
                "labor": self.labor.to_dict("records"), "coverage": self.coverage.to_dict("records")}


def diff_runs(run_a, run_b) -> RunDiff:
    """Compare two runs (each a Result or an output folder)."""
    a, b = _tables(run_a), _tables(run_b)
    allocations = _allocations(a["allocations"], b["allocations"])
    return RunDiff(allocations=allocations, needs=_needs(allocations),
                   labor=_labor(a.get("labor"), b.get("labor")),
                   coverage=_coverage(a["districts_summary"], b["districts_summary"]),
                   headline={"coverage_a": a["manifest"].get("coverage") or 0.0,
                             "coverage_b": b["manifest"].get("coverage") or 0.0,
                             "objective_a": a["manifest"].get("objective"),
                             "objective_b": b["manifest"].get("objective")})


def _tables(run) -> dict:
    if isinstance(run, (str, Path)):
        from matcher.explain import read_run

        tables, manifest = read_run(run)
        return {**tables, "manifest": manifest}
    run.raise_for_status()
    return {**run.tables, "manifest": run.manifest()}


def _allocations(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    columns = ALLOCATION_KEYS + ["partner_id", "district_id", "resource", "quantity"]
    sums = [t[columns].groupby(ALLOCATION_KEYS + ["partner_id", "district_id", "resource"], as_index=False).sum()
            for t in (a, b)]
    merged = sums[0].merge(sums[1], on=ALLOCATION_KEYS + ["partner_id", "district_id", "resource"], how="outer",
                           suffixes=("_a", "_b"))
    merged[["quantity_a", "quantity_b"]] = merged[["quantity_a", "quantity_b"]].fillna(0).astype("int64")
    merged["change"] = "changed"
    merged.loc[merged["quantity_a"] == 0, "change"] = "added"
    merged.loc[merged["quantity_b"] == 0, "change"] = "removed"
    moved = merged[merged["quantity_a"] != merged["quantity_b"]]
    size = (moved["quantity_b"] - moved["quantity_a"]).abs() / moved[["quantity_a", "quantity_b"]].max(axis=1)
    order = moved.assign(_size=-size).sort_values(["_size"] + ALLOCATION_KEYS, kind="stable")
    return order.drop(columns="_size").reset_index(drop=True)


def _needs(moved: pd.DataFrame) -> pd.DataFrame:
    """Net change per need over the moved pairings (needs whose total did not change are left out)."""
    columns = ["need_id", "district_id", "resource", "allocated_a", "allocated_b", "change"]
    if moved.empty:
        return pd.DataFrame(columns=columns)
    net = moved.groupby(["need_id", "district_id", "resource"], as_index=False).agg(
        allocated_a=("quantity_a", "sum"), allocated_b=("quantity_b", "sum"))
    net["change"] = net["allocated_b"] - net["allocated_a"]
    net = net[net["change"] != 0]
    net = net.assign(_size=-net["change"].abs() / net[["allocated_a", "allocated_b"]].max(axis=1))
    return net.sort_values(["_size", "need_id"], kind="stable").drop(columns="_size").reset_index(drop=True)[columns]


def _labor(a: pd.DataFrame | None, b: pd.DataFrame | None) -> pd.DataFrame:
    empty = pd.DataFrame(columns=LABOR_KEYS + ["position"])
    frames = [(t if t is not None else empty)[LABOR_KEYS + ["position"]] for t in (a, b)]
    frames = [f[f["partner_id"].notna() & (f["position"] != "vacant")] for f in frames]
    merged = frames[0].merge(frames[1], on=LABOR_KEYS, how="outer", suffixes=("_a", "_b"))
    merged = merged.astype({"position_a": object, "position_b": object})
    merged = merged.where(merged.notna(), None)
    merged["change"] = "changed"
    merged.loc[merged["position_a"].isna(), "change"] = "added"
    merged.loc[merged["position_b"].isna(), "change"] = "removed"
    moved = merged[merged["position_a"] != merged["position_b"]]
    return moved.sort_values(LABOR_KEYS, kind="stable").reset_index(drop=True)


def _coverage(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    merged = a[["district_id", "coverage"]].merge(b[["district_id", "coverage"]], on="district_id", how="outer",
                                                  suffixes=("_a", "_b")).fillna({"coverage_a": 0.0, "coverage_b": 0.0})
    merged["delta"] = (merged["coverage_b"] - merged["coverage_a"]).round(6)
    return merged.sort_values("district_id", kind="stable").reset_index(drop=True)


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def _qty(value) -> str:
    return f"{int(value):,}"
