"""Resume and sharing, with real processes: kill -9 mid-sweep, restart; two sweeps at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnnbench.results import RunResult
from rnnbench.store import Store, StoreBusy, find_result_dirs

RUNS = 8

SUITE = """
name = "{name}"
seq_lens = [20]
seeds = [0, 1, 2, 3]
[task]
name = "adding"
[train]
steps = {steps}
batch_size = 16
log_every = 50
test_size = 32
[[variants]]
name = "tanh"
hidden_size = 16
[[variants]]
name = "clipped"
hidden_size = 16
remedies = [{{ name = "clip_norm", threshold = 1.0 }}]
"""


def write_suite(directory: Path, name: str, steps: int) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(SUITE.format(name=name, steps=steps))
    return path


def command(suite: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rnnbench", "run", str(suite), "--out", str(out), "--quiet", *extra]


def records(runs_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in runs_dir.glob("*.json")}


def all_valid(runs_dir: Path) -> list[RunResult]:
    return [RunResult.model_validate_json(p.read_text()) for p in runs_dir.glob("*.json")]


def descendants(pid: int) -> list:
    psutil = pytest.importorskip("psutil")
    return psutil.Process(pid).children(recursive=True)


@pytest.mark.parametrize("jobs", [(), ("--jobs", "2")], ids=["serial", "jobs2"])
def test_kill_9_mid_sweep_then_restart_runs_only_what_is_missing(tmp_path, jobs):
    suite = write_suite(tmp_path, "resume", steps=800)
    out = tmp_path / "out"
    runs_dir = out / "results" / "resume" / "runs"
    sweep = subprocess.Popen(command(suite, out, *jobs), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(runs_dir.glob("*.json")) and sweep.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        workers = descendants(sweep.pid) if jobs else []
    finally:
        sweep.kill()  # SIGKILL, to this process only
        # its output pipes close when it and any worker it left behind are gone
        sweep.communicate(timeout=60)
    assert sweep.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"

    before = records(runs_dir)
    assert 1 <= len(before) < RUNS
    assert len(all_valid(runs_dir)) == len(before)  # what is there is whole
    # the workers of a killed sweep go with it
    if workers:
        psutil = pytest.importorskip("psutil")
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == []

    # a record whose write was killed midway is only a temporary file: never a result
    stored_keys = {name.removesuffix(".json") for name in before}
    half_written = runs_dir / ".0123456789abcdef0123.json.x1y2z3.tmp"
    half_written.write_text('{"key": "0123456789abcdef0123", "status": "ok", "cur')
    assert "0123456789abcdef0123" not in stored_keys

    restarted = subprocess.run(command(suite, out, *jobs), capture_output=True, text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stderr
    missing = RUNS - len(before)
    assert f"ran {missing} of {RUNS} runs (ok {missing}," in restarted.stdout
    assert f"{len(before)} already stored were skipped" in restarted.stdout
    after = records(runs_dir)
    assert len(after) == RUNS and {k: after[k] for k in before} == before  # the stored ones untouched
    assert {r.status for r in all_valid(runs_dir)} == {"ok"}
    assert list(out.rglob("*.tmp")) == []


def test_two_sweeps_of_two_suites_into_one_results_dir_at_once(tmp_path):
    out = tmp_path / "shared"
    suites = {name: write_suite(tmp_path, name, steps=300) for name in ("alpha", "beta")}
    sweeps = [
        subprocess.Popen(command(path, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for path in suites.values()
    ]
    outputs = [s.communicate(timeout=300) for s in sweeps]
    for sweep, (stdout, stderr) in zip(sweeps, outputs):
        assert sweep.returncode == 0, stderr
        assert f"ran {RUNS} of {RUNS} runs" in stdout
    assert [d.name for d in find_result_dirs(out / "results")] == ["alpha", "beta"]
    for name in suites:
        store = Store(out / "results" / name)
        assert store.stored_suite().name == name
        results = store.results()
        assert len(results) == RUNS and {r.status for r in results} == {"ok"}
        assert all(r.spec.seq_len == 20 for r in results)
        assert (out / "reports" / name / "index.html").is_file()
    assert list(out.rglob("*.tmp")) == []


def test_a_second_sweep_of_the_same_suite_into_the_same_dir_is_refused(tmp_path):
    suite = write_suite(tmp_path, "busy", steps=5)
    store = Store(tmp_path / "out" / "results" / "busy")
    with store.lock():
        with pytest.raises(StoreBusy):
            with Store(store.root).lock():
                pass
        refused = subprocess.run(command(suite, tmp_path / "out"), capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2
        assert f"another rnnbench process (pid {os.getpid()}) is running this suite" in refused.stderr
        assert not store.runs_dir.exists()
    # the lock goes with its holder
    done = subprocess.run(command(suite, tmp_path / "out"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(store.results()) == RUNS
