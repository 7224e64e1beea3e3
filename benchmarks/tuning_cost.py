"""What tuning costs: a built-in suite swept with its tuning protocol and without it.

    python -m benchmarks.tuning_cost [SUITE] [--quick] [--jobs 2]

Runs SUITE (default: ``default``) twice into temporary directories, one after
the other in this process, on the same executor: as written but with its
``[tuning]`` table removed (every variant trains once per seed with the
settings in the file), and tuned (the trials, then the chosen configurations on
the evaluation seeds). Prints the runs and wall time of each, their ratio, and
the machine (CPU, BLAS kernel, sgemm peak) beside the figures. Each time is the
whole ``run_suite`` call, as a user waits for it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.compare_pytorch import gemm_rate
from rnnbench import builtin_suites
from rnnbench.registry import load_registry
from rnnbench.runner import environment, run_suite
from rnnbench.spec import ExecutionSpec
from rnnbench.store import Store


def timed(suite, registry, execution: ExecutionSpec) -> tuple[float, int]:
    """Wall seconds of a full sweep of ``suite`` into a fresh directory, and its runs."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = run_suite(suite, Store(Path(tmp) / suite.name), registry, execution=execution)
        elapsed = time.perf_counter() - started
    runs = summary.total + (summary.tuning.total if summary.tuning else 0)
    return elapsed, runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", nargs="?", default="default", choices=builtin_suites.names())
    parser.add_argument("--quick", action="store_true", help="the suite's quick version")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (1: in this process)")
    args = parser.parse_args(argv)

    registry = load_registry()
    tuned = builtin_suites.load(args.suite, registry)
    if args.quick:
        tuned = tuned.quick_version()
    if tuned.tuning is None:
        print(f"suite '{tuned.name}' has no tuning protocol: nothing to compare")
        return 1
    untuned = tuned.model_copy(update={"tuning": None, "findings": []})
    execution = ExecutionSpec(executor="processes", jobs=args.jobs) if args.jobs > 1 else ExecutionSpec()

    env = environment()
    print(f"CPU: {env['cpu']} ({env['cores']} cores); BLAS: {env.get('blas', 'unknown')}; "
          f"sgemm peak (2048^3, 1 thread): {gemm_rate(2048, 2048, 2048, 'float32'):.0f} GFLOP/s")
    print(f"suite {tuned.name}: budget {tuned.tuning.budget} trials x {len(tuned.tuning.seeds)} tuning "
          f"seed(s) per variant and length; {len(tuned.seeds)} evaluation seeds; executor "
          f"{execution.executor}, jobs {execution.jobs or 1}")
    untuned_s, untuned_runs = timed(untuned, registry, execution)
    tuned_s, tuned_runs = timed(tuned, registry, execution)
    print(f"untuned: {untuned_runs:4d} runs {untuned_s:8.1f} s")
    print(f"tuned:   {tuned_runs:4d} runs {tuned_s:8.1f} s")
    print(f"ratio tuned / untuned: {tuned_runs / untuned_runs:.2f}x the runs, {tuned_s / untuned_s:.2f}x the wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
