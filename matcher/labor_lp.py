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
HANDOVER_DEPTH = 2  # a required role without a lead takes one through at most this many hand-overs
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


def rounded_roles(batch: Batch, candidates: pd.DataFrame, relaxed: LaborRelaxation,
                  fill: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(leads, supporters) as 0/1 per candidate row, rounded from the LP to keep every labor rule it holds.

    Role locks first. Then required roles, those with fewest possible leads first: each gets the
    candidate with the largest lead share (then the strongest per hour) that the partner's hours, max
    roles and the role conflicts still allow; where none is left, one of them hands a lead it holds
    to another partner (`RoundedPositions.lead_making_room`). Then optional roles' leads and all
    supporters, largest share first. With `fill` (where no fairness term makes a position cost), every
    position that still fits is taken last, strongest per hour first: on the national batch's labor
    part that took the plan from 940.6 to 952.7. Where every required role has its lead, every lock
    holds and no lead needs a presence, the plan keeps every labor rule.
    """
    taken = RoundedPositions(batch, candidates)
    per_hour = candidates["strength"].to_numpy(float) / np.maximum(candidates["lead_hours"].to_numpy(float), 1.0)
    order = np.lexsort((-per_hour, -relaxed.lead))  # largest share first, then strongest per hour
    can_lead, required = candidates["can_lead"].to_numpy(bool), candidates["required"].to_numpy(bool)
    for i in locked_rows(batch, candidates):
        taken.lead(i, locked=True)
    ranked = order[can_lead[order] & required[order]]
    options = pd.Series(ranked).groupby(candidates["role_id"].to_numpy()[ranked], sort=True).agg(list)
    unled = [choices for choices in sorted(options, key=len)  # the roles with fewest possible leads first
             if not any(taken.lead(i) for i in choices)]
    taken.options = {taken.role_ids[choices[0]]: choices for choices in options}
    for choices in unled:
        next((i for i in choices if taken.lead_making_room(i, HANDOVER_DEPTH)), None)
    for i in order[(relaxed.lead[order] > ROUNDING_SHARE) & ~required[order]].tolist():
        taken.lead(i)
    for i in np.argsort(-relaxed.support, kind="stable")[:np.count_nonzero(relaxed.support > ROUNDING_SHARE)].tolist():
        taken.support(i)
    if fill:  # the hours left: each lead and supporter more is worth its strength, strongest per hour first
        strongest = np.argsort(-per_hour, kind="stable")
        for i in strongest[can_lead[strongest]].tolist():
            taken.lead(i)
        for i in strongest[candidates["can_support"].to_numpy(bool)[strongest]].tolist():
            taken.support(i)
    return taken.leads, taken.supports


def locked_rows(batch: Batch, candidates: pd.DataFrame) -> list[int]:
    """The candidate rows a role lock makes lead."""
    locks = role_decisions(batch, "lock")[["role_id", "partner_id"]].drop_duplicates()
    rows = candidates[["role_id", "partner_id", "can_lead"]].assign(row=range(len(candidates)))
    locked = rows.merge(locks, on=["role_id", "partner_id"])
    return locked.loc[locked["can_lead"], "row"].tolist()


class RoundedPositions:
    """The positions a rounding has taken so far, and each partner's hours and roles left."""

    def __init__(self, batch: Batch, candidates: pd.DataFrame):
        self.hours_left = capacity_units(batch).to_dict()
        self.roles_left = batch.partners.set_index("partner_id")["max_roles"].astype("float64").fillna(np.inf).to_dict()
        self.supporters = dict(zip(candidates["role_id"], candidates["supporters"]))
        first, second = role_conflict_rows(batch, candidates)
        self.conflicting: dict[int, set[int]] = {}
        for i, j in zip(first.tolist(), second.tolist()):
            self.conflicting.setdefault(i, set()).add(j)
            self.conflicting.setdefault(j, set()).add(i)
        self.role_ids, self.partner_ids = candidates["role_id"].tolist(), candidates["partner_id"].tolist()
        self.lead_hours, self.support_hours = candidates["lead_hours"].tolist(), candidates["support_hours"].tolist()
        self.leads, self.supports = np.zeros(len(candidates), dtype=bool), np.zeros(len(candidates), dtype=bool)
        self.led: dict[str, int] = {}  # role → its lead's row
        self.led_by: dict[str, list[int]] = {}  # partner → the rows it leads
        self.locked: set[int] = set()
        self.supported: dict[str, int] = {}
        self.options: dict[str, list[int]] = {}  # required role → its lead candidates' rows, best first
        self.journal: list[tuple[int, bool]] = []  # (row, lead taken or dropped), to undo a failed hand-over

    def fits(self, i: int, hours: int) -> bool:
        partner = self.partner_ids[i]
        return not (self.leads[i] or self.supports[i] or self.hours_left[partner] < hours
                    or self.roles_left[partner] < 1
                    or any(self.leads[j] or self.supports[j] for j in self.conflicting.get(i, ())))

    def lead(self, i: int, locked: bool = False) -> bool:
        """Make row i its role's lead, if the role has none and the partner has room."""
        if self.role_ids[i] in self.led or not self.fits(i, self.lead_hours[i]):
            return False
        self.set_lead(i, True)
        if locked:
            self.locked.add(i)
        return True

    def set_lead(self, i: int, on: bool, undoing: bool = False) -> None:
        partner, sign = self.partner_ids[i], -1 if on else 1
        self.leads[i] = on
        if on:
            self.led[self.role_ids[i]] = i
            self.led_by.setdefault(partner, []).append(i)
        else:
            del self.led[self.role_ids[i]]
            self.led_by[partner].remove(i)
        self.hours_left[partner] += sign * self.lead_hours[i]
        self.roles_left[partner] += sign
        if not undoing:
            self.journal.append((i, on))

    def undo(self, mark: int) -> None:
        """Take back every lead taken or dropped since the journal was `mark` long."""
        while len(self.journal) > mark:
            i, on = self.journal.pop()
            self.set_lead(i, not on, undoing=True)

    def lead_making_room(self, i: int, depth: int) -> bool:
        """Make row i lead (before any supporter is taken), if need be by handing one of its partner's unlocked
        leads of a required role to another of that role's candidates, who may in turn hand over one of
        its own (`depth` hand-overs at most): the hours a required role left without a lead needs are
        often a partner's that the rounding spent on another role first."""
        if self.lead(i):
            return True
        if depth == 0 or self.role_ids[i] in self.led:
            return False
        mark = len(self.journal)
        for j in list(self.led_by.get(self.partner_ids[i], ())):
            if j in self.locked:
                continue
            self.set_lead(j, False)
            if self.fits(i, self.lead_hours[i]) and any(
                    self.lead_making_room(k, depth - 1) for k in self.options.get(self.role_ids[j], ()) if k != j
            ) and self.lead(i):
                return True
            self.undo(mark)
        return False

    def support(self, i: int) -> bool:
        """Make row i a supporter of its role, if the role has a lead and room for one, and the partner has room."""
        role = self.role_ids[i]
        if role not in self.led or self.supported.get(role, 0) >= self.supporters[role] or not self.fits(
                i, self.support_hours[i]):
            return False
        self.supports[i] = True
        self.supported[role] = self.supported.get(role, 0) + 1
        self.hours_left[self.partner_ids[i]] -= self.support_hours[i]
        self.roles_left[self.partner_ids[i]] -= 1
        return True


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
    locked = np.array(locked_rows(batch, candidates), dtype="int64")
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
