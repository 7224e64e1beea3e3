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
