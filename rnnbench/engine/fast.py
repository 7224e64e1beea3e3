"""Which path the cells run: the fast one (compiled kernels) or the textbook one.

Each built-in cell has two implementations of its forward pass and its BPTT:

- the fast path, in the cell's own module, :mod:`rnnbench.engine.vanilla`,
  :mod:`rnnbench.engine.lstm` or :mod:`rnnbench.engine.gru` (below the cell's
  class, which calls it), in column layout with blocked weight gradients and
  each step's element-wise formulas compiled by numba (``*_kernels.py``);
- the textbook path, :mod:`rnnbench.engine.textbook`: plain numpy, one line per
  formula of the derivation.

The tests hold the two equal to round-off. Which one runs is one choice, the
engine, made for a whole run: "textbook", "fast" (refused without numba) or
"auto" (fast where numba imports, else textbook, said once per process in one
line on this module's logger). The runner enters ``engine(name)`` around every
run (``rnnbench run --engine``, the suite's ``[execution] engine``, or the
environment variable ``RNNBENCH_ENGINE``) and records the path that ran.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator

log = logging.getLogger(__name__)

ENGINES = ("auto", "fast", "textbook")
ENVIRONMENT_VARIABLE = "RNNBENCH_ENGINE"
OFF_MESSAGE = (
    "rnnbench: numba is not installed, so the fast path is off: the cells run their "
    "textbook BPTT (plain numpy, slower); pip install 'rnnbench[fast]' turns it on"
)
NO_NUMBA = "engine 'fast' needs numba, which is not installed: pip install 'rnnbench[fast]', or use 'auto'"

_numba: bool | None = None  # whether numba imports; None until the first forward pass asks
_chosen: list[str] = []  # the engine() blocks open, innermost last


class EngineUnavailable(ValueError):
    """An engine that does not exist, or "fast" without numba; its message is one line."""


def numba_available() -> bool:
    """Whether numba imports (tried once per process; the first failure is logged)."""
    global _numba
    if _numba is None:
        try:
            import numba  # noqa: F401
        except ImportError:
            _numba = False
            log.warning(OFF_MESSAGE)
        else:
            _numba = True
    return _numba


def check(name: str, where: str = "engine") -> str:
    """``name`` if it is an engine that can run here; EngineUnavailable otherwise."""
    if name not in ENGINES:
        raise EngineUnavailable(f"{where}: '{name}' is not an engine; choose one of {', '.join(ENGINES)}")
    if name == "fast" and not numba_available():
        raise EngineUnavailable(NO_NUMBA)
    return name


def from_environment() -> str | None:
    """The engine ``RNNBENCH_ENGINE`` names (checked), or None where it is not set."""
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    return check(value, ENVIRONMENT_VARIABLE) if value else None


def chosen() -> str:
    """The engine in force: the innermost ``engine()`` block's, else the
    environment variable's, else "auto"."""
    return _chosen[-1] if _chosen else (from_environment() or "auto")


def enabled() -> bool:
    """Whether a forward pass started now runs the fast path. Its backward pass
    follows the forward's cache, whichever path made it."""
    name = chosen()
    if name == "fast":
        check(name)
        return True
    return name == "auto" and numba_available()


def path() -> str:
    """The path a run started now takes: "fast" or "textbook"."""
    return "fast" if enabled() else "textbook"


@contextlib.contextmanager
def engine(name: str) -> Iterator[None]:
    """Inside the block, the cells run the engine ``name`` (checked on entry)."""
    _chosen.append(check(name))
    try:
        yield
    finally:
        _chosen.pop()


def textbook() -> contextlib.AbstractContextManager[None]:
    """Inside the block, the cells' forward passes run the textbook path, numba
    or not (the tests compare the two paths with it)."""
    return engine("textbook")
