"""Large parts cut by region: the shares keep every rule of the whole, and the whole keeps a valid bound."""
from __future__ import annotations

import importlib

import pandas as pd
import pytest

import matcher
import matcher.regions as regions
from matcher.candidates import eligible_pairs
from matcher.flow import relaxation_bound
from matcher.generate import generate_batch
from matcher.rounding import legal_cap_groups
from tests.builders import build


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
    split = regions.split_by_region(batch, pairs, batch.scenario)
    assert split is not None
    pieces, bound = split
    assert len(pieces) >= 2 and bound == relaxation_bound(batch, pairs, batch.scenario)  # the whole part's
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


TWO_REGIONS = [{"district_id": "D0", "region": "North", "priority": 1, "neighbors": "D1", "lat": 45, "lon": -93},
               {"district_id": "D1", "region": "South", "priority": 1, "neighbors": "D0", "lat": 45.1, "lon": -93}]
TWO_PARTNERS = [{"partner_id": "P1", "home_district": "D0"}, {"partner_id": "P2", "home_district": "D1"}]


def two_region_batch(folder, floor: int = 0, **optional) -> matcher.Batch:
    """Two offers that reach both regions, one need in each."""
    offers = [{"offer_id": f"O{i}", "partner_id": f"P{i}", "resource": "volunteers", "quantity": 10, "reach": "any",
               "min_chunk": 2} for i in (1, 2)]
    needs = [{"need_id": "N0", "district_id": "D0", "resource": "volunteers", "quantity": 6, "floor": floor},
             {"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 20, "priority": 3}]
    return build(folder, districts=TWO_REGIONS, partners=TWO_PARTNERS, offers=offers, needs=needs, **optional)


def test_a_part_without_decisions_is_cut_and_solved(tmp_path, monkeypatch):
    monkeypatch.setattr(regions, "REGION_SPLIT_PAIRS", 1)
    batch = two_region_batch(tmp_path)
    result = matcher.solve(batch, batch.scenario.with_({"solver.workers": 1, "weights.fairness": 0.0}))
    assert result.model_stats["region_splits"][0]["regions"] == 2
    assert {p["region"] for p in result.parts} == {"North", "South"}


def test_a_cut_whose_region_has_no_plan_is_solved_uncut(tmp_path, monkeypatch):
    # N0's floor needs both offers (hard dependence cap 0.5), but the rounded plan gives O2 to the south
    batch = two_region_batch(tmp_path, floor=6, decisions=[{"action": "lock", "offer_id": "O2", "need_id": "N1"}])
    scenario = batch.scenario.with_({"solver.workers": 1, "weights.fairness": 0.0, "policy.dependence": "hard",
                                     "policy.dependence_cap": 0.5})
    uncut = matcher.solve(batch, scenario)
    monkeypatch.setattr(regions, "REGION_SPLIT_PAIRS", 1)
    result = matcher.solve(batch, scenario)
    assert result.model_stats["solved_uncut"] == [0] and "region_splits" not in result.model_stats
    assert result.status is uncut.status is matcher.Status.OPTIMAL
    assert result.objective == pytest.approx(uncut.objective)


def test_a_transportation_part_is_never_cut(tmp_path, monkeypatch):
    monkeypatch.setattr(regions, "REGION_SPLIT_PAIRS", 1)
    batch = two_region_batch(tmp_path)
    scenario = batch.scenario.with_({"weights.fairness": 0.0, "weights.travel": 0.0, "weights.pooling": 0.0})
    flat = batch.offers.assign(min_chunk=1)
    batch.offers = flat
    assert not regions.can_split(batch, eligible_pairs(batch), scenario)
    result = matcher.solve(batch, scenario)
    assert [p["method"] for p in result.parts] == ["min-cost-flow"] and result.status is matcher.Status.OPTIMAL


def test_a_region_without_a_plan_never_makes_a_large_batch_infeasible(tmp_path, monkeypatch):
    solve_module = importlib.import_module("matcher.solve")  # `matcher.solve` is the function
    batch = two_region_batch(tmp_path, floor=6, decisions=[{"action": "lock", "offer_id": "O2", "need_id": "N1"}])
    scenario = batch.scenario.with_({"solver.workers": 1, "weights.fairness": 0.0, "policy.dependence": "hard",
                                     "policy.dependence_cap": 0.5})
    monkeypatch.setattr(regions, "REGION_SPLIT_PAIRS", 1)
    monkeypatch.setattr(solve_module, "UNCUT_RETRY_PAIRS", 1)  # too large to solve again uncut
    result = matcher.solve(batch, scenario)
    assert result.status is matcher.Status.NO_SOLUTION  # the uncut batch has a plan: nothing is proven
    assert "solved_uncut" not in result.model_stats


def limited_two_region_batch(folder) -> matcher.Batch:
    """P1, limited to one district, has 20 volunteers for three needs of 10 in the north and one in the south,
    which P2's 10 fill."""
    districts = [{"district_id": f"D{i}", "region": "North" if i < 4 else "South", "priority": 1, "lat": 45,
                  "lon": -93 + 0.01 * i, "neighbors": ";".join(f"D{j}" for j in range(1, 5) if j != i)}
                 for i in range(1, 5)]
    partners = [{"partner_id": "P1", "home_district": "D1", "max_districts": 1},
                {"partner_id": "P2", "home_district": "D4"}]
    offers = [{"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "quantity": 20, "reach": "any"},
              {"offer_id": "O2", "partner_id": "P2", "resource": "volunteers", "quantity": 10, "reach": "home"}]
    needs = [{"need_id": f"N{i}", "district_id": f"D{i}", "resource": "volunteers", "quantity": 10}
             for i in range(1, 5)]
    return build(folder, districts=districts, partners=partners, offers=offers, needs=needs,
                 scenario="[weights]\ntravel = 0.0\npooling = 0.0\nfairness = 0.0\n")


def test_each_region_keeps_every_pair_into_its_districts_with_whole_offers_and_limits(tmp_path):
    batch = limited_two_region_batch(tmp_path)
    pairs = eligible_pairs(batch)
    scopes = regions.uncut_regions(batch, pairs)
    assert sorted(scopes) == ["North", "South"]
    assert sorted(sum((list(p["need_id"] + "|" + p["offer_id"]) for _, p in scopes.values()), [])) == sorted(
        pairs["need_id"] + "|" + pairs["offer_id"])
    for region_batch, region_pairs in scopes.values():
        assert (region_pairs["offer_quantity"] == region_pairs["offer_id"].map({"O1": 20, "O2": 10})).all()
        assert region_batch.partners.set_index("partner_id").loc["P1", "max_districts"] == 1


@pytest.mark.parametrize("mip_share, bound", [(0.0, 1.75), (0.3, 1.5)], ids=["district LP", "district MIP"])
def test_the_regions_bounds_before_the_cut_add_up_to_the_bound_of_the_whole(tmp_path, monkeypatch, mip_share, bound):
    # The flow sends P1 everywhere: 1.75 in the north (as in the district LP's tests) and 0.75 in the south, 2.5.
    # Each region's district LP holds P1 to one district there: 1.0 + 0.75 = 1.75; the best plan is 1.5.
    # With its presences whole, each region's district MIP is at that region's best: 0.75 + 0.75.
    solve_module = importlib.import_module("matcher.solve")  # `matcher.solve` is the function
    batch = limited_two_region_batch(tmp_path)
    scenario = batch.scenario.with_({"solver.workers": 1})
    whole = matcher.solve(batch, scenario)
    monkeypatch.setattr(regions, "REGION_SPLIT_PAIRS", 1)
    monkeypatch.setattr(solve_module, "WARM_START_PAIRS", 1)  # a district LP for parts this small
    monkeypatch.setattr(solve_module, "DISTRICT_MIP_SHARE", mip_share)
    result = matcher.solve(batch, scenario)
    (line,) = result.model_stats["region_splits"]
    assert whole.status is matcher.Status.OPTIMAL and whole.objective == pytest.approx(1.5, abs=1e-4)
    assert relaxation_bound(batch, eligible_pairs(batch), scenario) / 1e8 == pytest.approx(2.5, abs=1e-3)
    assert line["bound_from"] == "uncut regions" and line["best_bound"] == pytest.approx(bound, abs=1e-3)
    assert result.best_bound == pytest.approx(bound, abs=1e-3) and result.objective <= whole.objective + 1e-9
