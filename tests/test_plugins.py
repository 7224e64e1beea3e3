"""The plugin manager: entry points, --plugin modules, broken and clashing plugins."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnbench.registry import UnknownName, load_registry

FIXTURES = Path(__file__).parent / "fixtures"


def test_builtins_come_from_the_entry_point_group_of_the_distribution(registry):
    for kind, name in [("task", "adding"), ("cell", "vanilla"), ("remedy", "clip_norm"), ("optimizer", "sgd")]:
        provider = registry.components[(kind, name)].provider
        assert provider.distribution == "rnnbench" and provider.version
    assert registry.problems == []


def test_without_entry_points_nothing_is_registered():
    assert load_registry(use_entry_points=False).components == {}


def test_unknown_name_lists_the_known_ones_and_says_what_may_be_wrong(registry, tmp_path):
    with pytest.raises(UnknownName, match=r"unknown remedy 'nope'; known: chrono_init, clip_norm") as caught:
        registry.get("remedy", "nope")
    assert str(caught.value).endswith("; is the plugin that provides it installed, or given with --plugin?")
    with pytest.raises(UnknownName, match=r"; did you mean 'clip_norm'\?$"):
        registry.get("remedy", "clip_nrom")
    # a plugin that failed to load is the likely cause: the error says what happened to it
    broken = tmp_path / "broken.py"
    broken.write_text("import nothing_by_this_name\n")
    with_broken = load_registry([str(broken)])
    with pytest.raises(UnknownName) as caught:
        with_broken.get("remedy", "scale_init")
    message = str(caught.value)
    assert "; while loading the plugins: plugin " in message and "broken.py" in message
    assert "nothing_by_this_name" in message and "\n" not in message


def test_a_plugin_module_given_as_a_file_is_loaded():
    registry = load_registry([str(FIXTURES / "halving_plugin.py")])
    assert registry.get("remedy", "halve").__name__ == "Halve"
    assert registry.components[("remedy", "halve")].provider.plugin.endswith("halving_plugin.py")


def test_a_plugin_module_given_by_dotted_name_is_loaded(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    registry = load_registry(["halving_plugin"])
    assert ("remedy", "halve") in registry.components


def test_a_plugin_that_fails_to_import_is_reported_by_name_and_the_rest_load(tmp_path):
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("import no_such_module_anywhere\n")
    registry = load_registry([str(broken), str(FIXTURES / "halving_plugin.py")])
    (problem,) = registry.problems
    assert "broken_plugin.py" in problem and "failed to import" in problem
    assert "ModuleNotFoundError" in problem
    assert ("remedy", "halve") in registry.components
    assert ("remedy", "clip_norm") in registry.components


def test_a_plugin_whose_hook_raises_is_isolated(tmp_path):
    bad = tmp_path / "raising_plugin.py"
    bad.write_text(
        "from rnnbench import hookimpl\n"
        "@hookimpl\n"
        "def rnnbench_register_tasks():\n"
        "    raise RuntimeError('boom')\n"
    )
    registry = load_registry([str(bad)])
    (problem,) = registry.problems
    assert "raising_plugin.py" in problem and "rnnbench_register_tasks raised RuntimeError: boom" in problem
    assert ("task", "adding") in registry.components


def test_a_name_already_taken_is_refused_naming_both_plugins():
    registry = load_registry([str(FIXTURES / "clashing_plugin.py")])
    (problem,) = registry.problems
    assert "clashing_plugin.py" in problem
    assert "'clip_norm' is already registered by plugin clipping (rnnbench" in problem
    assert registry.get("remedy", "clip_norm").__name__ == "ClipNorm"
