"""The plugin contract, checked at the door: a class that lacks what its base
class in rnnbench.api requires is refused in one line naming the plugin, the
class and what it lacks; the built-in plugins import nothing from rnnbench but
rnnbench.api; hooks are called through pluggy, so hook wrappers work."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rnnbench import api
from rnnbench.engine import gru, layernorm, lstm, network, vanilla
from rnnbench.registry import BASES, load_registry, required_members

from command import rnnbench

PLUGINS = Path(__file__).parent.parent / "plugins"


# --- the built-in plugins import only rnnbench.api ----------------------------------------------


def rnnbench_imports_besides_the_api(source: str) -> list[str]:
    """The rnnbench modules and names ``source`` imports other than
    rnnbench.api, anywhere in it (in a function too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from rnnbench import x` takes x from the package itself: only `api` is allowed
            imported = [f"rnnbench.{alias.name}" if node.module == "rnnbench" else node.module
                        for alias in node.names]
        else:
            continue
        found += [name for name in imported
                  if (name == "rnnbench" or name.startswith("rnnbench.")) and name != "rnnbench.api"]
    return found


@pytest.mark.parametrize("source, found", [
    ("from rnnbench.api import Remedy, hookimpl", []),
    ("import rnnbench.api\nfrom rnnbench import api", []),
    ("import numpy, rnnbenchmark", []),
    ("from rnnbench import hookimpl", ["rnnbench.hookimpl"]),
    ("from rnnbench.engine.network import global_norm", ["rnnbench.engine.network"]),
    ("import rnnbench.extras as extras", ["rnnbench.extras"]),
    ("def load():\n    from rnnbench.engine import layernorm", ["rnnbench.engine"]),
])
def test_the_import_check_tells_the_api_from_the_internals(source, found):
    assert rnnbench_imports_besides_the_api(source) == found


@pytest.mark.parametrize("path", sorted(PLUGINS.glob("*.py")), ids=lambda path: path.name)
def test_a_builtin_plugin_imports_only_rnnbench_api(path):
    assert rnnbench_imports_besides_the_api(path.read_text(encoding="utf-8")) == []


def test_what_the_api_names_from_the_engine_is_the_engines_own():
    assert api.VanillaCell is vanilla.VanillaCell
    assert api.LSTMCell is lstm.LSTMCell
    assert api.GRUCell is gru.GRUCell
    assert api.global_norm is network.global_norm
    assert (api.layer_norm_forward, api.layer_norm_backward) == (layernorm.forward, layernorm.backward)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        api.nothing  # noqa: B018


# --- the contract, checked when a plugin is loaded ----------------------------------------------


def test_what_each_kind_must_define_comes_from_its_base_class():
    assert {kind: required_members(base) for kind, base in BASES.items()} == {
        "task": ["name", "input_size", "output_size", "sample"],
        "cell": ["name", "activations", "inits", "backward", "forward", "init_params"],
        "remedy": ["name"],
        "optimizer": ["name", "step"],
    }


def test_the_builtins_keep_the_contract(registry):
    assert registry.problems == []
    assert {kind for kind, _ in registry.components} == set(BASES)


SKETCH = '''
from rnnbench.api import Cell, Optimizer, Remedy, Task, hookimpl


class Sketch(Cell):
    """A cell without `activations`."""

    name = "sketch"
    inits = ("normal",)

    def init_params(self, rng):
        return {}

    def forward(self, params, x):
        return x, None

    def backward(self, params, cache, dh_out, truncate=None, loss_steps=None):
        return {}, dh_out


class Shapeless(Task):
    """A task with neither its sizes nor a way to sample."""

    name = "shapeless"


class Still(Optimizer):
    name = "still"


class Loose:
    """A remedy that does not derive from Remedy."""

    name = "loose"


class Kept(Remedy):
    name = "kept"


@hookimpl
def rnnbench_register_cells():
    return [Sketch]


@hookimpl
def rnnbench_register_tasks():
    return [Shapeless]


@hookimpl
def rnnbench_register_optimizers():
    return [Still]


@hookimpl
def rnnbench_register_remedies():
    return [Loose, "kept", Kept]
'''


def test_a_class_that_breaks_the_contract_is_refused_in_one_line_naming_it(tmp_path):
    plugin = tmp_path / "sketch_plugin.py"
    plugin.write_text(SKETCH)
    registry = load_registry([str(plugin)])
    module = "rnnbench_local_sketch_plugin"
    assert registry.problems == [
        f"plugin {plugin}: task 'shapeless' ({module}.Shapeless) does not define 'input_size', "
        "'output_size', 'sample', which rnnbench.api.Task requires; ignored",
        f"plugin {plugin}: cell 'sketch' ({module}.Sketch) does not define 'activations', "
        "which rnnbench.api.Cell requires; ignored",
        f"plugin {plugin}: remedy {module}.Loose is not a subclass of rnnbench.api.Remedy; ignored",
        f"plugin {plugin}: remedy 'kept' is not a class; ignored",
        f"plugin {plugin}: optimizer 'still' ({module}.Still) does not define 'step', "
        "which rnnbench.api.Optimizer requires; ignored",
    ]
    assert ("remedy", "kept") in registry.components  # the rest of the plugin is registered
    for kind, name in [("cell", "sketch"), ("task", "shapeless"), ("remedy", "loose"), ("optimizer", "still")]:
        assert (kind, name) not in registry.components


def test_a_task_may_give_its_sizes_as_properties(tmp_path):
    plugin = tmp_path / "sized_plugin.py"
    plugin.write_text(
        "from rnnbench.api import Task, hookimpl\n"
        "class Sized(Task):\n"
        "    name = 'sized'\n"
        "    input_size = 3\n"
        "    @property\n"
        "    def output_size(self):\n"
        "        return 2\n"
        "    def sample(self, rng, batch_size):\n"
        "        raise NotImplementedError\n"
        "@hookimpl\n"
        "def rnnbench_register_tasks():\n"
        "    return [Sized]\n"
    )
    registry = load_registry([str(plugin)])
    assert registry.problems == [] and ("task", "sized") in registry.components


def test_a_registration_hook_that_returns_no_list_is_named(tmp_path):
    plugin = tmp_path / "single_plugin.py"
    plugin.write_text(
        "from rnnbench.api import Remedy, hookimpl\n"
        "class Single(Remedy):\n"
        "    name = 'single'\n"
        "@hookimpl\n"
        "def rnnbench_register_remedies():\n"
        "    return Single\n"
    )
    (problem,) = load_registry([str(plugin)]).problems
    assert problem == (f"plugin {plugin}: rnnbench_register_remedies returned "
                       "rnnbench_local_single_plugin.Single, not a list of classes; ignored")


def test_the_command_line_warns_of_a_refused_class_in_one_line(tmp_path):
    (tmp_path / "sketch_plugin.py").write_text(SKETCH)
    done = rnnbench("plugins", "--plugin", "sketch_plugin.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "'sketch'" in line]
    assert lines == ["warning: plugin sketch_plugin.py: cell 'sketch' (rnnbench_local_sketch_plugin.Sketch) "
                     "does not define 'activations', which rnnbench.api.Cell requires; ignored"]


# --- hooks are called through pluggy ---------------------------------------------------------------

WRAPPERS = {
    "wrapper=True": (
        "@hookimpl(wrapper=True)\n"
        "def rnnbench_register_remedies():\n"
        "    returned = yield\n"
        "    return [[cls for cls in classes if cls.name != 'clip_value'] for classes in returned]\n"
    ),
    "hookwrapper=True": (
        "@hookimpl(hookwrapper=True)\n"
        "def rnnbench_register_remedies():\n"
        "    outcome = yield\n"
        "    outcome.force_result([[cls for cls in classes if cls.name != 'clip_value']\n"
        "                          for classes in outcome.get_result()])\n"
    ),
}


@pytest.mark.parametrize("wrapper", WRAPPERS.values(), ids=WRAPPERS.keys())
def test_a_hook_wrapper_goes_around_every_plugins_registration(tmp_path, wrapper):
    plugin = tmp_path / "no_clip_value.py"
    plugin.write_text("from rnnbench.api import hookimpl\n" + wrapper)
    registry = load_registry([str(plugin), str(Path(__file__).parent / "fixtures" / "halving_plugin.py")])
    assert registry.problems == []
    assert ("remedy", "clip_value") not in registry.components  # taken out of the built-in plugin's list
    assert ("remedy", "clip_norm") in registry.components  # the same plugin's other remedy stays
    assert ("remedy", "halve") in registry.components  # a plugin loaded after the wrapper's is wrapped too
    assert registry.components[("remedy", "clip_norm")].provider.plugin == "clipping"


def test_a_lifecycle_hook_wrapper_goes_around_each_plugins_call(tmp_path):
    sections = tmp_path / "sections.py"
    sections.write_text(
        "from rnnbench.api import ReportSection, hookimpl\n"
        "@hookimpl\n"
        "def rnnbench_report_section(suite):\n"
        "    return ReportSection(suite)\n"
    )
    loud = tmp_path / "loud.py"
    loud.write_text(
        "from rnnbench.api import ReportSection, hookimpl\n"
        "@hookimpl(wrapper=True)\n"
        "def rnnbench_report_section():\n"
        "    returned = yield\n"
        "    return [ReportSection(section.title.upper()) for section in returned]\n"
    )
    also = tmp_path / "also.py"
    also.write_text(sections.read_text().replace("ReportSection(suite)", "ReportSection('also ' + suite)"))
    registry = load_registry([str(sections), str(loud), str(also)])
    assert registry.problems == []
    calls = list(registry.hooks.call("rnnbench_report_section", suite="tiny", results=[], trials=[]))
    assert [(call.provider.plugin, call.value, call.error) for call in calls] == [
        (str(sections), api.ReportSection("TINY"), None),
        (str(also), api.ReportSection("ALSO TINY"), None),
    ]


def test_a_cell_refuses_the_remedies_it_names_and_the_transforms_it_cannot_take():
    """The cell's side of a combination: ``refused_remedies`` and
    ``takes_transforms``, each refused at validation in one line naming the
    remedy, the cell and the reason."""
    from rnnbench import session
    from rnnbench.api import VanillaCell
    from rnnbench.registry import Provider
    from rnnbench.resolve import resolve_variant
    from rnnbench.spec import VariantSpec

    class Fixed(VanillaCell):
        name = "fixed"
        takes_transforms = False
        refused_remedies = {"orthogonal_init": "its W_hh is fixed"}

    registry = session.load_plugins()
    registry.add("cell", Fixed, Provider("test"))

    def refusal(remedies):
        spec = VariantSpec.model_validate({"name": "v", "cell": "fixed", "hidden_size": 4, "remedies": remedies})
        with pytest.raises(ValueError) as caught:
            resolve_variant(spec, registry)
        return str(caught.value)

    assert "remedy 'orthogonal_init' does not apply to cell 'fixed': its W_hh is fixed" in refusal(["orthogonal_init"])
    message = refusal(["layer_norm"])
    assert "remedy 'layer_norm' does not apply to cell 'fixed'" in message and "summed input" in message
    assert len(message.splitlines()) == 1
    spec = VariantSpec.model_validate({"name": "v", "cell": "fixed", "hidden_size": 4, "remedies": ["clip_norm", "l2"]})
    assert resolve_variant(spec, registry).cell == "fixed"  # the others still apply


def test_a_cells_constraint_is_applied_after_every_update():
    """``Cell.constrain`` runs after the optimiser's step, on the updated parameters."""
    import numpy as np

    from rnnbench import session, training
    from rnnbench.api import VanillaCell
    from rnnbench.registry import Provider
    from rnnbench.resolve import resolve_variant
    from rnnbench.spec import VariantSpec
    from rnnbench.variant import build_model

    class Bounded(VanillaCell):
        name = "bounded"

        def constrain(self, params):
            np.clip(params["W_hh"], -0.01, 0.01, out=params["W_hh"])

    registry = session.load_plugins()
    registry.add("cell", Bounded, Provider("test"))
    spec = resolve_variant(VariantSpec.model_validate({"name": "v", "cell": "bounded", "hidden_size": 4}), registry)
    rng = np.random.default_rng(0)
    model = build_model(spec, registry, 2, 1, "float64", "mse", True, rng)
    assert np.abs(model.params["W_hh"]).max() > 0.01  # the initialisation is not bounded
    from rnnbench.api import Batch
    batch = Batch(rng.normal(size=(5, 3, 2)), rng.normal(size=(3, 1)))
    optimizer = registry.get("optimizer", "sgd")(registry.get("optimizer", "sgd").Params(), 0.1)
    training.train_step(model, optimizer, batch, 1)
    assert np.abs(model.params["W_hh"]).max() <= 0.01
