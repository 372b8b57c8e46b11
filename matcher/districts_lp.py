"""The linear relaxation of a pairings part that knows partners' district limits, solved by GLOP.

The flow relaxation (`matcher.flow`) keeps only capacities and need sizes, so where partners may work
in few districts it sends each of them everywhere and bounds the part loosely. This LP keeps more:
- district presence: a partner with a max_districts has a presence y in [0, 1] in each district it
  could serve, that every pair into the district needs (amount ≤ upper × y, and all it sends there
  of a resource ≤ the least of what it holds and what the district asks, × y), and at most
  max_districts of presence in all;
- whole offers: an indivisible offer's pairs carry shares amount / upper adding up to at most 1;
- hard floors, and the legal caps on money and in-kind value per partner and candidate.
Conflicts, locks and the soft policies' penalties are dropped, pooling counts wherever it could
happen and travel is spread over the units a pair could carry, as in the flow relaxation's bound: each
change can only raise the optimum, so the LP bounds the model.

Two uses (`matcher.solve.solve_part`): its value bounds the part, and its presences choose the
districts each limited partner keeps in the warm start (`matcher.rounding.rounded_plan`). On the
generated state batch's largest part (43,773 pairs; 820 of 1,000 partners limited, to 3 districts at
the median), in the batch's 120 s run on 2 cores, the plan went from 2,047.4 to 2,140.8 and the bound
from CP-SAT's 2,299.3 to 2,236.7.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from matcher.batch import Batch
from matcher.flow import pooling_ceiling, rounding_slack
from matcher.model import OBJECTIVE_SCALE, RELIABILITY_SCALE
from matcher.rounding import legal_cap_groups
from matcher.scenario import Scenario
from matcher.sparse_lp import SparseLp, search_bound, solve_root
from matcher.terms import coverage_lines, coverage_value, need_weight_series, travel_km

LP_PAIRS_PER_S = 5_000  # GLOP did 3,700 a second on the state part (43,773 pairs), 6,500-26,000 on national regions
# SCIP's root takes about (pairs / MIP_ROOT_PAIRS)² seconds on 2 cores: on generated state-like batches
# 6.8 s for a 6,624-pair part, 38 s for 13,634, 290 s for the state batch's 43,773 (2,540, 2,210, 2,570).
MIP_ROOT_PAIRS = 2_000
# A part too large for that root, in a run that need not be reproducible, gets HiGHS's search beside CP-SAT's,
# where HiGHS's LP takes at most two thirds of its allowance at this rate (13.7 s on the state part: 3,200 a
# second). On parts SCIP's root fits, HiGHS's root or search led to worse plans (526.9, 772.8 against 527.3, 776.4).
MIP_SEARCH_PAIRS_PER_S = 2_000
# The MIP's solution picks the districts only this close to its bound (0.1% on the 6,624-pair batch's root):
# an early, poor one would pick worse than the LP's presences.
MIP_PLAN_GAP = 0.02


@dataclass(frozen=True)
class DistrictRelaxation:
    """The relaxation's bound (in 1/OBJECTIVE_SCALE) and, per limited partner and district, its presence and
    amount; `method`: "district LP", or "district MIP" where SCIP or HiGHS, with whole presences, bounded it."""

    bound: int
    presence: pd.DataFrame = field(repr=False)  # partner_id, district_id, presence, sent
    method: str = "district LP"
    searching: Future | None = field(default=None, repr=False)  # HiGHS's search, under way: its bound in units

    def settled(self, stopped: bool = False) -> DistrictRelaxation:
        """The relaxation once its HiGHS search (if any) has ended, with the search's bound where it is lower;
        `stopped` (the run was interrupted): without waiting for a search still under way."""
        if self.searching is None:
            return self
        if stopped and not self.searching.done():
            return replace(self, searching=None)
        searched = self.searching.result()
        if searched is None or searched >= self.bound:
            return replace(self, searching=None)
        return replace(self, bound=searched, method="district MIP", searching=None)


def district_relaxation(batch: Batch, pairs: pd.DataFrame, scenario: Scenario, time_limit_s: float,
                        mip_time_limit_s: float = 0.0, search_time_limit_s: float = 0.0) -> DistrictRelaxation | None:
    """The LP's bound and presences; None where it does not apply (roles in the part, lexicographic solving,
    no partner with a district limit) or cannot be solved within `time_limit_s`.

    Where `mip_time_limit_s` allows for it, the same rows with every presence whole go to SCIP's root
    (`matcher.sparse_lp.solve_root`, MIP_ROOT_PAIRS): where its bound is lower, it is the relaxation's, and
    where its solution is within MIP_PLAN_GAP of it, its presences (0 or 1) pick the districts. Parts too
    large for that root, in runs that need not be reproducible, get a HiGHS search for `search_time_limit_s`
    instead, on a thread beside the model's own search (MIP_SEARCH_PAIRS_PER_S): its bound counts once it has
    ended (`DistrictRelaxation.settled`).
    """
    limits = batch.partners.set_index("partner_id")["max_districts"].dropna()
    if (len(batch.roles) or scenario.solver.mode != "weighted" or pairs.empty
            or not pairs["partner_id"].isin(limits.index).any() or len(pairs) > LP_PAIRS_PER_S * time_limit_s):
        return None
    lp = SparseLp()
    amount = pair_columns(lp, pairs, scenario)
    offer_capacity_rows(lp, pairs, amount)
    need_size_rows(lp, batch, pairs, amount)
    coverage_columns(lp, batch, pairs, amount, scenario)
    floor_rows(lp, batch, pairs, amount, scenario)
    presence, keys = presence_columns(lp, pairs, amount, limits)
    district_capacity_rows(lp, pairs, amount, presence, keys)
    district_limit_rows(lp, keys, presence, limits)
    legal_cap_rows(lp, batch, pairs, amount, scenario)
    solved = lp.solve(time_limit_s)
    if solved is None:
        return None
    values, bound = solved
    method = "district LP"
    # As for the flow's bound: pooling everywhere it could happen, and the model's integer rounding (its
    # per-unit half also covers the cost coefficients'), plus a unit per pairing for the travel charges'.
    slack = pooling_ceiling(batch, pairs, scenario) + rounding_slack(batch, pairs, scenario) + len(pairs)
    searching = None
    if (len(pairs) / MIP_ROOT_PAIRS) ** 2 <= mip_time_limit_s:
        root = solve_root(lp, presence, mip_time_limit_s)
        if root is not None:
            if root.bound < bound:
                bound, method = root.bound, "district MIP"
            if root.bound - root.objective <= MIP_PLAN_GAP * max(abs(root.bound), 1.0):
                values = root.values
    elif not scenario.solver.deterministic and len(pairs) / MIP_SEARCH_PAIRS_PER_S <= search_time_limit_s:
        searching = in_background(searched_bound, lp, presence, search_time_limit_s, slack)
    sent = pd.Series(values[amount]).groupby([pairs["partner_id"].to_numpy(), pairs["district_id"].to_numpy()]).sum()
    chosen = pd.DataFrame({"partner_id": keys.get_level_values(0), "district_id": keys.get_level_values(1),
                           "presence": values[presence]})
    chosen["sent"] = sent.reindex(keys).to_numpy()
    return DistrictRelaxation(in_units(bound, slack), chosen, method, searching)


def in_units(bound: float, slack: int) -> int:
    """A bound of the LP in the model's units (1/OBJECTIVE_SCALE), with the allowance for what it leaves out."""
    return int(np.ceil(bound * OBJECTIVE_SCALE)) + slack


def searched_bound(lp: SparseLp, presence: np.ndarray, time_limit_s: float, slack: int) -> int | None:
    """HiGHS's bound on the LP with whole presences after `time_limit_s`, in units; None if it holds none."""
    bound = search_bound(lp, presence, time_limit_s)
    return None if bound is None else in_units(bound, slack)


def in_background(function, *args) -> Future:
    """`function(*args)` on a thread of its own (HiGHS lets go of the GIL while it solves). A daemon thread,
    so that a run stopped by Ctrl-C need not wait for it: MathOpt's HiGHS cannot be interrupted."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)

    threading.Thread(target=run, name="highs", daemon=True).start()
    return future


def credit_per_unit(pairs: pd.DataFrame, scenario: Scenario) -> np.ndarray:
    """What a unit counts toward its need: 1, or the partner's reliability as the model rounds it."""
    if scenario.policy.reliability != "expected":
        return np.ones(len(pairs))
    return np.round(RELIABILITY_SCALE * pairs["reliability"].to_numpy(float)) / RELIABILITY_SCALE


def pair_columns(lp: SparseLp, pairs: pd.DataFrame, scenario: Scenario) -> np.ndarray:
    """An amount per pair in [0, upper], charged its cost per unit and its travel spread over upper units."""
    upper = pairs["upper"].to_numpy(float)
    km = travel_km(pairs).to_numpy(float)
    weights = scenario.weights
    per_unit = weights.cost * pairs["cost_per_unit"].to_numpy(float) + weights.travel * km / np.maximum(upper, 1.0)
    return lp.columns(-per_unit, upper)


def offer_capacity_rows(lp: SparseLp, pairs: pd.DataFrame, amount: np.ndarray) -> None:
    """A split offer gives at most its quantity; a whole offer's shares (amount / upper) add up to at most 1."""
    codes, offers = pd.factorize(pairs["offer_id"])
    divisible = pairs["divisible"].to_numpy(bool)
    first = pairs.groupby(codes)[["offer_quantity", "divisible"]].first()
    per_unit = np.where(divisible, 1.0, 1.0 / np.maximum(pairs["upper"].to_numpy(float), 1.0))
    lp.rows(codes, amount, per_unit, np.full(len(offers), -np.inf),
            np.where(first["divisible"].to_numpy(bool), first["offer_quantity"].to_numpy(float), 1.0))


def need_size_rows(lp: SparseLp, batch: Batch, pairs: pd.DataFrame, amount: np.ndarray) -> None:
    """A need gets at most its quantity."""
    codes, needs = pd.factorize(pairs["need_id"])
    quantity = batch.needs.set_index("need_id")["quantity"].loc[needs].to_numpy(float)
    lp.rows(codes, amount, 1.0, np.full(len(needs), -np.inf), quantity)


def coverage_columns(lp: SparseLp, batch: Batch, pairs: pd.DataFrame, amount: np.ndarray,
                     scenario: Scenario) -> None:
    """Each need's coverage, worth its weight, under every line of the concave f of its share met."""
    codes, needs = pd.factorize(pairs["need_id"])
    quantity = batch.needs.set_index("need_id")["quantity"].loc[needs].to_numpy(float)
    segments = scenario.coverage.segments
    covered = lp.columns(need_weight_series(batch, scenario).loc[needs].to_numpy(float),
                         np.full(len(needs), coverage_value(1.0, segments)))
    share = credit_per_unit(pairs, scenario) / quantity[codes]
    each = np.arange(len(needs))
    for slope, intercept in coverage_lines(segments):
        lp.rows(np.r_[each, codes], np.r_[covered, amount], np.r_[np.ones(len(needs)), -slope * share],
                np.full(len(needs), -np.inf), intercept)


def floor_rows(lp: SparseLp, batch: Batch, pairs: pd.DataFrame, amount: np.ndarray, scenario: Scenario) -> None:
    """A need with a hard floor gets at least that much credit."""
    floors = batch.needs.set_index("need_id")["floor"]
    floor = pairs["need_id"].map(floors).to_numpy(float)
    held = floor > 0
    if not held.any():
        return
    codes, needs = pd.factorize(pairs["need_id"][held])
    lp.rows(codes, amount[held], credit_per_unit(pairs, scenario)[held], floors.loc[needs].to_numpy(float), np.inf)


def presence_columns(lp: SparseLp, pairs: pd.DataFrame, amount: np.ndarray,
                     limits: pd.Series) -> tuple[np.ndarray, pd.MultiIndex]:
    """A presence in [0, 1] per limited partner and district it could serve; each pair there carries at most
    upper × presence."""
    limited = pairs["partner_id"].isin(limits.index).to_numpy()
    codes, keys = pd.factorize(pd.MultiIndex.from_arrays([pairs["partner_id"][limited], pairs["district_id"][limited]]))
    presence = lp.columns(np.zeros(len(keys)), np.ones(len(keys)))
    each = np.arange(limited.sum())
    lp.rows(np.r_[each, each], np.r_[amount[limited], presence[codes]],
            np.r_[np.ones(len(each)), -pairs["upper"].to_numpy(float)[limited]], np.full(len(each), -np.inf), 0.0)
    return presence, keys


def district_capacity_rows(lp: SparseLp, pairs: pd.DataFrame, amount: np.ndarray, presence: np.ndarray,
                           keys: pd.MultiIndex) -> None:
    """What a limited partner sends into a district, of each resource, is at most the smaller of what its
    offers reaching there hold and what the district's needs ask, times its presence there.

    Each pair's own limit (`presence_columns`) adds up to far more where a district has many needs:
    this took the generated state batch's largest part from 2,268.7 to 2,236.7.
    """
    limited = pairs["partner_id"].isin(keys.get_level_values(0)).to_numpy()
    sent = pairs[limited].assign(position=np.flatnonzero(limited))
    group = ["partner_id", "district_id", "resource"]
    codes, groups = pd.factorize(pd.MultiIndex.from_frame(sent[group]))
    held = sent.drop_duplicates(group + ["offer_id"]).groupby(group)["offer_quantity"].sum()
    asked = sent.drop_duplicates(group + ["need_id"]).groupby(group)["need_quantity"].sum()
    capacity = np.minimum(held.loc[groups].to_numpy(float), asked.loc[groups].to_numpy(float))
    districts = pd.MultiIndex.from_arrays([groups.get_level_values(0), groups.get_level_values(1)])
    where = presence[keys.get_indexer(districts)]
    each = np.arange(len(groups))
    lp.rows(np.r_[codes, each], np.r_[amount[sent["position"].to_numpy()], where],
            np.r_[np.ones(len(sent)), -capacity], np.full(len(groups), -np.inf), 0.0)


def district_limit_rows(lp: SparseLp, keys: pd.MultiIndex, presence: np.ndarray, limits: pd.Series) -> None:
    """A partner's presences add up to at most its max_districts."""
    codes, partners = pd.factorize(keys.get_level_values(0))
    lp.rows(codes, presence, 1.0, np.full(len(partners), -np.inf), limits.loc[partners].to_numpy(float))


def legal_cap_rows(lp: SparseLp, batch: Batch, pairs: pd.DataFrame, amount: np.ndarray, scenario: Scenario) -> None:
    """Money and in-kind value from one partner to one candidate within its kind's cap, in whole cents as the
    model counts them (so that the LP never holds a pairing tighter than the model does)."""
    group, cap = legal_cap_groups(batch, pairs, scenario)
    capped = group.notna().to_numpy()
    if not capped.any():
        return
    codes, groups = pd.factorize(group[capped])
    cents = np.round(100 * pairs["contribution_per_unit"].to_numpy(float)[capped])
    limit = np.round(100 * pd.Series(cap[capped]).groupby(codes).first().to_numpy())
    lp.rows(codes, amount[capped], cents, np.full(len(groups), -np.inf), limit)
