"""Split a batch into independent parts: connected components of what the model couples.

Two offer–need pairs belong to one part when a variable or constraint of the model touches both.
A pair couples its offer and its need; a partner couples its offers only when a rule reads the
partner as a whole (conflicts, district limits, district locks, member benefit, legal caps per
candidate, lead presence); pooling and N-1 resilience couple the needs of a district; roles couple
with their candidate partners. A partner's roles and its offers are apart unless a rule reads both
(lead presence, member benefit): with neither, the division of labor and the pairings are solved as
separate parts. Role candidates are chosen once, on the whole batch (a district role's candidates
may be partners that only work there), and handed to the part. Terms that compare all partners
(offer fairness, labor fairness) or a lexicographic tolerance couple everything: then the batch is
one part. Small components share a part (`bundled`): each part costs a cut, a build and a solver start.
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
    role_candidates: pd.DataFrame | None = None  # chosen on the whole batch; None: the part chooses them itself
    pairs: pd.DataFrame | None = None  # the part's own pairs (with its shares of offers) when cut by region
    split_of: int | None = None  # the part it is a region of (matcher.regions), numbered before the split
    region: str | None = None
    whole: Part | None = None  # the part it was cut from
    uncut: tuple[Batch, pd.DataFrame] | None = None  # a region's batch and pairs before the cut (`uncut_regions`)

    @property
    def size(self) -> int:
        """What the part's time share goes by: its pairs and its role candidates (or roles, if not chosen yet)."""
        roles = len(self.batch.roles) if self.role_candidates is None else len(self.role_candidates)
        return len(self.positions) + roles


def couples_everything(batch: Batch, scenario: Scenario) -> bool:
    """True when some term compares every partner with every other, so no split is exact."""
    return (scenario.weights.fairness > 0 or (scenario.labor.fairness > 0 and len(batch.roles) > 0)
            or (scenario.solver.mode == "lexicographic" and scenario.lexicographic.tolerance > 0))


def find_parts(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> list[Part]:
    """The independent parts of a batch, largest first; one part when the scenario couples everything.

    A part with nothing to decide (no pairing, role, floor or lock) is left out.
    """
    if couples_everything(batch, scenario):
        return [Part(0, batch, np.arange(len(pairs)))]
    edges, candidates = coupling_edges(batch, pairs, scenario)
    labels, component = components(edges, node_labels(batch, pairs))
    kind = labels.str.split(":", n=1).str[0].to_numpy()
    floors = "n:" + batch.needs.loc[batch.needs["floor"] > 0, "need_id"]
    decides = np.isin(kind, ["o", "r", "lock"]) | labels.isin(floors)
    sizes = np.bincount(component)
    first = pd.Series(labels).groupby(component).min().to_numpy()  # equal sizes: the smallest label first
    decided = np.bincount(component, weights=decides) > 0
    kept = [c for c in sorted(range(len(sizes)), key=lambda c: (-sizes[c], first[c])) if decided[c]]
    part_of = np.full(len(sizes), -1)
    part_of[kept] = bundled(sizes[kept])
    node_part = pd.Series(part_of[component], index=labels)
    count = int(part_of.max()) + 1 if kept else 0
    return [Part(i, part_batch, positions, candidates[candidates["role_id"].isin(part_batch.roles["role_id"])]
                 .reset_index(drop=True))
            for i, (part_batch, positions) in enumerate(split_batch(batch, pairs, node_part, count))]


# Components with fewer nodes than this share a part, up to BUNDLE_NODES nodes in all. Each part costs a batch
# cut, a model build and a solver start, about 0.1 s even for one role: a generated city batch with 1,500 roles
# fell into 460 parts, 457 of them a lone role, and ran 29 s in a 20 s time limit, 18 s of it in those costs.
# Larger components keep a part each: bundled with the 110-node one, the 54-node component of the benchmark's
# city core (124 pairs, 5 s to prove optimal alone) left its search 10 times further from the bound in 5 s.
SMALL_COMPONENT_NODES = 10
BUNDLE_NODES = 200


def bundled(sizes: np.ndarray) -> np.ndarray:
    """A part number for each component (given largest first): a larger one alone, small ones filling a part
    up to BUNDLE_NODES nodes before the next starts. Apart or together, independent components have the same
    best plan value."""
    numbers, part, filled = np.empty(len(sizes), dtype="int64"), -1, BUNDLE_NODES
    for c, size in enumerate(sizes.tolist()):
        small = size < SMALL_COMPONENT_NODES
        if not small or filled + size > BUNDLE_NODES:
            part, filled = part + 1, 0 if small else BUNDLE_NODES  # nothing joins a larger component
        numbers[c], filled = part, filled + size
    return numbers


def node_labels(batch: Batch, pairs: pd.DataFrame) -> pd.Series:
    """Nodes that exist even without an edge: every need and role, and every offer with a pair."""
    return pd.concat([("n:" + batch.needs["need_id"]), ("r:" + batch.roles["role_id"]),
                      ("o:" + pairs["offer_id"].drop_duplicates())], ignore_index=True)


def components(edges: list[tuple[pd.Series, pd.Series]], nodes: pd.Series) -> tuple[pd.Index, np.ndarray]:
    """Each node label, and the number of its connected component (networkx, on integer nodes)."""
    ends = [nodes] + [side for edge in edges for side in edge]
    codes, labels = pd.factorize(pd.concat(ends, ignore_index=True).astype(str), sort=True)
    graph = nx.Graph()
    graph.add_nodes_from(range(len(labels)))
    start = len(nodes)
    for a, _ in edges:
        graph.add_edges_from(zip(codes[start:start + len(a)], codes[start + len(a):start + 2 * len(a)]))
        start += 2 * len(a)
    component = np.empty(len(labels), dtype="int64")
    for number, members in enumerate(nx.connected_components(graph)):
        component[list(members)] = number
    return labels, component


def coupling_edges(batch: Batch, pairs: pd.DataFrame,
                   scenario: Scenario) -> tuple[list[tuple[pd.Series, pd.Series]], pd.DataFrame]:
    """Edges between node labels, one list per kind, and the role candidates.

    Nodes: "o:offer", "n:need", "p:partner" (its pairings), "q:partner" (its roles), "r:role", and
    helper nodes for caps, districts and locks.
    """
    from matcher.labor import role_candidates

    def edge(a: pd.Series, b: pd.Series) -> tuple[pd.Series, pd.Series]:
        return a.reset_index(drop=True).astype(str), b.reset_index(drop=True).astype(str)

    edges = [edge("o:" + pairs["offer_id"], "n:" + pairs["need_id"])]
    offers_of = pairs.drop_duplicates("offer_id")
    linked = offers_of[offers_of["partner_id"].isin(partners_read_whole(batch, scenario))]
    edges.append(edge("p:" + linked["partner_id"], "o:" + linked["offer_id"]))
    edges.append(edge("p:" + batch.conflicts["partner_a"], "p:" + batch.conflicts["partner_b"]))
    capped = legally_capped(pairs, scenario, batch)
    edges.append(edge("cap:" + capped["partner_id"] + "|" + capped["candidate"].astype(str), "o:" + capped["offer_id"]))
    if scenario.weights.pooling > 0 or scenario.policy.resilience != "off":
        edges.append(edge("d:" + batch.needs["district_id"], "n:" + batch.needs["need_id"]))
    locks = batch.decisions[(batch.decisions["action"] == "lock") & batch.decisions["role_id"].isna()]
    for column, kind in (("offer_id", "o:"), ("need_id", "n:"), ("partner_id", "p:")):
        named = locks[locks[column].notna()]
        edges.append(edge("lock:" + named["csv_row"].astype(str), kind + named[column]))
    candidates = role_candidates(batch, scenario, pairs)
    edges.append(edge("r:" + candidates["role_id"], "q:" + candidates["partner_id"]))
    if labor_reads_pairings(scenario):
        partners = candidates["partner_id"].drop_duplicates()
        edges.append(edge("q:" + partners, "p:" + partners))
    return edges, candidates


def labor_reads_pairings(scenario: Scenario) -> bool:
    """True when a rule reads a partner's roles and its pairings together (lead presence, member benefit)."""
    return scenario.labor.require_lead_presence or scenario.policy.min_benefit != "off"


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
    capped_kinds = [k for k, cap in scenario.legal.caps_usd.items() if cap > 0]
    columns = ["partner_id", "candidate", "offer_id"]
    if not capped_kinds:
        return pairs.iloc[:0][columns]
    giving = pairs.loc[pairs["candidate"].notna() & (pairs["contribution_per_unit"] > 0), columns]
    kinds = giving["partner_id"].map(batch.partners.set_index("partner_id")["kind"])
    return giving[kinds.isin(capped_kinds)].drop_duplicates()


def split_batch(batch: Batch, pairs: pd.DataFrame, node_part: pd.Series, count: int):
    """Each part's batch and pair positions, cutting every table once (not once per part).

    A part holds its offers, needs and roles; the partners among its nodes or making its offers;
    the districts those touch; and the capabilities, conflicts and decisions that mention them.
    """
    part = node_part.to_dict()
    pair_part = ("o:" + pairs["offer_id"]).map(part).to_numpy()
    offers = batch.offers.assign(part=("o:" + batch.offers["offer_id"]).map(part).fillna(-1).astype("int64"))
    needs = batch.needs.assign(part=("n:" + batch.needs["need_id"]).map(part).fillna(-1).astype("int64"))
    roles = batch.roles.assign(part=("r:" + batch.roles["role_id"]).map(part).fillna(-1).astype("int64"))

    def partners_of(kinds: tuple[str, ...]) -> pd.DataFrame:
        """(partner_id, part) for the partners named by these node kinds, or making the part's offers."""
        named = node_part[node_part.index.str.startswith(kinds) & (node_part.to_numpy() >= 0)]
        return pd.concat([pd.DataFrame({"partner_id": named.index.str[2:], "part": named.to_numpy()}),
                          offers.loc[offers["part"] >= 0, ["partner_id", "part"]]], ignore_index=True).drop_duplicates()

    partner_parts = partners_of(("p:", "q:"))
    partners = rows_in_parts(batch.partners, partner_parts, "partner_id")
    preferred = partners[["preferred_districts", "part"]].explode("preferred_districts").dropna()
    district_parts = pd.concat([needs[["district_id", "part"]], roles[["district_id", "part"]].dropna(),
                                partners[["home_district", "part"]].dropna().rename(
                                    columns={"home_district": "district_id"}),
                                preferred.rename(columns={"preferred_districts": "district_id"})],
                               ignore_index=True)
    districts = rows_in_parts(batch.districts, district_parts[district_parts["part"] >= 0].drop_duplicates(),
                              "district_id")
    capabilities = rows_in_parts(batch.capabilities, partner_parts, "partner_id")
    conflicts = rows_in_parts(batch.conflicts, partner_parts.rename(columns={"partner_id": "partner_a"}), "partner_a")
    conflicts = conflicts.merge(partner_parts.rename(columns={"partner_id": "partner_b"}), on=["partner_b", "part"])
    decisions = decision_rows(batch.decisions, offers, needs, roles, partners_of(("p:",)))
    tables = {"offers": offers, "needs": needs, "roles": roles, "partners": partners, "districts": districts,
              "capabilities": capabilities, "conflicts": conflicts, "decisions": decisions}
    groups = {name: table.groupby("part").indices for name, table in tables.items()}
    positions = pd.Series(np.arange(len(pairs))).groupby(pair_part).indices
    empty = np.zeros(0, dtype="int64")
    for i in range(count):
        cut = {name: cut_rows(table, groups[name].get(i, empty), getattr(batch, name).columns)
               for name, table in tables.items()}
        yield (Batch(**cut, scenario=batch.scenario, folder=batch.folder, file_hashes=batch.file_hashes),
               np.asarray(positions.get(i, empty), dtype="int64"))


def rows_in_parts(table: pd.DataFrame, key_parts: pd.DataFrame, key: str) -> pd.DataFrame:
    """The rows of `table` once per part its key is in, in the table's own order."""
    return table.reset_index(drop=True).rename_axis("row").reset_index().merge(key_parts, on=key).sort_values(
        ["part", "row"], kind="stable").drop(columns="row")


def decision_rows(decisions: pd.DataFrame, offers: pd.DataFrame, needs: pd.DataFrame, roles: pd.DataFrame,
                  partner_parts: pd.DataFrame) -> pd.DataFrame:
    """Decisions once per part that they mention: by offer, need or role, or by partner alone (in the parts
    holding the partner's pairings: such a decision is a pairing lock or forbid)."""
    rows = decisions.reset_index(drop=True).rename_axis("row").reset_index()
    found = [rows[["row", column]].merge(table[[column, "part"]], on=column)[["row", "part"]]
             for column, table in (("offer_id", offers), ("need_id", needs), ("role_id", roles))]
    alone = rows[rows[["offer_id", "need_id", "role_id"]].isna().all(axis=1)]
    found.append(alone[["row", "partner_id"]].merge(partner_parts, on="partner_id")[["row", "part"]])
    mentioned = pd.concat(found, ignore_index=True)
    mentioned = mentioned[mentioned["part"] >= 0].drop_duplicates().sort_values(["part", "row"])
    return rows.loc[mentioned["row"]].assign(part=mentioned["part"].to_numpy()).drop(columns="row")


def cut_rows(table: pd.DataFrame, positions: np.ndarray, columns: pd.Index) -> pd.DataFrame:
    """The rows of one part, with the original table's columns (and a fresh index)."""
    return table.iloc[positions][list(columns)].reset_index(drop=True)
