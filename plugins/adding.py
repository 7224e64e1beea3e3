"""The adding problem, in two variants.

``le2015`` -- Le, Jaitly & Hinton (2015), "A Simple Way to Initialize Recurrent
Networks of Rectified Linear Units", section 4.1: each step has a value drawn
from U[0, 1] and a marker that is 1 at exactly two steps, one uniformly in the
first half of the sequence and one in the second half. The target, read at the
last step, is the sum of the two marked values. The best input-blind answer is
E[U1 + U2] = 1, with mean squared error Var(U1 + U2) = 2/12 ~ 0.167.

``hochreiter1997`` -- Hochreiter & Schmidhuber (1997), "Long Short-Term
Memory", experiment 4, simplified: values from U[-1, 1], the first marked step
uniformly among the first 10, the second among the steps from 10 to T/2 - 1;
the target is 0.5 + (X1 + X2) / 4, in [0, 1]. The input-blind answer 0.5 has
MSE Var((X1 + X2) / 4) = 2 (1/3) / 16 = 1/24 ~ 0.0417. (The paper's extra
conventions -- -1 markers at the ends, X1 = 0 when it is the first step -- are
left out.) Its lengths must be at least 22.

Success, reported both ways: test MSE below 0.01 (the main criterion, as in
Le et al.), and the 1997 criterion, absolute error below 0.04 on every test
sequence.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Batch, Task, hookimpl


class AddingParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    variant: Literal["le2015", "hochreiter1997"] = Field(
        "le2015", description="Le, Jaitly & Hinton 2015, or Hochreiter & Schmidhuber 1997."
    )


class AddingProblem(Task):
    """Sum the two marked values of a sequence (many-to-one, MSE)."""

    name = "adding"
    Params = AddingParams
    loss = "mse"
    input_size = 2
    output_size = 1
    criteria = {
        "mse_below_0.01": "test MSE < 0.01",
        "abs_error_below_0.04": "absolute error < 0.04 on every test sequence (1997)",
    }
    metrics = {"max_abs_error": "min"}

    def __init__(self, params, seq_len: int):
        shortest = 22 if params.variant == "hochreiter1997" else 2
        if seq_len < shortest:
            raise ValueError(f"the adding problem ({params.variant}) needs seq_len >= {shortest}")
        super().__init__(params, seq_len)

    @property
    def baseline(self) -> float:
        return 1.0 / 24.0 if self.params.variant == "hochreiter1997" else 2.0 / 12.0

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        T, B = self.seq_len, batch_size
        rows = np.arange(B)
        x = np.zeros((T, B, 2))
        if self.params.variant == "le2015":
            x[:, :, 0] = rng.uniform(0.0, 1.0, (T, B))
            first = rng.integers(0, T // 2, B)
            second = rng.integers(T // 2, T, B)
        else:
            x[:, :, 0] = rng.uniform(-1.0, 1.0, (T, B))
            first = rng.integers(0, 10, B)
            second = rng.integers(10, T // 2, B)
        x[first, rows, 1] = 1.0
        x[second, rows, 1] = 1.0
        total = x[first, rows, 0] + x[second, rows, 0]
        y = total if self.params.variant == "le2015" else 0.5 + total / 4.0
        return Batch(x, y[:, None])

    def evaluate(self, outputs, batch):
        return {"max_abs_error": float(np.max(np.abs(outputs - batch.y)))}

    def solved(self, loss, metrics):
        return {
            "mse_below_0.01": loss < 0.01,
            "abs_error_below_0.04": metrics["max_abs_error"] < 0.04,
        }


@hookimpl
def rnnbench_register_tasks():
    return [AddingProblem]
