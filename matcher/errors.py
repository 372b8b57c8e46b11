"""One exception root for matcher; the CLI turns each kind into a message and an exit code."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input, located as a spreadsheet shows it (the header is row 1)."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


class MatcherError(Exception):
    """Root of every error matcher raises on purpose."""

    exit_code = 1


class InputError(MatcherError):
    """The batch or scenario is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.row or 0, p.column or "", p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class InfeasibleError(MatcherError):
    """The hard rules cannot all hold together for this batch.

    `core` (a matcher.infeasibility.Infeasibility, when it was computed) names the smallest set of
    rules that cannot hold together and the single relaxations that would give a plan.
    """

    exit_code = 3

    def __init__(self, message: str, core=None):
        self.core = core
        super().__init__(message)


class NoSolutionError(MatcherError):
    """The solver stopped (time limit or interruption) before it found any plan."""

    exit_code = 4


class SolverError(MatcherError):
    """The solver failed for a reason that says nothing about the batch (invalid model, memory)."""


class VerificationError(MatcherError):
    """A written plan broke a hard rule: a bug in matcher, never the user's fault."""

    def __init__(self, violations: list):
        self.violations = violations
        super().__init__("\n".join(str(v) for v in violations))


class OutputError(MatcherError):
    """The output folder cannot be written where it was asked for."""
