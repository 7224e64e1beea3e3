"""Gradient clipping, after the backward pass.

clip_norm (Pascanu, Mikolov & Bengio 2013, "On the difficulty of training
recurrent neural networks", algorithm 1). With g the gradient of all
parameters together and ||g|| its global L2 norm:
    if ||g|| > threshold:  g <- g * threshold / ||g||
The direction is kept; only the step length is bounded.

clip_value (Mikolov 2012, thesis, section 3.2.2): every entry on its own,
    g_i <- min(max(g_i, -threshold), threshold)
which bounds the step but, unlike norm clipping, can turn its direction.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Remedy, global_norm, hookimpl


class ClipParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(1.0, gt=0, description="Largest gradient norm (or entry) let through.")


class ClipNorm(Remedy):
    """Scale the whole gradient down to a global L2 norm of at most `threshold`."""

    name = "clip_norm"
    Params = ClipParams

    def transform_gradients(self, grads):
        norm = global_norm(grads)
        threshold = self.params.threshold
        if norm <= threshold:
            return grads
        scale = threshold / norm
        return {name: g * scale for name, g in grads.items()}


class ClipValue(Remedy):
    """Clip every gradient entry to [-threshold, threshold]."""

    name = "clip_value"
    Params = ClipParams

    def transform_gradients(self, grads):
        t = self.params.threshold
        return {name: np.clip(g, -t, t) for name, g in grads.items()}


@hookimpl
def rnnbench_register_remedies():
    return [ClipNorm, ClipValue]
