"""The linear relaxation of a division-of-labor part (roles and no pairings), solved by GLOP.

CP-SAT's own bound on such a part stays loose for long: on the generated state batch's 561 roles
(5,164 candidates), in their 12.7 s share, it was 97.8 against a plan of 80.0 (and still 97.7 after
60 s), while this LP gives 86.6 in 0.3 s, and the search from its rounding 81.8.

The LP keeps every labor rule but a lead's presence (which needs pairings): at most one lead per
role (exactly one where required), supporters only beside a lead, one position per candidate, role
hours, max roles, role conflicts and role locks; and the terms strength fit, role held and, in
max_ratio mode, workload fairness with its ratio continuous. In spread mode the fairness term (never
positive) is left out. Each change can only raise the optimum, so the LP bounds the model.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matcher.batch import Batch
from matcher.labor import RATIO_SCALE, capacity_units, role_conflict_rows, role_decisions
from matcher.model import OBJECTIVE_SCALE
from matcher.scenario import Scenario
from matcher.sparse_lp import SparseLp

ROUNDING_SHARE = 1e-6  # LP shares above this are rounded up, largest first
# Parts with more candidates than this many a second of their allowance are skipped: the national batch's
# 272,598 took 20 s.
LP_CANDIDATES_PER_S = 10_000


@dataclass(frozen=True)
class LaborRelaxation:
    """The LP's bound (in 1/OBJECTIVE_SCALE) and its lead and support shares per candidate row."""

    bound: int
    lead: np.ndarray = field(repr=False)
    support: np.ndarray = field(repr=False)


def labor_relaxation(batch: Batch, candidates: pd.DataFrame, scenario: Scenario,
                     time_limit_s: float) -> LaborRelaxation | None:
    """The LP's bound on a roles-only part's objective, and its shares; None where it does not apply (no
    candidates, lexicographic solving) or GLOP does not finish within `time_limit_s`."""
    if (candidates.empty or scenario.solver.mode != "weighted"
            or len(candidates) > LP_CANDIDATES_PER_S * time_limit_s):
        return None
    lp = SparseLp()
    lead, support = position_columns(lp, candidates, scenario)
    lead_rows(lp, batch, candidates, lead)
    supporter_rows(lp, candidates, lead, support)
    one_position_rows(lp, lead, support)
    hours_rows(lp, batch, candidates, lead, support)
    max_roles_rows(lp, batch, candidates, lead, support)
    conflict_rows(lp, batch, candidates, lead, support)
    lock_rows(lp, batch, candidates, lead)
    role_held_columns(lp, candidates, lead, support, scenario)
    workload_columns(lp, batch, candidates, lead, support, scenario)
    solved = lp.solve(time_limit_s)
    if solved is None:
        return None
    # The model rounds each objective coefficient to a whole unit: half a unit per 0/1 variable at most, and
    # half a unit per point of the workload ratio, which goes up to RATIO_SCALE.
    slack = lp.n_columns + RATIO_SCALE
    values, bound = solved
    return LaborRelaxation(int(np.ceil(bound * OBJECTIVE_SCALE)) + slack, values[lead], values[support])


def rounded_roles(batch: Batch, candidates: pd.DataFrame, relaxed: LaborRelaxation) -> tuple[np.ndarray, np.ndarray]:
    """(leads, supporters) as 0/1 per candidate row, rounded from the LP to keep every labor rule it holds.

    Required roles first, those with fewest possible leads first: each gets the candidate with the
    largest lead share (then the strongest per hour) that the partner's hours, max roles and the role
    conflicts still allow. Then optional roles' leads and all supporters, largest share first. The
    search starts from this plan; CP-SAT repairs what it breaks (a lock, a lead's presence, or a
    required role left without a lead when every candidate's hours are taken).
    """
    hours_left = capacity_units(batch).to_dict()
    roles_left = batch.partners.set_index("partner_id")["max_roles"].astype("float64").fillna(np.inf).to_dict()
    supporters = dict(zip(candidates["role_id"], candidates["supporters"]))
    first, second = role_conflict_rows(batch, candidates)
    conflicting: dict[int, set[int]] = {}
    for i, j in zip(first.tolist(), second.tolist()):
        conflicting.setdefault(i, set()).add(j)
        conflicting.setdefault(j, set()).add(i)
    role_ids, partner_ids = candidates["role_id"].tolist(), candidates["partner_id"].tolist()
    lead_hours, support_hours = candidates["lead_hours"].tolist(), candidates["support_hours"].tolist()
    leads, supports = np.zeros(len(candidates), dtype=bool), np.zeros(len(candidates), dtype=bool)
    led: set[str] = set()
    supported: dict[str, int] = {}

    def take(i: int, hours: int) -> bool:
        partner = partner_ids[i]
        if (leads[i] or supports[i] or hours_left[partner] < hours or roles_left[partner] < 1
                or any(leads[j] or supports[j] for j in conflicting.get(i, ()))):
            return False
        hours_left[partner] -= hours
        roles_left[partner] -= 1
        return True

    def lead(i: int) -> bool:
        if role_ids[i] in led or not take(i, lead_hours[i]):
            return False
        leads[i] = True
        led.add(role_ids[i])
        return True

    per_hour = candidates["strength"].to_numpy(float) / np.maximum(candidates["lead_hours"].to_numpy(float), 1.0)
    order = np.lexsort((-per_hour, -relaxed.lead))  # largest share first, then strongest per hour
    can_lead, required = candidates["can_lead"].to_numpy(bool), candidates["required"].to_numpy(bool)
    ranked = order[can_lead[order] & required[order]]
    options = pd.Series(ranked).groupby(candidates["role_id"].to_numpy()[ranked], sort=True).agg(list)
    for choices in sorted(options, key=len):  # the roles with fewest possible leads first
        next((i for i in choices if lead(i)), None)
    for i in order[(relaxed.lead[order] > ROUNDING_SHARE) & ~required[order]].tolist():
        lead(i)
    for i in np.argsort(-relaxed.support, kind="stable")[:np.count_nonzero(relaxed.support > ROUNDING_SHARE)].tolist():
        role = role_ids[i]
        if role in led and supported.get(role, 0) < supporters[role] and take(i, support_hours[i]):
            supports[i] = True
            supported[role] = supported.get(role, 0) + 1
    return leads, supports


def position_columns(lp: SparseLp, candidates: pd.DataFrame, scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """A lead and a support share in [0, 1] per candidate (in [0, 0] where it cannot take that position), worth
    its strength: a lead's `lead_factor` times."""
    labor = scenario.labor
    strength = candidates["strength"].to_numpy(float)
    lead = lp.columns(labor.strength * labor.lead_factor * strength, candidates["can_lead"].to_numpy(float))
    support = lp.columns(labor.strength * strength, candidates["can_support"].to_numpy(float))
    return lead, support


def lead_rows(lp: SparseLp, batch: Batch, candidates: pd.DataFrame, lead: np.ndarray) -> None:
    """At most one lead per role, exactly one where the role is required."""
    codes, roles = pd.factorize(candidates["role_id"])
    required = batch.roles.set_index("role_id")["required"].loc[roles].to_numpy(bool)
    lp.rows(codes, lead, 1.0, np.where(required, 1.0, -np.inf), 1.0)


def supporter_rows(lp: SparseLp, candidates: pd.DataFrame, lead: np.ndarray, support: np.ndarray) -> None:
    """A role's supporters at most its `supporters` times its lead."""
    codes, roles = pd.factorize(candidates["role_id"])
    supporters = candidates["supporters"].to_numpy(float)
    lp.rows(np.r_[codes, codes], np.r_[support, lead], np.r_[np.ones(len(codes)), -supporters],
            np.full(len(roles), -np.inf), 0.0)


def one_position_rows(lp: SparseLp, lead: np.ndarray, support: np.ndarray) -> None:
    """A candidate leads or supports its role, not both."""
    each = np.arange(len(lead))
    lp.rows(np.r_[each, each], np.r_[lead, support], 1.0, np.full(len(lead), -np.inf), 1.0)


def hours_rows(lp: SparseLp, batch: Batch, candidates: pd.DataFrame, lead: np.ndarray, support: np.ndarray) -> None:
    """The hours of a partner's positions fit its `role_hours`."""
    codes, partners = pd.factorize(candidates["partner_id"])
    capacity = capacity_units(batch).loc[partners].to_numpy(float)
    lp.rows(np.r_[codes, codes], np.r_[lead, support],
            np.r_[candidates["lead_hours"].to_numpy(float), candidates["support_hours"].to_numpy(float)],
            np.full(len(partners), -np.inf), capacity)


def max_roles_rows(lp: SparseLp, batch: Batch, candidates: pd.DataFrame, lead: np.ndarray,
                   support: np.ndarray) -> None:
    """A partner with a `max_roles` holds at most that many positions."""
    limits = batch.partners.set_index("partner_id")["max_roles"].astype("float64")
    limit = candidates["partner_id"].map(limits).to_numpy()
    limited = ~np.isnan(limit)
    if not limited.any():
        return
    codes, partners = pd.factorize(candidates["partner_id"][limited])
    at_most = pd.Series(limit[limited]).groupby(codes).first().to_numpy()
    lp.rows(np.r_[codes, codes], np.r_[lead[limited], support[limited]], 1.0, np.full(len(partners), -np.inf),
            at_most)


def conflict_rows(lp: SparseLp, batch: Batch, candidates: pd.DataFrame, lead: np.ndarray,
                  support: np.ndarray) -> None:
    """Two partners in a role conflict hold no positions on the same role together."""
    first, second = role_conflict_rows(batch, candidates)
    each = np.arange(len(first))
    lp.rows(np.r_[each, each, each, each], np.r_[lead[first], support[first], lead[second], support[second]], 1.0,
            np.full(len(first), -np.inf), 1.0)


def lock_rows(lp: SparseLp, batch: Batch, candidates: pd.DataFrame, lead: np.ndarray) -> None:
    """A role lock makes its partner the lead (a lock on a partner that cannot lead leaves the model infeasible,
    whatever the LP says)."""
    locks = role_decisions(batch, "lock")[["role_id", "partner_id"]].drop_duplicates()
    rows = candidates[["role_id", "partner_id", "can_lead"]].assign(row=range(len(candidates)))
    locked = rows.merge(locks, on=["role_id", "partner_id"])
    locked = locked.loc[locked["can_lead"], "row"].to_numpy("int64")
    lp.rows(np.arange(len(locked)), lead[locked], 1.0, np.ones(len(locked)), 1.0)


def role_held_columns(lp: SparseLp, candidates: pd.DataFrame, lead: np.ndarray, support: np.ndarray,
                      scenario: Scenario) -> None:
    """Per candidate partner, a share in [0, 1] of 'holds a role', worth `role_held`, at most its positions."""
    weight = scenario.labor.role_held
    if weight == 0:
        return
    codes, partners = pd.factorize(candidates["partner_id"])
    holds = lp.columns(np.full(len(partners), weight), np.ones(len(partners)))
    each = np.arange(len(partners))
    lp.rows(np.r_[each, codes, codes], np.r_[holds, lead, support],
            np.r_[np.ones(len(partners)), -np.ones(2 * len(codes))], np.full(len(partners), -np.inf), 0.0)


def workload_columns(lp: SparseLp, batch: Batch, candidates: pd.DataFrame, lead: np.ndarray, support: np.ndarray,
                     scenario: Scenario) -> None:
    """In max_ratio mode, the largest load/capacity ratio (in 1/RATIO_SCALE, continuous), at least each partner's,
    costing `fairness` per whole ratio."""
    labor = scenario.labor
    if labor.fairness == 0 or labor.fairness_mode != "max_ratio":
        return
    highest = lp.columns(np.array([-labor.fairness / RATIO_SCALE]), np.array([float(RATIO_SCALE)]))
    codes, partners = pd.factorize(candidates["partner_id"])
    capacity = capacity_units(batch).loc[partners].to_numpy(float)
    hours = RATIO_SCALE * np.r_[candidates["lead_hours"].to_numpy(float), candidates["support_hours"].to_numpy(float)]
    lp.rows(np.r_[codes, codes, np.arange(len(partners))], np.r_[lead, support, np.repeat(highest, len(partners))],
            np.r_[hours, -capacity], np.full(len(partners), -np.inf), 0.0)
