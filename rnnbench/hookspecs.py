"""The hooks a plugin implements to contribute to rnnbench.

A plugin is a module (or any object) with functions marked ``@hookimpl`` whose
names are the hooks below. It is found through the ``rnnbench`` entry-point
group of an installed distribution::

    [project.entry-points.rnnbench]
    spectral = "rnnbench_spectral"

or named for one run with ``rnnbench run --plugin my_module`` (a module on the
Python path, or a ``.py`` file). The built-in cells, tasks, remedies and
optimisers are registered through the same entry-point group.

Every hook here is a *registration* hook: it takes no arguments and returns a
list of classes, each with a unique class attribute ``name`` by which a suite
selects it. The base classes the returned classes derive from, and the points
of the training loop where their methods are called, are in
:mod:`rnnbench.api`. A name that another plugin registered first is refused
with a warning that names both plugins; the first registration stays.
"""

from __future__ import annotations

import pluggy

PROJECT = "rnnbench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def rnnbench_register_tasks() -> list[type]:
    """Return task classes (subclasses of :class:`rnnbench.api.Task`).

    A task generates input sequences and targets from a seed, for a given
    sequence length, and declares its loss and the loss of the best
    input-blind predictor (its baseline).
    """


@hookspec
def rnnbench_register_cells() -> list[type]:
    """Return recurrent cell classes (subclasses of :class:`rnnbench.api.Cell`).

    A cell owns its parameters' initialisation, the forward recursion over time
    and the backward recursion (BPTT) that returns its parameter gradients and
    dL/dh_t at every step. The linear read-out and the loss are shared by all
    cells and are not the cell's business.
    """


@hookspec
def rnnbench_register_remedies() -> list[type]:
    """Return remedy classes (subclasses of :class:`rnnbench.api.Remedy`).

    A remedy is applied to a variant by name, with parameters validated by its
    own ``Params`` model, and acts at the points of the training loop it
    overrides: building the model, initialising parameters, the loss, and the
    gradients after the backward pass. Remedies act in the order the variant
    lists them.
    """


@hookspec
def rnnbench_register_optimizers() -> list[type]:
    """Return optimiser classes (subclasses of :class:`rnnbench.api.Optimizer`).

    An optimiser updates the parameters in place from their gradients; its
    state (momentum, moment estimates) lives on the instance, one per run.
    """
