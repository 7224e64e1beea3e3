"""The gated recurrent unit (Cho et al. 2014), registered. The whole cell, its
class and its maths, is :mod:`rnnbench.engine.gru`."""

from __future__ import annotations

from rnnbench.api import GRUCell, hookimpl


@hookimpl
def rnnbench_register_cells():
    return [GRUCell]
