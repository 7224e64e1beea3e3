"""Raising glibc's allocation thresholds stops a re-allocated buffer from faulting its pages anew."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PROGRAM = """
import resource, sys
import numpy as np
from rnnbench.engine.memory import keep_allocations
if sys.argv[1] == "keep":
    assert keep_allocations()
np.ones(1 << 20)  # warm up numpy's own allocations
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # like a BPTT step: several large arrays, then all freed
    arrays = [np.ones(1 << 20) for _ in range(6)]  # 8 MiB each
    del arrays
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's")
def test_reallocating_a_large_array_no_longer_faults_every_page():
    pages = 20 * 6 * (8 << 20) // 4096  # every page of every allocation
    default, kept = faults("default"), faults("keep")
    assert default > 0.1 * pages  # freed buffers went back to the kernel and fault in again
    assert kept * 10 < default  # they stay in the heap and are reused


def test_keep_allocations_is_idempotent():
    from rnnbench.engine.memory import keep_allocations

    assert keep_allocations() == keep_allocations()
