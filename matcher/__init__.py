"""matcher: pair coalition partners' offers with districts' needs, optimally, with OR-Tools CP-SAT.

The public API, for notebooks and the CLI alike::

    import matcher
    batch = matcher.read_batch("data/sample")
    result = matcher.solve(batch)
    result.allocations          # a pandas DataFrame
    result.write("out/sample")  # verified, atomic
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("matcher")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

from matcher.batch import Batch, read_batch  # noqa: E402
from matcher.diff import RunDiff, diff_runs  # noqa: E402
from matcher.errors import (  # noqa: E402
    InfeasibleError, InputError, MatcherError, NoSolutionError, Problem, SolverError, VerificationError,
)
from matcher.explain import Explainer, WhatIf, what_if  # noqa: E402
from matcher.generate import generate_batch  # noqa: E402
from matcher.infeasibility import Infeasibility, explain_infeasibility  # noqa: E402
from matcher.result import Result, Status  # noqa: E402
from matcher.scenario import Scenario  # noqa: E402
from matcher.solve import solve  # noqa: E402
from matcher.verify import verify  # noqa: E402

__all__ = [
    "Batch", "InfeasibleError", "InputError", "MatcherError", "NoSolutionError", "Problem", "Result",
    "Scenario", "SolverError", "Status", "VerificationError", "generate_batch", "read_batch", "solve", "verify",
    "__version__", "Explainer", "Infeasibility", "RunDiff", "WhatIf", "diff_runs", "explain_infeasibility", "what_if",
    "write_report",
]


def __getattr__(name: str):
    if name == "write_report":  # plotly is imported only when a report is asked for
        from matcher.report import write_report

        return write_report
    raise AttributeError(f"module 'matcher' has no attribute {name!r}")
