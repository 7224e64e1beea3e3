"""Which path the cells run: the fast one (compiled kernels) or the textbook one.

Each built-in cell has two implementations of its forward pass and its BPTT:

- the fast path, in the cell's own module, :mod:`rnnbench.engine.vanilla`,
  :mod:`rnnbench.engine.lstm` or :mod:`rnnbench.engine.gru` (below the cell's
  class, which calls it), in column layout with blocked weight gradients and
  each step's element-wise formulas compiled by numba (``*_kernels.py``);
- the textbook path, :mod:`rnnbench.engine.textbook`: plain numpy, one line per
  formula of the derivation.

The tests hold the two equal to round-off. numba is an optional dependency (the
``fast`` extra): where it imports, the cells run the fast path; where it does
not, they run the textbook path, and the process says so once, in one line on
the logger of this module (on stderr unless the application configures logging).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

log = logging.getLogger(__name__)

OFF_MESSAGE = (
    "rnnbench: numba is not installed, so the fast path is off: the cells run their "
    "textbook BPTT (plain numpy, slower); pip install 'rnnbench[fast]' turns it on"
)

_numba: bool | None = None  # whether numba imports; None until the first forward pass asks
_textbook_blocks = 0  # how many textbook() blocks are open


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


def enabled() -> bool:
    """Whether a forward pass started now runs the fast path. Its backward pass
    follows the forward's cache, whichever path made it."""
    return _textbook_blocks == 0 and numba_available()


@contextlib.contextmanager
def textbook() -> Iterator[None]:
    """Inside the block, the cells' forward passes run the textbook path, numba
    or not (the tests compare the two paths with it)."""
    global _textbook_blocks
    _textbook_blocks += 1
    try:
        yield
    finally:
        _textbook_blocks -= 1
