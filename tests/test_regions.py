"""Large parts cut by region: the shares keep every rule of the whole, and the whole keeps a valid bound."""
from __future__ import annotations

import pandas as pd
import pytest

import matcher
import matcher.regions as regions
from matcher.candidates import eligible_pairs
from matcher.flow import relaxation_bound
from matcher.generate import generate_batch
from matcher.rounding import legal_cap_groups


@pytest.fixture
def small_threshold(monkeypatch):
    monkeypatch.setattr(regions, "REGION_SPLIT_PAIRS", 100)


def regional_batch(folder, seed: int) -> matcher.Batch:
    """A generated batch of two or more regions, without roles, joined into one part by offers that reach
    every district (as a national organisation's money does)."""
    folder = generate_batch(folder, "city", seed, districts=48, partners=90, offers=360, needs=170, roles=0)
    offers = pd.read_csv(folder / "offers.csv", dtype=str, keep_default_na=False)
    wide = offers.index[offers["resource"].isin(["money", "expertise"])][:4]
    offers.loc[wide, "reach"] = "any"
    offers.to_csv(folder / "offers.csv", index=False)
    batch = matcher.read_batch(folder)
    assert batch.districts["region"].nunique() >= 2
    return batch


@pytest.mark.parametrize("seed", range(3))
def test_the_regions_share_out_every_rule_that_spans_them(tmp_path, small_threshold, seed):
    batch = regional_batch(tmp_path, seed)
    pairs = eligible_pairs(batch)
    pieces = regions.split_by_region(batch, pairs, batch.scenario)
    assert pieces is not None and len(pieces) >= 2
    quantity = batch.offers.set_index("offer_id")["quantity"]
    shared = {}
    for _, _, positions, piece_pairs in pieces:
        for offer, got in piece_pairs.drop_duplicates("offer_id").set_index("offer_id")["offer_quantity"].items():
            shared[offer] = shared.get(offer, 0) + got
        assert (piece_pairs["upper"] <= piece_pairs["offer_quantity"]).all()
    assert all(shared[o] <= quantity[o] for o in shared)
    limits = batch.partners.set_index("partner_id")["max_districts"].dropna()
    granted = {}
    for _, piece_batch, _, _ in pieces:
        for partner, limit in piece_batch.partners.set_index("partner_id")["max_districts"].dropna().items():
            granted[partner] = granted.get(partner, 0) + limit
    assert all(granted[p] <= limits[p] for p in granted)
    groups = legal_cap_groups(batch, pairs, batch.scenario)[0]
    region_of = {}
    for name, _, positions, _ in pieces:
        for group in groups.iloc[positions].dropna():
            assert region_of.setdefault(group, name) == name  # one region per cap group
    whole_offers = set(batch.offers.loc[~batch.offers["divisible"], "offer_id"])
    holders = [set(p["offer_id"]) & whole_offers for _, _, _, p in pieces]
    assert all(not (a & b) for i, a in enumerate(holders) for b in holders[i + 1:])


@pytest.mark.parametrize("seed", range(3))
def test_a_batch_cut_by_region_gives_a_verified_plan_under_the_flow_bound(tmp_path, small_threshold, seed):
    batch = regional_batch(tmp_path / "batch", seed)
    scenario = batch.scenario.with_({"solver.workers": 1, "solver.time_limit_s": 10.0, "solver.deterministic": True})
    result = matcher.solve(batch, scenario)
    (line,) = result.model_stats["region_splits"]
    assert line["regions"] >= 2 and result.status.has_plan
    assert {p.get("split_of") for p in result.parts} >= {line["part"]}
    assert line["best_bound"] >= line["objective"]
    whole = relaxation_bound(batch, eligible_pairs(batch), scenario) / 1e8  # the cut part's is at most this
    assert line["best_bound"] <= max(whole, line["objective"]) + 1e-6
    unsplit = matcher.solve(batch, scenario.with_({"solver.region_split": False}))
    assert unsplit.objective <= result.best_bound + 1e-6  # a plan of the whole never beats the bound
    assert result.status is matcher.Status.FEASIBLE or result.objective == result.best_bound
    report = matcher.verify(batch, result.write(tmp_path / "out"))
    assert report.ok, [str(v) for v in report.violations[:5]]


def test_no_cut_by_region_where_a_term_or_rule_reads_every_region(tmp_path, small_threshold):
    batch = regional_batch(tmp_path, 0)
    pairs = eligible_pairs(batch)
    assert regions.can_split(batch, pairs, batch.scenario)
    for change in ({"policy.min_benefit": "soft"}, {"weights.fairness": 1.0}, {"solver.mode": "lexicographic"},
                   {"solver.region_split": False}):
        assert not regions.can_split(batch, pairs, batch.scenario.with_(change)), change
