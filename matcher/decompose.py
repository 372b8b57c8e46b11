"""Split a batch into independent parts: connected components of what the model couples.

Two offer–need pairs belong to one part when a variable or constraint of the model touches both.
A pair couples its offer and its need; a partner couples its offers only when a rule reads the
partner as a whole (conflicts, district limits, district locks, member benefit, legal caps per
candidate, lead presence); pooling and N-1 resilience couple the needs of a district; roles couple
with their candidate partners. Terms that compare all partners (offer fairness, labor fairness) or
a lexicographic tolerance couple everything: then the batch is one part.
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from matcher.batch import Batch
from matcher.scenario import Scenario


@dataclass(frozen=True)
class Part:
    """One independent part: the batch restricted to it, and the positions of its pairs in the whole."""

    index: int
    batch: Batch
    positions: np.ndarray

    @property
    def size(self) -> int:
        return len(self.positions) + len(self.batch.roles)


def couples_everything(batch: Batch, scenario: Scenario) -> bool:
    """True when some term compares every partner with every other, so no split is exact."""
    return (scenario.weights.fairness > 0 or (scenario.labor.fairness > 0 and len(batch.roles) > 0)
            or (scenario.solver.mode == "lexicographic" and scenario.lexicographic.tolerance > 0))


def find_parts(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> list[Part]:
    """The independent parts of a batch, largest first; one part when the scenario couples everything."""
    if couples_everything(batch, scenario):
        return [Part(0, batch, np.arange(len(pairs)))]
    graph = coupling_graph(batch, pairs, scenario)
    components = sorted(nx.connected_components(graph), key=lambda c: (-len(c), min(c)))
    parts = []
    pair_offer = pairs["offer_id"].map(lambda o: ("o", o)).to_numpy()
    component_of = {node: i for i, component in enumerate(components) for node in component}
    pair_component = np.array([component_of[node] for node in pair_offer], dtype="int64")
    for i, component in enumerate(components):
        members = {kind: {node[1] for node in component if node[0] == kind} for kind in ("o", "n", "p", "r")}
        positions = np.flatnonzero(pair_component == i)
        floors = batch.needs[batch.needs["need_id"].isin(members["n"]) & (batch.needs["floor"] > 0)]
        locked = any(node[0] == "lock" for node in component)
        if len(positions) == 0 and not members["r"] and floors.empty and not locked:
            continue  # nothing to decide here: no pairing, no role, no floor to miss, no lock to keep
        parts.append(Part(len(parts), restrict(batch, members, pairs.iloc[positions]), positions))
    return parts


def coupling_graph(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> nx.Graph:
    """Nodes ("o", offer), ("n", need), ("p", partner), ("r", role) and helper nodes; edges for each coupling."""
    from matcher.labor import role_candidates

    graph = nx.Graph()
    graph.add_nodes_from(("n", n) for n in batch.needs["need_id"])
    graph.add_nodes_from(("o", o) for o in pairs["offer_id"].unique())
    graph.add_edges_from(zip(zip(["o"] * len(pairs), pairs["offer_id"]), zip(["n"] * len(pairs), pairs["need_id"])))
    whole = partners_read_whole(batch, scenario)
    offers_of = pairs.drop_duplicates("offer_id")
    linked = offers_of[offers_of["partner_id"].isin(whole)]
    graph.add_edges_from((("p", p), ("o", o)) for p, o in zip(linked["partner_id"], linked["offer_id"]))
    for a, b in zip(batch.conflicts["partner_a"], batch.conflicts["partner_b"]):
        graph.add_edge(("p", a), ("p", b))
    capped = legally_capped(pairs, scenario, batch)
    graph.add_edges_from((("cap", p, c), ("o", o)) for p, c, o in
                         zip(capped["partner_id"], capped["candidate"], capped["offer_id"]))
    if scenario.weights.pooling > 0 or scenario.policy.resilience != "off":
        graph.add_edges_from((("d", d), ("n", n)) for d, n in zip(batch.needs["district_id"], batch.needs["need_id"]))
    locks = batch.decisions[(batch.decisions["action"] == "lock") & batch.decisions["role_id"].isna()]
    for row, offer, need, partner in zip(locks["csv_row"], locks["offer_id"], locks["need_id"], locks["partner_id"]):
        for kind, name in (("o", offer), ("n", need), ("p", partner)):
            if not pd.isna(name):
                graph.add_edge(("lock", row), (kind, name))
    if len(batch.roles):
        graph.add_nodes_from(("r", r) for r in batch.roles["role_id"])
        candidates = role_candidates(batch, scenario, pairs)
        graph.add_edges_from((("r", r), ("p", p)) for r, p in zip(candidates["role_id"], candidates["partner_id"]))
    return graph


def partners_read_whole(batch: Batch, scenario: Scenario) -> set[str]:
    """Partners whose offers a rule reads together, so they must stay in one part."""
    partners = batch.partners
    whole = set(batch.conflicts["partner_a"]) | set(batch.conflicts["partner_b"])
    whole |= set(partners.loc[partners["max_districts"].notna(), "partner_id"])
    whole |= set(batch.decisions["partner_id"].dropna())
    if scenario.policy.min_benefit != "off" or scenario.labor.require_lead_presence:
        whole |= set(partners["partner_id"])
    return whole


def legally_capped(pairs: pd.DataFrame, scenario: Scenario, batch: Batch) -> pd.DataFrame:
    """Pairs that count against a legal cap: a capped partner kind giving value to a candidate."""
    kinds = pairs["partner_id"].map(batch.partners.set_index("partner_id")["kind"])
    capped_kinds = [k for k, cap in scenario.legal.caps_usd.items() if cap > 0]
    mask = pairs["candidate"].notna() & (pairs["contribution_per_unit"] > 0) & kinds.isin(capped_kinds)
    return pairs.loc[mask, ["partner_id", "candidate", "offer_id"]].drop_duplicates()


def restrict(batch: Batch, members: dict[str, set], pairs: pd.DataFrame) -> Batch:
    """The batch cut down to one part: its offers, needs, partners, roles and the rows that mention them."""
    offers = batch.offers[batch.offers["offer_id"].isin(members["o"])]
    needs = batch.needs[batch.needs["need_id"].isin(members["n"])]
    roles = batch.roles[batch.roles["role_id"].isin(members["r"])]
    partner_ids = members["p"] | set(offers["partner_id"])
    partners = batch.partners[batch.partners["partner_id"].isin(partner_ids)]
    districts_used = set(needs["district_id"]) | set(roles["district_id"].dropna()) | set(
        partners["home_district"].dropna()) | {d for ds in partners["preferred_districts"] for d in ds}
    districts = batch.districts[batch.districts["district_id"].isin(districts_used)]
    capabilities = batch.capabilities[batch.capabilities["partner_id"].isin(partner_ids)]
    conflicts = batch.conflicts[batch.conflicts["partner_a"].isin(partner_ids)
                                & batch.conflicts["partner_b"].isin(partner_ids)]
    d = batch.decisions
    mentioned = (d["offer_id"].isin(members["o"]) | d["need_id"].isin(members["n"])
                 | d["role_id"].isin(members["r"])
                 | (d["partner_id"].isin(partner_ids) & d[["offer_id", "need_id", "role_id"]].isna().all(axis=1)))
    return Batch(partners=partners, offers=offers, needs=needs, districts=districts, roles=roles,
                 capabilities=capabilities, conflicts=conflicts, decisions=d[mentioned], scenario=batch.scenario,
                 folder=batch.folder, file_hashes=batch.file_hashes)
