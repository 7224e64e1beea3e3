"""The tuning protocol: search spaces, one budget for every variant, selection on
the validation set, evaluation runs of the chosen configurations, bad input."""

from __future__ import annotations

import copy
import math
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnnbench import tuning
from rnnbench.report.export import tables
from rnnbench.report.findings import check
from rnnbench.results import RunResult
from rnnbench.runner import run_suite
from rnnbench.resolve import resolve_data
from rnnbench.spec import SpecError
from rnnbench.store import Store

TUNED = {
    "name": "tuned",
    "task": {"name": "adding"},
    "seq_lens": [6],
    "seeds": [0, 1, 2],
    "train": {"optimizer": "sgd", "steps": 60, "batch_size": 8, "log_every": 20, "test_size": 32,
              "validation_size": 32},
    "variants": [
        {"name": "tanh", "hidden_size": 8},
        {"name": "clipped", "hidden_size": 8, "remedies": [{"name": "clip_norm", "threshold": 1.0}]},
        {"name": "lstm", "cell": "lstm", "hidden_size": 8},
    ],
    "tuning": {"budget": 4, "seeds": [100, 101]},
}


@pytest.fixture
def data():
    return copy.deepcopy(TUNED)


def suite_of(data, registry):
    return resolve_data(data, registry)


# --- the search space --------------------------------------------------------------------------


def test_the_default_search_is_the_learning_rate_on_a_log_grid(data, registry):
    suite = suite_of(data, registry)
    for variant in suite.variants:
        rates = [t["learning_rate"] for t in tuning.search(suite, variant)]
        assert rates == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])  # 1e-4..1e-1, 4 points, log-spaced


def test_every_variant_gets_the_same_budget_and_shares_common_values(data, registry):
    data["tuning"].update(method="random", budget=6, search=[
        {"name": "learning_rate", "low": 1e-3, "high": 1.0},
        {"name": "remedy.clip_norm.threshold", "low": 0.1, "high": 10.0},
    ])
    suite = suite_of(data, registry)
    trials = {v.name: tuning.search(suite, v) for v in suite.variants}
    assert {len(t) for t in trials.values()} == {6}
    assert set(trials["tanh"][0]) == {"learning_rate"}  # the clipping threshold is not tanh's
    assert set(trials["clipped"][0]) == {"learning_rate", "remedy.clip_norm.threshold"}
    # common random numbers: the learning rates drawn are the same for every variant
    rates = [[t["learning_rate"] for t in trials[v]] for v in trials]
    assert rates[0] == rates[1] == rates[2]
    assert all(1e-3 <= r <= 1.0 for r in rates[0]) and len(set(rates[0])) == 6
    assert all(0.1 <= t["remedy.clip_norm.threshold"] <= 10 for t in trials["clipped"])
    # seeded: the same suite draws the same values; another draw_seed others
    assert tuning.search(suite, suite.variants[0]) == trials["tanh"]
    data["tuning"]["draw_seed"] = 1
    assert tuning.search(suite_of(data, registry), suite.variants[0]) != trials["tanh"]


def test_random_log_draws_are_log_uniform():
    dim = tuning.SearchDim(name="learning_rate", low=1e-4, high=1.0)
    u = np.random.default_rng(0).random(20_000)
    logs = np.log10(tuning._scaled(dim, u))
    # log-uniform on [-4, 0]: mean -2, variance 16/12
    assert logs.mean() == pytest.approx(-2.0, abs=0.03)
    assert logs.var() == pytest.approx(16 / 12, rel=0.03)


def test_quasirandom_draws_fill_the_range_evenly(data, registry):
    data["tuning"].update(method="quasirandom", budget=16,
                          search=[{"name": "learning_rate", "low": 1e-4, "high": 1.0}])
    suite = suite_of(data, registry)
    logs = np.log10([t["learning_rate"] for t in tuning.search(suite, suite.variants[0])])
    # a low-discrepancy sequence puts one point in each sixteenth of the log range
    counts = np.histogram(logs, bins=16, range=(-4, 0))[0]
    assert counts.tolist() == [1] * 16


def test_a_variant_widens_its_own_space_but_keeps_the_budget(data, registry):
    data["tuning"]["search"] = [{"name": "learning_rate", "values": [0.01, 0.1]},
                                {"name": "remedy.clip_norm.threshold", "values": [1.0]}]
    data["tuning"]["budget"] = 2
    # the clipped variant searches two thresholds, so only one learning rate fits its budget
    data["variants"][1]["search"] = [{"name": "remedy.clip_norm.threshold", "values": [0.5, 2.0]},
                                     {"name": "learning_rate", "values": [0.05]}]
    suite = suite_of(data, registry)
    assert tuning.search(suite, suite.variants[1]) == [
        {"learning_rate": 0.05, "remedy.clip_norm.threshold": 0.5},
        {"learning_rate": 0.05, "remedy.clip_norm.threshold": 2.0},
    ]
    assert [t["learning_rate"] for t in tuning.search(suite, suite.variants[0])] == [0.01, 0.1]
    # a third threshold would exceed the budget: refused, naming the variant
    data["variants"][1]["search"][0]["values"] = [0.5, 1.0, 2.0]
    with pytest.raises(SpecError, match="variant 'clipped'.*3 points, not the budget of 2"):
        suite_of(data, registry)


def test_trials_apply_their_values_to_every_kind_of_setting(data, registry):
    data["train"]["optimizer"] = "adam"
    data["tuning"].update(method="random", budget=2, search=[
        {"name": "learning_rate", "values": [0.02]},
        {"name": "optimizer.beta1", "values": [0.8]},
        {"name": "train.batch_size", "low": 4, "high": 4, "integer": True},
        {"name": "cell.forget_bias", "values": [2.0]},
        {"name": "remedy.clip_norm.threshold", "values": [0.25]},
    ])
    suite = suite_of(data, registry)
    runs = {r.variant.name: r for r in tuning.trial_runs(suite)}
    for run in runs.values():
        assert run.variant.learning_rate == 0.02 and run.train.optimizer.params["beta1"] == 0.8
        assert run.train.batch_size == 4 and run.variant.search == []
        assert run.trial is not None and run.seed in (100, 101)
    assert runs["lstm"].variant.cell_params["forget_bias"] == 2.0
    assert runs["clipped"].variant.remedies[0].params["threshold"] == 0.25
    assert "remedy.clip_norm.threshold" not in runs["tanh"].trial.values


def test_trial_runs_cover_lengths_variants_trials_and_tuning_seeds(data, registry):
    data["seq_lens"] = [6, 9]
    suite = suite_of(data, registry)
    runs = tuning.trial_runs(suite)
    assert len(runs) == 2 * 3 * 4 * 2 == sum(tuning.planned_runs(suite)) - 2 * 3 * 3
    assert len({r.key() for r in runs}) == len(runs)
    assert {r.seed for r in runs} == {100, 101}


# --- selection -------------------------------------------------------------------------------


def fake(run, loss, status="ok"):
    return RunResult(key=run.key(), spec=run, status=status, final_validation_loss=loss,
                     final_test_loss=0.0 if status == "ok" else None)


def test_selection_takes_the_best_validation_mean_and_the_first_of_ties(data, registry):
    data["tuning"]["search"] = [{"name": "learning_rate", "values": [0.001, 0.01, 0.1, 1.0]}]
    suite = suite_of(data, registry)
    runs = tuning.trial_runs(suite)
    # validation loss (log10(lr) + 2)^2 + seed offset: best at lr 0.01 for tanh;
    # lstm: its best learning rate diverges on one tuning seed, so the next best wins;
    # clipped: every trial diverges, so the first in search order (the smallest rate)
    results = []
    for r in runs:
        lr = r.variant.learning_rate
        loss = (math.log10(lr) + 2) ** 2 + 0.01 * (r.seed - 100)
        if r.variant.name == "lstm" and lr == 0.01 and r.seed == 101:
            results.append(fake(r, None, "diverged"))
        elif r.variant.name == "clipped":
            results.append(fake(r, None, "diverged"))
        else:
            results.append(fake(r, loss))
    chosen = {s.variant: s for s in tuning.select(suite, results)}
    assert chosen["tanh"].chosen.values == {"learning_rate": 0.01}
    assert chosen["tanh"].chosen.score == pytest.approx(0.005)  # mean of 0 and 0.01
    assert chosen["lstm"].chosen.values == {"learning_rate": 0.001}  # the tie with 0.1 goes first
    assert chosen["lstm"].trials[1].score == math.inf and chosen["lstm"].trials[1].diverged == 1
    assert chosen["clipped"].chosen.values == {"learning_rate": 0.001} and chosen["clipped"].all_diverged
    # lr 0.01 is inside the grid; 0.001 is its low end, which the report points out
    assert chosen["tanh"].edges() == [] and chosen["lstm"].edges() == ["low learning_rate"]
    assert chosen["clipped"].edges() == []  # nothing was chosen on merit
    # the evaluation runs are the chosen configurations on the evaluation seeds
    evaluation = tuning.evaluation_runs(suite, tuning.select(suite, results))
    assert [(r.variant.name, r.variant.learning_rate, r.seed) for r in evaluation] == [
        (v, lr, s) for v, lr in (("tanh", 0.01), ("clipped", 0.001), ("lstm", 0.001)) for s in (0, 1, 2)
    ]
    assert all(r.trial is None for r in evaluation)
    # with a trial missing nothing is selected for that variant, and nothing evaluated
    partial = [r for r in results if not (r.spec.variant.name == "tanh" and r.spec.trial.index == 3)]
    selections = tuning.select(suite, partial)
    assert selections[0].chosen is None
    assert {r.variant.name for r in tuning.evaluation_runs(suite, selections)} == {"clipped", "lstm"}


def test_selection_reads_validation_metrics_never_the_test_set(data, registry):
    data["tuning"]["search"] = [{"name": "learning_rate", "values": [0.01, 0.1, 1.0, 10.0]}]
    suite = suite_of(data, registry)
    results = []
    for r in tuning.trial_runs(suite):
        lr = r.variant.learning_rate
        # the test loss favours lr 10, the validation loss lr 0.1
        results.append(RunResult(key=r.key(), spec=r, status="ok", final_validation_loss=abs(math.log10(lr) + 1),
                                 final_test_loss=-lr))
    assert {s.chosen.values["learning_rate"] for s in tuning.select(suite, results)} == {0.1}


def test_a_task_metric_is_selected_in_the_direction_the_task_declares(registry):
    data = copy.deepcopy(TUNED)
    data.update(task={"name": "temporal_order"}, seq_lens=[10], variants=data["variants"][:1])
    data["tuning"].update(metric="accuracy", search=[{"name": "learning_rate", "values": [0.01, 0.1, 1.0, 10.0]}])
    suite = suite_of(data, registry)
    assert suite.tuning.goal == "max"
    results = [RunResult(key=r.key(), spec=r, status="ok", final_validation_loss=1.0,
                         final_validation_metrics={"accuracy": 1 / (1 + abs(math.log10(r.variant.learning_rate)))})
               for r in tuning.trial_runs(suite)]
    assert tuning.select(suite, results)[0].chosen.values == {"learning_rate": 1.0}


def test_a_sweep_finds_the_learning_rate_that_is_known_to_be_best(data, registry, tmp_path):
    """1e-6 cannot move the weights in 150 steps, 1e6 diverges at once, 0.1 learns
    the short adding problem: the protocol must choose 0.1 for every variant."""
    data["variants"] = data["variants"][:2]
    data["train"].update(steps=150, log_every=50)
    data["tuning"] = {"budget": 3, "seeds": [100], "search": [{"name": "learning_rate", "values": [1e-6, 0.1, 1e6]}]}
    suite = suite_of(data, registry)
    store = Store.for_suite(tmp_path, suite)
    summary = run_suite(suite, store, registry)
    assert summary.tuning.total == 6 and summary.total == 6
    assert summary.tuning.counts.get("diverged", 0) >= 1  # the unclipped tanh at 1e6
    for selection in store.selections():
        assert selection.chosen.values == {"learning_rate": 0.1}
        scores = [t.score for t in selection.trials]
        assert scores[1] < min(scores[0], scores[2])
    results = store.results()
    assert len(results) == 6 and all(r.spec.trial is None for r in results)
    assert {r.spec.variant.learning_rate for r in results} == {0.1}
    assert len(store.trials()) == 6 and all(r.spec.trial is not None for r in store.trials())
    # a second sweep trains nothing: trials and evaluation runs are both stored
    again = run_suite(suite, store, registry)
    assert (again.tuning.skipped, again.skipped) == (6, 6) and not again.counts
    # the export marks the trials and gives each run its own learning rate
    columns, rows = tables(store.root)["runs"]
    assert [r["role"] for r in rows] == ["tuning"] * 6 + ["evaluation"] * 6
    assert [r["trial"] for r in rows[:3]] == [0, 1, 2] and rows[6]["trial"] is None
    assert [r["learning_rate"] for r in rows[:3]] == [1e-6, 0.1, 1e6]
    assert {r["learning_rate"] for r in rows[6:]} == {0.1}
    assert all(r["final_validation_loss"] is not None for r in rows[6:])
    _, curves = tables(store.root)["curves"]
    assert {c["role"] for c in curves} == {"tuning", "evaluation"}


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        ({"budget": 0}, "tuning.budget: Input should be greater than 0"),
        ({"search": [{"name": "lerning_rate", "low": 1e-3, "high": 1}]}, "tuning.search[0].name: cannot search 'lerning_rate'"),
        ({"search": [{"name": "learning_rate", "low": 0, "high": 1}]}, "a log range needs low > 0"),
        ({"search": [{"name": "learning_rate", "low": 1, "high": 0.1}]}, "low 1 > high 0.1"),
        ({"search": [{"name": "learning_rate", "values": []}]}, "values is an empty grid"),
        ({"search": [{"name": "learning_rate"}]}, "give low and high"),
        ({"metric": "accuracy"}, "tuning.metric: task 'adding' does not report 'accuracy'"),
        ({"search": [{"name": "remedy.clip_norm.thresh", "values": [1, 2, 3, 4]}]}, "remedy 'clip_norm' has no parameter 'thresh'"),
        ({"search": [{"name": "remedy.nope.x", "values": [1, 2, 3, 4]}]}, "tuning.search[0].name: 'remedy.nope.x': no variant has remedy 'nope' (their remedies: clip_norm)"),
        ({"search": [{"name": "optimizer.momentum2", "values": [1, 2, 3, 4]}]}, "optimizer 'sgd' has no parameter 'momentum2'"),
        ({"search": [{"name": "train.dtype", "values": [1, 2, 3, 4]}]}, "'train.dtype': 'dtype' is not a numeric training setting"),
        ({"search": [{"name": "cell.forget_bis", "values": [1, 2, 3, 4]}]}, "tuning.search[0].name: 'cell.forget_bis': cells 'vanilla', 'lstm' have no parameter "
                                                                             "'forget_bis' (vanilla has none; lstm has: forget_bias); did you mean 'forget_bias'?"),
        ({"search": [{"name": "learning_rate", "values": [0.1, 0.2]}]}, "has 2 points, not the budget of 4"),
        ({"method": "grid", "search": [{"name": "learning_rate", "low": 0.1, "high": 1},
                                       {"name": "train.steps", "low": 1, "high": 9}]}, "a grid can split one range"),
        ({"seeds": [1]}, "tuning.seeds: 1 is also an evaluation seed"),
        ({"search": [{"name": "learning_rate", "values": [-0.1, 0.1, 0.2, 0.3]}]}, "learning_rate=-0.1"),
    ],
)
def test_bad_tuning_input_is_one_line_naming_the_field(data, registry, change, message):
    data["tuning"].update(change)
    with pytest.raises(SpecError) as caught:
        suite_of(data, registry)
    assert len(caught.value.lines) == 1
    assert message in caught.value.lines[0], caught.value.lines[0]


def test_every_problem_of_a_tuning_table_is_reported_at_once(data, registry):
    data["tuning"]["seeds"] = [1, 2, 100]
    data["tuning"]["metric"] = "accuracy"
    data["tuning"]["search"] = [
        {"name": "learning_rate", "values": [0.1, 0.2, 0.3, 0.4]},
        {"name": "cell.forget_bais", "values": [1.0]},
        {"name": "optimizer.momentun", "values": [0.9]},
        {"name": "remedy.clip_norm.treshold", "values": [1.0]},
    ]
    data["variants"][2]["search"] = [{"name": "remedy.clip_norm.threshold", "values": [1.0]}]
    with pytest.raises(SpecError) as caught:
        suite_of(data, registry)
    assert caught.value.lines == [
        "tuning.seeds: 1, 2 are also evaluation seeds; keep them apart",
        "tuning.search[1].name: 'cell.forget_bais': cells 'vanilla', 'lstm' have no parameter 'forget_bais' "
        "(vanilla has none; lstm has: forget_bias); did you mean 'forget_bias'?",
        "tuning.search[2].name: 'optimizer.momentun': optimizer 'sgd' has no parameter 'momentun' (it has: none)",
        "tuning.search[3].name: 'remedy.clip_norm.treshold': remedy 'clip_norm' has no parameter 'treshold' "
        "(it has: threshold); did you mean 'threshold'?",
        "variants[2].search[0].name: 'remedy.clip_norm.threshold': variant 'lstm' has no remedy 'clip_norm' "
        "(it has: none)",
        "tuning.metric: task 'adding' does not report 'accuracy' (it reports: validation_loss, max_abs_error)",
    ]


def test_variants_with_the_same_search_problem_share_a_line(data, registry):
    data["tuning"]["search"] = [{"name": "learning_rate", "values": [-0.1, 0.1, 0.2, 0.3]}]
    with pytest.raises(SpecError) as caught:
        suite_of(data, registry)
    assert caught.value.lines == [
        "tuning: variants 'tanh', 'clipped', 'lstm' at learning_rate=-0.1: learning_rate: "
        "Input should be greater than 0"
    ]


def test_a_variant_search_without_a_protocol_is_refused(data, registry):
    del data["tuning"]
    data["variants"][0]["search"] = [{"name": "learning_rate", "values": [0.1]}]
    with pytest.raises(SpecError, match=r"variants\[0\].search: the suite has no \[tuning\] protocol"):
        suite_of(data, registry)


def test_the_command_line_refuses_bad_tuning_with_exit_2(tmp_path):
    suite = tmp_path / "bad.toml"
    suite.write_text(
        'name = "bad"\nseq_lens = [5]\nseeds = [0]\n[task]\nname = "adding"\n'
        '[[variants]]\nname = "tanh"\n[tuning]\nbudget = 2\nmetric = "accuracy"\n'
    )
    done = subprocess.run([sys.executable, "-m", "rnnbench", "validate", str(suite)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {suite}: tuning.metric: task 'adding' does not report 'accuracy' "
        "(it reports: validation_loss, max_abs_error)"
    ]


# --- resume ------------------------------------------------------------------------------------

RESUME_SUITE = """
name = "resume-tuning"
seq_lens = [20]
seeds = [0, 1]
[task]
name = "adding"
[train]
steps = 600
batch_size = 16
log_every = 100
test_size = 32
validation_size = 32
[[variants]]
name = "tanh"
hidden_size = 16
[[variants]]
name = "clipped"
hidden_size = 16
remedies = [{ name = "clip_norm", threshold = 1.0 }]
[tuning]
budget = 3
seeds = [100]
search = [{ name = "learning_rate", values = [0.01, 0.05, 0.2] }]
"""


def test_kill_9_in_the_middle_of_tuning_then_restart_selects_the_same(tmp_path, registry):
    path = tmp_path / "suite.toml"
    path.write_text(RESUME_SUITE)
    out = tmp_path / "out"
    runs_dir = out / "results" / "resume-tuning" / "runs"
    command = [sys.executable, "-m", "rnnbench", "run", str(path), "--out", str(out), "--quiet"]
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(list(runs_dir.glob("*.json"))) < 2 and sweep.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        sweep.kill()
        sweep.communicate(timeout=60)
    assert sweep.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    store = Store(out / "results" / "resume-tuning")
    killed = {p.name: p.read_bytes() for p in runs_dir.glob("*.json")}
    assert 2 <= len(killed) < 6  # in the middle of the 6 trial runs
    assert all(r.spec.trial is not None for r in (store.load(k.removesuffix(".json")) for k in killed))

    restarted = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stderr
    assert f"tuning: ran {6 - len(killed)} of 6 trial runs" in restarted.stdout
    assert "evaluation: ran 4 of 4 runs" in restarted.stdout
    # the verdict, before the report's path: a line per (length, variant) of the evaluation runs
    lines = restarted.stdout.splitlines()
    header = next(i for i, l in enumerate(lines) if "test loss / baseline" in l)
    assert lines[header + 1].split()[:3] == ["20", "tanh", "2"] and "2 ok" in lines[header + 1]
    assert lines[header + 2].split()[:2] == ["20", "clipped"]
    assert lines[-1].startswith("report: ") and header < len(lines) - 1
    after = {p.name: p.read_bytes() for p in runs_dir.glob("*.json")}
    assert {k: after[k] for k in killed} == killed  # the stored trials untouched

    # the same selection and the same numbers as a sweep that was never interrupted
    suite = resolve_data(__import__("tomllib").loads(RESUME_SUITE), registry)
    fresh = Store.for_suite(tmp_path / "fresh", suite)
    run_suite(suite, fresh, registry)
    assert [s.chosen.values for s in fresh.selections()] == [s.chosen.values for s in store.selections()]
    assert [r.curves for r in fresh.results()] == [r.curves for r in store.results()]


# --- findings over the budget ------------------------------------------------------------------


def test_a_claim_of_failure_must_hold_at_every_run_of_every_trial_of_the_budget(data, registry):
    data["variants"] = data["variants"][:2]
    data["seeds"] = list(range(6))  # enough evaluation seeds for the sign test to decide
    data["tuning"]["search"] = [{"name": "learning_rate", "values": [0.001, 0.01, 0.1, 1.0]}]
    data["findings"] = [
        {"claim": "tanh fails", "variant": "tanh", "measure": "loss_over_baseline", "above": 0.9,
         "every_trial": True},
        {"claim": "clipping diverges less", "variant": "clipped", "measure": "trials_diverged_fraction",
         "below": "tanh"},
    ]
    suite = suite_of(data, registry)

    def result(run, loss, status="ok"):
        return RunResult(key=run.key(), spec=run, status=status, final_test_loss=loss, baseline=0.2,
                         final_validation_loss=loss)

    def trials_with(tanh_loss_at, diverges_at=None, seed=None):
        out = []
        for r in tuning.trial_runs(suite):
            lr = r.variant.learning_rate
            if r.variant.name == "clipped":
                out.append(result(r, 0.05))
            elif lr == diverges_at and (seed is None or r.seed == seed):
                out.append(result(r, None, "diverged"))
            else:
                out.append(result(r, tanh_loss_at(lr)))
        return out

    def verdicts(trials):
        evaluation = [result(r, 0.195 + 0.001 * r.seed) for r in
                      tuning.evaluation_runs(suite, tuning.select(suite, trials))]
        return check(suite, evaluation, trials)

    # every run of every trial ends above 0.9 of the baseline: the claim is made
    held, _ = verdicts(trials_with(lambda lr: 0.19))
    assert held.held is True and held.outcome == "reproduced"
    assert "every run of every trial of its tuning budget lies as claimed" in held.detail
    # one learning rate at which it learned: the failure is not claimed
    broken, _ = verdicts(trials_with(lambda lr: 0.05 if lr == 0.01 else 0.19))
    assert broken.held is False and broken.outcome == "not shown"
    assert "at learning_rate = 0.01, tuning seed" in broken.detail and "loss_over_baseline = 0.25" in broken.detail
    # one run that diverged at rate 1 (one tuning seed of two) did not stay at the baseline:
    # a diverged run is its own failure, never counted as staying there
    diverged, fewer = verdicts(trials_with(lambda lr: 0.19, diverges_at=1.0, seed=suite.tuning.seeds[-1]))
    assert diverged.outcome == "not shown" and "the run diverged" in diverged.detail
    # divergence is counted by learning rate (the unit that varies): 1 of the tanh's 4 rates
    assert (fewer.value, fewer.reference) == (0.0, 0.25) and fewer.held is True
    assert "0/4, below tanh = 1/4" in fewer.detail


def test_every_trial_and_trial_measures_need_a_protocol(data, registry):
    del data["tuning"]
    data["findings"] = [{"claim": "x", "variant": "tanh", "measure": "trials_diverged_fraction", "above": 0}]
    with pytest.raises(SpecError, match=r"findings\[0\]: trials_diverged_fraction needs a \[tuning\] protocol"):
        suite_of(data, registry)
    data["findings"] = [{"claim": "x", "variant": "tanh", "measure": "success_rate", "below": 0.5,
                         "every_trial": True}]
    with pytest.raises(SpecError, match=r"findings\[0\]: every_trial needs a \[tuning\] protocol"):
        suite_of(data, registry)
