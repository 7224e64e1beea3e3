"""Optional dependencies: a suite that needs one that is not installed is refused
in one line that names the extra installing it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rnnbench import extras
from rnnbench.resolve import resolve_data
from rnnbench.spec import SpecError

from command import rnnbench

DIGITS = """
name = "digits"
seq_lens = [64]
seeds = [0]
[task]
name = "digits"
[[variants]]
name = "tanh"
"""


def without(module: str, *args: str, cwd) -> subprocess.CompletedProcess:
    """``rnnbench ARGS`` in a process where ``module`` cannot be imported, as if it were not installed."""
    code = f"import sys; sys.modules[{module!r}] = None; sys.argv[0] = 'rnnbench'; from rnnbench.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_installed_does_not_import_and_sees_a_blocked_module(monkeypatch):
    assert extras.installed("json") and not extras.installed("no_such_module_anywhere")
    monkeypatch.setitem(sys.modules, "json", None)
    assert not extras.installed("json")
    with pytest.raises(extras.MissingExtra, match=r"^x needs json, which is not installed: pip install 'rnnbench\[y\]'$"):
        extras.require("json", "x", "json", "y")


def test_the_digits_task_without_scikit_learn_is_refused_in_one_line(tmp_path):
    (tmp_path / "digits.toml").write_text(DIGITS)
    done = without("sklearn", "validate", "digits.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == ("error: digits.toml: task: task 'digits': the digits task needs scikit-learn, "
                           "which is not installed: pip install 'rnnbench[digits]'\n")
    assert rnnbench("validate", "digits.toml", cwd=tmp_path).returncode == 0  # with it installed


def test_the_digits_task_without_scikit_learn_from_python(registry, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    data = {"name": "d", "task": {"name": "digits"}, "seq_lens": [64], "seeds": [0], "variants": [{"name": "tanh"}]}
    with pytest.raises(SpecError, match=r"^task: task 'digits': .* pip install 'rnnbench\[digits\]'$"):
        resolve_data(data, registry)
    from rnnbench_plugins import digits

    digits.load.cache_clear()
    try:
        with pytest.raises(extras.MissingExtra, match=r"rnnbench\[digits\]"):
            digits.load()
    finally:
        digits.load.cache_clear()


def test_no_built_in_suite_needs_an_extra(registry):
    from rnnbench import builtin_suites

    assert all(builtin_suites.load(name, registry).task.name != "digits" for name in builtin_suites.names())
