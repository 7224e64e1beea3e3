"""Layer normalisation inside the cell (Ba, Kiros & Hinton 2016, "Layer
Normalization", sections 3.1 and 6.2): the summed input of every site of the
cell is normalised over its H units (per gate block in gated cells) and given
a learned gain (initialised to 1) and bias (initialised to 0), before the
non-linearity. The maths is in :mod:`rnnbench.engine.layernorm`.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Remedy, SummedInputTransform, hookimpl, layer_norm_backward, layer_norm_forward


class LayerNormParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    eps: float = Field(1e-5, gt=0, description="Added to the variance before the square root.")


class LayerNormTransform(SummedInputTransform):
    name = "layer_norm"

    def __init__(self, eps: float):
        self.eps = eps

    def init_params(self, site, groups, size, dtype):
        width = groups * size
        return {
            f"{self.name}.{site}.gain": np.ones(width, dtype=dtype),
            f"{self.name}.{site}.bias": np.zeros(width, dtype=dtype),
        }

    def forward(self, a, params, site, groups):
        gain, bias = params[f"{self.name}.{site}.gain"], params[f"{self.name}.{site}.bias"]
        return layer_norm_forward(a, gain, bias, groups, self.eps)

    def backward(self, dz, cache, params, site, grads):
        gain = params[f"{self.name}.{site}.gain"]
        da, dgain, dbias = layer_norm_backward(dz, gain, cache)
        grads[f"{self.name}.{site}.gain"] += dgain
        grads[f"{self.name}.{site}.bias"] += dbias
        return da


class LayerNorm(Remedy):
    """Normalise each summed input over its units, then scale by a gain and shift by a bias."""

    name = "layer_norm"
    Params = LayerNormParams

    def summed_input_transform(self):
        return LayerNormTransform(self.params.eps)


@hookimpl
def rnnbench_register_remedies():
    return [LayerNorm]
