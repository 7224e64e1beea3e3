"""What the stored numbers say: decay factors, seed aggregates and the summary table.

Every function here is pure: it reads RunResults (or plain lists) and returns
numbers, never touching files or figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnnbench.results import STATUSES, DecayProfile, RunResult
from rnnbench.spec import SuiteSpec


def fit_decay_factor(norms: Sequence[float | None]) -> float | None:
    """The per-step factor k-hat: exp of the least-squares slope of log(norm)
    against the distance d (the index), over the finite positive entries;
    None if fewer than two such entries."""
    d = np.arange(len(norms), dtype=float)
    y = np.array([np.nan if v is None else v for v in norms], dtype=float)
    keep = np.isfinite(y) & (y > 0)
    if keep.sum() < 2:
        return None
    d, logy = d[keep], np.log(y[keep])
    dc = d - d.mean()
    return float(np.exp(np.dot(dc, logy - logy.mean()) / np.dot(dc, dc)))


def runs_of(results: Sequence[RunResult], seq_len: int, variant: str) -> list[RunResult]:
    """The runs of one grid cell: one sequence length and one variant name."""
    return [r for r in results if r.spec.seq_len == seq_len and r.spec.variant.name == variant]


def init_profile(result: RunResult) -> DecayProfile | None:
    """The decay profile measured at initialisation (the first one), if any."""
    return result.decay[0] if result.decay else None


def final_profile(result: RunResult) -> DecayProfile | None:
    """The decay profile at the end of training (the last one), if there are
    at least two: a run that stopped with only the initial profile has none."""
    return result.decay[-1] if len(result.decay) >= 2 else None


def aggregate(
    series: Sequence[tuple[Sequence[float], Sequence[float | None]]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Combine (x, y) series from several seeds: for every x where at least one
    series has a value, the mean, min and max of the values present there.

    Returns (x, mean, lo, hi) sorted by x; series may differ in length (a
    diverged run stops early) and may hold None.
    """
    by_x: dict[float, list[float]] = {}
    for xs, ys in series:
        for x, y in zip(xs, ys):
            if y is not None and np.isfinite(y):
                by_x.setdefault(x, []).append(y)
    x = np.array(sorted(by_x), dtype=float)
    groups = [by_x[v] for v in sorted(by_x)]
    mean = np.array([np.mean(g) for g in groups], dtype=float)
    lo = np.array([np.min(g) for g in groups], dtype=float)
    hi = np.array([np.max(g) for g in groups], dtype=float)
    return x, mean, lo, hi


def mean_present(values) -> float | None:
    """The mean of the finite values that are not None; None if there are none."""
    present = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(present)) if present else None


def summarise(suite: SuiteSpec, results: Sequence[RunResult]) -> list[dict]:
    """One row per (sequence length, variant), in grid order, even without runs.

    Keys: variant, seq_len, seeds (stored runs); final_test_loss_n / _mean /
    _std (population, ddof=0) / _min / _max over runs with a finite final test
    loss; ok, diverged, error (status counts); k_hat_init, k_hat_final,
    bound_init, bound_final (means over runs that have the value); baseline
    (mean over runs that have one). Missing statistics are None.
    """
    rows = []
    for seq_len in suite.seq_lens:
        for variant in suite.variants:
            runs = runs_of(results, seq_len, variant.name)
            losses = np.array([r.final_test_loss for r in runs if r.final_test_loss is not None])
            inits = [init_profile(r) for r in runs]
            finals = [final_profile(r) for r in runs]
            row = {
                "variant": variant.name,
                "seq_len": seq_len,
                "seeds": len(runs),
                "final_test_loss_n": len(losses),
                "final_test_loss_mean": float(losses.mean()) if len(losses) else None,
                "final_test_loss_std": float(losses.std()) if len(losses) else None,
                "final_test_loss_min": float(losses.min()) if len(losses) else None,
                "final_test_loss_max": float(losses.max()) if len(losses) else None,
                **{s: sum(r.status == s for r in runs) for s in STATUSES},
                "k_hat_init": mean_present(fit_decay_factor(p.norms) for p in inits if p),
                "k_hat_final": mean_present(fit_decay_factor(p.norms) for p in finals if p),
                "bound_init": mean_present(p.bound for p in inits if p),
                "bound_final": mean_present(p.bound for p in finals if p),
                "baseline": mean_present(r.baseline for r in runs),
            }
            rows.append(row)
    return rows
