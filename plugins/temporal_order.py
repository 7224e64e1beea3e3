"""The temporal order problem.

Hochreiter & Schmidhuber (1997), "Long Short-Term Memory", experiment 6:
classify a sequence by the order in which two (task 6a) or three (task 6b)
relevant symbols, each X or Y, occur among distractors. The 8 symbols
a, b, c, d, E, B, X, Y are given one-hot. A sequence starts with E, ends with B
and holds random distractors from {a, b, c, d} everywhere else, except at the
relevant positions t_1 < t_2 (< t_3), where X or Y stands, each with
probability 1/2. The class, read at the last step, is the X/Y word read as a
binary number with X = 0 and Y = 1 (XX, XY, YX, YY -> 0..3; XXX..YYY -> 0..7).

Length and windows. The paper draws the length between 100 and 110 and the
relevant positions from fixed windows: 6a t_1 in [10, 20], t_2 in [50, 60];
6b t_1 in [10, 20], t_2 in [33, 43], t_3 in [66, 76]. Here the length is
exactly ``seq_len`` = L (batches are rectangular, and the swept length is
then exact), and each window is scaled with it: position p of the paper at
length 100 becomes floor(p L / 100), counted from the E at position 0. At
L = 100 the windows are the paper's. The first relevant symbol is thus about
0.8 L to 0.9 L steps before the answer is asked for. L must be at least 10,
so that every window lies strictly between E and B and the windows do not
overlap.

Baseline. The classes are equally likely and independent of anything an
input-blind predictor sees, so the best such predictor answers the uniform
distribution: cross-entropy log 4 (6a) or log 8 (6b), accuracy 1/4 or 1/8.

Success. The paper counted a test sequence right when every output unit was
within 0.3 of its target, and reported at most 3 errors in 2560 test
sequences. With a softmax read-out the answer is the argmax; the main
criterion asks for a test accuracy above 0.99.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Batch, Task, hookimpl

SYMBOLS = ("a", "b", "c", "d", "E", "B", "X", "Y")
DISTRACTORS = 4  # a, b, c, d are symbols 0..3
START, END, X, Y = 4, 5, 6, 7
# The paper's windows for the relevant positions, at length 100.
WINDOWS = {2: ((10, 20), (50, 60)), 3: ((10, 20), (33, 43), (66, 76))}
SHORTEST = 10


class TemporalOrderParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    relevant: Literal[2, 3] = Field(
        2, description="Relevant X/Y symbols: 2 (task 6a, 4 classes) or 3 (task 6b, 8 classes)."
    )


class TemporalOrder(Task):
    """Classify a sequence by the order of its X and Y symbols (many-to-one)."""

    name = "temporal_order"
    Params = TemporalOrderParams
    loss = "cross_entropy"
    input_size = len(SYMBOLS)
    metrics = {"accuracy": "max"}
    criteria = {"accuracy_above_0.99": "test accuracy > 0.99"}

    def __init__(self, params, seq_len: int):
        if seq_len < SHORTEST:
            raise ValueError(f"the temporal order problem needs seq_len >= {SHORTEST}")
        super().__init__(params, seq_len)

    @property
    def output_size(self) -> int:
        """The classes: one per order of the relevant X/Y symbols."""
        return 2**self.params.relevant

    def windows(self) -> list[tuple[int, int]]:
        """The inclusive range of each relevant position at this length."""
        L = self.seq_len
        return [(lo * L // 100, hi * L // 100) for lo, hi in WINDOWS[self.params.relevant]]

    @property
    def baseline(self) -> float:
        return math.log(self.output_size)

    @property
    def baseline_metrics(self) -> dict[str, float]:
        return {"accuracy": 1.0 / self.output_size}

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        L, B = self.seq_len, batch_size
        rows = np.arange(B)
        symbols = rng.integers(0, DISTRACTORS, (L, B))
        symbols[0] = START
        symbols[-1] = END
        label = np.zeros(B, dtype=np.int64)
        for lo, hi in self.windows():
            where = rng.integers(lo, hi + 1, B)
            is_y = rng.integers(0, 2, B)
            symbols[where, rows] = np.where(is_y == 1, Y, X)
            label = 2 * label + is_y
        return Batch(np.eye(len(SYMBOLS))[symbols], label)

    def evaluate(self, outputs, batch):
        return {"accuracy": float(np.mean(np.argmax(outputs, axis=-1) == batch.y))}

    def solved(self, loss, metrics):
        return {"accuracy_above_0.99": metrics["accuracy"] > 0.99}


@hookimpl
def rnnbench_register_tasks():
    return [TemporalOrder]
