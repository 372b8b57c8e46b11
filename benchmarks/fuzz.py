"""Fuzz the command line with malformed batches: every case must end in a message, never a traceback.

Each case starts from a small valid batch and breaks it at random, the way hand-edited
spreadsheets break: cells replaced by junk, huge or formula-like values, rows duplicated or dropped,
lines cut, files emptied, saved as Latin-1, UTF-16 or with semicolons, headers doubled, links to
files outside the folder, a broken scenario. `matcher validate` runs on every case; a case that
validates is also solved (`matcher solve`, one worker, a short time limit) and its folder checked.

A case fails when the command raises, prints "Traceback" or "Internal error", exits with a code
other than the documented ones, or leaves an output folder after a failed run.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import string
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "fuzz.json"

BASE = {
    "partners.csv": "partner_id,name,kind,home_district,reliability,role_hours,preferred_districts,email\n"
                    "P1,Alpha Union,union,D1,0.9,10,D1;D2,a@example.org\n"
                    "P2,Beta PAC,pac,D2,1,5,D2,b@example.org\n"
                    "P3,Gamma Group,group,D3,0.5,0,,\n",
    "districts.csv": "district_id,name,region,priority,neighbors,lat,lon,candidate\n"
                     "D1,One,North,1.5,D2,45.0,-93.0,Ann\n"
                     "D2,Two,North,1,D1;D3,45.1,-93.1,Bo\n"
                     "D3,Three,South,0.8,D2,45.2,-93.2,\n",
    "offers.csv": "offer_id,partner_id,resource,skill,quantity,unit,available_from,available_to,reach,radius_km,"
                  "districts,divisible,min_chunk,cost_per_unit,inkind_value_per_unit\n"
                  "O1,P1,volunteers,canvassing,40,hours,2026-09-01,2026-11-03,adjacent,,,true,4,0,0\n"
                  "O2,P2,money,,5000,usd,,,any,,,,1,0,0\n"
                  "O3,P3,office_space,,2,desks,,,radius,30,,false,1,0,50\n"
                  "O4,P1,expertise,legal,10,hours,,,listed,,D1;D3,,1,20,0\n",
    "needs.csv": "need_id,district_id,resource,skill,quantity,unit,priority,floor,needed_from,needed_to\n"
                 "N1,D1,volunteers,canvassing,30,hours,2,10,2026-10-01,2026-11-03\n"
                 "N2,D2,money,any,3000,usd,1,0,,\n"
                 "N3,D3,office_space,,1,desks,1,0,,\n"
                 "N4,D3,expertise,legal,8,hours,1,0,,\n",
    "roles.csv": "role_id,name,skill,district_id,hours,required,supporters\n"
                 "R1,Field lead,canvassing,D1,5,true,1\n",
    "capabilities.csv": "partner_id,skill,role_id,strength,hours\nP1,canvassing,,8,\nP2,,R1,5,3\n",
    "conflicts.csv": "partner_a,partner_b,scope,note\nP2,P3,district,old feud\n",
    "decisions.csv": "action,partner_id,offer_id,need_id,district_id,role_id,quantity,agreed_by,agreed_on,note\n"
                     "lock,,O1,N1,,,20,Dana,2026-08-01,agreed at the retreat\n"
                     "forbid,P3,,,D1,,,,,\n",
    "scenario.toml": "[weights]\ntravel = 0.001\n\n[solver]\ntime_limit_s = 2\nworkers = 1\nseed = 1\n",
}
NASTY = ["", " ", "-1", "0", "1e400", "nan", "inf", "-inf", "1e15", "99999999999", "2.5", "=1+1", "@SUM(A1)",
         "+1 555", "-P1", "P1", "P2", "P9", "D1", "D9", "N1", "O1", "R1", "R9", '"', '""', ";", "D1;D1", "D1;;D9",
         "\r", "\ufeff", "\x00", "volunteers", "office_space", "money", "lock", "forbid", "radius", "listed",
         "2026-13-01", "2026-11-03", "2020-01-01", "true", "maybe", "ДМ", "é", "\u202e", "ten", "x" * 200,
         "1" * 40, "0.0000001", "1e-300", "  P1  ", "HOURS", "usd", "desks", "people"]
EXIT_CODES = {0, 1, 3, 4}


def junk(rng: random.Random) -> str:
    if rng.random() < 0.75:
        return rng.choice(NASTY)
    return "".join(rng.choice(string.printable + "éДß€\u00a0") for _ in range(rng.randint(0, 10)))


def mutate_text(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["cell"] * 6 + ["header", "dup", "drop", "cut", "append", "blank", "quote", "swap"])
        i = rng.randrange(len(lines))
        if kind in ("cell", "header"):
            i = 0 if kind == "header" else i
            cells = lines[i].split(",")
            cells[rng.randrange(len(cells))] = junk(rng)
            lines[i] = ",".join(cells)
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "drop" and len(lines) > 1:
            lines.pop(i)
        elif kind == "cut":
            lines[i] = lines[i][: rng.randint(0, len(lines[i]))]
        elif kind == "append":
            lines[i] += rng.choice([",", ",,,", "," + junk(rng)])
        elif kind == "blank":
            lines.insert(i, rng.choice(["", ",,,,", " "]))
        elif kind == "quote":
            lines[i] = '"' + lines[i]
        elif kind == "swap" and len(lines) > 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def encode(text: str, rng: random.Random) -> bytes:
    """Mostly UTF-8; sometimes as a spreadsheet might save it."""
    roll = rng.random()
    if roll < 0.85:
        return text.encode("utf-8", "surrogatepass")
    if roll < 0.89:
        return text.encode("latin-1", "replace")
    if roll < 0.92:
        return text.encode("utf-16")
    if roll < 0.95:
        return ("\ufeff" + text.replace("\n", "\r\n")).encode("utf-8")
    if roll < 0.98:
        return text.replace(",", ";").encode("utf-8")
    return text.encode("utf-8") + "Caf\u00e9\n".encode("latin-1")  # mixed encodings


def make_case(folder: Path, outside: Path, rng: random.Random) -> str:
    """Write one broken batch into `folder`; returns a short label of what was broken."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    broken = rng.sample(sorted(BASE), rng.randint(1, 3))
    labels = []
    for name, text in BASE.items():
        path = folder / name
        if name not in broken:
            path.write_text(text, encoding="utf-8")
            continue
        roll = rng.random()
        if roll < 0.04:
            labels.append(f"{name}:missing")
        elif roll < 0.07:
            path.write_bytes(b"")
            labels.append(f"{name}:empty")
        elif roll < 0.10:
            path.write_text(text.split("\n")[0] + "\n", encoding="utf-8")
            labels.append(f"{name}:header-only")
        elif roll < 0.12:
            target = outside / f"{rng.randrange(10**9)}-{name}"
            target.write_text(text, encoding="utf-8")
            path.symlink_to(target)
            labels.append(f"{name}:link-outside")
        elif roll < 0.13:
            path.mkdir()
            labels.append(f"{name}:folder")
        else:
            path.write_bytes(encode(mutate_text(text, rng), rng))
            labels.append(f"{name}:edited")
    return " ".join(labels)


def run_case(seed: int, work: Path) -> dict:
    from click.testing import CliRunner

    from matcher.cli import main

    rng = random.Random(seed)
    batch, out, outside = work / "batch", work / "out", work / "outside"
    outside.mkdir(exist_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    label = make_case(batch, outside, rng)
    runner = CliRunner()
    outcome = {"seed": seed, "case": label}
    checked = runner.invoke(main, ["validate", str(batch)])
    outcome["validate"] = checked.exit_code
    problem = _problem(checked, out)
    if problem is None and checked.exit_code == 0:
        solved = runner.invoke(main, ["solve", str(batch), "-o", str(out), "--quiet", "--set", "solver.workers=1",
                                      "--time-limit", "2"])
        outcome["solve"] = solved.exit_code
        problem = _problem(solved, out)
        if problem is None and solved.exit_code == 0 and not (out / "run.json").exists():
            problem = "exit 0 without an output folder"
    if problem:
        outcome["problem"] = problem
    return outcome


def _problem(result, out: Path) -> str | None:
    """What is wrong with how a command ended, or None."""
    text = result.output + (result.stderr or "")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"raised {type(result.exception).__name__}: {result.exception}"
    if "Traceback" in text or "Internal error" in text:
        return "traceback: " + text.strip().splitlines()[-1][:300]
    if result.exit_code not in EXIT_CODES:
        return f"exit code {result.exit_code}"
    if result.exit_code != 0 and out.exists():
        return f"exit {result.exit_code} but {out} was written"
    return None


def run_chunk(seeds: list[int]) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="matcher-fuzz-") as tmp:
        return [run_case(seed, Path(tmp)) for seed in seeds]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cases", type=int, default=10_000, help="number of malformed batches (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="first case's seed; case i uses seed + i")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes (default: every core)")
    parser.add_argument("--out", default=str(RESULTS), help="JSON results file")


def run(args: argparse.Namespace) -> int:
    seeds = list(range(args.seed, args.seed + args.cases))
    chunks = [seeds[i::args.jobs * 20] for i in range(args.jobs * 20)]
    started = time.perf_counter()
    print(f"Fuzz: {args.cases} malformed batches from seed {args.seed} on {args.jobs} processes", flush=True)
    outcomes: list[dict] = []
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for done, chunk in enumerate(pool.imap_unordered(run_chunk, chunks), start=1):
            outcomes += chunk
            if done % max(1, len(chunks) // 10) == 0:
                print(f"  {len(outcomes):>6} cases, {sum('problem' in o for o in outcomes)} failures, "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
    seconds = time.perf_counter() - started
    outcomes.sort(key=lambda o: o["seed"])
    failures = [o for o in outcomes if "problem" in o]
    validate = Counter(o["validate"] for o in outcomes)
    solve = Counter(o["solve"] for o in outcomes if "solve" in o)
    rows = [("cases", len(outcomes)), ("refused as invalid input (exit 1)", validate.get(1, 0)),
            ("valid", validate.get(0, 0)), ("  solved (exit 0)", solve.get(0, 0)),
            ("  infeasible (exit 3)", solve.get(3, 0)), ("  no plan in time (exit 4)", solve.get(4, 0)),
            ("  refused at solve (exit 1)", solve.get(1, 0)), ("tracebacks or other failures", len(failures)),
            ("seconds", round(seconds, 1))]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value:>8}")
    for failure in failures[:20]:
        print(f"FAIL seed {failure['seed']} ({failure['case']}): {failure['problem']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cases": len(outcomes), "first_seed": args.seed, "seconds": round(seconds, 1),
                               "summary": {label.strip(): value for label, value in rows},
                               "failures": failures}, indent=1) + "\n")
    print(f"results written to {out}")
    return 1 if failures else 0
