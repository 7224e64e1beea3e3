"""How much faster a sweep of small runs completes on a process pool and on Dask.

Times one sweep (by default 24 runs: the default suite's clipped variant, 24 seeds) with the in-process
executor, with ``--jobs 2`` (a local process pool) and with Dask on a 2-worker
LocalCluster bound to 127.0.0.1, all from this one process, in interleaved
rounds so that a noisy neighbour slows all three alike; each executor's time is
its fastest round. It also prints how many cores two busy processes could get
before and after, since no executor can beat the cores the machine has free. Every timing is the whole ``run_suite`` call, as a user
waits for it: starting the workers (and the cluster), training, storing.

Prints the speed-ups over the in-process executor beside the targets of
issue 6 (on 2 cores: >= 1.8x for the pool, >= 1.6x for Dask), and checks that
every executor stored the same numbers. Exit code 1 if a target is missed.

    python benchmarks/sweep_speed.py [--runs 24] [--steps N] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
import tomllib
from importlib import resources
from pathlib import Path

from rnnbench.executors import available_cores
from rnnbench.registry import load_registry
from rnnbench.runner import run_suite
from rnnbench.resolve import resolve_data
from rnnbench.spec import ExecutionSpec
from rnnbench.store import Store

TARGETS = {"processes": 1.8, "dask": 1.6}
METRICS = ("status", "curves", "decay", "final_train_loss", "final_test_loss")


def suite_data(runs: int, steps: int | None) -> dict:
    """The built-in default suite's training settings and its clipped variant
    (the plain one diverges within a few steps, by design), one run per seed."""
    text = (resources.files("rnnbench") / "suites" / "default.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    data["name"] = "sweep-speed"
    data["variants"] = [v for v in data["variants"] if v.get("remedies")]
    data["seeds"] = list(range(runs))
    if steps is not None:
        data["train"]["steps"] = steps
    return data


def _spin(n: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    total = 0
    for i in range(n):
        total += i
    return time.perf_counter() - wall, time.process_time() - cpu


def free_cores(processes: int = 2, n: int = 10_000_000) -> float:
    """How many cores two busy processes get right now (CPU seconds per wall
    second): 2.0 on an idle 2-core machine, less when other work shares it."""
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_spin, [1000] * processes)  # started
        timings = pool.map(_spin, [n] * processes)
    return sum(cpu for _, cpu in timings) / max(wall for wall, _ in timings)


def stored_metrics(store: Store) -> dict:
    records = (json.loads(p.read_text()) for p in store.runs_dir.glob("*.json"))
    return {r["key"]: {m: r[m] for m in METRICS} for r in records}


def timed_sweep(suite, registry, execution: ExecutionSpec, root: Path) -> tuple[float, dict]:
    store = Store(root / suite.name)
    started = time.perf_counter()
    summary = run_suite(suite, store, registry, execution=execution)
    elapsed = time.perf_counter() - started
    if summary.counts != {"ok": summary.total}:
        raise SystemExit(f"{execution.executor}: not every run was ok: {summary.counts}")
    return elapsed, stored_metrics(store)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--steps", type=int, default=None, help="steps per run (default: the suite's)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    registry = load_registry()
    suite = resolve_data(suite_data(args.runs, args.steps), registry)
    executions = {"serial": ExecutionSpec(executor="serial"),
                  "processes": ExecutionSpec(executor="processes", jobs=2)}
    try:
        import distributed  # noqa: F401

        executions["dask"] = ExecutionSpec(executor="dask", jobs=2)
    except ImportError:
        print("dask: not installed (pip install rnnbench[dask]); skipped")

    runs = suite.runs()
    print(f"{len(runs)} runs of the default suite's clipped variant ({runs[0].train.steps} steps, T={runs[0].seq_len}, "
          f"H={runs[0].variant.hidden_size}), {available_cores()} cores, best of {args.rounds} interleaved rounds")
    capacity = [free_cores()]
    times: dict[str, list[float]] = {name: [] for name in executions}
    metrics: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name, execution in executions.items():
            with tempfile.TemporaryDirectory() as tmp:
                elapsed, metrics[name] = timed_sweep(suite, registry, execution, Path(tmp))
            times[name].append(elapsed)

    capacity.append(free_cores())
    best = {name: min(t) for name, t in times.items()}
    print(f"cores free for 2 busy processes, before and after: {capacity[0]:.2f}, {capacity[1]:.2f} "
          f"(2.00 when nothing else runs)")
    missed = 0
    for name, t in times.items():
        rounds = ", ".join(f"{x:.2f}" for x in t)
        line = f"{name:<10} {best[name]:6.2f} s  (rounds: {rounds})"
        if name in TARGETS:
            ratio = best["serial"] / best[name]
            ok = ratio >= TARGETS[name]
            missed += not ok
            line += f"  speed-up {ratio:.2f}x, target >= {TARGETS[name]}x: {'met' if ok else 'MISSED'}"
        print(line)
    same = all(m == metrics["serial"] for m in metrics.values())
    print(f"stored metrics identical across executors: {'yes' if same else 'NO'}")
    return 0 if same and not missed else 1


if __name__ == "__main__":
    sys.exit(main())
