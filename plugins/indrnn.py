"""The independently recurrent network (Li, Li, Cook, Zhu & Gao 2018), registered.
The whole cell, its class and its maths, is :mod:`rnnbench.engine.indrnn`."""

from __future__ import annotations

from rnnbench.api import IndRNNCell, hookimpl


@hookimpl
def rnnbench_register_cells():
    return [IndRNNCell]
