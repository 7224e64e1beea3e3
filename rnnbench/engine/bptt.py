"""Which steps of a backward recursion through time are special.

Every cell's BPTT walks t = T..1 carrying g_t = dL/dh_t = d_t + (what flows back
from step t+1), where d_t is the gradient reaching h_t from the read-out. Two
per-step facts steer that walk, the same for every cell:

- a cut (truncated BPTT, Williams & Peng 1990): nothing flows back from step
  t+1, so g_t = d_t;
- a loss: d_t is not zero. Most tasks read out at the last step only, so most
  steps carry none, and a cell adds d_t only where one is.
"""

from __future__ import annotations

import numpy as np


def cut_before(T: int, truncate: int | None) -> np.ndarray:
    """cut[s] is True when no gradient flows from step s + 1 back into step s
    (0-based steps): the sequence is cut into chunks of ``truncate`` steps
    counted back from the last one. All False without truncation."""
    cut = np.zeros(T, dtype=bool)
    if truncate is not None:
        s = np.arange(T - 1)
        cut[:-1] = (T - (s + 1)) % truncate == 0
    return cut


def loss_at(d: np.ndarray, loss_steps=None) -> np.ndarray:
    """at[s] is True where d[s] may be non-zero (0-based steps): at the
    ``loss_steps`` the caller names, or, if it names none, wherever d[s] has a
    non-zero entry (a pass over all of d: at (T, B, H) = (200, 128, 256) in
    float32 it took 1 ms, and it reads pages that would otherwise stay untouched)."""
    if loss_steps is None:
        return np.any(d != 0, axis=(1, 2))
    at = np.zeros(d.shape[0], dtype=bool)
    at[np.asarray(loss_steps, dtype=np.intp)] = True
    return at
