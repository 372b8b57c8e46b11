"""The CP-SAT allocation model: variables for eligible pairs only; rules and terms add themselves.

Scaling, in this one place: CP-SAT needs integers. Quantities are whole units already. The share
of a need that counts as covered is held as an integer in 1/COVERAGE_SCALE; every objective
coefficient is rounded to 1/OBJECTIVE_SCALE of an objective point. So coverage in the model is
exact to 1/COVERAGE_SCALE per need, and the reported objective to 1/OBJECTIVE_SCALE per term.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from ortools.sat.python import cp_model

from matcher.batch import Batch
from matcher.scenario import Scenario

COVERAGE_SCALE = 10_000
OBJECTIVE_SCALE = 100_000_000


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

    def pairs_by(self, column: str) -> dict[str, list[int]]:
        """Pair positions grouped by an id column (offer_id, need_id, partner_id…)."""
        return {key: list(index) for key, index in self.pairs.groupby(column, sort=True).indices.items()}

    def need_amount(self, positions: list[int]) -> cp_model.LinearExpr:
        return sum((self.amount[p] for p in positions), cp_model.LinearExpr.constant(0))


def build_model(batch: Batch, pairs: pd.DataFrame, scenario: Scenario) -> AllocationModel:
    """Variables for every eligible pair, then every hard rule, then the weighted objective."""
    from matcher.rules import HARD_RULES
    from matcher.terms import OBJECTIVE_TERMS

    m = AllocationModel(batch, scenario, pairs)
    add_pair_variables(m)
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
