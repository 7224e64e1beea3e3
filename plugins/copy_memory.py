"""The copy memory problem.

Arjovsky, Shah & Bengio (2016), "Unitary Evolution Recurrent Neural Networks",
section 4.1. The alphabet has 10 classes: 8 data symbols (0-7), a blank (8)
and a marker (9), given as one-hot inputs. A sequence of delay T = ``seq_len``
has T + 20 steps: 10 data symbols drawn uniformly and independently, T - 1
blanks, the marker, then 10 blanks. The target is a blank at each of the first
T + 10 steps and, at the last 10, the 10 data symbols in their original order.
The loss is the cross-entropy at every step, averaged over the T + 20 steps.

Baseline. A predictor without memory can still tell the time, so it answers
"blank" with certainty for the first T + 10 steps (loss 0 there) and, having
no trace of the data, the uniform distribution over the 8 data symbols for the
last 10 (loss log 8 each, the best possible against a uniform symbol). Its mean
loss is therefore 10 log(8) / (T + 20), and it copies 1/8 of the symbols right.

Success: the main criterion is an accuracy above 0.99 on the copied symbols
(argmax of the read-out at the last 10 steps). The second asks for a test loss
below half the baseline: as the blank steps cost the memoryless predictor
nothing, this means the network carries, on average, more than half of the
log 8 nats of each data symbol across the delay -- a sign of memory even before
the copy is exact.
"""

from __future__ import annotations

import math

import numpy as np

from rnnbench.api import Batch, Task, hookimpl

DATA_SYMBOLS = 8
BLANK = 8
MARKER = 9
CLASSES = 10
COPIED = 10  # how many symbols are copied


class CopyMemory(Task):
    """Reproduce 10 data symbols after a delay of seq_len steps (many-to-many)."""

    name = "copy_memory"
    loss = "cross_entropy"
    many_to_one = False
    input_size = CLASSES
    output_size = CLASSES
    metrics = {"accuracy": "max"}
    criteria = {
        "accuracy_above_0.99": "accuracy on the copied symbols > 0.99",
        "loss_below_half_baseline": "test loss < 0.5 x the memoryless loss 10 log(8) / (T + 20)",
    }

    def __init__(self, params, seq_len: int):
        if seq_len < 1:
            raise ValueError("the copy memory problem needs seq_len >= 1")
        super().__init__(params, seq_len)

    @property
    def baseline(self) -> float:
        return COPIED * math.log(DATA_SYMBOLS) / (self.seq_len + 2 * COPIED)

    @property
    def baseline_metrics(self) -> dict[str, float]:
        return {"accuracy": 1.0 / DATA_SYMBOLS}

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        T, B = self.seq_len, batch_size
        data = rng.integers(0, DATA_SYMBOLS, (COPIED, B))
        symbols = np.full((T + 2 * COPIED, B), BLANK, dtype=np.int64)
        symbols[:COPIED] = data
        symbols[COPIED + T - 1] = MARKER
        y = np.full_like(symbols, BLANK)
        y[-COPIED:] = data
        x = np.eye(CLASSES)[symbols]
        return Batch(x, y)

    def evaluate(self, outputs, batch):
        guessed = np.argmax(outputs[-COPIED:], axis=-1)
        return {"accuracy": float(np.mean(guessed == batch.y[-COPIED:]))}

    def solved(self, loss, metrics):
        return {
            "accuracy_above_0.99": metrics["accuracy"] > 0.99,
            "loss_below_half_baseline": loss < 0.5 * self.baseline,
        }


@hookimpl
def rnnbench_register_tasks():
    return [CopyMemory]
