"""What one training run produces: the record the store keeps and the report reads.

Non-finite numbers (a diverged loss) are stored as ``null``: JSON has no NaN.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rnnbench.spec import RunSpec

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


class RunResult(BaseModel):
    """One stored run."""

    model_config = ConfigDict(extra="forbid")

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
