"""``rnnbench gradcheck`` runs every hook of every remedy on real training
steps, and fails in one line naming the remedy and the hook that crashed or
returned non-finite numbers (finite differences alone never call
``transform_gradients``: such a remedy passed, then every run of it failed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnbench import gradcheck, session
from rnnbench.api import Remedy, SummedInputTransform
from rnnbench.registry import Provider

FIXTURES = Path(__file__).parent / "fixtures"
PLUGIN = FIXTURES / "crashing_hooks_plugin.py"


def rnnbench(*args, cwd):
    return subprocess.run([sys.executable, "-m", "rnnbench", *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize("remedy, line", [
    ("key_error_clip", "error: command line: remedy 'key_error_clip' failed in transform_gradients "
                       "(training steps, mse many-to-one): KeyError: 'W_hidden'"),
    ("broken_penalty", "error: command line: remedy 'broken_penalty' failed in penalty "
                       "(gradient check, mse many-to-one): IndexError: list index out of range"),
    ("nan_clip", "error: command line: remedy 'nan_clip' failed in transform_gradients "
                 "(training steps, mse many-to-one): returned non-finite numbers in ['W_hx']"),
])
def test_a_remedy_whose_hook_crashes_fails_in_one_line_naming_it(tmp_path, remedy, line):
    done = rnnbench("gradcheck", "--plugin", str(PLUGIN), "--remedy", remedy, cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    naming = [text for text in done.stderr.splitlines() if remedy in text]
    assert naming == [line]
    assert ": ok" not in done.stdout  # nothing was said to pass before the crash


# --- in process: every hook runs, and each is named when it crashes -------------------------


class Identity(SummedInputTransform):
    name = "identity"

    def __init__(self, calls):
        self.calls = calls

    def init_params(self, site, groups, size, dtype):
        self.calls.add("summed_input_transform().init_params")
        return {}

    def forward(self, a, params, site, groups):
        self.calls.add("summed_input_transform().forward")
        return a.copy(), None

    def backward(self, dz, cache, params, site, grads):
        self.calls.add("summed_input_transform().backward")
        return dz


class Recording(Remedy):
    """Every hook of the Remedy API, each doing nothing but saying it ran."""

    name = "recording"
    calls: set[str] = set()

    def configure(self, config):
        self.calls.add("configure")
        return config

    def check(self, config):
        self.calls.add("check")

    def summed_input_transform(self):
        self.calls.add("summed_input_transform")
        return Identity(self.calls)

    def truncation(self):
        self.calls.add("truncation")
        return None

    def initialise(self, params, config, rng):
        self.calls.add("initialise")
        return params

    def penalty(self, params):
        self.calls.add("penalty")
        return 0.0, {}

    def transform_gradients(self, grads):
        self.calls.add("transform_gradients")
        return grads


def registry_with(*remedies):
    registry = session.load_plugins()
    for cls in remedies:
        registry.add("remedy", cls, Provider("test"))
    return registry


def checked(registry, remedy, cell="vanilla"):
    variant = gradcheck.command_line_variant(registry, cell, remedies=[remedy])
    return list(gradcheck.check_variant(variant, registry, 1e-6))


def test_every_hook_of_the_remedy_api_runs():
    hooks = ["configure", "check", "summed_input_transform", "truncation", "initialise", "penalty",
             "transform_gradients"]  # the methods of rnnbench.api.Remedy
    assert set(gradcheck.HOOKS) == set(hooks)
    assert all(h in vars(Recording) for h in hooks), "Recording must implement every hook of Remedy"
    Recording.calls.clear()
    checks = checked(registry_with(Recording), "recording")
    assert len(checks) == len(gradcheck.PROBLEMS) and not any(c.failed for c in checks)
    transform = {f"summed_input_transform().{m}" for m in ("init_params", "forward", "backward")}
    assert Recording.calls == set(hooks) | transform


def test_transform_gradients_is_run_on_real_steps():
    """Without the training steps, a remedy whose only hook crashes passes."""
    seen = []

    class Counting(Remedy):
        name = "counting"

        def transform_gradients(self, grads):
            seen.append({name: g.dtype for name, g in grads.items()})
            return grads

    checked(registry_with(Counting), "counting")
    assert len(seen) == gradcheck.STEPS * len(gradcheck.PROBLEMS)
    assert all(dtype == np.float32 for step in seen for dtype in step.values())  # the run's dtype


@pytest.mark.parametrize("hook", sorted(set(gradcheck.HOOKS) | {"forward", "backward"}))
def test_a_crash_in_any_hook_is_named(hook):
    def boom(self, *args, **kwargs):
        raise KeyError("no_such_parameter")

    if hook in ("forward", "backward"):  # the summed-input transform's own methods
        transform = type("Broken", (Identity,), {hook: boom})
        remedy = type("Crashing", (Remedy,), {"name": "crashing",
                                              "summed_input_transform": lambda self: transform(set())})
        named = f"summed_input_transform().{hook}"
    else:
        remedy = type("Crashing", (Remedy,), {"name": "crashing", hook: boom})
        named = hook
    registry = registry_with(remedy)
    with pytest.raises(gradcheck.Crashed) as caught:
        checked(registry, "crashing")
    assert (caught.value.remedy, caught.value.hook) == ("crashing", named)
    message = str(caught.value)
    assert message.startswith(f"remedy 'crashing' failed in {named} (") and len(message.splitlines()) == 1
    assert message.endswith(": KeyError: 'no_such_parameter'")


def test_a_refusal_in_check_still_means_the_combination_does_not_fit():
    class Refusing(Remedy):
        name = "refusing"

        def check(self, config):
            raise ValueError("not for this cell")

    with pytest.raises(ValueError, match="remedy 'refusing' does not apply here: not for this cell"):
        checked(registry_with(Refusing), "refusing")


def test_the_outermost_hook_is_named_and_a_remedys_own_exceptions_are_left_alone():
    handled = []

    class Nested(Remedy):
        """penalty raises only when transform_gradients calls it: the finite-difference
        check (which calls penalty, never transform_gradients) passes."""

        name = "nested"
        inside = False

        def penalty(self, params):
            if self.inside:
                raise KeyError("inner")
            return None

        def transform_gradients(self, grads):
            self.inside = True
            try:
                try:
                    self.penalty({})
                except KeyError as exc:  # the remedy's own handling still works: the exception as raised
                    handled.append(exc)
                return self.penalty(grads)
            finally:
                self.inside = False

    with pytest.raises(gradcheck.Crashed) as caught:
        checked(registry_with(Nested), "nested")
    assert [type(exc) for exc in handled] == [KeyError]
    assert (caught.value.remedy, caught.value.hook) == ("nested", "transform_gradients")  # not penalty
    assert str(caught.value) == ("remedy 'nested' failed in transform_gradients "
                                 "(training steps, mse many-to-one): KeyError: 'inner'")
    assert isinstance(caught.value.__cause__, KeyError)  # the remedy's exception, not replaced


def test_the_builtin_remedies_pass():
    registry = session.load_plugins()
    for cell in ("vanilla", "lstm", "gru"):
        for remedy in registry.names("remedy"):
            try:
                variant = gradcheck.command_line_variant(registry, cell, remedies=[remedy])
            except ValueError:  # the remedy does not apply to this cell
                continue
            for check in gradcheck.check_variant(variant, registry, 1e-6):
                assert not check.failed, (cell, remedy, check)


def test_a_crash_in_check_is_one_line_on_the_command_line(tmp_path):
    (tmp_path / "checking.py").write_text(
        "from rnnbench import hookimpl\n"
        "from rnnbench.api import Remedy\n\n\n"
        "class Checking(Remedy):\n"
        "    name = 'checking'\n\n"
        "    def check(self, config):\n"
        "        return config.no_such_field\n\n\n"
        "@hookimpl\n"
        "def rnnbench_register_remedies():\n"
        "    return [Checking]\n"
    )
    done = rnnbench("gradcheck", "--plugin", "checking.py", "--remedy", "checking", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "error: command line: remedy 'checking' failed in check (checking the combination): "
        "AttributeError: 'ModelConfig' object has no attribute 'no_such_field'"
    ]


def test_the_chrono_initialised_lstm_passes_where_round_off_once_failed_it():
    """Its saturated forget gates make the W_hh gradient small beside the loss: at a
    finite-difference step of 1e-6 round-off gave 2e-6 > 1e-6; the step balancing
    round-off against truncation (1e-5) gives about 1e-7, while a wrong formula still
    gives 1e-2 (tests/test_textbook.py)."""
    done = subprocess.run([sys.executable, "-m", "rnnbench", "gradcheck", "gates", "--variant", "LSTM, chrono init"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": ok") == 2
