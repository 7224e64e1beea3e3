"""Flush-to-zero (FTZ) and denormals-are-zero (DAZ) for the calling thread.

Vanishing gradients in float32 drift below the smallest normal number
(about 1.18e-38) into the subnormal range, where x86-64 arithmetic takes a slow
microcode path: a float32 vanilla BPTT step at (batch, hidden, length) =
(128, 256, 200) took 1.48 s with subnormals and 0.085 s without them (issue 7).
The processor can instead replace every subnormal result by zero (FTZ) and read
every subnormal operand as zero (DAZ). On x86-64 these are bits 15 and 6 of the
SSE control register MXCSR (Intel 64 and IA-32 Architectures Software
Developer's Manual, vol. 1, section 10.2.3); on AArch64 it is the FZ bit 24 of
FPCR (Arm Architecture Reference Manual, "FPCR, Floating-point Control
Register"), which does both.

The register is set through C99's ``fegetenv``/``fesetenv`` of the C library
(glibc on Linux), whose ``fenv_t`` holds MXCSR (x86-64) or FPCR (AArch64): the
environment is read, only the mode bits are changed, and it is written back, so
exception masks, rounding and status flags stay as they were. On a platform
where the layout of ``fenv_t`` is not known here the context manager does
nothing and warns once.

The mode belongs to the thread that sets it: numpy's element-wise work and a
1-thread BLAS run in that thread, but worker threads of a multi-threaded BLAS
do not inherit it (see :mod:`rnnbench.engine.blas`, which limits BLAS to one
thread). Training turns it on (``TrainSpec.flush_to_zero``); gradient checks
by finite differences run without it, so that no small difference is lost.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import platform
import sys
import warnings
from typing import Iterator

# Where in fenv_t the control register lies, as (32-bit word index, mode bits).
_X86_64 = (7, (1 << 15) | (1 << 6))  # glibc x86-64 fenv_t: 28-byte x87 env, then __mxcsr
_AARCH64 = (0, 1 << 24)  # glibc AArch64 fenv_t: __fpcr, __fpsr
_FENV_WORDS = 8  # 32 bytes: at least the size of fenv_t on both


def _layout() -> tuple[int, int] | None:
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    return {"x86_64": _X86_64, "AMD64": _X86_64, "aarch64": _AARCH64, "arm64": _AARCH64}.get(
        platform.machine()
    )


def _libm():
    name = ctypes.util.find_library("m")
    return ctypes.CDLL(name) if name else None


_LAYOUT = _layout()
_LIBM = _libm() if _LAYOUT is not None else None
SUPPORTED = _LAYOUT is not None and _LIBM is not None
_warned = False


def _read() -> ctypes.Array:
    env = (ctypes.c_uint32 * _FENV_WORDS)()
    if _LIBM.fegetenv(env) != 0:
        raise OSError("fegetenv failed")
    return env


def get_flush_to_zero() -> bool:
    """Whether the calling thread flushes subnormals to zero (False where unsupported)."""
    if not SUPPORTED:
        return False
    word, bits = _LAYOUT
    return _read()[word] & bits == bits


def set_flush_to_zero(enabled: bool) -> bool:
    """Turn FTZ and DAZ on or off in the calling thread; return the previous
    state. Where unsupported: warn once, change nothing, return False."""
    global _warned
    if not SUPPORTED:
        if enabled and not _warned:
            warnings.warn(
                f"flush-to-zero is not supported on {sys.platform}/{platform.machine()}: "
                "subnormal floats stay (slower float32 training)",
                RuntimeWarning,
                stacklevel=3,
            )
            _warned = True
        return False
    word, bits = _LAYOUT
    env = _read()
    previous = env[word] & bits == bits
    env[word] = (env[word] | bits) if enabled else (env[word] & ~bits & 0xFFFFFFFF)
    if _LIBM.fesetenv(env) != 0:
        raise OSError("fesetenv failed")
    return previous


@contextlib.contextmanager
def flush_to_zero(enabled: bool = True) -> Iterator[None]:
    """Inside the block, this thread flushes subnormals to zero (FTZ and DAZ)
    if ``enabled`` and keeps them if not; the previous mode is restored on
    exit, also on an exception."""
    previous = set_flush_to_zero(enabled)
    try:
        yield
    finally:
        if SUPPORTED:
            set_flush_to_zero(previous)
