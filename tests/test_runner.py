"""Training, the runner and the store: statuses, determinism, resume, atomic records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnbench.process_settings import run_settings
from rnnbench.registry import load_registry
from rnnbench.resolve import resolve_data
from rnnbench.runner import run_suite
from rnnbench.store import Store, write_atomic
from rnnbench.training import train

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_run_learns_and_records_its_curves(registry, small_suite_data):
    small_suite_data["train"].update(steps=1000, learning_rate=0.1, batch_size=16, log_every=200, test_size=128)
    small_suite_data["variants"][0]["init"] = "normal"
    run = resolve_data(small_suite_data, registry).runs()[0]
    result = train(run, registry)
    assert result.status == "ok" and result.steps_done == 1000
    assert result.curves.step == [0, 200, 400, 600, 800, 1000]
    assert result.curves.train_loss[0] is None and None not in result.curves.train_loss[1:]
    # at length 6 a tanh RNN beats the input-blind baseline within 1000 steps
    assert result.final_test_loss < 0.5 * result.baseline < result.curves.test_loss[0]
    assert [p.step for p in result.decay] == [0, 1000]
    assert len(result.decay[0].norms) == run.seq_len
    assert result.decay[0].bound == result.decay[0].recurrent_norm  # max|tanh'| = 1
    assert set(result.curves.test_metrics) == {"max_abs_error"}
    assert len(result.curves.test_metrics["max_abs_error"]) == len(result.curves.step)
    assert result.final_metrics["max_abs_error"] == result.curves.test_metrics["max_abs_error"][-1]
    assert set(result.solved) == {"mse_below_0.01", "abs_error_below_0.04"}
    assert result.solved["mse_below_0.01"] == (result.final_test_loss < 0.01)
    if result.steps_to_solve is not None:
        k = result.curves.step.index(result.steps_to_solve)
        assert result.curves.test_loss[k] < 0.01 and min(result.curves.test_loss[:k]) >= 0.01


def test_the_same_run_gives_the_same_numbers(registry, small_suite):
    run = small_suite.runs()[1]
    a, b = train(run, registry), train(run, registry)
    assert a.curves == b.curves and a.decay == b.decay


def test_clipping_bounds_the_gradient_norm_it_passes_on(registry, small_suite_data):
    small_suite_data["variants"][1]["remedies"][0]["threshold"] = 0.05
    run = resolve_data(small_suite_data, registry).runs()[2]
    curves = train(run, registry).curves
    assert max(curves.grad_norm_after[1:]) <= 0.05 * (1 + 1e-5)
    assert max(curves.grad_norm[1:]) > 0.05


def test_a_huge_learning_rate_diverges_and_is_recorded(registry, small_suite_data):
    small_suite_data["train"].update(learning_rate=1e6)
    run = resolve_data(small_suite_data, registry).runs()[0]
    result = train(run, registry)
    assert result.status == "diverged"
    assert result.message.startswith("non-finite")
    assert result.steps_done < run.train.steps
    json.loads(result.model_dump_json())  # NaNs were turned into nulls


def test_sweep_isolates_a_crashing_plugin_and_resumes(tmp_path, small_suite_data):
    registry = load_registry([str(FIXTURES / "crashing_plugin.py")])
    small_suite_data["variants"].append({"name": "crashes", "hidden_size": 8, "remedies": ["crash"]})
    suite = resolve_data(small_suite_data, registry)
    store = Store.for_suite(tmp_path, suite)
    summary = run_suite(suite, store, registry)
    assert summary.total == 6 and summary.skipped == 0
    assert summary.counts == {"ok": 4, "error": 2}
    errors = [r for r in store.results() if r.status == "error"]
    assert {r.spec.variant.name for r in errors} == {"crashes"}
    assert "RuntimeError: this remedy always fails" == errors[0].message
    assert "Traceback" in errors[0].traceback and "crashing_plugin.py" in errors[0].traceback

    # a second sweep runs nothing; deleting one record reruns exactly that one
    again = run_suite(suite, store, registry)
    assert again.skipped == 6 and again.counts == {}
    victim = suite.runs()[1].key()
    (store.runs_dir / f"{victim}.json").unlink()
    third = run_suite(suite, store, registry)
    assert third.skipped == 5 and third.counts == {"ok": 1}


def test_stored_results_round_trip_and_half_written_files_are_ignored(tmp_path, registry, small_suite):
    store = Store.for_suite(tmp_path, small_suite)
    run_suite(small_suite, store, registry)
    (store.runs_dir / ".abc.json.tmp").write_text('{"key": "trunc')  # a write killed midway
    results = store.results()
    assert len(results) == 4
    run = small_suite.runs()[0]
    with run_settings(threads=1, flush_to_zero=run.train.flush_to_zero):  # as the runner trains it
        fresh = train(run, registry)
    assert results[0].curves == fresh.curves
    assert store.keys() == {r.key() for r in small_suite.runs()}


def test_write_atomic_replaces_whole_files_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "r.json"
    write_atomic(target, "first")
    write_atomic(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o644 & ~_umask())


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_float64_and_float32_runs_agree_early_on(registry, small_suite_data):
    small_suite_data["train"]["steps"] = 5
    r32 = train(resolve_data(small_suite_data, registry).runs()[0], registry)
    small_suite_data["train"]["dtype"] = "float64"
    r64 = train(resolve_data(small_suite_data, registry).runs()[0], registry)
    np.testing.assert_allclose(r32.curves.test_loss, r64.curves.test_loss, rtol=1e-4)


def test_gated_cells_train_and_record_the_cell_state_profile(registry, small_suite_data):
    small_suite_data["variants"] = [
        {"name": "lstm", "cell": "lstm", "hidden_size": 6},
        {"name": "gru", "hidden_size": 6, "remedies": ["gru", "layer_norm"]},
    ]
    small_suite_data["seeds"] = [0]
    lstm_run, gru_run = resolve_data(small_suite_data, registry).runs()
    lstm, gru = train(lstm_run, registry), train(gru_run, registry)
    assert lstm.status == gru.status == "ok"
    assert len(lstm.decay[0].state_norms["c"]) == lstm_run.seq_len
    assert gru.decay[0].state_norms == {}
    assert lstm.decay[0].bound is None and lstm.decay[0].recurrent_norm > 0  # no bound for gates
    assert lstm.final_test_loss < lstm.curves.test_loss[0]


def test_steps_to_solve_is_the_first_logged_step_meeting_the_main_criterion(registry, small_suite_data):
    small_suite_data["seq_lens"] = [4]
    small_suite_data["train"].update(
        steps=1500, learning_rate=0.01, batch_size=16, log_every=100, test_size=128, optimizer="adam"
    )
    small_suite_data["variants"][0].update(init="normal", hidden_size=16)
    result = train(resolve_data(small_suite_data, registry).runs()[0], registry)
    losses = result.curves.test_loss
    assert result.steps_to_solve is not None, losses  # a length-4 adding problem is learnt
    k = result.curves.step.index(result.steps_to_solve)
    assert losses[k] < 0.01 <= min(losses[:k])
    assert result.solved["mse_below_0.01"] == (losses[-1] < 0.01)


def test_the_recurrent_spectrum_is_logged_over_training(registry, small_suite_data):
    small_suite_data["variants"] = [
        {"name": "irnn", "activation": "relu", "hidden_size": 5, "remedies": [{"name": "identity_init", "scale": 0.5}]},
        {"name": "lstm", "cell": "lstm", "hidden_size": 5},
    ]
    small_suite_data["seeds"] = [0]
    irnn, lstm = (train(r, registry) for r in resolve_data(small_suite_data, registry).runs())
    assert irnn.curves.recurrent_norm[0] == pytest.approx(0.5, rel=1e-6)
    assert irnn.curves.spectral_radius[0] == pytest.approx(0.5, rel=1e-6)
    assert len(irnn.curves.spectral_radius) == len(irnn.curves.step)
    assert irnn.curves.recurrent_norm[-1] != irnn.curves.recurrent_norm[0]  # training moved W_hh
    assert lstm.curves.spectral_radius == [None] * len(lstm.curves.step)  # W_hh is 4H x H
    assert all(v > 0 for v in lstm.curves.recurrent_norm)


def test_a_variant_may_override_the_learning_rate(registry, small_suite_data):
    from rnnbench.training import build, learning_rate

    small_suite_data["variants"][1]["learning_rate"] = 0.5
    runs = resolve_data(small_suite_data, registry).runs()
    assert [learning_rate(r) for r in runs] == [0.1, 0.1, 0.5, 0.5]
    *_, optimizer = build(runs[2], registry)
    assert optimizer.learning_rate == 0.5


def test_the_environment_names_cpu_blas_and_versions():
    from rnnbench.runner import environment

    env = environment()
    assert env["numpy"] == np.__version__
    assert env["cpu"] and env["cores"].isdigit()
    assert "openblas" in env.get("blas", "").lower() or "mkl" in env.get("blas", "").lower()
