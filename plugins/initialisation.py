"""Initialisations of the recurrent weights W_hh, as remedies.

identity_init (Le, Jaitly & Hinton 2015, "A Simple Way to Initialize Recurrent
Networks of Rectified Linear Units"; the IRNN): W_hh = scale * I and the
recurrent biases zero, so that at the start a ReLU network copies its state
forward and gradients neither vanish nor explode along it. For the vanilla
cell, where W_hh maps the state to itself; a gated cell's W_hh feeds its gates,
where an identity block means nothing in particular.

orthogonal_init (Saxe, McClelland & Ganguli 2014; Henaff et al. 2016): each
H x H block of W_hh (one per gate) is a random orthogonal matrix times
``scale``, so all its singular values equal ``scale``: ||W_hh^k v|| = scale^k ||v||.

chrono_init (Tallec & Ollivier 2018, "Can Recurrent Neural Networks Warp
Time?", ICLR, section 4): an LSTM whose forget gate sits at sigma(b_f) keeps its
cell state for about 1 / (1 - sigma(b_f)) ~ exp(b_f) steps. To spread those
memory times over the dependencies the task has, 1 to ``t_max`` steps, each
unit draws b_f = log(u), u ~ U(1, t_max - 1), and the input gate's bias is
b_i = -b_f, so a unit that remembers long also writes little.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Remedy, hookimpl


class ScaleParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: float = Field(1.0, gt=0, description="Every singular value of W_hh (of each block).")


class IdentityInit(Remedy):
    """IRNN initialisation: W_hh = scale * I, b_h = 0."""

    name = "identity_init"
    Params = ScaleParams

    def check(self, config):
        if config.cell != "vanilla":
            raise ValueError(
                f"identity initialisation (IRNN) sets the vanilla cell's W_hh = I; cell "
                f"'{config.cell}' uses W_hh for its gates, where an identity means nothing"
            )

    def initialise(self, params, config, rng):
        H = config.hidden_size
        params["W_hh"] = (self.params.scale * np.eye(H)).astype(config.dtype)
        params["b_h"] = np.zeros(H, dtype=config.dtype)
        return params


def random_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A Haar-random orthogonal n x n matrix: Q of the QR of a Gaussian matrix,
    with the signs of R's diagonal folded into Q (Mezzadri 2007)."""
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


class OrthogonalInit(Remedy):
    """Each H x H block of W_hh a random orthogonal matrix times `scale`."""

    name = "orthogonal_init"
    Params = ScaleParams

    def initialise(self, params, config, rng):
        H = config.hidden_size
        blocks = params["W_hh"].shape[0] // H
        W = np.concatenate([random_orthogonal(rng, H) for _ in range(blocks)], axis=0)
        params["W_hh"] = (self.params.scale * W).astype(config.dtype)
        return params


class ChronoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    t_max: float = Field(gt=2, description="The longest dependency expected, in steps (e.g. the sequence length).")


class ChronoInit(Remedy):
    """Chrono initialisation of the LSTM's gate biases: b_f = log U(1, t_max - 1), b_i = -b_f."""

    name = "chrono_init"
    Params = ChronoParams

    def check(self, config):
        if config.cell != "lstm":
            raise ValueError(
                f"chrono initialisation sets the LSTM's forget- and input-gate biases; cell "
                f"'{config.cell}' has no such gates"
            )

    def initialise(self, params, config, rng):
        H = config.hidden_size
        b_f = np.log(rng.uniform(1.0, self.params.t_max - 1.0, size=H))
        b_h = params["b_h"].copy()
        b_h[:H] = -b_f          # input gate i (the LSTM stacks i, f, g, o)
        b_h[H : 2 * H] = b_f    # forget gate f
        params["b_h"] = b_h.astype(config.dtype)
        return params


@hookimpl
def rnnbench_register_remedies():
    return [IdentityInit, OrthogonalInit, ChronoInit]
