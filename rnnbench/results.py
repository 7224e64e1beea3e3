"""What one training run produces: the record the store keeps and the report reads.

Non-finite numbers (a diverged loss) are stored as ``null``: JSON has no NaN.

Every record says which format it is written in (``format_version``); a record
of an older format is brought up to this one by ``MIGRATIONS`` when it is read,
and one of a newer format is read with the fields this version does not know
left out (``read_record``). Record formats:

1. rnnbench 0.1.0 until records carried their format: no ``format_version``.
   Records made before the validation split also lack ``final_validation_loss``,
   ``final_validation_metrics`` and the curves' ``validation_loss`` and
   ``validation_metrics``, which read as empty.
2. 1 with ``format_version``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any, Callable, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rnnbench.spec import RunSpec, first_problem

Status = Literal["ok", "diverged", "error", "timeout"]
STATUSES: tuple[str, ...] = ("ok", "diverged", "error", "timeout")


def _finite_or_none(values):
    return [v if v is not None and math.isfinite(v) else None for v in values]


class Curves(BaseModel):
    """Metrics at each logged step; all lists have the length of ``step``.

    ``step`` k means "after k parameter updates" (k = 0 is the initial network).
    ``train_loss`` at k is the mean training-batch loss of the updates since the
    previous logged step (``None`` at k = 0); ``test_loss`` is the loss on the
    fixed held-out test set after k updates and ``validation_loss`` that on the
    fixed validation set (the one tuning selects on); ``grad_norm`` and ``grad_norm_after`` are
    the mean global gradient norm over the same updates, before and after the
    remedies transformed the gradient (equal when no remedy touches it);
    ``recurrent_norm`` is ||W_hh||_2 (largest singular value) and
    ``spectral_radius`` max |eigenvalue of W_hh| after k updates (the latter
    only for a square W_hh, i.e. the vanilla cell).
    """

    model_config = ConfigDict(extra="forbid")

    step: list[int] = Field(default_factory=list)
    train_loss: list[float | None] = Field(default_factory=list)
    test_loss: list[float | None] = Field(default_factory=list)
    test_metrics: dict[str, list[float | None]] = Field(
        default_factory=dict, description="The task's metrics on the held-out set, by name."
    )
    validation_loss: list[float | None] = Field(default_factory=list)
    validation_metrics: dict[str, list[float | None]] = Field(
        default_factory=dict, description="The task's metrics on the validation set, by name."
    )
    grad_norm: list[float | None] = Field(default_factory=list)
    grad_norm_after: list[float | None] = Field(default_factory=list)
    recurrent_norm: list[float | None] = Field(default_factory=list)
    spectral_radius: list[float | None] = Field(default_factory=list)

    @field_validator(
        "train_loss", "test_loss", "validation_loss", "grad_norm", "grad_norm_after", "recurrent_norm", "spectral_radius"
    )
    @classmethod
    def _no_nan(cls, values):
        return _finite_or_none(values)

    @field_validator("test_metrics", "validation_metrics")
    @classmethod
    def _no_nan_in_metrics(cls, metrics):
        return {name: _finite_or_none(values) for name, values in metrics.items()}


class DecayProfile(BaseModel):
    """The gradient-decay profile ``norms[d] = mean_b ||dL_T/dh_{T-d}||`` for
    d = 0 .. T-1 (distance back from the last step), measured on the held-out
    set after ``step`` updates, with the bound ||W_hh||_2 * max|f'| at that point."""

    model_config = ConfigDict(extra="forbid")

    step: int
    norms: list[float | None]
    recurrent_norm: float | None = Field(None, description="||W_hh||_2, where the cell has one")
    bound: float | None = Field(None, description="||W_hh||_2 * max|f'|: per-step factor bound")
    state_norms: dict[str, list[float | None]] = Field(
        default_factory=dict, description="Profiles of the cell's other states (the LSTM's c)."
    )

    @field_validator("norms")
    @classmethod
    def _no_nan(cls, values):
        return _finite_or_none(values)

    @field_validator("state_norms")
    @classmethod
    def _no_nan_in_states(cls, states):
        return {name: _finite_or_none(values) for name, values in states.items()}


RECORD_FORMAT = 2  # the format of the records this version writes


class RunResult(BaseModel):
    """One stored run."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = Field(
        RECORD_FORMAT, description="The record's format (see rnnbench.results); 1 if it has none."
    )
    key: str
    spec: RunSpec
    status: Status
    message: str | None = Field(None, description="One line saying why a run is not ok.")
    traceback: str | None = None
    curves: Curves = Field(default_factory=Curves)
    decay: list[DecayProfile] = Field(
        default_factory=list, description="Profiles at initialisation and at the end."
    )
    baseline: float | None = Field(None, description="Loss of the best input-blind predictor.")
    baseline_metrics: dict[str, float] = Field(
        default_factory=dict, description="Metrics of the best input-blind predictor."
    )
    steps_done: int = 0
    final_train_loss: float | None = None
    final_test_loss: float | None = None
    final_metrics: dict[str, float | None] = Field(default_factory=dict)
    final_validation_loss: float | None = None
    final_validation_metrics: dict[str, float | None] = Field(default_factory=dict)
    solved: dict[str, bool] = Field(
        default_factory=dict, description="Each success criterion of the task, at the end."
    )
    steps_to_solve: int | None = Field(
        None, description="First logged step at which the task's main criterion held."
    )
    wall_time_s: float = 0.0
    seconds_per_step: float | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    created: str = ""

    @field_validator("final_train_loss", "final_test_loss", "final_validation_loss")
    @classmethod
    def _finite(cls, v):
        return v if v is not None and math.isfinite(v) else None


def made_by(result: RunResult) -> str:
    """The version of rnnbench that made ``result`` ("unknown" if it does not say)."""
    return result.versions.get("rnnbench", "unknown")


def versions_made_by(results: Sequence[RunResult]) -> list[tuple[str, int]]:
    """The versions of rnnbench that made ``results``, with how many each, most first."""
    return Counter(made_by(r) for r in results).most_common()


# --- reading records of every format ----------------------------------------------------------


class RecordError(ValueError):
    """A record that cannot be read; the message says why, in a few words."""


def _from_format_1(data: dict[str, Any]) -> dict[str, Any]:
    """Format 1 to 2: only ``format_version`` was added (the fields added to
    format 1 records over time all have defaults)."""
    return data


# MIGRATIONS[n] turns a record of format n into one of format n + 1
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_format_1}

Model = TypeVar("Model", bound=BaseModel)


def _pop_path(data: Any, loc: tuple) -> tuple[str, Any] | None:
    """Remove the item at ``loc`` (a pydantic error location) from nested dicts
    and lists; return its dotted name and value, or None where ``loc`` does not
    lead to one."""
    for part in loc[:-1]:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    if not isinstance(data, dict) or loc[-1] not in data:
        return None
    name = ".".join(str(p) for p in loc)
    return name, data.pop(loc[-1])


def validate_known(model: type[Model], data: Any) -> tuple[Model, dict[str, Any]]:
    """``data`` validated as ``model`` after taking out every field the model
    does not know (as a newer version may write): the instance, and the fields
    taken out by dotted name (e.g. ``curves.new_curve``) with their values.
    Raises ValidationError for any other problem."""
    unknown: dict[str, Any] = {}
    while True:
        try:
            return model.model_validate(data), unknown
        except ValidationError as exc:
            extra = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
            popped = [_pop_path(data, tuple(loc)) for loc in extra]
            if not extra or None in popped:
                raise
            unknown.update(item for item in popped if item is not None)


@dataclasses.dataclass(frozen=True)
class ReadRecord:
    """A record as read: the result in this version's format, the format it was
    written in, and the fields this version does not know (by dotted name, with
    their values), which the result leaves out and the file keeps."""

    result: RunResult
    format_version: int
    unknown: dict[str, Any]


def json_object(text: str) -> dict[str, Any]:
    """The JSON object ``text`` holds; RecordError says why it holds none
    (empty, cut short, not JSON, another JSON value)."""
    if not text.strip():
        raise RecordError("an empty file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        raise RecordError(f"{'cut short' if cut else 'not JSON'} ({exc})") from None
    except RecursionError:
        raise RecordError("not JSON this reader can take (nested too deeply)") from None
    if not isinstance(data, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(data), "number")
        raise RecordError(f"a JSON {kind}, not an object")
    return data


def read_record(text: str) -> ReadRecord:
    """Parse the text of a stored record of any format; RecordError says why it cannot be."""
    data = json_object(text)
    written = data.get("format_version", 1)
    if type(written) is not int or written < 1:
        raise RecordError(f"format_version {written!r} is not a record format")
    for version in range(written, RECORD_FORMAT):
        data = MIGRATIONS[version](data)
    if written < RECORD_FORMAT:
        data["format_version"] = RECORD_FORMAT
    try:
        result, unknown = validate_known(RunResult, data)
    except ValidationError as exc:
        newer = f"record format {written}, newer than this rnnbench reads ({RECORD_FORMAT}): " if written > RECORD_FORMAT else ""
        raise RecordError(f"{newer}not a run record ({first_problem(exc)})") from None
    return ReadRecord(result, written, unknown)
