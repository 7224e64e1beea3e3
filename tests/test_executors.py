"""Executors: the same numbers everywhere, time limits, retries, isolated failures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnbench.cli import main
from rnnbench.execution_settings import merge_settings
from rnnbench.executors import ExecutorUnavailable
from rnnbench.registry import load_registry
from rnnbench.runner import plan, run_suite
from rnnbench.resolve import resolve_data
from rnnbench.spec import ExecutionSpec
from rnnbench.store import Store

from command import TINY_SUITE, rnnbench

FIXTURES = Path(__file__).parent / "fixtures"
METRICS = ("status", "curves", "decay", "final_train_loss", "final_test_loss", "steps_done")

SUITE_FILE = TINY_SUITE


def stored_metrics(store: Store) -> dict[str, dict]:
    """Every stored record's metrics, as stored (JSON), by key."""
    records = (json.loads(p.read_text()) for p in store.runs_dir.glob("*.json"))
    return {r["key"]: {m: r[m] for m in METRICS} for r in records}


def sweep(tmp_path, suite, registry, name, **execution):
    store = Store(tmp_path / name / suite.name)
    summary = run_suite(suite, store, registry, execution=ExecutionSpec(**execution))
    return summary, store


@pytest.fixture(scope="module")
def determinism_suite(registry):
    data = {
        "name": "same",
        "task": {"name": "adding"},
        "seq_lens": [7],
        "seeds": [0, 1],
        "train": {"learning_rate": 0.1, "steps": 40, "batch_size": 8, "log_every": 10, "test_size": 16},
        "variants": [
            {"name": "tanh", "hidden_size": 8},
            {"name": "lstm", "cell": "lstm", "hidden_size": 8,
             "remedies": [{"name": "clip_norm", "threshold": 0.5}]},
        ],
        # tuned: the trials, the selection and the evaluation runs must agree everywhere
        "tuning": {"budget": 3, "seeds": [50], "search": [{"name": "learning_rate", "values": [0.03, 0.1, 0.3]}]},
    }
    return resolve_data(data, registry)


def selections(store: Store) -> list:
    return [(s.variant, s.seq_len, s.chosen.trial, s.chosen.score) for s in store.selections()]


@pytest.fixture(scope="module")
def serial_metrics(tmp_path_factory, determinism_suite, registry):
    summary, store = sweep(tmp_path_factory.mktemp("serial"), determinism_suite, registry, "serial")
    assert summary.counts == {"ok": 4} and summary.tuning.total == 6
    assert len(stored_metrics(store)) == 10  # 6 trial runs, 4 evaluation runs
    return stored_metrics(store), selections(store)


def test_a_process_pool_stores_bit_identical_metrics(tmp_path, determinism_suite, registry, serial_metrics):
    summary, store = sweep(tmp_path, determinism_suite, registry, "pool", executor="processes", jobs=2)
    assert summary.counts == {"ok": 4}
    assert (stored_metrics(store), selections(store)) == serial_metrics


def test_dask_on_a_local_cluster_stores_bit_identical_metrics(
    tmp_path, determinism_suite, registry, serial_metrics
):
    pytest.importorskip("distributed", reason="Dask is not installed (pip install rnnbench[dask])")
    summary, store = sweep(tmp_path, determinism_suite, registry, "dask", executor="dask", jobs=2)
    assert summary.counts == {"ok": 4}
    assert (stored_metrics(store), selections(store)) == serial_metrics


def test_dask_runs_on_a_cluster_given_by_its_scheduler_address(
    tmp_path, determinism_suite, registry, serial_metrics
):
    distributed = pytest.importorskip("distributed", reason="Dask is not installed (pip install rnnbench[dask])")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        summary, store = sweep(
            tmp_path, determinism_suite, registry, "remote", executor="dask",
            scheduler=cluster.scheduler_address,
        )
        assert summary.counts == {"ok": 4}
        assert (stored_metrics(store), selections(store)) == serial_metrics
        # the cluster outlives the sweep: the runner closes only its client
        assert cluster.status.name == "running"


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_a_run_over_the_time_limit_is_stored_as_timeout(tmp_path, registry, small_suite_data, executor):
    small_suite_data["train"]["steps"] = 20_000  # about 10 s: a broken limit fails, not hangs
    small_suite_data["variants"] = small_suite_data["variants"][:1]
    small_suite_data["seeds"] = [0]
    suite = resolve_data(small_suite_data, registry)
    summary, store = sweep(tmp_path, suite, registry, executor, executor=executor, jobs=2, timeout_s=0.3)
    assert summary.counts == {"timeout": 1} and summary.failed == 1
    [result] = store.results()
    assert result.status == "timeout"
    assert result.message.startswith("RunTimeout: over the time limit of 0.3 s after")
    assert 0 < result.steps_done < 20_000 and result.wall_time_s >= 0.3


def test_plan_picks_missing_runs_and_with_retry_the_failed_ones(small_suite):
    runs = small_suite.runs()
    keys = [r.key() for r in runs]
    stored = {keys[0]: "ok", keys[1]: "error", keys[2]: "timeout"}  # keys[3] missing
    assert plan(runs, stored) == [runs[3]]
    assert plan(runs, stored, retry_failed=True) == runs[1:]
    assert plan(runs, stored | {keys[3]: "diverged"}, retry_failed=True) == runs[1:3]
    assert plan(runs, stored, rerun=True) == runs


def test_retry_failed_reruns_only_runs_stored_as_error_or_timeout(tmp_path, registry, small_suite):
    store = Store.for_suite(tmp_path, small_suite)
    run_suite(small_suite, store, registry)
    keys = [r.key() for r in small_suite.runs()]
    for key, status in ((keys[1], "error"), (keys[2], "timeout")):
        path = store.runs_dir / f"{key}.json"
        record = json.loads(path.read_text())
        record.update(status=status, message="simulated")
        path.write_text(json.dumps(record))
    untouched = {k: (store.runs_dir / f"{k}.json").read_bytes() for k in (keys[0], keys[3])}

    plain = run_suite(small_suite, store, registry)
    assert plain.skipped == 4 and plain.counts == {}
    retried = run_suite(small_suite, store, registry, retry_failed=True)
    assert retried.skipped == 2 and retried.counts == {"ok": 2}
    assert {k: s for k, s in store.statuses().items()} == dict.fromkeys(keys, "ok")
    assert {k: (store.runs_dir / f"{k}.json").read_bytes() for k in untouched} == untouched



def test_a_crashing_plugin_in_the_process_pool_is_isolated_and_retried(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text(SUITE_FILE.replace('threshold = 0.5 }]', 'threshold = 0.5 }, "crash"]'))
    crash = str(FIXTURES / "crashing_plugin.py")
    done = rnnbench("run", "tiny.toml", "--jobs", "2", "--plugin", crash, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "ok 2, diverged 0, error 2, timeout 0" in done.stdout
    # the two seeds that failed the same way share one line
    failed = [line for line in done.stderr.splitlines() if line.startswith("failed:")]
    assert failed == ["failed: clipped T=5 seeds=0,1: RuntimeError: this remedy always fails"]
    assert done.stdout.strip().splitlines()[-1].startswith("report: ")
    saved = json.loads((tmp_path / "results/tiny/suite.json").read_text())
    assert saved["execution"]["executor"] == "processes" and saved["execution"]["jobs"] == 2
    errors = [r for r in Store(tmp_path / "results/tiny").results() if r.status == "error"]
    assert len(errors) == 2 and all("crashing_plugin.py" in r.traceback for r in errors)

    retried = rnnbench("run", "tiny.toml", "--jobs", "2", "--plugin", crash, "--retry-failed", cwd=tmp_path)
    assert retried.returncode == 1
    assert "ran 2 of 4 runs (ok 0, diverged 0, error 2, timeout 0); 2 already stored were skipped" in retried.stdout


def test_a_run_that_kills_its_worker_is_recorded_and_the_others_finish(tmp_path):
    registry = load_registry([str(FIXTURES / "exiting_plugin.py")])
    data = {
        "name": "dies", "task": {"name": "adding"}, "seq_lens": [5], "seeds": [0, 1, 2],
        "train": {"steps": 10, "batch_size": 4, "log_every": 5, "test_size": 8},
        "variants": [
            {"name": "fine", "hidden_size": 4},
            {"name": "exits", "hidden_size": 4, "remedies": ["exit_process"]},
        ],
    }
    suite = resolve_data(data, registry)
    store = Store.for_suite(tmp_path, suite)
    summary = run_suite(
        suite, store, registry, execution=ExecutionSpec(executor="processes", jobs=2),
        plugins=[str(FIXTURES / "exiting_plugin.py")],
    )
    assert summary.counts == {"ok": 3, "error": 3}
    by_variant = {(r.spec.variant.name, r.status) for r in store.results()}
    assert by_variant == {("fine", "ok"), ("exits", "error")}
    assert all("worker process died" in r.message for r in store.results() if r.status == "error")


def test_merge_settings_lets_the_command_line_override_the_suite():
    suite = ExecutionSpec(timeout_s=5)
    assert merge_settings(suite).executor == "serial"
    assert merge_settings(suite, jobs=2) == ExecutionSpec(executor="processes", jobs=2, timeout_s=5)
    assert merge_settings(suite, jobs=1).executor == "serial"
    assert merge_settings(suite, scheduler="tcp://127.0.0.1:8786").executor == "dask"
    assert merge_settings(ExecutionSpec(executor="dask"), jobs=3) == ExecutionSpec(executor="dask", jobs=3)
    assert merge_settings(suite, executor="serial", timeout_s=1).timeout_s == 1
    with pytest.raises(ExecutorUnavailable, match="--scheduler is for the dask executor"):
        merge_settings(suite, executor="processes", scheduler="tcp://127.0.0.1:8786")


def test_the_dask_executor_without_dask_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    suite = tmp_path / "tiny.toml"
    suite.write_text(SUITE_FILE)
    done = CliRunner().invoke(main, ["run", str(suite), "--out", str(tmp_path), "--executor", "dask"])
    assert done.exit_code == 2
    errors = [line for line in done.output.splitlines() if line.startswith("error: ")]
    assert errors == ["error: the dask executor needs Dask, which is not installed: pip install rnnbench[dask]"]
    assert not (tmp_path / "results").exists()
