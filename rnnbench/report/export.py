"""Stored results as tables, for analysis outside rnnbench: CSV, JSON, Parquet
and pandas DataFrames.

Two tables: ``runs`` (one row per stored run, in grid order) and ``curves``
(one row per run and logged step), made by one function (``tables_of``) for
every format. ``export_results`` writes them as ``runs.csv`` and
``curves.csv``, ``runs.json`` and ``curves.json`` (by default), and
``runs.parquet`` and ``curves.parquet`` (with pyarrow, the ``parquet``
extra). A JSON file is an array of records, one object per row with the CSV's
columns as keys, so ``pandas.read_csv(path)`` and ``pandas.read_json(path)``
give the same table. A missing value -- not measured, not applicable, or not
finite (a diverged loss) -- is an empty cell in CSV and ``null`` in JSON.
Booleans are ``True``/``False`` in CSV and ``true``/``false`` in JSON.

``dataframe`` makes a table a DataFrame with a fixed type per column, which
the Parquet file keeps: text is pandas' ``string``, integers its nullable
``Int64``, booleans its nullable ``boolean``, every other number ``float64``
(a missing one NaN); so tables of several suites concatenate without a column
changing type.

Some columns depend on the task: one per metric it reports (``<metric>`` below,
e.g. ``accuracy`` or ``max_abs_error``), one per success criterion it declares
(``<criterion>``, e.g. ``mse_below_0.01``; the first is the main one), and one
per cell state other than h with a decay profile (``<state>``: ``c`` for the
LSTM). They come in the order the runs first record them.

``runs``, one row per stored run: a tuned suite's tuning runs first, then its
evaluation runs (the ones the report reads). ``build_report`` writes the same
table as ``runs.csv`` beside every report (``write_report_runs``): it holds
every value per run that a finding reads, so each can be recomputed from it:

- ``suite``: name of the suite.
- ``key``: the run's key (hash of its RunSpec); its record is ``runs/<key>.json``.
- ``role``: ``evaluation``, or ``tuning`` for a run of a tuning trial.
- ``trial``: the trial's place in its (variant, length)'s search order; missing
  for an evaluation run.
- ``trial_<name>``: the value the trial tried of each searched setting ``<name>``
  (e.g. ``trial_learning_rate``), already applied to the run's settings;
  missing for an evaluation run.
- ``variant``: name of the variant.
- ``cell``: recurrent cell.
- ``activation``: non-linearity of the cell.
- ``init``: initialisation scheme of the cell's weights.
- ``remedies``: remedies in the order applied, as ``name(param=value, ...)``,
  separated by ``;``; empty if none.
- ``hidden_size``: number of hidden units.
- ``seq_len``: sequence length T.
- ``seed``: random seed of the run.
- ``task``: task, as ``name(param=value, ...)``.
- ``optimizer``: optimiser, as ``name(param=value, ...)``.
- ``learning_rate``: the run's learning rate (the variant's own, or the suite's).
- ``steps``: number of parameter updates asked for.
- ``batch_size``: training sequences per update.
- ``dtype``: floating-point type of the computation.
- ``flush_to_zero``: whether subnormal floats were flushed to zero while training.
- ``status``: ``ok``, ``diverged``, ``error`` or ``timeout``.
- ``message``: one line saying why a run is not ok.
- ``steps_done``: parameter updates actually made.
- ``final_train_loss``: mean training loss of the last logged interval.
- ``final_test_loss``: loss on the held-out test set at the last logged step.
- ``final_validation_loss``: loss on the validation set at the last logged step
  (what tuning selects on).
- ``final_<metric>``: the metric on the held-out test set at the last logged step.
- ``baseline``: held-out loss of the best input-blind predictor.
- ``loss_over_baseline``: ``final_test_loss / baseline`` for a run that finished
  (status ok); missing for any other.
- ``baseline_<metric>``: the metric of the same predictor.
- ``success``: whether the task's main criterion (its first) held at the end
  of training: ``solved_<criterion>`` of that one.
- ``solved_<criterion>``: whether the criterion held at the end of training
  (false for a run that diverged; missing for an error).
- ``steps_to_solve``: first logged step at which the main criterion held;
  missing if it never did.
- ``k_hat_init``: per-step gradient decay factor fitted to the decay profile at
  initialisation (exp of the least-squares slope of log-norm against distance).
- ``k_hat_final``: the same for the profile at the end of training (missing for
  a run that did not finish).
- ``k_hat_<state>_init``, ``k_hat_<state>_final``: the same for the profile of
  the cell state ``<state>``.
- ``bound_init``, ``bound_final``: the bound ||W_hh||_2 * max|f'| at
  initialisation and at the end; missing for gated cells.
- ``k_hat_over_bound_init``: ``k_hat_init / bound_init``; missing for gated cells.
- ``recurrent_norm_final``: ||W_hh||_2 at the last logged step (for a run that
  diverged, where it stopped).
- ``wall_time_s``: wall-clock time of the run in seconds.
- ``seconds_per_step``: wall-clock seconds per parameter update.

``curves``, one row per run and logged step:

- ``suite``, ``key``, ``role``, ``variant``, ``seq_len``, ``seed``: as in ``runs``.
- ``step``: parameter updates made so far (0 is the initial network).
- ``train_loss``: mean training-batch loss of the updates since the previous
  logged step (missing at step 0).
- ``test_loss``: loss on the held-out test set after ``step`` updates.
- ``validation_loss``: loss on the validation set after ``step`` updates.
- ``metric_<metric>``: the metric on the held-out test set after ``step`` updates.
- ``grad_norm``: mean global gradient norm over the updates since the previous
  logged step, before the remedies (missing at step 0).
- ``grad_norm_after``: the same after the remedies transformed the gradient.
- ``recurrent_norm``: ||W_hh||_2, the largest singular value of the recurrent
  weights, after ``step`` updates.
- ``spectral_radius``: largest modulus of an eigenvalue of W_hh after ``step``
  updates; missing for gated cells.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

from rnnbench.report.analysis import (
    criterion_names,
    final_profile,
    init_profile,
    k_hat,
    k_hat_over_bound_init,
    loss_over_baseline,
    metric_names,
    state_names,
)
from rnnbench.extras import require
from rnnbench.results import RunResult
from rnnbench.spec import PluginRef
from rnnbench.store import Contents, Store

RUN_COLUMNS_START = [
    "suite", "key", "role", "trial", "variant", "cell", "activation", "init", "remedies", "hidden_size",
    "seq_len", "seed", "task", "optimizer", "learning_rate", "steps", "batch_size", "dtype",
    "flush_to_zero", "status", "message", "steps_done", "final_train_loss", "final_test_loss",
    "final_validation_loss",
]  # fmt: skip
RUN_COLUMNS_END = ["wall_time_s", "seconds_per_step"]
CURVE_COLUMNS_START = [
    "suite", "key", "role", "variant", "seq_len", "seed", "step", "train_loss", "test_loss", "validation_loss",
]
CURVE_COLUMNS_END = ["grad_norm", "grad_norm_after", "recurrent_norm", "spectral_radius"]
REPORT_RUNS = "runs.csv"  # the runs table beside every report
TEXT_COLUMNS = frozenset({
    "suite", "key", "role", "variant", "cell", "activation", "init", "remedies", "task", "optimizer", "dtype",
    "status", "message",
})  # fmt: skip
INTEGER_COLUMNS = frozenset({
    "trial", "hidden_size", "seq_len", "seed", "steps", "batch_size", "steps_done", "steps_to_solve", "step",
})  # fmt: skip


def format_ref(ref: PluginRef) -> str:
    """A plugin reference as ``name(param=value, ...)``, or ``name`` without parameters."""
    params = ", ".join(f"{k}={v}" for k, v in ref.params.items())
    return f"{ref.name}({params})" if params else ref.name


def searched_names(results: Sequence[RunResult]) -> list[str]:
    """Names of the settings the tuning trials of these runs searched, in the
    order first seen (e.g. ``learning_rate``)."""
    return list(dict.fromkeys(name for r in results if r.spec.trial for name in r.spec.trial.values))


def run_columns(results: Sequence[RunResult]) -> list[str]:
    """The columns of the runs table for these results, in order."""
    metrics, states = metric_names(results), state_names(results)
    after_trial = RUN_COLUMNS_START.index("trial") + 1
    columns = [
        *RUN_COLUMNS_START[:after_trial],
        *(f"trial_{name}" for name in searched_names(results)),
        *RUN_COLUMNS_START[after_trial:],
        *(f"final_{m}" for m in metrics),
        "baseline",
        "loss_over_baseline",
        *(f"baseline_{m}" for m in metrics),
        "success",
        *(f"solved_{c}" for c in criterion_names(results)),
        "steps_to_solve",
        "k_hat_init",
        "k_hat_final",
        *(f"k_hat_{s}_{when}" for s in states for when in ("init", "final")),
        "bound_init",
        "bound_final",
        "k_hat_over_bound_init",
        "recurrent_norm_final",
        *RUN_COLUMNS_END,
    ]
    return list(dict.fromkeys(columns))  # a metric named like a fixed column adds none


def curve_columns(results: Sequence[RunResult]) -> list[str]:
    """The columns of the curves table for these results, in order."""
    return [*CURVE_COLUMNS_START, *(f"metric_{m}" for m in metric_names(results)), *CURVE_COLUMNS_END]


def _clean(value):
    """A non-finite float as None (missing); anything else unchanged."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _role(r: RunResult) -> str:
    return "tuning" if r.spec.trial is not None else "evaluation"


def run_row(suite_name: str, r: RunResult, columns: Sequence[str]) -> dict:
    """The runs-table row of one run, with exactly ``columns`` as keys."""
    v, train = r.spec.variant, r.spec.train
    init, final = init_profile(r), final_profile(r)
    main = next(iter(r.solved), None)  # the task's main criterion: the first it declares
    row = {
        "suite": suite_name,
        "key": r.key,
        "role": _role(r),
        "trial": r.spec.trial.index if r.spec.trial else None,
        "variant": v.name,
        "cell": v.cell,
        "activation": v.activation,
        "init": v.init,
        "remedies": ";".join(format_ref(m) for m in v.remedies),
        "hidden_size": v.hidden_size,
        "seq_len": r.spec.seq_len,
        "seed": r.spec.seed,
        "task": format_ref(r.spec.task),
        "optimizer": format_ref(train.optimizer),
        "learning_rate": v.learning_rate or train.learning_rate,
        "steps": train.steps,
        "batch_size": train.batch_size,
        "dtype": train.dtype,
        "flush_to_zero": train.flush_to_zero,
        "status": r.status,
        "message": r.message,
        "steps_done": r.steps_done,
        "final_train_loss": r.final_train_loss,
        "final_test_loss": r.final_test_loss,
        "final_validation_loss": r.final_validation_loss,
        "baseline": r.baseline,
        "loss_over_baseline": loss_over_baseline(r),
        "success": r.solved[main] if main is not None else None,
        "steps_to_solve": r.steps_to_solve,
        "k_hat_init": k_hat(init),
        "k_hat_final": k_hat(final),
        "bound_init": init.bound if init else None,
        "bound_final": final.bound if final else None,
        "k_hat_over_bound_init": k_hat_over_bound_init(r),
        "recurrent_norm_final": r.curves.recurrent_norm[-1] if r.curves.recurrent_norm else None,
        "wall_time_s": r.wall_time_s,
        "seconds_per_step": r.seconds_per_step,
    }
    for column in columns:
        if column in row:
            continue
        for prefix, source in (
            ("trial_", r.spec.trial.values if r.spec.trial else {}),
            ("final_", r.final_metrics),
            ("baseline_", r.baseline_metrics),
            ("solved_", r.solved),
        ):
            if column.startswith(prefix):
                row[column] = source.get(column.removeprefix(prefix))
                break
        else:  # k_hat_<state>_<when>
            state, when = column.removeprefix("k_hat_").rsplit("_", 1)
            row[column] = k_hat(init if when == "init" else final, state)
    return {c: _clean(row[c]) for c in columns}


def curve_rows(suite_name: str, r: RunResult, columns: Sequence[str]) -> list[dict]:
    """The curves-table rows of one run, one per logged step, with exactly
    ``columns`` as keys."""
    c = r.curves
    n = len(c.step)

    def at(values, i):
        return values[i] if i < len(values) else None

    rows = []
    for i in range(n):
        row = {
            "suite": suite_name,
            "key": r.key,
            "role": _role(r),
            "variant": r.spec.variant.name,
            "seq_len": r.spec.seq_len,
            "seed": r.spec.seed,
            "step": c.step[i],
            "train_loss": at(c.train_loss, i),
            "test_loss": at(c.test_loss, i),
            "validation_loss": at(c.validation_loss, i),
            "grad_norm": at(c.grad_norm, i),
            "grad_norm_after": at(c.grad_norm_after, i),
            "recurrent_norm": at(c.recurrent_norm, i),
            "spectral_radius": at(c.spectral_radius, i),
        }
        for column in columns:
            if column.startswith("metric_") and column not in row:
                row[column] = at(c.test_metrics.get(column.removeprefix("metric_"), []), i)
        rows.append({col: _clean(row[col]) for col in columns})
    return rows


Tables = dict[str, tuple[list[str], list[dict]]]


def runs_table(parts: Sequence[tuple[str, Sequence[RunResult]]]) -> tuple[list[str], list[dict]]:
    """The runs table of one or more suites, given as in ``tables_of``: (columns, rows)."""
    columns = run_columns([r for _, results in parts for r in results])
    return columns, [run_row(name, r, columns) for name, results in parts for r in results]


def tables_of(parts: Sequence[tuple[str, Sequence[RunResult]]]) -> Tables:
    """The two tables of the stored runs of one or more suites, each given as
    (suite name, its runs: tuning runs first, then evaluation runs), with the
    columns of all of them: {"runs": (columns, rows), "curves": (columns, rows)}.
    Every export and DataFrame is made from these."""
    curves = curve_columns([r for _, results in parts for r in results])
    return {
        "runs": runs_table(parts),
        "curves": (curves, [row for name, results in parts for r in results for row in curve_rows(name, r, curves)]),
    }


def _suite_part(contents: Contents) -> tuple[str, list[RunResult]]:
    """A stored suite as a part of ``tables_of``: its name, its tuning runs, then its evaluation runs."""
    return contents.suite.name, contents.trials + contents.results


def tables(results_dir: str | Path | Store) -> Tables:
    """The two tables of the suite stored in ``results_dir`` (a directory, or a
    Store to read it through): {"runs": (columns, rows), "curves": (columns, rows)}."""
    return tables_of([_suite_part(Store.of(results_dir).contents())])


def write_report_runs(out_dir: str | Path, contents: Contents) -> Path:
    """Write the runs table of a stored suite (``contents``: every tuning and
    evaluation run, one row each, without curves) as ``runs.csv`` into the
    report folder ``out_dir``, beside index.html; return its path. Every value
    per run that a finding reads is a column of it, so the report's numbers
    can be recomputed from it alone."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_csv(out_dir / REPORT_RUNS, *runs_table([_suite_part(contents)]))


def column_dtype(column: str) -> str:
    """The pandas dtype of a column of either table."""
    if column in TEXT_COLUMNS:
        return "string"
    if column in INTEGER_COLUMNS:
        return "Int64"
    if column in ("flush_to_zero", "success") or column.startswith("solved_"):
        return "boolean"
    return "float64"


def dataframe(columns: Sequence[str], rows: Sequence[dict]):
    """One table as a pandas DataFrame, each column of its ``column_dtype``."""
    import pandas as pd  # imported here: the command line's other verbs do without it

    return pd.DataFrame(
        {c: pd.Series([row[c] for row in rows], dtype=column_dtype(c)) for c in columns}, columns=list(columns)
    )


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict]) -> Path:
    """Write one table as CSV with a header line."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)  # csv writes None as an empty cell
    return path


def write_json(path: Path, columns: Sequence[str], rows: Sequence[dict]) -> Path:
    """Write one table as a JSON array of records, one record per line."""
    lines = [json.dumps({c: row[c] for c in columns}, allow_nan=False) for row in rows]
    path.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    return path


def write_parquet(path: Path, columns: Sequence[str], rows: Sequence[dict]) -> Path:
    """Write one table as Parquet (with pyarrow), the columns of their ``column_dtype``."""
    check_formats(("parquet",))
    dataframe(columns, rows).to_parquet(path, index=False, engine="pyarrow")
    return path


WRITERS = {"csv": write_csv, "json": write_json, "parquet": write_parquet}
FORMATS = tuple(WRITERS)


def check_formats(formats: Sequence[str]) -> None:
    """ValueError for a format there is no writer for; MissingExtra, naming the
    extra, for Parquet without pyarrow."""
    unknown = set(formats) - set(WRITERS)
    if unknown:
        raise ValueError(f"unknown export format(s): {', '.join(sorted(unknown))}")
    if "parquet" in formats:
        require("pyarrow", "Parquet export", "pyarrow", "parquet")


def export_results(
    results_dir: str | Path | Store, out_dir: str | Path, formats: Sequence[str] = ("csv", "json")
) -> list[Path]:
    """Write the runs and curves tables of the suite stored in ``results_dir``
    (a directory, or a Store to read it through) into ``out_dir`` in each of
    ``formats`` (csv, json, parquet); return the paths written (runs.csv,
    curves.csv, runs.json, curves.json by default). Nothing is written if a
    format cannot be (``check_formats``)."""
    check_formats(formats)
    return write_tables(tables(results_dir), out_dir, formats)


def write_tables(data: Tables, out_dir: str | Path, formats: Sequence[str] = ("csv", "json")) -> list[Path]:
    """Write ``data`` (``tables_of``) into ``out_dir`` as ``<table>.<format>``
    in each of ``formats``; return the paths written."""
    check_formats(formats)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        WRITERS[fmt](out_dir / f"{name}.{fmt}", columns, rows)
        for fmt in formats
        for name, (columns, rows) in data.items()
    ]


def export_csv(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write ``runs.csv`` and ``curves.csv`` only; return their paths."""
    return export_results(results_dir, out_dir, formats=("csv",))
