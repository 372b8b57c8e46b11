"""A plan that keeps every allocation rule, built from the transportation relaxation, to start CP-SAT from.

On large parts CP-SAT's own first plans are poor and its local search climbs slowly; the
relaxation (`matcher.flow.transportation_amounts`, exact and fast) knows where the resources
should go but ignores the rules that make the problem combinatorial. This module closes the
difference with plain array work, in three steps:

1. restrict: solve the relaxation, then take away the pairs that break a partner's district limit
   (a partner over it keeps the districts it works in but the one where it sends least), a
   conflict (the partner sending less to that district leaves it) or an indivisible offer's
   "whole to one need" (its best need keeps it), and lower what pairs over a legal cap may carry;
   repeat until nothing changes, so that what a cap or a limit frees goes elsewhere;
2. round: indivisible offers go whole, split offers drop parts below their minimum chunk, needs
   and legal caps are brought back within their limits by cutting the smallest parts first;
3. keep agreements: locked pairings get their agreed quantity (or a minimum chunk), and needs
   below a hard floor are topped up from offers with room left.

The result is a hint, not an answer: CP-SAT completes it (`matcher.solve.warm_start`) and reports
the status and gap of what it then finds. Nothing here is called optimal.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from matcher.batch import Batch
from matcher.candidates import DECISION_KEYS
from matcher.flow import transportation_amounts
from matcher.scenario import Scenario

RESTRICT_ROUNDS = 6  # restrictions at most; each one only takes pairs away, so few are needed
GRADUAL_ROUNDS = 24  # at most, when districts go one a round; the last drops every district over a limit


def rounded_plan(batch: Batch, pairs: pd.DataFrame, scenario: Scenario, gradual: bool = True,
                 presence: pd.DataFrame | None = None, relaxed: np.ndarray | None = None) -> np.ndarray | None:
    """Amounts per pair that keep capacities, whole offers, chunks, need sizes, district limits, conflicts,
    legal caps, locks and floors as far as simple repairs can; None when the relaxation has no solution.

    `gradual`: a partner over its district limit gives up one district per relaxation solve (see
    `over_district_limit`); else all of them in the first. `presence`, the district LP's
    (`matcher.districts_lp`): each limited partner starts in the districts that LP chose for it.
    `relaxed`: the flow relaxation's amounts (`matcher.flow.flow_relaxation`) where the caller has them,
    the first round's flow when no `presence` narrows it (on the national batch's largest part, 5 s).
    """
    locked = locked_pairs(batch, pairs, scenario)
    protected = kept_amounts(pairs, locked)
    chunk = pairs["min_chunk"].to_numpy("int64")
    upper = pairs["upper"].to_numpy("int64").copy()  # what each pair may still carry; 0 takes it away
    if presence is not None:
        outside = outside_chosen_districts(batch, pairs, presence)
        upper[outside & ~np.isin(np.arange(len(pairs)), locked["position"].to_numpy())] = 0
    cap_group = legal_cap_groups(batch, pairs, scenario)[0].fillna("")
    amounts = np.zeros(len(pairs), dtype="int64")
    rounds = GRADUAL_ROUNDS if gradual else RESTRICT_ROUNDS
    for round_ in range(rounds):
        first = round_ == 0 and relaxed is not None and presence is None
        found = relaxed if first else restricted_flow(batch, pairs, scenario, upper)
        if found is None:
            return None
        amounts = found
        capped = within_legal_caps(batch, pairs, amounts, scenario, protected)
        at_cap = pd.Series(capped < amounts).groupby(cap_group).transform("any").to_numpy(bool)
        tighter = np.where(at_cap, np.where(capped >= chunk, capped, 0), upper)  # a group at its cap takes no more
        tighter[broken_pairs(batch, pairs, amounts, locked, gradual=gradual and round_ < rounds - 1)] = 0
        if (tighter == upper).all():
            break
        upper = np.minimum(upper, tighter)
    amounts = np.minimum(amounts, upper)
    amounts = whole_and_chunked(pairs, amounts)
    amounts = keep_locks(batch, pairs, amounts, locked)
    amounts = within_offers_and_needs(pairs, amounts, protected)
    amounts = within_legal_caps(batch, pairs, amounts, scenario, protected)
    return top_up_floors(batch, pairs, amounts, scenario)


def kept_amounts(pairs: pd.DataFrame, locked: pd.DataFrame) -> np.ndarray:
    """What each pair keeps whatever is cut: all it carries for a locked pairing, a floor's minimum for the
    pairing reserved for it, nothing for the others."""
    kept = np.zeros(len(pairs), dtype="int64")
    locks = locked[locked["minimum"].isna()]
    kept[locks["position"].to_numpy()] = np.iinfo("int64").max
    floors = locked[locked["minimum"].notna()]
    np.maximum.at(kept, floors["position"].to_numpy(), floors["minimum"].to_numpy("int64"))
    return kept


def restricted_flow(batch: Batch, pairs: pd.DataFrame, scenario: Scenario, upper: np.ndarray) -> np.ndarray | None:
    """The relaxation on the pairs still allowed (upper > 0), each carrying at most its `upper`.

    (Spreading each pairing's travel over what it carried in the last solve, dynamic slope scaling, was
    tried: +0.25% on a state batch with a travel weight 20 times the default, for 3 times the time.)
    """
    positions = np.flatnonzero(upper > 0)
    allowed = pairs.iloc[positions].assign(upper=upper[positions]).reset_index(drop=True)
    found = transportation_amounts(batch, allowed, scenario, km_cost_per_unit=True)
    if found is None:
        return None
    amounts = np.zeros(len(pairs), dtype="int64")
    amounts[positions] = found
    return amounts


def locked_pairs(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """(lock, pair position, quantity, minimum) for every pair a pairing lock matches, plus one reserved pair
    per hard floor (`minimum` is what it must carry; NaN for a lock, which needs a minimum chunk)."""
    locks = batch.decisions[(batch.decisions["action"] == "lock") & batch.decisions["role_id"].isna()]
    found = []
    named_keys = [key for key in DECISION_KEYS if locks[key].notna().any()]
    positions_of = {key: pairs.groupby(key, sort=False).indices for key in named_keys}  # id -> its pairs, in order
    ids = {key: pairs[key].to_numpy() for key in named_keys}
    for row, decision in enumerate(locks.itertuples(index=False)):
        named = {key: getattr(decision, key) for key in DECISION_KEYS if not pd.isna(getattr(decision, key))}
        if not named:
            continue
        match = min((positions_of[key].get(value, np.empty(0, dtype="int64")) for key, value in named.items()),
                    key=len)
        for key, value in named.items():
            match = match[ids[key][match] == value]
        found.append(pd.DataFrame({"lock": f"lock:{row}", "position": pairs.index.to_numpy()[match],
                                   "quantity": decision.quantity, "minimum": np.nan}))
    found.append(floor_reservations(batch, pairs, scenario))
    return pd.concat(found, ignore_index=True)


def floor_reservations(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """For each need with a hard floor, the split offer that can cover it alone (a local partner first, then
    the largest offer; none a legal cap counts, as a reserved pairing is never cut), reserved for it so
    that the restriction keeps that pairing."""
    floors = batch.needs.loc[batch.needs["floor"] > 0, ["need_id", "floor"]]
    rows = pairs.assign(capped=legal_cap_groups(batch, pairs, scenario)[0].notna()).reset_index(names="position")
    rows = rows[rows["divisible"] & ~rows["capped"]].merge(floors, on="need_id").merge(
        batch.partners[["partner_id", "home_district"]], on="partner_id", how="left")
    credit = rows["reliability"] if scenario.policy.reliability == "expected" else 1.0
    rows = rows.assign(local=rows["home_district"] == rows["district_id"],
                       minimum=np.maximum(np.ceil(rows["floor"] / credit), rows["min_chunk"]))
    rows = rows[rows["minimum"] <= rows["upper"]].sort_values(["need_id", "local", "offer_quantity", "offer_id"],
                                                              ascending=[True, False, False, True], kind="stable")
    left: dict[str, float] = {}
    reserved = []
    for need, position, offer, quantity, minimum in zip(rows["need_id"], rows["position"], rows["offer_id"],
                                                        rows["offer_quantity"], rows["minimum"]):
        if reserved and reserved[-1][0] == f"floor:{need}":
            continue
        if left.get(offer, quantity) >= minimum:
            left[offer] = left.get(offer, quantity) - minimum
            reserved.append((f"floor:{need}", position, np.nan, minimum))
    return pd.DataFrame(reserved, columns=["lock", "position", "quantity", "minimum"]).astype(
        {"lock": object, "position": "int64", "quantity": "float64", "minimum": "float64"})


def broken_pairs(batch: Batch, pairs: pd.DataFrame, amounts: np.ndarray, locked: pd.DataFrame,
                 gradual: bool = False) -> np.ndarray:
    """Pairs to take away so that district limits (one district at a time if `gradual`), conflicts and whole
    offers can hold."""
    sent = pairs[["offer_id", "need_id", "partner_id", "district_id", "divisible"]].assign(
        amount=amounts, locked=np.isin(np.arange(len(pairs)), locked["position"].to_numpy()))
    return over_district_limit(batch, sent, gradual) | in_conflict(batch, sent) | second_need_of_whole_offer(sent)


def over_district_limit(batch: Batch, sent: pd.DataFrame, gradual: bool = False) -> np.ndarray:
    """A partner present in more districts than its max_districts keeps the districts where it sends most
    (those with a locked pairing first) and loses every pair into the others; `gradual`, it loses only the
    district where it sends least, and pairs into districts it does not work in.

    Gradual, the relaxation solved again moves what the dropped district got to the partner's other
    districts and to other partners before the next district goes: the completed start of the
    generated state batch's largest part rose from 1,994.8 to 2,019.4 (its bound: 2,304), with 13
    relaxation solves instead of 6.
    """
    limits = batch.partners.set_index("partner_id")["max_districts"].dropna()
    if limits.empty:
        return np.zeros(len(sent), dtype=bool)
    used = sent[(sent["amount"] > 0) | sent["locked"]]
    per_district = used.groupby(["partner_id", "district_id"], sort=True).agg(
        amount=("amount", "sum"), locked=("locked", "any")).reset_index()
    per_district = per_district[per_district["partner_id"].isin(limits.index)]
    per_district["limit"] = per_district["partner_id"].map(limits).astype("int64")
    present = per_district.groupby("partner_id")["district_id"].transform("size")
    over = per_district[present > per_district["limit"]]
    if over.empty:
        return np.zeros(len(sent), dtype=bool)
    over = over.sort_values(["partner_id", "locked", "amount", "district_id"], ascending=[True, False, False, True],
                            kind="stable")
    keep = present.loc[over.index] - 1 if gradual else over["limit"]
    kept = over[over.groupby("partner_id").cumcount() < keep][["partner_id", "district_id"]]
    restricted = sent["partner_id"].isin(over["partner_id"]).to_numpy()
    allowed = sent[["partner_id", "district_id"]].merge(kept.assign(_kept=True), how="left")["_kept"]
    return restricted & ~allowed.fillna(False).to_numpy(bool)


def outside_chosen_districts(batch: Batch, pairs: pd.DataFrame, presence: pd.DataFrame) -> np.ndarray:
    """Pairs of a limited partner into a district other than the max_districts where the LP has it most
    present (then sending most): the districts `over_district_limit` would otherwise pick from a
    relaxation that sends every partner everywhere."""
    limits = batch.partners.set_index("partner_id")["max_districts"].dropna()
    served = pairs[["partner_id", "district_id"]].drop_duplicates()  # an LP over more pairs knows more districts
    ranked = presence.merge(served)
    ranked = ranked[ranked["partner_id"].isin(limits.index)].sort_values(
        ["partner_id", "presence", "sent", "district_id"], ascending=[True, False, False, True], kind="stable")
    limit = ranked["partner_id"].map(limits).astype("int64")
    chosen = ranked[ranked.groupby("partner_id").cumcount() < limit][["partner_id", "district_id"]]
    limited = pairs["partner_id"].isin(limits.index).to_numpy()
    kept = pairs[["partner_id", "district_id"]].merge(chosen.assign(_kept=True), how="left")["_kept"]
    return limited & ~kept.fillna(False).to_numpy(bool)


def in_conflict(batch: Batch, sent: pd.DataFrame) -> np.ndarray:
    """Where two partners in conflict are both present in a district, the one sending less leaves it."""
    apart = batch.conflicts[batch.conflicts["scope"].isin(["district", "coalition"])]
    if apart.empty:
        return np.zeros(len(sent), dtype=bool)
    used = sent[sent["amount"] > 0].groupby(["partner_id", "district_id"], sort=True)["amount"].sum()
    used = used.rename("amount").reset_index()
    both = apart[["partner_a", "partner_b"]].merge(
        used.rename(columns={"partner_id": "partner_a", "amount": "amount_a"}), on="partner_a").merge(
        used.rename(columns={"partner_id": "partner_b", "amount": "amount_b"}), on=["partner_b", "district_id"])
    if both.empty:
        return np.zeros(len(sent), dtype=bool)
    leaves = both["partner_b"].where(both["amount_a"] >= both["amount_b"], both["partner_a"])
    gone = pd.DataFrame({"partner_id": leaves, "district_id": both["district_id"], "_gone": True}).drop_duplicates()
    hit = sent[["partner_id", "district_id"]].merge(gone, how="left")["_gone"]
    return hit.fillna(False).to_numpy(bool) & ~sent["locked"].to_numpy()


def second_need_of_whole_offer(sent: pd.DataFrame) -> np.ndarray:
    """An indivisible offer the relaxation spreads over several needs keeps only the need it sends most to."""
    whole = sent[~sent["divisible"].to_numpy(bool) & (sent["amount"] > 0)]
    spread = whole[whole.groupby("offer_id")["need_id"].transform("size") > 1]
    if spread.empty:
        return np.zeros(len(sent), dtype=bool)
    best = spread.sort_values(["offer_id", "locked", "amount"], ascending=[True, False, False], kind="stable")
    best = best.drop_duplicates("offer_id")
    mask = sent["offer_id"].isin(spread["offer_id"]).to_numpy() & ~np.isin(np.arange(len(sent)), best.index)
    return mask


def whole_and_chunked(pairs: pd.DataFrame, amounts: np.ndarray) -> np.ndarray:
    """Indivisible offers credit all they can (the pair's upper bound) or nothing; split parts below the
    minimum chunk are dropped."""
    divisible = pairs["divisible"].to_numpy(bool)
    upper = pairs["upper"].to_numpy("int64")
    chunk = pairs["min_chunk"].to_numpy("int64")
    rounded = np.where(divisible, np.where(amounts >= chunk, amounts, 0), np.where(amounts > 0, upper, 0))
    return rounded.astype("int64")


def keep_locks(batch: Batch, pairs: pd.DataFrame, amounts: np.ndarray, locked: pd.DataFrame) -> np.ndarray:
    """Each lock holds: its agreed quantity on its best pair (others of the lock get nothing), or, with no
    quantity, at least a minimum chunk (a whole offer) on its best pair when none is used yet; each floor's
    reserved pair carries at least what the floor needs."""
    amounts = amounts.copy()
    divisible = pairs["divisible"].to_numpy(bool)
    upper = pairs["upper"].to_numpy("int64")
    chunk = pairs["min_chunk"].to_numpy("int64")
    for _, group in locked.groupby("lock", sort=True):
        positions = group["position"].to_numpy()
        best = positions[np.lexsort((-upper[positions], -amounts[positions]))[0]]  # most sent, then largest
        quantity, minimum = group["quantity"].iloc[0], group["minimum"].iloc[0]
        if not pd.isna(minimum):
            amounts[best] = max(amounts[best], int(minimum))
        elif not pd.isna(quantity):
            amounts[positions] = 0
            amounts[best] = int(quantity) if divisible[best] else upper[best]
        elif not (amounts[positions] > 0).any():
            amounts[best] = max(1, chunk[best]) if divisible[best] else upper[best]
    return amounts


def within_offers_and_needs(pairs: pd.DataFrame, amounts: np.ndarray, protected: np.ndarray) -> np.ndarray:
    """Split offers within their quantity, whole offers to one need, needs within their quantity."""
    divisible = pairs["divisible"].to_numpy(bool)
    ones = np.ones(len(pairs))
    amounts = cut_over(pairs, amounts, np.where(divisible, pairs["offer_id"], None),
                       pairs["offer_quantity"].to_numpy(float), ones, protected)
    used = cut_over(pairs, (amounts > 0).astype("int64"), np.where(divisible, None, pairs["offer_id"]), ones, ones,
                    protected)
    amounts = amounts * used
    return cut_over(pairs, amounts, pairs["need_id"].to_numpy(), pairs["need_quantity"].to_numpy(float), ones,
                    protected)


def within_legal_caps(batch: Batch, pairs: pd.DataFrame, amounts: np.ndarray, scenario: Scenario,
                      protected: np.ndarray) -> np.ndarray:
    """Money and in-kind value from one partner to one candidate within its kind's cap (in cents, as the model)."""
    group, cap = legal_cap_groups(batch, pairs, scenario)
    cents = np.round(100 * pairs["contribution_per_unit"].to_numpy(float))
    return cut_over(pairs, amounts, group.to_numpy(), np.round(100 * np.nan_to_num(cap)), cents, protected)


def legal_cap_groups(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> tuple[pd.Series, np.ndarray]:
    """Per pair, its "partner|candidate" cap group (None when no cap counts it) and that cap in usd."""
    caps = scenario.legal.caps_usd
    kinds = pairs["partner_id"].map(batch.partners.set_index("partner_id")["kind"])
    cap = kinds.map(caps).to_numpy(float)
    valued = pairs["candidate"].notna().to_numpy() & (pairs["contribution_per_unit"].to_numpy() > 0) & ~np.isnan(cap)
    group = (pairs["partner_id"] + "|" + pairs["candidate"].astype(str)).where(valued, None)
    return group, cap


def cut_over(pairs: pd.DataFrame, amounts: np.ndarray, group: np.ndarray, limit: np.ndarray, per_unit: np.ndarray,
             protected: np.ndarray) -> np.ndarray:
    """Within each group (None: no group), keep Σ per_unit × amount ≤ the group's limit by cutting its pairs,
    smallest first and the protected ones (`kept_amounts`) last and never below what they keep; a cut part
    below its minimum chunk, or a whole offer, goes entirely."""
    amounts = amounts.copy()
    frame = pd.DataFrame({"group": group, "value": per_unit * amounts, "limit": limit})
    frame = frame[frame["group"].notna() & (amounts > 0)]
    totals = frame.groupby("group")["value"].sum()
    over = totals[totals > frame.groupby("group")["limit"].first() + 1e-9]
    if over.empty:
        return amounts
    divisible = pairs["divisible"].to_numpy(bool)
    chunk = pairs["min_chunk"].to_numpy("int64")
    members = frame[frame["group"].isin(over.index)]
    members = members.assign(protected=protected[members.index.to_numpy()] > 0)
    members = members.sort_values(["group", "protected", "value"], kind="stable")
    excess = (over - frame.groupby("group")["limit"].first().loc[over.index]).to_dict()
    for p, name in zip(members.index, members["group"]):
        if excess[name] <= 1e-9:
            continue
        units = int(np.ceil(excess[name] / per_unit[p] - 1e-9))
        left = amounts[p] - units if divisible[p] else 0
        if left < max(1, chunk[p]):
            left = 0
        left = max(left, min(protected[p], amounts[p]))
        excess[name] -= per_unit[p] * (amounts[p] - left)
        amounts[p] = left
    return amounts


def top_up_floors(batch: Batch, pairs: pd.DataFrame, amounts: np.ndarray, scenario: Scenario) -> np.ndarray:
    """Needs below a hard floor get more from split offers with room left, from partners that may work in the
    district: already there, or with a district to spare and no conflicting partner there; never from a
    pairing a legal cap counts (the caps were settled before)."""
    floors = batch.needs.set_index("need_id")["floor"]
    credit = pairs["reliability"].to_numpy(float) if scenario.policy.reliability == "expected" else np.ones(len(pairs))
    got = pd.Series(credit * amounts).groupby(pairs["need_id"].to_numpy()).sum()
    missing = (floors - got.reindex(floors.index).fillna(0))[floors > 0]
    missing = missing[missing > 1e-9]
    if missing.empty:
        return amounts
    amounts = amounts.copy()
    offer_left = dict(zip(pairs["offer_id"], pairs["offer_quantity"] - pd.Series(amounts).groupby(
        pairs["offer_id"]).transform("sum")))
    need_left = dict(zip(pairs["need_id"], pairs["need_quantity"] - pd.Series(amounts).groupby(
        pairs["need_id"]).transform("sum")))
    present = pairs.loc[amounts > 0, ["partner_id", "district_id"]].drop_duplicates()
    districts_of = present.groupby("partner_id")["district_id"].agg(set).to_dict()
    limits = batch.partners.set_index("partner_id")["max_districts"].dropna().to_dict()
    apart = batch.conflicts[batch.conflicts["scope"].isin(["district", "coalition"])]
    rivals: dict[str, set] = {}
    for a, b in zip(apart["partner_a"], apart["partner_b"]):
        rivals.setdefault(a, set()).add(b)
        rivals.setdefault(b, set()).add(a)

    def may_work(partner: str, district: str) -> bool:
        here = districts_of.get(partner, set())
        if district in here:
            return True
        roomy = len(here) < limits.get(partner, np.inf)
        return roomy and not any(district in districts_of.get(r, set()) for r in rivals.get(partner, ()))

    uncapped = legal_cap_groups(batch, pairs, scenario)[0].isna().to_numpy()
    candidates = pairs[pairs["need_id"].isin(missing.index) & pairs["divisible"] & uncapped]
    for need, group in candidates.groupby("need_id", sort=True):
        short = missing[need]
        for p, offer, partner, district in zip(group.index, group["offer_id"], group["partner_id"],
                                               group["district_id"]):
            extra = min(int(np.ceil(short / credit[p])), offer_left[offer], need_left[need],
                        int(pairs.at[p, "upper"]) - amounts[p])
            if extra <= 0 or amounts[p] + extra < pairs.at[p, "min_chunk"] or not may_work(partner, district):
                continue
            amounts[p] += extra
            offer_left[offer] -= extra
            need_left[need] -= extra
            districts_of.setdefault(partner, set()).add(district)
            short -= credit[p] * extra
            if short <= 1e-9:
                break
    return amounts
