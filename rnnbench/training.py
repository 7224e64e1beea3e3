"""One training run: RunSpec in, RunResult out. No files, no printing.

Three parts: ``train_step`` (a batch -> forward -> loss (+ remedy penalties)
-> BPTT -> remedies transform the gradients -> optimiser step), ``evaluate``
(the network on the fixed validation and test sets, every ``log_every``
steps) and the loop, ``train``. A non-finite loss or gradient ends the run
with status ``diverged``. The asv benchmarks time ``train_step`` itself.

Random streams, all derived from the run's seed so that a run is reproducible
on any executor: parameters from ``[seed, 0]``, training batches from
``[seed, 1]``; the validation and test sets each from a constant seed of their
own (``Task.validation_set``, ``Task.test_set``), the same for every run of a
task and length so that seeds and variants are compared on one set.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable

import numpy as np

from rnnbench.api import Batch, Optimizer, Params, Task
from rnnbench.engine.network import Network, cast, global_norm
from rnnbench.registry import Registry
from rnnbench.results import Curves, DecayProfile, RunResult
from rnnbench.spec import RunSpec
from rnnbench.variant import Model, build_model

class Diverged(Exception):
    """The loss or the gradient stopped being finite."""


def build(run: RunSpec, registry: Registry) -> tuple[Task, Model, Optimizer]:
    """Make the task, the model (network, parameters, remedies) and the optimiser of a run."""
    task = registry.create("task", run.task, run.seq_len)
    model = build_model(
        run.variant, registry, task.input_size, task.output_size, run.train.dtype,
        task.loss, task.many_to_one, np.random.default_rng([run.seed, 0]),
    )
    optimizer = registry.create("optimizer", run.train.optimizer, learning_rate(run))
    return task, model, optimizer


def learning_rate(run: RunSpec) -> float:
    """The variant's own learning rate if it has one, else the suite's."""
    return run.variant.learning_rate or run.train.learning_rate


def _recurrent_spectrum(W: np.ndarray | None) -> tuple[float | None, float | None]:
    """||W||_2 and, for a square W, its spectral radius; None where undefined or not finite."""
    if W is None or not np.all(np.isfinite(W)):
        return None, None
    W = W.astype(np.float64)
    norm = float(np.linalg.norm(W, 2))
    radius = float(np.max(np.abs(np.linalg.eigvals(W)))) if W.shape[0] == W.shape[1] else None
    return norm, radius


def _decay(network: Network, params: Params, batch: Batch, step: int) -> DecayProfile:
    norm, _ = _recurrent_spectrum(network.cell.recurrent_matrix(params))
    slope = network.cell.max_derivative()
    return DecayProfile(
        step=step,
        norms=network.decay_profile(params, batch).tolist(),
        recurrent_norm=norm,
        bound=None if norm is None or slope is None else norm * slope,
        state_norms={k: v.tolist() for k, v in network.state_profiles(params, batch).items()},
    )


@dataclasses.dataclass(frozen=True)
class StepStats:
    """What one training step measured: the loss (with the remedies'
    penalties), the gradient's global norm before and after the remedies'
    transforms."""

    loss: float
    grad_norm: float
    grad_norm_after: float


def train_step(model: Model, optimizer: Optimizer, batch: Batch, step: int) -> StepStats:
    """One step: forward, loss (+ penalties), BPTT, the remedies' gradient
    transforms, the optimiser's update of ``model.params`` in place. Diverged
    if the loss or the gradient is not finite (nothing is updated then)."""
    loss, grads = model.loss_and_gradients(batch)
    norm = global_norm(grads)
    if not (math.isfinite(loss) and math.isfinite(norm)):
        raise Diverged(f"non-finite {'loss' if not math.isfinite(loss) else 'gradient'} at step {step}")
    transformed = model.transform_gradients(grads)
    # a remedy that leaves the gradient alone returns it as it was: no second norm
    after = norm if transformed is grads else global_norm(transformed)
    optimizer.step(model.params, transformed)
    model.network.cell.constrain(model.params)  # the cell's own constraint, if any (IndRNN's bound on |u|)
    return StepStats(loss, norm, after)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The network on the held-out sets at one logged step."""

    validation_loss: float
    validation_metrics: dict[str, float]
    test_loss: float
    test_metrics: dict[str, float]
    solved: dict[str, bool]  # the task's criteria, on the test set


def evaluate(task: Task, model: Model, validation: Batch, test: Batch) -> Evaluation:
    """Evaluate ``model`` on the fixed validation and test sets."""
    network, params = model.network, model.params
    held_out, outputs = network.evaluate(params, validation)
    validation_metrics = task.evaluate(outputs, validation)
    loss, outputs = network.evaluate(params, test)
    metrics = task.evaluate(outputs, test)
    solved = task.solved(loss, metrics) if math.isfinite(loss) else {}
    return Evaluation(held_out, validation_metrics, loss, metrics,
                      {name: bool(solved.get(name, False)) for name in task.criteria})


class _Log:
    """The curves of a run: each logged step's means over the steps since the
    last one, the recurrent matrix's spectrum and the evaluation of ``model``
    on the held-out sets."""

    def __init__(self, task: Task, model: Model, validation: Batch, test: Batch) -> None:
        self.task, self.model, self.validation, self.test = task, model, validation, test
        self.curves = Curves()
        self.window: list[StepStats] = []
        self.solved_at: list[dict[str, bool]] = []  # the task's criteria at each logged step

    def __call__(self, step: int) -> None:
        curves, window, model = self.curves, self.window, self.model
        columns = [[s.loss for s in window], [s.grad_norm for s in window], [s.grad_norm_after for s in window]]
        mean = [math.fsum(col) / len(window) for col in columns] if window else [None] * 3
        curves.step.append(step)
        curves.train_loss.append(mean[0])
        curves.grad_norm.append(mean[1])
        curves.grad_norm_after.append(mean[2])
        norm, radius = _recurrent_spectrum(model.network.cell.recurrent_matrix(model.params))
        curves.recurrent_norm.append(norm)
        curves.spectral_radius.append(radius)
        seen = evaluate(self.task, model, self.validation, self.test)
        curves.validation_loss.append(seen.validation_loss)
        for name, value in seen.validation_metrics.items():
            curves.validation_metrics.setdefault(name, []).append(value)
        curves.test_loss.append(seen.test_loss)
        for name, value in seen.test_metrics.items():
            curves.test_metrics.setdefault(name, []).append(value)
        self.solved_at.append(seen.solved)
        window.clear()


def train(
    run: RunSpec,
    registry: Registry,
    on_step: Callable[[int], None] | None = None,
) -> RunResult:
    """Train the network of ``run`` and return its result (status ok or diverged):
    ``train_step`` for each step, ``evaluate`` every ``log_every`` steps.

    Exceptions from plugins propagate: the runner records them. The process
    settings a run trains under (BLAS threads, flush-to-zero, the allocator)
    are not changed here: the caller enters
    :func:`rnnbench.process_settings.run_settings` (the runner's workers and
    the benchmarks do).
    """
    started = time.perf_counter()
    task, model, optimizer = build(run, registry)
    network, params = model.network, model.params
    dtype = np.dtype(run.train.dtype)
    test = cast(task.test_set(run.train.test_size), dtype)
    validation = cast(task.validation_set(run.train.validation_size), dtype)
    data_rng = np.random.default_rng([run.seed, 1])

    decay = [_decay(network, params, test, 0)]
    log = _Log(task, model, validation, test)
    curves = log.curves
    status, message, step = "ok", None, 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        log(0)
        try:
            for step in range(1, run.train.steps + 1):
                batch = cast(task.sample(data_rng, run.train.batch_size), dtype)
                log.window.append(train_step(model, optimizer, batch, step))
                if step % run.train.log_every == 0 or step == run.train.steps:
                    log(step)
                if on_step is not None:
                    on_step(step)
        except Diverged as exc:
            status, message, step = "diverged", str(exc), step - 1
            if log.window:
                log(step)
        else:
            decay.append(_decay(network, params, test, step))

    elapsed = time.perf_counter() - started
    solved_at = log.solved_at
    main = next(iter(task.criteria), None)
    first_solved = next((s for s, ok in zip(curves.step, solved_at) if ok.get(main)), None)
    return RunResult(
        key=run.key(),
        spec=run,
        status=status,
        message=message,
        curves=curves,
        decay=decay,
        baseline=task.baseline,
        baseline_metrics=task.baseline_metrics,
        final_metrics={name: values[-1] for name, values in curves.test_metrics.items()},
        solved=solved_at[-1] if status == "ok" else dict.fromkeys(task.criteria, False),
        steps_to_solve=first_solved,
        steps_done=step,
        final_train_loss=next((v for v in reversed(curves.train_loss) if v is not None), None),
        final_test_loss=curves.test_loss[-1],
        final_validation_loss=curves.validation_loss[-1],
        final_validation_metrics={name: v[-1] for name, v in curves.validation_metrics.items()},
        wall_time_s=elapsed,
        seconds_per_step=elapsed / step if step else None,
    )
