"""The process settings a run trains under belong to the worker that runs it
(rnnbench.process_settings.run_settings, entered by runner.run_here), not to
training.train."""

from __future__ import annotations

import pytest

from rnnbench.engine import blas, numerics
from rnnbench.process_settings import run_settings
from rnnbench.runner import run_here
from rnnbench.training import train

needs_ftz = pytest.mark.skipif(not numerics.SUPPORTED, reason="no flush-to-zero control on this platform")


def blas_thread_counts() -> set[int]:
    return {lib["num_threads"] for lib in blas.blas_description()}


@needs_ftz
@pytest.mark.parametrize("flush", [True, False])
def test_run_settings_sets_and_restores_flush_to_zero_and_blas_threads(flush):
    numerics.set_flush_to_zero(not flush)
    threads_before = blas_thread_counts()
    try:
        with run_settings(threads=1, flush_to_zero=flush):
            assert numerics.get_flush_to_zero() is flush
            assert blas_thread_counts() == {1}  # numpy's BLAS, and any other loaded
        assert numerics.get_flush_to_zero() is (not flush)
        assert blas_thread_counts() == threads_before
    finally:
        numerics.set_flush_to_zero(False)


@needs_ftz
def test_train_leaves_flush_to_zero_to_the_worker(registry, small_suite):
    run = small_suite.runs()[0]
    assert run.train.flush_to_zero  # the suite asks for it
    numerics.set_flush_to_zero(False)
    seen_by_train: list[bool] = []
    train(run, registry, on_step=lambda n: seen_by_train.append(numerics.get_flush_to_zero()))
    assert seen_by_train and not any(seen_by_train)  # train() alone changes nothing

    seen_by_worker: list[bool] = []
    result = run_here(run, registry, threads=1, timeout_s=None,
                      on_step=lambda n: seen_by_worker.append(numerics.get_flush_to_zero()))
    assert result.status == "ok"
    assert seen_by_worker and all(seen_by_worker)  # the worker trains it as the run asks
    assert not numerics.get_flush_to_zero()  # and restores the thread's mode afterwards
