"""How many threads the BLAS behind numpy may use: one per process by default.

numpy's element-wise work is single-threaded, and the per-step products of a
recurrence are small (e.g. 32x128 @ 128x128), where a second BLAS thread gains
little and, with another process on the same core, loses a great deal: on the
2-core machine of issue 7 such a product went from 48 us to 17 ms. Parallelism
comes from running several runs in separate processes instead. A 1-thread BLAS
also runs in the calling thread, so that the flush-to-zero mode of
:mod:`rnnbench.engine.numerics` applies to its products too.

The limit is applied with threadpoolctl (Kodjo, Moreau et al., the
``threadpoolctl`` package of the scikit-learn project), which finds the
OpenBLAS, MKL, BLIS or OpenMP libraries loaded in the process and calls each
one's own thread-count function.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

from threadpoolctl import threadpool_info, threadpool_limits

DEFAULT_THREADS = 1


@contextlib.contextmanager
def blas_threads(threads: int | None = DEFAULT_THREADS) -> Iterator[None]:
    """Inside the block, BLAS libraries loaded in this process use at most
    ``threads`` threads (None: leave them as they are); restored on exit."""
    if threads is None:
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


def blas_description() -> list[dict]:
    """The BLAS libraries loaded in this process: name, version, threads, kernel."""
    keep = ("internal_api", "version", "num_threads", "architecture", "filepath")
    return [{k: lib.get(k) for k in keep} for lib in threadpool_info() if lib.get("user_api") == "blas"]


# OpenBLAS's kernels for AVX-512 CPUs, which have small-matrix GEMM kernels
# (kernel/x86_64/sgemm_small_kernel_permit_skylakex.c: taken when M N K <= 10^6).
SMALL_MATRIX_KERNELS = frozenset({"skylakex", "cooperlake", "sapphirerapids"})
SMALL_PRODUCT = 1_000_000


@functools.lru_cache(maxsize=None)
def has_small_matrix_kernels() -> bool:
    """Whether numpy's BLAS is an OpenBLAS running one of the kernels that
    take small products by a path of their own (see
    :func:`rnnbench.engine.columns.row_blocks`). Read once per process: the
    kernel is chosen when the library loads."""
    import numpy  # noqa: F401 -- loads numpy's BLAS, so that threadpoolctl sees it

    return any(
        lib.get("internal_api") == "openblas" and str(lib.get("architecture", "")).lower() in SMALL_MATRIX_KERNELS
        for lib in threadpool_info()
    )

