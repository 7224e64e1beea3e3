"""The command line as a user runs it: ``python -m rnnbench ...`` in a directory of
the test's, output captured. Imported by the tests that drive the CLI."""

from __future__ import annotations

import subprocess
import sys


def rnnbench(*args: str, cwd, env=None) -> subprocess.CompletedProcess:
    """Run ``rnnbench ARGS`` in ``cwd`` (with ``env`` if given) and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "rnnbench", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


# A suite of two variants that trains in a second: a plain RNN and the same with clipping.
TINY_SUITE = """
name = "tiny"
seq_lens = [5]
seeds = [0, 1]
[task]
name = "adding"
[train]
steps = 12
batch_size = 4
log_every = 4
test_size = 8
[[variants]]
name = "plain"
hidden_size = 4
[[variants]]
name = "clipped"
hidden_size = 4
remedies = [{ name = "clip_norm", threshold = 0.5 }]
"""
