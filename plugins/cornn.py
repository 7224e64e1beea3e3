"""The coupled oscillatory recurrent network (Rusch & Mishra 2021), registered.
The whole cell, its class and its maths, is :mod:`rnnbench.engine.cornn`."""

from __future__ import annotations

from rnnbench.api import CoRNNCell, hookimpl


@hookimpl
def rnnbench_register_cells():
    return [CoRNNCell]
