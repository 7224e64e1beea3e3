"""Gradient-norm clipping (Pascanu, Mikolov & Bengio 2013, "On the difficulty of
training recurrent neural networks", algorithm 1).

With g the gradient of all parameters together and ||g|| its global L2 norm:
    if ||g|| > threshold:  g <- g * threshold / ||g||
The direction is kept; only the step length is bounded.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from rnnbench import hookimpl
from rnnbench.api import Remedy
from rnnbench.engine.network import global_norm


class ClipNormParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(1.0, gt=0, description="Largest global gradient norm let through.")


class ClipNorm(Remedy):
    name = "clip_norm"
    Params = ClipNormParams

    def transform_gradients(self, grads):
        norm = global_norm(grads)
        threshold = self.params.threshold
        if norm <= threshold:
            return grads
        scale = threshold / norm
        return {name: g * scale for name, g in grads.items()}


@hookimpl
def rnnbench_register_remedies():
    return [ClipNorm]
