"""Eligible offer–need pairs, built by vectorised joins: the model never sees an ineligible pair.

An offer serves a need only if the resource matches, the skills match (`any` matches every skill),
the need's district is within the offer's reach and the availability windows overlap. A divisible
offer whose minimum chunk exceeds what the pair could carry is not eligible for it either.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from matcher.batch import Batch
from matcher.geography import Geography
from matcher.schema import ANY_SKILL

PAIR_COLUMNS = ["offer_id", "need_id", "partner_id", "district_id", "resource", "offer_quantity",
                "need_quantity", "divisible", "min_chunk", "upper", "distance_km", "cost_per_unit", "reliability",
                "candidate", "contribution_per_unit", "offer_code", "need_code"]
DECISION_KEYS = ("offer_id", "need_id", "partner_id", "district_id")


def eligible_pairs(batch: Batch, geography: Geography | None = None) -> pd.DataFrame:
    """One row per eligible (offer, need), with what the model needs to know about the pair.

    `offer_code` and `need_code` are the offer's and need's rows in the batch: integer ids that array code
    can group by without hashing the ids again (the flow path: 2.6 ms of its 30 on a state batch).
    """
    geography = geography or Geography(batch.districts, batch.scenario.travel.km_per_hop)
    partners = batch.partners[["partner_id", "home_district", "kind", "independent", "reliability"]]
    offers = batch.offers.assign(offer_code=np.arange(len(batch.offers))).merge(partners, on="partner_id", how="left")
    offers["contribution_per_unit"] = contribution_per_unit(offers)
    reach = offers_by_district(offers, batch.districts, geography)
    reach = reach.merge(batch.districts[["district_id", "candidate"]], on="district_id", how="left")
    needs = batch.needs.rename(columns={"quantity": "need_quantity", "skill": "need_skill"})
    needs["need_code"] = np.arange(len(needs))
    pairs = reach.merge(needs[["need_id", "district_id", "resource", "need_skill", "need_quantity",
                               "needed_from", "needed_to", "need_code"]], on=["resource", "district_id"])
    pairs = pairs[skills_match(pairs["skill"], pairs["need_skill"])
                  & windows_overlap(pairs["available_from"], pairs["available_to"],
                                    pairs["needed_from"], pairs["needed_to"])]
    pairs = pairs.rename(columns={"quantity": "offer_quantity"})
    pairs["upper"] = np.minimum(pairs["offer_quantity"], pairs["need_quantity"]).astype("int64")
    pairs = pairs[~pairs["divisible"] | (pairs["min_chunk"] <= pairs["upper"])]
    pairs = pairs[legally_allowed(pairs, batch.scenario) & ~forbidden(pairs, batch.decisions)]
    pairs["distance_km"] = geography.distance_km(pairs["home_district"], pairs["district_id"])
    pairs = pairs.sort_values(["offer_id", "need_id"], kind="stable").reset_index(drop=True)
    for column in ("offer_quantity", "need_quantity", "min_chunk", "offer_code", "need_code"):
        pairs[column] = pairs[column].astype("int64")
    return pairs[PAIR_COLUMNS]


def offers_by_district(offers: pd.DataFrame, districts: pd.DataFrame, geography: Geography) -> pd.DataFrame:
    """Each offer once per district its reach covers (column `district_id`)."""
    parts = []
    home = offers[offers["reach"] == "home"]
    parts.append(home.assign(district_id=home["home_district"]))
    adjacent = offers[offers["reach"] == "adjacent"]
    parts.append(adjacent.merge(geography.adjacent(), left_on="home_district", right_on="home").drop(
        columns="home"))
    radius = offers[offers["reach"] == "radius"]
    near = geography.within_radius(radius["home_district"])
    radius = radius.merge(near, left_on="home_district", right_on="home")
    parts.append(radius[radius["km"] <= radius["radius_km"]].drop(columns=["home", "km"]))
    listed = offers[offers["reach"] == "listed"]
    parts.append(listed.assign(district_id=listed["districts"]).explode("district_id"))
    anywhere = offers[offers["reach"] == "any"]
    parts.append(anywhere.merge(districts[["district_id"]], how="cross"))
    return pd.concat([p for p in parts if len(p)] or [offers.assign(district_id=pd.Series(dtype=object))],
                     ignore_index=True)


def contribution_per_unit(offers: pd.DataFrame) -> pd.Series:
    """What each unit counts against a legal cap: a dollar is a dollar, other resources their in-kind value."""
    return offers["inkind_value_per_unit"].where(offers["resource"] != "money", 1.0).astype("float64")


def legally_allowed(pairs: pd.DataFrame, scenario) -> pd.Series:
    """Campaign-finance eligibility of each pair whose district has a candidate.

    Independent-expenditure partners never serve a candidate's campaign; kinds barred from
    candidate support (501(c)(3)s) may still send their members' own unpaid time; a kind whose cap
    is zero may give nothing that has a contribution value.
    """
    for_candidate = pairs["candidate"].notna()
    own_time = (pairs["resource"] == "volunteers") & (pairs["contribution_per_unit"] == 0)
    barred = pairs["kind"].isin(scenario.legal.no_candidate_support) & ~own_time
    zero_caps = [kind for kind, cap in scenario.legal.caps_usd.items() if cap == 0]
    capped_out = pairs["kind"].isin(zero_caps) & (pairs["contribution_per_unit"] > 0)
    return ~(for_candidate & (pairs["independent"].astype(bool) | barred | capped_out))


def forbidden(pairs: pd.DataFrame, decisions: pd.DataFrame) -> pd.Series:
    """Pairs a `forbid` decision rules out: every id the decision names matches the pair.

    Decisions naming the same set of ids are applied together, as one join of the pairs with them.
    """
    mask = pd.Series(False, index=pairs.index)
    forbids = decisions[(decisions["action"] == "forbid") & decisions["role_id"].isna()]
    if forbids.empty or pairs.empty:
        return mask
    named = forbids[list(DECISION_KEYS)].notna()
    for pattern, group in forbids.groupby([named[k] for k in DECISION_KEYS]):
        keys = [k for k, is_named in zip(DECISION_KEYS, pattern) if is_named]
        if not keys:
            continue
        hits = pairs[keys].reset_index().merge(group[keys].drop_duplicates(), on=keys)["index"]
        mask.loc[hits.to_numpy()] = True
    return mask


def skills_match(offer_skill: pd.Series, need_skill: pd.Series) -> pd.Series:
    """`any` on either side matches; otherwise the skills must be equal."""
    return (offer_skill == ANY_SKILL) | (need_skill == ANY_SKILL) | (offer_skill == need_skill)


def windows_overlap(start_a: pd.Series, end_a: pd.Series, start_b: pd.Series, end_b: pd.Series) -> pd.Series:
    """Two date windows share a day; an empty date is open-ended."""
    a_before_b_ends = start_a.isna() | end_b.isna() | (start_a <= end_b)
    b_before_a_ends = start_b.isna() | end_a.isna() | (start_b <= end_a)
    return a_before_b_ends & b_before_a_ends
