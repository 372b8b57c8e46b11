"""Baselines for the scale benchmark: a naive dense model, HiGHS on the same MIP, a greedy plan.

Each takes a Batch and its eligible pairs (matcher.candidates.eligible_pairs) and works on the
allocation core: amounts and pairings, offer capacity, whole offers, minimum chunks, need quantity,
floors, coverage (DESIGN.md's concave f, as the smallest of its lines), travel per pairing used and
cost per unit. Roles, conflicts, decisions, legal caps, partner limits, policies, pooling and
fairness are left out: the scale benchmark runs matcher on a "core" variant of each batch without
them, so that every baseline solves the same problem as matcher.
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matcher.batch import Batch
from matcher.candidates import PAIR_COLUMNS, contribution_per_unit
from matcher.scenario import Scenario
from matcher.terms import coverage_lines, coverage_value, travel_km


# The naive dense model ---------------------------------------------------------------------------------------


def dense_pairs(batch: Batch, pairs: pd.DataFrame) -> pd.DataFrame:
    """Every offer × every need, with eligible_pairs' columns; a pair that is not eligible gets upper 0.

    This is what a model without candidate generation would hold: the eligibility rules become
    bounds instead of missing variables.
    """
    offers = batch.offers.assign(offer_code=np.arange(len(batch.offers))).merge(
        batch.partners[["partner_id", "reliability", "kind"]], on="partner_id", how="left")
    offers = offers.assign(contribution_per_unit=contribution_per_unit(offers)).rename(
        columns={"quantity": "offer_quantity"})
    needs = batch.needs.assign(need_code=np.arange(len(batch.needs))).merge(
        batch.districts[["district_id", "candidate"]], on="district_id", how="left").rename(
        columns={"quantity": "need_quantity"})
    dense = offers[["offer_id", "partner_id", "resource", "offer_quantity", "divisible", "min_chunk",
                    "cost_per_unit", "reliability", "contribution_per_unit", "offer_code"]].merge(
        needs[["need_id", "district_id", "need_quantity", "candidate", "need_code"]], how="cross")
    eligible = pairs[["offer_id", "need_id", "upper", "distance_km"]]
    dense = dense.merge(eligible, on=["offer_id", "need_id"], how="left")
    dense["upper"] = dense["upper"].fillna(0).astype("int64")
    dense["distance_km"] = dense["distance_km"].fillna(0.0)
    for column in ("offer_quantity", "need_quantity", "min_chunk"):
        dense[column] = dense[column].astype("int64")
    dense = dense.sort_values(["offer_id", "need_id"], kind="stable").reset_index(drop=True)
    return dense[PAIR_COLUMNS]


# HiGHS on the same MIP ------------------------------------------------------------------------------------


@dataclass
class Mip:
    """The allocation core as a row-wise MIP for HiGHS (maximise); columns: used, amount, coverage."""

    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    amount_col: np.ndarray  # column of each pair's amount (its `used` column for an indivisible offer)
    amount_coef: np.ndarray  # amount = amount_coef × that column


def core_mip(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> Mip:
    """Columns: used[p] (binary) for every pair, amount[p] (integer) for divisible ones, coverage[n] (continuous)."""
    n_pairs = len(pairs)
    divisible = pairs["divisible"].to_numpy(bool)
    upper = pairs["upper"].to_numpy("int64").astype(float)
    chunk = pairs["min_chunk"].to_numpy("int64").astype(float)
    div_index = np.flatnonzero(divisible)
    amount_col = np.arange(n_pairs)
    amount_col[div_index] = n_pairs + np.arange(len(div_index))
    amount_coef = np.where(divisible, 1.0, upper)
    need_ids = pd.Index(pairs["need_id"].unique())
    need_of_pair = need_ids.get_indexer(pairs["need_id"])
    needs = batch.needs.set_index("need_id").loc[need_ids]
    quantity = needs["quantity"].to_numpy(float)
    floor = needs["floor"].to_numpy(float)
    district_priority = batch.districts.set_index("district_id")["priority"]
    weight = scenario.weights.coverage * needs["priority"].to_numpy(float) * district_priority.loc[
        needs["district_id"]].to_numpy(float)
    cov_col = n_pairs + len(div_index) + np.arange(len(need_ids))
    n_cols = n_pairs + len(div_index) + len(need_ids)
    segments = scenario.coverage.segments

    cost = np.zeros(n_cols)
    km = travel_km(pairs).to_numpy(float)
    cost[:n_pairs] -= scenario.weights.travel * km
    np.add.at(cost, amount_col, -scenario.weights.cost * pairs["cost_per_unit"].to_numpy(float) * amount_coef)
    cost[cov_col] = weight
    lower = np.zeros(n_cols)
    col_upper = np.ones(n_cols)
    col_upper[n_pairs:n_pairs + len(div_index)] = upper[div_index]
    col_upper[cov_col] = coverage_value(1.0, segments)
    integer = np.ones(n_cols, dtype=bool)
    integer[cov_col] = False

    rows, cols, values, row_lower, row_upper = [], [], [], [], []
    next_row = 0

    def add(r: np.ndarray, c: np.ndarray, v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        nonlocal next_row
        rows.append(next_row + r)
        cols.append(c)
        values.append(np.asarray(v, float))
        row_lower.append(np.asarray(lo, float))
        row_upper.append(np.asarray(hi, float))
        next_row += len(lo)

    k = np.arange(len(div_index))
    inf = np.inf
    # Amount only when used, up to the pair's upper: amount - upper × used <= 0.
    add(np.r_[k, k], np.r_[amount_col[div_index], div_index], np.r_[np.ones(len(k)), -upper[div_index]],
        np.full(len(k), -inf), np.zeros(len(k)))
    # Minimum chunk: amount - chunk × used >= 0.
    add(np.r_[k, k], np.r_[amount_col[div_index], div_index], np.r_[np.ones(len(k)), -chunk[div_index]],
        np.zeros(len(k)), np.full(len(k), inf))
    offer_ids = pd.Index(pairs["offer_id"].unique())
    offer_of_pair = offer_ids.get_indexer(pairs["offer_id"])
    first = pairs.drop_duplicates("offer_id")
    offer_divisible = first["divisible"].to_numpy(bool)
    offer_quantity = first["offer_quantity"].to_numpy(float)
    # Offer capacity (divisible offers): the parts add up to at most the offer.
    div_offers = np.flatnonzero(offer_divisible)
    row_of_offer = np.full(len(offer_ids), -1)
    row_of_offer[div_offers] = np.arange(len(div_offers))
    add(row_of_offer[offer_of_pair[div_index]], amount_col[div_index], np.ones(len(div_index)),
        np.full(len(div_offers), -inf), offer_quantity[div_offers])
    # Whole offers: an indivisible offer is used by at most one need.
    whole = np.flatnonzero(~offer_divisible)
    row_of_whole = np.full(len(offer_ids), -1)
    row_of_whole[whole] = np.arange(len(whole))
    ind_index = np.flatnonzero(~divisible)
    add(row_of_whole[offer_of_pair[ind_index]], ind_index, np.ones(len(ind_index)),
        np.full(len(whole), -inf), np.ones(len(whole)))
    # Need quantity and floor: floor <= credited <= quantity.
    add(need_of_pair, amount_col, amount_coef, floor, quantity)
    # Coverage: quantity × coverage <= slope × credited + intercept × quantity, for each line of f.
    n_needs = len(need_ids)
    for slope, intercept in coverage_lines(segments):
        add(np.r_[need_of_pair, np.arange(n_needs)], np.r_[amount_col, cov_col],
            np.r_[-slope * amount_coef, quantity], np.full(n_needs, -inf), intercept * quantity)
    return Mip(cost, lower, col_upper, integer, np.concatenate(row_lower), np.concatenate(row_upper),
               np.concatenate(rows), np.concatenate(cols), np.concatenate(values), amount_col, amount_coef)


def solve_highs(mip: Mip, time_limit_s: float, relative_gap: float) -> dict:
    """Run HiGHS on the MIP (maximise) to a relative gap or a time limit; objective, bound, gap, status, seconds."""
    import highspy

    started = time.perf_counter()
    order = np.argsort(mip.rows, kind="stable")
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(mip.cost), len(mip.row_lower)
    lp.col_cost_ = mip.cost
    lp.col_lower_, lp.col_upper_ = mip.lower, mip.upper
    lp.row_lower_, lp.row_upper_ = mip.row_lower, mip.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.r_[0, np.cumsum(np.bincount(mip.rows, minlength=lp.num_row_))].astype(np.int32)
    lp.a_matrix_.index_ = mip.cols[order].astype(np.int32)
    lp.a_matrix_.value_ = mip.values[order]
    lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                       for i in mip.integer]
    lp.sense_ = highspy.ObjSense.kMaximize
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(relative_gap))
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    build_s = time.perf_counter() - started
    progress: list[tuple[float, float, float]] = []
    started = time.perf_counter()

    def record(event) -> None:
        primal, dual = event.data_out.mip_primal_bound, event.data_out.mip_dual_bound
        if not progress or progress[-1][1:] != (primal, dual):
            progress.append((time.perf_counter() - started, primal, dual))

    h.cbMipImprovingSolution.subscribe(record)
    h.cbMipInterrupt.subscribe(record)
    h.run()
    run_s = time.perf_counter() - started
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus()).lower()
    found = info.primal_solution_status == 2
    objective = info.objective_function_value if found else None
    bound = info.mip_dual_bound
    gap = max(0.0, bound - objective) / max(abs(objective), 1.0) if found else None
    amounts = None
    if found:
        values = np.asarray(h.getSolution().col_value)
        amounts = np.rint(values[mip.amount_col] * mip.amount_coef).astype("int64")
    progress.append((run_s, objective if found else -np.inf, bound))
    return {"status": status, "objective": objective, "bound": bound, "gap": gap, "build_s": build_s,
            "run_s": run_s, "seconds": build_s + run_s, "amounts": amounts, "rows": len(mip.row_lower),
            "columns": len(mip.cost), "nonzeros": len(mip.values), "progress": progress}


def seconds_to_gap(progress: list[tuple[float, float, float]], gap: float) -> float | None:
    """When a run first held a plan within `gap` of its bound, from its (seconds, objective, bound) records.

    The records are taken at HiGHS's callbacks, so this can be late by the time between two of them,
    never early. None if the run never got there.
    """
    for seconds, objective, bound in progress:
        if np.isfinite(objective) and max(0.0, bound - objective) / max(abs(objective), 1.0) <= gap + 1e-12:
            return seconds
    return None


# The greedy plan ------------------------------------------------------------------------------------------


def greedy_amounts(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> np.ndarray:
    """What a spreadsheet does: the need with the largest weighted unmet demand takes the best offer, repeatedly.

    Weighted unmet demand is need priority × district priority × remaining quantity / quantity; needs
    still below a hard floor go first. The best offer for a need is the eligible one that can give it
    the most now (then the nearer, then the cheaper). Capacities, whole offers (an indivisible offer
    credits the smaller of offer and need, only if the need has room for that) and minimum chunks hold;
    each pair is used at most once. Returns the amount of each pair.
    """
    district_priority = dict(zip(batch.districts["district_id"], batch.districts["priority"]))
    needs = batch.needs
    weight = {n: p * district_priority[d] for n, p, d in zip(needs["need_id"], needs["priority"], needs["district_id"])}
    quantity = dict(zip(needs["need_id"], needs["quantity"].astype(int)))
    floor = dict(zip(needs["need_id"], needs["floor"].astype(int)))
    offer_left = dict(zip(pairs["offer_id"], pairs["offer_quantity"].astype(int)))
    used_whole: set = set()
    by_need: dict[str, list[int]] = {n: list(ix) for n, ix in pairs.groupby("need_id", sort=True).indices.items()}
    offer = pairs["offer_id"].to_numpy()
    divisible = pairs["divisible"].to_numpy(bool)
    upper = pairs["upper"].to_numpy("int64")
    chunk = pairs["min_chunk"].to_numpy("int64")
    km = pairs["distance_km"].to_numpy(float)
    cost = pairs["cost_per_unit"].to_numpy(float)
    amounts = np.zeros(len(pairs), dtype="int64")
    got = {n: 0 for n in quantity}

    def key(n: str) -> tuple:
        left = quantity[n] - got[n]
        return (-(got[n] < floor[n]), -weight[n] * left / quantity[n], n)

    heap = [key(n) for n in by_need]
    heapq.heapify(heap)
    while heap:
        _, _, need = heapq.heappop(heap)
        room = quantity[need] - got[need]
        best, best_rank = None, None
        for p in by_need[need]:
            o = offer[p]
            if divisible[p]:
                give = min(offer_left[o], room, int(upper[p]))
                if give < chunk[p]:
                    continue
            else:
                give = int(upper[p])
                if o in used_whole or give > room:
                    continue
            rank = (-give, km[p], cost[p], p)
            if best_rank is None or rank < best_rank:
                best, best_rank = p, rank
        if best is None:
            continue  # nothing left that can serve this need
        give = -best_rank[0]
        amounts[best] = give
        got[need] += give
        by_need[need].remove(best)
        if divisible[best]:
            offer_left[offer[best]] -= give
        else:
            used_whole.add(offer[best])
        if got[need] < quantity[need] and by_need[need]:
            heapq.heappush(heap, key(need))
    return amounts


def coverage_of(batch: Batch, pairs: pd.DataFrame, amounts: np.ndarray, scenario: Scenario) -> float:
    """DESIGN.md's coverage sum for a plan: need priority × district priority × f(allocated / quantity)."""
    got = pd.Series(amounts, index=pairs["need_id"].to_numpy()).groupby(level=0).sum()
    district_priority = batch.districts.set_index("district_id")["priority"]
    segments = scenario.coverage.segments
    total = 0.0
    for need, priority, district, quantity in zip(batch.needs["need_id"], batch.needs["priority"],
                                                  batch.needs["district_id"], batch.needs["quantity"]):
        total += priority * district_priority[district] * coverage_value(float(got.get(need, 0)) / quantity, segments)
    return total


def plan_tables(batch: Batch, pairs: pd.DataFrame, amounts: np.ndarray, scenario: Scenario) -> tuple[dict, dict]:
    """matcher's output tables and a run.json-like manifest for an outside plan, ready for verify_tables."""
    from matcher.outputs import build_tables, objective_terms

    tables = build_tables(batch, pairs, [int(a) for a in amounts], scenario)
    terms = objective_terms(batch, tables, scenario)
    value = sum(t["contribution"] for t in terms.values())
    manifest = {"scenario": scenario.to_dict(), "status": "feasible", "objective": value, "best_bound": value,
                "gap": 0.0, "coverage": terms["coverage"]["value"]}
    return tables, manifest
