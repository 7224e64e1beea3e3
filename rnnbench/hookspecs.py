"""The hooks a plugin implements to contribute to rnnbench.

A plugin is a module (or any object) with functions marked ``@hookimpl``
(imported from :mod:`rnnbench.api`, like everything else a plugin needs;
``rnnbench.hookimpl`` is the same marker) whose names are the hooks below. It
is found through the ``rnnbench`` entry-point group of an installed
distribution::

    [project.entry-points.rnnbench]
    spectral = "rnnbench_spectral"

or named for one command with ``--plugin my_module`` (a module on the Python
path, or a ``.py`` file), or with ``plugins=[...]`` from Python. The built-in
cells, tasks, remedies and optimisers are registered through the same
entry-point group.

There are two kinds of hooks.

*Registration hooks* (``rnnbench_register_*``) take no arguments and return a
list of classes, each with a unique class attribute ``name`` by which a suite
selects it. The base classes the returned classes derive from, and the points
of the training loop where their methods are called, are in
:mod:`rnnbench.api`. A class that does not derive from its base class, or
lacks what the base class requires (an attribute it declares without a value,
an abstract method), is refused with a warning that names the plugin, the
class and what it lacks. A name that another plugin registered first is
refused with a warning that names both plugins; the first registration stays.

*Lifecycle hooks* are called as a sweep goes on and as its report is built:
:func:`rnnbench_run_stored` when a run has been stored,
:func:`rnnbench_report_section` when the report is written. An implementation
may take any subset of a hook's arguments, by name.

A hook is called through pluggy once per plugin that implements it, in the
order the plugins were loaded (the installed ones, then the ``--plugin``
modules), with the other implementing plugins left out, so that what a plugin
contributes is attributed to it and a failure stays its own: an
implementation that raises, or returns what rnnbench cannot use, is reported
in one warning line that names its plugin, and the others still run. A
failing lifecycle hook never costs a stored run or the report.

A hook wrapper (``@hookimpl(wrapper=True)``, or ``hookwrapper=True``) goes
around each of these calls and may change what the plugin returned. pluggy
leaves a plugin out as a whole, so the wrapper of a plugin that also
implements the hook itself wraps that plugin's call only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # only named in the signatures below
    from pathlib import Path

    from rnnbench.api import ReportSection
    from rnnbench.results import RunResult
    from rnnbench.spec import SuiteSpec

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


# --- lifecycle hooks ---------------------------------------------------------------------------


@hookspec
def rnnbench_run_stored(result: RunResult, suite: SuiteSpec, path: Path) -> None:
    """Called when a run has been stored, with its result.

    :param result: The stored :class:`rnnbench.results.RunResult`: the run's
        specification (``result.spec``), its status (``ok``, ``diverged``,
        ``error`` or ``timeout``), curves, decay profiles and final metrics.
        A run of a tuning trial has ``result.spec.trial`` set; an evaluation
        run has it ``None``.
    :param suite: The :class:`rnnbench.spec.SuiteSpec` being swept, as stored
        in the results directory's ``suite.json``.
    :param path: The file the record was written to,
        ``<results>/<suite>/runs/<key>.json``.

    It is called once for every run the sweep trains and stores, as soon as
    its record is on disk -- never for a run skipped because it was stored
    already -- in the process that stores: the one that runs the sweep,
    whichever executor trains the runs (in this process, a process pool or
    Dask). So a plugin can log every run to an experiment tracker (MLflow,
    TensorBoard, a database) without caring where it trained. Runs arrive in
    the order they finish.

    The return value is ignored. An implementation that raises is named in
    one warning line, the first time it fails in a sweep; the run stays
    stored and the sweep goes on, calling it again for the next run.
    """


@hookspec
def rnnbench_report_section(
    suite: SuiteSpec, results: list[RunResult], trials: list[RunResult]
) -> ReportSection | list[ReportSection] | None:
    """Add a section to the suite's HTML report: a figure and a paragraph.

    :param suite: The :class:`rnnbench.spec.SuiteSpec` the report is of.
    :param results: The stored evaluation runs the report reads, in grid
        order (for a tuned suite, those of the chosen configurations).
    :param trials: The stored runs of the tuning trials, in search order
        (empty for a suite without tuning).

    Return a :class:`rnnbench.api.ReportSection` -- a title, a paragraph and
    a figure (a matplotlib ``Figure`` or the bytes of a PNG image), either of
    which may be left out -- a list of them, or ``None`` to add nothing (for
    instance to a suite that does not use the plugin's remedy). Sections come
    after the built-in figures, in the order the plugins were loaded, each
    saying which plugin added it; their figures are saved beside the page as
    ``plugin-<n>.png``.

    The title, paragraph and alternative text are shown as text: like
    everything else on the page they are escaped, so markup in them is never
    interpreted. An implementation that raises, or returns something the
    report cannot draw (not a ReportSection, a figure that is neither a
    ``Figure`` nor PNG bytes, or one that fails to save), is named in one
    warning line and the report is written without what it could not draw.
    """
