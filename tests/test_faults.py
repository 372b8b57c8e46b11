"""Faults: a killed write, Ctrl-C while solving, reproducible plans, and solver failures."""
from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import matcher
from matcher.cli import main
from matcher.outputs import OUTPUT_FILES, write_folder
from tests.builders import write_batch

solve_module = importlib.import_module("matcher.solve")  # the module, not the function matcher.solve

SAMPLE = Path(__file__).parents[1] / "data" / "sample"
OFFERS = [{"offer_id": "O1", "partner_id": "P1", "resource": "volunteers", "quantity": 10},
          {"offer_id": "O2", "partner_id": "P2", "resource": "office_space", "quantity": 1, "reach": "any"}]
NEEDS = [{"need_id": "N1", "district_id": "D1", "resource": "volunteers", "quantity": 6},
         {"need_id": "N2", "district_id": "D2", "resource": "office_space", "quantity": 1}]


def small_result(tmp_path: Path, **settings) -> matcher.Result:
    batch = matcher.read_batch(write_batch(tmp_path / "batch", offers=OFFERS, needs=NEEDS))
    return matcher.solve(batch, batch.scenario.with_({"solver.workers": 1, **settings}))


# A write killed half way ----------------------------------------------------------------------------------

def _write_forever(folder: Path, result: matcher.Result) -> None:
    manifest = result.manifest()
    for turn in range(10**9):
        write_folder(folder, result.tables, {**manifest, "turn": turn}, result.batch)


def assert_whole_or_absent(folder: Path, batch: matcher.Batch) -> bool:
    if not folder.exists():
        return False
    assert sorted(p.name for p in folder.iterdir()) == sorted(OUTPUT_FILES)
    json.loads((folder / "run.json").read_text())
    assert matcher.verify(batch, folder).ok
    return True


def test_a_write_killed_at_any_moment_leaves_a_whole_folder_or_none(tmp_path):
    result = small_result(tmp_path)
    folder = tmp_path / "out"
    fork = multiprocessing.get_context("fork")
    rng = random.Random(7)
    seen = 0
    for _ in range(25):
        child = fork.Process(target=_write_forever, args=(folder, result))
        child.start()
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        seen += assert_whole_or_absent(folder, result.batch)
    assert seen  # some kills came after a first whole write
    write_folder(folder, result.tables, result.manifest(), result.batch)  # the next run cleans up after them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch", "out"]
    assert_whole_or_absent(folder, result.batch)


def test_a_run_killed_between_its_renames_is_restored_by_the_next(tmp_path):
    result = small_result(tmp_path)
    folder = tmp_path / "out"
    write_folder(folder, result.tables, result.manifest(), result.batch)
    os.replace(folder, tmp_path / ".out.old-999999999")  # as if killed right after the first rename
    (tmp_path / ".out.writing-999999999").mkdir()
    write_folder(folder, result.tables, {**result.manifest(), "turn": 2}, result.batch)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch", "out"]
    assert json.loads((folder / "run.json").read_text())["turn"] == 2


# Ctrl-C while solving -------------------------------------------------------------------------------------

def test_ctrl_c_keeps_the_best_plan_found_so_far():
    batch = matcher.read_batch(SAMPLE)

    sent = []

    def interrupt_at_first_plan(seconds, objective, bound):  # runs in a CP-SAT thread
        if not sent:
            sent.append(seconds)
            os.kill(os.getpid(), signal.SIGINT)

    result = matcher.solve(batch, batch.scenario.with_({"solver.workers": 1}), progress=interrupt_at_first_plan)
    assert result.model_stats["interrupted"] is True
    assert result.status is matcher.Status.FEASIBLE
    assert result.gap > 0 and result.best_bound > result.objective
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


@pytest.mark.slow
def test_ctrl_c_on_the_command_line_writes_the_plan_so_far(tmp_path):
    out = tmp_path / "out"
    child = subprocess.Popen([Path(sys.executable).parent / "matcher", "solve", str(SAMPLE), "-o", str(out),
                              "--set", "solver.workers=1", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=Path(__file__).parents[1])
    time.sleep(3.0)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=60)
    assert "Traceback" not in stdout + stderr
    if child.returncode == 4:  # interrupted before the first plan (a very slow machine)
        assert "interrupted before any plan was found" in stderr and not out.exists()
        return
    assert child.returncode == 0, stderr
    manifest = json.loads((out / "run.json").read_text())
    if manifest["status"] == "feasible":
        assert manifest["model"]["interrupted"] is True and manifest["gap"] > 0
        assert "Interrupted: this is the best plan found before Ctrl-C." in stdout
    assert matcher.verify(SAMPLE, out).ok


def test_ctrl_c_before_any_plan_exits_4_and_writes_nothing(tmp_path, monkeypatch):
    real = solve_module.run_solver

    def no_plan(solver, model, callback):  # as if Ctrl-C came before the first plan
        solve_module.INTERRUPT.requested = True
        solver.parameters.stop_after_presolve = True
        return real(solver, model, callback)

    monkeypatch.setattr(solve_module, "run_solver", no_plan)
    batch = write_batch(tmp_path / "batch", offers=OFFERS, needs=NEEDS)
    result = CliRunner().invoke(main, ["solve", str(batch), "-o", str(tmp_path / "out"), "--set",
                                       "solver.decompose=false"])
    assert result.exit_code == 4, result.output
    assert result.stderr == "Error: interrupted before any plan was found; nothing was written\n"
    assert not (tmp_path / "out").exists()


def test_ctrl_c_outside_the_search_exits_130_without_a_traceback(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(matcher, "read_batch", interrupted)
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 130
    assert result.stderr.startswith("Interrupted.")


# Same batch, scenario and seed: the same files --------------------------------------------------------------

def tied_batch(folder: Path) -> Path:
    """Many plans of equal worth: which offer goes where is a tie the solver must break the same way."""
    offers = [{"offer_id": f"O{i}", "partner_id": f"P{i % 2 + 1}", "resource": "volunteers", "quantity": 4}
              for i in range(8)]  # each partner serves its home district: two independent parts
    offers += [{"offer_id": f"S{i}", "partner_id": f"P{i % 2 + 1}", "resource": "office_space", "quantity": 2}
               for i in range(4)]  # whole offers: not a transportation problem, so CP-SAT solves each part
    needs = [{"need_id": f"N{i}", "district_id": f"D{i % 2 + 1}", "resource": "volunteers", "quantity": 6}
             for i in range(6)]
    needs += [{"need_id": f"M{i}", "district_id": f"D{i % 2 + 1}", "resource": "office_space", "quantity": 1}
              for i in range(4)]
    return write_batch(folder, offers=offers, needs=needs, scenario="[weights]\ntravel = 0\nfairness = 0\n")


def outputs(folder: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    manifest = json.loads(files.pop("run.json"))
    manifest.pop("times_s")
    for part in manifest.get("parts", []):
        part.pop("solve_s", None)
        part.pop("start_s", None)
        part.pop("time_share_s", None)  # a share depends on how long the parts before it took
    return files | {"run.json": json.dumps(manifest, sort_keys=True).encode()}


@pytest.mark.parametrize("search_workers", [1, 2])
def test_the_same_seed_writes_byte_identical_files(tmp_path, search_workers):
    folder = tied_batch(tmp_path / "batch")
    written = []
    for run in range(2):
        out = tmp_path / f"out{run}"
        result = CliRunner().invoke(main, ["solve", str(folder), "-o", str(out), "--quiet",
                                           "--set", f"solver.workers={search_workers}", "--set", "solver.seed=3"])
        assert result.exit_code == 0, result.stderr
        written.append(outputs(out))
    assert written[0] == written[1]


MODEL_DIGEST = """
import hashlib, matcher
from matcher.candidates import eligible_pairs
from matcher.model import build_model
batch = matcher.read_batch({folder!r})
print(hashlib.sha256(str(build_model(batch, eligible_pairs(batch), batch.scenario).model.proto).encode())
      .hexdigest())
"""


def test_the_model_does_not_depend_on_the_python_hash_seed():
    digests = set()
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", MODEL_DIGEST.format(folder=str(SAMPLE))], capture_output=True,
                              text=True, env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        digests.add(done.stdout.strip())
    assert len(digests) == 1


@pytest.mark.slow
def test_the_plan_does_not_depend_on_the_number_of_processes(tmp_path):
    folder = tied_batch(tmp_path / "batch")
    written = []
    for processes in (1, 2):
        out = tmp_path / f"out{processes}"
        result = CliRunner().invoke(main, ["solve", str(folder), "-o", str(out), "--quiet", "--workers",
                                           str(processes), "--set", "solver.workers=2"])
        assert result.exit_code == 0, result.stderr
        written.append(outputs(out))
    assert written[0] == written[1]


def test_more_than_one_search_worker_searches_deterministically(tmp_path, monkeypatch):
    seen = []
    real = solve_module.run_solver

    def spy(solver, model, callback):
        seen.append((solver.parameters.num_workers, solver.parameters.interleave_search))
        return real(solver, model, callback)

    monkeypatch.setattr(solve_module, "run_solver", spy)
    monkeypatch.setattr(solve_module, "PROOF_PASS_DTIME", 0.0)  # past the one-worker pass that starts it
    small_result(tmp_path, **{"solver.workers": 3, "solver.decompose": False})
    assert seen == [(1, False), (3, True)]


# Solver failures are not "infeasible" ----------------------------------------------------------------------

def test_numbers_too_large_for_the_solver_are_a_solver_error(tmp_path, monkeypatch):
    real = solve_module.build_model

    def overflowing(*args, **kwargs):
        m = real(*args, **kwargs)
        x = m.model.new_int_var(0, 2**40, "x")
        m.model.add(x * 2**40 <= 5)
        return m

    monkeypatch.setattr(solve_module, "build_model", overflowing)
    batch = write_batch(tmp_path / "batch", offers=OFFERS, needs=NEEDS)
    result = CliRunner().invoke(main, ["solve", str(batch), "-o", str(tmp_path / "out"), "--set",
                                       "solver.workers=1", "--set", "solver.decompose=false"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: the batch's numbers are too large for the solver's 64-bit integers")
    assert "infeasible" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_invalid_model_is_reported_as_a_bug_not_as_infeasible(tmp_path, monkeypatch):
    real = solve_module.build_model

    def invalid(*args, **kwargs):
        m = real(*args, **kwargs)
        x = m.model.new_int_var(0, 5, "x")
        m.model.add_modulo_equality(x, x, 0)  # modulo by zero
        return m

    monkeypatch.setattr(solve_module, "build_model", invalid)
    with pytest.raises(matcher.SolverError, match="the solver rejected the model"):
        small_result(tmp_path, **{"solver.decompose": False})


def test_running_out_of_memory_is_a_solver_error(tmp_path, monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(solve_module, "build_model", no_memory)
    with pytest.raises(matcher.SolverError, match="out of memory"):
        small_result(tmp_path, **{"solver.decompose": False})
