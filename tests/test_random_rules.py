"""Every hard rule holds on random batches: each plan written is re-checked by the verifier from its files.

Batches mix partner kinds (501(c)(3)s, capped individuals and PACs, independent expenditure
committees), conflicts, district limits, locks and forbids, floors, and hard policies; the test
also makes sure the random batches really exercise each rule, so it cannot pass by avoiding them.
"""
from __future__ import annotations

import random

import pytest

import matcher
from matcher.candidates import eligible_pairs
from tests.builders import write_batch

KINDS = ["group", "individual", "pac", "501c3", "union", "business", "party"]
RESOURCES = ["volunteers", "office_space", "money", "expertise"]


def random_batch(folder, seed: int) -> tuple[matcher.Batch, set[str]]:
    """A random batch and the set of rules it exercises."""
    rng = random.Random(seed)
    districts = [{"district_id": f"D{i}", "priority": rng.choice([1, 2]), "lat": 45 + 0.1 * i, "lon": -93,
                  "neighbors": ";".join(f"D{j}" for j in (i - 1, i + 1) if 0 <= j < 3),
                  "candidate": rng.choice(["Alvarez", "Brennan", ""])} for i in range(3)]
    partners = [{"partner_id": f"P{i}", "home_district": f"D{rng.randrange(3)}", "kind": rng.choice(KINDS),
                 "max_districts": rng.choice(["", "", 1, 2]), "preferred_districts": f"D{rng.randrange(3)}",
                 "independent": "true" if rng.random() < 0.15 else "false", "reliability": rng.choice([0.5, 0.8, 1])}
                for i in range(4)]
    offers = []
    for i in range(8):
        resource = rng.choice(RESOURCES)
        offers.append({"offer_id": f"O{i}", "partner_id": f"P{rng.randrange(4)}", "resource": resource,
                       "quantity": rng.randint(2, 12) * (100 if resource == "money" else 1),
                       "reach": rng.choice(["home", "adjacent", "any"]), "min_chunk": rng.choice([1, 1, 2]),
                       "inkind_value_per_unit": rng.choice([0, 50, 200]) if resource != "money" else 0})
    needs = [{"need_id": f"N{i}", "district_id": f"D{rng.randrange(3)}", "resource": rng.choice(RESOURCES),
              "quantity": rng.randint(2, 12), "priority": rng.choice([1, 2, 3])} for i in range(7)]
    for need in needs:
        if need["resource"] == "money":
            need["quantity"] *= 100
    conflicts = [{"partner_a": "P0", "partner_b": f"P{rng.randrange(1, 4)}",
                  "scope": rng.choice(["district", "coalition", "role"])}]
    policy = {name: rng.choice(["off", "hard"]) for name in ("min_benefit", "dependence", "resilience")}
    scenario = ("[policy]\n" + "".join(f'{k} = "{v}"\n' for k, v in policy.items())
                + f'reliability = "{rng.choice(["nominal", "expected"])}"\n'
                + "dependence_cap = 0.7\nresilience_share = 0.3\n"
                + "[legal]\ncaps_usd = { individual = 300, pac = 600, business = 0, union = 500 }\n")
    folder = write_batch(folder, districts=districts, partners=partners, offers=offers, needs=needs,
                         conflicts=conflicts, scenario=scenario)
    batch = matcher.read_batch(folder)
    pairs = eligible_pairs(batch)
    decisions = []
    if len(pairs):
        locked = pairs.iloc[rng.randrange(len(pairs))]
        decisions.append({"action": "lock", "offer_id": locked["offer_id"], "need_id": locked["need_id"]})
        forbidden = pairs.iloc[rng.randrange(len(pairs))]
        if (forbidden["offer_id"], forbidden["need_id"]) != (locked["offer_id"], locked["need_id"]):
            decisions.append({"action": "forbid", "offer_id": forbidden["offer_id"], "need_id": forbidden["need_id"]})
    if decisions:
        folder = write_batch(folder, districts=districts, partners=partners, offers=offers, needs=needs,
                             conflicts=conflicts, decisions=decisions, scenario=scenario)
        batch = matcher.read_batch(folder)
    exercised = {f"policy {k}" for k, v in policy.items() if v == "hard"}
    exercised |= {"lock"} if decisions else set()
    exercised |= {"district limit"} if any(p["max_districts"] for p in partners) else set()
    exercised |= {"501c3"} if any(p["kind"] == "501c3" for p in partners) else set()
    exercised |= {"independent"} if any(p["independent"] == "true" for p in partners) else set()
    exercised |= {"legal cap"} if any(p["kind"] in ("individual", "pac", "union") for p in partners) else set()
    exercised |= {"conflict"} if conflicts[0]["scope"] != "role" else set()
    return batch, exercised


def test_every_hard_rule_holds_on_random_batches(tmp_path):
    solved, exercised = 0, set()
    for seed in range(24):
        batch, rules_here = random_batch(tmp_path / f"b{seed}", seed)
        scenario = batch.scenario.with_({"solver.workers": 1, "solver.time_limit_s": 20.0})
        try:
            result = matcher.solve(batch, scenario)
        except matcher.InputError:
            continue  # a random lock can collide with a forbid or the firewall: rejected up front, by design
        if not result.status.has_plan:
            assert result.status is matcher.Status.INFEASIBLE
            continue
        out = result.write(tmp_path / f"out{seed}")
        report = matcher.verify(batch, out)
        assert report.ok, [str(v) for v in report.violations]
        solved += 1
        exercised |= rules_here
    assert solved >= 12
    assert exercised >= {"policy min_benefit", "policy dependence", "policy resilience", "lock", "district limit",
                         "501c3", "independent", "legal cap", "conflict"}


@pytest.mark.parametrize("seed", [3])
def test_the_random_batches_are_valid_batches(tmp_path, seed):
    batch, _ = random_batch(tmp_path, seed)
    assert len(batch.offers) == 8 and len(batch.needs) == 7
