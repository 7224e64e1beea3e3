"""Stored results as CSV, for analysis outside rnnbench.

``export_csv`` writes two files. An empty cell means the value is missing:
not measured, or not finite (a diverged loss).

``runs.csv``, one row per stored run, in grid order:

- ``suite``: name of the suite.
- ``key``: the run's key (hash of its RunSpec); its record is ``runs/<key>.json``.
- ``variant``: name of the variant.
- ``cell``: recurrent cell.
- ``activation``: non-linearity of the cell.
- ``remedies``: remedies in the order applied, as ``name(param=value, ...)``,
  separated by ``;``; empty if none.
- ``hidden_size``: number of hidden units.
- ``seq_len``: sequence length T.
- ``seed``: random seed of the run.
- ``task``: task, as ``name(param=value, ...)``.
- ``optimizer``: optimiser, as ``name(param=value, ...)``.
- ``learning_rate``: learning rate.
- ``steps``: number of parameter updates asked for.
- ``batch_size``: training sequences per update.
- ``dtype``: floating-point type of the computation.
- ``status``: ``ok``, ``diverged`` or ``error``.
- ``message``: one line saying why a run is not ok.
- ``steps_done``: parameter updates actually made.
- ``final_train_loss``: mean training loss of the last logged interval.
- ``final_test_loss``: loss on the held-out test set at the end.
- ``baseline``: held-out loss of the best input-blind predictor.
- ``k_hat_init``: per-step gradient decay factor fitted to the decay profile at
  initialisation (exp of the slope of log-norm against distance).
- ``k_hat_final``: the same for the profile after training.
- ``wall_time_s``: wall-clock time of the run in seconds.
- ``seconds_per_step``: wall-clock seconds per parameter update.

``curves.csv``, one row per run and logged step:

- ``suite``, ``key``, ``variant``, ``seq_len``, ``seed``: as in ``runs.csv``.
- ``step``: parameter updates made so far (0 is the initial network).
- ``train_loss``: mean training-batch loss of the updates since the previous
  logged step (empty at step 0).
- ``test_loss``: loss on the held-out test set after ``step`` updates.
- ``grad_norm``: mean global gradient norm over the same updates, before the
  remedies.
- ``grad_norm_after``: the same after the remedies transformed the gradient.
"""

from __future__ import annotations

import csv
from pathlib import Path

from rnnbench.report.analysis import final_profile, fit_decay_factor, init_profile
from rnnbench.results import RunResult
from rnnbench.spec import PluginRef
from rnnbench.store import Store

RUN_COLUMNS = [
    "suite", "key", "variant", "cell", "activation", "remedies", "hidden_size", "seq_len",
    "seed", "task", "optimizer", "learning_rate", "steps", "batch_size", "dtype", "status",
    "message", "steps_done", "final_train_loss", "final_test_loss", "baseline",
    "k_hat_init", "k_hat_final", "wall_time_s", "seconds_per_step",
]  # fmt: skip
CURVE_COLUMNS = [
    "suite", "key", "variant", "seq_len", "seed",
    "step", "train_loss", "test_loss", "grad_norm", "grad_norm_after",
]  # fmt: skip


def format_ref(ref: PluginRef) -> str:
    """A plugin reference as ``name(param=value, ...)``, or ``name`` without parameters."""
    params = ", ".join(f"{k}={v}" for k, v in ref.params.items())
    return f"{ref.name}({params})" if params else ref.name


def _k_hat(profile) -> float | None:
    return fit_decay_factor(profile.norms) if profile else None


def run_row(suite_name: str, r: RunResult) -> dict:
    """The ``runs.csv`` row of one run."""
    v, train = r.spec.variant, r.spec.train
    return {
        "suite": suite_name,
        "key": r.key,
        "variant": v.name,
        "cell": v.cell,
        "activation": v.activation,
        "remedies": ";".join(format_ref(m) for m in v.remedies),
        "hidden_size": v.hidden_size,
        "seq_len": r.spec.seq_len,
        "seed": r.spec.seed,
        "task": format_ref(r.spec.task),
        "optimizer": format_ref(train.optimizer),
        "learning_rate": train.learning_rate,
        "steps": train.steps,
        "batch_size": train.batch_size,
        "dtype": train.dtype,
        "status": r.status,
        "message": r.message,
        "steps_done": r.steps_done,
        "final_train_loss": r.final_train_loss,
        "final_test_loss": r.final_test_loss,
        "baseline": r.baseline,
        "k_hat_init": _k_hat(init_profile(r)),
        "k_hat_final": _k_hat(final_profile(r)),
        "wall_time_s": r.wall_time_s,
        "seconds_per_step": r.seconds_per_step,
    }


def curve_rows(suite_name: str, r: RunResult) -> list[dict]:
    """The ``curves.csv`` rows of one run, one per logged step."""
    c = r.curves
    return [
        {
            "suite": suite_name,
            "key": r.key,
            "variant": r.spec.variant.name,
            "seq_len": r.spec.seq_len,
            "seed": r.spec.seed,
            "step": step,
            "train_loss": train,
            "test_loss": test,
            "grad_norm": before,
            "grad_norm_after": after,
        }
        for step, train, test, before, after in zip(
            c.step, c.train_loss, c.test_loss, c.grad_norm, c.grad_norm_after, strict=True
        )
    ]


def _write(path: Path, columns: list[str], rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)  # csv writes None as an empty cell
    return path


def export_csv(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write ``runs.csv`` and ``curves.csv`` for the suite stored in
    ``results_dir`` into ``out_dir``; return their paths."""
    store = Store(results_dir)
    suite = store.load_suite()
    results = store.results()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        _write(out_dir / "runs.csv", RUN_COLUMNS, [run_row(suite.name, r) for r in results]),
        _write(
            out_dir / "curves.csv",
            CURVE_COLUMNS,
            [row for r in results for row in curve_rows(suite.name, r)],
        ),
    ]
