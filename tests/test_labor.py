"""The division of labor: each labor rule alone (where it bites, where it does not), the terms,
brute-force optimality on small random role sets, and the verifier catching every tampered rule."""
from __future__ import annotations

import itertools
import inspect
import random
import sys
from pathlib import Path

import pandas as pd
import pytest

import matcher
from matcher.labor import LABOR_RULES, LABOR_TERMS, RATIO_SCALE, role_candidates
from matcher.verify import LABOR_CHECKS, verify_tables
from tests.builders import build, solve

PARTNERS = [{"partner_id": "P1", "home_district": "D1", "role_hours": 10},
            {"partner_id": "P2", "home_district": "D2", "role_hours": 10},
            {"partner_id": "P3", "home_district": "D1", "role_hours": 10}]
# A token offer and need so the allocation side is trivial; `radius` reaches D1 only (D2 is 11 km away).
OFFERS = [{"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "quantity": 10, "reach": "radius",
           "radius_km": 1}]
NEEDS = [{"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 10}]
STRENGTH_ONLY = "[labor]\nfairness = 0.0\nrole_held = 0.0\n"


def role(role_id: str, hours: float = 8, skill: str = "canvassing", district_id: str = "", required: bool = True,
         supporters: int = 0) -> dict:
    return {"role_id": role_id, "name": role_id, "skill": skill, "district_id": district_id, "hours": hours,
            "required": str(required).lower(), "supporters": supporters}


def rating(partner_id: str, strength: float, skill: str = "canvassing", role_id: str = "",
           hours: float | None = None) -> dict:
    return {"partner_id": partner_id, "skill": "" if role_id else skill, "role_id": role_id, "strength": strength,
            "hours": "" if hours is None else hours}


def run(tmp_path, roles, capabilities, partners=None, scenario=STRENGTH_ONLY, offers=None, needs=None,
        **optional) -> matcher.Result:
    return solve(tmp_path / "batch", offers=offers or OFFERS, needs=needs or NEEDS, partners=partners or PARTNERS,
                 roles=roles, capabilities=capabilities, scenario=scenario, **optional)


def positions(result: matcher.Result) -> set[tuple[str, str, str]]:
    """{(role_id, partner_id, position)} of the roles held."""
    labor = result.tables["labor"]
    held = labor[labor["position"] != "vacant"]
    return set(zip(held["role_id"], held["partner_id"], held["position"]))


def vacant(result: matcher.Result) -> set[str]:
    labor = result.tables["labor"]
    return set(labor.loc[labor["position"] == "vacant", "role_id"])


# --- which partner is a candidate, and how strong ------------------------------------------------------------

def test_role_rating_wins_over_skill_rating_and_sets_hours(tmp_path):
    result = run(tmp_path, [role("R1")], [rating("P1", 9), rating("P1", 2, role_id="R1", hours=3),
                                          rating("P2", 5)])
    assert positions(result) == {("R1", "P2", "lead")}
    labor = run(tmp_path, [role("R1")], [rating("P1", 9), rating("P1", 7, role_id="R1", hours=3)]).tables["labor"]
    assert labor[["partner_id", "hours", "strength"]].values.tolist() == [["P1", 3.0, 7.0]]


def test_unrated_partner_and_partner_without_role_hours_are_no_candidates(tmp_path):
    partners = [dict(PARTNERS[0], role_hours=0), PARTNERS[1], PARTNERS[2]]
    batch = build(tmp_path / "b", offers=OFFERS, needs=NEEDS, partners=partners, roles=[role("R1")],
                  capabilities=[rating("P1", 9), rating("P2", 0), rating("P3", 4)])
    assert role_candidates(batch, batch.scenario)["partner_id"].tolist() == ["P3"]


def test_min_lead_strength(tmp_path):
    caps = [rating("P1", 4)]
    assert positions(run(tmp_path, [role("R1", required=False)], caps)) == {("R1", "P1", "lead")}
    result = run(tmp_path, [role("R1", required=False)], caps,
                 scenario=STRENGTH_ONLY + "min_lead_strength = 5.0\n")
    assert positions(result) == set() and vacant(result) == {"R1"}


# --- hard rules, each where it bites and where it does not -----------------------------------------------------

def test_role_lead_required_gets_exactly_one(tmp_path):
    result = run(tmp_path, [role("R1")], [rating("P1", 9), rating("P2", 8), rating("P3", 7)])
    assert positions(result) == {("R1", "P1", "lead")}


def test_role_lead_optional_may_stay_vacant_and_is_reported(tmp_path):
    result = run(tmp_path, [role("R1", required=False), role("R2", skill="legal", required=False)],
                 [rating("P1", 9)])
    assert positions(result) == {("R1", "P1", "lead")} and vacant(result) == {"R2"}


def test_role_lead_required_without_candidate_is_infeasible(tmp_path):
    result = run(tmp_path, [role("R1", skill="legal")], [rating("P1", 9)])
    assert result.status is matcher.Status.INFEASIBLE


def test_role_supporters_limit(tmp_path):
    caps = [rating("P1", 9), rating("P2", 8), rating("P3", 7)]
    assert positions(run(tmp_path, [role("R1", supporters=1)], caps)) == {("R1", "P1", "lead"),
                                                                          ("R1", "P2", "support")}
    assert positions(run(tmp_path, [role("R1", supporters=0)], caps)) == {("R1", "P1", "lead")}


def test_role_supporters_none_without_lead(tmp_path):
    caps = [rating("P1", 4), rating("P2", 3)]
    scenario = STRENGTH_ONLY + "min_lead_strength = 5.0\n"
    result = run(tmp_path, [role("R1", required=False, supporters=2)], caps, scenario=scenario)
    assert positions(result) == set()
    result = run(tmp_path, [role("R1", required=False, supporters=2)], caps)
    assert positions(result) == {("R1", "P1", "lead"), ("R1", "P2", "support")}


def test_one_position_per_role(tmp_path):
    result = run(tmp_path, [role("R1", supporters=2)], [rating("P1", 9), rating("P2", 8)])
    assert positions(result) == {("R1", "P1", "lead"), ("R1", "P2", "support")}


def test_role_hours(tmp_path):
    roles = [role("R1", hours=6), role("R2", hours=6)]
    caps = [rating("P1", 9), rating("P2", 5)]
    assert {p for _, p, _ in positions(run(tmp_path, roles, caps))} == {"P1", "P2"}
    roomy = [dict(PARTNERS[0], role_hours=12)] + PARTNERS[1:]
    assert {p for _, p, _ in positions(run(tmp_path, roles, caps, partners=roomy))} == {"P1"}


def test_role_hours_supporters_spend_the_scenario_fraction(tmp_path):
    result = run(tmp_path, [role("R1", supporters=1)], [rating("P1", 9), rating("P2", 8)],
                 scenario=STRENGTH_ONLY + "supporter_hours_fraction = 0.25\n")
    labor = result.tables["labor"].set_index("partner_id")
    assert (labor.at["P1", "hours"], labor.at["P2", "hours"]) == (8.0, 2.0)


def test_max_roles(tmp_path):
    roles = [role("R1", hours=2), role("R2", hours=2)]
    caps = [rating("P1", 9), rating("P2", 5)]
    assert {p for _, p, _ in positions(run(tmp_path, roles, caps))} == {"P1"}
    limited = [dict(PARTNERS[0], max_roles=1)] + PARTNERS[1:]
    assert {p for _, p, _ in positions(run(tmp_path, roles, caps, partners=limited))} == {"P1", "P2"}


@pytest.mark.parametrize("scope, apart", [("role", True), ("coalition", True), ("district", False)])
def test_role_conflicts(tmp_path, scope, apart):
    caps = [rating("P1", 9), rating("P2", 8), rating("P3", 5)]
    result = run(tmp_path, [role("R1", supporters=1)], caps,
                 conflicts=[{"partner_a": "P1", "partner_b": "P2", "scope": scope}])
    supporter = "P3" if apart else "P2"
    assert positions(result) == {("R1", "P1", "lead"), ("R1", supporter, "support")}


def presence_case(tmp_path, require: bool, reach_km: float) -> matcher.Result:
    """P1 (home D1) is strongest for a D2 role; its only offer reaches D2 if reach_km is large enough."""
    offers = [dict(OFFERS[0], radius_km=reach_km, quantity=5)]
    needs = [NEEDS[0], {"need_id": "N2", "district_id": "D2", "resource": "volunteers", "quantity": 5}]
    scenario = STRENGTH_ONLY + f"require_lead_presence = {str(require).lower()}\n"
    return run(tmp_path, [role("R1", district_id="D2")], [rating("P1", 9), rating("P2", 5)], offers=offers,
               needs=needs, scenario=scenario)


def test_lead_presence(tmp_path):
    assert positions(presence_case(tmp_path, False, 1)) == {("R1", "P1", "lead")}
    assert positions(presence_case(tmp_path, True, 1)) == {("R1", "P2", "lead")}


def test_lead_presence_couples_roles_and_pairings_exactly(tmp_path):
    """P1 leading in D2 is worth more than the coverage it gives up by sending part of its offer there."""
    result = presence_case(tmp_path, True, 50)
    assert positions(result) == {("R1", "P1", "lead")}
    assert "D2" in set(result.allocations.loc[result.allocations["partner_id"] == "P1", "district_id"])


def test_role_decisions_rule(tmp_path):
    caps = [rating("P1", 9), rating("P2", 5)]
    lock = [{"action": "lock", "partner_id": "P2", "role_id": "R1"}]
    forbid = [{"action": "forbid", "partner_id": "P1", "role_id": "R1"}]
    assert positions(run(tmp_path, [role("R1")], caps)) == {("R1", "P1", "lead")}
    assert positions(run(tmp_path, [role("R1")], caps, decisions=lock)) == {("R1", "P2", "lead")}
    assert positions(run(tmp_path, [role("R1")], caps, decisions=forbid)) == {("R1", "P2", "lead")}


# --- objective terms ----------------------------------------------------------------------------------------------

def test_strength_fit_counts_leads_more(tmp_path):
    caps = [rating("P1", 5), rating("P2", 9)]
    result = run(tmp_path, [role("R1", supporters=1)], caps)
    assert positions(result) == {("R1", "P2", "lead"), ("R1", "P1", "support")}
    assert result.terms["strength_fit"]["value"] == 2 * 9 + 5


def test_workload_fairness_max_ratio(tmp_path):
    roles = [role("R1", hours=4), role("R2", hours=4)]
    caps = [rating("P1", 9), rating("P2", 8)]
    assert {p for _, p, _ in positions(run(tmp_path, roles, caps))} == {"P1"}
    fair = "[labor]\nfairness = 1.0\nrole_held = 0.0\n"
    result = run(tmp_path, roles, caps, scenario=fair)
    assert {p for _, p, _ in positions(result)} == {"P1", "P2"}
    assert result.terms["workload_fairness"]["value"] == pytest.approx(0.4)


def test_workload_fairness_spread(tmp_path):
    roles = [role("R1", hours=4), role("R2", hours=4)]
    caps = [rating("P1", 9), rating("P2", 8), rating("P3", 7)]
    spread = "[labor]\nfairness = 1.0\nrole_held = 0.0\nfairness_mode = \"spread\"\n"
    result = run(tmp_path, roles, caps, scenario=spread)
    assert result.terms["workload_fairness"]["value"] == pytest.approx(0.4)  # someone of three holds nothing


def test_role_held(tmp_path):
    roles = [role("R1", hours=2), role("R2", hours=2)]
    caps = [rating("P1", 9), rating("P2", 8)]
    benefit = "[labor]\nfairness = 0.0\nrole_held = 1.0\n"
    result = run(tmp_path, roles, caps, scenario=benefit)
    assert {p for _, p, _ in positions(result)} == {"P1", "P2"}
    assert result.terms["role_held"]["value"] == 2
    summary = result.partners_summary.set_index("partner_id")
    assert summary.loc["P1", ["roles_led", "role_hours_used", "workload"]].tolist() == [1, 2.0, 0.2]


# --- brute force: the labor model is optimal on small random role sets ---------------------------------------

def brute_force(roles: list[dict], caps: list[dict], partners: list[dict], labor: dict) -> float:
    """Best strength fit + role held − fairness over every way to fill the roles (3 × 3 partners: 3^9 plans)."""
    ids = [p["partner_id"] for p in partners]
    capacity = {p["partner_id"]: p["role_hours"] for p in partners}
    limit = {p["partner_id"]: p.get("max_roles") for p in partners}
    skill = {(c["partner_id"], c["skill"]): c["strength"] for c in caps if not c["role_id"]}
    rated = {(c["partner_id"], c["role_id"]): c for c in caps if c["role_id"]}
    options = []
    for r in roles:
        each = []
        for p in ids:
            c = rated.get((p, r["role_id"]))
            strength = c["strength"] if c else skill.get((p, r["skill"]), 0)
            hours = c["hours"] if c and c["hours"] != "" else r["hours"]
            each.append((p, strength, hours))
        options.append(each)
    best = -1e9
    for states in itertools.product((0, 1, 2), repeat=len(roles) * len(ids)):  # 0 none, 1 lead, 2 support
        load, held, total, ok = dict.fromkeys(ids, 0.0), dict.fromkeys(ids, 0), 0.0, True
        for k, r in enumerate(roles):
            mine = states[k * len(ids):(k + 1) * len(ids)]
            leads, supports = mine.count(1), mine.count(2)
            if leads > 1 or (r["required"] == "true" and leads == 0) or supports > r["supporters"] * leads:
                ok = False
                break
            for (p, strength, hours), state in zip(options[k], mine):
                if state and (strength <= 0 or capacity[p] <= 0):
                    ok = False
                if state == 1:
                    total += labor["strength"] * labor["lead_factor"] * strength
                    load[p] += hours
                elif state == 2:
                    total += labor["strength"] * strength
                    load[p] += hours * labor["supporter_hours_fraction"]
                held[p] += state > 0
        if not ok or any(load[p] > capacity[p] + 1e-9 or (limit[p] and held[p] > limit[p]) for p in ids):
            continue
        with_capacity = [p for p in ids if capacity[p] > 0]
        ratio = max((load[p] / capacity[p] for p in with_capacity), default=0.0)
        total += labor["role_held"] * sum(held[p] > 0 for p in with_capacity) - labor["fairness"] * ratio
        best = max(best, total)
    return best


RANDOM_LABOR = {"strength": 0.01, "lead_factor": 2.0, "supporter_hours_fraction": 0.5, "fairness": 0.1,
                "role_held": 0.05}


def random_roles(seed: int) -> tuple[list[dict], list[dict], list[dict]]:
    """(roles, capabilities, partners) of a small random role set: 3 roles, 3 partners."""
    rng = random.Random(seed)
    skills = ["canvassing", "data"]
    roles = [role(f"R{k}", hours=rng.choice([2, 4, 6]), skill=rng.choice(skills), required=rng.random() < 0.5,
                  supporters=rng.choice([0, 1])) for k in range(1, 4)]
    partners = [{"partner_id": p, "home_district": "D1", "role_hours": rng.choice([0, 4, 8, 12]),
                 "max_roles": rng.choice(["", 1, 2])} for p in ("P1", "P2", "P3")]
    caps = [rating(p, rng.randint(0, 10), skill=s) for p in ("P1", "P2", "P3") for s in skills
            if rng.random() < 0.8]
    caps += [rating("P2", rng.randint(1, 10), role_id="R1", hours=rng.choice([1, 3]))]
    return roles, caps, partners


RANDOM_SCENARIO = "[labor]\n" + "".join(f"{k} = {v}\n" for k, v in RANDOM_LABOR.items())


@pytest.mark.parametrize("seed", range(6))
def test_brute_force_optimality(tmp_path, seed):
    roles, caps, partners = random_roles(seed)
    best = brute_force(roles, caps, partners, RANDOM_LABOR)
    result = run(tmp_path, roles, caps, partners=partners, scenario=RANDOM_SCENARIO)
    if best == -1e9:
        assert result.status is matcher.Status.INFEASIBLE
        return
    assert result.status is matcher.Status.OPTIMAL
    found = sum(result.terms[t]["contribution"] for t in ("strength_fit", "workload_fairness", "role_held"))
    assert found <= best + 1e-9
    assert found >= best - RANDOM_LABOR["fairness"] / RATIO_SCALE - 1e-9  # the model rounds the ratio up to 1/1000


# --- the verifier catches every labor rule broken in a correct output ---------------------------------------

TAMPER_ROLES = [role("R1", district_id="D1", supporters=1), role("R2", hours=4, skill="data", required=False)]
TAMPER_CAPS = [rating("P1", 9), rating("P2", 6), rating("P3", 5), rating("P3", 7, skill="data")]


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    result = run(tmp_path_factory.mktemp("tamper"), TAMPER_ROLES, TAMPER_CAPS)
    assert positions(result) == {("R1", "P1", "lead"), ("R1", "P2", "support"), ("R2", "P3", "lead")}
    return result


def complaints(result: matcher.Result, labor: pd.DataFrame, batch=None, **labor_settings) -> set[str]:
    manifest = result.manifest()
    manifest["scenario"]["labor"].update(labor_settings)
    tables = dict(result.tables, labor=labor.reset_index(drop=True))
    return {v.rule for v in verify_tables(batch or result.batch, tables, manifest).violations}


def edit(labor: pd.DataFrame, role_id: str, holding: str, **changes) -> pd.DataFrame:
    """labor.csv with the row of `role_id` held as `holding` (lead/support) changed."""
    labor = labor.copy()
    at = (labor["role_id"] == role_id) & (labor["position"] == holding)
    for column, value in changes.items():
        labor.loc[at, column] = value
    return labor


def test_verifier_accepts_the_correct_plan(solved):
    assert complaints(solved, solved.tables["labor"]) == set()


def test_verifier_missing_lead(solved):
    labor = solved.tables["labor"]
    assert complaints(solved, labor[labor["position"] != "lead"]) >= {"Role lead"}


def test_verifier_two_leads(solved):
    labor = solved.tables["labor"]
    extra = edit(labor, "R1", "support", position="lead", hours=8.0)
    assert "Role lead" in complaints(solved, extra)


def test_verifier_too_many_supporters(solved):
    labor = solved.tables["labor"]
    extra = pd.concat([labor, pd.DataFrame([{"role_id": "R1", "district_id": "D1", "partner_id": "P3",
                                             "position": "support", "hours": 4.0, "strength": 5.0}])])
    assert complaints(solved, extra) == {"Role supporters"}


def test_verifier_lead_and_supporter_of_one_role(solved):
    labor = edit(solved.tables["labor"], "R1", "support", partner_id="P1", strength=9.0)
    assert "One position per role" in complaints(solved, labor)


def test_verifier_role_hours(solved):
    labor = edit(solved.tables["labor"], "R2", "lead", partner_id="P1", strength=0.0)
    assert {"Role hours", "Role eligible"} <= complaints(solved, labor)
    tight = solved.batch.partners.assign(role_hours=[10.0, 10.0, 3.0])
    batch = matcher.Batch(**{**solved.batch.__dict__, "partners": tight})
    assert complaints(solved, solved.tables["labor"], batch=batch) == {"Role hours"}


def test_verifier_reported_hours_and_strength(solved):
    assert complaints(solved, edit(solved.tables["labor"], "R1", "lead", hours=5.0)) == {"Labor rows"}
    assert complaints(solved, edit(solved.tables["labor"], "R1", "lead", strength=10.0)) == {"Labor rows"}


def test_verifier_lead_strength(solved):
    assert complaints(solved, solved.tables["labor"], min_lead_strength=8.0) == {"Lead strength"}


def test_verifier_max_roles(solved):
    partners = solved.batch.partners.assign(max_roles=pd.array([pd.NA, pd.NA, 0], dtype="Int64"))
    batch = matcher.Batch(**{**solved.batch.__dict__, "partners": partners})
    assert complaints(solved, solved.tables["labor"], batch=batch) == {"Max roles"}


def test_verifier_role_conflicts(solved):
    conflicts = pd.DataFrame({"partner_a": ["P1"], "partner_b": ["P2"], "scope": ["role"], "note": [None]})
    batch = matcher.Batch(**{**solved.batch.__dict__, "conflicts": conflicts})
    assert complaints(solved, solved.tables["labor"], batch=batch) == {"Role conflicts"}


def test_verifier_lead_presence(solved):
    labor = edit(solved.tables["labor"], "R1", "lead", partner_id="P2", strength=6.0)
    labor = edit(labor, "R1", "support", partner_id="P1", strength=9.0, hours=4.0)
    assert complaints(solved, labor, require_lead_presence=True) == {"Lead presence"}
    assert complaints(solved, labor) == set()


def test_verifier_role_decisions(solved):
    decisions = pd.DataFrame({"action": ["lock", "forbid"], "partner_id": ["P2", "P3"], "role_id": ["R1", "R2"],
                              "offer_id": [None, None], "need_id": [None, None], "district_id": [None, None]})
    batch = matcher.Batch(**{**solved.batch.__dict__, "decisions": decisions})
    assert complaints(solved, solved.tables["labor"], batch=batch) == {"Role decisions"}


def test_verifier_vacant_rows(solved):
    labor = solved.tables["labor"]
    assert complaints(solved, labor[labor["role_id"] != "R2"]) == {"Labor rows"}  # optional, empty, unreported


def test_verifier_reads_labor_csv_from_the_folder(solved, tmp_path):
    folder = solved.write(tmp_path / "out")
    assert matcher.verify(solved.batch, folder).ok
    labor = pd.read_csv(folder / "labor.csv")
    labor.loc[labor["position"] == "support", "partner_id"] = "P1"
    labor.to_csv(folder / "labor.csv", index=False)
    assert "One position per role" in {v.rule for v in matcher.verify(solved.batch, folder).violations}


# --- every registered labor rule is named, documented, tested and checked -------------------------------------

@pytest.mark.parametrize("entry", LABOR_RULES + LABOR_TERMS, ids=lambda e: e.key)
def test_every_labor_rule_and_term_is_documented_and_tested(entry):
    tests = [name for name, _ in inspect.getmembers(sys.modules[__name__], inspect.isfunction)
             if name.startswith("test_")]
    assert entry.doc and entry.doc.endswith(".") and "\n" not in entry.doc
    assert any(entry.key in name for name in tests), f"no test is named for {entry.key}"


@pytest.mark.parametrize("rule", LABOR_RULES, ids=lambda r: r.key)
def test_every_labor_rule_is_checked_by_the_verifier(rule):
    assert rule.name in LABOR_CHECKS


@pytest.mark.slow
def test_sample_batch_fills_every_required_role(tmp_path):
    batch = matcher.read_batch(Path(__file__).resolve().parent.parent / "data" / "sample")
    result = matcher.solve(batch, batch.scenario.with_({"solver.workers": 2, "solver.time_limit_s": 5.0,
                                                        "solver.relative_gap": 0.01}))
    labor = result.labor
    leads = labor[labor["position"] == "lead"].groupby("role_id").size()
    required = batch.roles.loc[batch.roles["required"].astype(bool), "role_id"]
    assert (leads.reindex(required, fill_value=0) == 1).all()
    assert ("R09", "P09", "lead") in positions(result)  # the negotiated lock
    assert matcher.verify(batch, result.write(tmp_path / "out")).ok
