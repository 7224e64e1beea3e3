"""The AntisymmetricRNN (Chang, Chen, Haber & Chi 2019), registered.
The whole cell, its class and its maths, is :mod:`rnnbench.engine.antisymmetric`."""

from __future__ import annotations

from rnnbench.api import AntisymmetricRNNCell, hookimpl


@hookimpl
def rnnbench_register_cells():
    return [AntisymmetricRNNCell]
