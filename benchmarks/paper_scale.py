"""What a built-in suite costs at its papers' size (``rnnbench run NAME --scale paper``).

    python -m benchmarks.paper_scale [SUITE ...] [--variants NAME ...]

For every (variant, length) of a suite's ``[paper]`` version, one probe of
the run as configured there (its hidden size, batch, length, cell and
remedies, at a learning rate of 1e-6 so that no probe diverges: the rate does
not change the cost of a step) trains 60
steps in this process under a worker's settings (one BLAS thread, the
run's flush-to-zero, the allocator: ``rnnbench.process_settings``), and records
when each step ends. The steps from 20 to 60 give the time of a step; what
comes before the first step (building the task and the model, the first
evaluation) is the fixed cost; what comes after the last (the final
evaluation on the validation and test sets, the decay profile) stands for
the cost of one evaluation. A full run then costs about
``fixed + steps x step + (steps / log_every) x evaluation``; every run of a
(variant, length), trial or evaluation, costs the same. Prints the runs, the
cost per run of each (variant, length), and the total in CPU hours, with the
machine (CPU, BLAS kernel, sgemm peak) beside them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.compare_pytorch import gemm_rate
from rnnbench import builtin_suites, tuning
from rnnbench.process_settings import run_settings
from rnnbench.registry import load_registry
from rnnbench.runner import environment
from rnnbench.spec import RunSpec
from rnnbench.training import train


PROBE_STEPS = 60


def run_cost(run: RunSpec, registry) -> float:
    """Estimated wall seconds of one full run of ``run``, from one probe."""
    # a tiny learning rate, so that no probe diverges before its last step (a step
    # costs the same at any rate)
    short = run.model_copy(update={
        "train": run.train.model_copy(update={"steps": PROBE_STEPS, "log_every": PROBE_STEPS}),
        "variant": run.variant.model_copy(update={"learning_rate": 1e-6}),
    })
    ends: dict[int, float] = {}
    started = time.perf_counter()
    train(short, registry, on_step=lambda n: ends.__setitem__(n, time.perf_counter()))
    finished = time.perf_counter()
    if PROBE_STEPS not in ends:  # it diverges at any rate (a linear RNN that explodes): it costs its setup
        return finished - started
    step = (ends[PROBE_STEPS] - ends[20]) / (PROBE_STEPS - 20)
    fixed = ends[1] - started - step
    evaluation = finished - ends[PROBE_STEPS]
    steps, every = run.train.steps, run.train.log_every
    return fixed + steps * step + (steps // every) * evaluation


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", help="built-in suites (default: every one with a [paper] table)")
    parser.add_argument("--variants", nargs="+", default=None, metavar="NAME",
                        help="probe only these variants of each suite given (the run counts and the "
                             "total then count only them; a name a suite lacks is an error)")
    args = parser.parse_args(argv)
    registry = load_registry()
    names = args.suites or [n for n in builtin_suites.names() if builtin_suites.load(n).paper]
    suites = [builtin_suites.load(name, registry).scaled("paper") for name in names]
    for suite in suites:  # before any probe: a misspelled name would probe nothing and total 0
        known = [v.name for v in suite.variants]
        unknown = [n for n in args.variants or () if n not in known]
        if unknown:
            print(f"error: suite '{suite.name}' has no variant {', '.join(map(repr, unknown))}; "
                  f"its variants: {', '.join(map(repr, known))}", file=sys.stderr)
            return 2
    env = environment()
    print(f"CPU: {env['cpu']} ({env['cores']} cores); BLAS: {env.get('blas', 'unknown')}; "
          f"sgemm peak (2048^3, 1 thread): {gemm_rate(2048, 2048, 2048, 'float32'):.0f} GFLOP/s")
    with run_settings(threads=1, flush_to_zero=True):  # the built-in suites' setting
        train(builtin_suites.load(names[0], registry).runs()[0].model_copy(
            update={"train": builtin_suites.load(names[0], registry).train.model_copy(update={"steps": 2})}),
            registry)  # compiles the kernels once, outside the timings
        for suite in suites:
            probed = [v for v in suite.variants if args.variants is None or v.name in args.variants]
            trials, evaluations = tuning.planned_runs(suite.model_copy(update={"variants": probed}))
            per_cell = len(suite.seeds) + (suite.tuning.budget * len(suite.tuning.seeds) if suite.tuning else 0)
            print(f"\n{suite.name}: {trials} tuning + {evaluations} evaluation runs "
                  f"({per_cell} per variant and length), {suite.train.steps} steps of {suite.train.batch_size}")
            total = 0.0
            for seq_len in suite.seq_lens:
                for variant in probed:
                    run = RunSpec(task=suite.task, seq_len=seq_len, variant=variant.model_copy(update={"search": []}),
                                  seed=0, train=suite.train)
                    seconds = run_cost(run, registry)
                    total += seconds * per_cell
                    print(f"  T={seq_len:<4} {variant.name:<34} {seconds / 60:7.1f} min per run")
            print(f"  total: {total / 3600:.1f} CPU hours ({total / 3600 / 2:.1f} h on 2 cores, "
                  f"{total / 3600 / 64:.2f} h on 64)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
