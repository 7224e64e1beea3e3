"""Leaky ReLU as a remedy: f(a) = a for a > 0, slope * a otherwise (Maas,
Hannun & Ng 2013). Its derivative is 1 or ``slope``, never 0, so a unit that
is off still passes some gradient back, and max|f'| = 1 keeps the bound
||W_hh||_2 max|f'| of the plain ReLU. For the vanilla cell only: the gated cells
fix their own non-linearities.
"""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Remedy, hookimpl


class LeakyReluParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slope: float = Field(0.01, gt=0, lt=1, description="Slope for negative inputs.")


class LeakyRelu(Remedy):
    """Use the leaky ReLU activation in the vanilla cell."""

    name = "leaky_relu"
    Params = LeakyReluParams

    def configure(self, config):
        return dataclasses.replace(config, activation="leaky_relu", activation_params={"slope": self.params.slope})

    def check(self, config):
        if config.cell != "vanilla":
            raise ValueError(f"the activation of cell '{config.cell}' is fixed; leaky_relu is for the vanilla cell")


@hookimpl
def rnnbench_register_remedies():
    return [LeakyRelu]
