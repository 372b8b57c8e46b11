"""Read a batch folder into typed tables, reporting every problem with file, row and column.

Cells are read as text and parsed by the column specs of `matcher.schema`; pandera then checks
ranges, choices and unique ids on the typed tables; last come the checks that span tables
(references, units, windows, reach settings). All problems are raised together.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from matcher import limits
from matcher.errors import InputError, Problem
from matcher.safety import ID_FORMULA_STARTS, is_contact
from matcher.scenario import Scenario
from matcher.schema import CANONICAL_UNITS, TABLES, ColumnSpec, TableSpec, pandera_schema

ROW = "csv_row"  # the spreadsheet row each record came from; the header is row 1
TRUE_WORDS = {"true", "t", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "0"}


@dataclass
class Batch:
    """The validated input tables of one batch, plus its scenario and the hashes of its files."""

    partners: pd.DataFrame
    offers: pd.DataFrame
    needs: pd.DataFrame
    districts: pd.DataFrame
    roles: pd.DataFrame
    capabilities: pd.DataFrame
    conflicts: pd.DataFrame
    decisions: pd.DataFrame
    scenario: Scenario = field(default_factory=Scenario)
    folder: Path | None = None
    file_hashes: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """Counts a field director checks before solving."""
        return {
            "partners": len(self.partners),
            "districts": len(self.districts),
            "offers": self.offers.groupby("resource").size().to_dict(),
            "needs": self.needs.groupby("resource").size().to_dict(),
            "roles": len(self.roles),
        }


def read_batch(folder: str | Path, scenario: Scenario | None = None) -> Batch:
    """Read and validate every table of a batch folder; raise InputError listing all problems."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError([Problem(str(folder), None, None, "is not a folder (a batch is a folder of CSV files)")])
    problems: list[Problem] = []
    tables: dict[str, pd.DataFrame] = {}
    hashes: dict[str, str] = {}
    for spec in TABLES.values():
        path = folder / spec.file
        if not os.path.lexists(path):
            if spec.required:
                problems.append(Problem(spec.file, None, None, f"is missing from {folder}"))
            tables[spec.name] = _empty_table(spec)
            continue
        raw = read_inside(folder, path, limits.max_file_bytes(), problems)
        if raw is None:
            tables[spec.name] = _empty_table(spec, unreadable=True)
            continue
        hashes[spec.file] = hashlib.sha256(raw).hexdigest()
        tables[spec.name] = parse_table(spec, raw, problems)
    scenario_path = folder / "scenario.toml"
    raw = None
    if os.path.lexists(scenario_path):
        raw = read_inside(folder, scenario_path, limits.MAX_SCENARIO_KB * 1024, problems)
        if raw is not None:
            hashes["scenario.toml"] = hashlib.sha256(raw).hexdigest()
    if scenario is None:
        try:
            scenario = Scenario.from_toml(scenario_path) if raw is not None else Scenario()
        except InputError as exc:
            problems.extend(exc.problems)
    if scenario is not None:
        problems.extend(limits.scenario_number_problems(scenario.to_dict(), scenario.source))
    broken = {TABLES[name].file for name, table in tables.items() if table.attrs.get("unreadable")}
    references = check_references(tables, skip=broken)
    problems.extend(references)
    if not broken and not references:
        bad_rows = {(p.file, p.row) for p in problems}
        problems.extend(check_rows(tables, skip=bad_rows))
    if problems:
        raise InputError(problems)
    apply_resource_defaults(tables)
    return Batch(**tables, scenario=scenario, folder=folder, file_hashes=hashes)


def read_inside(folder: Path, path: Path, max_bytes: int, problems: list[Problem]) -> bytes | None:
    """The bytes of a regular file inside the batch folder, or None with a problem saying why not.

    A link that leads outside the folder is refused, so a batch cannot make matcher read other
    files; so are devices and pipes, and files over the size limit (before they are read).
    """
    try:
        real = path.resolve(strict=True)
        if not real.is_relative_to(folder.resolve(strict=True)):
            problems.append(Problem(path.name, None, None, "is a link to a file outside the batch folder; "
                                    "copy the file into the folder instead"))
            return None
        info = real.stat()
        if not stat.S_ISREG(info.st_mode):
            problems.append(Problem(path.name, None, None, "is not a regular file"))
            return None
        if info.st_size > max_bytes:
            problems.append(Problem(path.name, None, None, f"is {info.st_size / 2**20:,.1f} MiB, more than the "
                                    f"limit of {max_bytes / 2**20:,.0f} MiB (see Limits in the README)"))
            return None
        with open(real, "rb") as file:
            raw = file.read(max_bytes + 1)
    except OSError as exc:
        problems.append(Problem(path.name, None, None, f"cannot be read: {exc.strerror or exc}"))
        return None
    if len(raw) > max_bytes:  # it grew while we looked
        problems.append(Problem(path.name, None, None, f"is more than the limit of {max_bytes / 2**20:,.0f} MiB"))
        return None
    return raw


def apply_resource_defaults(tables: dict[str, pd.DataFrame]) -> None:
    """Defaults that depend on the resource: the canonical unit, and office space kept whole."""
    for name in ("offers", "needs"):
        frame = tables[name]
        frame["unit"] = frame["unit"].fillna(frame["resource"].map(CANONICAL_UNITS)).str.lower()
    offers = tables["offers"]
    offers["divisible"] = offers["divisible"].where(offers["divisible"].notna(),
                                                    offers["resource"] != "office_space").astype(bool)


def parse_table(spec: TableSpec, raw: bytes, problems: list[Problem]) -> pd.DataFrame:
    """Typed table from a CSV file's bytes; parse and schema problems are appended to `problems`."""
    text = _decode(spec.file, raw, problems)
    rows = None if text is None else _csv_rows(spec.file, text, problems)
    if rows is None:
        return _empty_table(spec, unreadable=True)
    if not rows or not any(cell.strip() for cell in rows[0]):
        problems.append(Problem(spec.file, 1, None, "has no header row"))
        return _empty_table(spec, unreadable=True)
    header = [h.strip().strip("\ufeff") for h in rows[0]]
    separator = next((s for s in (";", "\t", "|") if len(header) == 1 and s in header[0]), None)
    if separator:
        shown = {";": "semicolons", "\t": "tabs", "|": "bars"}[separator]
        problems.append(Problem(spec.file, 1, None, f"separates its columns with {shown}, not commas; save it "
                                "from your spreadsheet as 'CSV UTF-8 (comma delimited)'"))
        return _empty_table(spec, unreadable=True)
    body = [r for r in rows[1:]]
    frame = _frame(spec, header, body, problems)
    if frame is None:
        return _empty_table(spec, unreadable=True)
    before = len(problems)
    typed = _parse_cells(spec, frame, problems)
    unparsed = {(p.row, p.column) for p in problems[before:]}
    _pandera_problems(spec, typed, problems, skip=unparsed)
    return typed


_NOT_CSV = {b"PK\x03\x04": "is an Excel workbook or other zip file, not CSV",
            b"\xd0\xcf\x11\xe0": "is an old-style Excel workbook, not CSV",
            b"\xff\xfe": "is UTF-16 text (Excel's 'Unicode Text'), not UTF-8",
            b"\xfe\xff": "is UTF-16 text (Excel's 'Unicode Text'), not UTF-8"}


def _decode(file: str, raw: bytes, problems: list[Problem]) -> str | None:
    """The text of a CSV file saved as UTF-8 (a byte-order mark is fine), or None with a problem."""
    for magic, what in _NOT_CSV.items():
        if raw.startswith(magic):
            problems.append(Problem(file, None, None, f"{what}; save it from your spreadsheet as 'CSV UTF-8'"))
            return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(file, line, None, "is not UTF-8 text; save it from your spreadsheet as 'CSV UTF-8'"))
        return None


def _csv_rows(file: str, text: str, problems: list[Problem]) -> list[list[str]] | None:
    """Every record of the file (a quoted cell may span lines), or None when it cannot be split into cells."""
    rows: list[list[str]] = []
    most = limits.max_rows() + 1  # and the header
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            rows.append(row)
            if len(rows) > most:
                problems.append(Problem(file, None, None, f"has more than {most - 1:,} rows, the limit "
                                        "(see Limits in the README)"))
                return None
    except csv.Error as exc:
        reason = str(exc)
        if "field larger than field limit" in reason:
            reason = f"a cell is longer than {csv.field_size_limit():,} characters"
        problems.append(Problem(file, len(rows) + 1, None, f"cannot be read as CSV: {reason}"))
        return None
    return rows


def _frame(spec: TableSpec, header: list[str], body: list[list[str]], problems: list[Problem]):
    while header and header[-1] == "" and all(len(r) < len(header) or r[len(header) - 1] == "" for r in body):
        header.pop()
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(Problem(spec.file, 1, name, "appears twice in the header"))
        if name == "":
            problems.append(Problem(spec.file, 1, None, "has a column with an empty header"))
        seen.add(name)
    missing = [c.name for c in spec.columns if c.required and c.name not in header]
    for name in missing:
        problems.append(Problem(spec.file, 1, name, "required column is missing"))
    if len(seen) < len(header) or "" in header or missing:
        return None
    records = []
    for number, row in enumerate(body, start=2):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if len(cells) > len(header) and any(cells[len(header):]):
            problems.append(Problem(spec.file, number, None,
                                    f"has {len(cells)} cells but the header has {len(header)} columns"))
            continue
        cells = (cells + [""] * len(header))[: len(header)]
        records.append([number] + cells)
    frame = pd.DataFrame(records, columns=[ROW] + header, dtype=object)
    return frame


def _parse_cells(spec: TableSpec, frame: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    typed = pd.DataFrame({ROW: frame[ROW].astype("int64")}, index=frame.index)
    for column in spec.columns:
        if column.name in frame.columns:
            text = frame[column.name].astype(object)
        else:
            text = pd.Series([""] * len(frame), index=frame.index, dtype=object)
        typed[column.name] = _parse_column(spec, column, text, frame[ROW], problems)
    extra = [c for c in frame.columns if c != ROW and c not in typed.columns]
    for name in extra:
        typed[name] = frame[name]
    return typed


def _parse_column(spec: TableSpec, column: ColumnSpec, text: pd.Series, rows: pd.Series,
                  problems: list[Problem]) -> pd.Series:
    empty = text == ""

    def complain(bad: pd.Series, message: str) -> None:
        private = is_contact(spec.name, column.name)  # contact data is never echoed
        for row, value in zip(rows[bad], text[bad]):
            shown = message if private else f"{message}, not '{value}'"
            problems.append(Problem(spec.file, int(row), column.name, shown))

    if column.required:
        for row in rows[empty]:
            problems.append(Problem(spec.file, int(row), column.name, "is required but empty"))
    kind = column.kind
    if kind in ("float", "int"):
        numbers = pd.to_numeric(text.where(~empty), errors="coerce").astype("float64")
        complain(~empty & numbers.isna(), "must be a number")
        finite = np.isfinite(numbers) | numbers.isna()
        complain(~finite, "must be a finite number")
        too_big = finite & (numbers.abs() > limits.MAX_NUMBER)
        complain(too_big, f"is too large (at most {limits.MAX_NUMBER:,})")
        numbers = numbers.where(finite & ~too_big)
        if column.default is not None:
            numbers = numbers.fillna(float(column.default))
        if kind == "float":
            return numbers
        whole = numbers.isna() | (numbers == np.floor(numbers.fillna(0)))
        complain(~whole, "must be a whole number")
        return numbers.where(whole).round().astype("Int64")
    if kind == "bool":
        lowered = text.str.lower()
        bad = ~empty & ~lowered.isin(TRUE_WORDS | FALSE_WORDS)
        complain(bad, "must be true or false")
        values = lowered.map(lambda v: True if v in TRUE_WORDS else (False if v in FALSE_WORDS else None))
        if column.default is not None:
            values = values.where(values.notna(), column.default)
        return values.astype(object)
    if kind == "date":
        iso = text.map(lambda v: bool(_ISO_DATE.fullmatch(v))).astype(bool)
        years = text.where(iso, "0").str[:4].astype("int64")
        in_range = iso & years.between(limits.FIRST_YEAR, limits.LAST_YEAR)
        complain(~empty & ~iso, "must be a date like 2026-09-30")
        complain(iso & ~in_range, f"must be a date from {limits.FIRST_YEAR} to {limits.LAST_YEAR}")
        dates = pd.to_datetime(text.where(in_range), errors="coerce", format="ISO8601")
        complain(in_range & dates.isna(), "must be a date like 2026-09-30")
        return dates.astype("datetime64[ns]")
    if kind == "list":
        items = text.map(lambda v: tuple(x.strip() for x in v.split(";") if x.strip()))
        complain(items.map(lambda v: any(x.startswith(ID_FORMULA_STARTS) for x in v)).astype(bool), FORMULA_ID)
        return items
    if kind == "id" or column.name == "skill":
        complain(~empty & text.str.startswith(ID_FORMULA_STARTS).astype(bool), FORMULA_ID)
    values = text.where(~empty)
    if kind == "text" and column.name == "skill":
        values = values.str.lower()
    if kind == "choice":
        values = values.str.lower()
    if column.default is not None:
        values = values.fillna(column.default)
    return values.astype(object)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?")  # no time zone
FORMULA_ID = "may not start with =, +, - or @ (a spreadsheet would run it as a formula)"
_CHECK_MESSAGES = {"field_uniqueness": "is a duplicate id", "not_nullable": "is required but empty"}


def _pandera_problems(spec: TableSpec, typed: pd.DataFrame, problems: list[Problem],
                      skip: set[tuple[int | None, str | None]]) -> None:
    """Range, choice and uniqueness problems, except at cells that already failed to parse."""
    schema = pandera_schema(spec)
    try:
        schema.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as exc:
        for case in exc.failure_cases.itertuples(index=False):
            row = None if pd.isna(case.index) else int(typed.loc[case.index, ROW])
            column = None if pd.isna(case.column) else str(case.column)
            if (row, column) in skip:
                continue
            message = _CHECK_MESSAGES.get(str(case.check), str(case.check))
            value = case.failure_case.item() if hasattr(case.failure_case, "item") else case.failure_case
            if message.startswith("must") and not pd.isna(value):
                message = f"{message}, not {value!r}"
            problems.append(Problem(spec.file, row, column, message))


def _empty_table(spec: TableSpec, unreadable: bool = False) -> pd.DataFrame:
    """A table with no rows; `unreadable` marks a file that could not be read at all."""
    problems: list[Problem] = []
    table = _parse_cells(spec, pd.DataFrame({ROW: pd.Series([], dtype="int64")} | {
        c.name: pd.Series([], dtype=object) for c in spec.columns}), problems)
    table.attrs["unreadable"] = unreadable
    return table


def check_references(tables: dict[str, pd.DataFrame], skip: set[str] = frozenset()) -> list[Problem]:
    """Every id that points at another table must exist there (files in `skip` could not be read whole)."""
    problems = []
    for spec in TABLES.values():
        frame = tables[spec.name]
        for column in spec.columns:
            if not column.references:
                continue
            target = TABLES[column.references]
            if spec.file in skip or target.file in skip:
                continue
            known = set(tables[target.name][target.key])
            for row, value in zip(frame[ROW], frame[column.name]):
                values = value if isinstance(value, tuple) else ([] if pd.isna(value) else [value])
                for item in values:
                    if item not in known:
                        problems.append(Problem(spec.file, int(row), column.name,
                                                f"'{item}' is not a {target.key} in {target.file}"))
    return problems


def check_rows(tables: dict[str, pd.DataFrame], skip: set[tuple[str, int]] = frozenset()) -> list[Problem]:
    """Rules that read several columns or tables: units, windows, floors, reach settings.

    Rows in `skip` (file, row) already have a problem in a cell these rules would read; they are passed over.
    """
    problems: list[Problem] = []
    partners = _by_id(tables["partners"], "partner_id")
    districts = _by_id(tables["districts"], "district_id")

    def rows(name: str) -> pd.DataFrame:
        return _without_rows(tables[name], TABLES[name].file, skip)

    for name in ("offers", "needs"):
        frame = rows(name)
        file = TABLES[name].file
        for row, resource, unit in zip(frame[ROW], frame["resource"], frame["unit"]):
            if not pd.isna(unit) and resource in CANONICAL_UNITS and unit.lower() != CANONICAL_UNITS[resource]:
                problems.append(Problem(file, int(row), "unit", f"'{unit}' is not the unit of {resource}; "
                                        f"use {CANONICAL_UNITS[resource]}"))
    for r in rows("offers").itertuples(index=False):
        row = int(getattr(r, ROW))
        if _reversed(r.available_from, r.available_to):
            problems.append(Problem("offers.csv", row, "available_to", "is before available_from"))
        home = partners.at[r.partner_id, "home_district"]
        if r.reach in ("home", "adjacent", "radius") and pd.isna(home):
            problems.append(Problem("offers.csv", row, "reach", f"'{r.reach}' needs the partner's home_district "
                                    f"in partners.csv (partner {r.partner_id} has none); use 'any' or 'listed'"))
        if r.reach == "radius":
            if pd.isna(r.radius_km):
                problems.append(Problem("offers.csv", row, "radius_km", "is required when reach is 'radius'"))
            elif not pd.isna(home) and pd.isna(districts.at[home, "lat"]) | pd.isna(districts.at[home, "lon"]):
                problems.append(Problem("offers.csv", row, "reach", f"'radius' needs lat and lon for district "
                                        f"{home} in districts.csv"))
        if r.reach == "listed" and not r.districts:
            problems.append(Problem("offers.csv", row, "districts", "is required when reach is 'listed'"))
    for r in rows("needs").itertuples(index=False):
        row = int(getattr(r, ROW))
        if _reversed(r.needed_from, r.needed_to):
            problems.append(Problem("needs.csv", row, "needed_to", "is before needed_from"))
        if r.floor > r.quantity:
            problems.append(Problem("needs.csv", row, "floor", f"{r.floor} is more than the quantity {r.quantity}"))
    problems += check_conflicts(rows("conflicts"))
    problems += check_decisions(tables, rows("decisions"))
    return problems


def check_conflicts(conflicts: pd.DataFrame) -> list[Problem]:
    """A partner cannot be in conflict with itself."""
    return [Problem("conflicts.csv", int(row), "partner_b", f"{b} cannot be in conflict with itself")
            for row, a, b in zip(conflicts[ROW], conflicts["partner_a"], conflicts["partner_b"]) if a == b]


def check_decisions(tables: dict[str, pd.DataFrame], decisions: pd.DataFrame) -> list[Problem]:
    """Each decision names what it binds; locks fit their offer and need, and no lock meets a forbid."""
    problems = []
    offers = _by_id(tables["offers"], "offer_id")
    needs = _by_id(tables["needs"], "need_id")
    targets = {}
    for d in decisions.itertuples(index=False):
        row = int(getattr(d, ROW))
        who = [k for k in ("offer_id", "partner_id") if not pd.isna(getattr(d, k))]
        what = [k for k in ("need_id", "district_id", "role_id") if not pd.isna(getattr(d, k))]
        if not who or len(what) != 1:
            problems.append(Problem("decisions.csv", row, None, "must name an offer_id or partner_id and exactly one "
                                    "of need_id, district_id or role_id"))
            continue
        if what == ["role_id"] and who != ["partner_id"]:
            problems.append(Problem("decisions.csv", row, "role_id",
                                    "a role decision names a partner_id, not an offer"))
        owner = None if pd.isna(d.offer_id) else offers.at[d.offer_id, "partner_id"]
        if owner is not None and not pd.isna(d.partner_id) and owner != d.partner_id:
            problems.append(Problem("decisions.csv", row, "partner_id",
                                    f"offer {d.offer_id} belongs to {owner}, not {d.partner_id}"))
        if not pd.isna(d.quantity):
            if d.action != "lock" or pd.isna(d.offer_id) or pd.isna(d.need_id):
                problems.append(Problem("decisions.csv", row, "quantity",
                                        "only a lock of an offer to a need takes a quantity"))
            elif d.quantity > min(_or_inf(offers.at[d.offer_id, "quantity"]), _or_inf(needs.at[d.need_id, "quantity"])):
                problems.append(Problem("decisions.csv", row, "quantity",
                                        f"{d.quantity} is more than offer {d.offer_id} has or need {d.need_id} "
                                        "asks for"))
        key = tuple(None if pd.isna(getattr(d, k)) else getattr(d, k)
                    for k in ("offer_id", "partner_id", "need_id", "district_id", "role_id"))
        if key in targets and targets[key][0] != d.action:
            problems.append(Problem("decisions.csv", row, "action",
                                    f"contradicts the {targets[key][0]} on row {targets[key][1]}"))
        targets.setdefault(key, (d.action, row))
    return problems


def _by_id(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """The table indexed by its id, first copy of a duplicate id only (duplicates are reported on their own)."""
    return table.drop_duplicates(key).set_index(key)


def _or_inf(value) -> float:
    """A quantity that failed to parse never makes a lock too large (its own problem is reported)."""
    return float("inf") if pd.isna(value) else float(value)


def _without_rows(table: pd.DataFrame, file: str, skip: set[tuple[str, int]]) -> pd.DataFrame:
    keep = np.array([(file, row) not in skip for row in table[ROW]], dtype=bool)
    return table.loc[keep]


def _reversed(start, end) -> bool:
    return not pd.isna(start) and not pd.isna(end) and end < start
