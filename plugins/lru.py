"""The linear recurrent unit (Orvieto et al. 2023), registered. The whole cell,
its class and its maths, is :mod:`rnnbench.engine.lru`."""

from __future__ import annotations

from rnnbench.api import LRUCell, hookimpl


@hookimpl
def rnnbench_register_cells():
    return [LRUCell]
