"""One resource's transportation problem as an OR-Tools min-cost flow, built from whole arrays.

Offers send to needs along their pairs; each need's concave coverage curve becomes parallel need → sink
arcs whose per-unit gains fall from one to the next, so the flow fills them in order. Offers and needs
the flow cannot tell apart are merged into classes first (`ClassNetwork.grouped`), which shrinks the
network several times on generated batches; the pair amounts are read back from the classes' flows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from ortools.graph.python import min_cost_flow

from matcher.model import OBJECTIVE_SCALE
from matcher.terms import coverage_value

CLASS_HASH_SEED = 20261206


@dataclass(frozen=True)
class PairArcs:
    """Offer → need arcs, one per pair: the offer's and need's codes in the part, capacity and cost per unit."""

    offer: np.ndarray
    need: np.ndarray
    capacity: np.ndarray
    unit_cost: np.ndarray

    def take(self, positions: np.ndarray) -> PairArcs:
        """The arcs of these pairs only."""
        return PairArcs(*(column[positions] for column in (self.offer, self.need, self.capacity, self.unit_cost)))


def network_amounts(arcs: PairArcs, supply: np.ndarray, quantity: np.ndarray, weight: np.ndarray,
                    segments) -> tuple[np.ndarray, int] | None:
    """One min-cost flow: the amount on each arc and the flow's value (gains less unit costs, in
    1/OBJECTIVE_SCALE); None if not solved. `supply`, `quantity` and `weight` are the part's, indexed by
    the arcs' codes."""
    offers, offer_node = renumbered(arcs.offer, len(supply))
    needs, need_node = renumbered(arcs.need, len(quantity))
    supply, quantity = supply[offers], quantity[needs]
    network = (ClassNetwork.grouped(offer_node, need_node, arcs, supply, quantity)
               or ClassNetwork.ungrouped(offer_node, need_node, arcs))
    return network.solve(supply, quantity, weight[needs], segments)


def renumbered(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The codes (below `size`) that occur, in order, and each code's position among them: `np.unique`'s
    answer without its sort."""
    present = np.zeros(size, dtype=bool)
    present[codes] = True
    return np.flatnonzero(present), (np.cumsum(present) - 1)[codes]


@dataclass(frozen=True)
class ClassNetwork:
    """A network whose offers and needs are grouped into classes, and how to read pair amounts back.

    Nodes: the source, one per offer class, one per need class, the sink. Source → offer class arcs carry
    the class's supply; blocks join an offer class to a need class it reaches; each need's coverage arcs
    leave its class's node (a need's arcs add up to its quantity, so it needs no node of its own). Rows
    are the (need class, offer) pairs that meet: the class flows are split to rows, then rows to pairs.
    """

    offer_class: np.ndarray  # per offer of the network
    need_class: np.ndarray  # per need of the network
    row_offer: np.ndarray  # per row
    row_class: np.ndarray
    row_block: np.ndarray
    block_offer_class: np.ndarray  # per block
    block_need_class: np.ndarray
    block_capacity: np.ndarray
    block_cost: np.ndarray
    pair_row: np.ndarray  # per pair (arc of the network)
    pair_need: np.ndarray

    @classmethod
    def ungrouped(cls, offer_node: np.ndarray, need_node: np.ndarray, arcs: PairArcs) -> ClassNetwork:
        """Every offer and need its own class, every pair its own row and block: the plain network."""
        pairs = np.arange(len(arcs.offer))
        return cls(np.arange(offer_node.max() + 1), np.arange(need_node.max() + 1), offer_node, need_node, pairs,
                   offer_node, need_node, arcs.capacity, arcs.unit_cost, pairs, need_node)

    @classmethod
    def grouped(cls, offer_node: np.ndarray, need_node: np.ndarray, arcs: PairArcs, supply: np.ndarray,
                quantity: np.ndarray) -> ClassNetwork | None:
        """Needs reached by the same offers at the same unit costs form a class; offers reaching the same need
        classes at the same costs form a class. A pair whose capacity is below its offer's and its need's
        binds: its offer and need stay alone, so its block is that pair alone, with its capacity. In any other
        block the offers can send to the needs as much as the flow asks, up to what the classes have and
        need. None where hashing merged unlike nodes.
        """
        binding = arcs.capacity < np.minimum(supply[offer_node], quantity[need_node])
        need_class = hashed_classes(need_node, len(quantity), offer_node, len(supply), arcs.unit_cost,
                                    need_node[binding])
        rows, pair_row = distinct(need_class[need_node] * len(supply) + offer_node)
        row_class, row_offer = rows // len(supply), rows % len(supply)
        row_cost = np.zeros(len(rows), dtype="int64")
        row_cost[pair_row] = arcs.unit_cost
        if not ((row_cost[pair_row] == arcs.unit_cost).all() and meets_all(need_class, row_class, len(pair_row))):
            return None  # the hash merged unlike needs: a row's pairs differ in cost, or a class's needs in offers
        need_classes = int(need_class.max()) + 1
        offer_class = hashed_classes(row_offer, len(supply), row_class, need_classes, row_cost, offer_node[binding])
        blocks, row_block = distinct(offer_class[row_offer] * need_classes + row_class)
        block_offer_class, block_need_class = blocks // need_classes, blocks % need_classes
        block_cost = np.zeros(len(blocks), dtype="int64")
        block_cost[row_block] = row_cost
        pair_block = row_block[pair_row]
        if not ((block_cost[row_block] == row_cost).all() and meets_all(offer_class, block_offer_class, len(rows))
                and (np.bincount(pair_block)[pair_block[binding]] == 1).all()):
            return None  # the hash merged unlike offers, or a binding pair shares its block
        # no more than its offer class has or its need class needs: tight capacities save the flow work
        # (the state batch's expertise flow: 5.3 against 3.3 ms); a binding pair's block is that pair
        block_capacity = np.minimum(class_sums(offer_class, supply)[block_offer_class],
                                    class_sums(need_class, quantity)[block_need_class])
        block_capacity[pair_block[binding]] = arcs.capacity[binding]
        return cls(offer_class, need_class, row_offer, row_class, row_block, block_offer_class, block_need_class,
                   block_capacity, block_cost, pair_row, need_node)

    def solve(self, supply: np.ndarray, quantity: np.ndarray, weight: np.ndarray,
              segments) -> tuple[np.ndarray, int] | None:
        """The min-cost flow on the classes, split back to the pairs, and its value."""
        offer_classes, need_classes = int(self.offer_class.max()) + 1, int(self.need_class.max()) + 1
        first_need_class, sink = 1 + offer_classes, 1 + offer_classes + need_classes
        total = int(supply.sum())
        class_supply = class_sums(self.offer_class, supply)
        arc_need, capacity, gain = coverage_arcs(quantity, weight, segments)
        flow = min_cost_flow.SimpleMinCostFlow()
        flow.add_arcs_with_capacity_and_unit_cost(np.zeros(offer_classes, dtype="int64"), 1 + np.arange(offer_classes),
                                                  class_supply, np.zeros(offer_classes, dtype="int64"))
        blocks = flow.add_arcs_with_capacity_and_unit_cost(1 + self.block_offer_class,
                                                           first_need_class + self.block_need_class,
                                                           self.block_capacity, self.block_cost)
        coverage = flow.add_arcs_with_capacity_and_unit_cost(first_need_class + self.need_class[arc_need],
                                                             np.full(len(arc_need), sink), capacity,
                                                             -flow_gains(gain, self.block_cost))
        flow.add_arc_with_capacity_and_unit_cost(0, sink, total, 0)  # supply left unused
        flow.set_node_supply(0, total)
        flow.set_node_supply(sink, -total)
        if flow.solve() != flow.OPTIMAL:
            return None
        block_flow = np.asarray(flow.flows(blocks), dtype="int64")
        covered = np.asarray(flow.flows(coverage), dtype="int64")
        received = np.bincount(arc_need, weights=covered, minlength=len(quantity)).astype("int64")
        row_amount = overlaps(self.offer_class, supply, self.block_offer_class, block_flow, self.row_offer,
                              self.row_block)
        amounts = overlaps(self.row_class, row_amount, self.need_class, received, self.pair_row, self.pair_need)
        return amounts, int(np.dot(gain, covered)) - int(np.dot(self.block_cost, block_flow))


def class_sums(node_class: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Each class's total amount."""
    return np.bincount(node_class, weights=amount).astype("int64")


def flow_gains(gain: np.ndarray, block_cost: np.ndarray) -> np.ndarray:
    """The gains the flow works with: their ranks where no block costs anything, else the gains themselves.

    With free blocks, what the needs can receive together is a polymatroid, whose best points depend only
    on the order of the gains (the greedy fills the highest first); ranks keep the order and ties, and
    the flow's cost scaling needs fewer phases for small costs (the state batch's volunteer flow: 23 → 13
    ms). Zero gains stay zero, as unused supply goes to the sink for nothing.
    """
    if (block_cost != 0).any() or (gain < 0).any():
        return gain
    return np.unique(gain, return_inverse=True)[1].astype("int64") + int(gain.min() > 0)


def overlaps(left_group: np.ndarray, left_amount: np.ndarray, right_group: np.ndarray, right_amount: np.ndarray,
             row_left: np.ndarray, row_right: np.ndarray) -> np.ndarray:
    """Per row (a left and a right item of one group), how far their intervals overlap when each group's
    left amounts, and its right amounts, are laid end to end: the north-west-corner split of a group's flow.
    Exact where every left item of a group meets every right one and the left side has at least as much."""
    left_end, right_end = group_ends(left_group, left_amount), group_ends(right_group, right_amount)
    start = np.maximum((left_end - left_amount)[row_left], (right_end - right_amount)[row_right])
    return np.maximum(0, np.minimum(left_end[row_left], right_end[row_right]) - start)


def group_ends(group: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Each item's running total within its group, the group's items in their given order."""
    order = np.argsort(group, kind="stable")
    running = np.cumsum(amount[order])
    sorted_group = group[order]
    first = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    before = (running - amount[order])[first]
    ends = np.empty(len(amount), dtype="int64")
    ends[order] = running - np.repeat(before, np.diff(np.r_[first, len(order)]))
    return ends


def hashed_classes(node: np.ndarray, nodes: int, other: np.ndarray, others: int, cost: np.ndarray,
                   alone: np.ndarray) -> np.ndarray:
    """Per node, a class shared by the nodes whose arcs (other end, cost) hash alike: a sum of random keys,
    so equal sets always hash alike; `ClassNetwork.grouped` catches the rare unlike sets that do too. The
    `alone` nodes get a key of their own on top, so they share no class."""
    keys = np.random.default_rng(CLASS_HASH_SEED)
    first, second = (keys.integers(1, 2**63, others, dtype="uint64") for _ in range(2))
    own = keys.integers(1, 2**63, nodes, dtype="uint64")
    signature = np.zeros(nodes, dtype="uint64")
    np.add.at(signature, node, first[other] + second[other] * cost.astype("uint64"))
    signature[alone] += own[alone]
    return distinct(signature)[1]


def distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys, in the order they first occur, and each key's position among them: `np.unique`'s
    answer by hashing instead of sorting (the state batch's volunteer rows: 0.2 against 0.9 ms)."""
    inverse, values = pd.factorize(keys)
    return np.asarray(values), inverse.astype("int64", copy=False)


def meets_all(node_class: np.ndarray, row_class: np.ndarray, rows: int) -> bool:
    """Whether there are as many rows as members × what each class meets, i.e. every member of a class
    meets everything its class meets (rows are distinct (class, other end) pairs from distinct arcs)."""
    return int(np.bincount(node_class)[row_class].sum()) == rows


def coverage_arcs(quantities: np.ndarray, weights: np.ndarray, segments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Need → sink arcs tracing weight × f in whole units: (need index, capacity, gain per unit in 1/OBJECTIVE_SCALE).

    Units inside one segment share its slope; a unit that straddles a breakpoint gets an arc of its
    own. Each need's gains decrease from one arc to the next, as f is concave, so a min-cost flow
    fills them in order.
    """
    q = quantities.astype("int64")
    start = np.zeros(len(q), dtype="int64")
    need, capacity, gain = [], [], []

    def arc(mask: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        width = (end - start)[mask]
        rise = weights[mask] * (coverage_value(end[mask] / q[mask], segments)
                                - coverage_value(start[mask] / q[mask], segments))
        need.append(np.flatnonzero(mask))
        capacity.append(width)
        gain.append(np.round(rise * OBJECTIVE_SCALE / width).astype("int64"))

    for upto, _ in segments:
        end = np.floor(upto * q).astype("int64")
        grows = end > start
        arc(grows, start, end)
        start = np.where(grows, end, start)
        straddles = (start < q) & (upto * q > start)
        arc(straddles, start, start + 1)
        start = np.where(straddles, start + 1, start)
    return np.concatenate(need), np.concatenate(capacity), np.concatenate(gain)
