"""Why a batch has no plan: the smallest set of rules that cannot hold together, and what relaxing one buys.

The rules that people negotiate (hard floors, locks, legal caps, district limits, conflicts, required
roles, hard policies) are built with one enforcement literal per rule row (`AllocationModel.guard`).
CP-SAT, given those literals as assumptions, returns a set of them that is enough for
infeasibility; that set is then shrunk one rule at a time (a rule is dropped when the rest stay
infeasible without it) until no rule can be dropped: an irreducible core. Last, each rule of the
core is relaxed alone, every other rule kept: where that gives a plan, the plan is solved and its
coverage reported, the answer to "which one rule should we renegotiate?".

The fixed rules (offer capacity, whole offers, minimum chunks, need quantities) are never in a core:
they are what the offers physically are.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from ortools.sat.python import cp_model

from matcher.batch import ROW, Batch
from matcher.scenario import Scenario

GROUPS = {  # rule group -> what people call it
    "floor": "hard floor",
    "lock": "negotiated lock",
    "role_lock": "negotiated role lead",
    "legal_cap": "legal contribution cap",
    "district_limit": "partner district limit",
    "conflict": "conflict",
    "role_lead": "required role",
    "benefit": "member-benefit policy",
    "dependence": "dependence-cap policy",
    "resilience": "N-1 resilience policy",
}
CHECK_LIMIT_S = 10.0  # each feasibility check; a check that times out keeps its rule in the core


@dataclass(frozen=True)
class RuleRow:
    """One guarded rule row: its group, its label in the model, where it comes from, and what it says."""

    group: str
    label: str
    file: str | None
    row: int | None
    text: str

    def __str__(self) -> str:
        where = f"{self.file}, row {self.row}: " if self.file and self.row else ""
        return f"{where}{self.text}"

    def to_dict(self) -> dict:
        return {"group": self.group, "label": self.label, "file": self.file, "row": self.row, "text": self.text}


@dataclass
class Relaxation:
    """What the batch would look like with one rule of the core relaxed (every other rule kept)."""

    rule: RuleRow
    status: str
    coverage: float | None = None
    coverage_possible: float | None = None
    unmet_needs: int | None = None
    met: dict[str, str] = field(default_factory=dict)  # resource -> "allocated of needed"

    def __str__(self) -> str:
        if self.coverage is None:
            return f"relaxing {self.rule.text} gives a plan (not solved to the end: {self.status})"
        met = "; ".join(f"{r} {v}" for r, v in self.met.items())
        return (f"relaxing {self.rule.text} gives a plan ({self.status}) with coverage {self.coverage:.3f} "
                f"of {self.coverage_possible:.3f} possible, {self.unmet_needs} needs not fully met ({met})")

    def to_dict(self) -> dict:
        return {"rule": self.rule.to_dict(), "status": self.status, "coverage": self.coverage,
                "coverage_possible": self.coverage_possible, "unmet_needs": self.unmet_needs, "met": self.met}


@dataclass
class Infeasibility:
    """The answer for an infeasible batch; `core` is empty when the fixed rules alone cannot hold."""

    core: list[RuleRow]
    minimal: bool  # False when a check timed out and a rule was kept without proof that it is needed
    relaxations: list[Relaxation]
    feasible: bool = False  # the batch was feasible after all (nothing to explain)

    def __str__(self) -> str:
        if self.feasible:
            return "the batch has a plan: every hard rule can hold"
        if not self.core:
            return ("no plan meets every hard rule, even with every floor, lock, cap, conflict and required role "
                    "set aside: the offers themselves (capacity, whole offers, minimum chunks) cannot be split "
                    "as asked")
        lines = [f"no plan meets every hard rule: these {len(self.core)} rule(s) cannot hold together"
                 + ("" if self.minimal else " (not proven smallest: a check ran out of time)") + ":"]
        lines += [f"  - {rule}" for rule in self.core]
        if self.relaxations:
            lines.append("Relax any one of these and the batch is solvable:")
            lines += [f"  - {relaxation}" for relaxation in self.relaxations]
        else:
            lines.append("No single rule of these, relaxed alone, makes the batch solvable.")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"feasible": self.feasible, "minimal": self.minimal, "core": [r.to_dict() for r in self.core],
                "relaxations": [r.to_dict() for r in self.relaxations]}


def explain_infeasibility(batch: Batch, scenario: Scenario | None = None, relax: bool = True) -> Infeasibility:
    """The irreducible set of rules that cannot hold together, and the single relaxations that give a plan."""
    from matcher.candidates import eligible_pairs
    from matcher.model import build_model

    scenario = scenario or batch.scenario
    pairs = eligible_pairs(batch)
    m = build_model(batch, pairs, scenario, guarded=True)
    keys = sorted(m.guards)
    feasibility = m.model.clone()
    feasibility.clear_objective()
    checker = _Checker(feasibility, m.guards, scenario)

    status, core = checker.check(keys)
    if status == "feasible":
        return Infeasibility(core=[], minimal=True, relaxations=[], feasible=True)
    if status == "infeasible" and not core and keys:
        core = [] if checker.check([])[0] == "infeasible" else keys
    core, minimal = shrink(checker, core or [])
    order = list(GROUPS)
    core = sorted(core, key=lambda key: (order.index(key[0]) if key[0] in order else len(order), key[1]))
    words = RuleWords(batch, scenario)
    rules = [words.describe(group, label) for group, label in core]
    relaxations = []
    if relax:
        for key, rule in zip(core, rules):
            rest = [k for k in keys if k != key]
            if checker.check(rest)[0] == "feasible":
                relaxations.append(relaxed_plan(m, batch, pairs, scenario, rest, rule))
    relaxations.sort(key=lambda r: -(r.coverage if r.coverage is not None else float("-inf")))  # best plan first
    return Infeasibility(core=rules, minimal=minimal, relaxations=relaxations)


class _Checker:
    """Feasibility of the model with a subset of the guards assumed true."""

    def __init__(self, model: cp_model.CpModel, guards: dict, scenario: Scenario):
        self.model, self.guards = model, guards
        self.by_index = {literal.index: key for key, literal in guards.items()}
        self.limit = min(CHECK_LIMIT_S, scenario.solver.time_limit_s)
        self.seed = scenario.solver.seed

    def check(self, keys: list) -> tuple[str, list]:
        """("feasible" | "infeasible" | "unknown", the keys CP-SAT found sufficient for infeasibility)."""
        self.model.clear_assumptions()
        self.model.add_assumptions([self.guards[k] for k in keys])
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1  # cores come from the single-worker search
        solver.parameters.max_time_in_seconds = self.limit
        solver.parameters.random_seed = self.seed
        code = solver.solve(self.model)
        if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return "feasible", []
        if code == cp_model.INFEASIBLE:
            found = [self.by_index[i] for i in solver.sufficient_assumptions_for_infeasibility()
                     if i in self.by_index]
            return "infeasible", sorted(found)
        return "unknown", []


def shrink(checker: _Checker, core: list) -> tuple[list, bool]:
    """Drop rules from the core while the rest stay infeasible; (the core left, proven irreducible)."""
    core, minimal = sorted(core), True
    for key in list(core):
        if key not in core:
            continue
        trial = [k for k in core if k != key]
        status, smaller = checker.check(trial)
        if status == "infeasible":
            core = smaller if smaller and set(smaller) <= set(trial) else trial
        elif status == "unknown":
            minimal = False
    return core, minimal


def relaxed_plan(m, batch: Batch, pairs: pd.DataFrame, scenario: Scenario, keys: list, rule: RuleRow) -> Relaxation:
    """Solve the whole objective with every guard but one held, and summarise the plan it gives."""
    from matcher.labor import chosen_positions
    from matcher.outputs import build_tables
    from matcher.schema import RESOURCES
    from matcher.solve import classify

    m.model.clear_assumptions()
    m.model.add_assumptions([m.guards[k] for k in keys])
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = max(1, scenario.solver.workers)
    solver.parameters.max_time_in_seconds = min(CHECK_LIMIT_S, scenario.solver.time_limit_s)
    solver.parameters.random_seed = scenario.solver.seed
    status = classify(solver.solve(m.model), solver)
    if not status.has_plan:
        return Relaxation(rule=rule, status=status.value)
    amounts = [int(solver.value(a)) for a in m.amount]
    tables = build_tables(batch, pairs, amounts, scenario, positions=chosen_positions(m, solver))
    districts = tables["districts_summary"]
    met = {r: f"{districts[f'allocated_{r}'].sum():,} of {districts[f'needed_{r}'].sum():,}"
           for r in RESOURCES if districts[f"needed_{r}"].sum()}
    return Relaxation(rule=rule, status=status.value, coverage=float(districts["coverage"].sum()),
                      coverage_possible=float(districts["coverage_possible"].sum()),
                      unmet_needs=len(tables["unmet"]), met=met)


class RuleWords:
    """Each guarded rule row in words that name the rows, as a field director reads them."""

    def __init__(self, batch: Batch, scenario: Scenario):
        self.batch, self.scenario = batch, scenario
        self.partners = batch.partners.set_index("partner_id")
        self.needs = batch.needs.set_index("need_id")
        self.districts = batch.districts.set_index("district_id")

    def partner(self, partner_id: str) -> str:
        """By id only: a partner's name is a contact field, never echoed in messages (matcher.safety)."""
        return partner_id

    def district(self, district_id: str) -> str:
        name = self.districts.at[district_id, "name"] if district_id in self.districts.index else None
        return f"{name} ({district_id})" if isinstance(name, str) and name else district_id

    def describe(self, group: str, label: str) -> RuleRow:
        method = getattr(self, f"_{group}", None)
        if method is None:
            return RuleRow(group, label, None, None, f"{GROUPS.get(group, group)} {label}")
        return method(label)

    def _floor(self, need_id: str) -> RuleRow:
        need = self.needs.loc[need_id]
        skill = "" if need["skill"] == "any" else f" {need['skill']}"
        place = self.district(need["district_id"])
        return RuleRow("floor", need_id, "needs.csv", int(need[ROW]),
                       f"hard floor: need {need_id} ({need['resource']}{skill} in {place}) must get at least "
                       f"{int(need['floor']):,} {need['unit']}")

    def _decision(self, row: str) -> pd.Series:
        decisions = self.batch.decisions
        return decisions[decisions[ROW] == int(row)].iloc[0]

    def _lock(self, row: str) -> RuleRow:
        d = self._decision(row)
        parts = [f"{key.removesuffix('_id')} {d[key]}" for key in ("offer_id", "partner_id", "need_id", "district_id")
                 if not pd.isna(d[key])]
        amount = "" if pd.isna(d["quantity"]) else f", exactly {int(d['quantity']):,}"
        return RuleRow("lock", row, "decisions.csv", int(row), f"lock: {' to '.join(parts)}{amount}")

    def _role_lock(self, row: str) -> RuleRow:
        d = self._decision(row)
        return RuleRow("role_lock", row, "decisions.csv", int(row),
                       f"lock: {self.partner(d['partner_id'])} leads role {d['role_id']}")

    def _conflict(self, row: str) -> RuleRow:
        conflicts = self.batch.conflicts
        c = conflicts[conflicts[ROW] == int(row)].iloc[0]
        return RuleRow("conflict", row, "conflicts.csv", int(row),
                       f"conflict: {self.partner(c['partner_a'])} and {self.partner(c['partner_b'])} never work in "
                       "the same district")

    def _district_limit(self, partner_id: str) -> RuleRow:
        p = self.partners.loc[partner_id]
        return RuleRow("district_limit", partner_id, "partners.csv", int(p[ROW]),
                       f"district limit: {self.partner(partner_id)} works in at most {int(p['max_districts'])} "
                       "district(s)")

    def _legal_cap(self, label: str) -> RuleRow:
        partner_id, candidate = label.split("|", 1)
        kind = self.partners.at[partner_id, "kind"]
        cap = self.scenario.legal.caps_usd.get(kind)
        return RuleRow("legal_cap", label, None, None,
                       f"legal cap: {self.partner(partner_id)}, a {kind}, may give candidate {candidate} at most "
                       f"${cap:,.0f} in money and in-kind value (legal.caps_usd.{kind})")

    def _role_lead(self, role_id: str) -> RuleRow:
        roles = self.batch.roles.set_index("role_id")
        r = roles.loc[role_id]
        name = f" ({r['name']})" if isinstance(r.get("name"), str) else ""
        return RuleRow("role_lead", role_id, "roles.csv", int(r[ROW]),
                       f"required role: {role_id}{name} must have a lead")

    def _benefit(self, partner_id: str) -> RuleRow:
        return RuleRow("benefit", partner_id, None, None,
                       f"policy.min_benefit = \"hard\": {self.partner(partner_id)} must serve a preferred district "
                       "or hold a role")

    def _dependence(self, label: str) -> RuleRow:
        need_id, partner_id = label.split("|", 1)
        return RuleRow("dependence", label, None, None,
                       f"policy.dependence = \"hard\": need {need_id} gets at most "
                       f"{self.scenario.policy.dependence_cap:.0%} of its allocation from {self.partner(partner_id)}")

    def _resilience(self, label: str) -> RuleRow:
        district_id, partner_id = label.split("|", 1)
        return RuleRow("resilience", label, None, None,
                       f"policy.resilience = \"hard\": {self.district(district_id)} keeps "
                       f"{self.scenario.policy.resilience_share:.0%} of its coverage if {self.partner(partner_id)} "
                       "leaves")
