"""The Python API: run a suite (built-in, file or dict) with the command's
options, load results, read them as DataFrames, concatenate them, write
Parquet; and what it says of bad input."""

from __future__ import annotations

import copy
import csv
import json
import shutil
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import pandas as pd
import pytest

import rnnbench
from rnnbench import session
from rnnbench.executors import ExecutorUnavailable
from rnnbench.registry import load_registry
from rnnbench.spec import SpecError

from command import rnnbench as command
from conftest import SMALL_SUITE

FIXTURES = Path(__file__).parent / "fixtures"

SUITE_TOML = """
name = "small"
seq_lens = [6]
seeds = [0, 1]
[task]
name = "adding"
[train]
learning_rate = 0.1
steps = 20
batch_size = 8
log_every = 5
test_size = 16
[[variants]]
name = "tanh"
hidden_size = 8
[[variants]]
name = "tanh + clip"
hidden_size = 8
remedies = [{ name = "clip_norm", threshold = 0.5 }]
"""

# a second suite, of another task with other metrics and criteria
OTHER_SUITE = {
    "name": "other",
    "task": {"name": "temporal_order"},
    "seq_lens": [12],
    "seeds": [0],
    "train": {"learning_rate": 0.1, "steps": 10, "batch_size": 8, "log_every": 5, "test_size": 16},
    "variants": [{"name": "gru", "cell": "gru", "hidden_size": 6}],
}

NUMBERS = ["final_train_loss", "final_test_loss", "final_validation_loss", "k_hat_init", "k_hat_final"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The small suite run from a dict into its own folder: (Results, out)."""
    out = tmp_path_factory.mktemp("small")
    return rnnbench.run(copy.deepcopy(SMALL_SUITE), out=out, report=False), out


@pytest.fixture(scope="module")
def other(tmp_path_factory):
    out = tmp_path_factory.mktemp("other")
    results = rnnbench.run(copy.deepcopy(OTHER_SUITE), out=out, report=False)
    assert results.summary.counts == {"ok": 1}
    return results, out


# --- running ---------------------------------------------------------------------------------


def test_run_from_a_dict_returns_the_results_and_prints_nothing(tmp_path, capfd):
    results = rnnbench.run(copy.deepcopy(SMALL_SUITE), out=tmp_path)
    assert capfd.readouterr() == ("", "")
    assert results.summary.counts == {"ok": 4} and results.summary.total == 4
    assert results.suite.name == "small" and results.paths == [tmp_path / "results" / "small"]
    assert len(results) == 4 and results.warnings == []
    assert results.report_path == tmp_path / "reports" / "small" / "index.html"
    assert results.report_path.is_file()
    assert sorted(r.key for r in results.records) == sorted(p.stem for p in (tmp_path / "results/small/runs").glob("*.json"))


def test_a_file_a_dict_and_the_command_store_the_same_numbers(small, tmp_path):
    by_dict, _ = small
    (tmp_path / "small.toml").write_text(SUITE_TOML)
    by_file = rnnbench.run(tmp_path / "small.toml", out=tmp_path / "api", report=False)
    done = command("run", "small.toml", "-q", "--out", "cli", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    by_command = rnnbench.load(tmp_path / "cli" / "results" / "small")
    frames = [r.runs().set_index("key").sort_index() for r in (by_dict, by_file, by_command)]
    for frame in frames[1:]:
        assert list(frame.index) == list(frames[0].index)  # the same runs, by key
        pd.testing.assert_frame_equal(frame[NUMBERS], frames[0][NUMBERS], check_exact=True)


def test_the_executor_options_are_the_commands(small, tmp_path):
    serial, _ = small
    pooled = rnnbench.run(copy.deepcopy(SMALL_SUITE), out=tmp_path, executor="processes", jobs=2, report=False)
    assert pooled.summary.counts == {"ok": 4}
    assert json.loads((tmp_path / "results/small/suite.json").read_text())["execution"]["executor"] == "processes"
    a, b = (r.runs().set_index("key").sort_index()[NUMBERS] for r in (serial, pooled))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    again = rnnbench.run(copy.deepcopy(SMALL_SUITE), out=tmp_path, jobs=2, report=False)
    assert again.summary.skipped == 4 and not again.summary.counts


def test_a_built_in_suite_is_found_by_name_and_a_file_of_that_name_wins(tmp_path, monkeypatch):
    registry = load_registry()
    assert session.prepare("default", registry).suite.name == "default"
    assert session.prepare("vanishing", registry, scale="quick").suite.name == "vanishing-quick"
    assert session.prepare("vanishing", registry, scale="fast").suite.name == "vanishing-quick"  # its old name
    monkeypatch.chdir(tmp_path)
    Path("default").write_text(SUITE_TOML)
    assert session.prepare("default", registry).suite.name == "small"


def test_progress_true_draws_bars_and_prints_warnings(tmp_path, capfd):
    rnnbench.run(copy.deepcopy(SMALL_SUITE), out=tmp_path, report=False, progress=True,
                 plugins=[str(FIXTURES / "failing_hooks_plugin.py")])
    out, err = capfd.readouterr()
    assert out == ""
    assert "runs: 100%" in err
    (line,) = [l for l in err.splitlines() if "warning: " in l]  # after the bars' control characters
    assert "failing_hooks_plugin.py: rnnbench_run_stored raised RuntimeError" in line


def test_warnings_are_python_warnings_and_kept(tmp_path, capfd):
    with pytest.warns(rnnbench.RnnbenchWarning) as caught:
        results = rnnbench.run(copy.deepcopy(SMALL_SUITE), out=tmp_path,
                               plugins=[str(FIXTURES / "failing_hooks_plugin.py")])
    assert capfd.readouterr() == ("", "")  # nothing printed but through the warnings module
    assert len(results.warnings) == 2 and all("failing_hooks_plugin.py" in w for w in results.warnings)
    assert [str(w.message) for w in caught] == results.warnings
    assert all(w.filename == __file__ for w in caught)  # pointed at the caller's line
    assert "2 warning(s)" in repr(results)
    assert len(results) == 4 and results.report_path.is_file()


# --- the tables ------------------------------------------------------------------------------


def test_runs_has_the_columns_and_values_of_runs_csv(small, tmp_path):
    results, _ = small
    paths = results.export(tmp_path, formats=("csv",))
    assert paths == [tmp_path / "small" / "runs.csv", tmp_path / "small" / "curves.csv"]
    runs, curves = results.runs(), results.curves()
    with open(paths[0], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(runs.columns) == list(rows[0])
    assert len(runs) == len(rows) == 4
    assert list(runs["key"]) == [r["key"] for r in rows]
    assert list(runs["final_test_loss"]) == [float(r["final_test_loss"]) for r in rows]
    with open(paths[1], newline="") as fh:
        header = next(csv.reader(fh))
    assert list(curves.columns) == header
    assert len(curves) == sum(len(r.curves.step) for r in results.records) == 4 * 5  # steps 0, 5, .. 20
    assert runs["role"].tolist() == ["evaluation"] * 4 and runs["trial"].isna().all()


def test_every_column_has_one_type_whatever_the_values(small):
    runs = small[0].runs()
    assert runs["suite"].dtype == "string" and runs["seed"].dtype == "Int64"
    assert runs["trial"].dtype == "Int64" and runs["final_test_loss"].dtype == "float64"
    assert runs["flush_to_zero"].dtype == "boolean" and runs["solved_mse_below_0.01"].dtype == "boolean"
    assert runs["steps_to_solve"].dtype == "Int64" and runs["message"].dtype == "string"


def test_tuning_trials_are_marked(tmp_path):
    data = copy.deepcopy(SMALL_SUITE)
    data["tuning"] = {"budget": 2, "seeds": [100], "search": [{"name": "learning_rate", "values": [0.01, 0.1]}]}
    results = rnnbench.run(data, out=tmp_path, report=False)
    runs = results.runs()
    assert runs["role"].tolist() == ["tuning"] * 4 + ["evaluation"] * 4
    assert runs["trial"].tolist()[:4] == [0, 1, 0, 1] and runs["trial"][4:].isna().all()
    assert set(results.curves()["role"]) == {"tuning", "evaluation"}
    assert results.summary.tuning.counts.get("ok", 0) + results.summary.tuning.counts.get("diverged", 0) == 4


def test_results_of_several_suites_concatenate(small, other, tmp_path):
    (a, a_out), (b, b_out) = small, other
    both = tmp_path / "results"
    shutil.copytree(a_out / "results" / "small", both / "small")
    shutil.copytree(b_out / "results" / "other", both / "other")
    loaded = rnnbench.load(both)  # a directory of suites
    joined = rnnbench.concat([a, b])
    assert [s.name for s in joined.suites] == ["small", "other"] and len(joined) == 5
    with pytest.raises(ValueError, match="2 suites"):
        joined.suite
    runs = joined.runs()
    assert runs["suite"].tolist() == ["small"] * 4 + ["other"]
    assert "final_accuracy" in runs and runs["final_accuracy"][:4].isna().all()
    assert "final_max_abs_error" in runs and runs["final_max_abs_error"][4:].isna().all()
    by_pandas = pd.concat([a.runs(), b.runs()], ignore_index=True)
    shared = [c for c in a.runs().columns if c in b.runs().columns]
    assert (by_pandas[shared].dtypes == a.runs()[shared].dtypes).all()  # no column changes type
    pd.testing.assert_frame_equal(runs[by_pandas.columns], by_pandas, check_exact=True)
    assert [s.name for s in loaded.suites] == ["other", "small"]  # the folders, sorted
    pd.testing.assert_frame_equal(
        loaded.runs()[runs.columns].sort_values("key", ignore_index=True),
        runs.sort_values("key", ignore_index=True), check_exact=True,
    )
    assert len(joined.curves()) == len(a.curves()) + len(b.curves())
    assert len(a + b) == 5
    # joining keeps what it can: both sweeps' summaries; no single summary speaks for both
    assert joined.summaries == [a.summary, b.summary] == (a + b).summaries
    assert joined.summary is None and a.summary.counts == {"ok": 4}


def test_results_are_built_from_stored_suites_without_private_helpers(small, tmp_path):
    _, out = small
    part = rnnbench.StoredSuite.read(out / "results" / "small")
    built = rnnbench.Results([part])
    assert built.suite.name == "small" and len(built) == 4 and built.summary is None
    pd.testing.assert_frame_equal(built.runs(), rnnbench.load(out / "results" / "small").runs())


def test_one_suite_from_two_machines(small, tmp_path):
    _, out = small
    for machine in ("laptop", "cluster"):
        shutil.copytree(out / "results", tmp_path / machine / "results")
    laptop, cluster = (rnnbench.load(tmp_path / m / "results" / "small") for m in ("laptop", "cluster"))
    runs = pd.concat([laptop.runs(), cluster.runs()], keys=["laptop", "cluster"], names=["machine", None])
    assert runs.loc["laptop"]["key"].tolist() == runs.loc["cluster"]["key"].tolist()
    assert len(rnnbench.concat([laptop, cluster]).runs()) == 8


# --- Parquet ---------------------------------------------------------------------------------


def test_parquet_reads_back_equal_to_the_stored_results(small, tmp_path):
    results, _ = small
    runs_path, curves_path = results.export(tmp_path, formats=("parquet",))
    runs, curves = pd.read_parquet(runs_path), pd.read_parquet(curves_path)
    pd.testing.assert_frame_equal(runs, results.runs(), check_exact=True)
    pd.testing.assert_frame_equal(curves, results.curves(), check_exact=True)
    # and equal to the records themselves, bit for bit
    records = {r.key: r for r in rnnbench.load(results.paths[0]).records}
    for row in runs.to_dict("records"):
        record = records[row["key"]]
        assert row["final_test_loss"] == record.final_test_loss and row["status"] == record.status
        assert row["steps_done"] == record.steps_done and row["seed"] == record.spec.seed
        assert row["solved_mse_below_0.01"] == record.solved["mse_below_0.01"]
        assert row["final_max_abs_error"] == record.final_metrics["max_abs_error"]
        assert pd.isna(row["baseline_max_abs_error"]) and "max_abs_error" not in record.baseline_metrics
        assert pd.isna(row["trial"]) and record.spec.trial is None
    for key, record in records.items():
        mine = curves[curves["key"] == key]
        assert mine["step"].tolist() == record.curves.step
        assert mine["test_loss"].tolist() == record.curves.test_loss
        assert mine["grad_norm"].iloc[1:].tolist() == record.curves.grad_norm[1:]


def test_export_format_parquet_on_the_command_line(small, tmp_path):
    _, out = small
    done = command("export", str(out / "results"), "--out", "tables", "--format", "parquet", "--format", "csv",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "tables" / "small").iterdir())
    assert written == ["curves.csv", "curves.parquet", "runs.csv", "runs.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "tables/small/runs.parquet"), small[0].runs(),
                                  check_exact=True)


def blocked(module: str, *args: str, cwd) -> subprocess.CompletedProcess:
    """``rnnbench ARGS`` in a process where ``module`` cannot be imported, as if not installed."""
    code = f"import sys; sys.modules[{module!r}] = None; sys.argv[0] = 'rnnbench'; from rnnbench.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_parquet_without_pyarrow_is_one_line_naming_the_extra(small, tmp_path):
    _, out = small
    done = blocked("pyarrow", "export", str(out / "results"), "--out", "tables", "--format", "parquet", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "error: Parquet export needs pyarrow, which is not installed: pip install 'rnnbench[parquet]'\n"
    assert not (tmp_path / "tables").exists()


def test_parquet_without_pyarrow_from_python(small, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(rnnbench.MissingExtra, match=r"rnnbench\[parquet\]"):
        small[0].export(tmp_path, formats=("csv", "parquet"))
    assert not list(tmp_path.rglob("*.csv"))  # nothing half-written


# --- bad input -------------------------------------------------------------------------------


def test_a_folder_that_is_not_a_results_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    for path in (tmp_path / "empty", tmp_path / "missing", tmp_path / "file.txt"):
        with pytest.raises(rnnbench.NotAResultsDirectory, match="no stored suite here"):
            rnnbench.load(path)
    assert issubclass(rnnbench.NotAResultsDirectory, rnnbench.StoreError)


@pytest.mark.parametrize("verb", [["report"], ["export"], ["export", "--format", "parquet"], ["check"]])
def test_the_command_says_a_folder_is_not_a_results_directory_in_one_line(tmp_path, verb):
    (tmp_path / "empty").mkdir()
    done = command(verb[0], "empty", *verb[1:], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"error: empty: no stored suite here (looked for suite.json)\n"


def test_a_damaged_suite_json_is_a_store_error_not_a_missing_one(small, tmp_path):
    _, out = small
    shutil.copytree(out / "results", tmp_path / "results")
    (tmp_path / "results/small/suite.json").write_text("{not json")
    with pytest.raises(rnnbench.StoreError, match="suite.json: not JSON") as caught:
        rnnbench.load(tmp_path / "results/small")
    assert not isinstance(caught.value, rnnbench.NotAResultsDirectory)


def test_load_changes_nothing_on_disk_and_names_a_damaged_record(small, tmp_path):
    _, out = small
    shutil.copytree(out / "results", tmp_path / "results")
    record = sorted((tmp_path / "results/small/runs").glob("*.json"))[0]
    record.write_text('{"cut short')
    with pytest.warns(rnnbench.RnnbenchWarning, match="cut short"):
        loaded = rnnbench.load(tmp_path / "results")
    (line,) = loaded.warnings
    assert str(record) in line and "cut short" in line
    assert len(loaded.runs()) == 3 and record.read_text() == '{"cut short'
    assert not (tmp_path / "results/small/damaged").exists()


@pytest.mark.parametrize(
    "suite, message",
    [
        ("no-such-suite", "no-such-suite: no such suite file, nor a built-in suite (built-in: "),
        ({**SMALL_SUITE, "seq_lens": [0]}, "seq_lens[0]: Input should be greater than 0"),
        ({**SMALL_SUITE, "task": {"name": "nope"}}, "unknown task 'nope'"),
        (42, "42: not a suite"),
    ],
)
def test_a_suite_that_cannot_run_raises_spec_error(tmp_path, suite, message):
    with pytest.raises(SpecError) as caught:
        rnnbench.run(suite, out=tmp_path)
    assert message in str(caught.value) and len(str(caught.value).splitlines()) == 1
    assert not (tmp_path / "results").exists()
    # the caller sees it raised from rnnbench.run: no path through the package, no chained error
    frames = traceback.extract_tb(caught.value.__traceback__)
    assert [f.name for f in frames[1:]] == ["wrapper"] and caught.value.__suppress_context__


@pytest.mark.parametrize(
    "options, message",
    [
        ({"executor": "threads"}, "executor: Input should be 'serial', 'processes' or 'dask'"),
        ({"jobs": 0}, "jobs: Input should be greater than 0"),
        ({"scheduler": "tcp://127.0.0.1:1", "executor": "serial"}, "--scheduler is for the dask executor"),
    ],
)
def test_executor_options_that_cannot_work_raise(tmp_path, options, message):
    with pytest.raises(ExecutorUnavailable, match=message.replace("(", r"\(").replace(")", r"\)")):
        rnnbench.run(copy.deepcopy(SMALL_SUITE), out=tmp_path, **options)


def test_rerun_is_one_argument_with_named_choices(tmp_path):
    with pytest.raises(ValueError, match=r"^rerun: 'everything' is not one of all, failed, other-versions"):
        rnnbench.run(copy.deepcopy(SMALL_SUITE), out=tmp_path, rerun="everything")
    assert not (tmp_path / "results").exists()  # refused before anything ran
    first = rnnbench.run(copy.deepcopy(SMALL_SUITE), out=tmp_path, report=False)
    assert first.summary.counts == {"ok": 4}
    again = rnnbench.run(copy.deepcopy(SMALL_SUITE), out=tmp_path, report=False, rerun="failed")
    assert (again.summary.skipped, again.summary.counts) == (4, {})  # none failed: nothing to do
    every = rnnbench.run(copy.deepcopy(SMALL_SUITE), out=tmp_path, report=False, rerun="all")
    assert (every.summary.skipped, every.summary.counts) == (0, {"ok": 4})


# --- the package -----------------------------------------------------------------------------


def test_import_rnnbench_stays_light_for_plugins():
    code = ("import sys, rnnbench; assert 'pandas' not in sys.modules and 'rnnbench.runner' not in sys.modules; "
            "assert rnnbench.load is rnnbench.session.load; print(sorted(rnnbench.__all__))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name in ("run", "load", "concat", "Results", "NotAResultsDirectory", "ReportSection", "hookimpl"):
        assert f"'{name}'" in done.stdout


def test_the_old_timeout_keyword_still_works_and_warns(tmp_path):
    """One name per idea: ``timeout_s`` as in the suite's [execution] and the
    command line's --timeout; ``timeout`` is kept for a while, with a warning."""
    suite = {"name": "deprecated", "seq_lens": [5], "seeds": [0], "task": {"name": "adding"},
             "train": {"steps": 2, "log_every": 1},
             "variants": [{"name": "tanh", "hidden_size": 3}]}
    with pytest.warns(DeprecationWarning, match="timeout_s"):
        results = rnnbench.run(suite, out=tmp_path, timeout=30.0, report=False)
    assert results.summary.counts == {"ok": 1}
    assert rnnbench.run(suite, out=tmp_path, timeout_s=30.0, report=False).summary.skipped == 1


def test_findings_come_as_a_table_decided_as_the_command_line_decides_them(tmp_path):
    """``Results.findings()``: a row per finding and length, the outcome of the
    suite's Holm family, with the p-values that decided it."""
    suite = {"name": "verdicts", "seq_lens": [5], "seeds": list(range(6)), "task": {"name": "adding"},
             "train": {"steps": 2, "log_every": 1},
             "variants": [{"name": "tanh", "hidden_size": 3}],
             "findings": [
                 {"claim": "far below a huge bound", "variant": "tanh", "measure": "loss_over_baseline",
                  "below": 100.0, "source": "a test"},
                 {"claim": "above a huge bound", "variant": "tanh", "measure": "loss_over_baseline",
                  "above": 100.0},
             ]}
    table = rnnbench.run(suite, out=tmp_path, report=False).findings()
    assert list(table["claim"]) == ["far below a huge bound", "above a huge bound"]
    first, second = table.iloc[0], table.iloc[1]
    assert first["outcome"] == "reproduced" and first["confidence"] == 0.95 and first["source"] == "a test"
    assert first["p"] == pytest.approx(0.5 ** 6)  # the sign test: all six runs below the bound
    assert first["p_adjusted"] >= first["p"]  # Holm over the two claims
    assert second["outcome"] == "contradicted" and bool(second["held"]) is False
    assert str(table["outcome"].dtype) == "string" and str(table["p"].dtype) == "Float64"
    assert rnnbench.load(tmp_path / "results" / "verdicts").findings().equals(table)  # read back, the same


def test_a_script_without_the_main_guard_is_refused_before_any_run(tmp_path):
    """A script that calls rnnbench.run at its top level with the process executor
    would start the sweep again in every worker (Python imports the script anew
    in each): one line says what to do, and nothing is stored as an error. With
    the guard, the same call runs."""
    body = textwrap.dedent("""
        import rnnbench
        suite = {"name": "g", "seq_lens": [5], "seeds": [0, 1], "task": {"name": "adding"},
                 "train": {"steps": 2, "log_every": 1}, "variants": [{"name": "tanh", "hidden_size": 3}]}
        """)
    call = 'print(rnnbench.run(suite, out=".", executor="processes", jobs=2, report=False).summary.counts)\n'
    (tmp_path / "bare.py").write_text(body + call)
    done = subprocess.run([sys.executable, "bare.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("rnnbench.executors.ExecutorUnavailable: ") and "bare.py" in last
    assert 'no `if __name__ == "__main__":` guard' in last
    assert not (tmp_path / "results" / "g" / "runs").exists() or not any((tmp_path / "results" / "g" / "runs").iterdir())
    (tmp_path / "guarded.py").write_text(body + 'if __name__ == "__main__":\n    ' + call)
    done = subprocess.run([sys.executable, "guarded.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'ok': 2}"
