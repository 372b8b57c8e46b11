"""One resource's min-cost flow: grouping interchangeable offers and needs changes its size, not its answer."""
from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest

import matcher.flow_network as flow_network
from matcher.flow_network import (ClassNetwork, PairArcs, coverage_arcs, distinct, flow_gains, network_amounts,
                                  overlaps, renumbered)

SEGMENTS = ((0.5, 1.0), (1.0, 0.5))


def cloned_network(seed: int, costly: bool, binding: bool = False):
    """A random network whose offers and needs come in look-alike copies (same reach, same costs), as
    partners' offers near one home district do: (arcs, supply, quantity, weight)."""
    rng = random.Random(seed)
    kinds_of_offer, kinds_of_need = rng.randint(2, 6), rng.randint(2, 6)
    reach = {(o, n) for o in range(kinds_of_offer) for n in range(kinds_of_need) if rng.random() < 0.5}
    cost = {edge: (rng.choice([0, 3, 7]) if costly else 0) for edge in reach}
    offer_kind = [o for o in range(kinds_of_offer) for _ in range(rng.randint(1, 3))]
    need_kind = [n for n in range(kinds_of_need) for _ in range(rng.randint(1, 3))]
    supply = np.array([rng.randint(1, 30) for _ in offer_kind])
    quantity = np.array([rng.randint(1, 30) for _ in need_kind])
    weight = np.array([rng.choice([0.5, 1.0, 2.0, 3.5]) for _ in need_kind])
    pairs = [(o, n) for o, ok in enumerate(offer_kind) for n, nk in enumerate(need_kind) if (ok, nk) in reach]
    if not pairs:
        pairs = [(0, 0)]
        cost[(offer_kind[0], need_kind[0])] = 0
    offer, need = (np.array(column) for column in zip(*pairs))
    capacity = np.minimum(supply[offer], quantity[need])
    if binding:  # a fifth of the pairs carry less than their offer and need could
        tight = np.array([rng.random() < 0.2 for _ in pairs])
        tight[0] = capacity[0] > 0
        capacity[tight] = [rng.randint(0, c - 1) for c in capacity[tight]]
    unit_cost = np.array([cost[(offer_kind[o], need_kind[n])] for o, n in pairs]) * 10**6
    return PairArcs(offer, need, capacity, unit_cost), supply, quantity, weight


def networkx_optimum(arcs: PairArcs, supply, quantity, weight) -> int:
    """The same flow's optimal value by networkx's network simplex, on the pair-level network."""
    graph = nx.MultiDiGraph()
    total = int(supply.sum())
    graph.add_node("source", demand=-total)
    graph.add_node("sink", demand=total)
    for o, s in enumerate(supply):
        graph.add_edge("source", ("offer", o), capacity=int(s), weight=0)
    for o, n, c, u in zip(arcs.offer, arcs.need, arcs.capacity, arcs.unit_cost):
        graph.add_edge(("offer", int(o)), ("need", int(n)), capacity=int(c), weight=int(u))
    for n, c, g in zip(*coverage_arcs(quantity, weight, SEGMENTS)):
        graph.add_edge(("need", int(n)), "sink", capacity=int(c), weight=-int(g))
    graph.add_edge("source", "sink", capacity=total, weight=0)
    cost, _ = nx.network_simplex(graph)
    return -cost


def value_of(amounts, arcs: PairArcs, quantity, weight) -> int:
    """What these pair amounts are worth: each need's coverage arcs filled in order, less the unit costs."""
    received = np.bincount(arcs.need, weights=amounts, minlength=len(quantity)).astype(int)
    need, capacity, gain = coverage_arcs(quantity, weight, SEGMENTS)
    worth = 0
    for n in range(len(quantity)):
        left = received[n]
        for c, g in zip(capacity[need == n], gain[need == n]):
            worth += min(left, c) * g
            left -= min(left, c)
    return worth - int(np.dot(arcs.unit_cost, amounts))


def assert_feasible(amounts, arcs: PairArcs, supply, quantity):
    assert (amounts >= 0).all() and (amounts <= arcs.capacity).all()
    assert (np.bincount(arcs.offer, weights=amounts, minlength=len(supply)) <= supply).all()
    assert (np.bincount(arcs.need, weights=amounts, minlength=len(quantity)) <= quantity).all()


@pytest.mark.parametrize("costly", [False, True], ids=["free pairs", "costs per unit"])
@pytest.mark.parametrize("seed", range(12))
def test_the_grouped_flow_reaches_the_network_simplex_optimum_with_feasible_pair_amounts(seed, costly):
    arcs, supply, quantity, weight = cloned_network(seed, costly)
    assert ClassNetwork.grouped(arcs.offer, arcs.need, arcs, supply, quantity) is not None
    amounts, value = network_amounts(arcs, supply, quantity, weight, SEGMENTS)
    assert value == networkx_optimum(arcs, supply, quantity, weight)
    assert_feasible(amounts, arcs, supply, quantity)
    assert value_of(amounts, arcs, quantity, weight) == value


@pytest.mark.parametrize("seed", range(12))
def test_a_pair_whose_capacity_binds_keeps_its_offer_and_need_alone_and_the_flow_optimal(seed):
    arcs, supply, quantity, weight = cloned_network(seed, costly=seed % 2 == 1, binding=True)
    network = ClassNetwork.grouped(arcs.offer, arcs.need, arcs, supply, quantity)
    assert network is not None
    binding = arcs.capacity < np.minimum(supply[arcs.offer], quantity[arcs.need])
    assert binding.any()
    for offer, need in zip(arcs.offer[binding], arcs.need[binding]):
        assert (network.offer_class == network.offer_class[offer]).sum() == 1
        assert (network.need_class == network.need_class[need]).sum() == 1
    amounts, value = network_amounts(arcs, supply, quantity, weight, SEGMENTS)
    assert value == networkx_optimum(arcs, supply, quantity, weight)
    assert_feasible(amounts, arcs, supply, quantity)
    assert value_of(amounts, arcs, quantity, weight) == value


def test_look_alike_offers_and_needs_share_a_class():
    # offers 0 and 1 reach needs 0 and 1 alike; offer 2 reaches need 2 only, at another cost
    arcs = PairArcs(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 2]), np.array([5, 5, 5, 5, 5]),
                    np.array([4, 4, 4, 4, 9]))
    network = ClassNetwork.grouped(arcs.offer, arcs.need, arcs, np.array([5, 5, 5]), np.array([5, 5, 5]))
    assert network is not None
    assert network.offer_class[0] == network.offer_class[1] != network.offer_class[2]
    assert network.need_class[0] == network.need_class[1] != network.need_class[2]
    assert sorted(network.block_cost) == [4, 9]  # two class-to-class arcs for five pairs


def test_needs_with_the_same_offers_at_different_costs_are_not_grouped():
    arcs = PairArcs(np.array([0, 0]), np.array([0, 1]), np.array([5, 5]), np.array([1, 2]))
    network = ClassNetwork.grouped(arcs.offer, arcs.need, arcs, np.array([5]), np.array([5, 5]))
    assert network.need_class[0] != network.need_class[1]


def test_a_hash_that_merges_unlike_needs_is_caught(monkeypatch):
    # need 0 is reached by offers 0 and 1, need 1 by offer 0 only
    arcs = PairArcs(np.array([0, 1, 0]), np.array([0, 0, 1]), np.array([4, 6, 4]), np.zeros(3, dtype="int64"))
    supply, quantity, weight = np.array([4, 6]), np.array([8, 4]), np.array([1.0, 3.0])
    assert ClassNetwork.grouped(arcs.offer, arcs.need, arcs, supply, quantity) is not None
    monkeypatch.setattr(flow_network, "hashed_classes", lambda node, nodes, *_: np.zeros(nodes, dtype="int64"))
    assert ClassNetwork.grouped(arcs.offer, arcs.need, arcs, supply, quantity) is None
    amounts, value = network_amounts(arcs, supply, quantity, weight, SEGMENTS)
    assert value == networkx_optimum(arcs, supply, quantity, weight)
    assert list(amounts) == [0, 6, 4]  # need 1, worth three times as much, takes all of offer 0


def test_free_blocks_rank_the_gains_keeping_order_ties_and_zero():
    gain = np.array([0, 700, 30, 700, 5])
    assert list(flow_gains(gain, np.zeros(3, dtype="int64"))) == [0, 3, 2, 3, 1]
    assert list(flow_gains(gain + 1, np.zeros(3, dtype="int64"))) == [1, 4, 3, 4, 2]
    assert list(flow_gains(gain, np.array([0, 2, 0]))) == list(gain)  # costs: the gains' sizes matter


def test_overlaps_split_a_group_north_west_corner_first():
    # one group: offers of 3 and 2 units laid against needs of 4 and 1
    rows_left, rows_right = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    split = overlaps(np.zeros(2, dtype="int64"), np.array([3, 2]), np.zeros(2, dtype="int64"), np.array([4, 1]),
                     rows_left, rows_right)
    assert list(split) == [3, 0, 1, 1]


def test_overlaps_keep_groups_apart():
    split = overlaps(np.array([0, 1]), np.array([3, 2]), np.array([1, 0]), np.array([2, 3]),
                     np.array([0, 1]), np.array([1, 0]))
    assert list(split) == [3, 2]


@pytest.mark.parametrize("seed", range(5))
def test_renumbered_matches_numpy_unique(seed):
    codes = np.random.default_rng(seed).integers(0, 40, 100)
    present, position = renumbered(codes, 50)
    unique, inverse = np.unique(codes, return_inverse=True)
    assert list(present) == list(unique) and list(position) == list(inverse)


@pytest.mark.parametrize("seed", range(5))
def test_distinct_numbers_keys_in_the_order_they_first_occur(seed):
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 2**63, 30, dtype="uint64")[rng.integers(0, 30, 200)]
    values, inverse = distinct(keys)
    assert list(values[inverse]) == list(keys)
    assert len(values) == len(set(keys.tolist()))
    first = [list(inverse).index(i) for i in range(len(values))]
    assert first == sorted(first)
