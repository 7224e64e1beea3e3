"""Verdicts that do not depend on the engine path: the default suite's quick
version, trained on the textbook path (numba hidden, in a subprocess) and on
the compiled fast path, gives the same verdict on every finding.

The two paths agree to about 1e-9 (``test_textbook.py``), not bit for bit, so
this checks what a user reads: outcome, direction of the point estimates, and
p-values equal to round-off."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from rnnbench import builtin_suites
from rnnbench.registry import load_registry

# Trains the default suite's quick version with numba made unimportable, as if it
# were not installed, into the folder given on the command line, and prints its verdicts.
VERDICTS = """
import json, sys
if sys.argv[2] == "textbook":
    sys.modules["numba"] = None  # import numba now raises ImportError
from rnnbench import builtin_suites
from rnnbench.registry import load_registry
from rnnbench.report.findings import check
from rnnbench.runner import run_suite
from rnnbench.spec import ExecutionSpec
from rnnbench.store import Store
registry = load_registry()
suite = builtin_suites.load("default", registry).quick_version()
store = Store.for_suite(sys.argv[1], suite)
run_suite(suite, store, registry, execution=ExecutionSpec(executor="serial"))  # in this process
print(json.dumps([[v.finding.claim, v.seq_len, v.outcome, v.held, v.p]
                  for v in check(suite, store.results(), store.trials())]))
print(json.dumps(sorted(m for m in sys.modules if m.endswith("_kernels"))))
"""


def _verdicts(folder, path: str) -> tuple[list, list]:
    process = subprocess.run([sys.executable, "-c", VERDICTS, str(folder), path],
                             capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr
    verdicts, kernels = process.stdout.strip().splitlines()[-2:]
    return json.loads(verdicts), json.loads(kernels)


@pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                    reason="the fast path needs numba (the 'fast' extra)")
def test_the_default_suite_gives_the_same_verdicts_on_the_textbook_and_the_fast_path(tmp_path):
    textbook, kernels = _verdicts(tmp_path / "textbook", "textbook")
    assert kernels == []  # it really ran without the compiled kernels
    fast, kernels = _verdicts(tmp_path / "fast", "fast")
    assert kernels  # and this one with them
    assert len(fast) == len(builtin_suites.load("default", load_registry()).findings) == 5
    for (claim, seq_len, outcome, held, p), other in zip(fast, textbook):
        assert [claim, seq_len, outcome, held] == other[:4]
        assert p == pytest.approx(other[4], rel=1e-6, abs=1e-12), claim
