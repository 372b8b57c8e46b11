"""The `matcher` command: a thin layer over the library that speaks to field directors.

Errors become messages and exit codes here, and only here.
"""
from __future__ import annotations

import functools
import os
import sys
import traceback
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import matcher
from matcher.errors import InputError, MatcherError, NoSolutionError
from matcher.limits import scenario_number_problems
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
        except KeyboardInterrupt:  # Ctrl-C outside the search (reading, verifying, writing)
            err.print("[bold red]Interrupted.[/] An output folder is either whole or untouched.", markup=True)
            sys.exit(130)
        except MemoryError:
            err.print("[bold red]Error:[/] out of memory; split the batch or use a machine with more memory",
                      markup=True)
            sys.exit(1)
        except Exception as exc:  # a bug in matcher, not the user's mistake: say so in one line
            if os.environ.get("MATCHER_DEBUG"):
                raise
            # The exception's own text is left out: it could quote input cells, contact data included.
            err.print(f"[bold red]Internal error[/] (a bug in matcher, please report it): "
                      f"{escape(type(exc).__name__)} at {escape(_where(exc))}. Set MATCHER_DEBUG=1 to see more.",
                      markup=True)
            sys.exit(1)
    return wrapper


def _where(exc: BaseException) -> str:
    """file:line of the innermost matcher frame of a traceback (or of the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}matcher{os.sep}" in f.filename] or frames
    return f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "an unknown place"


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
@click.option("--report", "with_report", is_flag=True, help="Also write report.html into the output folder.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Local processes solving independent parts at once (the plan does not depend on it).")
@click.option("--dask", metavar="ADDRESS",
              help="Send independent parts to a Dask scheduler (tcp://host:8786), or 'local' for an embedded one.")
@click.option("--redact", is_flag=True, help="Leave contact fields (partner names, who agreed) out of the outputs.")
@reports_errors
def solve(batch: Path, out_dir: Path, overrides: tuple[str, ...], time_limit: float | None, quiet: bool,
          with_report: bool = False, workers: int = 1, dask: str | None = None, redact: bool = False) -> None:
    """Solve a batch, verify the plan and write the output folder.

    Ctrl-C while solving stops the search and writes the best plan found so far (not proven optimal).
    """
    loaded = matcher.read_batch(batch)
    changes = dict(parse_override(text) for text in overrides)
    if time_limit is not None:
        changes["solver.time_limit_s"] = time_limit
    scenario = loaded.scenario.with_(changes) if changes else loaded.scenario
    if changes and (problems := scenario_number_problems(scenario.to_dict(), "--set")):
        raise InputError(problems)
    with err.status("solving…", spinner="dots") as status:
        def progress(seconds: float, objective: float, bound: float) -> None:
            if not quiet:
                status.update(f"solving… {seconds:.1f} s, best plan {objective:.3f}, bound {bound:.3f}")
        result = matcher.solve(loaded, scenario, progress=progress, workers=workers, dask=dask)
    interrupted = result.model_stats.get("interrupted", False)
    if interrupted and not result.status.has_plan:
        raise NoSolutionError("interrupted before any plan was found; nothing was written")
    result.raise_for_status()
    written = result.write(out_dir, redact=redact)
    print_summary(result)
    if interrupted:
        out.print("Interrupted: this is the best plan found before Ctrl-C.")
    out.print(f"Plan verified and written to {written}/")
    if with_report:
        from matcher.report import write_report
        out.print(f"Report written to {write_report(written)}")


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


@main.command(epilog=EXIT_CODES)
@click.argument("out_dir", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--need", help="Why this need gets what it gets (or why it is short).")
@click.option("--partner", help="Where this partner's offers went and which roles it holds, and why.")
@click.option("--district", help="What this district gets, from whom, and what it still lacks.")
@click.option("--what-if", "decision", metavar="DECISION",
              help="Re-solve with one more decision and report its price: 'lock O12->N7', 'lock O12->N7=300', "
                   "'forbid O12->N7', 'forbid P3->D2' or 'lead P3->R2'.")
@click.option("--batch", type=click.Path(path_type=Path), help="The batch folder (default: the one run.json names).")
def explain(out_dir: Path, need: str | None, partner: str | None, district: str | None, decision: str | None,
            batch: Path | None) -> None:
    """Explain a run for a person: a need, a partner, a district, or the price of a decision."""
    if sum(x is not None for x in (need, partner, district, decision)) != 1:
        raise click.UsageError("give exactly one of --need, --partner, --district, --what-if")
    explain_run(out_dir, need, partner, district, decision, batch)


@reports_errors
def explain_run(out_dir: Path, need: str | None, partner: str | None, district: str | None, decision: str | None,
                batch: Path | None) -> None:
    from matcher.explain import Explainer, what_if

    if decision:
        out.print(str(what_if(out_dir, decision, batch)), markup=False)
        return
    out.print(Explainer.from_folder(out_dir, batch).text(need=need, partner=partner, district=district),
              markup=False)


@main.command(epilog=EXIT_CODES)
@click.argument("out_dir", metavar="OUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Where to write it (default: OUT/report.html).")
@reports_errors
def report(out_dir: Path, output: Path | None) -> None:
    """Write report.html for a run: one page that works offline, with flows, coverage, workloads and unmet needs."""
    from matcher.report import write_report

    out.print(f"Report written to {write_report(out_dir, output)}")


@main.command(epilog=EXIT_CODES)
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@reports_errors
def diff(run_a: Path, run_b: Path) -> None:
    """What moved from RUN_A to RUN_B: allocations, roles and coverage by district."""
    from matcher.diff import diff_runs

    out.print(diff_runs(run_a, run_b).text(title=f"What moved from {run_a} to {run_b}"), markup=False)


@main.command(epilog=EXIT_CODES)
@click.option("--size", type=click.Choice(["city", "state", "national"]), default="city", show_default=True,
              help="Scale of the batch (DESIGN.md, Scale).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same files, byte for byte.")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Batch folder to write; an existing folder that is not empty needs --overwrite.")
@click.option("--districts", type=click.IntRange(min=1), help="Override the number of districts.")
@click.option("--partners", type=click.IntRange(min=1), help="Override the number of partners.")
@click.option("--offers", type=click.IntRange(min=1), help="Override the number of offers.")
@click.option("--needs", type=click.IntRange(min=1), help="Override the number of needs.")
@click.option("--roles", type=click.IntRange(min=0), help="Override the number of roles.")
@click.option("--overwrite", is_flag=True, help="Replace the files of an existing batch folder.")
@reports_errors
def generate(size: str, seed: int, out_dir: Path, districts: int | None, partners: int | None, offers: int | None,
             needs: int | None, roles: int | None, overwrite: bool) -> None:
    """Write a synthetic batch (city, state or national) that matcher can always solve."""
    from matcher.generate import generate_batch

    folder = generate_batch(out_dir, size, seed, overwrite=overwrite, districts=districts, partners=partners,
                            offers=offers, needs=needs, roles=roles)
    out.print(f"Generated a {size} batch (seed {seed}) in {folder}/")
