"""Cells written in PyTorch (rnnbench.torch_cell, plugins/torch_cells.py): the
torch versions of the built-in cells held equal to the numpy engine, a wrong
formula caught by the same comparison, the probes changing nothing, float32, a
user's torch.nn.Module run end to end from the command line, the remedies,
the executors, the device settings, and torch staying optional."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from rnnbench.api import ModelConfig
from rnnbench.engine import fast
from rnnbench.engine.network import cast
from rnnbench.extras import MissingExtra, installed
from rnnbench.gradcheck import check_variant, make_problem
from rnnbench.registry import load_registry
from rnnbench.resolve import resolve_data, resolve_variant
from rnnbench.runner import run_suite
from rnnbench.spec import ExecutionSpec, VariantSpec
from rnnbench.store import Store
from rnnbench.variant import build_model

from command import rnnbench

REGISTRY = load_registry()
CELLS = ("vanilla", "lstm", "gru")
EQUAL = 1e-10  # float64: the torch cells and the numpy engine agree to this, relatively

# What a command line sees when torch is not installed: a finder that says torch is not there
# (sys.modules["torch"] = None would do for rnnbench, but scipy reads sys.modules["torch"] as a module)
HIDE_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NoTorch())
"""

SUITE = """
name = "gated"
seq_lens = [10]
seeds = [0, 1]
[task]
name = "adding"
[train]
steps = 30
batch_size = 8
log_every = 10
test_size = 16
validation_size = 16
[[variants]]
name = "gated"
cell = "gated_torch"
init = "module"
hidden_size = 6
[[variants]]
name = "torch lstm"
cell = "torch_lstm"
hidden_size = 6
remedies = [{ name = "clip_norm", threshold = 1.0 }]
"""

# A user's cell: a torch.nn.Module, registered by a plugin file
PLUGIN = '''
import torch
from rnnbench import hookimpl
from rnnbench.api import torch_cell


class Gated(torch.nn.Module):
    """h_t = z_t * h_{t-1} + (1 - z_t) * tanh(W [x_t; h_{t-1}] + b),  z_t = sigmoid(W_z [x_t; h_{t-1}] + b_z)."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.gate = torch.nn.Linear(input_size + hidden_size, hidden_size)
        self.candidate = torch.nn.Linear(input_size + hidden_size, hidden_size)

    def forward(self, x, h):
        xh = torch.cat([x, h], dim=1)
        z = torch.sigmoid(self.gate(xh))
        return z * h + (1 - z) * torch.tanh(self.candidate(xh))


@hookimpl
def rnnbench_register_cells():
    return [torch_cell(Gated, "gated_torch")]
'''


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def variant(**fields):
    return resolve_variant(VariantSpec.model_validate({"name": "v", "hidden_size": 5, **fields}), REGISTRY)


def problem(cell, loss, many_to_one, seed=3, seq_len=9):
    return make_problem(variant(cell=cell), REGISTRY, seq_len, loss=loss, many_to_one=many_to_one, seed=seed)


def with_g(network, params, batch):
    """The loss, the parameter gradients and the g_t that backward gave on the way."""
    seen = {}
    backward = network.cell.backward

    def spy(*args, **kwargs):
        grads, seen["g"] = backward(*args, **kwargs)
        return grads, seen["g"]

    network.cell.backward = spy
    try:
        loss, grads = network.loss_and_gradients(params, batch)
    finally:
        del network.cell.backward
    return loss, grads, seen["g"]


def relative(a, b, axis=None) -> float:
    """max |a - b| / |b|: over the whole array (axis None), or per slice along ``axis`` (norms)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if axis is None:
        return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
    rest = tuple(i for i in range(a.ndim) if i != axis)
    apart, size = np.sqrt(((a - b) ** 2).sum(axis=rest)), np.sqrt((b**2).sum(axis=rest))
    # where b is zero (g before a cut, many-to-one), a must be zero too
    return float(np.max(np.where(size > 0, apart / np.where(size > 0, size, 1.0), np.where(apart > 0, np.inf, 0.0))))


def differences(reference, candidate, truncate) -> dict[str, float]:
    """The relative difference of every quantity the report uses, between two
    problems on the same weights and batch: loss, each parameter's gradient, g_t
    (per step), the decay profile and the other states' profiles (per entry)."""
    out = {}
    for p in (reference, candidate):
        p.model.network.truncate = truncate
    loss_r, grads_r, g_r = with_g(reference.model.network, reference.model.params, reference.batch)
    loss_c, grads_c, g_c = with_g(candidate.model.network, candidate.model.params, candidate.batch)
    out["loss"] = abs(loss_c - loss_r) / abs(loss_r)
    assert set(grads_c) == set(grads_r)
    out |= {name: relative(grads_c[name], grads_r[name]) for name in grads_r}
    out["g"] = relative(g_c, g_r, axis=0)
    net_r, net_c = reference.model.network, candidate.model.network
    profile_r = net_r.decay_profile(reference.model.params, reference.batch)
    out["decay"] = float(np.max(np.abs(net_c.decay_profile(candidate.model.params, candidate.batch) / profile_r - 1)))
    states_r = net_r.state_profiles(reference.model.params, reference.batch)
    states_c = net_c.state_profiles(candidate.model.params, candidate.batch)
    assert set(states_c) == set(states_r)
    out |= {f"state {k}": float(np.max(np.abs(states_c[k] / v - 1))) for k, v in states_r.items()}
    return out


# --- the torch cells equal the numpy engine ---------------------------------------------------


@pytest.mark.parametrize("engine", ["fast", "textbook"])
@pytest.mark.parametrize("truncate", [None, 4])
@pytest.mark.parametrize("loss, many_to_one", [("mse", True), ("cross_entropy", False)])
@pytest.mark.parametrize("cell", CELLS)
def test_the_torch_cells_equal_the_numpy_engine(torch, cell, loss, many_to_one, truncate, engine):
    if engine == "fast" and not fast.numba_available():
        pytest.skip("numba is not installed")
    with fast.engine(engine):
        reference = problem(cell, loss, many_to_one)
        candidate = problem(f"torch_{cell}", loss, many_to_one)
        for name, value in reference.model.params.items():  # the same weights, from the same seed
            np.testing.assert_array_equal(candidate.model.params[name], value)
        if not many_to_one:
            assert 0 < candidate.batch.mask.sum() < candidate.batch.mask.size
        found = differences(reference, candidate, truncate)
    expected = {"loss", "W_hx", "W_hh", "b_h", "W_hy", "b_y", "g", "decay"} | ({"state c"} if cell == "lstm" else set())
    assert set(found) == expected
    assert max(found.values()) < EQUAL, found


@pytest.mark.parametrize("cell", CELLS)
def test_a_truncated_graph_is_built_once_the_cell_knows_the_cut(torch, cell):
    """Backward re-runs the unroll when the forward graph has other cuts (the first
    truncated step, a full-BPTT decay profile); the next forward is cut as
    training asks, and both give the same gradients."""
    reference, candidate = problem(cell, "mse", True), problem(f"torch_{cell}", "mse", True)
    for p in (reference, candidate):
        p.model.network.truncate = 4
    _, expected = reference.model.loss_and_gradients(reference.batch)
    torch_cell = candidate.model.network.cell
    unrolls = []
    unroll = torch_cell._unroll
    torch_cell._unroll = lambda *args: unrolls.append(args[-1]) or unroll(*args)
    first = candidate.model.loss_and_gradients(candidate.batch)[1]
    second = candidate.model.loss_and_gradients(candidate.batch)[1]
    assert unrolls == [None, 4, 4]  # forward uncut, backward re-runs cut; then one cut forward
    for grads in (first, second):
        assert max(relative(grads[n], expected[n]) for n in expected) < EQUAL


class SwappedGRU(REGISTRY.get("cell", "torch_gru")):
    """The GRU with z_t and 1 - z_t swapped in (G5): a wrong formula."""

    def step(self, p, x_t, h):
        x_rz, x_n = x_t
        r, z = x_rz.addmm(h, p["U_rz^T"]).sigmoid().chunk(2, 1)
        n = x_n.addmm(r * h, p["U_n^T"]).tanh()
        return z * n + (1 - z) * h


class ScaledTanh(REGISTRY.get("cell", "torch_vanilla")):
    """The vanilla cell with tanh scaled by 1 + 1e-8: a barely wrong formula."""

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        self.f = lambda a: a.tanh() * (1 + 1e-8)


@pytest.mark.parametrize("cell, wrong, at_least", [("gru", SwappedGRU, 1e-2), ("vanilla", ScaledTanh, 1e-9)])
def test_a_wrong_formula_fails_the_comparison(torch, cell, wrong, at_least):
    reference, candidate = problem(cell, "mse", True), problem(f"torch_{cell}", "mse", True)
    net = candidate.model.network
    net.cell = wrong(net.cell.config)
    found = differences(reference, candidate, None)
    assert max(found.values()) > at_least > EQUAL, found


# --- the probes ---------------------------------------------------------------------------------


def plain_unroll(torch, cell, params, x):
    """The cell's steps without probes nor cuts: the parameters (leaves) and h_1..h_T."""
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items() if k not in ("W_hy", "b_y")}
    q, xt = dict(p), torch.tensor(x)
    inputs = cell.prepare(q, xt)
    inputs = inputs.unbind(0) if hasattr(inputs, "unbind") else inputs
    state, hs = cell.initial_state(x.shape[1], xt), []
    for t in range(x.shape[0]):
        state = cell.step(q, inputs[t], state)
        hs.append(state if len(cell.states) == 1 else state[cell.states.index("h")])
    return p, hs


@pytest.mark.parametrize("cell", [f"torch_{c}" for c in CELLS])
def test_the_probes_change_neither_the_loss_nor_the_parameter_gradients(torch, cell):
    prob = problem(cell, "mse", True)
    net, params, batch = prob.model.network, prob.model.params, prob.batch
    p, hs = plain_unroll(torch, net.cell, params, batch.x)
    h, _ = net.cell.forward(params, batch.x)
    np.testing.assert_array_equal(h, torch.stack(hs).detach().numpy())  # so the loss is the same
    cache, d = net._final_loss_gradient(params, batch)
    grads, _ = net.cell.backward(params, cache, d)
    plain = torch.autograd.grad(hs[-1], list(p.values()), torch.tensor(d[-1]))
    assert set(grads) == set(p)
    for name, expected in zip(p, plain):
        np.testing.assert_allclose(grads[name], expected.numpy(), rtol=1e-14, atol=0)


# --- float32 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", [f"torch_{c}" for c in CELLS])
def test_float32_runs_and_agrees_with_float64(torch, cell):
    v = variant(cell=cell)
    models = {dt: build_model(v, REGISTRY, 3, 2, dt, "mse", True, np.random.default_rng(4)) for dt in ("float32", "float64")}
    batch = problem(cell, "mse", True).batch
    found = {dt: m.loss_and_gradients(cast(batch, np.dtype(dt))) for dt, m in models.items()}
    h32, _ = models["float32"].network.cell.forward(models["float32"].params, cast(batch, np.float32).x)
    assert h32.dtype == np.float32
    (loss32, grads32), (loss64, grads64) = found["float32"], found["float64"]
    assert np.isfinite(loss32) and abs(loss32 - loss64) < 1e-5 * abs(loss64)
    for name, g in grads64.items():
        assert grads32[name].dtype == np.float32
        assert relative(grads32[name], g) < 1e-4, name
        assert relative(grads32[name], g) > 0  # float32 in fact: not the float64 numbers cast


# --- a user's torch.nn.Module, from the command line -----------------------------------------


@pytest.fixture
def plugin(tmp_path):
    (tmp_path / "gated_plugin.py").write_text(PLUGIN)
    return "gated_plugin.py"


def test_a_torch_module_passes_the_gradient_check_from_the_command_line(torch, tmp_path, plugin):
    done = rnnbench("gradcheck", "--plugin", plugin, "--cell", "gated_torch", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "cell gated_torch, activation tanh, init module, no remedy" in done.stdout
    assert done.stdout.count(": ok") == 2  # many-to-one MSE and many-to-many cross-entropy


def test_a_suite_trains_a_torch_module_and_reports_its_gradient_decay(torch, tmp_path, plugin):
    (tmp_path / "suite.toml").write_text(SUITE)
    done = rnnbench("run", "suite.toml", "--plugin", plugin, "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "report: reports/gated/index.html"
    assert (tmp_path / "reports" / "gated" / "index.html").is_file()
    records = [json.loads(p.read_text()) for p in (tmp_path / "results" / "gated" / "runs").glob("*.json")]
    assert sorted((r["spec"]["variant"]["cell"], r["status"]) for r in records) == [
        ("gated_torch", "ok"), ("gated_torch", "ok"), ("torch_lstm", "ok"), ("torch_lstm", "ok")]
    for record in records:
        assert [d["step"] for d in record["decay"]] == [0, 30]  # at the start and the end
        profile = record["decay"][-1]
        assert len(profile["norms"]) == 10 and all(v > 0 for v in profile["norms"])
        states = {"c"} if record["spec"]["variant"]["cell"] == "torch_lstm" else set()
        assert set(profile["state_norms"]) == states
    by_seed = {r["spec"]["seed"]: r["final_test_loss"] for r in records if r["spec"]["variant"]["cell"] == "gated_torch"}
    assert by_seed[0] != by_seed[1]  # the module's initialisation follows the run's seed


def test_a_module_cells_weights_follow_the_seed_and_leave_torchs_generator_alone(torch, tmp_path, plugin, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_registry(extra_modules=(str(tmp_path / plugin),))
    v = resolve_variant(VariantSpec.model_validate(
        {"name": "v", "cell": "gated_torch", "init": "module", "hidden_size": 4}), registry)
    state = torch.random.get_rng_state()
    draws = [build_model(v, registry, 3, 2, "float64", "mse", True, np.random.default_rng(s)).params for s in (0, 0, 1)]
    assert torch.equal(torch.random.get_rng_state(), state)
    assert set(draws[0]) == {"gate.weight", "gate.bias", "candidate.weight", "candidate.bias", "W_hy", "b_y"}
    assert draws[0]["gate.weight"].shape == (4, 7)
    for name in draws[0]:
        np.testing.assert_array_equal(draws[0][name], draws[1][name])
    assert not np.array_equal(draws[0]["gate.weight"], draws[2]["gate.weight"])


MISTAKES = '''
import torch
from rnnbench import hookimpl
from rnnbench.api import torch_cell

class Wide(torch.nn.Module):  # returns a state one unit wider than it is given
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.lin = torch.nn.Linear(input_size, hidden_size + 1)
    def forward(self, x, h):
        return torch.tanh(self.lin(x))

class Numpy(torch.nn.Module):  # returns numpy
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.lin = torch.nn.Linear(input_size, hidden_size)
    def forward(self, x, h):
        return self.lin(x).detach().numpy()

class OneArgument(torch.nn.Module):  # a constructor of another signature
    def __init__(self, size):
        super().__init__()
    def forward(self, x, h):
        return h

@hookimpl
def rnnbench_register_cells():
    return [torch_cell(Wide, "wide"), torch_cell(Numpy, "numpy_state"), torch_cell(OneArgument, "one_argument")]
'''


@pytest.mark.parametrize("cell, said", [
    ("wide", "step 1 returned state part 'h' as shape (3, 5); it must be a tensor of the shape of the state "
             "it was given, (3, 4)"),
    ("numpy_state", "step 1 returned state part 'h' as a ndarray; it must be a tensor"),
    ("one_argument", "building the module as OneArgument(input_size, hidden_size) failed: "),
])
def test_a_module_that_breaks_the_contract_is_named_in_one_line(torch, tmp_path, cell, said):
    (tmp_path / "mistakes.py").write_text(MISTAKES)
    done = rnnbench("gradcheck", "--plugin", "mistakes.py", "--cell", cell, cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    errors = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"cell '{cell}'" in errors[0] and said in errors[0], done.stdout + done.stderr


# --- remedies -----------------------------------------------------------------------------------


def test_remedies_on_parameters_and_gradients_apply_to_a_torch_cell(torch):
    remedies = [{"name": "orthogonal_init", "scale": 1.1}, "l2", "clip_norm", {"name": "truncated_bptt", "steps": 3}]
    checks = list(check_variant(variant(cell="torch_vanilla", remedies=remedies), REGISTRY, tolerance=1e-6))
    assert len(checks) == 2 and not any(c.failed for c in checks), checks


def test_layer_norm_is_refused_for_a_torch_cell_in_one_line(torch):
    with pytest.raises(ValueError) as refused:
        variant(cell="torch_lstm", remedies=["layer_norm"])
    assert str(refused.value) == ("remedy 'layer_norm' does not apply to cell 'torch_lstm': it transforms the "
                                  "summed input inside the cell, and this cell takes no such transform")


# --- executors ----------------------------------------------------------------------------------


SAME = {
    "name": "same", "task": {"name": "adding"}, "seq_lens": [6], "seeds": [0, 1],
    "train": {"learning_rate": 0.1, "steps": 12, "batch_size": 4, "log_every": 6, "test_size": 8},
    "variants": [{"name": "lstm", "cell": "torch_lstm", "hidden_size": 4}],
}


def test_serial_process_and_dask_executors_store_the_same_numbers(torch, tmp_path):
    suite = resolve_data(SAME, REGISTRY)
    executions = [("serial", {}), ("pool", {"executor": "processes", "jobs": 2})]
    if installed("distributed"):
        executions.append(("dask", {"executor": "dask", "jobs": 2}))
    stored = []
    for name, execution in executions:
        store = Store(tmp_path / name / "same")
        assert run_suite(suite, store, REGISTRY, execution=ExecutionSpec(**execution)).counts == {"ok": 2}
        records = (json.loads(p.read_text()) for p in store.runs_dir.glob("*.json"))
        stored.append({r["key"]: (r["curves"], r["decay"], r["final_test_loss"]) for r in records})
    assert all(s == stored[0] for s in stored[1:])
    assert len(stored) == len(executions) and len(stored[0]) == 2


# --- device and threads -------------------------------------------------------------------------


def test_resolve_device_falls_back_to_the_cpu_in_one_line(torch, monkeypatch):
    from rnnbench.torch_cell import resolve_device

    assert resolve_device("cpu") == ("cpu", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "auto"):
        device, message = resolve_device(name)
        assert device == "cpu" and len(message.splitlines()) == 1 and f"'{name}'" in message and "CPU" in message
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == ("cuda", None)
    with pytest.raises(ValueError, match=r"^device: 'gpu' is not a device; choose one of cpu, cuda, auto$"):
        resolve_device("gpu")


def test_the_unroll_runs_one_torch_thread_and_restores_the_count(torch):
    from rnnbench.torch_cell import use_device

    prob = problem("torch_vanilla", "mse", True)
    cell = prob.model.network.cell
    seen = []
    step = cell.step
    cell.step = lambda *args: seen.append(torch.get_num_threads()) or step(*args)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        prob.model.loss_and_gradients(prob.batch)
        assert torch.get_num_threads() == 2 and set(seen) == {1}
        seen.clear()
        with use_device("cpu", threads=None):  # torch's own count
            prob.model.loss_and_gradients(prob.batch)
        assert set(seen) == {2}
    finally:
        torch.set_num_threads(before)


# --- torch stays optional -----------------------------------------------------------------------


def test_loading_the_torch_cells_and_resolving_a_suite_with_them_does_not_import_torch(torch, tmp_path):
    # torch is installed (resolving checks that it is), and still not imported
    code = (
        "import sys\nfrom rnnbench.registry import load_registry\nfrom rnnbench.resolve import resolve_data\n"
        "registry = load_registry()\n"
        "data = {'name': 's', 'task': {'name': 'adding'}, 'seq_lens': [5], 'seeds': [0], 'variants': "
        "[{'name': c, 'cell': c} for c in ('torch_vanilla', 'torch_lstm', 'torch_gru')]}\n"
        "assert len(resolve_data(data, registry).runs()) == 3\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_suite_naming_a_torch_cell_without_torch_is_refused_in_one_line(tmp_path):
    (tmp_path / "suite.toml").write_text(SUITE.replace('"gated_torch"', '"torch_gru"').replace('init = "module"\n', ""))
    code = HIDE_TORCH + "sys.argv[0] = 'rnnbench'\nfrom rnnbench.cli import main\nmain()"
    done = subprocess.run([sys.executable, "-c", code, "validate", "suite.toml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: suite.toml: variants[{i}]: cell_params of cell '{cell}': a cell written in PyTorch needs torch, "
        "which is not installed: pip install 'rnnbench[torch]'" for i, cell in enumerate(("torch_gru", "torch_lstm"))
    ]
    if installed("torch"):
        assert rnnbench("validate", "suite.toml", cwd=tmp_path).returncode == 0  # with it installed


def test_a_torch_cell_run_without_torch_raises_the_missing_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails
    with pytest.raises(ValueError, match=r"cell_params of cell 'torch_vanilla': .* pip install 'rnnbench\[torch\]'$"):
        variant(cell="torch_vanilla")
    cell = REGISTRY.get("cell", "torch_vanilla")(ModelConfig("torch_vanilla", "tanh", "uniform", 3, 4, 2, np.dtype("float64")))
    params = cell.init_params(np.random.default_rng(0))  # numpy: the vanilla cell's own
    assert set(params) == {"W_hx", "W_hh", "b_h"}
    with pytest.raises(MissingExtra, match=r"^a cell written in PyTorch needs torch, .*rnnbench\[torch\]'$"):
        cell.forward(params, np.zeros((4, 2, 3)))


WHERE = """
name = "where"
seq_lens = [6]
seeds = [0]
[task]
name = "adding"
[train]
steps = 4
batch_size = 4
log_every = 2
test_size = 8
validation_size = 8
[[variants]]
name = "torch lstm"
cell = "torch_lstm"
hidden_size = 4
[[variants]]
name = "numpy lstm"
cell = "lstm"
hidden_size = 4
"""


def test_a_gpu_asked_for_without_one_is_one_line_and_the_runs_go_on_on_the_cpu(torch, tmp_path):
    """--device cuda on a machine where torch sees no GPU: one line says so,
    the torch cells train on the CPU, and each record says where it ran."""
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the fallback cannot be seen here")
    (tmp_path / "where.toml").write_text(WHERE)
    done = rnnbench("run", "where.toml", "--device", "cuda", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "GPU" in line]
    assert len(said) == 1 and "device 'cuda'" in said[0] and "run on the CPU" in said[0]
    records = {r["spec"]["variant"]["cell"]: r for r in
               (json.loads(p.read_text()) for p in (tmp_path / "results" / "where" / "runs").glob("*.json"))}
    assert records["torch_lstm"]["versions"]["engine"] == "torch"
    assert records["torch_lstm"]["versions"]["device"] == "cpu"
    assert records["torch_lstm"]["versions"]["torch"] == torch.__version__
    assert records["lstm"]["versions"]["engine"] in ("fast", "textbook")  # the numpy engine's own
    stored = json.loads((tmp_path / "results" / "where" / "suite.json").read_text())
    assert stored["execution"]["device"] == "cpu"  # what the runs used, not what was asked


@pytest.fixture
def two_gpus(torch, monkeypatch):
    """torch told that it sees two GPUs (nothing runs on them: settle and
    worker_device only ask)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_with_gpus_and_no_jobs_given_the_workers_share_them(two_gpus):
    from rnnbench.devices import settle

    torch_suite = resolve_data(SAME, REGISTRY)
    numpy_suite = resolve_data({**SAME, "variants": [{"name": "numpy", "cell": "lstm", "hidden_size": 4}]}, REGISTRY)
    said = []
    settled = settle(ExecutionSpec(device="cuda"), torch_suite, REGISTRY, jobs_given=False, warn=said.append)
    assert (settled.device, settled.jobs, settled.executor) == ("cuda", 4 * 2, "processes") and said == []
    three = settle(ExecutionSpec(device="auto", workers_per_gpu=3), torch_suite, REGISTRY, jobs_given=False)
    assert (three.device, three.jobs) == ("cuda", 6)
    given = settle(ExecutionSpec(device="cuda", jobs=5), torch_suite, REGISTRY, jobs_given=True)
    assert (given.device, given.jobs) == ("cuda", 5)  # --jobs wins
    dask = settle(ExecutionSpec(device="cuda", executor="dask"), torch_suite, REGISTRY, jobs_given=False)
    assert (dask.device, dask.executor, dask.jobs) == ("cuda", "dask", None)  # the cluster decides
    numpy_only = settle(ExecutionSpec(device="cuda"), numpy_suite, REGISTRY, jobs_given=False)
    assert (numpy_only.device, numpy_only.jobs) == ("cpu", None)  # nothing to put on a GPU
    assert settle(ExecutionSpec(), torch_suite, REGISTRY, jobs_given=False) == ExecutionSpec()


def test_each_worker_takes_the_gpu_its_process_id_picks(two_gpus, monkeypatch):
    from rnnbench import devices

    picked = set()
    for pid in (10, 11, 12):
        monkeypatch.setattr(devices.os, "getpid", lambda pid=pid: pid)
        picked.add(devices.worker_device("cuda"))
        assert devices.worker_device("cuda") == f"cuda:{pid % 2}"
    assert picked == {"cuda:0", "cuda:1"}
    assert devices.worker_device("cpu") == "cpu"


def test_a_device_that_does_not_exist_is_refused_in_one_line(tmp_path):
    (tmp_path / "bad.toml").write_text(SUITE + '[execution]\ndevice = "gpu"\n')
    done = rnnbench("validate", "bad.toml", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "execution.device" in done.stderr and "'cpu', 'cuda' or 'auto'" in done.stderr


def test_the_device_check_agrees_with_itself_on_the_cpu_and_catches_a_difference(torch, tmp_path):
    """benchmarks/device_check.py, the script that compares the CPU's selections and
    verdicts with the GPU's, run CPU against CPU: identical; and its comparison
    sees a changed selection, a changed verdict and a changed number."""
    root = pathlib.Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "benchmarks.device_check", "--devices", "cpu", "cpu",
                           "--dtypes", "float64", "--steps", "20", "--seeds", "2", "--out", str(tmp_path)],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "same selections: yes" in done.stdout and "same verdicts:   yes" in done.stdout
    assert "largest relative difference of a run's numbers: 0.00e+00" in done.stdout

    sys.path.insert(0, str(root))
    try:
        from benchmarks.device_check import closest_margin, compare
    finally:
        sys.path.remove(str(root))
    import rnnbench

    results = rnnbench.load(tmp_path / "cpu-0" / "results" / "device_check_float64")
    runs, found, margin = results.runs(), results.findings(), closest_margin(results)
    trials = runs[runs["role"] == "tuning"]
    losses = sorted(trials[trials["variant"] == "tanh"].groupby("trial")["final_validation_loss"].mean())
    assert margin <= (losses[1] - losses[0]) / losses[0] and 0 < margin < 1  # one tuning seed: its loss is the score
    assert compare((runs, found, margin), (runs.copy(), found.copy(), margin))["same_selections"]
    other = runs.copy()
    other.loc[other["role"] == "evaluation", "learning_rate"] *= 10
    assert not compare((runs, found, margin), (other, found, margin))["same_selections"]
    changed = found.copy()
    changed.loc[0, "outcome"] = "contradicted" if found.loc[0, "outcome"] != "contradicted" else "reproduced"
    assert not compare((runs, found, margin), (runs, changed, margin))["same_verdicts"]
    nudged = runs.copy()
    nudged["final_test_loss"] *= 1 + 1e-6
    assert compare((runs, found, margin), (nudged, found, margin))["largest_relative_difference"] == pytest.approx(
        1e-6, rel=1e-3)


def test_the_gpu_tables_run_through_on_the_cpu(torch, capsys):
    """benchmarks/torch_cells.py's GPU tables, pointed at the CPU: a row per cell
    beside its references, and a row per worker count whose workers all ran
    (the barrier lets none take two tasks)."""
    root = str(pathlib.Path(__file__).resolve().parents[1])
    sys.path.insert(0, root)
    try:
        from benchmarks.torch_cells import gpu_references, gpu_table
    finally:
        sys.path.remove(root)
    gpu_references(["lstm"], (4, 4, 5), 2, 1, "float64", device="cpu")
    gpu_table(["vanilla"], (4, 4, 5), [1, 2], 3, "float64", device="cpu")
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("| lstm", "| vanilla"))]
    assert len(rows) == 3 and rows[0].startswith("| lstm | 4, 4, 5 |")
    assert [row.split("|")[3].strip() for row in rows[1:]] == ["1", "2"]
    assert all(float(row.split("|")[-2]) > 0 for row in rows)


def test_the_readmes_torch_cell_runs_as_written_from_its_file(torch, tmp_path):
    """README, "Bring a PyTorch cell": the module shown is plugins/examples/min_gru.py
    word for word, and its commands, run as written, check its gradients, add it
    to the default suite and train it with its decay profile in the report (the
    suite cut to 2 seeds and 30 steps here, so that the test takes seconds)."""
    import os
    import re
    import shutil
    from pathlib import Path

    import docs

    _, shown = docs.block_starting_with("# min_gru.py")
    example = docs.ROOT / "plugins" / "examples" / "min_gru.py"
    assert shown == example.read_text(encoding="utf-8")
    shutil.copy(example, tmp_path / "min_gru.py")
    _, commands = docs.block_starting_with("rnnbench gradcheck --plugin min_gru.py", kind="sh")
    *setup, last = commands.rstrip("\n").split("\n")
    assert last == "rnnbench run mine.toml --plugin min_gru.py"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(setup)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(": ok") == 2  # the gradient check, both problems
    suite = (tmp_path / "mine.toml").read_text(encoding="utf-8")
    suite = re.sub(r"(?m)^seeds = \[[0-9, ]+\]", "seeds = [0, 1]", suite, count=1)
    suite = re.sub(r"(?m)^steps = \d+", "steps = 30", suite, count=1)
    (tmp_path / "mine.toml").write_text(suite, encoding="utf-8")
    done = subprocess.run(["bash", "-c", last], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "report: reports/mine/index.html"
    records = [json.loads(p.read_text()) for p in (tmp_path / "results" / "mine" / "runs").glob("*.json")]
    mine = [r for r in records if r["spec"]["variant"]["name"] == "minGRU"]
    assert len(mine) == 4 + 2 and all(r["status"] == "ok" for r in mine)  # its tuning trials, its seeds
    assert all(r["spec"]["variant"]["init"] == "module" for r in mine)  # the module's own initialisation
    profile = next(r for r in mine if r["spec"]["seed"] == 0)["decay"][-1]["norms"]
    assert len(profile) == 150 and all(v > 0 for v in profile)
    assert 'alt="Gradient norm against distance back in time' in (tmp_path / "reports" / "mine" / "index.html").read_text()


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_rnnbenchs_optimisers_equal_torch_optims_on_the_same_gradients(torch, name):
    """One implementation of each optimiser serves numpy and torch cells alike:
    rnnbench's SGD and Adam take the steps torch.optim takes, to round-off."""
    from rnnbench.spec import OptimizerRef

    rng = np.random.default_rng(0)
    weights = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    ours = REGISTRY.create("optimizer", OptimizerRef(name=name), 0.01)
    tensors = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in weights.items()}
    theirs = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[name](list(tensors.values()), lr=0.01)
    for _ in range(5):
        grads = {k: rng.normal(size=v.shape) for k, v in weights.items()}
        ours.step(weights, grads)
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k])
        theirs.step()
    for k in weights:
        np.testing.assert_allclose(weights[k], tensors[k].detach().numpy(), rtol=0, atol=1e-15)
