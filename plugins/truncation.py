"""Truncated backpropagation through time (Williams & Peng 1990; Sutskever 2013,
thesis, section 2.8.6): the backward pass is cut every ``steps`` steps,
counted back from the last step, and the state at a cut is treated as a
constant. For a task whose loss is at the last step only, the gradient then
sees the last ``steps`` steps alone: cheap and stable, and blind to any longer
dependency -- the textbooks' practical remedy and its price.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Remedy, hookimpl


class TruncationParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(10, gt=0, description="How many steps back the gradient runs (k).")


class TruncatedBPTT(Remedy):
    """Run the backward pass back at most `steps` steps."""

    name = "truncated_bptt"
    Params = TruncationParams

    def truncation(self):
        return self.params.steps


@hookimpl
def rnnbench_register_remedies():
    return [TruncatedBPTT]
