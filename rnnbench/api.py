"""The base classes a plugin derives from: Task, Cell, Remedy, Optimizer.

Each has a class attribute ``name`` (how a suite selects it) and a pydantic
model ``Params`` for the parameters a suite may give it (none by default).
Instances are made per run by the training loop; arrays are numpy arrays of the
run's dtype. Shapes: x is (T, B, I) -- time first --, hidden states are
(T, B, H), targets of many-to-one tasks are (B, O).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

Params = dict[str, np.ndarray]


class NoParams(BaseModel):
    """The parameter model of a component that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What the network of one run is built from; remedies may change it."""

    cell: str
    activation: str
    init: str
    input_size: int
    hidden_size: int
    output_size: int
    dtype: np.dtype


class Task:
    """A sequence task: generates (inputs, targets) deterministically from a generator.

    ``loss`` names the loss the network is trained with ("mse"); ``baseline``
    is the expected loss of the best predictor that ignores the inputs.
    """

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    loss: ClassVar[str] = "mse"
    input_size: ClassVar[int]
    output_size: ClassVar[int]

    def __init__(self, params: BaseModel, seq_len: int):
        self.params = params
        self.seq_len = seq_len

    @property
    def baseline(self) -> float | None:
        return None

    def sample(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Return x of shape (T, B, I) and the targets y of shape (B, O), float64."""
        raise NotImplementedError


class Cell:
    """A recurrent cell: initialisation, forward recursion and its BPTT."""

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    activations: ClassVar[tuple[str, ...]]
    inits: ClassVar[tuple[str, ...]]

    def __init__(self, config: ModelConfig):
        self.config = config

    def init_params(self, rng: np.random.Generator) -> Params:
        """Fresh parameters of the cell (not of the read-out)."""
        raise NotImplementedError

    def forward(self, params: Params, x: np.ndarray) -> tuple[np.ndarray, object]:
        """Run the recursion from h_0 = 0: return h_1..h_T as (T, B, H) and a cache."""
        raise NotImplementedError

    def backward(
        self, params: Params, cache: object, dh_out: np.ndarray
    ) -> tuple[Params, np.ndarray]:
        """BPTT. ``dh_out[t]`` is the gradient reaching h_t from the read-out at
        step t (zero where there is no loss). Return the gradients of the cell's
        parameters and g[t] = dL/dh_t, the total gradient at every step."""
        raise NotImplementedError

    def recurrent_matrix(self, params: Params) -> np.ndarray | None:
        """The matrix W_hh whose norm bounds the per-step gradient factor, if any."""
        return None

    def max_derivative(self) -> float:
        """max |f'| of the cell's activation, for the bound ||W_hh||_2 * max|f'|."""
        return 1.0


class Remedy:
    """A remedy acts at the points of the training loop it overrides.

    The defaults do nothing, so a remedy implements only what it needs.
    Remedies are applied in the order the variant lists them.
    """

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, params: BaseModel):
        self.params = params

    def configure(self, config: ModelConfig) -> ModelConfig:
        """Building the model: choose the cell, activation or initialisation."""
        return config

    def initialise(self, params: Params, config: ModelConfig, rng: np.random.Generator) -> Params:
        """After the cell initialised its parameters: replace or rescale them."""
        return params

    def penalty(self, params: Params) -> tuple[float, Params] | None:
        """The loss: a penalty to add and its gradient per parameter (or None)."""
        return None

    def transform_gradients(self, grads: Params) -> Params:
        """After the backward pass: transform the gradients (clipping)."""
        return grads


class Optimizer:
    """Updates parameters in place from their gradients; keeps its own state."""

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, params: BaseModel, learning_rate: float):
        self.params = params
        self.learning_rate = learning_rate

    def step(self, weights: Params, grads: Params) -> None:
        raise NotImplementedError
