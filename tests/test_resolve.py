"""The resolution step: a suite checked for structure, then resolved against
the plugins in one place; the runs it gives are keyed as they always were."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from rnnbench import session, tuning
from rnnbench.resolve import Refused, resolve, resolve_data, resolve_file, resolve_variant
from rnnbench.spec import SpecError, SuiteSpec, VariantSpec, parse_suite

KEYS_SUITE = Path(__file__).parent / "fixtures" / "keys_suite.toml"

# Computed before the resolution step was one function (spec.py validated the
# plugins' parameters inside pydantic validators). The store skips the runs whose
# key it holds: a changed key would make every stored result look missing.
EVALUATION_KEYS = [  # the grid as written (what an untuned suite runs)
    "812197d2cc3b7e483826", "fe42cb5558329d35a3df", "a78ad1c1347e08d74d04", "431e5302ac549fda6ac5",
    "44075ce965f48ff10b79", "a77c0c8f4c9b85d1ff0f", "25fa29af172384e81ec4", "8e0fcca0b673832b63af",
    "c2eea24b3384aafeea81", "7dfc201e3aeacdd929d7", "801c1909a0c563897fe1", "2924795559f406b7cf8a",
]
TRIAL_KEYS = [
    "85a7de8b4bb9ca63f17b", "081e9e15468185be90da", "b7c2f58fd7928816d6b7", "0f877c78969e9824e62e",
    "d3eb0130572937b77c87", "7fd540ec7e1b785785fe", "45432d2fc5efe6f9ec53", "45eecf1a1a5fba1848a3",
    "fbba3f9a9b714436c4f9", "18037f6f76732f0cebe9", "f10c8344a4132489af60", "a45115ffb9335fe29b66",
]


def structure() -> SuiteSpec:
    """The suite as the file gives it, its structure checked (pydantic alone)."""
    return SuiteSpec.model_validate(tomllib.loads(KEYS_SUITE.read_text()))


def test_the_run_keys_of_a_resolved_suite_are_unchanged(registry):
    resolved = resolve(structure(), registry)
    assert [r.key() for r in resolved.suite.runs()] == EVALUATION_KEYS
    assert [r.key() for r in resolved.trial_runs()] == TRIAL_KEYS
    assert [r.key() for r in resolved.runs()] == TRIAL_KEYS  # a tuned suite starts with its trials
    assert [r.key() for r in resolve_file(KEYS_SUITE, registry).runs()] == EVALUATION_KEYS


def test_resolution_writes_every_default_out(registry):
    plain = structure()
    assert plain.variants[1].cell_params == {} and plain.tuning.goal is None
    suite = resolve(plain, registry).suite
    assert suite.variants[1].cell_params == {"forget_bias": 1.0}
    assert suite.variants[0].remedies[1].params == {"weight_decay": 0.0001,
                                                    "groups": ["recurrent", "input", "output"]}
    assert suite.train.optimizer.params == {"beta1": 0.8, "beta2": 0.999, "eps": 1e-8}
    assert suite.tuning.goal == "min"
    # the resolved suite is a fixed point: resolving it again changes nothing
    assert resolve(suite, registry).suite == suite


def test_a_cell_parameter_searched_needs_the_cells_defaults(registry):
    data = tomllib.loads(KEYS_SUITE.read_text())
    assert len(tuning.trial_runs(resolve_data(data, registry))) == len(TRIAL_KEYS)
    structure = parse_suite(data)  # the structure alone does not know the LSTM has a forget bias
    assert structure.variants[1].cell_params == {}
    assert not tuning.applies(structure.variants[1].search[0], structure.variants[1])
    data["variants"][1]["search"][0]["name"] = "cell.forget_bais"
    with pytest.raises(SpecError) as caught:
        resolve_data(data, registry)
    assert caught.value.lines == [
        "variants[1].search[0].name: 'cell.forget_bais': cell 'lstm' has no parameter 'forget_bais' "
        "(it has: forget_bias); did you mean 'forget_bias'?"
    ]


def test_every_plugin_problem_is_one_line_naming_its_field(registry):
    data = tomllib.loads(KEYS_SUITE.read_text())
    data["task"]["name"] = "addding"
    data["variants"][0]["remedies"][0]["threshold"] = 0
    data["variants"][1]["cell_params"] = {"forget_gate": 0.0}
    suite = SuiteSpec.model_validate(data)  # the structure is fine
    with pytest.raises(SpecError) as caught:
        resolve(suite, registry)
    assert caught.value.lines == [
        "task: unknown task 'addding'; known: adding, copy_memory, digits, slot_filling, temporal_order; "
        "did you mean 'adding'?",
        "variants[0].remedies[0]: remedy 'clip_norm': threshold: Input should be greater than 0",
        "variants[1]: cell_params of cell 'lstm': forget_gate: Extra inputs are not permitted",
    ]


def test_a_trial_the_plugins_refuse_names_the_trial_and_the_field(registry):
    data = tomllib.loads(KEYS_SUITE.read_text())
    data["tuning"]["search"][1]["values"] = [0.0, 1.0]
    with pytest.raises(SpecError) as caught:
        resolve_data(data, registry)
    assert caught.value.lines == [
        "tuning: variant 'tanh-clip' at learning_rate=0.01, remedy.clip_norm.threshold=0: "
        "remedies[0]: remedy 'clip_norm': threshold: Input should be greater than 0"
    ]


def test_a_variant_alone_is_resolved_with_the_same_checks(registry):
    assert resolve_variant(VariantSpec(name="v", cell="lstm"), registry).cell_params == {"forget_bias": 1.0}
    with pytest.raises(Refused) as caught:
        resolve_variant(VariantSpec.model_validate({"name": "v", "remedies": ["clip"]}), registry)
    assert caught.value.line(root="command line").startswith("remedies[0]: unknown remedy 'clip'; known: ")


TINY = """
name = "tiny"
seq_lens = [5]
seeds = [0]
task = "adding"
train = { steps = 2, log_every = 1, test_size = 4, validation_size = 4, batch_size = 2 }
variants = [{ name = "tanh", hidden_size = 4 }]
findings = [{ claim = "anything", variant = "tanh", measure = "final_test_loss", below = 1e9 }]
"""


def test_executor_availability_is_checked_once_per_run(registry, monkeypatch, tmp_path):
    import rnnbench.executors as executors

    calls = []
    real = executors.check_available
    monkeypatch.setattr(executors, "check_available", lambda execution: calls.append(execution) or real(execution))
    session.run(tomllib.loads(TINY), out=tmp_path, report=False)
    assert len(calls) == 1


def test_the_findings_are_checked_once_per_run(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import rnnbench.cli as cli
    import rnnbench.report.html as html

    calls = []
    real = html.check_findings

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(html, "check_findings", counting)
    monkeypatch.setattr(cli, "check_findings", counting)
    path = tmp_path / "s.toml"
    path.write_text(TINY)
    done = CliRunner().invoke(cli.main, ["run", str(path), "--out", str(tmp_path), "-q"])
    assert done.exit_code == 0, done.output
    assert "finding, T=5: " in done.output
    assert len(calls) == 1
