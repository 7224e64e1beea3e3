"""Numbers as the report writes them in text: in the HTML page, in the
figures' legends and in the command's summary table. A missing number (None)
is a dash."""

from __future__ import annotations

from rnnbench.report.stats import Interval
from rnnbench.results import STATUSES

DASH = "\u2013"


def number(value: float | int | None, spec: str, missing: str = DASH) -> str:
    """``value`` in the format ``spec`` (such as ".3g" or ".0%"); ``missing``,
    a dash, for None."""
    return missing if value is None else format(value, spec)


def format_number(value: float | int | None, digits: int = 4) -> str:
    """A number to ``digits`` significant digits; a dash for a missing one."""
    return number(value, f".{digits}g")


def format_percent(value: float | None) -> str:
    """A fraction as a whole percentage; a dash for a missing one."""
    return number(value, ".0%")


def format_interval(iv: Interval, digits: int = 3) -> str:
    """``estimate [lo, hi]`` of an interval (e.g. "0.3 [0.25, 0.36]"); with fewer
    than MIN_SEEDS values, which have no interval, the values themselves
    ("0.12, 0.31 (2 seeds: no interval)"); a dash without values."""
    if iv.estimate is None:
        return DASH
    if iv.lo is None or iv.hi is None:
        shown = ", ".join(f"{v:.{digits}g}" for v in iv.values) or f"{iv.estimate:.{digits}g}"
        return f"{shown} ({iv.n} seed{'s' if iv.n != 1 else ''}: no interval)"
    return f"{iv.estimate:.{digits}g} [{iv.lo:.{digits}g}, {iv.hi:.{digits}g}]"


def format_statuses(row: dict) -> str:
    """The non-zero status counts of a summary row, e.g. "2 ok, 1 diverged"."""
    parts = [f"{row[s]} {s}" for s in STATUSES if row[s]]
    return ", ".join(parts) or "no runs"
