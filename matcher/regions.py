"""Split a large part by region where no exact split exists: a restriction solved in pieces, with a valid bound.

A national batch is one connected part (a few money offers reach across regions, most partners
have a district limit), too large for one CP-SAT model to search well. Almost all of its pairings
stay inside one region, so the part is cut by the region of each need's district and every rule
that spans regions is shared out, following the rounded plan (`matcher.rounding.rounded_plan`):

- a split offer used in several regions: each region may use what the rounded plan sends there,
  and the region with most of it also gets what is left;
- an indivisible offer: the region the rounded plan gave it to (else the one with most pairs);
- a partner's district limit: each region gets the districts the rounded plan uses there, the
  partner's home region (most pairs) the rest;
- a legal cap of one partner for one candidate, and a lock: one region, where the rounded plan
  gives most (else most pairs); their pairs elsewhere go.

The pieces are then independent, each plan keeps its piece's share, so together they keep every
rule of the whole (the verifier checks the merged plan like any other). The split is a
restriction, so a piece's own bound says nothing about the whole: the whole is bounded by the flow
relaxation of the unsplit part (`matcher.flow.flow_relaxation`), and is never called optimal
unless the plan meets that bound.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from matcher.batch import Batch
from matcher.decompose import Part
from matcher.flow import flow_relaxation, is_transportation
from matcher.rounding import legal_cap_groups, locked_pairs, rounded_plan
from matcher.scenario import Scenario

# Parts with at least this many pairs over two or more regions are split. Below it one CP-SAT model
# does better (on a generated state batch, 43,773 pairs: 2,003 whole against 1,945 split, in 60 s).
REGION_SPLIT_PAIRS = 100_000


def can_split(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> bool:
    """Large, over several regions, with no roles and no rule or term that reads across every region, and not
    a transportation problem (one min-cost flow solves those exactly, whole)."""
    return (scenario.solver.region_split and len(pairs) >= REGION_SPLIT_PAIRS and batch.roles.empty
            and scenario.solver.mode == "weighted" and scenario.weights.fairness == 0
            and scenario.policy.min_benefit == "off"
            and batch.districts["region"].fillna("").nunique() > 1 and not is_transportation(batch, pairs, scenario))


def pair_regions(batch: Batch, pairs: pd.DataFrame) -> np.ndarray:
    """The region of each pair: its need's district's ("" where the district has none)."""
    return pairs["district_id"].map(batch.districts.set_index("district_id")["region"]).fillna("").to_numpy()


def split_by_region(batch: Batch, pairs: pd.DataFrame,
                    scenario: Scenario) -> tuple[list[tuple[str, Batch, np.ndarray, pd.DataFrame]], int] | None:
    """(region, batch, pair positions in `pairs`, the region's pairs with their shares) per region, and the
    flow relaxation's bound of the whole part (`matcher.flow.flow_relaxation`), whose flow is also the
    rounding's first; None when the part cannot be split (see `can_split`, or no rounded plan)."""
    if not can_split(batch, pairs, scenario):
        return None
    region = pair_regions(batch, pairs)
    if len(set(region)) < 2:
        return None
    relaxed = flow_relaxation(batch, pairs, scenario)
    if relaxed is None:
        return None
    # Not gradual: on the generated national batch's largest part a relaxation solve takes seconds, and
    # gradual rounding took its cut from 85 s to about 190 s for the same plan in the end (27,288 against
    # 27,280); each region rounds its own share gradually again in its warm start.
    amounts = rounded_plan(batch, pairs, scenario, gradual=False, relaxed=relaxed[0])
    if amounts is None:
        return None
    frame = pairs.assign(region=region, amount=amounts)
    keep = np.ones(len(pairs), dtype=bool)
    share = pairs["offer_quantity"].to_numpy("int64").copy()
    if not share_offers(frame, keep, share):
        return None
    keep &= one_region_per(frame, legal_cap_groups(batch, pairs, scenario)[0],
                           np.round(100 * pairs["contribution_per_unit"].to_numpy(float)) * amounts)
    locks = locked_pairs(batch, pairs, scenario)
    locks = locks[locks["lock"].str.startswith("lock:")]
    lock_of = pd.Series(None, index=range(len(pairs)), dtype=object)
    lock_of.iloc[locks["position"].to_numpy()] = locks["lock"].to_numpy()
    keep &= one_region_per(frame, lock_of, amounts)
    lock_region = frame.assign(lock=lock_of.to_numpy())[keep & lock_of.notna().to_numpy()].drop_duplicates(
        "lock").set_index("lock")["region"]
    if not keeps_agreements(batch, frame, keep, share, locks):
        return None
    limits = district_limit_shares(batch, frame)
    pieces = []
    for name in sorted(set(region)):
        mine = keep & (region == name)
        mine &= share >= np.maximum(1, pairs["min_chunk"].to_numpy())
        positions = np.flatnonzero(mine)
        piece_pairs = pairs.iloc[positions].assign(
            offer_quantity=share[positions], upper=np.minimum(pairs["upper"].to_numpy()[positions], share[positions]))
        carries = np.where(piece_pairs["divisible"], piece_pairs["min_chunk"], 1)
        piece_pairs = piece_pairs[piece_pairs["upper"] >= carries]
        positions = positions[np.isin(positions, piece_pairs.index)]
        piece_batch = region_batch(batch, piece_pairs, name, limits, lock_region, first=not pieces)
        pieces.append((name, piece_batch, positions, piece_pairs.reset_index(drop=True)))
    return pieces, relaxed[1]


def keeps_agreements(batch: Batch, frame: pd.DataFrame, keep: np.ndarray, share: np.ndarray,
                     locks: pd.DataFrame) -> bool:
    """Whether every locked pairing, and what the rounded plan gives each need with a hard floor, survive the
    split (a cap group or a whole offer given to another region can take them away): else no split."""
    if not keep[locks["position"].to_numpy()].all():
        return False
    floors = batch.needs.set_index("need_id")["floor"]
    floors = floors[floors > 0]
    kept = pd.Series(np.where(keep, np.minimum(frame["amount"], share), 0)).groupby(frame["need_id"].to_numpy()).sum()
    given = frame.groupby("need_id")["amount"].sum()
    return bool((kept.reindex(floors.index).fillna(0) >= given.reindex(floors.index).fillna(0)).all())


def share_offers(frame: pd.DataFrame, keep: np.ndarray, share: np.ndarray) -> bool:
    """Offers used across regions: a split offer's quantity shared as the rounded plan uses it (the rest to its
    main region); an indivisible offer kept in one region. Changes `keep` and `share` in place. False when the
    rounded plan itself gives an offer more than it has (two locked or reserved pairings can): no split then."""
    spanning = frame.groupby("offer_id")["region"].transform("nunique").to_numpy() > 1
    if not spanning.any():
        return True
    spread = frame[spanning]
    main = main_region(spread["offer_id"], spread["region"], spread["amount"])
    is_main = spread["region"].to_numpy() == spread["offer_id"].map(main).to_numpy()
    used = spread.groupby(["offer_id", "region"])["amount"].transform("sum").to_numpy()
    left = (spread["offer_quantity"] - spread.groupby("offer_id")["amount"].transform("sum")).to_numpy()
    divisible = spread["divisible"].to_numpy(bool)
    if (divisible & (left < 0)).any():
        return False
    rows = np.flatnonzero(spanning)
    share[rows] = np.where(divisible, used + np.where(is_main, left, 0), share[rows])
    keep[rows] &= divisible | is_main
    return True


def one_region_per(frame: pd.DataFrame, key: pd.Series, weight: np.ndarray) -> np.ndarray:
    """Pairs to keep so that each key (a cap group, a lock; None: no key) has pairs in one region only: the
    region where `weight` is largest, else where it has most pairs."""
    keyed = key.notna().to_numpy()
    if not keyed.any():
        return np.ones(len(frame), dtype=bool)
    named = frame[keyed].assign(key=key.to_numpy()[keyed], weight=np.asarray(weight, dtype=float)[keyed])
    main = main_region(named["key"], named["region"], named["weight"])
    keep = np.ones(len(frame), dtype=bool)
    keep[np.flatnonzero(keyed)] = named["region"].to_numpy() == named["key"].map(main).to_numpy()
    return keep


def main_region(key: pd.Series, region: pd.Series, weight: pd.Series) -> pd.Series:
    """Per key, the region with the most weight; ties go to the region with most rows, then the first name."""
    table = pd.DataFrame({"key": key.to_numpy(), "region": region.to_numpy(), "weight": weight.to_numpy()})
    per = table.groupby(["key", "region"], sort=True).agg(weight=("weight", "sum"), rows=("weight", "size"))
    per = per.reset_index().sort_values(["key", "weight", "rows", "region"], ascending=[True, False, False, True],
                                        kind="stable")
    return per.drop_duplicates("key").set_index("key")["region"]


def district_limit_shares(batch: Batch, frame: pd.DataFrame) -> pd.DataFrame:
    """(partner_id, region, max_districts) for limited partners: the districts the rounded plan uses in each
    region, and what is left of the limit in the partner's main region; never more than the limit in all."""
    limits = batch.partners.set_index("partner_id")["max_districts"].dropna()
    limited = frame[frame["partner_id"].isin(limits.index)]
    if limited.empty:
        return pd.DataFrame(columns=["partner_id", "region", "max_districts"])
    used = limited[limited["amount"] > 0].groupby(["partner_id", "region"])["district_id"].nunique()
    regions = limited[["partner_id", "region"]].drop_duplicates().set_index(["partner_id", "region"])
    table = regions.assign(used=used).fillna({"used": 0}).reset_index()
    main = main_region(limited["partner_id"], limited["region"], limited["amount"])
    table["limit"] = table["partner_id"].map(limits).astype("int64")
    table = table.sort_values(["partner_id", "used", "region"], ascending=[True, False, True], kind="stable")
    before = table.groupby("partner_id")["used"].cumsum() - table["used"]
    granted = np.minimum(table["used"], np.maximum(table["limit"] - before, 0))
    left = table["limit"] - granted.groupby(table["partner_id"]).transform("sum")
    is_main = table["region"].to_numpy() == table["partner_id"].map(main).to_numpy()
    table["max_districts"] = (granted + np.where(is_main, np.maximum(left, 0), 0)).astype("int64")
    return table[["partner_id", "region", "max_districts"]]


def region_batch(batch: Batch, pairs: pd.DataFrame, region: str, limits: pd.DataFrame,
                 lock_region: pd.Series, first: bool) -> Batch:
    """The batch of one region: its needs, the offers and partners of its pairs (with their district-limit
    shares), the districts those touch, the conflicts between them and the locks given to it (a lock that
    matches no pairing goes to the first region, whose model then reports it as the whole would)."""
    partner_ids = set(pairs["partner_id"])
    share = limits[limits["region"] == region].set_index("partner_id")["max_districts"]
    partners = batch.partners[batch.partners["partner_id"].isin(partner_ids)].copy()
    limited = partners["partner_id"].isin(share.index)
    partners.loc[limited, "max_districts"] = partners.loc[limited, "partner_id"].map(share).to_numpy()
    needs = batch.needs[batch.needs["district_id"].map(
        batch.districts.set_index("district_id")["region"]).fillna("") == region]
    touched = set(pairs["district_id"]) | set(needs["district_id"]) | set(partners["home_district"].dropna())
    conflicts = batch.conflicts[batch.conflicts["partner_a"].isin(partner_ids)
                                & batch.conflicts["partner_b"].isin(partner_ids)]
    decisions = batch.decisions[(batch.decisions["action"] == "lock") & batch.decisions["role_id"].isna()]
    mine = np.array([lock_region.get(f"lock:{i}", region if first else None) == region
                     for i in range(len(decisions))], dtype=bool)
    return Batch(partners=partners.reset_index(drop=True),
                 offers=batch.offers[batch.offers["offer_id"].isin(set(pairs["offer_id"]))].reset_index(drop=True),
                 needs=needs.reset_index(drop=True),
                 districts=batch.districts[batch.districts["district_id"].isin(touched)].reset_index(drop=True),
                 roles=batch.roles.iloc[0:0], capabilities=batch.capabilities.iloc[0:0],
                 conflicts=conflicts.reset_index(drop=True), decisions=decisions[mine].reset_index(drop=True),
                 scenario=batch.scenario, folder=batch.folder, file_hashes=batch.file_hashes)


def uncut_regions(batch: Batch, pairs: pd.DataFrame) -> dict[str, tuple[Batch, pd.DataFrame]]:
    """Per region, every pair of the part into its districts, with whole offers and partners' whole district
    limits, and their batch: what a region's district LP relaxes (`matcher.solve.solve_part`).

    A rule that spans regions then holds in each region as a whole, so it is counted once per region
    instead of once: a relaxation of the part's LP, whose objective adds up over the regions. So the
    regions' bounds add up to a bound on the whole part (on the generated national batch 29,764,
    against 29,439 for one LP over the whole part, which takes minutes, and 30,910 for its flow).
    """
    region = pair_regions(batch, pairs)
    whole_limits = pd.DataFrame(columns=["partner_id", "region", "max_districts"])
    scopes = {}
    for name in sorted(set(region)):
        mine = pairs[region == name].reset_index(drop=True)
        scopes[name] = region_batch(batch, mine, name, whole_limits, pd.Series(dtype=object), first=False), mine
    return scopes


def cut_large_parts(parts: list[Part], pairs: pd.DataFrame, scenario: Scenario) -> tuple[list[Part], dict[int, int]]:
    """The parts with each large one replaced by its regions (renumbered in order), and the flow-relaxation
    bound (in 1/OBJECTIVE_SCALE) of every part that was cut, by its number before the cut. A region keeps
    the part it came from (`whole`), to be solved uncut if the region turns out to have no plan."""
    cut: list[Part] = []
    bounds: dict[int, int] = {}
    for part in parts:
        part_pairs = pairs.iloc[part.positions].reset_index(drop=True)
        split = split_by_region(part.batch, part_pairs, scenario)
        if split is None:
            cut.append(replace(part, index=len(cut)))
            continue
        pieces, bounds[part.index] = split
        scopes = uncut_regions(part.batch, part_pairs)
        for name, piece_batch, positions, piece_pairs in pieces:
            cut.append(Part(len(cut), piece_batch, part.positions[positions], None, piece_pairs,
                            split_of=part.index, region=name, whole=part, uncut=scopes[name]))
    return cut, bounds
