"""Checking a suite's findings -- known results it should reproduce -- against
its stored runs. Pure: reads results, returns verdicts; the report and the
command line show them, the tests assert them on the fast versions.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from rnnbench.report.analysis import summarise
from rnnbench.results import RunResult
from rnnbench.spec import FindingSpec, SuiteSpec


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One finding at one sequence length: held (True/False) or could not be
    decided (None, with the reason in ``detail``)."""

    finding: FindingSpec
    seq_len: int
    held: bool | None
    value: float | None
    reference: float | None
    detail: str


def _mean(values) -> float | None:
    present = [v for v in values if v is not None and math.isfinite(v)]
    return sum(present) / len(present) if present else None


def measure(row: dict, runs: Sequence[RunResult], name: str) -> float | None:
    """The value of measure ``name`` for one (variant, length) of the summary."""
    if name == "final_test_loss":
        value = row["final_test_loss"].mean
        return math.inf if value is None and row["runs"] else value
    if name == "success_rate":
        return row["success_rate"]
    if name == "diverged_fraction":
        return row["diverged"] / row["runs"] if row["runs"] else None
    if name in ("k_hat_init", "k_hat_final"):
        return row[name]
    if name == "k_hat_over_bound_init":
        k, bound = row["k_hat_init"], row["bound_init"]
        return k / bound if k is not None and bound else None
    if name == "loss_over_baseline":
        value, base = measure(row, runs, "final_test_loss"), row["baseline"]
        return value / base if value is not None and base else None
    if name == "recurrent_norm_final":
        return _mean(r.curves.recurrent_norm[-1] for r in runs if r.curves.recurrent_norm)
    interval = row["metrics"].get(name)
    if interval is None:
        raise ValueError(f"unknown measure '{name}'")
    return interval.mean


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else ("inf" if math.isinf(value) else f"{value:.4g}")


def check(suite: SuiteSpec, results: Sequence[RunResult]) -> list[Verdict]:
    """Every finding of ``suite`` at every length it concerns, in order."""
    rows = {(r["variant"], r["seq_len"]): r for r in summarise(suite, results)}

    def value_of(variant: str, seq_len: int, name: str) -> float | None:
        runs = [r for r in results if r.spec.variant.name == variant and r.spec.seq_len == seq_len]
        return measure(rows[(variant, seq_len)], runs, name)

    verdicts = []
    for finding in suite.findings:
        bound = finding.below if finding.below is not None else finding.above
        word = "below" if finding.below is not None else "above"
        for seq_len in [finding.seq_len] if finding.seq_len else suite.seq_lens:
            value = value_of(finding.variant, seq_len, finding.measure)
            if isinstance(bound, str):
                reference = value_of(bound, seq_len, finding.measure)
                against = f"{bound} ({_fmt(reference)})"
            else:
                reference, against = float(bound), _fmt(float(bound))
            detail = f"{finding.measure} of {finding.variant} = {_fmt(value)}, {word} {against}?"
            if value is None or reference is None:
                held = None
                detail += " -- not enough runs to decide"
            elif math.isinf(value) and math.isinf(reference):
                held = None
                detail += " -- no run of either finished"
            else:
                held = value < reference if word == "below" else value > reference
            verdicts.append(Verdict(finding, seq_len, held, value, reference, detail))
    return verdicts
