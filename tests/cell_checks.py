"""What the tests of the built-in cells share: parameters moved off the values an
initialisation gives, and a regression batch. Imported by tests/test_<cell>.py."""

from __future__ import annotations

import numpy as np

from rnnbench.api import Batch
from rnnbench.engine.network import init_readout


def make_params(cell, seed=0, noise=0.1):
    """The cell's and read-out's parameters, moved off special values by N(0, noise)."""
    rng = np.random.default_rng(seed)
    c = cell.config
    params = cell.init_params(rng)
    params.update(init_readout(rng, c.hidden_size, c.output_size, c.dtype))
    return {k: v + rng.normal(0.0, noise, v.shape) for k, v in params.items()}


def regression_batch(T, B, O=2, seed=1, *, inputs):
    """x ~ N(0, 1) of shape (T, B, inputs), one target (B, O) per sequence."""
    rng = np.random.default_rng(seed)
    return Batch(rng.normal(size=(T, B, inputs)), rng.normal(size=(B, O)))


def truncated_gradient_errors(cell, params, batch, truncate=None):
    """The network's gradients of ``params`` (BPTT truncated every ``truncate``
    steps, or full) and their relative errors against finite differences of the
    graph they are the gradient of: the whole sequence, or, truncated, its last
    ``truncate`` steps restarted from the state the forward pass reached there,
    held constant (what a cut means)."""
    from rnnbench.engine.finite_differences import check_gradients
    from rnnbench.engine.losses import mse
    from rnnbench.engine.network import Network

    from restart import started_at, state_at

    net = Network(cell, mse, truncate=truncate)
    _, grads = net.loss_and_gradients(params, batch)
    if truncate is None:
        return grads, check_gradients(lambda: net.loss_value(params, batch), params, grads)
    T = batch.x.shape[0]
    _, cache = cell.forward(params, batch.x)
    start = Network(started_at(cell, state_at(cell, cache, T - truncate)), mse)
    chunk = Batch(batch.x[T - truncate :], batch.y)
    return grads, check_gradients(lambda: start.loss_value(params, chunk), params, grads)


def assert_equal_to_reference(ours, reference, names, rtol=1e-10, atol=1e-12) -> None:
    """(loss, gradients by name, g) of a cell against the same three from a
    reference (a torch autograd version of its equations): equal to ``rtol``."""
    import pytest

    (loss, grads, g), (loss_ref, grads_ref, g_ref) = ours, reference
    assert loss == pytest.approx(loss_ref, rel=rtol, abs=atol)
    for name in names:
        np.testing.assert_allclose(grads[name], grads_ref[name], rtol=rtol, atol=atol, err_msg=name)
    np.testing.assert_allclose(g, g_ref, rtol=rtol, atol=atol)
