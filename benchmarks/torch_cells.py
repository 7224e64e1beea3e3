"""Side by side: a training step of a built-in cell on the numpy engine and of
the same cell written in torch (``torch_vanilla``, ``torch_lstm``,
``torch_gru``: rnnbench's torch cell path, :mod:`rnnbench.torch_cell`), in one
process.

    python -m benchmarks.torch_cells [--repeats 20] [--device cpu|cuda] [--workers 1 4 8]

Both steps are :func:`rnnbench.training.train_step` on the same model built by
:func:`benchmarks.workload.training_step` (same weights, same batch, SGD):
the torch cell's forward and BPTT run in torch (autograd, with the per-step
probes that give dL/dh_t), everything else -- read-out, loss, optimiser,
remedies -- is rnnbench's numpy, as in a sweep. After a warm-up the two steps
are timed alternately and the medians compared: ratio = torch cell / numpy
engine (above 1: the torch path is slower). On the CPU both run one thread
(BLAS through threadpoolctl, torch.set_num_threads), as one worker of a sweep
does. The shapes are the built-in suites' (batch, hidden, length).

With ``--device cuda`` (where a GPU is present) it also times one torch-cell
step on the GPU beside the numpy engine's step on one CPU thread and PyTorch's
fused cuDNN cell on the GPU (which trains the same network but cannot give
dL/dh_t), at the smallest and the largest shape, then the throughput of N
worker processes sharing the GPU (``--workers``), each training its own model:
run-steps per second in all.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.compare_pytorch import alternate, print_machine_and_peak
from benchmarks.workload import training_step
from rnnbench.process_settings import run_settings

CELLS = ("vanilla", "lstm", "gru")
# (batch, hidden, length): default (adding, T = 150), copy_memory and gates (T = 100-120),
# the modern cells' adding suite (T = 400), and the papers' size (100 units, T = 400)
SHAPES = ((32, 32, 150), (32, 64, 120), (32, 64, 400), (32, 100, 400))


def cpu_table(cells, shapes, repeats: int, warmup: int, dtype: str) -> None:
    """The CPU comparison, one row per (cell, shape), as a Markdown table."""
    print("| cell | B, H, T | numpy engine ms | torch cell ms | torch / numpy |")
    print("|---|---|---:|---:|---:|")
    for cell in cells:
        for (B, H, T) in shapes:
            ours = training_step(cell, B, H, T, dtype=dtype)
            theirs = training_step(f"torch_{cell}", B, H, T, dtype=dtype)
            t_numpy, t_torch = alternate(ours.run, theirs.run, repeats, warmup)
            print(f"| {cell} | {B}, {H}, {T} | {t_numpy * 1e3:.2f} | {t_torch * 1e3:.2f} | "
                  f"{t_torch / t_numpy:.2f} |", flush=True)


def _gpu_steps(args: tuple) -> float:
    """In a worker process: build a torch-cell step on the device (the GPU), warm it up,
    wait at ``barrier`` for every other worker to be ready, and return the
    seconds ``steps`` steps took from there."""
    cell, (B, H, T), steps, dtype, barrier, device = args
    from rnnbench import torch_cell

    with run_settings(1, flush_to_zero=True), torch_cell.use_device(device):
        work = training_step(f"torch_{cell}", B, H, T, dtype=dtype)
        for _ in range(3):
            work.run()
        barrier.wait()  # the workers' start-ups differ by seconds: time them running together
        t0 = time.perf_counter()
        for _ in range(steps):
            work.run()
        return time.perf_counter() - t0


def median_seconds(fn, repeats: int, warmup: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gpu_references(cells, shape, repeats: int, warmup: int, dtype: str, device: str = "cuda") -> None:
    """What a GPU step (``device``) of a torch cell is measured against, in this process:
    the numpy engine's step on one CPU thread, and PyTorch's fused cell
    (``nn.RNN``/``nn.LSTM``/``nn.GRU``, cuDNN) on the GPU, which trains the same
    network but cannot give dL/dh_t (see :mod:`rnnbench.torch_cell`)."""
    from benchmarks.compare_pytorch import torch_step
    from rnnbench import torch_cell

    B, H, T = shape
    print(f"\n| cell | B, H, T | numpy engine, 1 CPU thread, ms | torch cell on {device}, ms | "
          f"fused torch cell (cuDNN on a GPU) on {device}, ms |")
    print("|---|---|---:|---:|---:|")
    for cell in cells:
        with run_settings(1, flush_to_zero=True):
            ours = training_step(cell, B, H, T, dtype=dtype)
            fused = torch_step(cell, B, H, T, 2, dtype, device=device)
            with torch_cell.use_device(device):
                unrolled = training_step(f"torch_{cell}", B, H, T, dtype=dtype)
                t_unrolled, t_fused = alternate(unrolled.run, fused, repeats, warmup)
            t_numpy = median_seconds(ours.run, repeats, warmup)
        print(f"| {cell} | {B}, {H}, {T} | {t_numpy * 1e3:.2f} | {t_unrolled * 1e3:.2f} | {t_fused * 1e3:.2f} |",
              flush=True)


def gpu_table(cells, shape, workers: list[int], steps: int, dtype: str, device: str = "cuda") -> None:
    """N processes sharing the GPU (``device``), each training its own torch
    cell, timed from the moment all N are ready: run-steps per second in all."""
    print("\n| cell | B, H, T | workers | ms per step (median worker) | run-steps per second (all) |")
    print("|---|---|---:|---:|---:|")
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        for cell in cells:
            for n in workers:
                barrier = manager.Barrier(n)  # n tasks on n workers: each waits there, so none takes two
                with context.Pool(n) as pool:
                    seconds = pool.map(_gpu_steps, [(cell, shape, steps, dtype, barrier, device)] * n, chunksize=1)
                per_step = statistics.median(seconds) / steps
                total = n * steps / max(seconds)
                print(f"| {cell} | {', '.join(map(str, shape))} | {n} | {per_step * 1e3:.2f} | {total:.0f} |",
                      flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed steps of each path per row")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=CELLS)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="cuda: also time the torch cells on the GPU (one step, and --workers sharing it)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--gpu-steps", type=int, default=50)
    parser.add_argument("--no-cpu-table", action="store_true",
                        help="leave out the CPU table (on a GPU machine lent for minutes)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    with run_settings(1, flush_to_zero=True):  # as a worker of a sweep trains a run
        print_machine_and_peak(args.dtype)
        print(f"dtype {args.dtype}, 1 thread, one training step (forward, BPTT, SGD) of the same model, "
              f"median of {args.repeats} alternating steps after {args.warmup} warm-up\n")
        if not args.no_cpu_table:
            cpu_table(args.cells, SHAPES, args.repeats, args.warmup, args.dtype)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            print("\n--device cuda: torch sees no GPU here; the GPU table is left out")
        else:
            print(f"\nGPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
            for shape in (SHAPES[0], SHAPES[-1]):
                gpu_references(args.cells, shape, args.repeats, args.warmup, args.dtype)
            gpu_table(args.cells, SHAPES[-1], args.workers, args.gpu_steps, args.dtype)
    return 0


if __name__ == "__main__":
    sys.exit(main())
