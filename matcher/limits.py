"""Size and magnitude limits on what matcher reads, so that bad input gets a message, not a crash.

Files larger than MAX_FILE_MB or with more than MAX_ROWS data rows are refused before they are
parsed (a national batch is about 100,000 offers, far below either). A field director whose batch
really is bigger can raise them for one run with the environment variables MATCHER_MAX_FILE_MB and
MATCHER_MAX_ROWS.

Numbers are bounded so that the solver's 64-bit integers hold every scaled coefficient: a cell may
hold at most MAX_NUMBER in absolute value. What a combination of large cells and large scenario
weights could still overflow is caught when the model is checked before solving (matcher.solve).
"""
from __future__ import annotations

import math
import os

from matcher.errors import Problem

MAX_FILE_MB = 256  # per input file
MAX_ROWS = 2_000_000  # data rows per input file
MAX_CELL_CHARS = 100_000  # characters in one cell
MAX_SCENARIO_KB = 1024  # scenario.toml
MAX_NUMBER = 1_000_000_000  # |value| of any number in a table or a scenario setting
FIRST_YEAR, LAST_YEAR = 1900, 2199  # dates outside these years are typing mistakes


def max_file_bytes() -> int:
    """MAX_FILE_MB in bytes, or MATCHER_MAX_FILE_MB when it is set to a positive number."""
    return int(_override("MATCHER_MAX_FILE_MB", MAX_FILE_MB) * 1024 * 1024)


def max_rows() -> int:
    """MAX_ROWS, or MATCHER_MAX_ROWS when it is set to a positive whole number."""
    return int(_override("MATCHER_MAX_ROWS", MAX_ROWS))


def _override(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    try:
        value = float(text)
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


def scenario_number_problems(settings: dict, source: str, prefix: str = "") -> list[Problem]:
    """Every scenario setting that is NaN, infinite or beyond MAX_NUMBER, named as section.name."""
    problems = []
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            problems += scenario_number_problems(value, source, f"{name}.")
        elif isinstance(value, (list, tuple)):
            problems += scenario_number_problems({f"{i}": v for i, v in enumerate(value)}, source, f"{name}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                problems.append(Problem(source, None, _setting(name), "must be a finite number"))
            elif abs(value) > MAX_NUMBER:
                problems.append(Problem(source, None, _setting(name), f"is too large (at most {MAX_NUMBER:,})"))
    return problems


def _setting(name: str) -> str:
    """coverage.segments.0.1 -> coverage.segments[0][1]"""
    head, *rest = name.split(".")
    parts = [head]
    for part in rest:
        parts.append(f"[{part}]" if part.isdigit() else f".{part}")
    return "".join(parts)
