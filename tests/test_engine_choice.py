"""The engine is one choice for a whole run: textbook, fast or auto, from the
command line, the environment variable RNNBENCH_ENGINE or the suite's
[execution] table (in that order), recorded in every run's record."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from rnnbench.engine import fast
from rnnbench.execution_settings import merge_settings
from rnnbench.registry import load_registry
from rnnbench.resolve import resolve_data
from rnnbench.runner import run_here
from rnnbench.spec import ExecutionSpec

needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                 reason="the fast path needs numba (the 'fast' extra)")

SUITE = {
    "name": "engines",
    "task": {"name": "adding"},
    "seq_lens": [6],
    "seeds": [0],
    "train": {"learning_rate": 0.05, "steps": 6, "batch_size": 8, "log_every": 3, "test_size": 16,
              "validation_size": 16, "dtype": "float64"},
    "variants": [{"name": "lstm", "cell": "lstm", "hidden_size": 5}],
}


SUITE_FILE = """
name = "engines"
seq_lens = [6]
seeds = [0]
[task]
name = "adding"
[train]
learning_rate = 0.05
steps = 6
batch_size = 8
log_every = 3
test_size = 16
validation_size = 16
dtype = "float64"
[[variants]]
name = "lstm"
cell = "lstm"
hidden_size = 5
"""  # SUITE, as a user writes it


@needs_numba
def test_a_run_takes_the_path_its_engine_names_and_records_it():
    registry = load_registry()
    (run,) = resolve_data(SUITE, registry).runs()
    textbook = run_here(run, registry, threads=1, timeout_s=None, engine="textbook")
    compiled = run_here(run, registry, threads=1, timeout_s=None, engine="fast")
    auto = run_here(run, registry, threads=1, timeout_s=None)
    assert (textbook.versions["engine"], compiled.versions["engine"], auto.versions["engine"]) == (
        "textbook", "fast", "fast")
    assert textbook.final_test_loss == pytest.approx(compiled.final_test_loss, rel=1e-9)
    assert fast.chosen() == "auto"  # the choice ends with the run


def test_the_command_line_wins_over_the_environment_which_wins_over_the_suite(monkeypatch):
    suite = ExecutionSpec(engine="textbook")
    monkeypatch.delenv(fast.ENVIRONMENT_VARIABLE, raising=False)
    assert merge_settings(suite).engine == "textbook"
    monkeypatch.setenv(fast.ENVIRONMENT_VARIABLE, "auto")
    assert merge_settings(suite).engine == "auto"
    assert merge_settings(suite, engine="textbook").engine == "textbook"
    monkeypatch.setenv(fast.ENVIRONMENT_VARIABLE, "quick")
    with pytest.raises(fast.EngineUnavailable, match=r"^RNNBENCH_ENGINE: 'quick' is not an engine"):
        merge_settings(suite)


def test_fast_without_numba_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(fast, "_numba", False)
    with pytest.raises(fast.EngineUnavailable) as caught:
        merge_settings(ExecutionSpec(), engine="fast")
    assert str(caught.value) == fast.NO_NUMBA and "\n" not in fast.NO_NUMBA
    with fast.engine("auto"):
        assert fast.path() == "textbook"  # auto falls back, as without numba


def test_run_engine_textbook_from_the_command_line_and_a_bad_environment_value(tmp_path):
    (tmp_path / "s.toml").write_text(SUITE_FILE)
    env = {k: v for k, v in os.environ.items() if k != fast.ENVIRONMENT_VARIABLE}
    done = subprocess.run([sys.executable, "-m", "rnnbench", "run", "s.toml", "--engine", "textbook", "-q"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "results" / "engines" / "runs").glob("*.json")]
    assert records and {r["versions"]["engine"] for r in records} == {"textbook"}
    assert "engine" in (tmp_path / "reports" / "engines" / "index.html").read_text()
    bad = subprocess.run([sys.executable, "-m", "rnnbench", "run", "s.toml", "-q"], cwd=tmp_path,
                         env={**env, fast.ENVIRONMENT_VARIABLE: "quick"}, capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: RNNBENCH_ENGINE: 'quick' is not an engine; choose one of auto, fast, textbook"]
