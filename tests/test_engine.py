"""The engine's maths against finite differences and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbench.api import Batch, ModelConfig
from rnnbench.engine import blas, columns, layernorm
from rnnbench.engine.activations import ACTIVATION_NAMES, activation
from rnnbench.engine.finite_differences import check_gradients, numerical_gradient
from rnnbench.engine.losses import cross_entropy, mse
from rnnbench.engine.network import Network, init_readout
from rnnbench.engine.step_products import StepProducts
from rnnbench.engine.bptt import cut_before, loss_at
from rnnbench.spec import VariantSpec
from rnnbench.variant import build_model
from rnnbench.engine.vanilla import VanillaCell
from rnnbench_plugins.adding import AddingProblem


def make_network(activation="tanh", init="normal", T=7, B=4, H=5, seed=0, slope=0.01):
    """A vanilla network on the adding problem; ``slope`` is the leaky_relu's."""
    activation_params = {"slope": slope} if activation == "leaky_relu" else {}
    config = ModelConfig("vanilla", activation, init, 2, H, 1, np.dtype(np.float64), activation_params)
    cell = VanillaCell(config)
    rng = np.random.default_rng(seed)
    params = cell.init_params(rng)
    params.update(init_readout(rng, H, 1, np.float64))
    params["b_h"] += rng.normal(0, 0.1, H)  # non-zero biases so their gradient is exercised
    batch = AddingProblem(AddingProblem.Params(), T).sample(rng, B)
    return Network(cell, mse), params, batch


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize("init", VanillaCell.inits)
def test_vanilla_gradients_match_finite_differences(activation, init):
    net, params, batch = make_network(activation, init, slope=0.2)
    _, grads = net.loss_and_gradients(params, batch)
    assert set(grads) == {"W_hx", "W_hh", "b_h", "W_hy", "b_y"}
    errors = check_gradients(lambda: net.loss_value(params, batch), params, grads)
    assert max(errors.values()) < 1e-6, errors


def test_gradient_check_catches_a_wrong_gradient():
    net, params, batch = make_network()
    _, grads = net.loss_and_gradients(params, batch)
    grads["W_hh"] = grads["W_hh"] * 1.01
    errors = check_gradients(lambda: net.loss_value(params, batch), params, grads)
    assert errors["W_hh"] > 1e-3
    assert errors["W_hx"] < 1e-6


def test_mse_and_its_gradient():
    o = np.array([[1.0], [3.0]])
    y = np.array([[0.0], [1.0]])
    loss, do = mse(o, y)
    assert loss == pytest.approx((1 + 4) / 2)
    np.testing.assert_allclose(do, [[1.0], [2.0]])
    np.testing.assert_allclose(numerical_gradient(lambda: mse(o, y)[0], o), do, rtol=1e-8)


def test_cross_entropy_closed_form_and_gradient():
    o = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, -1.0]])
    y = np.array([1, 0])
    loss, do = cross_entropy(o, y)
    p1 = np.exp(2.0) / (np.exp(2.0) + 1.0 + np.exp(-1.0))
    assert loss == pytest.approx((np.log(3.0) - np.log(p1)) / 2, rel=1e-12)
    np.testing.assert_allclose(numerical_gradient(lambda: cross_entropy(o, y)[0], o), do, atol=1e-9)
    big = cross_entropy(np.array([[1000.0, 0.0]]), np.array([0]))[0]
    assert big == pytest.approx(0.0, abs=1e-12)  # no overflow for large logits


@pytest.mark.parametrize("k", [0.5, 1.5])  # at d = 10 the textbook numbers: 0.5^10 ~ 0.00098, 1.5^10 ~ 57.7
def test_decay_profile_of_a_linear_rnn_is_geometric(k):
    T, H = 11, 4
    net, params, batch = make_network("linear", T=T, H=H)
    params["W_hh"] = k * np.eye(H)
    norms = net.decay_profile(params, batch)
    assert norms.shape == (T,)
    ratios = norms / norms[0]
    np.testing.assert_allclose(ratios, k ** np.arange(T), rtol=1e-12)


def test_decay_profile_is_the_mean_per_sequence_gradient_norm():
    net, params, batch = make_network(B=3)
    norms = net.decay_profile(params, batch)
    one = [net.decay_profile(params, Batch(batch.x[:, b : b + 1], batch.y[b : b + 1])) for b in range(3)]
    np.testing.assert_allclose(norms, np.mean(one, axis=0), rtol=1e-12)


def test_float32_forward_matches_float64():
    net, params, batch = make_network(T=20, B=8, H=16)
    loss64 = net.loss_value(params, batch)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    b32 = Batch(batch.x.astype(np.float32), batch.y.astype(np.float32))
    h32, _ = net.cell.forward(p32, b32.x)
    assert h32.dtype == np.float32
    assert net.loss_value(p32, b32) == pytest.approx(loss64, rel=1e-4)


def test_cuts_are_counted_back_from_the_last_step():
    # T = 7, k = 3: chunks {4,5,6}, {1,2,3}, {0}; no gradient from 4 into 3, nor from 1 into 0
    assert list(np.flatnonzero(cut_before(7, 3))) == [0, 3]
    assert not cut_before(7, None).any()
    assert not cut_before(5, 5).any()
    assert list(np.flatnonzero(cut_before(4, 1))) == [0, 1, 2]


def test_layer_norm_normalises_each_block_and_matches_finite_differences():
    rng = np.random.default_rng(2)
    a = rng.normal(3.0, 2.0, (5, 8))
    gain, bias = rng.normal(1, 0.2, 8), rng.normal(0, 0.2, 8)
    z, cache = layernorm.forward(a, np.ones(8), np.zeros(8), 2, 0.0)
    blocks = z.reshape(5, 2, 4)
    np.testing.assert_allclose(blocks.mean(axis=2), 0, atol=1e-12)
    np.testing.assert_allclose(blocks.std(axis=2), 1, rtol=1e-12)
    w = rng.normal(size=(5, 8))  # loss = sum(w * z)
    z, cache = layernorm.forward(a, gain, bias, 2, 1e-5)
    da, dgain, dbias = layernorm.backward(w, gain, cache)
    f = lambda: float(np.sum(w * layernorm.forward(a, gain, bias, 2, 1e-5)[0]))
    np.testing.assert_allclose(da, numerical_gradient(f, a), atol=1e-8)
    np.testing.assert_allclose(dgain, numerical_gradient(f, gain), atol=1e-8)
    np.testing.assert_allclose(dbias, numerical_gradient(f, bias), atol=1e-8)


@pytest.mark.parametrize("T, B", [(1, 3), (7, 3), (300, 1), (5, 100)])
def test_step_products_sum_every_step(T, B):
    """sum_t delta_t s_t^T, gathered in blocks while t counts down, equals the plain sum,
    whether or not T is a multiple of the block's steps."""
    G, K = 4, 6
    rng = np.random.default_rng(T * B)
    deltas = rng.normal(size=(T, G, B))
    s = rng.normal(size=(T, K, B))
    expected = np.einsum("tgb,tkb->gk", deltas, s)
    products = StepProducts(G, s)
    assert products.chunk == max(1, StepProducts.COLUMNS // B)
    for t in range(T - 1, -1, -1):
        block, j = products.slot(t)
        block[:, j : j + B] = deltas[t]
        products.done(t)
    np.testing.assert_allclose(products.result(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_activation_backprop_equals_numpy(name, dtype):
    f = activation(name)
    H, B, col = 6, 4, 8
    rng = np.random.default_rng(3)
    a = rng.normal(size=(H, B)).astype(dtype)
    h = f.forward(a)
    g = rng.normal(size=(H, B)).astype(dtype)
    block = np.full((H, 3 * B), 7.0, dtype)
    f.kernel(a, h, g, block, col)
    out = block[:, col : col + B]
    np.testing.assert_array_equal(out, f.backprop(a, h, g, None))
    np.testing.assert_allclose(out, f.derivative(a, h) * g, rtol=1e-5, atol=1e-6)  # another rounding
    assert np.all(block[:, :col] == 7.0)  # only its own columns written


@pytest.mark.parametrize("rows, inner, batch", [(512, 131, 32), (128, 512, 32), (256, 131, 32), (100, 500, 30)])
def test_row_blocks_fit_the_small_matrix_kernels(monkeypatch, rows, inner, batch):
    monkeypatch.setattr(blas, "has_small_matrix_kernels", lambda: True)
    blocks = columns.row_blocks(rows, inner, batch)
    assert len(blocks) > 1
    covered = np.concatenate([np.arange(rows)[b] for b in blocks])
    np.testing.assert_array_equal(covered, np.arange(rows))  # every row once, in order
    sizes = [b.stop - b.start for b in blocks]
    assert all(s * inner * batch <= blas.SMALL_PRODUCT for s in sizes)
    assert all(s % 16 == 0 for s in sizes[:-1]) and len(set(sizes[:-1])) <= 1  # equal blocks, then the rest
    rng = np.random.default_rng(1)
    W, x = rng.normal(size=(rows, inner)), rng.normal(size=(inner, batch))
    out = np.empty((rows, batch))
    columns.matmul_blocks(W, x, out, blocks)
    np.testing.assert_allclose(out, W @ x, rtol=1e-12, atol=1e-12)


def test_row_blocks_keep_one_product_where_splitting_does_not_pay(monkeypatch):
    monkeypatch.setattr(blas, "has_small_matrix_kernels", lambda: True)
    assert columns.row_blocks(128, 131, 32) == [slice(0, 128)]  # small already
    assert columns.row_blocks(1024, 259, 128) == [slice(0, 1024)]  # would take 34 blocks
    monkeypatch.setattr(blas, "has_small_matrix_kernels", lambda: False)
    assert columns.row_blocks(512, 131, 32) == [slice(0, 512)]  # no small-matrix kernels


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_split_products_leave_the_gradients_unchanged(monkeypatch, registry, cell):
    """An LSTM/GRU at a shape where the per-step products are split in blocks gives
    the same loss and gradients as with one product per step (float64)."""
    T, B, H = 6, 32, 128
    results = []
    for split in (False, True):
        monkeypatch.setattr(blas, "has_small_matrix_kernels", lambda split=split: split)
        gate_rows = {"lstm": 4, "gru": 2}[cell] * H  # the forward's gate product, (rows, I+H+1) @ (I+H+1, B)
        assert (len(columns.row_blocks(gate_rows, H + 3, B)) > 1) == split
        rng = np.random.default_rng(0)
        spec = VariantSpec(name="split", cell=cell, hidden_size=H)
        model = build_model(spec, registry, 2, 1, np.float64, "mse", True, rng)
        batch = Batch(rng.uniform(0.0, 1.0, (T, B, 2)), rng.uniform(0.0, 2.0, (B, 1)))
        results.append(model.loss_and_gradients(batch))
    (loss0, grads0), (loss1, grads1) = results
    assert loss1 == pytest.approx(loss0, rel=1e-12)
    for name in grads0:
        np.testing.assert_allclose(grads1[name], grads0[name], rtol=1e-9, atol=1e-12)


def test_loss_at_names_the_steps_with_a_loss():
    d = np.zeros((5, 2, 3))
    d[1, 0, 2] = 1.0
    d[4] = -2.0
    assert list(np.flatnonzero(loss_at(d))) == [1, 4]
    assert list(np.flatnonzero(loss_at(d, np.array([4])))) == [4]  # as told: d[1] is not read


@pytest.mark.parametrize("cell", ["vanilla", "lstm", "gru"])
def test_a_cell_told_the_loss_steps_reads_dh_out_only_there(registry, cell):
    T, B, H = 6, 3, 4
    rng = np.random.default_rng(2)
    spec = VariantSpec(name="told", cell=cell, hidden_size=H)
    model = build_model(spec, registry, 2, 1, np.float64, "mse", True, rng)
    c, params = model.network.cell, model.params
    _, cache = c.forward(params, rng.uniform(0.0, 1.0, (T, B, 2)))
    d = np.zeros((T, B, H))
    d[[2, 5]] = rng.normal(size=(2, B, H))
    scanned = c.backward(params, cache, d)
    told = c.backward(params, cache, d, loss_steps=np.array([2, 5]))
    last_only = c.backward(params, cache, d, loss_steps=np.array([5]))
    d[2] = 0.0
    without_step_2 = c.backward(params, cache, d)
    for (grads, g), (grads_ref, g_ref) in ((told, scanned), (last_only, without_step_2)):
        np.testing.assert_array_equal(g, g_ref)
        for name in grads_ref:
            np.testing.assert_array_equal(grads[name], grads_ref[name])
    assert not np.array_equal(last_only[1], told[1])


def test_the_network_names_the_loss_steps():
    net, params, batch = make_network(T=6)
    seen = []

    class Spy(VanillaCell):
        def backward(self, params, cache, dh_out, truncate=None, loss_steps=None):
            seen.append(list(loss_steps))
            return super().backward(params, cache, dh_out, truncate, loss_steps)

    _, expected = net.loss_and_gradients(params, batch)
    _, grads = Network(Spy(net.cell.config), mse).loss_and_gradients(params, batch)
    for name in expected:
        np.testing.assert_array_equal(grads[name], expected[name])
    assert seen == [[5]]
    mask = np.zeros((6, batch.x.shape[1]), dtype=bool)
    mask[[1, 4], 0] = True
    y = np.zeros((6, batch.x.shape[1], 1))
    Network(Spy(net.cell.config), mse, many_to_one=False).loss_and_gradients(params, Batch(batch.x, y, mask))
    assert seen[-1] == [1, 4]
