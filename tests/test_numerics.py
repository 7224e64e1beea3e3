"""Flush-to-zero control (rnnbench.engine.numerics) and the BLAS thread limit."""

import numpy as np
import pytest

from rnnbench.engine import blas, numerics

TINY = np.float32(1e-30)  # normal; TINY * TINY underflows to a subnormal or zero
SUBNORMAL = np.float32(1e-40)  # below float32's smallest normal, 1.18e-38

needs_ftz = pytest.mark.skipif(not numerics.SUPPORTED, reason="no flush-to-zero control on this platform")


def product(a, b):
    """a * b of float32 arrays computed by numpy now, in this thread."""
    return np.multiply(np.full(4, a, np.float32), np.full(4, b, np.float32))


def test_subnormal_inputs_exist_without_flush():
    with numerics.flush_to_zero(False):
        assert np.all(product(SUBNORMAL, 1.0) > 0)
        assert np.all(product(np.float32(1e-20), np.float32(1e-20)) > 0)  # 1e-40: subnormal result


@needs_ftz
def test_flushes_inside_and_restores_outside():
    numerics.set_flush_to_zero(False)
    before = product(np.float32(1e-20), np.float32(1e-20))
    assert np.all(before > 0) and np.all(before < np.finfo(np.float32).tiny)
    with numerics.flush_to_zero():
        assert numerics.get_flush_to_zero()
        assert np.all(product(np.float32(1e-20), np.float32(1e-20)) == 0)  # FTZ: results
        assert np.all(product(SUBNORMAL, np.float32(1e6)) == 0)  # DAZ: operands
        assert np.all(product(TINY, np.float32(1.0)) == TINY)  # normal numbers untouched
    assert not numerics.get_flush_to_zero()
    np.testing.assert_array_equal(product(np.float32(1e-20), np.float32(1e-20)), before)


@needs_ftz
def test_restores_previous_mode_when_nested_and_on_error():
    numerics.set_flush_to_zero(False)
    with pytest.raises(KeyError):
        with numerics.flush_to_zero():
            with numerics.flush_to_zero(False):
                assert not numerics.get_flush_to_zero()
                assert np.all(product(np.float32(1e-20), np.float32(1e-20)) > 0)
            assert numerics.get_flush_to_zero()
            raise KeyError("leave the block by an exception")
    assert not numerics.get_flush_to_zero()


@needs_ftz
def test_leaves_other_fields_of_the_environment_alone():
    numerics.set_flush_to_zero(False)
    word, bits = numerics._LAYOUT
    before = list(numerics._read())
    with numerics.flush_to_zero():
        inside = list(numerics._read())
    control = ~bits & ~0x3F  # x86-64: the low six bits of MXCSR are status flags
    assert inside[word] & control == before[word] & control  # rounding, exception masks


def test_unsupported_platform_warns_and_does_nothing(monkeypatch):
    monkeypatch.setattr(numerics, "SUPPORTED", False)
    monkeypatch.setattr(numerics, "_warned", False)
    with pytest.warns(RuntimeWarning, match="not supported"):
        with numerics.flush_to_zero():
            assert not numerics.get_flush_to_zero()


def test_blas_threads_limit_is_applied_and_restored():
    libs = blas.blas_description()
    if not libs:
        pytest.skip("numpy reports no BLAS library to threadpoolctl")
    before = [lib["num_threads"] for lib in libs]
    with blas.blas_threads(1):
        assert all(lib["num_threads"] == 1 for lib in blas.blas_description())
    assert [lib["num_threads"] for lib in blas.blas_description()] == before


def test_decay_profile_keeps_gradients_below_the_float32_normal_range():
    """A float32 network with flush-to-zero on: the profile of a linear RNN
    with W_hh = 0.4 I reaches 0.4^100 ~ 1.6e-40 (subnormal in float32), and
    must still show it, as the float64 network does."""
    from rnnbench.api import Batch, ModelConfig
    from rnnbench.engine.losses import mse
    from rnnbench.engine.network import Network, init_readout
    from rnnbench.engine.vanilla import VanillaCell
    from rnnbench_plugins.adding import AddingProblem

    T, H = 101, 4
    config = ModelConfig("vanilla", "linear", "normal", 2, H, 1, np.dtype(np.float32))
    rng = np.random.default_rng(0)
    cell = VanillaCell(config)
    params = cell.init_params(rng)
    params.update(init_readout(rng, H, 1, np.float32))
    params["W_hh"] = (0.4 * np.eye(H)).astype(np.float32)
    batch = AddingProblem(AddingProblem.Params(), T).sample(rng, 3)
    b32 = Batch(batch.x.astype(np.float32), batch.y.astype(np.float32))
    net = Network(cell, mse)
    with numerics.flush_to_zero(True):
        norms = net.decay_profile(params, b32)
    assert norms.dtype == np.float64
    assert 0 < norms[-1] < np.finfo(np.float32).tiny  # below float32's normal range, not flushed
    np.testing.assert_allclose(norms / norms[0], 0.4 ** np.arange(T), rtol=1e-5)
