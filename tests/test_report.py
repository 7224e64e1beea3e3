"""The report and CSV export, built from synthetic stored results with known numbers."""

from __future__ import annotations

import csv
import math
import re

import pytest

from rnnbench.report import build_report, export_csv
from rnnbench.report.analysis import fit_decay_factor, summarise
from rnnbench.report.export import CURVE_COLUMNS, RUN_COLUMNS
from rnnbench.results import Curves, DecayProfile, RunResult
from rnnbench.spec import SuiteSpec
from rnnbench.store import Store

SCRIPT = "<script>alert(1)</script>"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BASELINE = 0.5

# Final test loss of each ok run, by (seq_len, variant index, seed). The run
# (20, 0, 1) is never stored; (20, 1, 0) is an error and (20, 1, 1) diverged.
FINAL = {
    (10, 0, 0): 0.2, (10, 0, 1): 0.4,
    (10, 1, 0): 0.1, (10, 1, 1): 0.5,
    (20, 0, 0): 0.3,
}  # fmt: skip
ERROR_RUN, DIVERGED_RUN = (20, 1, 0), (20, 1, 1)


def make_suite(name: str = "synthetic") -> SuiteSpec:
    return SuiteSpec.model_validate(
        {
            "name": name,
            "description": "Synthetic <b>numbers</b> for the report tests.",
            "task": {"name": "adding"},
            "seq_lens": [10, 20],
            "seeds": [0, 1],
            "train": {"steps": 4, "log_every": 2},
            "variants": [
                {"name": "plain"},
                {"name": SCRIPT, "remedies": [{"name": "clip_norm", "threshold": 1.0}]},
            ],
        }
    )


def geometric(k: float, n: int) -> list[float]:
    return [k**d for d in range(n)]


def ok_result(run, final: float) -> RunResult:
    """Decay factors 0.5 + 0.2 seed (init) and 0.9 + 0.2 seed (final);
    bounds 1 + seed (init) and 0.8 + 0.4 seed (final)."""
    s, n = run.seed, run.seq_len
    return RunResult(
        key=run.key(),
        spec=run,
        status="ok",
        curves=Curves(
            step=[0, 2, 4],
            train_loss=[None, 2 * final, 1.5 * final],
            test_loss=[1.0, 2 * final, final],
            grad_norm=[None, 3.0, 2.0],
            grad_norm_after=[None, 1.0, 1.0],
        ),
        decay=[
            DecayProfile(step=0, norms=geometric(0.5 + 0.2 * s, n), bound=1.0 + s),
            DecayProfile(step=4, norms=geometric(0.9 + 0.2 * s, n), bound=0.8 + 0.4 * s),
        ],
        baseline=BASELINE,
        steps_done=4,
        final_train_loss=1.5 * final,
        final_test_loss=final,
        wall_time_s=2.0,
        seconds_per_step=0.5,
        versions={"python": "3.11.7", "numpy": "2.0.0"},
    )


def diverged_result(run) -> RunResult:
    norms: list[float | None] = geometric(0.5, run.seq_len)
    norms[3] = None
    return RunResult(
        key=run.key(),
        spec=run,
        status="diverged",
        message="loss became non-finite at step 2",
        curves=Curves(
            step=[0, 2],
            train_loss=[None, 5.0],
            test_loss=[1.0, float("nan")],
            grad_norm=[None, 1e3],
            grad_norm_after=[None, 1.0],
        ),
        decay=[DecayProfile(step=0, norms=norms, bound=1.0)],
        baseline=BASELINE,
        steps_done=2,
        final_train_loss=5.0,
        final_test_loss=float("inf"),
        wall_time_s=1.0,
    )


def error_result(run) -> RunResult:
    return RunResult(
        key=run.key(),
        spec=run,
        status="error",
        message="RuntimeError: synthetic failure",
        traceback="Traceback (most recent call last): ...",
        wall_time_s=0.1,
    )


def cell(suite: SuiteSpec, run) -> tuple[int, int, int]:
    index = [v.name for v in suite.variants].index(run.variant.name)
    return run.seq_len, index, run.seed


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A results directory holding the synthetic suite, and its results."""
    suite = make_suite()
    store = Store(tmp_path_factory.mktemp("results") / suite.name)
    store.save_suite(suite)
    for run in suite.runs():
        where = cell(suite, run)
        if where in FINAL:
            store.save(ok_result(run, FINAL[where]))
        elif where == ERROR_RUN:
            store.save(error_result(run))
        elif where == DIVERGED_RUN:
            store.save(diverged_result(run))
    return store


@pytest.fixture(scope="module")
def report(stored, tmp_path_factory):
    index = build_report(stored.root, tmp_path_factory.mktemp("reports"))
    return index, index.read_text(encoding="utf-8")


# --- analysis -----------------------------------------------------------------


@pytest.mark.parametrize("k", [0.5, 1.5])
def test_fit_decay_factor_recovers_k(k):
    assert fit_decay_factor(geometric(k, 40)) == pytest.approx(k, rel=1e-12, abs=0)


def test_fit_decay_factor_skips_missing_and_nonpositive_entries():
    norms: list[float | None] = geometric(0.8, 12)
    norms[2], norms[5], norms[7] = None, 0.0, float("nan")
    assert fit_decay_factor(norms) == pytest.approx(0.8, rel=1e-12, abs=0)


@pytest.mark.parametrize("norms", [[], [1.0], [None, 2.0, None], [1.0, 0.0, -1.0, float("inf")]])
def test_fit_decay_factor_needs_two_points(norms):
    assert fit_decay_factor(norms) is None


def test_summary_matches_hand_computed_values(stored):
    rows = summarise(stored.load_suite(), stored.results())
    assert [(r["seq_len"], r["variant"]) for r in rows] == [
        (10, "plain"), (10, SCRIPT), (20, "plain"), (20, SCRIPT)
    ]  # fmt: skip
    t10_plain, t10_script, t20_plain, t20_script = rows

    assert t10_plain["seeds"] == 2 and t10_plain["final_test_loss_n"] == 2
    assert t10_plain["final_test_loss_mean"] == pytest.approx(0.3)
    assert t10_plain["final_test_loss_std"] == pytest.approx(0.1)
    assert (t10_plain["final_test_loss_min"], t10_plain["final_test_loss_max"]) == (0.2, 0.4)
    assert (t10_plain["ok"], t10_plain["diverged"], t10_plain["error"]) == (2, 0, 0)
    assert t10_plain["k_hat_init"] == pytest.approx(0.6, rel=1e-9)  # mean of 0.5, 0.7
    assert t10_plain["k_hat_final"] == pytest.approx(1.0, rel=1e-9)  # mean of 0.9, 1.1
    assert t10_plain["bound_init"] == pytest.approx(1.5)
    assert t10_plain["bound_final"] == pytest.approx(1.0)
    assert t10_plain["baseline"] == BASELINE

    assert t10_script["final_test_loss_mean"] == pytest.approx(0.3)
    assert t10_script["final_test_loss_std"] == pytest.approx(0.2)

    assert t20_plain["seeds"] == 1  # seed 1 was never stored
    assert t20_plain["final_test_loss_mean"] == pytest.approx(0.3)
    assert t20_plain["final_test_loss_std"] == 0.0
    assert t20_plain["k_hat_init"] == pytest.approx(0.5, rel=1e-9)

    assert t20_script["seeds"] == 2
    assert (t20_script["ok"], t20_script["diverged"], t20_script["error"]) == (0, 1, 1)
    assert t20_script["final_test_loss_n"] == 0
    assert t20_script["final_test_loss_mean"] is None
    assert t20_script["k_hat_init"] == pytest.approx(0.5, rel=1e-9)  # diverged run's profile
    assert t20_script["k_hat_final"] is None  # it has no final profile
    assert t20_script["bound_final"] is None
    assert t20_script["baseline"] == BASELINE


# --- HTML ---------------------------------------------------------------------


def test_report_escapes_everything_from_the_suite(report):
    index, html = report
    assert index.name == "index.html" and index.parent.name == "synthetic"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "Synthetic &lt;b&gt;numbers&lt;/b&gt;" in html


def test_report_shows_settings_problems_and_environment(report):
    _, html = report
    assert "<code>adding</code>" in html
    assert "clip_norm(threshold=1.0)" in html
    assert "RuntimeError: synthetic failure" in html
    assert "loss became non-finite at step 2" in html
    assert "0.3 &plusmn; 0.1" in html
    assert "numpy" in html and "2.0.0" in html
    assert "7 of 8 runs stored" in html


def test_report_references_nothing_outside_its_folder(report):
    index, html = report
    assert "http://" not in html and "https://" not in html
    assert "url(" not in html
    refs = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", html)
    assert sorted(refs) == ["decay.png", "loss.png"]
    for ref in refs:
        assert not ref.startswith("/") and ":" not in ref
        assert (index.parent / ref).read_bytes().startswith(PNG_MAGIC)
    assert len(re.findall(r"<img\b[^>]*\balt=\"[^\"]+\"", html)) == 2


def test_report_without_runs_says_so(tmp_path):
    suite = make_suite("empty")
    store = Store(tmp_path / "results" / suite.name)
    store.save_suite(suite)
    index = build_report(store.root, tmp_path / "reports")
    html = index.read_text(encoding="utf-8")
    assert "No stored results yet" in html
    assert "0 of 8 runs stored" in html
    assert "<img" not in html


# --- CSV ----------------------------------------------------------------------


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def test_export_csv(stored, tmp_path):
    runs_path, curves_path = export_csv(stored.root, tmp_path / "csv")
    assert (runs_path.name, curves_path.name) == ("runs.csv", "curves.csv")

    header, runs = read_csv(runs_path)
    assert header == RUN_COLUMNS
    assert len(runs) == 7
    by_cell = {(int(r["seq_len"]), r["variant"], int(r["seed"])): r for r in runs}

    ok = by_cell[(10, "plain", 1)]
    assert ok["remedies"] == "" and ok["task"] == "adding" and ok["optimizer"] == "sgd"
    assert float(ok["final_test_loss"]) == 0.4 and ok["status"] == "ok" and ok["message"] == ""
    assert math.isclose(float(ok["k_hat_init"]), 0.7, rel_tol=1e-9)
    assert math.isclose(float(ok["k_hat_final"]), 1.1, rel_tol=1e-9)
    assert (ok["steps"], ok["steps_done"], ok["suite"]) == ("4", "4", "synthetic")

    diverged = by_cell[(20, SCRIPT, 1)]
    assert diverged["remedies"] == "clip_norm(threshold=1.0)"
    assert diverged["status"] == "diverged"
    assert diverged["final_test_loss"] == "" and diverged["k_hat_final"] == ""
    assert diverged["seconds_per_step"] == "" and float(diverged["final_train_loss"]) == 5.0

    error = by_cell[(20, SCRIPT, 0)]
    assert error["message"] == "RuntimeError: synthetic failure"
    assert error["baseline"] == "" and error["k_hat_init"] == ""

    header, curves = read_csv(curves_path)
    assert header == CURVE_COLUMNS
    assert len(curves) == 5 * 3 + 2  # ok runs x 3 logged steps + the diverged run's 2
    first = [r for r in curves if r["key"] == ok["key"]]
    assert [r["step"] for r in first] == ["0", "2", "4"]
    assert [r["test_loss"] for r in first] == ["1.0", "0.8", "0.4"]
    assert first[0]["train_loss"] == "" and first[0]["grad_norm"] == ""
    last = [r for r in curves if r["key"] == diverged["key"]][-1]
    assert last["test_loss"] == "" and last["train_loss"] == "5.0"
