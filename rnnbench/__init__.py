"""rnnbench: benchmark remedies for vanishing and exploding gradients in RNNs.

From Python (see :mod:`rnnbench.session`)::

    import rnnbench

    results = rnnbench.run("default", out="sweeps")  # or a suite file, or a dict
    results.runs()                                    # a pandas DataFrame, a row per run
    rnnbench.load("sweeps/results/default").curves()  # a row per run and logged step

Plugins import ``hookimpl`` from here and their base classes from
:mod:`rnnbench.api`; the hooks are documented in :mod:`rnnbench.hookspecs`.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from rnnbench.hookspecs import hookimpl

try:
    __version__ = version("rnnbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# The Python API, imported when first used: a plugin's `from rnnbench import
# hookimpl` does not load the runner, the report and pandas.
_LAZY = {
    "run": "rnnbench.session",
    "load": "rnnbench.session",
    "concat": "rnnbench.session",
    "Results": "rnnbench.session",
    "RnnbenchWarning": "rnnbench.session",
    "StoredSuite": "rnnbench.session",
    "ReportSection": "rnnbench.api",
    "SpecError": "rnnbench.spec",
    "StoreError": "rnnbench.store",
    "NotAResultsDirectory": "rnnbench.store",
    "ExecutorUnavailable": "rnnbench.executors",
    "MissingExtra": "rnnbench.extras",
}

__all__ = ["hookimpl", "__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rnnbench' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
