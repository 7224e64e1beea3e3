"""The adding problem (Hochreiter & Schmidhuber 1997), in the variant of
Le, Jaitly & Hinton (2015), "A Simple Way to Initialize Recurrent Networks of
Rectified Linear Units", section 4.1.

Each step has two inputs: a value drawn from U[0, 1] and a marker that is 1 at
exactly two steps and 0 elsewhere, one marked step uniformly in the first half
of the sequence and one in the second half. The target, read at the last step,
is the sum of the two marked values. A predictor that ignores the inputs does
best by always answering E[U1 + U2] = 1, with mean squared error
Var(U1 + U2) = 2/12 ~ 0.167: the baseline a network must beat.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from rnnbench import hookimpl
from rnnbench.api import Batch, Task


class AddingParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AddingProblem(Task):
    name = "adding"
    Params = AddingParams
    loss = "mse"
    input_size = 2
    output_size = 1

    def __init__(self, params, seq_len: int):
        if seq_len < 2:
            raise ValueError("the adding problem needs seq_len >= 2 (two marked steps)")
        super().__init__(params, seq_len)

    @property
    def baseline(self) -> float:
        return 2.0 / 12.0

    def sample(self, rng: np.random.Generator, batch_size: int):
        T, B = self.seq_len, batch_size
        half = T // 2
        x = np.zeros((T, B, 2))
        x[:, :, 0] = rng.uniform(0.0, 1.0, (T, B))
        first = rng.integers(0, half, B)
        second = rng.integers(half, T, B)
        rows = np.arange(B)
        x[first, rows, 1] = 1.0
        x[second, rows, 1] = 1.0
        y = (x[first, rows, 0] + x[second, rows, 0])[:, None]
        return Batch(x, y)


@hookimpl
def rnnbench_register_tasks():
    return [AddingProblem]
