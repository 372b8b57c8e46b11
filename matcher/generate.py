"""Synthetic batches at any scale (city, state, national) from a seed, with the structure of real coalitions.

`generate(size, seed, **overrides)` returns the input tables; `generate_batch(folder, size, seed)` writes
them with a scenario.toml. Everything is drawn from one `numpy.random.default_rng(seed)`, vectorised
(never a loop over offers × needs), so the same seed gives the same bytes.

How the structure is made (the rates are the constants below):

- Geography: districts are split into regions (about sqrt(districts / 8) of them, sizes varying),
  each region a grid of districts 0.1° apart around a centre spread over a US-like box; `neighbors`
  are the 4 grid neighbours inside the region, listed both ways.
- Candidates stand in about 70% of districts; about 10% of them also run in the next district east
  (a multi-district seat), so legal caps are shared across districts.
- Partners: kinds mixed (groups, individuals, unions, businesses, 501(c)(3)s, 501(c)(4)s, PACs,
  parties; a fifth of the PACs are independent-expenditure only). Home districts cluster: within a
  region, district k in a random order weighs 1 / k^1.1 (Zipf-like hubs). Reliability is Beta(5, 1.8)
  clipped to [0.4, 1] (individuals Beta(8, 1.5)): plans should expect no-shows.
- Offers: how many per partner is heavy-tailed (lognormal partner sizes); quantities are lognormal.
  Volunteers and offices are local (home, adjacent, a few within a short radius); money and
  expertise reach further (20% adjacent, 35% listed districts of the region, 15% a 60–250 km
  radius, 1% `any`, only from big organisations). Wide reach is capped in absolute numbers (at
  most MAX_ANY_REACH `any` and MAX_RADIUS_REACH radius offers: a national coalition's wide offers
  come from a few national organisations), which keeps eligible pairs growing about linearly.
- Needs: every district has some, the rest 70% by district priority, 30% where partners live;
  quantities are scaled per region and resource so that demand is about 1.5× supply for
  volunteers, 1.4× for expertise, 1.3× for offices (at most 12 desks a need) and 1.0× for money.
- Roles: per district field (canvassing), phone bank and events leads (2–10 hours, 0–2
  supporters), plus campaign-wide legal, data, comms, fundraising and digital roles (per region
  when there are several regions).
- Conflicts: about 1 per 100 partners, within a region; scope 70% district, 20% role, 10% coalition.
- Decisions: about 1 lock per 500 offers (at least one; half with an agreed quantity) and 1 forbid
  (a money offer kept out of a district of its region) per 500 offers (at least one).

Feasibility, by construction, for every hard rule of matcher:

- Every required role has a designated lead: a partner with a skill rating > 0 for the role's
  skill (for a district role, one based in the district or next door, as matcher's candidates
  are), whose guaranteed role hours (the sum over the roles it is designated for) fit its
  `role_hours` and whose count fits `max_roles`. A role no partner can be guaranteed for is
  marked optional. Role-specific capability rows are only added for other partners.
- A lock binds a volunteers offer with reach `home`, no window and no in-kind value, from a
  partner in no conflict, not independent and not of a barred kind (501(c)(3)), to a need in its
  home district with a matching skill, no window and room for the offer's minimum chunk (or the
  locked quantity). Each offer and each need is locked at most once.
- Floors (about 1 per 40 needs) are set only on volunteers needs that a distinct offer of the same
  kind as a lock's (home reach, no window, such a partner, not locked) can cover alone: the floor is
  at most 35% of that offer (so it holds at any reliability ≥ 0.4, the lowest generated) and half the
  need, and never below the offer's minimum chunk. Locked needs carry no floor.
- Forbids name money offers only, never a locked or floor-covering offer; every other limit, cap
  and conflict is an upper bound that an empty plan meets. The scenario's policies (benefit,
  dependence, resilience) stay off; switching them to "hard" voids this guarantee.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.errors import OutputError

VOLUNTEER_SKILLS = ("canvassing", "phone_banking", "events")
EXPERT_SKILLS = ("data", "legal", "comms", "fundraising", "digital")
SKILLS = VOLUNTEER_SKILLS + EXPERT_SKILLS
RESOURCES = ("volunteers", "office_space", "money", "expertise")
KINDS = ("group", "individual", "union", "business", "501c3", "501c4", "pac", "party")
KIND_SHARES = (0.28, 0.25, 0.08, 0.10, 0.12, 0.08, 0.07, 0.02)
INDEPENDENT_PAC_SHARE = 0.2
CANDIDATE_SHARE = 0.7
MULTI_DISTRICT_SHARE = 0.1
GRID_STEP_DEG = 0.1
US_BOX = ((30.0, 47.0), (-120.0, -76.0))  # (lat range, lon range) over which region centres are spread
ZIPF_EXPONENT = 1.1
DEMAND_OVER_SUPPLY = {"volunteers": 1.5, "office_space": 1.3, "money": 1.0, "expertise": 1.4}
CONFLICTS_PER_PARTNER = 1 / 100
LOCKS_PER_OFFER = 1 / 500
FORBIDS_PER_OFFER = 1 / 500
FLOORS_PER_NEED = 1 / 40
FLOOR_SHARE_OF_OFFER = 0.35  # below the lowest reliability generated (0.4): a floor holds under "expected" too
MAX_ANY_REACH = 20  # offers that reach every district
MAX_RADIUS_REACH = 400  # offers with a travel radius
ELECTION_DAY = "2026-11-03"

# Resource mix of offers, by partner kind (volunteers, office_space, money, expertise).
RESOURCE_MIX = {
    "group": (0.70, 0.08, 0.10, 0.12), "individual": (0.45, 0.02, 0.30, 0.23),
    "union": (0.60, 0.12, 0.20, 0.08), "business": (0.10, 0.25, 0.40, 0.25),
    "501c3": (0.65, 0.20, 0.0, 0.15), "501c4": (0.55, 0.10, 0.15, 0.20),
    "pac": (0.05, 0.0, 0.90, 0.05), "party": (0.35, 0.20, 0.35, 0.10),
}
# Skill ratings, by partner kind, over SKILLS.
SKILL_MIX = {
    "group": (0.30, 0.20, 0.20, 0.05, 0.02, 0.08, 0.05, 0.10), "individual": (0.10, 0.08, 0.07, 0.15, 0.20, 0.15,
                                                                              0.15, 0.10),
    "union": (0.35, 0.25, 0.15, 0.05, 0.05, 0.05, 0.05, 0.05), "business": (0.02, 0.03, 0.15, 0.20, 0.05, 0.10,
                                                                            0.25, 0.20),
    "501c3": (0.15, 0.15, 0.30, 0.15, 0.05, 0.10, 0.05, 0.05), "501c4": (0.20, 0.20, 0.10, 0.15, 0.05, 0.10,
                                                                         0.05, 0.15),
    "pac": (0.02, 0.03, 0.05, 0.10, 0.05, 0.15, 0.50, 0.10), "party": (0.20, 0.15, 0.10, 0.15, 0.05, 0.10,
                                                                       0.15, 0.10),
}
OFFICES = ("State House", "State Senate", "City Council", "County Board", "School Board", "Congress")
REGION_NAMES = ("Riverbend", "Cedar", "Prairie", "Granite", "Willow", "Harbor", "Mesa", "Pinecrest", "Lakeshore",
                "Red Rock", "Bluegrass", "Iron Range", "Sandhill", "Clearwater", "Timber", "Copper")
SURNAMES = ("Okafor", "Lindqvist", "Brennan", "Nguyen", "Alvarez", "Haddad", "Kowalski", "Mbeki", "Reyes",
            "Sorensen", "Castellanos", "Park", "Whitfield", "Okoro", "Ibarra", "Novak", "Tanaka", "Osei",
            "Fischer", "Moreau", "Patel", "Kim", "Johansson", "Adeyemi", "Romero", "Walsh", "Yilmaz", "Chen")
FIRST_NAMES = ("Ruth", "Samuel", "Linda", "Jordan", "Amara", "Diego", "Grace", "Tomas", "Priya", "Marcus",
               "Elena", "Kwame", "Hana", "Omar", "Lucia", "Wei", "Nadia", "Felix", "Imani", "Pavel")
ORG_WORDS = {
    "group": ("Neighbors for Change", "Mutual Aid", "Parents Network", "Youth Organizers", "Tenants Association",
              "Faith Coalition", "Seniors Club"),
    "union": ("Nurses Union Local", "Teachers Federation Local", "Building Trades Council", "Transit Workers Local",
              "Service Employees Local"),
    "business": ("Merchants Association", "Co-op Grocery", "Analytics LLC", "Print Shop", "Business Network"),
    "501c3": ("Library Foundation", "Civic Education Fund", "Community Foundation", "Literacy Project"),
    "501c4": ("Democracy Alliance", "Action Fund", "Immigrant Rights Coalition", "Green Action"),
    "pac": ("Progressive PAC", "Young Professionals PAC", "Working Families PAC", "Forward PAC"),
    "party": ("County Party", "Independent Party", "Labor Party"),
}
CONFLICT_NOTES = ("Opposite sides of a development fight", "Public dispute over an endorsement",
                  "Disagree on the pipeline expansion", "Leadership split last cycle")
ROLE_TITLES = {"canvassing": "Field lead", "phone_banking": "Phone bank lead", "events": "Events lead",
               "legal": "Legal counsel", "data": "Data director", "comms": "Communications lead",
               "fundraising": "Fundraising chair", "digital": "Digital organizing lead"}


@dataclass(frozen=True)
class Size:
    """How big a generated batch is, and how long the solver may take on it."""

    districts: int
    partners: int
    offers: int
    needs: int
    roles: int
    time_limit_s: float
    relative_gap: float


SIZES = {
    "city": Size(30, 60, 250, 120, 50, 30.0, 0.0),
    "state": Size(250, 1_000, 5_000, 1_800, 600, 120.0, 0.005),
    "national": Size(7_400, 20_000, 100_000, 30_000, 10_000, 600.0, 0.005),
}
COUNTS = ("districts", "partners", "offers", "needs", "roles")
TABLE_ORDER = ("partners", "offers", "needs", "districts", "roles", "capabilities", "conflicts", "decisions")


def size_of(size: str = "city", **overrides: int | None) -> Size:
    """The named size with any counts overridden (None leaves a count as it is)."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; sizes: {', '.join(SIZES)}")
    unknown = set(overrides) - set(COUNTS)
    if unknown:
        raise ValueError(f"unknown override(s) {', '.join(sorted(unknown))}; overrides: {', '.join(COUNTS)}")
    chosen = {k: int(v) for k, v in overrides.items() if v is not None}
    for name, value in chosen.items():
        if value < (0 if name == "roles" else 1):
            raise ValueError(f"{name} must be at least {0 if name == 'roles' else 1}, not {value}")
    return replace(SIZES[size], **chosen)


def generate(size: str = "city", seed: int = 0, **overrides: int | None) -> dict[str, pd.DataFrame]:
    """Every input table of a synthetic batch (as text-ready DataFrames), the same for the same arguments."""
    spec = size_of(size, **overrides)
    rng = np.random.default_rng(seed)
    geo = _districts(rng, spec.districts)
    partners = _partners(rng, spec.partners, geo)
    capabilities = _skill_ratings(rng, partners)
    offers = _offers(rng, spec.offers, partners, geo)
    needs = _needs(rng, spec.needs, geo, offers, partners)
    roles, lead_ratings = _roles(rng, spec.roles, geo, partners, capabilities)
    conflicts = _conflicts(rng, partners, geo)
    decisions = _decisions(rng, offers, needs, partners, conflicts, geo)
    return {
        "partners": _partners_table(partners, geo),
        "offers": _offers_table(offers, partners, geo),
        "needs": _needs_table(needs, geo),
        "districts": _districts_table(geo),
        "roles": roles,
        "capabilities": _capabilities_table(capabilities, lead_ratings, partners),
        "conflicts": conflicts,
        "decisions": decisions,
    }


def scenario_toml(size: str = "city", seed: int = 0, **overrides: int | None) -> str:
    """The scenario.toml of a generated batch: solver limits for its size, decomposable weights."""
    spec = size_of(size, **overrides)
    return f"""\
# Synthetic {size} batch: `matcher generate --size {size} --seed {seed}`.

[weights]
# The offer-fairness term bounds every partner's share of its offers by one shared maximum, which
# couples all partners in one model and would stop the batch from being solved part by part.
fairness = 0.0

[labor]
fairness = 0.0   # likewise: the workload ratio is one maximum over every partner with role hours

[legal]
# A state-like table, not the federal one: like about 29 states, this one lets corporations and
# unions give, with limits near the 2023-24 state-house averages. 501(c)(3)s may not give to any
# candidate (their members may still volunteer their own time).
caps_usd = {{ individual = 2700, pac = 5000, union = 2500, business = 2500, "501c4" = 2500, party = 10000 }}
no_candidate_support = ["501c3"]

[solver]
time_limit_s = {spec.time_limit_s:g}
relative_gap = {spec.relative_gap:g}
seed = {seed}
# Reproducible (interleaved) search is much weaker on large models; batches this size search in parallel.
deterministic = {"true" if spec.relative_gap == 0 else "false"}
"""


def write_generated(folder: str | Path, tables: dict[str, pd.DataFrame], scenario_text: str,
                    overwrite: bool = False) -> Path:
    """Write the tables as a batch folder (CSV, UTF-8, "\\n" line ends) plus scenario.toml.

    The files are written to a temporary folder beside the target, then moved into place. A folder
    that exists and is not empty is replaced only with `overwrite`.
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not overwrite)):
        raise OutputError(f"{folder} already exists and is not empty; choose another folder, "
                          "or overwrite it (--overwrite)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name in TABLE_ORDER:
            tables[name].to_csv(staging / f"{name}.csv", index=False, lineterminator="\n")
        (staging / "scenario.toml").write_text(scenario_text, encoding="utf-8", newline="\n")
        if folder.exists():
            for path in staging.iterdir():
                os.replace(path, folder / path.name)
        else:
            os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def generate_batch(folder: str | Path, size: str = "city", seed: int = 0, overwrite: bool = False,
                   **overrides: int | None) -> Path:
    """Generate a batch and write it to `folder`; returns the folder."""
    tables = generate(size, seed, **overrides)
    return write_generated(folder, tables, scenario_toml(size, seed, **overrides), overwrite=overwrite)


# Geography --------------------------------------------------------------------------------------------------


@dataclass
class Geo:
    """Districts as arrays: region, grid position, coordinates, neighbours, candidates."""

    ids: np.ndarray
    region: np.ndarray
    region_names: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    edges: np.ndarray  # (k, 2) undirected grid edges, each once
    east: np.ndarray  # index of the district to the east, or -1
    priority: np.ndarray
    candidate: np.ndarray  # object: name or None
    number: np.ndarray  # 1-based number of the district within its region

    @property
    def n(self) -> int:
        return len(self.ids)

    def neighbours(self) -> pd.DataFrame:
        """(district, neighbour) index pairs, both directions."""
        a, b = self.edges[:, 0], self.edges[:, 1]
        return pd.DataFrame({"d": np.concatenate([a, b]), "nb": np.concatenate([b, a])})


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(3, len(str(n)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def _region_name(r: int) -> str:
    base = REGION_NAMES[r % len(REGION_NAMES)]
    return f"{base} County" if r < len(REGION_NAMES) else f"{base} {r // len(REGION_NAMES) + 1} County"


def _districts(rng: np.random.Generator, n: int) -> Geo:
    regions = max(1, min(n, round(math.sqrt(n / 8))))
    sizes = 1 + rng.multinomial(n - regions, rng.dirichlet(np.full(regions, 4.0)))
    region = np.repeat(np.arange(regions), sizes)
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    local = np.arange(n) - start[region]
    cols = np.ceil(np.sqrt(sizes)).astype(int)[region]
    row, col = local // cols, local % cols
    size = sizes[region]
    east = np.where((col < cols - 1) & (local + 1 < size), np.arange(n) + 1, -1)
    south = np.where(local + cols < size, np.arange(n) + cols, -1)
    edges = np.concatenate([np.column_stack([np.flatnonzero(east >= 0), east[east >= 0]]),
                            np.column_stack([np.flatnonzero(south >= 0), south[south >= 0]])])
    # Region centres: a jittered grid of cells over the box, one region per cell.
    (lat0, lat1), (lon0, lon1) = US_BOX
    grid_rows = max(1, round(math.sqrt(regions * (lat1 - lat0) / (lon1 - lon0))))
    grid_cols = math.ceil(regions / grid_rows)
    cells = rng.permutation(grid_rows * grid_cols)[:regions]
    cell_lat, cell_lon = (lat1 - lat0) / grid_rows, (lon1 - lon0) / grid_cols
    centre_lat = lat0 + (cells // grid_cols + 0.5 + rng.uniform(-0.25, 0.25, regions)) * cell_lat
    centre_lon = lon0 + (cells % grid_cols + 0.5 + rng.uniform(-0.25, 0.25, regions)) * cell_lon
    rows_in_region = np.ceil(sizes / np.ceil(np.sqrt(sizes)))[region]
    lat = centre_lat[region] - (row - rows_in_region / 2) * GRID_STEP_DEG + rng.normal(0, 0.01, n)
    lon = centre_lon[region] + (col - cols / 2) * GRID_STEP_DEG + rng.normal(0, 0.01, n)
    names = np.array([_region_name(r) for r in range(regions)], dtype=object)
    priority = rng.choice([0.5, 1.0, 1.5, 2.0, 3.0], size=n, p=[0.15, 0.45, 0.2, 0.12, 0.08])
    has_candidate = rng.random(n) < CANDIDATE_SHARE
    offices = rng.integers(0, len(OFFICES), n)
    candidate = np.array([f"{SURNAMES[i % len(SURNAMES)]} ({OFFICES[offices[i]]} {i + 1})" if has_candidate[i]
                          else None for i in range(n)], dtype=object)
    multi = has_candidate & (east >= 0) & (rng.random(n) < MULTI_DISTRICT_SHARE)
    multi &= has_candidate[np.maximum(east, 0)]
    candidate[east[multi]] = candidate[multi]
    return Geo(_ids("D", n), region, names, np.round(lat, 4), np.round(lon, 4), edges, east, priority, candidate,
               local + 1)


def _districts_table(geo: Geo) -> pd.DataFrame:
    nb = geo.neighbours().sort_values(["d", "nb"])
    lists = nb.assign(id=geo.ids[nb["nb"].to_numpy()]).groupby("d")["id"].agg(";".join)
    neighbors = pd.Series(lists.reindex(range(geo.n)).to_numpy(), dtype=object)
    return pd.DataFrame({
        "district_id": geo.ids,
        "name": [f"{geo.region_names[r]} {k}" for r, k in zip(geo.region, geo.number)],
        "region": geo.region_names[geo.region],
        "priority": geo.priority,
        "neighbors": neighbors.where(neighbors.notna(), None),
        "lat": geo.lat,
        "lon": geo.lon,
        "candidate": geo.candidate,
    })


# Partners -----------------------------------------------------------------------------------------------------


def _partners(rng: np.random.Generator, n: int, geo: Geo) -> pd.DataFrame:
    kind = rng.choice(len(KINDS), size=n, p=KIND_SHARES)
    kinds = np.array(KINDS, dtype=object)[kind]
    independent = (kinds == "pac") & (rng.random(n) < INDEPENDENT_PAC_SHARE)
    # Hubs: within each region a random order of districts weighs 1 / rank^s; regions weigh by size.
    order = rng.permutation(geo.n)
    rank = pd.Series(geo.region[order]).groupby(geo.region[order]).cumcount().to_numpy() + 1
    weight = np.empty(geo.n)
    weight[order] = rank.astype(float) ** -ZIPF_EXPONENT
    region_total = np.bincount(geo.region, weights=weight)
    region_size = np.bincount(geo.region)
    weight = weight / region_total[geo.region] * region_size[geo.region]
    home = rng.choice(geo.n, size=n, p=weight / weight.sum())
    reliability = np.where(kinds == "individual", rng.beta(8, 1.5, n), rng.beta(5, 1.8, n))
    reliability = np.round(np.clip(reliability, 0.4, 1.0), 2)
    local = np.isin(kinds, ["group", "individual"])
    max_districts = np.where(local, rng.integers(1, 4, n), rng.integers(2, 7, n)).astype(float)
    max_districts[~local & (rng.random(n) < 0.4)] = np.nan
    takes_roles = ~independent & (rng.random(n) < np.where(kinds == "business", 0.3, 0.55))
    role_hours = np.where(takes_roles, rng.choice([2, 4, 6, 8, 10, 12, 16, 20], size=n), 0).astype(float)
    max_roles = np.where(takes_roles & (rng.random(n) < 0.6), rng.integers(1, 4, n), -1).astype(float)
    max_roles[max_roles < 0] = np.nan
    size = rng.lognormal(0.0, 1.0, n)  # how much a partner puts on the table, relative
    return pd.DataFrame({"kind": kinds, "independent": independent, "home": home, "region": geo.region[home],
                         "reliability": reliability, "max_districts": max_districts, "max_roles": max_roles,
                         "role_hours": role_hours, "size": size, "prefers": rng.random(n) < 0.6})


def _partners_table(partners: pd.DataFrame, geo: Geo) -> pd.DataFrame:
    n = len(partners)
    ids = _ids("P", n)
    nb = geo.neighbours()
    first = nb.drop_duplicates("d").set_index("d")["nb"]  # one neighbour of each district (lowest edge first)
    home = partners["home"].to_numpy()
    second = first.reindex(home).to_numpy()
    preferred = [(geo.ids[h] + (f";{geo.ids[int(s)]}" if not np.isnan(s) and i % 2 else "")) if p else None
                 for i, (h, s, p) in enumerate(zip(home, second, partners["prefers"]))]
    return pd.DataFrame({
        "partner_id": ids,
        "name": _partner_names(partners, geo),
        "kind": partners["kind"].to_numpy(),
        "home_district": geo.ids[home],
        "reliability": partners["reliability"].to_numpy(),
        "max_districts": pd.array(partners["max_districts"], dtype="Int64"),
        "max_roles": pd.array(partners["max_roles"], dtype="Int64"),
        "role_hours": partners["role_hours"].to_numpy(),
        "preferred_districts": preferred,
        "independent": np.where(partners["independent"], "true", "false"),
    })


def _partner_names(partners: pd.DataFrame, geo: Geo) -> list[str]:
    names = []
    for i, (kind, region) in enumerate(zip(partners["kind"], partners["region"])):
        if kind == "individual":
            names.append(f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {SURNAMES[(i // len(FIRST_NAMES)) % len(SURNAMES)]}")
        else:
            words = ORG_WORDS[kind]
            place = geo.region_names[region].removesuffix(" County")
            names.append(f"{place} {words[i % len(words)]} {i + 1}")
    return names


def _skill_ratings(rng: np.random.Generator, partners: pd.DataFrame) -> pd.DataFrame:
    """(partner, skill, strength): one to three skills each, by kind; independents are rated for none."""
    n = len(partners)
    count = rng.integers(1, 4, n)
    who = np.repeat(np.arange(n), count)
    cumulative = np.cumsum(np.array([SKILL_MIX[k] for k in partners["kind"]]), axis=1)
    cumulative /= cumulative[:, -1:]
    skill = (rng.random(len(who))[:, None] > cumulative[who]).sum(axis=1)
    strength = np.clip(np.round(rng.beta(4, 2.5, len(who)) * 10), 1, 10)
    ratings = pd.DataFrame({"partner": who, "skill": np.array(SKILLS, dtype=object)[skill], "strength": strength})
    ratings = ratings[~partners["independent"].to_numpy()[who]]
    return ratings.drop_duplicates(["partner", "skill"]).reset_index(drop=True)


# Offers -------------------------------------------------------------------------------------------------------


def _offers(rng: np.random.Generator, n: int, partners: pd.DataFrame, geo: Geo) -> pd.DataFrame:
    p = len(partners)
    owner = rng.permutation(p)[: min(n, p)]
    size = partners["size"].to_numpy()
    owner = np.sort(np.concatenate([owner, rng.choice(p, size=n - len(owner), p=size / size.sum())]))
    kinds = partners["kind"].to_numpy()[owner]
    cumulative = np.cumsum(np.array([RESOURCE_MIX[k] for k in kinds]), axis=1)
    resource = (rng.random(n)[:, None] > cumulative / cumulative[:, -1:]).sum(axis=1)
    resource[partners["independent"].to_numpy()[owner]] = RESOURCES.index("money")
    res = np.array(RESOURCES, dtype=object)[resource]
    vol, office, money, expert = (res == r for r in RESOURCES)

    skill = np.full(n, "any", dtype=object)
    skill[vol] = rng.choice(VOLUNTEER_SKILLS + ("any",), size=vol.sum(), p=[0.45, 0.25, 0.10, 0.20])
    skill[expert] = rng.choice(EXPERT_SKILLS, size=expert.sum())

    quantity = np.ones(n)
    quantity[vol] = np.clip(rng.lognormal(math.log(60), 0.9, vol.sum()), 8, 3000)
    quantity[office] = np.clip(np.round(rng.lognormal(math.log(2.5), 0.5, office.sum())), 1, 20)
    quantity[money] = np.clip(np.round(rng.lognormal(math.log(2000), 1.0, money.sum()) / 50) * 50, 100, 250_000)
    quantity[expert] = np.clip(rng.lognormal(math.log(20), 0.6, expert.sum()), 2, 200)
    quantity = np.round(quantity).astype(np.int64)

    min_chunk = np.ones(n, dtype=np.int64)
    min_chunk[vol] = rng.choice([2, 3, 4], size=vol.sum())
    min_chunk[money] = np.where(quantity[money] >= 1000, 250, 50)
    min_chunk[expert] = rng.choice([1, 2, 5], size=expert.sum())
    min_chunk = np.minimum(min_chunk, quantity)

    windowed = (vol | office) & (rng.random(n) < 0.5)
    start = pd.Timestamp("2026-09-01") + pd.to_timedelta(rng.integers(0, 35, n), unit="D")
    end = pd.Timestamp(ELECTION_DAY) - pd.to_timedelta(np.where(rng.random(n) < 0.7, 0, rng.integers(1, 20, n)),
                                                       unit="D")
    available_from = np.where(windowed, start.strftime("%Y-%m-%d"), None)
    available_to = np.where(windowed, end.strftime("%Y-%m-%d"), None)

    reach = _reach(rng, res, kinds)
    radius_km = np.full(n, np.nan)
    near = (reach == "radius") & (vol | office)
    radius_km[near] = rng.integers(10, 26, near.sum())
    far = (reach == "radius") & ~(vol | office)
    radius_km[far] = rng.integers(60, 251, far.sum())

    cost = np.zeros(n)
    paid = expert & (kinds == "business") & (rng.random(n) < 0.3)
    cost[paid] = rng.integers(40, 151, paid.sum())
    inkind = np.zeros(n)
    inkind[office] = rng.integers(6, 15, office.sum()) * 25
    staff = expert & ~paid & (kinds != "individual")
    inkind[staff] = rng.integers(12, 31, staff.sum()) * 5
    staffed = vol & np.isin(kinds, ["union", "business"]) & (rng.random(n) < 0.05)
    inkind[staffed] = rng.integers(20, 31, staffed.sum())
    return pd.DataFrame({"partner": owner, "resource": res, "skill": skill, "quantity": quantity,
                         "available_from": available_from, "available_to": available_to, "reach": reach,
                         "radius_km": radius_km, "listed": _listed(rng, reach, owner, res, partners, geo),
                         "divisible": ~office, "min_chunk": min_chunk, "cost_per_unit": cost,
                         "inkind_value_per_unit": inkind})


def _reach(rng: np.random.Generator, res: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Local reach for people and offices, wider for money and expertise; wide reach capped in number."""
    n = len(res)
    reach = np.full(n, "home", dtype=object)
    u = rng.random(n)
    local = np.isin(res, ["volunteers", "office_space"])
    people = res == "volunteers"
    reach[people & (u < 0.40)] = "adjacent"
    reach[people & (u >= 0.40) & (u < 0.43)] = "radius"
    reach[people & (u >= 0.43) & (u < 0.45)] = "listed"
    reach[(res == "office_space") & (u < 0.35)] = "adjacent"
    wide = ~local
    for name, lo, hi in (("adjacent", 0.25, 0.45), ("listed", 0.45, 0.80), ("radius", 0.80, 0.95), ("any", 0.99, 1)):
        reach[wide & (u >= lo) & (u < hi)] = name
    big = np.isin(kinds, ["pac", "party", "union", "501c4"])
    reach[(reach == "any") & ~big] = "listed"  # reaching everywhere is for the big organisations
    for name, cap in (("any", MAX_ANY_REACH), ("radius", MAX_RADIUS_REACH)):
        chosen = np.flatnonzero(reach == name)
        if len(chosen) > cap:
            reach[rng.choice(chosen, size=len(chosen) - cap, replace=False)] = "listed"
    return reach


def _listed(rng, reach, owner, res, partners, geo) -> np.ndarray:
    """For reach `listed`: volunteers list home and its neighbours; money and expertise 2–8 districts of the region."""
    listed = np.full(len(reach), None, dtype=object)
    rows = np.flatnonzero(reach == "listed")
    if not len(rows):
        return listed
    home = partners["home"].to_numpy()[owner[rows]]
    by_region = pd.Series(np.arange(geo.n)).groupby(geo.region).apply(np.asarray)
    nb = geo.neighbours().groupby("d")["nb"].apply(np.asarray)
    counts = rng.integers(2, 9, len(rows))
    picks = rng.random((len(rows), 8))
    for j, (r, h) in enumerate(zip(rows, home)):
        if res[r] == "volunteers":
            chosen = np.concatenate([[h], nb.get(h, np.array([], dtype=int))])
        else:
            pool = by_region[geo.region[h]]
            chosen = np.unique(np.concatenate([[h], pool[(picks[j, : counts[j]] * len(pool)).astype(int)]]))
        listed[r] = ";".join(geo.ids[np.sort(chosen)])
    return listed


def _offers_table(offers: pd.DataFrame, partners: pd.DataFrame, geo: Geo) -> pd.DataFrame:
    return pd.DataFrame({
        "offer_id": _ids("O", len(offers)),
        "partner_id": _ids("P", len(partners))[offers["partner"].to_numpy()],
        "resource": offers["resource"].to_numpy(),
        "skill": offers["skill"].to_numpy(),
        "quantity": offers["quantity"].to_numpy(),
        "unit": offers["resource"].map({"volunteers": "hours", "office_space": "desks", "money": "usd",
                                        "expertise": "hours"}).to_numpy(),
        "available_from": offers["available_from"].to_numpy(),
        "available_to": offers["available_to"].to_numpy(),
        "reach": offers["reach"].to_numpy(),
        "radius_km": offers["radius_km"].to_numpy(),
        "districts": offers["listed"].to_numpy(),
        "divisible": np.where(offers["divisible"], "true", "false"),
        "min_chunk": offers["min_chunk"].to_numpy(),
        "cost_per_unit": np.round(offers["cost_per_unit"].to_numpy(), 4),
        "inkind_value_per_unit": np.round(offers["inkind_value_per_unit"].to_numpy(), 4),
    })


# Needs --------------------------------------------------------------------------------------------------------


def _needs(rng: np.random.Generator, n: int, geo: Geo, offers: pd.DataFrame, partners: pd.DataFrame) -> pd.DataFrame:
    first = rng.permutation(geo.n)[: min(n, geo.n)]
    # Mostly by the district's priority, partly where partners live: campaigns ask where there is activity.
    by_priority = geo.priority * rng.uniform(0.5, 1.5, geo.n)
    by_presence = np.bincount(partners["home"].to_numpy(), minlength=geo.n).astype(float)
    presence = by_presence / by_presence.sum() if by_presence.sum() else 0.0
    weight = 0.7 * by_priority / by_priority.sum() + 0.3 * presence
    district = np.sort(np.concatenate([first, rng.choice(geo.n, size=n - len(first), p=weight / weight.sum())]))
    res = rng.choice(np.array(RESOURCES, dtype=object), size=n, p=[0.50, 0.12, 0.20, 0.18])
    vol, office, money, expert = (res == r for r in RESOURCES)
    skill = np.full(n, "any", dtype=object)
    skill[vol] = rng.choice(VOLUNTEER_SKILLS + ("any",), size=vol.sum(), p=[0.50, 0.25, 0.10, 0.15])
    skill[expert] = rng.choice(EXPERT_SKILLS, size=expert.sum())
    raw = rng.lognormal(0.0, 0.7, n)
    # Scale per region and resource so that demand is DEMAND_OVER_SUPPLY × what the region's partners offer.
    region = geo.region[district]
    supply = offers.assign(region=partners["region"].to_numpy()[offers["partner"].to_numpy()]).groupby(
        ["region", "resource"])["quantity"].sum()
    wanted = pd.DataFrame({"region": region, "resource": res, "raw": raw}).groupby(["region", "resource"])["raw"]
    total_raw = wanted.transform("sum").to_numpy()
    keys = pd.MultiIndex.from_arrays([region, res])
    regional = supply.reindex(keys).to_numpy(dtype=float)
    overall = offers.groupby("resource")["quantity"].sum() / max(1, geo.region.max() + 1)
    regional = np.where(np.isnan(regional), overall.reindex(res).fillna(0).to_numpy(dtype=float), regional)
    factor = pd.Series(res).map(DEMAND_OVER_SUPPLY).to_numpy()
    quantity = raw / total_raw * regional * factor
    step = np.select([vol, office, money], [5, 1, 100], 1)
    quantity = np.maximum(step, np.round(quantity / step) * step).astype(np.int64)
    quantity[office] = np.clip(quantity[office], 1, 12)
    quantity[vol] = np.maximum(quantity[vol], 10)
    windowed = rng.random(n) < 0.35
    start = pd.Timestamp("2026-09-01") + pd.to_timedelta(rng.integers(0, 50, n), unit="D")
    priority = rng.choice([1.0, 1.5, 2.0, 3.0], size=n, p=[0.55, 0.15, 0.2, 0.1])
    return pd.DataFrame({"district": district, "resource": res, "skill": skill, "quantity": quantity,
                         "priority": priority, "floor": np.zeros(n, dtype=np.int64),
                         "needed_from": np.where(windowed, start.strftime("%Y-%m-%d"), None),
                         "needed_to": np.where(windowed, ELECTION_DAY, None)})


def _needs_table(needs: pd.DataFrame, geo: Geo) -> pd.DataFrame:
    return pd.DataFrame({
        "need_id": _ids("N", len(needs)),
        "district_id": geo.ids[needs["district"].to_numpy()],
        "resource": needs["resource"].to_numpy(),
        "skill": needs["skill"].to_numpy(),
        "quantity": needs["quantity"].to_numpy(),
        "unit": needs["resource"].map({"volunteers": "hours", "office_space": "desks", "money": "usd",
                                       "expertise": "hours"}).to_numpy(),
        "priority": needs["priority"].to_numpy(),
        "floor": needs["floor"].to_numpy(),
        "needed_from": needs["needed_from"].to_numpy(),
        "needed_to": needs["needed_to"].to_numpy(),
    })


# Roles --------------------------------------------------------------------------------------------------------


def _roles(rng: np.random.Generator, n: int, geo: Geo, partners: pd.DataFrame,
           ratings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Roles, each required one with a designated lead whose guaranteed hours fit; plus role-specific ratings."""
    regions = int(geo.region.max()) + 1
    wide_per = 1 if regions == 1 else regions
    n_wide = min(n // 4 if n >= 5 else n, len(EXPERT_SKILLS) * wide_per)
    wide_skill = [EXPERT_SKILLS[k % len(EXPERT_SKILLS)] for k in range(n_wide)]
    wide_region = [-1 if regions == 1 else (k // len(EXPERT_SKILLS)) % regions for k in range(n_wide)]
    n_local = n - n_wide
    order = np.lexsort((rng.random(geo.n), -geo.priority))  # highest priority districts first
    local_district = order[np.arange(n_local) % geo.n]
    local_skill = [VOLUNTEER_SKILLS[(k // geo.n) % 3] for k in range(n_local)]
    repeat = np.arange(n_local) // (3 * geo.n)

    hours = rng.integers(2, 11, n).astype(float)
    supporters = rng.choice([0, 1, 2], size=n, p=[0.4, 0.4, 0.2])
    required = rng.random(n) < 0.85

    # Who can be guaranteed to lead: rated > 0 for the skill, with role hours (independents are unrated).
    capable = ratings.merge(partners[["role_hours", "max_roles", "region"]], left_on="partner", right_index=True)
    capable = capable[(capable["role_hours"] > 0) & (capable["strength"] > 0)]
    by_skill = {s: g["partner"].to_numpy() for s, g in capable.groupby("skill")}
    by_skill_region = {k: g["partner"].to_numpy() for k, g in capable.groupby(["skill", "region"])}
    hours_left = partners["role_hours"].to_numpy().copy()
    roles_left = partners["max_roles"].fillna(np.inf).to_numpy().copy()
    home = partners["home"].to_numpy()
    near = [{d} for d in range(geo.n)]
    for a, b in geo.edges:
        near[a].add(int(b))
        near[b].add(int(a))
    designated = np.full(n, -1)
    names, districts, skills = [], [], []
    for k in range(n):
        if k < n_wide:
            skill, district, region = wide_skill[k], None, wide_region[k]
            where = "campaign-wide" if region < 0 else f"{geo.region_names[region]}, campaign-wide"
            name = f"{ROLE_TITLES[skill]}, {where}"
        else:
            j = k - n_wide
            skill, district = local_skill[j], int(local_district[j])
            region = int(geo.region[district])
            name = f"{ROLE_TITLES[skill]}, {geo.ids[district]}" + (f" ({repeat[j] + 1})" if repeat[j] else "")
        names.append(name)
        districts.append(None if district is None else geo.ids[district])
        skills.append(skill)
        if not required[k]:
            continue
        pools = (by_skill_region.get((skill, region)), by_skill.get(skill)) if district is None else (
            _near(by_skill.get(skill), home, near[district]),)  # a district role's lead lives there or next door
        for pool in pools:
            if pool is None:
                continue
            fits = np.flatnonzero((hours_left[pool] >= hours[k]) & (roles_left[pool] >= 1))
            if len(fits):
                chosen = pool[fits[rng.integers(len(fits))]]
                designated[k] = chosen
                hours_left[chosen] -= hours[k]
                roles_left[chosen] -= 1
                break
        else:
            required[k] = False  # no partner can be guaranteed to lead it: optional
    ids = _ids("R", n)
    roles = pd.DataFrame({"role_id": ids, "name": names, "skill": skills, "district_id": districts,
                          "hours": hours, "required": np.where(required, "true", "false"),
                          "supporters": supporters})
    # Role-specific ratings (strength and this partner's own hours) for about a tenth of the roles,
    # never for the designated lead, so the guarantee above stands.
    rated = []
    if len(capable):
        pick = np.flatnonzero(rng.random(n) < 0.1)
        for k in pick:
            pool = by_skill.get(skills[k])
            if pool is None:
                continue
            partner = pool[rng.integers(len(pool))]
            if partner != designated[k]:
                rated.append((partner, ids[k], float(rng.integers(3, 11)),
                              float(max(1, hours[k] + rng.integers(-2, 3)))))
    lead_ratings = pd.DataFrame(rated, columns=["partner", "role_id", "strength", "hours"])
    return roles, lead_ratings


def _near(pool: np.ndarray | None, home: np.ndarray, districts: set[int]) -> np.ndarray | None:
    """The partners of `pool` whose home is one of `districts`."""
    if pool is None:
        return None
    return pool[np.isin(home[pool], list(districts))]


def _capabilities_table(ratings: pd.DataFrame, lead_ratings: pd.DataFrame, partners: pd.DataFrame) -> pd.DataFrame:
    ids = _ids("P", len(partners))
    skills = pd.DataFrame({"partner_id": ids[ratings["partner"].to_numpy()], "skill": ratings["skill"].to_numpy(),
                           "role_id": None, "strength": ratings["strength"].to_numpy(), "hours": np.nan})
    by_role = pd.DataFrame({"partner_id": ids[lead_ratings["partner"].to_numpy(dtype=int)], "skill": None,
                            "role_id": lead_ratings["role_id"].to_numpy(),
                            "strength": lead_ratings["strength"].to_numpy(dtype=float),
                            "hours": lead_ratings["hours"].to_numpy(dtype=float)})
    skills = skills.sort_values(["partner_id", "skill"], kind="stable")
    by_role = by_role.drop_duplicates(["partner_id", "role_id"]).sort_values(["partner_id", "role_id"], kind="stable")
    frames = [f for f in (skills, by_role) if len(f)]
    if not frames:
        return skills
    return pd.concat(frames, ignore_index=True)


# Conflicts and decisions --------------------------------------------------------------------------------------


def _conflicts(rng: np.random.Generator, partners: pd.DataFrame, geo: Geo) -> pd.DataFrame:
    """About one per 100 partners, between partners of one region; never a partner with itself."""
    n = len(partners)
    columns = ["partner_a", "partner_b", "scope", "note"]
    if n < 2:
        return pd.DataFrame(columns=columns)
    count = max(1, round(n * CONFLICTS_PER_PARTNER))
    members = partners.groupby("region").indices
    pairs = set()
    a_draw = rng.integers(0, n, 4 * count)
    b_draw = rng.random(4 * count)
    for a, u in zip(a_draw, b_draw):
        pool = members[partners["region"].iat[a]]
        if len(pool) < 2:
            pool = np.arange(n)
        b = int(pool[int(u * len(pool))])
        if b == a:
            b = int(pool[(int(u * len(pool)) + 1) % len(pool)])
        if b != a:
            pairs.add((min(a, b), max(a, b)))
        if len(pairs) == count:
            break
    pairs = sorted(pairs)
    ids = _ids("P", n)
    scope = rng.choice(["district", "role", "coalition"], size=len(pairs), p=[0.7, 0.2, 0.1])
    note = rng.choice(np.array(CONFLICT_NOTES, dtype=object), size=len(pairs))
    return pd.DataFrame({"partner_a": [ids[a] for a, _ in pairs], "partner_b": [ids[b] for _, b in pairs],
                         "scope": scope, "note": note}, columns=columns)


def _decisions(rng: np.random.Generator, offers: pd.DataFrame, needs: pd.DataFrame, partners: pd.DataFrame,
               conflicts: pd.DataFrame, geo: Geo) -> pd.DataFrame:
    """Locks that certainly hold, floors that a distinct offer covers alone (set on `needs`), and forbids."""
    columns = ["action", "partner_id", "offer_id", "need_id", "district_id", "role_id", "quantity", "agreed_by",
               "agreed_on", "note"]
    partner_ids = _ids("P", len(partners))
    offer_ids, need_ids = _ids("O", len(offers)), _ids("N", len(needs))
    in_conflict = np.isin(partner_ids, np.concatenate([conflicts["partner_a"], conflicts["partner_b"]]))
    safe_partner = ~in_conflict & ~partners["independent"].to_numpy() & (partners["kind"].to_numpy() != "501c3")
    owner = offers["partner"].to_numpy()
    lockable = offers[(offers["resource"] == "volunteers") & (offers["reach"] == "home")
                      & offers["available_from"].isna() & offers["available_to"].isna()
                      & (offers["inkind_value_per_unit"] == 0) & safe_partner[owner]]
    open_needs = needs[(needs["resource"] == "volunteers") & needs["needed_from"].isna() & needs["needed_to"].isna()]
    pairs = (lockable.assign(offer=lockable.index, district=partners["home"].to_numpy()[lockable["partner"]])
             .merge(open_needs.assign(need=open_needs.index), on="district", suffixes=("", "_need")))
    pairs = pairs[(pairs["skill"] == "any") | (pairs["skill_need"] == "any") | (pairs["skill"] == pairs["skill_need"])]
    pairs = pairs[pairs["min_chunk"] <= np.minimum(pairs["quantity"], pairs["quantity_need"])]
    pairs = pairs.iloc[rng.permutation(len(pairs))]
    pairs = pairs.drop_duplicates("offer").drop_duplicates("need")
    n_locks = max(1, round(len(offers) * LOCKS_PER_OFFER))
    locks = pairs.iloc[:n_locks]
    rest = pairs[~pairs["offer"].isin(locks["offer"]) & ~pairs["need"].isin(locks["need"])]
    floor = np.minimum(rest["quantity_need"] // 2, np.floor(FLOOR_SHARE_OF_OFFER * rest["quantity"])).astype(int)
    rest = rest.assign(floor=floor)[floor >= np.maximum(rest["min_chunk"], 1)]
    floors = rest.iloc[: round(len(needs) * FLOORS_PER_NEED)]
    needs.loc[floors["need"].to_numpy(), "floor"] = floors["floor"].to_numpy()

    half = rng.random(len(locks)) < 0.5
    room = np.minimum(locks["quantity"], locks["quantity_need"]).to_numpy() // 2
    chunk = locks["min_chunk"].to_numpy()
    quantity = np.where(half & (room >= chunk), np.maximum(chunk, room // chunk * chunk), -1).astype(float)
    quantity[quantity < 0] = np.nan
    day = pd.Timestamp("2026-08-20") + pd.to_timedelta(rng.integers(0, 14, len(locks)), unit="D")
    lock_rows = pd.DataFrame({"action": "lock", "partner_id": None, "offer_id": offer_ids[locks["offer"]],
                              "need_id": need_ids[locks["need"]], "district_id": None, "role_id": None,
                              "quantity": pd.array(quantity, dtype="Int64"),
                              "agreed_by": "Coalition steering committee", "agreed_on": day.strftime("%Y-%m-%d"),
                              "note": "Volunteers committed to their home district's campaign"}, columns=columns)

    money = np.flatnonzero((offers["resource"] == "money").to_numpy())
    n_forbids = min(len(money), max(1, round(len(offers) * FORBIDS_PER_OFFER)))
    forbid = np.sort(rng.choice(money, size=n_forbids, replace=False)) if n_forbids else np.array([], dtype=int)
    home = partners["home"].to_numpy()[owner[forbid]]
    target = np.array([rng.choice(np.flatnonzero(geo.region == geo.region[h])) for h in home], dtype=int)
    day = pd.Timestamp("2026-08-20") + pd.to_timedelta(rng.integers(0, 14, len(forbid)), unit="D")
    forbid_rows = pd.DataFrame({"action": "forbid", "partner_id": None, "offer_id": offer_ids[forbid],
                                "need_id": None, "district_id": geo.ids[target] if len(target) else [],
                                "role_id": None, "quantity": pd.array([pd.NA] * len(forbid), dtype="Int64"),
                                "agreed_by": "Donor's instruction", "agreed_on": day.strftime("%Y-%m-%d"),
                                "note": "The donor asked that this gift not go to that race"}, columns=columns)
    frames = [f for f in (lock_rows, forbid_rows) if len(f)]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)
