"""Generated batches: valid, solvable, reproducible, and shaped like real coalitions."""
from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

import matcher
from matcher.candidates import eligible_pairs
from matcher.cli import main
from matcher.generate import SIZES, TABLE_ORDER, generate, generate_batch
from matcher.labor import role_candidates

FILES = tuple(f"{name}.csv" for name in TABLE_ORDER) + ("scenario.toml",)
SMALL = {"districts": 14, "partners": 30, "offers": 90, "needs": 45, "roles": 12}


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> matcher.Batch:
    return matcher.read_batch(generate_batch(tmp_path_factory.mktemp("gen") / "city", "city", seed=0))


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> matcher.Batch:
    return matcher.read_batch(generate_batch(tmp_path_factory.mktemp("gen") / "state", "state", seed=0))


@pytest.fixture(params=["city", "state", "city-seed-1", "small-seed-2"])
def batch(request, city, state, tmp_path) -> matcher.Batch:
    if request.param == "city":
        return city
    if request.param == "state":
        return state
    if request.param == "city-seed-1":
        return matcher.read_batch(generate_batch(tmp_path / "b", "city", seed=1))
    return matcher.read_batch(generate_batch(tmp_path / "b", "city", seed=2, **SMALL))


# Valid and solvable --------------------------------------------------------------------------------------------


def test_city_batch_solves_and_the_plan_verifies(city, tmp_path):
    scenario = city.scenario.with_({"solver.time_limit_s": 15.0, "solver.workers": 2})
    result = matcher.solve(city, scenario)
    assert result.status in (matcher.Status.OPTIMAL, matcher.Status.FEASIBLE)
    assert result.allocations["quantity"].sum() > 0
    assert matcher.verify(city, result.write(tmp_path / "out")).ok


def test_state_batch_reads_with_the_sizes_of_the_design(state):
    size = SIZES["state"]
    assert (len(state.districts), len(state.partners), len(state.offers), len(state.needs), len(state.roles)) == (
        size.districts, size.partners, size.offers, size.needs, size.roles)


def test_scenario_switches_off_the_coupling_fairness_terms(city, state):
    for batch, size in ((city, SIZES["city"]), (state, SIZES["state"])):
        assert batch.scenario.weights.fairness == 0.0
        assert batch.scenario.labor.fairness == 0.0
        assert batch.scenario.solver.time_limit_s == size.time_limit_s
        assert batch.scenario.solver.relative_gap == size.relative_gap


# Reproducible --------------------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_bytes(tmp_path):
    a = generate_batch(tmp_path / "a", "city", seed=5)
    b = generate_batch(tmp_path / "b", "city", seed=5)
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_a_different_seed_gives_a_different_batch(tmp_path):
    a = generate_batch(tmp_path / "a", "city", seed=5)
    b = generate_batch(tmp_path / "b", "city", seed=6)
    for name in ("partners.csv", "offers.csv", "needs.csv", "districts.csv"):
        assert (a / name).read_bytes() != (b / name).read_bytes(), name


def test_overrides_set_the_counts_exactly():
    tables = generate("state", seed=3, **SMALL)
    assert {name: len(tables[name]) for name in SMALL} == SMALL


def test_unknown_size_or_override_is_refused():
    with pytest.raises(ValueError, match="unknown size"):
        generate("planet")
    with pytest.raises(ValueError, match="unknown override"):
        generate("city", volunteers=3)


def test_cli_writes_a_batch_and_will_not_overwrite_one(tmp_path):
    out = tmp_path / "batch"
    args = ["generate", "--size", "city", "--seed", "4", "-o", str(out), "--partners", "25", "--roles", "8"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    batch = matcher.read_batch(out)
    assert (len(batch.partners), len(batch.roles)) == (25, 8)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "not empty" in again.output + again.stderr
    assert CliRunner().invoke(main, args + ["--overwrite"]).exit_code == 0


# Shaped like a coalition, and feasible by construction ---------------------------------------------------------


def test_neighbours_are_symmetric_and_never_the_district_itself(batch):
    edges = {(d, n) for d, ns in zip(batch.districts["district_id"], batch.districts["neighbors"]) for n in ns}
    assert edges and all((n, d) in edges for d, n in edges)
    assert all(d != n for d, n in edges)


def test_neighbours_are_close_and_in_the_same_region(batch):
    d = batch.districts.set_index("district_id")
    for a, ns in zip(batch.districts["district_id"], batch.districts["neighbors"]):
        for b in ns:
            assert d.at[a, "region"] == d.at[b, "region"]
            assert abs(d.at[a, "lat"] - d.at[b, "lat"]) + abs(d.at[a, "lon"] - d.at[b, "lon"]) < 0.2


def test_every_reference_resolves(batch):
    districts, partners = set(batch.districts["district_id"]), set(batch.partners["partner_id"])
    offers, needs, roles = set(batch.offers["offer_id"]), set(batch.needs["need_id"]), set(batch.roles["role_id"])
    assert set(batch.partners["home_district"]) <= districts
    assert set(batch.offers["partner_id"]) <= partners
    assert set(batch.needs["district_id"]) <= districts
    assert set(batch.roles["district_id"].dropna()) <= districts
    assert set(batch.capabilities["partner_id"]) <= partners
    assert set(batch.capabilities["role_id"].dropna()) <= roles
    assert set(batch.conflicts["partner_a"]) | set(batch.conflicts["partner_b"]) <= partners
    decisions = batch.decisions
    assert set(decisions["offer_id"].dropna()) <= offers and set(decisions["need_id"].dropna()) <= needs
    assert set(decisions["district_id"].dropna()) <= districts
    for column in ("preferred_districts",):
        assert {d for ds in batch.partners[column] for d in ds} <= districts
    assert {d for ds in batch.offers["districts"] for d in ds} <= districts


def test_every_required_role_has_a_lead_that_fits(batch):
    candidates = role_candidates(batch, batch.scenario)
    leads = candidates[candidates["can_lead"]]
    required = batch.roles.loc[batch.roles["required"].astype(bool), "role_id"]
    assert len(required) > 0
    assert set(required) <= set(leads["role_id"])


def test_conflicts_pair_two_different_partners_once(batch):
    conflicts = batch.conflicts
    assert len(conflicts) >= 1
    assert (conflicts["partner_a"] != conflicts["partner_b"]).all()
    pairs = {frozenset(p) for p in zip(conflicts["partner_a"], conflicts["partner_b"])}
    assert len(pairs) == len(conflicts)


def test_each_lock_is_eligible_and_free_of_conflicts_and_caps(batch):
    locks = batch.decisions[batch.decisions["action"] == "lock"]
    assert len(locks) >= 1
    pairs = eligible_pairs(batch)
    eligible = set(zip(pairs["offer_id"], pairs["need_id"]))
    offers = batch.offers.set_index("offer_id")
    in_conflict = set(batch.conflicts["partner_a"]) | set(batch.conflicts["partner_b"])
    for offer_id, need_id, quantity in zip(locks["offer_id"], locks["need_id"], locks["quantity"]):
        assert (offer_id, need_id) in eligible
        offer = offers.loc[offer_id]
        assert offer["resource"] == "volunteers" and offer["inkind_value_per_unit"] == 0
        assert offer["partner_id"] not in in_conflict
        assert pd.isna(quantity) or offer["min_chunk"] <= quantity <= offer["quantity"]
    assert locks["offer_id"].is_unique and locks["need_id"].is_unique


def test_floors_are_covered_by_a_home_offer(batch):
    floors = batch.needs[batch.needs["floor"] > 0]
    pairs = eligible_pairs(batch)
    locked = set(batch.decisions["offer_id"].dropna())
    for need_id, floor in zip(floors["need_id"], floors["floor"]):
        alone = pairs[(pairs["need_id"] == need_id) & ~pairs["offer_id"].isin(locked)]
        assert (alone["offer_quantity"] * 0.4 >= floor).any(), need_id


def test_demand_exceeds_supply_for_people_and_expertise_and_money_balances(state):
    offered = state.offers.groupby("resource")["quantity"].sum()
    needed = state.needs.groupby("resource")["quantity"].sum()
    assert needed["volunteers"] > 1.2 * offered["volunteers"]
    assert needed["expertise"] > 1.2 * offered["expertise"]
    assert 0.8 < needed["money"] / offered["money"] < 1.25


def test_partners_cluster_around_hub_districts(state):
    homes = state.partners["home_district"].value_counts()
    assert homes.iloc[0] >= 5 * homes.median()


def test_offer_sizes_are_heavy_tailed(state):
    volunteers = state.offers.loc[state.offers["resource"] == "volunteers", "quantity"]
    assert volunteers.max() > 8 * volunteers.median()


def test_kinds_reliability_and_candidates_are_realistic(state):
    assert set(state.partners["kind"]) == {"group", "individual", "union", "business", "501c3", "501c4", "pac",
                                           "party"}
    assert state.partners["independent"].astype(bool).sum() >= 1
    assert state.partners.loc[state.partners["independent"].astype(bool), "kind"].eq("pac").all()
    assert state.partners["reliability"].between(0.4, 1.0).all()
    share = state.districts["candidate"].notna().mean()
    assert 0.6 < share < 0.8
    per_candidate = state.districts["candidate"].value_counts()
    assert (per_candidate > 1).any()


def test_wide_reach_is_for_money_and_expertise(state):
    wide = state.offers[state.offers["reach"].isin(["any", "listed"]) | (state.offers["radius_km"] > 50)]
    assert set(wide["resource"]) >= {"money", "expertise"}
    assert (state.offers["reach"] == "any").sum() >= 1
    assert (wide["resource"] == "volunteers").mean() < 0.2
