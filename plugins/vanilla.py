"""The vanilla (Elman) cell, h_t = f(W_hx x_t + W_hh h_{t-1} + b_h), registered.
The whole cell, its class and its maths, is :mod:`rnnbench.engine.vanilla`."""

from __future__ import annotations

from rnnbench.api import VanillaCell, hookimpl


@hookimpl
def rnnbench_register_cells():
    return [VanillaCell]
