"""Side by side: one training step of rnnbench and of PyTorch, in one process.

    python -m benchmarks.compare_pytorch [--repeats 30] [--threads 1] [--dtype float32]

For each cell (vanilla/``nn.RNN``, LSTM/``nn.LSTM``, GRU/``nn.GRU``), shape
(batch, hidden, length) and input width, both libraries train the same-sized
network (tanh cell, linear read-out of the last state, MSE, SGD) on the same
batch. After a warm-up, the two steps are timed alternately -- the order
swapped every round, so that a burst of load on a shared machine hits both --
and the medians are compared: ratio = rnnbench / PyTorch (below 1: rnnbench is
faster). Both run with the same BLAS thread count (threadpoolctl for numpy's
BLAS, ``torch.set_num_threads`` for PyTorch's) and flush-to-zero on (it is one
processor register, set for both by :mod:`rnnbench.engine.numerics`, and
PyTorch's ``torch.set_flush_denormal``).

Beside it: rnnbench's achieved GFLOP/s in the step's matrix products (counted
in :mod:`benchmarks.workload`) and the GEMM rate numpy's BLAS reaches on the
step's own product shape (the recurrence, (G H, H) @ (H, B) with G gate blocks:
every cell runs in column layout, see :mod:`rnnbench.engine.columns`) and on a 2048 x 2048
square, its peak. PyTorch is an optional extra (``pip install
.[torch]``); this script is not part of the package or of its tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.workload import GATES, matmul_flops, training_step
from rnnbench.engine import blas, numerics
from rnnbench.process_settings import run_settings

CELLS = ("vanilla", "lstm", "gru")
TARGET_SHAPES = ((32, 128, 100), (128, 256, 200))


def torch_step(cell: str, batch: int, hidden: int, length: int, inputs: int, dtype: str, seed: int = 0,
               device: str = "cpu"):
    """PyTorch's counterpart of :func:`benchmarks.workload.training_step`: a
    closure taking one forward + backward + SGD step (on ``device``: "cuda"
    runs the fused cuDNN cell)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    tdtype = getattr(torch, dtype)
    rnn = {"vanilla": lambda: nn.RNN(inputs, hidden, nonlinearity="tanh"),
           "lstm": lambda: nn.LSTM(inputs, hidden),
           "gru": lambda: nn.GRU(inputs, hidden)}[cell]().to(tdtype).to(device)
    readout = nn.Linear(hidden, 1).to(tdtype).to(device)
    opt = torch.optim.SGD(list(rnn.parameters()) + list(readout.parameters()), lr=1e-3)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.uniform(0.0, 1.0, (length, batch, inputs)).astype(dtype)).to(device)
    y = torch.from_numpy(rng.uniform(0.0, 2.0, (batch, 1)).astype(dtype)).to(device)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        out, _ = rnn(x)  # (T, B, H): batch_first=False, as rnnbench
        loss = nn.functional.mse_loss(readout(out[-1]), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def gemm_rate(m: int, k: int, n: int, dtype: str, seconds: float = 0.2) -> float:
    """GFLOP/s of numpy's (m, k) @ (k, n) into a preallocated output, best of 5."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c = np.empty((m, n), dtype)
    np.matmul(a, b, out=c)
    t0 = time.perf_counter()
    np.matmul(a, b, out=c)
    once = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(seconds / 5 / once))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        best = min(best, (time.perf_counter() - t0) / reps)
    return 2.0 * m * k * n / best / 1e9


def alternate(first, second, repeats: int, warmup: int) -> tuple[float, float]:
    """Median seconds of ``first()`` and ``second()``, timed in alternation."""
    for _ in range(warmup):
        first()
        second()
    times = ([], [])
    for r in range(repeats):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for i in order:
            fn = (first, second)[i]
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
    return statistics.median(times[0]), statistics.median(times[1])


def machine() -> list[str]:
    """Lines describing the machine, for the committed output."""
    import torch

    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} logical CPUs (nproc), CPU model: {model}",
        f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}",
    ]
    for lib in blas.blas_description():
        lines.append(f"numpy BLAS: {lib['internal_api']} {lib['version']}, kernel {lib['architecture']}, "
                     f"threads {lib['num_threads']}")
    lines.append(f"torch threads: {torch.get_num_threads()}, flush-to-zero: {numerics.get_flush_to_zero()}")
    return lines


def print_machine_and_peak(dtype: str) -> float:
    """Print the machine (:func:`machine`) and the GEMM peak in ``dtype``; return the peak, GFLOP/s."""
    for line in machine():
        print(line)
    peak = gemm_rate(2048, 2048, 2048, dtype)
    print(f"{'s' if dtype == 'float32' else 'd'}gemm peak (2048 x 2048 @ 2048 x 2048): {peak:.0f} GFLOP/s")
    return peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed steps of each library per cell")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--inputs", type=int, nargs="+", default=[2, 32], help="input widths")
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=CELLS)
    parser.add_argument("--no-flush", action="store_true", help="keep subnormals (flush-to-zero off)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    with run_settings(args.threads, flush_to_zero=not args.no_flush):  # as a worker trains a run
        torch.set_flush_denormal(not args.no_flush)
        peak = print_machine_and_peak(args.dtype)
        print(f"dtype {args.dtype}, {args.threads} thread(s), median of {args.repeats} alternating steps "
              f"after {args.warmup} warm-up\n")
        print("| cell | B, H, T | I | rnnbench ms | PyTorch ms | ratio | rnnbench GFLOP/s | "
              "step-GEMM GFLOP/s | % of step GEMM | % of peak |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for cell in args.cells:
            for (B, H, T) in TARGET_SHAPES:
                G = GATES[cell]
                step_gemm = gemm_rate(G * H, H, B, args.dtype)  # W (G H, H) @ states (H, B)
                for inputs in args.inputs:
                    ours = training_step(cell, B, H, T, inputs, args.dtype)
                    theirs = torch_step(cell, B, H, T, inputs, args.dtype)
                    t_ours, t_theirs = alternate(ours.run, theirs, args.repeats, args.warmup)
                    rate = matmul_flops(cell, B, H, T, inputs) / t_ours / 1e9
                    print(f"| {cell} | {B}, {H}, {T} | {inputs} | {t_ours * 1e3:.2f} | {t_theirs * 1e3:.2f} | "
                          f"{t_ours / t_theirs:.2f} | {rate:.0f} | {step_gemm:.0f} | "
                          f"{100 * rate / step_gemm:.0f} | {100 * rate / peak:.0f} |", flush=True)
        torch.set_flush_denormal(False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
