"""The division of labor: who leads and who supports each role, solved in the same model as the pairings.

Candidates are (role, partner) rows built by vectorised joins, so the model never sees a partner
that cannot take a role. A partner's strength for a role is its partner × role rating if
capabilities.csv has one, else its partner × skill rating for the role's skill, else 0; a pair of
strength 0 is no candidate. A lead also needs at least `labor.min_lead_strength`, and its hours
(the partner's own hours for the role, else the role's) must fit the partner's `role_hours`; a
supporter spends `labor.supporter_hours_fraction` of those hours.

Scaling, in this one place: hours are held as integers in 1/HOURS_SCALE of an hour (rounded), and
a load/capacity ratio in 1/RATIO_SCALE. Objective coefficients use `matcher.model.scaled`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from ortools.sat.python import cp_model

from matcher.batch import Batch
from matcher.model import AllocationModel, add_hints, scaled
from matcher.outputs import LABOR_COLUMNS
from matcher.registry import Rule, Term, registrar
from matcher.scenario import Scenario

HOURS_SCALE = 100
RATIO_SCALE = 1_000
ROLE_CONFLICT_SCOPES = ("role", "coalition")
CANDIDATE_COLUMNS = ["role_id", "partner_id", "district_id", "required", "supporters", "strength",
                     "lead_hours", "support_hours", "can_lead", "can_support"]

LABOR_RULES: list[Rule] = []
LABOR_TERMS: list[Term] = []
labor_rule = registrar(LABOR_RULES, Rule)
labor_term = registrar(LABOR_TERMS, Term)


def hours_units(hours: pd.Series) -> pd.Series:
    """Hours as whole 1/HOURS_SCALE units (halves to even), the one place hours are rounded."""
    return np.round(hours.astype("float64") * HOURS_SCALE).astype("int64")


def capacity_units(batch: Batch) -> pd.Series:
    """Each partner's `role_hours` in 1/HOURS_SCALE units, by partner_id."""
    return hours_units(batch.partners.set_index("partner_id")["role_hours"])


def role_strengths(batch: Batch, allowed: pd.DataFrame | None = None) -> pd.DataFrame:
    """(role_id, partner_id, strength, hours) for every rated pair: the role rating wins over the skill rating.

    `allowed`, (role_id, partner_id) rows, keeps only those pairs: joined first, so a national batch
    never builds every role × every partner with the skill.
    """
    roles = batch.roles[["role_id", "skill", "hours"]].rename(columns={"hours": "role_hours_needed"})
    caps = batch.capabilities
    by_role = caps[caps["role_id"].notna()].drop_duplicates(["partner_id", "role_id"], keep="last")
    by_role = by_role[["partner_id", "role_id", "strength", "hours"]].merge(roles, on="role_id")
    by_skill = caps[caps["role_id"].isna() & caps["skill"].notna()]
    by_skill = by_skill.drop_duplicates(["partner_id", "skill"], keep="last")[["partner_id", "skill", "strength"]]
    if allowed is None:
        by_skill = roles.merge(by_skill, on="skill")
    else:
        by_role = by_role.merge(allowed, on=["role_id", "partner_id"])
        by_skill = allowed.merge(roles, on="role_id").merge(by_skill, on=["partner_id", "skill"])
    rated = pd.concat([by_role, by_skill.assign(hours=float("nan"))], ignore_index=True).drop_duplicates(
        ["role_id", "partner_id"])
    rated["hours"] = rated["hours"].astype("float64").fillna(rated["role_hours_needed"])
    return rated[["role_id", "partner_id", "strength", "hours"]]


def role_candidates(batch: Batch, scenario: Scenario, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (role, partner) that may lead or support the role, with strength and hours.

    `pairs` (the eligible offer–need pairs) tells where a partner can be present; it matters only
    when the scenario requires a district role's lead to be present there, or keeps district roles local.
    """
    labor = scenario.labor
    roles = batch.roles[["role_id", "district_id", "required", "supporters"]]
    partners = batch.partners[["partner_id", "home_district", "role_hours"]]
    allowed = local_candidates(batch, pairs) if labor.local_district_roles else None
    frame = role_strengths(batch, allowed).merge(roles, on="role_id").merge(partners, on="partner_id")
    frame = frame[(frame["strength"] > 0) & (frame["role_hours"] > 0)]
    frame = frame.assign(required=frame["required"].astype(bool), supporters=frame["supporters"].astype("int64"))
    capacity = hours_units(frame["role_hours"])
    frame["lead_hours"] = hours_units(frame["hours"])
    frame["support_hours"] = hours_units(frame["hours"] * labor.supporter_hours_fraction)
    frame["can_lead"] = (frame["lead_hours"] <= capacity) & (frame["strength"] >= labor.min_lead_strength)
    frame["can_support"] = (frame["support_hours"] <= capacity) & (frame["supporters"] > 0)
    if labor.require_lead_presence:
        frame["can_lead"] &= lead_can_be_present(frame, pairs)
    frame = frame[~forbidden(batch, frame)]
    frame = frame[frame["can_lead"] | frame["can_support"]]
    frame = frame.sort_values(["role_id", "partner_id"], kind="stable").reset_index(drop=True)
    return frame[CANDIDATE_COLUMNS]


def reached_districts(pairs: pd.DataFrame | None) -> pd.DataFrame:
    """(partner_id, district_id) where some offer of the partner can go."""
    if pairs is None:
        return pd.DataFrame({"partner_id": pd.Series(dtype=object), "district_id": pd.Series(dtype=object)})
    return pairs[["partner_id", "district_id"]].drop_duplicates()


def has_row(frame: pd.DataFrame, rows: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Whether each row of `frame` matches a row of `rows` on `keys`."""
    found = frame[keys].merge(rows[keys].drop_duplicates().assign(_found=True), on=keys, how="left")["_found"]
    return pd.Series(found.fillna(False).to_numpy(bool), index=frame.index)


def lead_can_be_present(frame: pd.DataFrame, pairs: pd.DataFrame | None) -> pd.Series:
    """A campaign-wide role, the partner's home district, or a district some offer of the partner reaches."""
    reaches = has_row(frame, reached_districts(pairs), ["partner_id", "district_id"])
    return frame["district_id"].isna() | (frame["district_id"] == frame["home_district"]) | reaches


def local_candidates(batch: Batch, pairs: pd.DataFrame | None) -> pd.DataFrame:
    """(role_id, partner_id) for `labor.local_district_roles`: every partner for a campaign-wide role; for a
    district role, partners based in or next to the district, or working there."""
    partners = batch.partners[["partner_id", "home_district"]].dropna()
    neighbours = pd.DataFrame([(a, b) for a, listed in zip(batch.districts["district_id"], batch.districts["neighbors"])
                               for b in listed], columns=["home_district", "district_id"], dtype=object)
    neighbours = pd.concat([neighbours, neighbours.rename(columns={"home_district": "district_id",
                                                                   "district_id": "home_district"})])
    near = pd.concat([partners.assign(district_id=partners["home_district"])[["partner_id", "district_id"]],
                      partners.merge(neighbours, on="home_district")[["partner_id", "district_id"]],
                      reached_districts(pairs)], ignore_index=True).drop_duplicates()
    roles = batch.roles[["role_id", "district_id"]]
    local = roles[roles["district_id"].notna()].merge(near, on="district_id")[["role_id", "partner_id"]]
    wide = roles.loc[roles["district_id"].isna(), ["role_id"]].merge(batch.partners[["partner_id"]], how="cross")
    return pd.concat([local, wide], ignore_index=True)


def forbidden(batch: Batch, frame: pd.DataFrame) -> pd.Series:
    """Rows a `forbid` decision with a partner and a role rules out."""
    return has_row(frame, role_decisions(batch, "forbid"), ["role_id", "partner_id"])


def role_decisions(batch: Batch, action: str) -> pd.DataFrame:
    """Decisions of one action that name both a partner and a role."""
    d = batch.decisions
    return d[(d["action"] == action) & d["partner_id"].notna() & d["role_id"].notna()]


def add_labor(m: AllocationModel) -> None:
    """Role variables for the candidates, then every labor rule, then the labor terms of the objective."""
    if m.roles is None:
        m.roles = role_candidates(m.batch, m.scenario, m.pairs)
    for i, row in enumerate(m.roles.itertuples(index=False)):
        if row.can_lead:
            m.lead[i] = m.model.new_bool_var(f"lead[{row.role_id},{row.partner_id}]")
        if row.can_support:
            m.support[i] = m.model.new_bool_var(f"support[{row.role_id},{row.partner_id}]")
    for rule in LABOR_RULES:
        rule.apply(m)
    for term in LABOR_TERMS:
        m.terms[term.name] = term.apply(m)
    add_lead_hint(m)


def candidates_by(m: AllocationModel, column: str) -> dict[str, list[int]]:
    return {key: list(index) for key, index in m.roles.groupby(column, sort=True).indices.items()}


def held(m: AllocationModel, i: int) -> cp_model.LinearExpr:
    """1 when candidate row i holds its role, as lead or as supporter."""
    return sum((v[i] for v in (m.lead, m.support) if i in v), cp_model.LinearExpr.constant(0))


def partner_hours(m: AllocationModel, positions: list[int]) -> cp_model.LinearExpr:
    """The role hours (in 1/HOURS_SCALE) a partner spends over its candidate rows."""
    lead_hours, support_hours = m.roles["lead_hours"].to_numpy(), m.roles["support_hours"].to_numpy()
    terms = [int(lead_hours[i]) * m.lead[i] for i in positions if i in m.lead]
    terms += [int(support_hours[i]) * m.support[i] for i in positions if i in m.support]
    return sum(terms, cp_model.LinearExpr.constant(0))


@labor_rule("Role lead")
def role_lead(m: AllocationModel) -> None:
    """Each required role gets exactly one lead; an optional role at most one (it may stay empty)."""
    by_role = candidates_by(m, "role_id")
    for role_id, required in zip(m.batch.roles["role_id"], m.batch.roles["required"]):
        leads = [m.lead[i] for i in by_role.get(role_id, []) if i in m.lead]
        if required and m.guards is not None:  # the infeasibility analysis may set "must have a lead" aside
            m.model.add_at_most_one(leads)
            m.guard(m.model.add(sum(leads, cp_model.LinearExpr.constant(0)) >= 1), "role_lead", role_id)
        elif required:
            m.model.add_exactly_one(leads)
        elif len(leads) > 1:
            m.model.add_at_most_one(leads)


@labor_rule("Role supporters")
def role_supporters(m: AllocationModel) -> None:
    """A role takes at most its `supporters` supporting partners, and none while it has no lead."""
    supporters = m.roles["supporters"].to_numpy()
    for positions in candidates_by(m, "role_id").values():
        support = [m.support[i] for i in positions if i in m.support]
        if not support:
            continue
        leads = sum((m.lead[i] for i in positions if i in m.lead), cp_model.LinearExpr.constant(0))
        m.model.add(sum(support) <= int(supporters[positions[0]]) * leads)


@labor_rule("One position per role")
def one_position_per_role(m: AllocationModel) -> None:
    """A partner is never both lead and supporter of the same role."""
    for i in m.lead.keys() & m.support.keys():
        m.model.add_at_most_one(m.lead[i], m.support[i])


@labor_rule("Role hours")
def role_hours(m: AllocationModel) -> None:
    """The hours a partner spends on its roles (supporters at the scenario's fraction) fit its `role_hours`."""
    capacity = capacity_units(m.batch)
    for partner_id, positions in candidates_by(m, "partner_id").items():
        if len(positions) > 1:
            m.model.add(partner_hours(m, positions) <= int(capacity[partner_id]))


@labor_rule("Max roles")
def max_roles(m: AllocationModel) -> None:
    """A partner holds at most its `max_roles` roles, as lead or supporter."""
    limit = m.batch.partners.set_index("partner_id")["max_roles"]
    for partner_id, positions in candidates_by(m, "partner_id").items():
        if not pd.isna(limit[partner_id]) and len(positions) > limit[partner_id]:
            m.model.add(sum(held(m, i) for i in positions) <= int(limit[partner_id]))


@labor_rule("Role conflicts")
def role_conflicts(m: AllocationModel) -> None:
    """Partners in a `role` (or `coalition`) conflict never serve on the same role team."""
    for i, j in zip(*role_conflict_rows(m.batch, m.roles)):
        m.model.add(held(m, i) + held(m, j) <= 1)


def role_conflict_rows(batch: Batch, candidates: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of candidate rows (one role, two partners in a role or coalition conflict) that never both hold it."""
    conflicts = batch.conflicts
    conflicts = conflicts.loc[conflicts["scope"].isin(ROLE_CONFLICT_SCOPES), ["partner_a", "partner_b"]]
    rows = candidates[["role_id", "partner_id"]].assign(row=range(len(candidates)))
    both = (conflicts.merge(rows, left_on="partner_a", right_on="partner_id")
            .merge(rows, left_on=["partner_b", "role_id"], right_on=["partner_id", "role_id"], suffixes=("_a", "_b")))
    apart = both[both["row_a"] != both["row_b"]]
    return apart["row_a"].to_numpy("int64"), apart["row_b"].to_numpy("int64")


@labor_rule("Lead presence")
def lead_presence(m: AllocationModel) -> None:
    """When the scenario says so, a district role's lead lives there or sends resources there."""
    if not m.scenario.labor.require_lead_presence:
        return
    home = m.batch.partners.set_index("partner_id")["home_district"]
    for i, row in enumerate(m.roles.itertuples(index=False)):
        if i in m.lead and not pd.isna(row.district_id) and home[row.partner_id] != row.district_id:
            m.model.add_implication(m.lead[i], m.presence(row.partner_id, row.district_id))


@labor_rule("Role decisions")
def role_decisions_rule(m: AllocationModel) -> None:
    """A `lock` with a partner and a role makes that partner the role's lead (a `forbid` removes the pair)."""
    row_of = {key: i for i, key in enumerate(zip(m.roles["role_id"], m.roles["partner_id"]))}
    locks = role_decisions(m.batch, "lock")
    for role_id, partner_id, row in zip(locks["role_id"], locks["partner_id"], locks["csv_row"]):
        i = row_of.get((role_id, partner_id))
        m.guard(m.model.add_bool_or([m.lead[i]] if i in m.lead else []), "role_lock", str(row))


@labor_term("Strength fit")
def strength_fit(m: AllocationModel) -> cp_model.LinearExpr:
    """Leads and supporters strong in the role's skill; a lead's strength counts `lead_factor` times."""
    labor = m.scenario.labor
    strength = m.roles["strength"].to_numpy()
    terms = [scaled(labor.strength * labor.lead_factor * strength[i]) * v for i, v in m.lead.items()]
    terms += [scaled(labor.strength * strength[i]) * v for i, v in m.support.items()]
    return sum(terms, cp_model.LinearExpr.constant(0))


@labor_term("Workload fairness")
def workload_fairness(m: AllocationModel) -> cp_model.LinearExpr:
    """Role workloads in proportion to capacity: the largest load/capacity ratio (or the spread) is kept small."""
    labor = m.scenario.labor
    if labor.fairness == 0 or m.roles.empty:
        return cp_model.LinearExpr.constant(0)
    capacity = capacity_units(m.batch)
    by_partner = candidates_by(m, "partner_id")
    highest = m.model.new_int_var(0, RATIO_SCALE, "workload_ratio_max")
    for partner_id, positions in by_partner.items():
        m.model.add(int(capacity[partner_id]) * highest >= RATIO_SCALE * partner_hours(m, positions))
    measure = highest
    if labor.fairness_mode == "spread" and (capacity > 0).sum() == len(by_partner):
        lowest = m.model.new_int_var(0, RATIO_SCALE, "workload_ratio_min")
        for partner_id, positions in by_partner.items():
            m.model.add(int(capacity[partner_id]) * lowest <= RATIO_SCALE * partner_hours(m, positions))
        measure = highest - lowest
    return -scaled(labor.fairness / RATIO_SCALE) * measure


@labor_term("Role held")
def role_held(m: AllocationModel) -> cp_model.LinearExpr:
    """Every partner with role hours holds a defined role where possible (a benefit of taking part)."""
    weight = m.scenario.labor.role_held
    if weight == 0:
        return cp_model.LinearExpr.constant(0)
    return scaled(weight) * sum(holds_role(m).values(), cp_model.LinearExpr.constant(0))


def holds_role(m: AllocationModel) -> dict:
    """Per role candidate partner, a 0/1 variable that can be 1 only when it leads or supports a role."""
    if not m.holds_role and m.roles is not None:
        for partner_id, positions in candidates_by(m, "partner_id").items():
            holds = m.model.new_bool_var(f"holds_role[{partner_id}]")
            m.model.add(holds <= sum(held(m, i) for i in positions))
            m.holds_role[partner_id] = holds
    return m.holds_role


def add_lead_hint(m: AllocationModel) -> None:
    """Warm start: each role's lead greedily, strongest per hour first, while the partner's hours last."""
    if not m.lead:
        return
    left = capacity_units(m.batch).to_dict()
    rows = m.roles.loc[list(m.lead), ["role_id", "partner_id", "strength", "lead_hours"]]
    rows = rows.assign(per_hour=rows["strength"] / rows["lead_hours"].clip(lower=1))
    rows = rows.sort_values(["per_hour", "strength"], ascending=False, kind="stable")
    taken, chosen = set(), set()
    for i, role_id, partner_id, hours in zip(rows.index, rows["role_id"], rows["partner_id"], rows["lead_hours"]):
        if role_id not in taken and left[partner_id] >= hours:
            taken.add(role_id)
            chosen.add(i)
            left[partner_id] -= hours
    add_hints(m.model, [variable.index for variable in m.lead.values()], [int(i in chosen) for i in m.lead])


def hint_positions(m: AllocationModel, leads: np.ndarray, supports: np.ndarray) -> None:
    """Hint every lead and support variable at a plan's positions (0/1 per candidate row), in place of any
    earlier hint (a roles-only part has no other)."""
    m.model.clear_hints()
    for variables, chosen in ((m.lead, leads), (m.support, supports)):
        add_hints(m.model, [variable.index for variable in variables.values()], [int(chosen[i]) for i in variables])


def chosen_positions(m: AllocationModel, solver: cp_model.CpSolver) -> pd.DataFrame:
    """The positions the solver chose, as labor.csv rows: role, district, partner, position, hours, strength."""
    rows = [(i, "lead") for i, v in m.lead.items() if solver.boolean_value(v)]
    rows += [(i, "support") for i, v in m.support.items() if solver.boolean_value(v)]
    picked = m.roles.loc[[i for i, _ in rows]].assign(position=[p for _, p in rows])
    hours = picked["lead_hours"].where(picked["position"] == "lead", picked["support_hours"])
    picked = picked.assign(hours=hours.astype("float64") / HOURS_SCALE, strength=picked["strength"].astype(float))
    return picked[LABOR_COLUMNS].reset_index(drop=True)
