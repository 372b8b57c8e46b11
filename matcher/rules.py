"""Hard rules of the allocation: each a function named for the rule, registered with a display name."""
from __future__ import annotations

import numpy as np
import pandas as pd

from matcher.batch import ROW
from matcher.candidates import DECISION_KEYS
from matcher.errors import InputError, Problem
from ortools.sat.python import cp_model

from matcher.model import SHARE_SCALE, AllocationModel
from matcher.registry import Rule, registrar

HARD_RULES: list[Rule] = []
hard_rule = registrar(HARD_RULES, Rule)


@hard_rule("Offer capacity")
def offer_capacity(m: AllocationModel) -> None:
    """A partner never gives more than it offered: a divisible offer's parts add up to at most its quantity."""
    divisible = m.pairs["divisible"].to_numpy()
    quantity = m.pairs["offer_quantity"].to_numpy()
    for positions in m.pairs_by("offer_id").values():
        if divisible[positions[0]]:
            m.model.add(m.sent(positions) <= int(quantity[positions[0]]))


@hard_rule("Whole offers")
def whole_offers(m: AllocationModel) -> None:
    """An indivisible offer (an office, say) goes whole to at most one need."""
    divisible = m.pairs["divisible"].to_numpy()
    for positions in m.pairs_by("offer_id").values():
        if not divisible[positions[0]]:
            m.model.add_at_most_one(m.used[p] for p in positions)


@hard_rule("Minimum chunk")
def minimum_chunk(m: AllocationModel) -> None:
    """Each part of a split offer is at least the offer's minimum useful chunk."""
    for p, (divisible, chunk) in enumerate(zip(m.pairs["divisible"], m.pairs["min_chunk"])):
        if divisible:
            m.model.add(m.amount[p] >= int(chunk) * m.used[p])


@hard_rule("Need quantity")
def need_quantity(m: AllocationModel) -> None:
    """A need is never credited with more than it asked for (at the show rate, under expected reliability)."""
    quantity = m.pairs["need_quantity"].to_numpy()
    for positions in m.pairs_by("need_id").values():
        m.model.add(m.credited(positions) <= m.credit_scale * int(quantity[positions[0]]))


@hard_rule("Hard floor")
def hard_floor(m: AllocationModel) -> None:
    """A need with a floor gets at least that much, or there is no viable plan."""
    positions_by_need = m.pairs_by("need_id")
    for need_id, floor in zip(m.batch.needs["need_id"], m.batch.needs["floor"]):
        if floor > 0:
            m.guard(m.model.add(m.credited(positions_by_need.get(need_id, [])) >= m.credit_scale * int(floor)),
                    "floor", need_id)


@hard_rule("Negotiated lock")
def negotiated_lock(m: AllocationModel) -> None:
    """A `lock` decision holds exactly: the locked pairing happens (with the agreed quantity, if one is given)."""
    for decision in m.batch.decisions[m.batch.decisions["action"] == "lock"].itertuples(index=False):
        named = {key: getattr(decision, key) for key in DECISION_KEYS if not pd.isna(getattr(decision, key))}
        if not pd.isna(decision.role_id) or not named:
            continue
        match = pd.Series(True, index=m.pairs.index)
        for key, value in named.items():
            match &= m.pairs[key] == value
        positions = list(np.flatnonzero(match.to_numpy()))
        if not positions:
            target = " and ".join(f"{k} {v}" for k, v in named.items())
            raise InputError([Problem("decisions.csv", int(getattr(decision, ROW)), "action",
                                      f"the lock of {target} cannot hold: no eligible pairing matches it "
                                      "(resource, skill, reach, dates, a forbid or a legal rule rules it out)")])
        row = str(getattr(decision, ROW))
        m.guard(m.model.add(sum(m.used[p] for p in positions) >= 1), "lock", row)
        if not pd.isna(decision.quantity):
            m.guard(m.model.add(sum(m.amount[p] for p in positions) == int(decision.quantity)), "lock", row)


@hard_rule("Agree to disagree")
def agree_to_disagree(m: AllocationModel) -> None:
    """Partners in conflict (scope `district` or `coalition`) never both work in the same district."""
    apart = m.batch.conflicts[m.batch.conflicts["scope"].isin(["district", "coalition"])]
    reach = m.districts_by_partner()
    for a, b, row in zip(apart["partner_a"], apart["partner_b"], apart[ROW]):
        for district in sorted(reach.get(a, set()) & reach.get(b, set())):  # where both could be present
            m.guard(m.model.add(m.presence(a, district) + m.presence(b, district) <= 1), "conflict", str(row))


@hard_rule("Partner district limit")
def partner_district_limit(m: AllocationModel) -> None:
    """A partner works in no more districts than its max_districts."""
    limited = m.batch.partners[m.batch.partners["max_districts"].notna()]
    reach = m.districts_by_partner()
    for partner, limit in zip(limited["partner_id"], limited["max_districts"]):
        districts = sorted(reach.get(partner, set()))
        if len(districts) > limit:
            present = [m.presence(partner, d) for d in districts]
            m.guard(m.model.add(sum(present) <= int(limit)), "district_limit", partner)


@hard_rule("Legal contribution cap")
def legal_contribution_cap(m: AllocationModel) -> None:
    """Money plus in-kind value from one partner to one candidate stays within its kind's legal cap."""
    caps = m.scenario.legal.caps_usd
    kinds = m.batch.partners.set_index("partner_id")["kind"]
    valued = m.pairs[m.pairs["candidate"].notna() & (m.pairs["contribution_per_unit"] > 0)]
    cents = np.round(100 * valued["contribution_per_unit"].to_numpy(float)).astype("int64")
    pair_of = valued.index.to_numpy()
    for (partner, candidate), rows in valued.groupby(["partner_id", "candidate"], sort=True).indices.items():
        cap = caps.get(kinds[partner])
        if cap is None:
            continue
        given = cp_model.LinearExpr.weighted_sum([m.amount[p] for p in pair_of[rows]], cents[rows].tolist())
        m.guard(m.model.add(given <= round(100 * cap)), "legal_cap", f"{partner}|{candidate}")


@hard_rule("Every member benefits")
def every_member_benefits(m: AllocationModel) -> None:
    """With policy.min_benefit = "hard", each partner serves one of its preferred districts where it can."""
    if m.scenario.policy.min_benefit != "hard":
        return
    for partner, indicator in benefit_indicators(m).items():
        m.guard(m.model.add(indicator == 1), "benefit", partner)


@hard_rule("Dependence cap")
def dependence_cap(m: AllocationModel) -> None:
    """With policy.dependence = "hard", no need gets more than dependence_cap of its allocation from one partner."""
    if m.scenario.policy.dependence != "hard":
        return
    for (need, partner), (_, over) in dependence_excess(m).items():
        m.guard(m.model.add(over <= 0), "dependence", f"{need}|{partner}")


def dependence_excess(m: AllocationModel) -> dict:
    """Per (need, partner): (k, e) with e/k the need-share, in 1/SHARE_SCALE, the partner gives beyond the cap.

    e = SHARE_SCALE × what the partner sends − cap × what the need gets from everyone; k = the need's quantity.
    """
    cap = round(SHARE_SCALE * m.scenario.policy.dependence_cap)
    by_need = m.pairs_by("need_id")
    quantity = m.pairs["need_quantity"].to_numpy()
    return {(need, partner): (int(quantity[positions[0]]),
                              SHARE_SCALE * m.sent(list(positions)) - cap * m.sent(by_need[need]))
            for (need, partner), positions in m.pairs.groupby(["need_id", "partner_id"]).indices.items()}


@hard_rule("N-1 resilience")
def n_minus_one_resilience(m: AllocationModel) -> None:
    """With policy.resilience = "hard", each district keeps resilience_share of its coverage if any partner leaves."""
    if m.scenario.policy.resilience != "hard":
        return
    for (district, partner), (_, loss) in resilience_excess(m).items():
        m.guard(m.model.add(loss <= 0), "resilience", f"{district}|{partner}")


def resilience_excess(m: AllocationModel) -> dict:
    """Per (district, partner): (k, e) with e/k the need-shares, in 1/SHARE_SCALE, the district would lose
    if the partner left, beyond the (1 − resilience_share) it may lose.
    """
    allowed = round(RESILIENCE_SCALE * (1 - m.scenario.policy.resilience_share))
    unit_share = [round(SHARE_SCALE / q) for q in m.pairs["need_quantity"]]

    def shares(positions) -> cp_model.LinearExpr:
        return sum((unit_share[p] * m.amount[p] for p in positions), cp_model.LinearExpr.constant(0))

    by_district = m.pairs_by("district_id")
    return {(district, partner): (RESILIENCE_SCALE, RESILIENCE_SCALE * shares(positions)
                                  - allowed * shares(by_district[district]))
            for (partner, district), positions in m.pairs_by_partner_district().items()}


RESILIENCE_SCALE = 1_000  # resilience_share is taken to three decimals


def benefit_indicators(m: AllocationModel) -> dict:
    """Per partner that could benefit, a 0/1 variable: it serves a preferred district or holds a role."""
    from matcher.labor import holds_role

    indicators = {}
    roles_held = holds_role(m)
    for partner, preferred in zip(m.batch.partners["partner_id"], m.batch.partners["preferred_districts"]):
        present = [m.presence(partner, d) for d in preferred]
        present = [x for x in present if not isinstance(x, int)]
        if partner in roles_held:
            present.append(roles_held[partner])
        if present:
            served = m.model.new_bool_var(f"benefit[{partner}]")
            m.model.add_max_equality(served, present)
            indicators[partner] = served
    return indicators
