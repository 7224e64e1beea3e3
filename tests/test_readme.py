"""Every TOML, Python and shell block of the README and of the files its long
sections moved to (reports/, plugins/, benchmarks/ README.md) holds: a suite
example resolves against the plugins (a tuning example refused by `run` once
stood in it), the other TOML examples validate, each Python block compiles, and
each `rnnbench` command in a shell block names a verb and options that exist."""

from __future__ import annotations

import ast
import copy
import shlex
import textwrap
import tomllib

import pytest

from rnnbench.cli import main
from rnnbench.resolve import resolve, resolve_data
from rnnbench.spec import ExecutionSpec

import docs
from docs import PLUGINS, README


def blocks(kind: str) -> list[str]:
    return [text for _, text in docs.blocks(kind)]


def test_the_readme_has_the_blocks_this_file_checks():
    assert len(blocks("toml")) >= 4 and len(blocks("python")) >= 4 and len(blocks("sh")) >= 4
    readme = [language for language, _ in docs.FENCE.findall(README.read_text(encoding="utf-8"))]
    assert readme.count("python") >= 2 and readme.count("sh") >= 3  # its own examples, besides the moved ones


def test_the_readmes_plugin_example_is_the_guides():
    """The minimal remedy of the README is step 1 of plugins/README.md, word for word."""
    (readme,) = [text for _, text in docs.blocks("python", docs=[README]) if text.startswith("# rnnbench_spectral.py")]
    assert readme in [text for _, text in docs.blocks("python", docs=[PLUGINS])]


def _suite() -> dict:
    (text,) = [t for t in blocks("toml") if "[[variants]]" in t and "seq_lens" in t]
    return tomllib.loads(text)


def test_the_suite_file_example_resolves(registry):
    suite = resolve_data(_suite(), registry)
    assert suite.variants and suite.seq_lens


def test_the_tuning_example_resolves_beside_the_suite_example_and_spends_its_budget(registry):
    (text,) = [t for t in blocks("toml") if t.lstrip().startswith("[tuning]")]
    example = tomllib.loads(text)
    data = copy.deepcopy(_suite())
    data["tuning"] = example["tuning"]
    data["variants"] += [dict(variant, hidden_size=8) for variant in example["variants"]]
    resolved = resolve(resolve_data(data, registry), registry)
    trials = resolved.trial_runs()
    budget, seeds = example["tuning"]["budget"], len(example["tuning"]["seeds"])
    cells = len(data["seq_lens"]) * len(data["variants"])
    assert len(trials) == cells * budget * seeds  # the same budget for every variant


def test_the_execution_example_validates():
    (text,) = [t for t in blocks("toml") if t.lstrip().startswith("[execution]")]
    ExecutionSpec.model_validate(tomllib.loads(text)["execution"])


def test_the_packaging_example_registers_an_entry_point():
    (text,) = [t for t in blocks("toml") if t.lstrip().startswith("[project]")]
    project = tomllib.loads(text)["project"]
    assert project["entry-points"]["rnnbench"]


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_each_python_block_compiles(index):
    ast.parse(textwrap.dedent(blocks("python")[index]))  # an excerpt of a class's methods is indented


def _commands() -> list[list[str]]:
    """Each `rnnbench ...` command of the shell blocks, as its words (comments cut)."""
    found = []
    for text in blocks("sh"):
        for line in text.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words[:1] == ["rnnbench"]:
                    found.append(words[1:])
    return found


def test_each_rnnbench_command_names_a_verb_and_its_options():
    commands = _commands()
    assert len(commands) >= 8
    for words in commands:
        verb = main.commands.get(words[0] if words else "run")
        assert verb is not None, words
        options = {opt for param in verb.params for opt in getattr(param, "opts", [])}
        for word in words[1:]:
            if word.startswith("--"):
                assert word.split("=")[0] in options, f"rnnbench {words[0]}: no option {word}"
