"""Suite validation: structure, plugin names and plugin parameters."""

from __future__ import annotations

import pytest

from rnnbench.resolve import resolve_data
from rnnbench.spec import RunSpec, SpecError, json_schema, loads_suite, parse_suite


def errors_of(data, registry):
    with pytest.raises(SpecError) as info:
        resolve_data(data, registry)
    return info.value.lines


def test_grid_expands_lengths_by_variants_by_seeds(small_suite_data, registry):
    small_suite_data["seq_lens"] = [5, 9]
    suite = resolve_data(small_suite_data, registry)
    runs = suite.runs()
    assert len(runs) == 2 * 2 * 2
    assert [(r.seq_len, r.variant.name, r.seed) for r in runs[:3]] == [
        (5, "tanh", 0), (5, "tanh", 1), (5, "tanh + clip", 0)
    ]
    assert len({r.key() for r in runs}) == len(runs)


def test_remedy_defaults_are_filled_in_so_the_key_covers_them(small_suite_data, registry):
    small_suite_data["variants"][1]["remedies"] = [{"name": "clip_norm"}]
    explicit = resolve_data(small_suite_data, registry)
    assert explicit.variants[1].remedies[0].params == {"threshold": 1.0}
    small_suite_data["variants"][1]["remedies"] = ["clip_norm"]
    bare = resolve_data(small_suite_data, registry)
    assert bare.runs()[2].key() == explicit.runs()[2].key()


def test_key_is_stable_across_a_json_round_trip(small_suite):
    run = small_suite.runs()[3]
    again = RunSpec.model_validate_json(run.model_dump_json())
    assert again.key() == run.key()
    changed = run.model_copy(update={"seed": 99})
    assert changed.key() != run.key()


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d.update(seq_lens=[0]), "seq_lens[0]: Input should be greater than 0"),
        (lambda d: d.update(seq_lens=[]), "seq_lens: List should have at least 1 item"),
        (lambda d: d.update(variants=[]), "variants: List should have at least 1 item"),
        (lambda d: d["train"].update(steps="many"), "train.steps: Input should be a valid integer"),
        (lambda d: d["train"].update(learning_rate=-1), "train.learning_rate: Input should be greater than 0"),
        (lambda d: d.update(colour="red"), "colour: unknown key"),
        (lambda d: d["variants"][0].update(hidden="8"), "variants[0].hidden: unknown key"),
        (lambda d: d["task"].update(name="addding"), "task: unknown task 'addding'; known: adding"),
        (
            lambda d: d["variants"][1]["remedies"][0].update(name="clip"),
            "variants[1].remedies[0]: unknown remedy 'clip'; known: chrono_init, clip_norm",
        ),
        (
            lambda d: d["variants"][1]["remedies"][0].update(threshold=0),
            "variants[1].remedies[0]: remedy 'clip_norm': threshold: Input should be greater than 0",
        ),
        (
            lambda d: d["variants"][1]["remedies"][0].update(thresh=2),
            "variants[1].remedies[0]: remedy 'clip_norm': thresh: Extra inputs are not permitted",
        ),
        (lambda d: d["variants"][0].update(cell="lstn"), "variants[0]: unknown cell 'lstn'; known: antisymmetric, cornn, exprnn, gru, indrnn, lru, lstm, torch_gru, torch_lstm, torch_vanilla, vanilla"),
        (
            lambda d: d["variants"][0].update(activation="sigmoid"),
            "variants[0]: activation 'sigmoid' is not available for cell 'vanilla'",
        ),
        (lambda d: d["variants"][1].update(name="tanh"), "variants: variant name 'tanh' is used twice"),
        (lambda d: d["train"].update(optimizer="lbfgs"), "train.optimizer: unknown optimizer 'lbfgs'"),
        (lambda d: d.update(name="../x"),
         "name: '../x': use letters, digits, '_', '.' and '-', starting with a letter or digit"),
        (lambda d: d.pop("task"), "task: Field required"),
    ],
)
def test_each_bad_input_gives_one_line_naming_the_field(small_suite_data, registry, mutate, expected):
    mutate(small_suite_data)
    lines = errors_of(small_suite_data, registry)
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected), lines


def test_broken_toml_names_the_source_and_the_position(registry):
    with pytest.raises(SpecError) as info:
        loads_suite('name = "x"\nseeds = [0,]]\n', "my.toml", registry)
    (line,) = info.value.lines
    assert line.startswith("my.toml: invalid TOML:") and "line" in line


def test_structure_is_checked_without_a_registry(small_suite_data):
    small_suite_data["task"]["name"] = "no-such-task"  # names need the registry
    assert parse_suite(small_suite_data).task.name == "no-such-task"
    small_suite_data["seeds"] = [-1]
    with pytest.raises(SpecError):
        parse_suite(small_suite_data)


def test_schema_lists_every_plugin_with_its_parameters(registry):
    schema = json_schema(registry)
    remedies = schema["$defs"]["RemedyRef"]["anyOf"]
    clip = next(alt for alt in remedies if alt.get("title") == "remedy clip_norm")
    assert clip["properties"]["threshold"]["exclusiveMinimum"] == 0
    assert clip["additionalProperties"] is False
    assert {"const": "adding"} in schema["$defs"]["TaskRef"]["anyOf"]
    assert schema["additionalProperties"] is False
