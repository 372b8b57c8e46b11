"""The CP-SAT allocation model: variables for eligible pairs only; rules and terms add themselves.

Scaling, in this one place: CP-SAT needs integers. Quantities are whole units already. The share
of a need that counts as covered is held as an integer in 1/COVERAGE_SCALE; every objective
coefficient is rounded to 1/OBJECTIVE_SCALE of an objective point. So coverage in the model is
exact to 1/COVERAGE_SCALE per need, and the reported objective to 1/OBJECTIVE_SCALE per term.
Shares of needs and offers are held in 1/SHARE_SCALE.
Under policy.reliability = "expected", a need is credited reliability × amount, with reliability
taken to 1/RELIABILITY_SCALE (three decimals).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from ortools.sat.python import cp_model

from matcher.batch import Batch
from matcher.scenario import Scenario

COVERAGE_SCALE = 10_000
OBJECTIVE_SCALE = 100_000_000
RELIABILITY_SCALE = 1_000
SHARE_SCALE = 1_000_000  # shares of a need or an offer, for the fairness, dependence and resilience rules


def scaled(value: float) -> int:
    """An objective coefficient in integer units of 1/OBJECTIVE_SCALE."""
    return round(value * OBJECTIVE_SCALE)


@dataclass
class AllocationModel:
    """A CP-SAT model over the eligible pairs, with handles the rules and terms build on."""

    batch: Batch
    scenario: Scenario
    pairs: pd.DataFrame
    model: cp_model.CpModel = field(default_factory=cp_model.CpModel)
    used: list = field(default_factory=list)
    amount: list = field(default_factory=list)
    terms: dict[str, cp_model.LinearExpr] = field(default_factory=dict)
    _presence: dict[tuple[str, str], cp_model.IntVar] = field(default_factory=dict)
    roles: pd.DataFrame | None = None  # (role, partner) candidates, built by matcher.labor
    lead: dict[int, cp_model.IntVar] = field(default_factory=dict)  # candidate row -> leads the role
    support: dict[int, cp_model.IntVar] = field(default_factory=dict)  # candidate row -> supports the role
    holds_role: dict[str, cp_model.IntVar] = field(default_factory=dict)  # partner -> holds some role
    _by_partner_district: dict[tuple[str, str], list[int]] | None = None
    guards: dict[tuple[str, str], cp_model.IntVar] | None = None  # (group, row label) -> literal; None: no guards

    def guard(self, constraint, group: str, label: str):
        """Make a hard rule switchable for the infeasibility analysis (matcher.infeasibility).

        In a normal solve (`guards` is None) the constraint is returned untouched: no literal is
        added, so the model is exactly what it would be without this call. When the analysis asks for
        guards, each (group, label) gets one literal, shared by every constraint of that rule row, that
        enforces them; the analysis passes the literals to CP-SAT as assumptions.
        """
        if self.guards is None:
            return constraint
        key = (group, label)
        if key not in self.guards:
            self.guards[key] = self.model.new_bool_var(f"guard[{group},{label}]")
        return constraint.only_enforce_if(self.guards[key])

    def pairs_by(self, column: str) -> dict[str, list[int]]:
        """Pair positions grouped by an id column (offer_id, need_id, partner_id…)."""
        return {key: list(index) for key, index in self.pairs.groupby(column, sort=True).indices.items()}

    def sent(self, positions: list[int]) -> cp_model.LinearExpr:
        """What the pairs at these positions carry, in whole units."""
        return sum((self.amount[p] for p in positions), cp_model.LinearExpr.constant(0))

    @property
    def credit_scale(self) -> int:
        """Units of `credited`: one per whole unit, or RELIABILITY_SCALE per unit under expected reliability."""
        return RELIABILITY_SCALE if self.scenario.policy.reliability == "expected" else 1

    def credited(self, positions: list[int]) -> cp_model.LinearExpr:
        """What needs are credited with, in 1/credit_scale units: reliability discounts promises when asked to."""
        if self.credit_scale == 1:
            return self.sent(positions)
        factors = self.pairs["reliability"].to_numpy()
        return sum((round(RELIABILITY_SCALE * factors[p]) * self.amount[p] for p in positions),
                   cp_model.LinearExpr.constant(0))

    def presence(self, partner_id: str, district_id: str) -> cp_model.IntVar | int:
        """1 exactly when the partner sends something to the district (0 if it cannot)."""
        key = (partner_id, district_id)
        if key not in self._presence:
            positions = self.pairs_by_partner_district().get(key, [])
            if not positions:
                return 0
            present = self.model.new_bool_var(f"present[{partner_id},{district_id}]")
            self.model.add_max_equality(present, [self.used[p] for p in positions])
            self._presence[key] = present
        return self._presence[key]

    def districts_by_partner(self) -> dict[str, set[str]]:
        """The districts each partner's pairs reach: the only ones where it can be present."""
        reach: dict[str, set[str]] = {}
        for partner, district in self.pairs_by_partner_district():
            reach.setdefault(partner, set()).add(district)
        return reach

    def pairs_by_partner_district(self) -> dict[tuple[str, str], list[int]]:
        if self._by_partner_district is None:
            self._by_partner_district = {key: list(index) for key, index in self.pairs.groupby(
                ["partner_id", "district_id"], sort=True).indices.items()}
        return self._by_partner_district


def build_model(batch: Batch, pairs: pd.DataFrame, scenario: Scenario, guarded: bool = False,
                role_candidates: pd.DataFrame | None = None) -> AllocationModel:
    """Variables for every eligible pair, then every hard rule, then the weighted objective.

    `guarded` (for matcher.infeasibility only) gives each guarded rule row an enforcement literal.
    `role_candidates` (matcher.labor.role_candidates rows) are used as given; None chooses them here.
    """
    from matcher.labor import add_labor
    from matcher.rules import HARD_RULES
    from matcher.terms import OBJECTIVE_TERMS

    m = AllocationModel(batch, scenario, pairs, guards={} if guarded else None, roles=role_candidates)
    add_pair_variables(m)
    add_labor(m)
    for rule in HARD_RULES:
        rule.apply(m)
    for term in OBJECTIVE_TERMS:
        m.terms[term.name] = term.apply(m)
    m.model.maximize(sum(m.terms.values(), cp_model.LinearExpr.constant(0)))
    return m


def add_pair_variables(m: AllocationModel) -> None:
    """`used` says a pairing happens; `amount` is what the need is credited with.

    An indivisible offer credits all it can (the smaller of offer and need) when used; a divisible
    one any whole amount up to that, and nothing unless used.
    """
    for p, pair in enumerate(m.pairs.itertuples(index=False)):
        used = m.model.new_bool_var(f"used[{pair.offer_id},{pair.need_id}]")
        if pair.divisible:
            amount = m.model.new_int_var(0, int(pair.upper), f"amount[{pair.offer_id},{pair.need_id}]")
            m.model.add(amount <= int(pair.upper) * used)
        else:
            amount = int(pair.upper) * used
        m.used.append(used)
        m.amount.append(amount)


def hint_plan(m: AllocationModel, plan: dict[tuple[str, str], int]) -> None:
    """Start the search from an earlier plan, {(offer_id, need_id): quantity}; pairs it lacks start unused."""
    columns = zip(m.pairs["offer_id"], m.pairs["need_id"], m.pairs["divisible"], m.pairs["upper"])
    indices, values = [], []
    for p, (offer, need, divisible, upper) in enumerate(columns):
        quantity = min(plan.get((offer, need), 0), int(upper))
        indices.append(m.used[p].index)
        values.append(int(quantity > 0))
        if divisible:
            indices.append(m.amount[p].index)
            values.append(quantity)
    add_hints(m.model, indices, values)


def add_hints(model: cp_model.CpModel, indices, values) -> None:
    """Hint the variables at these proto indices, through the proto's own fields: on the state batch's
    44,266 pairs a dozen times as fast as `add_hint` one variable at a time (1.7 s a run)."""
    hint = model.proto.solution_hint
    hint.vars.extend(indices)
    hint.values.extend(values)
