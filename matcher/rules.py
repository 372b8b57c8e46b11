"""Hard rules of the allocation: each a function named for the rule, registered with a display name."""
from __future__ import annotations

from matcher.model import AllocationModel
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
            m.model.add(m.need_amount(positions) <= int(quantity[positions[0]]))


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
    """A need is never sent more than it asked for."""
    quantity = m.pairs["need_quantity"].to_numpy()
    for positions in m.pairs_by("need_id").values():
        m.model.add(m.need_amount(positions) <= int(quantity[positions[0]]))


@hard_rule("Hard floor")
def hard_floor(m: AllocationModel) -> None:
    """A need with a floor gets at least that much, or there is no viable plan."""
    positions_by_need = m.pairs_by("need_id")
    for need_id, floor in zip(m.batch.needs["need_id"], m.batch.needs["floor"]):
        if floor > 0:
            m.model.add(m.need_amount(positions_by_need.get(need_id, [])) >= int(floor))
