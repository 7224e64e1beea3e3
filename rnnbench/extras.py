"""Optional dependencies: whether one is installed, and the one line that says
which extra of rnnbench installs it.

The extras (``pip install 'rnnbench[NAME]'``): ``digits`` (scikit-learn, for
the 8x8 images of the digits task), ``parquet`` (pyarrow, for ``export
--format parquet``) and ``dask`` (the Dask executor).
"""

from __future__ import annotations

import importlib.util


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message, one line, names
    the extra that installs it."""


def installed(module: str) -> bool:
    """Whether the top-level module ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(what: str, package: str, extra: str) -> str:
    """The line that says ``what`` needs ``package`` and which extra installs it."""
    return f"{what} needs {package}, which is not installed: pip install 'rnnbench[{extra}]'"


def require(module: str, what: str, package: str, extra: str) -> None:
    """Raise MissingExtra, naming ``extra``, if ``module`` is not installed."""
    if not installed(module):
        raise MissingExtra(missing(what, package, extra))
