"""L2 regularisation (weight decay) on chosen parameter groups.

    L <- L + (lambda / 2) * sum_{W in groups} ||W||_F^2 ;   dL/dW <- dL/dW + lambda * W
The penalty is part of the training loss that is reported. Pascanu et al.
(2013, section 3.3) use a related regulariser to keep W_hh from shrinking
gradients; plain weight decay instead pulls ||W_hh|| and with it the bound
||W_hh||_2 max|f'| down, which the report's decay figures show.
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
        names = [GROUPS[g] for g in dict.fromkeys(self.params.groups)]
        value = 0.5 * lam * sum(float(np.vdot(params[n], params[n])) for n in names)
        return value, {n: lam * params[n] for n in names}


@hookimpl
def rnnbench_register_remedies():
    return [L2]
