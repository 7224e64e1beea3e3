"""How long the command line takes to answer, beside the time Python takes to import numpy.

    python -m benchmarks.startup [--repeats 5]

Each command runs in a fresh process: ``python -c "pass"`` (the interpreter
alone), ``python -c "import numpy"`` (the floor for any numpy program), and
``rnnbench --help``, ``rnnbench suites``, ``rnnbench validate default`` (verbs
that train and draw nothing, so they should load neither scipy, matplotlib
nor pandas). After one warm-up run of each (so that every ``.pyc`` is
written), the commands run in turn, ``--repeats`` rounds, the order reversed
every other round so that a burst of load on a shared machine hits them
alike; the wall time of each is its median. Prints each median, its ratio to
``import numpy``, and the machine (CPU, BLAS kernel, Python) beside them.
For timing on a machine that pins an OpenBLAS kernel, unset the pins for the
command: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks.startup``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rnnbench.runner import environment


def rnnbench_command() -> list[str]:
    """The installed ``rnnbench`` script beside this interpreter, else ``python -m rnnbench``."""
    beside = Path(sys.executable).with_name("rnnbench")
    found = str(beside) if beside.is_file() else shutil.which("rnnbench")
    return [found] if found else [sys.executable, "-m", "rnnbench"]


def commands() -> dict[str, list[str]]:
    """What is timed, by label."""
    cli = rnnbench_command()
    return {
        'python -c "pass"': [sys.executable, "-c", "pass"],
        'python -c "import numpy"': [sys.executable, "-c", "import numpy"],
        "rnnbench --help": [*cli, "--help"],
        "rnnbench suites": [*cli, "suites"],
        "rnnbench validate default": [*cli, "validate", "default"],
    }


def wall_time(argv: list[str]) -> float:
    """Seconds from starting ``argv`` to its exit; RuntimeError if it fails."""
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit code {done.returncode}: {done.stderr.strip()}")
    return elapsed


def timed(runs: dict[str, list[str]], repeats: int) -> dict[str, float]:
    """The median wall time of each command over ``repeats`` rounds, after one warm-up."""
    for argv in runs.values():
        wall_time(argv)
    times: dict[str, list[float]] = {label: [] for label in runs}
    labels = list(runs)
    for round_ in range(repeats):
        for label in labels if round_ % 2 == 0 else reversed(labels):
            times[label].append(wall_time(runs[label]))
    return {label: statistics.median(values) for label, values in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each command")
    args = parser.parse_args(argv)
    env = environment()
    print(f"CPU: {env['cpu']} ({env['cores']} cores); BLAS: {env.get('blas', 'unknown')}; "
          f"Python {env['python']}, numpy {env['numpy']}")
    medians = timed(commands(), args.repeats)
    floor = medians['python -c "import numpy"']
    print(f"median of {args.repeats} runs each, in fresh processes\n")
    print("| command | wall ms | / import numpy |")
    print("|---|---:|---:|")
    for label, seconds in medians.items():
        print(f"| `{label}` | {seconds * 1e3:.0f} | {seconds / floor:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
