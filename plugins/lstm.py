"""The LSTM cell with forget gate (Hochreiter & Schmidhuber 1997; Gers,
Schmidhuber & Cummins 2000), registered. The whole cell, its class and its
maths, is :mod:`rnnbench.engine.lstm`."""

from __future__ import annotations

from rnnbench.api import LSTMCell, hookimpl


@hookimpl
def rnnbench_register_cells():
    return [LSTMCell]
