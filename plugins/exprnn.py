"""The expRNN (Lezcano-Casado & Martinez-Rubio 2019), registered. The whole
cell, its class and its maths, is :mod:`rnnbench.engine.exprnn`."""

from __future__ import annotations

from rnnbench.api import ExpRNNCell, hookimpl


@hookimpl
def rnnbench_register_cells():
    return [ExpRNNCell]
