"""The `matcher` command: a thin layer over the library that speaks to field directors.

Errors become messages and exit codes here, and only here.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import matcher
from matcher.errors import InputError, MatcherError
from matcher.scenario import parse_override
from matcher.schema import RESOURCES, columns_markdown

EXIT_CODES = """\b
Exit codes:
  0  solved (optimal, or feasible with its gap reported)
  1  invalid input, or an internal error
  2  usage error (unknown option, missing argument)
  3  infeasible: no plan meets every hard rule
  4  no plan found within the time limit"""

# soft_wrap: a message stays on one line however narrow the terminal, so logs and grep see it whole.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def reports_errors(command):
    """Turn matcher's errors into a message on stderr and the documented exit code."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InputError as exc:
            err.print(f"[bold red]Error:[/] the input has {len(exc.problems)} problem(s):", markup=True)
            for problem in exc.problems:
                err.print(f"  {problem}", markup=False)
            sys.exit(exc.exit_code)
        except MatcherError as exc:
            err.print(f"[bold red]Error:[/] {escape(str(exc))}", markup=True)
            sys.exit(exc.exit_code)
        except Exception as exc:  # a bug in matcher, not the user's mistake: say so in one line
            if os.environ.get("MATCHER_DEBUG"):
                raise
            err.print(f"[bold red]Internal error[/] (a bug in matcher, please report it): "
                      f"{escape(type(exc).__name__ + ': ' + str(exc))}. Set MATCHER_DEBUG=1 to see where.",
                      markup=True)
            sys.exit(1)
    return wrapper


@click.group(epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(matcher.__version__, prog_name="matcher")
def main() -> None:
    """Pair coalition partners' offers with districts' needs, optimally and verifiably.

    A batch is a folder of CSV files (partners, offers, needs, districts, …) and an optional
    scenario.toml; `matcher columns` lists every column.
    """


@main.command(epilog=EXIT_CODES)
@click.argument("batch", type=click.Path(path_type=Path))
@reports_errors
def validate(batch: Path) -> None:
    """Check a batch folder and summarise it; every problem is listed with file, row and column."""
    loaded = matcher.read_batch(batch)
    summary = loaded.summary()
    table = Table(title=f"Batch {batch} is valid", show_header=True)
    table.add_column("")
    for resource in RESOURCES:
        table.add_column(resource, justify="right")
    for label in ("offers", "needs"):
        table.add_row(label, *(str(summary[label].get(r, 0)) for r in RESOURCES))
    out.print(table)
    out.print(f"{summary['partners']} partners, {summary['districts']} districts, {summary['roles']} roles")


@main.command(epilog=EXIT_CODES)
@click.argument("batch", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Output folder; written whole or not at all (an earlier run there is replaced).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario setting, e.g. --set weights.travel=0 --set solver.time_limit_s=10.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Shortcut for --set solver.time_limit_s=SECONDS.")
@click.option("-q", "--quiet", is_flag=True, help="No progress line; the summary is still printed.")
@reports_errors
def solve(batch: Path, out_dir: Path, overrides: tuple[str, ...], time_limit: float | None, quiet: bool) -> None:
    """Solve a batch, verify the plan and write the output folder."""
    loaded = matcher.read_batch(batch)
    changes = dict(parse_override(text) for text in overrides)
    if time_limit is not None:
        changes["solver.time_limit_s"] = time_limit
    scenario = loaded.scenario.with_(changes) if changes else loaded.scenario
    with err.status("solving…", spinner="dots") as status:
        def progress(seconds: float, objective: float, bound: float) -> None:
            if not quiet:
                status.update(f"solving… {seconds:.1f} s, best plan {objective:.3f}, bound {bound:.3f}")
        result = matcher.solve(loaded, scenario, progress=progress)
    result.raise_for_status()
    written = result.write(out_dir)
    print_summary(result)
    out.print(f"Plan verified and written to {written}/")


def print_summary(result: matcher.Result) -> None:
    """Status, objective, bound, gap, coverage per resource, unmet needs, time."""
    table = Table(title="Run summary", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    status = result.status.value + (" (proven)" if result.status is matcher.Status.OPTIMAL else
                                    " (not proven optimal: see the gap)")
    table.add_row("status", status)
    table.add_row("objective", f"{result.objective:.4f}")
    table.add_row("best bound", f"{result.best_bound:.4f}")
    table.add_row("gap", f"{result.gap:.4%}")
    table.add_row("coverage", f"{result.coverage:.4f}")
    districts = result.districts_summary
    for resource in RESOURCES:
        needed, allocated = districts[f"needed_{resource}"].sum(), districts[f"allocated_{resource}"].sum()
        share = f"{allocated / needed:.1%}" if needed else "no needs"
        table.add_row(f"met: {resource}", f"{share} ({allocated:,} of {needed:,})")
    unmet = result.unmet
    table.add_row("unmet needs", f"{len(unmet)} ({int((unmet['allocated'] == 0).sum())} with nothing)")
    table.add_row("solve time", f"{result.times['solve_s']:.2f} s ({result.model_stats['pairs']} eligible pairs)")
    out.print(table)


@main.command(epilog=EXIT_CODES)
@click.argument("batch", type=click.Path(path_type=Path))
@click.argument("out_dir", metavar="OUT", type=click.Path(path_type=Path))
@reports_errors
def verify(batch: Path, out_dir: Path) -> None:
    """Re-check an output folder against its batch: every hard rule, from the files alone."""
    report = matcher.verify(batch, out_dir)
    if report.ok:
        out.print(f"OK: {out_dir} meets every hard rule ({len(report.checked)} checks: {', '.join(report.checked)})")
        return
    err.print(f"[bold red]Error:[/] {len(report.violations)} violation(s) in {escape(str(out_dir))}:")
    for violation in report.violations:
        err.print(f"  {violation}", markup=False)
    sys.exit(1)


@main.command()
def columns() -> None:
    """Print the table of every input column (Markdown), as the README shows it."""
    click.echo(columns_markdown())
