"""L2 regularisation (weight decay) on chosen parameter groups.

    L <- L + (lambda / 2) * sum_{W in groups} ||W||_F^2 ;   dL/dW <- dL/dW + lambda * W
The penalty is part of the training loss that is reported. Pascanu et al.
(2013, section 3.3) use a related regulariser to keep W_hh from shrinking
gradients; plain weight decay instead pulls ||W_hh|| and with it the bound
||W_hh||_2 max|f'| down, which the report's decay figures show.

A group covers its weight in every layer of a stacked cell (the IndRNN's
W_hh.2, W_hx.2, ... beside layer 1's W_hh, W_hx).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Remedy, hookimpl

GROUPS = {"recurrent": "W_hh", "input": "W_hx", "output": "W_hy"}


class L2Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weight_decay: float = Field(1e-4, gt=0, description="lambda: the penalty is lambda/2 ||W||^2.")
    groups: list[Literal["recurrent", "input", "output"]] = Field(
        default_factory=lambda: ["recurrent", "input", "output"],
        min_length=1,
        description="Weights penalised: recurrent W_hh, input W_hx, output W_hy (biases never).",
    )


class L2(Remedy):
    """Weight decay: add lambda/2 ||W||^2 to the loss for the chosen weights."""

    name = "l2"
    Params = L2Params

    def penalty(self, params):
        lam = self.params.weight_decay
        bases = [GROUPS[g] for g in dict.fromkeys(self.params.groups)]
        names = [n for b in bases for n in (b, *(m for m in params if _layer_of(m, b)))]
        value = 0.5 * lam * sum(float(np.vdot(params[n], params[n])) for n in names)
        return value, {n: lam * params[n] for n in names}


def _layer_of(name: str, base: str) -> bool:
    """Whether ``name`` is ``base`` of a layer above the first: "W_hh.2" of "W_hh"."""
    return name.startswith(base + ".") and name[len(base) + 1 :].isdigit()


@hookimpl
def rnnbench_register_remedies():
    return [L2]
