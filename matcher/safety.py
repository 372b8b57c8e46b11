"""What keeps a plan safe to open and to share: formula neutralisation and contact fields.

Spreadsheets run a cell that starts with =, +, -, @, a tab or a carriage return as a formula
(CSV injection). matcher refuses ids and skills that start so (they are matched exactly, and the
verifier reads them back), and in every CSV it writes puts an apostrophe before any other text
cell that starts so, unless the whole cell is a plain number: numbers, negative ones included,
are never changed.

Contact fields are the cells that may identify a person: a partner's `name`, a decision's
`agreed_by`, and any column whose header mentions an e-mail, phone, contact or address. Their
values are never echoed in messages, and `matcher solve --redact` empties them in the outputs.
"""
from __future__ import annotations

import re

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ID_FORMULA_STARTS = ("=", "+", "-", "@")  # cells are stripped of tabs and returns when read
CONTACT_COLUMNS = {"partners": ("name",), "decisions": ("agreed_by",), "partners_summary": ("name",),
                   "allocations": ("agreed_by",)}
CONTACT_WORDS = re.compile(r"e-?mail|phone|mobile|contact|address|person", re.IGNORECASE)
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def is_contact(table: str, column: str) -> bool:
    """True for a column whose values may identify a person (input table or output table name)."""
    return column in CONTACT_COLUMNS.get(table, ()) or bool(CONTACT_WORDS.search(column))


def neutralise(value: object) -> object:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe; anything else is kept."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_table(name: str, table: pd.DataFrame, redact: bool = False) -> pd.DataFrame:
    """The table as it may be written: text cells neutralised, contact fields emptied when redacting."""
    table = table.copy()
    for column in table.columns:
        if redact and is_contact(name, str(column)):
            table[column] = pd.Series(None, index=table.index, dtype=object)
        elif table[column].dtype == object or pd.api.types.is_string_dtype(table[column]):
            table[column] = table[column].map(neutralise, na_action="ignore")
    table.columns = [neutralise(str(c)) for c in table.columns]
    return table


def write_csv(name: str, table: pd.DataFrame, path, redact: bool = False) -> None:
    """Write one output table as UTF-8 CSV with \\n line ends, safe to open in a spreadsheet."""
    safe_table(name, table, redact).to_csv(path, index=False, lineterminator="\n")
