"""The report, its statistics, the asv reader and the exports, from synthetic stored
results with known numbers."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil

import numpy as np
import pytest
import scipy.stats

from rnnbench.report import build_report, export_csv, export_results
from rnnbench.report import figures
from rnnbench.report.analysis import (
    fit_decay_factor,
    improvement_tables,
    rank_variants,
    recorded_environment,
    summarise,
)
from rnnbench.report.asv_history import parse_result_file, read_asv_results
from rnnbench.report.export import curve_columns, run_columns
from rnnbench.report.html import FIGURES
from rnnbench.report.stats import (
    MIN_SEEDS,
    Interval,
    geometric_over_seeds,
    median_interval,
    over_seeds,
)
from rnnbench.results import Curves, DecayProfile, RunResult
from rnnbench.spec import SuiteSpec, VariantSpec
from rnnbench.store import Store

SCRIPT = "<script>alert(1)</script>"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BASELINE = 0.5
MAIN, OTHER = "loss_below_0.25", "accuracy_above_0.9"

# Final test loss of each ok run, by (seq_len, variant index, seed). Variant 0
# is a vanilla cell, 1 the same with clipping, 2 an LSTM. The run (20, 0, 1) is
# never stored; (20, 1, 0) is an error, (20, 1, 1) diverged, (20, 2, 1) timed out.
FINAL = {
    (10, 0, 0): 0.2, (10, 0, 1): 0.4,
    (10, 1, 0): 0.1, (10, 1, 1): 0.5,
    (10, 2, 0): 0.05, (10, 2, 1): 0.07,
    (20, 0, 0): 0.3,
    (20, 2, 0): 0.01,
}  # fmt: skip
ERROR_RUN, DIVERGED_RUN, TIMEOUT_RUN = (20, 1, 0), (20, 1, 1), (20, 2, 1)
# First logged step at which the main criterion held; (10, 0, 1) met it at step 2
# but not at the end, so it does not count as solved.
STEPS_TO_SOLVE = {(10, 0, 0): 4, (10, 0, 1): 2, (10, 1, 0): 2, (10, 2, 0): 2, (10, 2, 1): 4, (20, 2, 0): 4}


def make_suite(name: str = "synthetic") -> SuiteSpec:
    return SuiteSpec.model_validate(
        {
            "name": name,
            "description": "Synthetic <b>numbers</b> for the report tests.",
            "task": {"name": "adding"},
            "seq_lens": [10, 20],
            "seeds": [0, 1],
            "train": {"steps": 4, "log_every": 2, "flush_to_zero": False},
            "variants": [
                {"name": "plain"},
                {"name": SCRIPT, "remedies": [{"name": "clip_norm", "threshold": 1.0}]},
                {"name": "gated", "cell": "lstm"},
            ],
        }
    )


def geometric(k: float, n: int) -> list[float]:
    return [k**d for d in range(n)]


def is_gated(run) -> bool:
    return run.variant.cell == "lstm"


def versions(seed: int) -> dict[str, str]:
    return {"python": "3.11.7", "numpy": "2.0.0" if seed == 0 else "2.1.0",
            "cpu": "Synthetic CPU", "blas": "openblas 0.3.26"}


def profiles(run, final: bool) -> list[DecayProfile]:
    """Vanilla: k = 0.5 + 0.2 seed (init), 0.9 + 0.2 seed (end); bounds 1 + seed
    and 0.8 + 0.4 seed. Gated: no bound, k of h 0.6 then 0.8, of c 0.95 then 0.99."""
    s, n = run.seed, run.seq_len
    if is_gated(run):
        made = [
            DecayProfile(step=0, norms=geometric(0.6, n), state_norms={"c": geometric(0.95, n)}),
            DecayProfile(step=4, norms=geometric(0.8, n), state_norms={"c": geometric(0.99, n)}),
        ]
    else:
        made = [
            DecayProfile(step=0, norms=geometric(0.5 + 0.2 * s, n), bound=1.0 + s),
            DecayProfile(step=4, norms=geometric(0.9 + 0.2 * s, n), bound=0.8 + 0.4 * s),
        ]
    return made if final else made[:1]


def curves(run, final: float, steps=(0, 2, 4)) -> Curves:
    clipped = bool(run.variant.remedies)
    test = [1.0, 2 * final, final][: len(steps)]
    return Curves(
        step=list(steps),
        train_loss=[None, 2.5 * final, 1.5 * final][: len(steps)],
        test_loss=test,
        test_metrics={"accuracy": [1 - v for v in test]},
        grad_norm=[None, 3.0, 2.0][: len(steps)],
        grad_norm_after=([None, 1.0, 1.0] if clipped else [None, 3.0, 2.0])[: len(steps)],
        recurrent_norm=[1.0, 1.5, 2.0][: len(steps)],
        spectral_radius=([None] * 3 if is_gated(run) else [0.9, 1.1, 1.3])[: len(steps)],
    )


def ok_result(run, final: float, where) -> RunResult:
    return RunResult(
        key=run.key(),
        spec=run,
        status="ok",
        curves=curves(run, final),
        decay=profiles(run, final=True),
        baseline=BASELINE,
        baseline_metrics={"accuracy": 0.5},
        steps_done=4,
        final_train_loss=1.5 * final,
        final_test_loss=final,
        final_metrics={"accuracy": 1 - final},
        solved={MAIN: final < 0.25, OTHER: 1 - final > 0.9},
        steps_to_solve=STEPS_TO_SOLVE.get(where),
        wall_time_s=2.0,
        seconds_per_step=0.5 if is_gated(run) else 0.25,
        versions=versions(run.seed),
    )


def diverged_result(run) -> RunResult:
    decay = profiles(run, final=False)
    decay[0].norms[3] = None
    return RunResult(
        key=run.key(),
        spec=run,
        status="diverged",
        message="loss became non-finite at step 2",
        curves=Curves(
            step=[0, 2], train_loss=[None, 5.0], test_loss=[1.0, float("nan")],
            test_metrics={"accuracy": [0.5, 0.0]}, grad_norm=[None, 1e30],
            grad_norm_after=[None, 1.0], recurrent_norm=[1.0, 1e12], spectral_radius=[0.9, 1e11],
        ),
        decay=decay,
        baseline=BASELINE,
        baseline_metrics={"accuracy": 0.5},
        steps_done=2,
        final_train_loss=5.0,
        final_test_loss=float("inf"),
        final_metrics={"accuracy": 0.0},
        solved={MAIN: False, OTHER: False},
        wall_time_s=1.0,
        seconds_per_step=0.5,
        versions=versions(run.seed),
    )


def timeout_result(run) -> RunResult:
    return RunResult(
        key=run.key(),
        spec=run,
        status="timeout",
        message="over the time limit of 1 s",
        curves=curves(run, 0.6, steps=(0, 2)),
        decay=profiles(run, final=False),
        baseline=BASELINE,
        baseline_metrics={"accuracy": 0.5},
        steps_done=2,
        final_test_loss=1.2,
        final_metrics={"accuracy": -0.2},
        wall_time_s=1.0,
        seconds_per_step=0.5,
        versions=versions(run.seed),
    )


def error_result(run) -> RunResult:
    return RunResult(
        key=run.key(),
        spec=run,
        status="error",
        message="RuntimeError: synthetic failure",
        traceback="Traceback (most recent call last): ...",
        wall_time_s=0.1,
        versions=versions(run.seed),
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
            store.save(ok_result(run, FINAL[where], where))
        elif where == ERROR_RUN:
            store.save(error_result(run))
        elif where == DIVERGED_RUN:
            store.save(diverged_result(run))
        elif where == TIMEOUT_RUN:
            store.save(timeout_result(run))
    return store


@pytest.fixture(scope="module")
def rows(stored):
    return summarise(stored.stored_suite(), stored.results())


# --- asv results, written in asv 0.6's format (results format version 2) -------

COLUMNS = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a",
           "stats_ci_99_b", "stats_q_25", "stats_q_75", "stats_number", "stats_repeat",
           "samples", "profile"]  # fmt: skip
STEP = "bench_step.TimeStep.time_step"


def asv_file(commit: str, date_ms: int, scale: float) -> dict:
    """One result file: a parametrised timing (one value failed), a timing
    without parameters, a failed timing, and a memory benchmark."""
    return {
        "commit_hash": commit, "env_name": "virtualenv-py3.11-numpy", "date": date_ms,
        "params": {"machine": "box", "python": "3.11"}, "python": "3.11",
        "requirements": {"numpy": ""}, "env_vars": {}, "result_columns": COLUMNS,
        "results": {
            STEP: [[1e-3 * scale, 4e-3 * scale, None, 2e-2 * scale],
                   [["'vanilla'", "'lstm'"], ["'small'", "'large'"]], "v1", date_ms, 1.0],
            "bench_x.time_plain": [[0.5 * scale], [], "v2", date_ms, 1.0],
            "bench_x.time_failed": [None, [], "v2", date_ms, 1.0],
            "bench_step.MemStep.mem_step": [[1e6], [], "v1", date_ms, 1.0],
        },
        "durations": {}, "version": 2,
    }  # fmt: skip


def write_asv_results(root):
    """A results directory as asv writes it: two commits on one machine,
    benchmarks.json, machine.json, and files that must be skipped."""
    box = root / "box"
    box.mkdir(parents=True)
    (box / "machine.json").write_text(json.dumps({"machine": "box", "cpu": "x", "version": 1}))
    (root / "benchmarks.json").write_text(json.dumps({
        STEP: {"name": STEP, "type": "time", "unit": "seconds", "param_names": ["cell", "shape"]},
        "bench_step.MemStep.mem_step": {"name": "bench_step.MemStep.mem_step", "type": "memory",
                                        "unit": "bytes", "param_names": []},
        "version": 2,
    }))  # fmt: skip
    later, earlier = "b" * 40, "a" * 40
    (box / f"{later[:8]}-virtualenv-py3.11-numpy.json").write_text(json.dumps(asv_file(later, 2000, 2.0)))
    (box / f"{earlier[:8]}-virtualenv-py3.11-numpy.json").write_text(json.dumps(asv_file(earlier, 1000, 1.0)))
    old = asv_file("c" * 40, 500, 1.0) | {"version": 1}
    (box / "cccccccc-old.json").write_text(json.dumps(old))
    (box / "broken.json").write_text("{not json")
    return root


@pytest.fixture(scope="module")
def report(stored, tmp_path_factory):
    asv = write_asv_results(tmp_path_factory.mktemp("asv") / "results")
    index = build_report(stored.root, tmp_path_factory.mktemp("reports"), asv_results=asv)
    return index, index.read_text(encoding="utf-8")


# --- statistics ----------------------------------------------------------------


def test_median_interval_keeps_infinities_leaves_out_missing_values_and_needs_six():
    iv = median_interval([1.0, 2.0, 3.0, None, float("nan"), float("inf")])
    assert (iv.n, iv.estimate) == (4, 2.5)  # the diverged run's +inf counts; None and NaN do not
    assert iv.lo is None and iv.values == (1.0, 2.0, 3.0, float("inf"))  # 4 < 6: no 95% interval
    six = median_interval([6.0, 1.0, 5.0, 2.0, 4.0, 3.0])
    assert (six.estimate, six.lo, six.hi) == (3.5, 1.0, 6.0)  # 1 - 2 / 2^6 = 96.9% >= 95%
    assert median_interval([None, float("nan")]) == Interval(0, None, None, None)
    assert MIN_SEEDS == 6


def test_over_seeds_gives_the_median_and_its_band_where_six_seeds_have_a_value():
    series = [([0, 1, 2], [1.0, 2.0, 4.0]), ([0, 1], [3.0, None]), ([0, 1], [5.0, 2.0])]
    x, n, m, lo, hi = over_seeds(series)
    assert list(x) == [0, 1, 2] and list(n) == [3, 2, 1]
    assert list(m) == [3.0, 2.0, 4.0]
    assert np.isnan(lo).all() and np.isnan(hi).all()  # fewer than MIN_SEEDS everywhere
    rng = np.random.default_rng(3)
    values = rng.lognormal(size=(40, 8))
    _, _, m, lo, hi = over_seeds([(range(8), column) for column in values])
    for step in (0, 5):
        single = median_interval(values[:, step])
        assert (m[step], lo[step], hi[step]) == (single.estimate, single.lo, single.hi)
    x, g, lo, hi = geometric_over_seeds([([0, 1], [1.0, 100.0]), ([0, 1], [4.0, 0.0])])
    assert list(g) == pytest.approx([2.0, 100.0]) and list(lo) == [1.0, 100.0]


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


# --- summary, ranking, environment ---------------------------------------------


def test_summary_matches_hand_computed_values(rows):
    assert [(r["seq_len"], r["variant"]) for r in rows] == [
        (10, "plain"), (10, SCRIPT), (10, "gated"), (20, "plain"), (20, SCRIPT), (20, "gated")
    ]  # fmt: skip
    t10_plain, t10_script, t10_gated, t20_plain, t20_script, t20_gated = rows

    loss = t10_plain["final_test_loss"]
    assert (loss.n, loss.estimate) == (2, pytest.approx(0.3))
    assert loss.lo is None and loss.values == (0.2, 0.4)  # two runs: no interval, the values
    assert t10_plain["metrics"]["accuracy"].estimate == pytest.approx(0.7)
    assert (t10_plain["ok"], t10_plain["diverged"], t10_plain["error"], t10_plain["timeout"]) == (2, 0, 0, 0)
    assert (t10_plain["solved"], t10_plain["trained"], t10_plain["success_rate"]) == (1, 2, 0.5)
    cp = t10_plain["success_interval"]  # Clopper-Pearson of 1 of 2: beta quantiles
    assert (cp.lo, cp.hi) == (pytest.approx(scipy.stats.beta.ppf(0.025, 1, 2)),
                              pytest.approx(scipy.stats.beta.ppf(0.975, 2, 1)))
    # Kaplan-Meier: seed 1 met the criterion at step 2 (though not at the end), seed 0 at 4
    assert (t10_plain["steps_to_solve"], t10_plain["steps_to_solve_n"]) == (2, 2)
    assert t10_plain["criterion"] == MAIN
    assert t10_plain["k_hat_init"] == pytest.approx(0.6, rel=1e-9)  # mean of 0.5, 0.7
    assert t10_plain["k_hat_final"] == pytest.approx(1.0, rel=1e-9)  # mean of 0.9, 1.1
    assert (t10_plain["bound_init"], t10_plain["bound_final"]) == (pytest.approx(1.5), pytest.approx(1.0))
    assert t10_plain["baseline"] == BASELINE and t10_plain["baseline_metrics"] == {"accuracy": 0.5}
    assert t10_plain["seconds_per_step"] == 0.25

    assert t10_script["final_test_loss"].values == (0.1, 0.5)
    assert t10_script["steps_to_solve"] == 2

    assert t10_gated["success_rate"] == 1.0 and t10_gated["steps_to_solve"] == 2  # half had met it by 2
    assert t10_gated["bound_init"] is None and t10_gated["bound_final"] is None
    assert t10_gated["k_hat_final"] == pytest.approx(0.8)
    assert t10_gated["state_k_hat_init"]["c"] == pytest.approx(0.95)
    assert t10_gated["state_k_hat_final"]["c"] == pytest.approx(0.99)
    assert t10_plain["state_k_hat_init"]["c"] is None

    assert t20_plain["runs"] == 1  # seed 1 was never stored
    assert t20_plain["final_test_loss"] == Interval(1, pytest.approx(0.3), None, None)
    assert t20_plain["success_rate"] == 0.0 and t20_plain["steps_to_solve"] is None

    assert (t20_script["ok"], t20_script["diverged"], t20_script["error"]) == (0, 1, 1)
    assert t20_script["trained"] == 2 and t20_script["success_rate"] == 0.0  # every run counts
    loss = t20_script["final_test_loss"]  # neither finished: each counts as an infinite loss
    assert (loss.n, loss.estimate) == (2, float("inf")) and t20_script["metrics"]["accuracy"].n == 0
    assert t20_script["k_hat_init"] == pytest.approx(0.7, rel=1e-9)  # the diverged run (seed 1)
    assert t20_script["k_hat_final"] is None and t20_script["bound_final"] is None
    assert t20_script["seconds_per_step"] is None

    assert t20_gated["timeout"] == 1 and (t20_gated["solved"], t20_gated["trained"]) == (1, 2)
    loss = t20_gated["final_test_loss"]  # the timed-out run's last loss is not final: +inf
    assert loss.n == 2 and loss.values == (0.01, float("inf"))
    assert t20_gated["metrics"]["accuracy"].estimate == pytest.approx(0.99)


def test_ranking_follows_the_rule(stored, rows):
    ranking = rank_variants(stored.stored_suite(), rows)
    assert [(e["rank"], e["variant"]) for e in ranking] == [(1, "gated"), (2, "plain"), (3, SCRIPT)]
    gated, plain, script = ranking
    # medians: gated 0.06 at T = 10 and +inf at T = 20 (its timed-out run counts as infinite)
    assert gated["success_rate"] == pytest.approx(0.75) and gated["final_test_loss"] == float("inf")
    assert plain["success_rate"] == pytest.approx(0.25) and plain["final_test_loss"] == pytest.approx(0.3)
    assert script["success_rate"] == pytest.approx(0.25) and script["final_test_loss"] == float("inf")


def test_ranking_shares_ranks_on_ties_and_works_without_criteria():
    suite = make_suite()
    names = [v.name for v in suite.variants]
    rows = [
        {"variant": name, "seq_len": 10, "criterion": None, "success_rate": None,
         "final_test_loss": Interval(1, loss, None, None)}
        for name, loss in zip(names, [0.2, 0.1, 0.2])
    ]  # fmt: skip
    ranking = rank_variants(suite, rows)
    assert [(e["rank"], e["variant"]) for e in ranking] == [(1, SCRIPT), (2, "plain"), (2, "gated")]
    assert all(e["success_rate"] is None for e in ranking)


def test_probability_of_improvement_table_counts_pairs_of_runs(stored):
    t10, t20 = improvement_tables(stored.stored_suite(), stored.results())
    assert (t10["seq_len"], t20["seq_len"]) == (10, 20)
    assert t10["variants"] == ["plain", SCRIPT, "gated"]
    # T = 10: plain 0.2, 0.4 against the clipped 0.1, 0.5: 2 of the 4 pairs are lower
    assert t10["cells"][("plain", SCRIPT)][0] == pytest.approx(0.5)
    assert t10["cells"][("gated", "plain")][0] == 1.0  # 0.05, 0.07 beat 0.2, 0.4
    assert t10["cells"][("gated", "plain")][1] == pytest.approx(1 / 6)  # 1 of the 6 splits of 4 runs
    assert t10["cells"][("plain", "gated")][0] == 0.0
    assert ("plain", "plain") not in t10["cells"]
    # T = 20: the clipped variant's runs diverged and failed (+inf each): plain's 0.3 beats both;
    # the gated variant's 0.01 beats it, its timed-out run (+inf) does not
    assert t20["cells"][("plain", SCRIPT)][0] == 1.0 and t20["cells"][(SCRIPT, "plain")][0] == 0.0
    assert t20["cells"][("gated", "plain")][0] == 0.5


def test_environment_lists_every_value_the_runs_recorded(stored):
    env = dict(recorded_environment(stored.results()))
    assert env["numpy"] == [("2.0.0", 6), ("2.1.0", 5)]
    assert env["cpu"] == [("Synthetic CPU", 11)] and env["blas"] == [("openblas 0.3.26", 11)]


# --- asv ------------------------------------------------------------------------


def test_asv_results_are_read_in_commit_order(tmp_path):
    points = read_asv_results(write_asv_results(tmp_path / "results"))
    assert {p.benchmark for p in points} == {STEP, "bench_x.time_plain"}  # timings only
    assert [p.commit[0] for p in points] == ["a"] * 4 + ["b"] * 4  # by date; version 1 skipped
    first = {(p.benchmark, p.params): p.seconds for p in points if p.commit[0] == "a"}
    assert first == {
        (STEP, "cell=vanilla, shape=small"): 1e-3,
        (STEP, "cell=vanilla, shape=large"): 4e-3,
        (STEP, "cell=lstm, shape=large"): 2e-2,  # (lstm, small) failed: null
        ("bench_x.time_plain", ""): 0.5,
    }
    assert {(p.machine, p.date_ms) for p in points} == {("box", 1000), ("box", 2000)}


def test_asv_parser_without_benchmarks_json_uses_names_and_skips_other_shapes():
    data = asv_file("d" * 40, 10, 1.0)
    points = parse_result_file(data, "box")
    assert {p.benchmark for p in points} == {STEP, "bench_x.time_plain"}
    step_params = {p.params for p in points if p.benchmark == STEP}
    assert step_params == {"vanilla, small", "vanilla, large", "lstm, large"}
    assert parse_result_file({"version": 2, "results": []}, "box") == []
    assert parse_result_file(data | {"version": 3}, "box") == []


def test_asv_results_default_to_dot_asv_under_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert read_asv_results() == []
    write_asv_results(tmp_path / ".asv" / "results")
    assert len(read_asv_results()) == 8


# --- figures --------------------------------------------------------------------


def overlaps(fig) -> list[str]:
    """Legends that overlap an axes, and tick labels that overlap each other."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    boxes = [ax.get_window_extent(renderer) for ax in axes]
    legends = list(fig.legends) + [ax.get_legend() for ax in axes if ax.get_legend()]
    def drawn(tick_labels, box, axis):  # tick labels of ticks inside the view; matplotlib keeps others
        lo, hi = (box.x0, box.x1) if axis == "x" else (box.y0, box.y1)
        for text in tick_labels:
            extent = text.get_window_extent(renderer)
            middle = (extent.x0 + extent.x1) / 2 if axis == "x" else (extent.y0 + extent.y1) / 2
            if lo - 1 <= middle <= hi + 1:
                yield text

    labels = [
        (i, text)
        for i, (ax, box) in enumerate(zip(axes, boxes))
        for text in [ax.xaxis.label, ax.yaxis.label,
                     *drawn(ax.get_xticklabels(), box, "x"), *drawn(ax.get_yticklabels(), box, "y")]
        if text.get_visible() and text.get_text()
    ]
    found = []
    for legend in legends:
        extent = legend.get_window_extent(renderer)
        found += [f"legend over axes {i}" for i, box in enumerate(boxes) if extent.overlaps(box)]
        found += [
            f"legend over the label '{text.get_text()}' of axes {i}"
            for i, text in labels
            if extent.overlaps(text.get_window_extent(renderer))
        ]
    for i, ax in enumerate(axes):
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            shown = [t.get_window_extent(renderer) for t in ticks if t.get_visible() and t.get_text()]
            found += [
                f"tick labels overlap in axes {i}"
                for a, b in zip(shown, shown[1:])
                if a.overlaps(b)
            ]
    return found


def test_convergence_figure_has_a_row_per_quantity_and_readable_layout(stored):
    fig = figures.convergence_figure(stored.stored_suite(), stored.results())
    axes = [ax for ax in fig.axes]
    assert len(axes) == 4  # (test loss, accuracy) x 2 lengths
    assert axes[0].get_ylabel().startswith("test loss") and axes[2].get_ylabel().startswith("accuracy")
    # the diverged run's loss never sets the axis: it stops near the finished runs' values
    assert axes[0].get_ylim()[1] < 2.0
    assert axes[2].get_ylim()[1] >= 0.99  # yet every finished run's accuracy is in view
    # two seeds per variant: no band, each seed's own curve as a thin line beside the mean
    assert not axes[0].collections, "a band was drawn from two seeds"
    thin = [line for line in axes[0].lines if line.get_linewidth() < 1.0]
    assert len(thin) == 6  # T = 10: two finished runs of each of three variants
    assert overlaps(fig) == []


def test_convergence_figure_draws_a_band_from_six_seeds():
    suite = make_suite().model_copy(update={"seeds": list(range(6))})
    results = [ok_result(run, 0.1 + 0.05 * run.seed, cell(suite, run)) for run in suite.runs()]
    fig = figures.convergence_figure(suite, results)
    ax = fig.axes[0]
    assert len(ax.collections) == 3, "a band per variant"
    assert not [line for line in ax.lines if line.get_linewidth() < 1.0], "no single-seed lines"
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() < 2 * 0.225 < band.max()  # the median at step 2 lies inside its band
    five = make_suite().model_copy(update={"seeds": list(range(5))})
    fig = figures.convergence_figure(five, [ok_result(run, 0.1, cell(five, run)) for run in five.runs()])
    assert len(fig.axes[0].collections) == 0, "five seeds: too few for a 95% band of the median"
    assert overlaps(fig) == []


def test_decay_figure_prints_k_hat_and_bound_and_has_a_cell_state_row(stored, rows):
    fig = figures.decay_figure(stored.stored_suite(), stored.results(), rows)
    axes = fig.axes
    assert len(axes) == 4 and all(ax.get_yscale() == "log" for ax in axes)
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels[0] == r"plain: $\hat{k}$ 0.6 → 1, bound 1.5 → 1"
    assert labels[2] == r"gated: $\hat{k}$ 0.6 → 0.8, bound n/a"
    assert labels[1].startswith(SCRIPT + ": ")
    state_labels = [t.get_text() for t in axes[2].get_legend().get_texts()]
    assert state_labels == [r"gated: $\hat{k}$ 0.95 → 0.99"]
    assert "cell state" in axes[2].get_ylabel()
    assert overlaps(fig) == []


def test_decay_figure_stays_readable_with_many_variants(tmp_path):
    """Seven variants with long names, as in the irnn suite: every panel's
    legend of k-hat lines sits below its axis label, over nothing."""
    names = [f"variant {i}, a ReLU RNN with a random W_hh at lr 0.1" for i in range(7)]
    suite = make_suite().model_copy(
        update={"variants": [VariantSpec(name=n) for n in names], "seeds": [0]}
    )
    results = [ok_result(run, 0.1, cell(suite, run)) for run in suite.runs()]
    fig = figures.decay_figure(suite, results, summarise(suite, results))
    assert [len(ax.get_legend().get_texts()) for ax in fig.axes] == [7, 7]
    assert overlaps(fig) == []


def test_other_figures_use_log_axes_where_values_span_decades(stored, rows):
    suite, results = stored.stored_suite(), stored.results()
    grad = figures.grad_norm_figure(suite, results)
    assert all(ax.get_yscale() == "log" for ax in grad.axes)
    assert any(line.get_linestyle() == "--" for line in grad.axes[0].lines)  # after clipping
    recurrent = figures.recurrent_figure(suite, results)
    assert recurrent.axes[0].get_yscale() == "log"  # the diverged run reaches 1e12
    success = figures.success_figure(suite, rows)
    assert success.axes[0].get_ylim() == (-0.05, 1.05)
    timing = figures.timing_figure(suite, results)
    assert len(timing.axes[0].patches) == 5  # finished (variant, length) cells with a time
    for fig in (grad, recurrent, success, timing):
        assert overlaps(fig) == []


def test_success_figure_needs_a_criterion(stored):
    rows = [{"criterion": None, "success_rate": None}]
    assert figures.success_figure(stored.stored_suite(), rows) is None


def test_asv_figure(tmp_path):
    fig = figures.asv_figure(read_asv_results(write_asv_results(tmp_path / "r")))
    assert [ax.get_title() for ax in fig.axes] == [STEP, "bench_x.time_plain"]
    assert len(fig.axes[0].lines) == 3
    assert fig.axes[0].get_yscale() == "log"  # 1 ms .. 40 ms
    assert overlaps(fig) == []
    assert figures.asv_figure([]) is None


# --- HTML -----------------------------------------------------------------------


def test_report_escapes_everything_from_the_suite(report):
    index, html = report
    assert index.name == "index.html" and index.parent.name == "synthetic"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "Synthetic &lt;b&gt;numbers&lt;/b&gt;" in html


def test_report_shows_summary_ranking_settings_problems_and_environment(report):
    _, html = report
    assert "<code>adding</code>" in html
    assert "clip_norm(threshold=1.0)" in html
    assert "RuntimeError: synthetic failure" in html
    assert "loss became non-finite at step 2" in html and "over the time limit" in html
    assert "0.2, 0.4 (2 seeds: no interval)" in html  # too few runs for an interval
    assert "Agarwal et al. 2021" in html and "row beats column" in html
    assert "0.3 (1 seed: no interval)" in html
    assert "1/2 (50%)" in html and "1 ok, 1 timeout" in html and "1 diverged, 1 error" in html
    assert html.index("gated</td>") < html.index("plain</td>")  # ranked first
    assert "numpy" in html and "2.0.0" in html and "(5 runs)" in html
    assert "Synthetic CPU" in html and "openblas 0.3.26" in html
    assert re.search(r"flush to zero</th><td>off", html)
    assert "11 of 12 runs stored" in html
    # the summary table's bound column (second last): n/a for the gated cell only
    rows = re.findall(r'<tr[^>]*>\s*<td class="num">(\d+)</td>\s*<td>([^<]*)</td>(.*?)</tr>', html, re.S)
    bounds = {(int(T), v): re.findall(r'<td class="num">(.*?)</td>', rest, re.S)[-2] for T, v, rest in rows}
    assert bounds[(10, "gated")] == bounds[(20, "gated")] == "n/a"
    assert bounds[(10, "plain")] == "1.5 &rarr; 1" and bounds[(20, "plain")] == "1 &rarr; 0.8"


def test_report_references_nothing_outside_its_folder(report):
    index, html = report
    assert "http://" not in html and "https://" not in html
    assert "url(" not in html and "@import" not in html
    refs = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", html)
    assert "runs.csv" in refs and (index.parent / "runs.csv").is_file()  # the raw data beside the page
    images = [r for r in refs if not r.startswith("#") and r != "runs.csv"]
    assert sorted(images) == sorted(info.file for info in FIGURES.values())
    for ref in images:
        assert not ref.startswith("/") and ":" not in ref
        assert (index.parent / ref).read_bytes().startswith(PNG_MAGIC)
    for anchor in (r[1:] for r in refs if r.startswith("#")):
        assert f'id="{anchor}"' in html
    assert len(re.findall(r"<img\b[^>]*\balt=\"[^\"]+\"", html)) == len(images)


def test_report_without_runs_or_asv_results_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .asv here
    suite = make_suite("empty")
    store = Store(tmp_path / "results" / suite.name)
    store.save_suite(suite)
    stale = tmp_path / "reports" / "empty" / "asv_history.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(PNG_MAGIC)
    index = build_report(store.root, tmp_path / "reports")
    html = index.read_text(encoding="utf-8")
    assert "No stored results yet" in html
    assert "0 of 12 runs stored" in html
    assert "<img" not in html and not stale.exists()


# --- export ---------------------------------------------------------------------


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def test_export_csv(stored, tmp_path):
    runs_path, curves_path = export_csv(stored.root, tmp_path / "csv")
    assert (runs_path.name, curves_path.name) == ("runs.csv", "curves.csv")
    results = stored.results()

    header, runs = read_csv(runs_path)
    assert header == run_columns(results)
    for column in ("final_accuracy", "baseline_accuracy", f"solved_{MAIN}", f"solved_{OTHER}",
                   "steps_to_solve", "k_hat_c_init", "k_hat_c_final", "bound_init", "flush_to_zero"):
        assert column in header
    assert len(runs) == 11
    by_cell = {(int(r["seq_len"]), r["variant"], int(r["seed"])): r for r in runs}

    ok = by_cell[(10, "plain", 1)]
    assert ok["remedies"] == "" and ok["task"] == "adding" and ok["optimizer"] == "sgd"
    assert float(ok["final_test_loss"]) == 0.4 and ok["status"] == "ok" and ok["message"] == ""
    assert math.isclose(float(ok["k_hat_init"]), 0.7, rel_tol=1e-9)
    assert math.isclose(float(ok["k_hat_final"]), 1.1, rel_tol=1e-9)
    assert (ok["steps"], ok["steps_done"], ok["suite"]) == ("4", "4", "synthetic")
    assert float(ok["final_accuracy"]) == pytest.approx(0.6) and ok["baseline_accuracy"] == "0.5"
    assert (ok[f"solved_{MAIN}"], ok["steps_to_solve"], ok["flush_to_zero"]) == ("False", "2", "False")
    assert ok["k_hat_c_init"] == "" and float(ok["bound_final"]) == pytest.approx(1.2)

    gated = by_cell[(10, "gated", 0)]
    assert gated[f"solved_{MAIN}"] == "True" and gated["bound_init"] == ""
    assert float(gated["k_hat_c_final"]) == pytest.approx(0.99)

    diverged = by_cell[(20, SCRIPT, 1)]
    assert diverged["remedies"] == "clip_norm(threshold=1.0)"
    assert diverged["status"] == "diverged"
    assert diverged["final_test_loss"] == "" and diverged["k_hat_final"] == ""
    assert float(diverged["final_train_loss"]) == 5.0

    error = by_cell[(20, SCRIPT, 0)]
    assert error["message"] == "RuntimeError: synthetic failure"
    assert error["baseline"] == "" and error["k_hat_init"] == "" and error[f"solved_{MAIN}"] == ""

    header, curves = read_csv(curves_path)
    assert header == curve_columns(results)
    assert header[-4:] == ["grad_norm", "grad_norm_after", "recurrent_norm", "spectral_radius"]
    assert "metric_accuracy" in header
    assert len(curves) == 8 * 3 + 2 + 2  # ok runs x 3 logged steps + diverged 2 + timeout 2
    first = [r for r in curves if r["key"] == ok["key"]]
    assert [r["step"] for r in first] == ["0", "2", "4"]
    assert [r["test_loss"] for r in first] == ["1.0", "0.8", "0.4"]
    assert [float(r["metric_accuracy"]) for r in first] == pytest.approx([0.0, 0.2, 0.6])
    assert [r["spectral_radius"] for r in first] == ["0.9", "1.1", "1.3"]
    assert first[0]["train_loss"] == "" and first[0]["grad_norm"] == ""
    last = [r for r in curves if r["key"] == diverged["key"]][-1]
    assert last["test_loss"] == "" and last["train_loss"] == "5.0"
    assert float(last["recurrent_norm"]) == 1e12
    assert {r["spectral_radius"] for r in curves if r["variant"] == "gated"} == {""}


def test_export_json_holds_the_same_records_and_loads_into_pandas(stored, tmp_path):
    paths = export_results(stored.root, tmp_path)
    assert [p.name for p in paths] == ["runs.csv", "curves.csv", "runs.json", "curves.json"]
    for name in ("runs", "curves"):
        header, from_csv = read_csv(tmp_path / f"{name}.csv")
        records = json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))
        assert isinstance(records, list) and len(records) == len(from_csv)
        for record, row in zip(records, from_csv):
            assert list(record) == header
            assert {k: "" if v is None else str(v) for k, v in record.items()} == row
    runs = json.loads((tmp_path / "runs.json").read_text())
    diverged = next(r for r in runs if r["status"] == "diverged")
    assert diverged["final_test_loss"] is None and diverged[f"solved_{MAIN}"] is False
    try:
        import pandas as pd
    except ImportError:
        return
    frame = pd.read_json(tmp_path / "runs.json")
    assert list(frame.columns) == run_columns(stored.results()) and len(frame) == 11
    assert frame["final_test_loss"].isna().sum() == 2  # the error and the diverged run
    curves = pd.read_json(tmp_path / "curves.json")
    assert len(curves) == 28 and "metric_accuracy" in curves.columns


def test_a_suite_can_put_one_figure_first(stored, report, tmp_path):
    """``first_figure``: the suite whose point is one figure (the gradient decay
    across cell families) shows it first; the others keep their order."""
    _, page = report
    default_order = re.findall(r'<img src="([a-z_]+)\.png"', page)
    assert default_order[:3] == ["success", "convergence", "decay"]
    moved = Store(tmp_path / "results" / stored.root.name)
    shutil.copytree(stored.root, moved.root)
    moved.save_suite(moved.stored_suite().model_copy(update={"first_figure": "decay"}))
    page = build_report(moved.root, tmp_path / "reports").read_text(encoding="utf-8")
    order = re.findall(r'<img src="([a-z_]+)\.png"', page)
    assert order[0] == "decay" and order[1:] == [f for f in default_order if f not in ("decay", "asv_history")]
    assert page.index('<img src="decay.png"') < page.index('<h2 id="ranking">')  # at the top of the page
    assert page.count('<img src="decay.png"') == 1


def test_first_figure_names_exactly_the_report_figures_a_suite_can_draw():
    """The suite's ``first_figure`` choices (spec, which imports no report code)
    and the report's figures are one list."""
    import typing

    from rnnbench.spec import SuiteSpec

    annotation = SuiteSpec.model_fields["first_figure"].annotation
    (choices,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    assert set(typing.get_args(choices)) == set(FIGURES) - {"asv"}  # asv's history is not a suite's
