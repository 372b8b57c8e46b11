"""Every input table and column, defined once: types, units, ranges, defaults and meaning.

The reader parses cells with these specs, pandera checks ranges, choices and uniqueness, and the
README's column table is generated from them (`matcher columns`), so the three never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandera.pandas as pa

Kind = Literal["id", "text", "float", "int", "bool", "date", "list", "choice"]

RESOURCES = ("volunteers", "office_space", "money", "expertise")
CANONICAL_UNITS = {"volunteers": "hours", "office_space": "desks", "money": "usd", "expertise": "hours"}
PARTNER_KINDS = ("501c3", "501c4", "pac", "union", "business", "party", "group", "individual")
REACHES = ("home", "adjacent", "radius", "any", "listed")
ANY_SKILL = "any"


@dataclass(frozen=True)
class ColumnSpec:
    """One column: how to parse it, what values it may take and what it means."""

    name: str
    kind: Kind
    description: str
    required: bool = False
    default: Any = None
    unit: str = ""
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    choices: tuple[str, ...] = ()
    unique: bool = False
    references: str | None = None

    def default_text(self) -> str:
        if self.default is None:
            return ""
        if isinstance(self.default, bool):
            return str(self.default).lower()
        return str(self.default)


@dataclass(frozen=True)
class TableSpec:
    """One input file of a batch folder."""

    name: str
    file: str
    description: str
    columns: tuple[ColumnSpec, ...]
    required: bool = True
    key: str | None = None
    checks: tuple[str, ...] = field(default=())

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)


def _id(name: str, description: str, **kw: Any) -> ColumnSpec:
    return ColumnSpec(name, "id", description, **kw)


PARTNERS = TableSpec(
    "partners", "partners.csv", "Coalition members: who they are, where they live, what they can give.",
    (
        _id("partner_id", "Unique partner id.", required=True, unique=True),
        ColumnSpec("name", "text", "Display name (contact data: never logged)."),
        ColumnSpec("kind", "choice", "Legal kind; decides which legal caps apply.", default="group",
                   choices=PARTNER_KINDS),
        _id("home_district", "District the partner is based in.", references="districts"),
        ColumnSpec("reliability", "float", "Share of what it promises that it usually delivers.",
                   default=1.0, ge=0.0, le=1.0),
        ColumnSpec("max_districts", "int", "Most districts it will work in (empty: no limit).", ge=1),
        ColumnSpec("max_roles", "int", "Most roles it will hold (empty: no limit).", ge=0),
        ColumnSpec("role_hours", "float", "Hours a week it can give to roles.", default=0.0, unit="hours/week",
                   ge=0.0),
        ColumnSpec("preferred_districts", "list", "Districts it most wants served (;-list).",
                   references="districts"),
        ColumnSpec("independent", "bool", "Makes independent expenditures: kept apart from every candidate "
                   "campaign's needs and roles.", default=False),
    ),
    key="partner_id",
)

OFFERS = TableSpec(
    "offers", "offers.csv", "What each partner puts on the table.",
    (
        _id("offer_id", "Unique offer id.", required=True, unique=True),
        _id("partner_id", "Partner making the offer.", required=True, references="partners"),
        ColumnSpec("resource", "choice", "Resource kind.", required=True, choices=RESOURCES),
        ColumnSpec("skill", "text", "Skill offered; `any` serves any need of the resource.", default=ANY_SKILL),
        ColumnSpec("quantity", "int", "Amount offered, a whole number of the unit.", required=True, gt=0),
        ColumnSpec("unit", "text", "Must be the resource's canonical unit (empty: canonical).",
                   unit="canonical"),
        ColumnSpec("available_from", "date", "First day it can be used (empty: open)."),
        ColumnSpec("available_to", "date", "Last day it can be used (empty: open)."),
        ColumnSpec("reach", "choice", "Where it can be used.", default="home", choices=REACHES),
        ColumnSpec("radius_km", "float", "Travel radius from the home district, for reach `radius`.",
                   unit="km", ge=0.0),
        ColumnSpec("districts", "list", "Districts it may serve, for reach `listed` (;-list).",
                   references="districts"),
        ColumnSpec("divisible", "bool", "Can be split between needs (empty: false for office_space, else true)."),
        ColumnSpec("min_chunk", "int", "Smallest useful part when split.", default=1, ge=1),
        ColumnSpec("cost_per_unit", "float", "What each unit costs the coalition.", default=0.0, unit="usd",
                   ge=0.0),
        ColumnSpec("inkind_value_per_unit", "float", "In-kind value of each unit for legal caps.", default=0.0,
                   unit="usd", ge=0.0),
    ),
    key="offer_id",
)

NEEDS = TableSpec(
    "needs", "needs.csv", "What each district's campaign lacks.",
    (
        _id("need_id", "Unique need id.", required=True, unique=True),
        _id("district_id", "District with the need.", required=True, references="districts"),
        ColumnSpec("resource", "choice", "Resource kind.", required=True, choices=RESOURCES),
        ColumnSpec("skill", "text", "Skill needed; `any` accepts any offer of the resource.", default=ANY_SKILL),
        ColumnSpec("quantity", "int", "Amount needed, a whole number of the unit.", required=True, gt=0),
        ColumnSpec("unit", "text", "Must be the resource's canonical unit (empty: canonical).",
                   unit="canonical"),
        ColumnSpec("priority", "float", "How much meeting this need matters.", default=1.0, ge=0.0),
        ColumnSpec("floor", "int", "Hard minimum: at least this much or the plan is not viable.", default=0,
                   ge=0),
        ColumnSpec("needed_from", "date", "First day of the need (empty: open)."),
        ColumnSpec("needed_to", "date", "Last day of the need (empty: open)."),
    ),
    key="need_id",
)

DISTRICTS = TableSpec(
    "districts", "districts.csv", "Electoral districts and how to judge travel between them.",
    (
        _id("district_id", "Unique district id.", required=True, unique=True),
        ColumnSpec("name", "text", "Display name."),
        ColumnSpec("region", "text", "Region the district belongs to."),
        ColumnSpec("priority", "float", "How much winning there matters.", default=1.0, ge=0.0),
        ColumnSpec("neighbors", "list", "Adjacent districts (;-list).", references="districts"),
        ColumnSpec("lat", "float", "Latitude of the centre.", unit="degrees", ge=-90.0, le=90.0),
        ColumnSpec("lon", "float", "Longitude of the centre.", unit="degrees", ge=-180.0, le=180.0),
        ColumnSpec("candidate", "text", "Candidate the coalition supports there."),
    ),
    key="district_id",
)

ROLES = TableSpec(
    "roles", "roles.csv", "Defined responsibilities in the division of labor.",
    (
        _id("role_id", "Unique role id.", required=True, unique=True),
        ColumnSpec("name", "text", "Display name."),
        ColumnSpec("skill", "text", "Skill the role calls for.", required=True),
        _id("district_id", "District of the role (empty: campaign-wide).", references="districts"),
        ColumnSpec("hours", "float", "Workload of the role.", required=True, unit="hours/week", ge=0.0),
        ColumnSpec("required", "bool", "Must get a lead.", default=True),
        ColumnSpec("supporters", "int", "How many supporting partners it takes.", default=0, ge=0),
    ),
    required=False,
    key="role_id",
)

CAPABILITIES = TableSpec(
    "capabilities", "capabilities.csv", "How strong each partner is at a skill or a role.",
    (
        _id("partner_id", "Partner.", required=True, references="partners"),
        ColumnSpec("skill", "text", "Skill rated (or empty, with role_id)."),
        _id("role_id", "Role rated (or empty, with skill).", references="roles"),
        ColumnSpec("strength", "float", "Strength from 0 (none) to 10 (best).", required=True, ge=0.0, le=10.0),
        ColumnSpec("hours", "float", "Effort the role costs this partner (empty: the role's hours).",
                   unit="hours/week", ge=0.0),
    ),
    required=False,
)

CONFLICTS = TableSpec(
    "conflicts", "conflicts.csv", "Partners who will not work together.",
    (
        _id("partner_a", "One partner.", required=True, references="partners"),
        _id("partner_b", "The other partner.", required=True, references="partners"),
        ColumnSpec("scope", "choice", "Where they must stay apart.", default="district",
                   choices=("district", "role", "coalition")),
        ColumnSpec("note", "text", "Why (free text)."),
    ),
    required=False,
)

DECISIONS = TableSpec(
    "decisions", "decisions.csv", "Negotiated agreements the solver must respect.",
    (
        ColumnSpec("action", "choice", "`lock` or `forbid`.", required=True, choices=("lock", "forbid")),
        _id("partner_id", "Partner the decision concerns.", references="partners"),
        _id("offer_id", "Offer the decision concerns.", references="offers"),
        _id("need_id", "Need the decision concerns.", references="needs"),
        _id("district_id", "District the decision concerns.", references="districts"),
        _id("role_id", "Role the decision concerns.", references="roles"),
        ColumnSpec("quantity", "int", "For an offer lock: exactly this much.", gt=0),
        ColumnSpec("agreed_by", "text", "Who agreed (carried into the outputs)."),
        ColumnSpec("agreed_on", "date", "When it was agreed."),
        ColumnSpec("note", "text", "What was agreed, in words."),
    ),
    required=False,
)

TABLES: dict[str, TableSpec] = {
    t.name: t for t in (PARTNERS, OFFERS, NEEDS, DISTRICTS, ROLES, CAPABILITIES, CONFLICTS, DECISIONS)
}


def _checks(spec: ColumnSpec) -> list[pa.Check]:
    checks = []
    if spec.ge is not None:
        checks.append(pa.Check.ge(spec.ge, error=f"must be at least {spec.ge:g}"))
    if spec.gt is not None:
        checks.append(pa.Check.gt(spec.gt, error=f"must be more than {spec.gt:g}"))
    if spec.le is not None:
        checks.append(pa.Check.le(spec.le, error=f"must be at most {spec.le:g}"))
    if spec.choices:
        checks.append(pa.Check.isin(spec.choices, error="must be one of: " + ", ".join(spec.choices)))
    return checks


_PANDERA_DTYPES = {"id": None, "text": None, "choice": None, "float": float, "int": "Int64", "bool": object,
                   "date": "datetime64[ns]", "list": object}


def pandera_schema(table: TableSpec) -> pa.DataFrameSchema:
    """The pandera schema of a table after its cells have been parsed and defaults applied."""
    columns = {
        c.name: pa.Column(
            _PANDERA_DTYPES[c.kind],
            checks=_checks(c),
            nullable=not c.required,
            unique=c.unique,
            required=False,
        )
        for c in table.columns
    }
    return pa.DataFrameSchema(columns, strict=False)


def columns_markdown() -> str:
    """The README's table of every input column, generated from the specs above."""
    lines = ["| file | column | type | unit | default | allowed | meaning |", "|---|---|---|---|---|---|---|"]
    for table in TABLES.values():
        for c in table.columns:
            allowed = []
            if c.choices:
                allowed.append(", ".join(f"`{x}`" for x in c.choices))
            if c.ge is not None:
                allowed.append(f"≥ {c.ge:g}")
            if c.gt is not None:
                allowed.append(f"> {c.gt:g}")
            if c.le is not None:
                allowed.append(f"≤ {c.le:g}")
            if c.unique:
                allowed.append("unique")
            if c.references:
                allowed.append(f"a {c.references} id")
            name = f"{c.name}\\*" if c.required else c.name
            file = table.file if table.required else f"{table.file} (optional)"
            lines.append(f"| {file} | {name} | {c.kind} | {c.unit} | {c.default_text()} | {'; '.join(allowed)} "
                         f"| {c.description} |")
    return "\n".join(lines)
