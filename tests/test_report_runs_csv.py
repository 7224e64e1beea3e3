"""runs.csv beside every report: every tuning and evaluation run, one row each,
with every value per run a finding reads; and the snippet of the docs
(reports/README.md, "Recompute a number from the raw runs") that recomputes a
number of the default suite from the committed file.

A tiny tuned suite is trained for real (a learning rate of 1e6 without clipping
diverges) and its report built; it is named ``default`` and has a variant
``LSTM + clipping`` so that the docs' snippet runs against its runs.csv too.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnbench.report import build_report
from rnnbench.report.analysis import init_profile, k_hat, main_criterion, success
from rnnbench.report.export import run_columns
from rnnbench.resolve import resolve_data
from rnnbench.runner import run_suite
from rnnbench.store import Store

from docs import block_starting_with

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "reports" / "default" / "runs.csv"
MARKER = "# recompute: the default suite's LSTM"
LSTM = "LSTM + clipping"
RATES = [0.1, 1e6]  # the second blows up the tanh RNN, which has no clipping

TINY = {
    "name": "default",
    "task": {"name": "adding"},
    "seq_lens": [5],
    "seeds": [0, 1, 2],
    "train": {"steps": 12, "batch_size": 8, "log_every": 4, "test_size": 16, "validation_size": 16},
    "variants": [
        {"name": "tanh", "hidden_size": 4},
        {"name": LSTM, "cell": "lstm", "hidden_size": 4, "remedies": [{"name": "clip_norm", "threshold": 1.0}]},
    ],
    "tuning": {"budget": len(RATES), "seeds": [100], "search": [{"name": "learning_rate", "values": RATES}]},
}  # fmt: skip

# Every value per run that a finding reads (rnnbench.report.findings), by its column.
MEASURES = [
    "role", "trial", "trial_learning_rate", "variant", "seq_len", "seed", "learning_rate", "steps", "status",
    "final_test_loss", "baseline", "loss_over_baseline", "success", "steps_to_solve", "k_hat_init",
    "k_hat_final", "bound_init", "k_hat_over_bound_init", "recurrent_norm_final",
]  # fmt: skip


@pytest.fixture(scope="module")
def built(registry, tmp_path_factory):
    """The tiny suite trained and its report built: (store, trials, results, report folder)."""
    suite = resolve_data(TINY, registry)
    root = tmp_path_factory.mktemp("runs_csv")
    store = Store.for_suite(root / "results", suite)
    run_suite(suite, store, registry)
    index = build_report(store.root, root / "reports", asv_results=root / "no-asv")
    contents = store.contents()
    return store, contents.trials, contents.results, index.parent


def read_runs(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"key": str})


def test_one_row_per_stored_run_tuning_first(built):
    _, trials, results, folder = built
    runs = read_runs(folder / "runs.csv")
    assert list(runs.columns) == run_columns(trials + results)
    assert len(trials) == 2 * len(RATES) and len(results) == 2 * 3
    assert len(runs) == len(trials) + len(results)
    assert list(runs["key"]) == [r.key for r in trials + results]
    assert list(runs["role"]) == ["tuning"] * len(trials) + ["evaluation"] * len(results)
    tuning, evaluation = runs[runs.role == "tuning"], runs[runs.role == "evaluation"]
    assert list(tuning["trial"]) == [r.spec.trial.index for r in trials]
    assert list(tuning["trial_learning_rate"]) == [r.spec.trial.values["learning_rate"] for r in trials]
    assert list(tuning["learning_rate"]) == list(tuning["trial_learning_rate"])  # applied to the run
    assert evaluation["trial"].isna().all() and evaluation["trial_learning_rate"].isna().all()
    assert set(runs["status"]) >= {"ok", "diverged"}  # the tanh RNN at 1e6


def test_every_per_run_measure_of_the_findings_is_a_column_and_no_curve_is(built):
    _, _, _, folder = built
    runs = read_runs(folder / "runs.csv")
    assert set(MEASURES) <= set(runs.columns)
    assert not {"step", "test_loss", "grad_norm", "recurrent_norm"} & set(runs.columns)  # curves stay out
    size = (folder / "runs.csv").stat().st_size
    assert size / len(runs) < 600  # bytes a row: a suite of 250 runs stays under 150 KB


def test_each_value_equals_what_the_library_computes_from_the_stored_run(built):
    _, trials, results, folder = built
    runs = read_runs(folder / "runs.csv").set_index("key")
    criterion = main_criterion(results)
    missing = pd.isna
    for r in trials + results:
        row = runs.loc[r.key]
        assert (row["variant"], row["seq_len"], row["seed"]) == (r.spec.variant.name, r.spec.seq_len, r.spec.seed)
        assert row["status"] == r.status and row["steps"] == r.spec.train.steps
        if r.status == "ok":
            assert row["loss_over_baseline"] == pytest.approx(r.final_test_loss / r.baseline, rel=1e-12)
        else:  # a run that did not finish has no final loss over the baseline
            assert missing(row["loss_over_baseline"])
        assert bool(row["success"]) == r.solved[criterion] == bool(row[f"solved_{criterion}"])
        if r.steps_to_solve is None:
            assert missing(row["steps_to_solve"])
        else:
            assert row["steps_to_solve"] == r.steps_to_solve
        profile = init_profile(r)
        assert row["k_hat_init"] == pytest.approx(k_hat(profile), rel=1e-12)
        if profile.bound is None:  # the LSTM: no bound
            assert missing(row["bound_init"]) and missing(row["k_hat_over_bound_init"])
        else:
            assert row["k_hat_over_bound_init"] == pytest.approx(k_hat(profile) / profile.bound, rel=1e-12)
        norm = r.curves.recurrent_norm[-1]
        if math.isfinite(norm):
            assert row["recurrent_norm_final"] == pytest.approx(norm, rel=1e-12)
        else:
            assert missing(row["recurrent_norm_final"])


def test_a_variants_median_and_success_count_recomputed_from_the_csv(built):
    _, _, results, folder = built
    runs = read_runs(folder / "runs.csv")
    criterion = main_criterion(results)
    for variant in ("tanh", LSTM):
        mine = [r for r in results if r.spec.variant.name == variant]
        rows = runs[(runs.role == "evaluation") & (runs.variant == variant)]
        ratios = [r.final_test_loss / r.baseline if r.status == "ok" else math.inf for r in mine]
        assert rows["loss_over_baseline"].fillna(math.inf).median() == pytest.approx(np.median(ratios), rel=1e-12)
        assert (int(rows["success"].sum()), len(rows)) == (success(mine, criterion)[0], len(mine))


def test_the_report_page_links_its_raw_data(built):
    _, _, _, folder = built
    assert 'href="runs.csv"' in (folder / "index.html").read_text(encoding="utf-8")


def test_a_report_without_runs_has_a_runs_csv_with_the_header_only(registry, tmp_path):
    suite = resolve_data({**TINY, "name": "empty", "tuning": None}, registry)
    store = Store.for_suite(tmp_path / "results", suite)
    store.save_suite(suite)
    index = build_report(store.root, tmp_path / "reports", asv_results=tmp_path / "no-asv")
    lines = (index.parent / "runs.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and lines[0].startswith("suite,key,role,trial,")


# --- the docs' snippet (reports/README.md) ----------------------------------------------------


def readme_snippet() -> tuple[Path, str]:
    """The docs' one fenced Python block that starts with MARKER, and its file
    (reports/README.md, beside the reports it recomputes)."""
    return block_starting_with(MARKER + "\n")


def run_snippet(folder: Path, monkeypatch, capsys) -> tuple[int, int, str]:
    """Run the docs' snippet in ``folder`` (it reads reports/default/runs.csv
    from there); return what it printed: (solved, runs, median ratio as printed)."""
    monkeypatch.chdir(folder)
    capsys.readouterr()
    path, snippet = readme_snippet()
    exec(compile(snippet, str(path), "exec"), {"__name__": "readme_snippet"})
    printed = capsys.readouterr().out
    match = re.search(r"solved (\d+) of (\d+); median loss over baseline (\S+)", printed)
    assert match, f"the snippet printed {printed!r}"
    return int(match[1]), int(match[2]), match[3]


def independently(path: Path) -> tuple[int, int, str]:
    """The same numbers from the same file without pandas and without its derived
    columns: the LSTM's evaluation runs, its main criterion's solved_ column, and
    final_test_loss / baseline of each run that finished (+inf for the others)."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        main = next(c for c in reader.fieldnames if c.startswith("solved_"))  # the first is the main one
        rows = [r for r in reader if r["role"] == "evaluation" and r["variant"] == LSTM]
    solved = sum(r[main] == "True" for r in rows)
    ratio = statistics.median(
        float(r["final_test_loss"]) / float(r["baseline"]) if r["status"] == "ok" else math.inf for r in rows
    )
    return solved, len(rows), f"{ratio:.3f}"


def test_the_readme_snippet_recomputes_the_tiny_suites_numbers(built, monkeypatch, capsys):
    store, _, results, folder = built
    printed = run_snippet(folder.parent.parent, monkeypatch, capsys)  # reports/default/runs.csv under it
    lstm = [r for r in results if r.spec.variant.name == LSTM]
    ratio = np.median([r.final_test_loss / r.baseline if r.status == "ok" else math.inf for r in lstm])
    assert printed == (success(lstm, main_criterion(results))[0], len(lstm), f"{ratio:.3f}")
    assert printed == independently(folder / "runs.csv")


def test_the_readme_snippet_recomputes_the_committed_default_report(monkeypatch, capsys):
    if not COMMITTED.is_file():
        pytest.skip(
            "reports/default/runs.csv is not committed yet: it is written with the default suite's "
            "report (rnnbench run default) and committed with it; then this test runs the snippet "
            "of reports/README.md against it"
        )
    printed = run_snippet(ROOT, monkeypatch, capsys)
    assert printed == independently(COMMITTED)
    assert printed[1] > 0, "the committed runs.csv has no evaluation run of the LSTM"
