"""Everything a plugin needs from rnnbench, so that it imports nothing else:

- ``hookimpl``, the marker of its hook implementations (:mod:`rnnbench.hookspecs`);
- the base classes it derives from: Task, Cell, Remedy, Optimizer,
  SummedInputTransform; and ReportSection, what its ``rnnbench_report_section``
  hook returns;
- the pieces of the engine a cell's recursions use: :class:`TransformChain`
  (the variant's summed-input transforms at one site of the cell) and
  :func:`cut_before` (the steps where truncated BPTT cuts);
- what the built-in plugins are made of, for a plugin to reuse: the built-in
  cells (``VanillaCell``, ``LSTMCell``, ``GRUCell``), the global gradient norm
  (``global_norm``), the layer normalisation maths (``layer_norm_forward``,
  ``layer_norm_backward``) and the check for an optional dependency
  (``installed``, ``missing``, ``require``, ``MissingExtra``). Each is
  defined once, where rnnbench uses it, and only named here.
- a cell written in PyTorch: the base class :class:`TorchCell` (write the
  step, autograd does the BPTT) and :func:`torch_cell` (a ``torch.nn.Module``
  as a cell), from :mod:`rnnbench.torch_cell`; torch is imported only when
  such a cell runs.

Each base class has a class attribute ``name`` (how a suite selects it) and a
pydantic model ``Params`` for the parameters a suite may give it (none by
default). What a subclass must define itself -- the attributes a base class
declares without a value (``name``; a task's ``input_size`` and
``output_size``; a cell's ``activations`` and ``inits``) and its abstract
methods -- is checked when the plugin is loaded: a class that lacks one is
refused in one warning line that names it.
Instances are made per run by the training loop; arrays are numpy arrays of the
run's dtype. Shapes: x is (T, B, I) -- time first --, hidden states are
(T, B, H).

Parameter names are shared by convention so that remedies can find what they
act on: every cell calls its input weights ``W_hx`` (G*H, I), its recurrent
weights ``W_hh`` (G*H, H) and its biases ``b_h`` (G*H,), with G the number of
gate blocks stacked row-wise (1 for the vanilla cell, 4 for the LSTM, 3 for the
GRU); the read-out is ``W_hy`` and ``b_y``; a summed-input transform's
parameters are ``<transform>.<site>.<name>``.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
from typing import TYPE_CHECKING, ClassVar, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict

from rnnbench.engine.bptt import cut_before
from rnnbench.engine.layernorm import backward as layer_norm_backward
from rnnbench.engine.layernorm import forward as layer_norm_forward
from rnnbench.engine.transforms import TransformChain
from rnnbench.extras import MissingExtra, installed, missing, require
from rnnbench.hookspecs import hookimpl

if TYPE_CHECKING:  # imported on first use, below: these modules import this one
    from rnnbench.engine.antisymmetric import AntisymmetricRNNCell
    from rnnbench.engine.cornn import CoRNNCell
    from rnnbench.engine.exprnn import ExpRNNCell
    from rnnbench.engine.gru import GRUCell
    from rnnbench.engine.indrnn import IndRNNCell
    from rnnbench.engine.lru import LRUCell
    from rnnbench.engine.lstm import LSTMCell
    from rnnbench.engine.network import global_norm
    from rnnbench.engine.vanilla import VanillaCell
    from rnnbench.torch_cell import TorchCell, TorchModuleCell, torch_cell

__all__ = [
    "hookimpl", "Params", "NoParams", "ModelConfig", "Batch", "Task", "SummedInputTransform", "Cell",
    "Remedy", "Optimizer", "ReportSection", "TransformChain", "cut_before", "VanillaCell", "LSTMCell",
    "GRUCell", "IndRNNCell", "CoRNNCell", "LRUCell", "ExpRNNCell", "AntisymmetricRNNCell",
    "global_norm", "layer_norm_forward",
    "layer_norm_backward",
    "installed", "missing", "require", "MissingExtra", "TorchCell", "TorchModuleCell", "torch_cell",
]

# Names defined in modules that import this one (the built-in cells derive from
# Cell), so imported when first asked for (PEP 562) rather than here.
_DEFINED_IN_THE_ENGINE = {
    "VanillaCell": "rnnbench.engine.vanilla",
    "LSTMCell": "rnnbench.engine.lstm",
    "GRUCell": "rnnbench.engine.gru",
    "IndRNNCell": "rnnbench.engine.indrnn",
    "CoRNNCell": "rnnbench.engine.cornn",
    "LRUCell": "rnnbench.engine.lru",
    "ExpRNNCell": "rnnbench.engine.exprnn",
    "AntisymmetricRNNCell": "rnnbench.engine.antisymmetric",
    "global_norm": "rnnbench.engine.network",
    # a cell written in PyTorch; torch itself is imported only when such a cell runs
    "TorchCell": "rnnbench.torch_cell",
    "TorchModuleCell": "rnnbench.torch_cell",
    "torch_cell": "rnnbench.torch_cell",
}


def __getattr__(name: str):
    """One of the names defined in the engine, imported on first use."""
    module = _DEFINED_IN_THE_ENGINE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

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
    # the activation's own parameters, given to rnnbench.engine.activations.activation
    # (the leaky_relu remedy sets {"slope": ...}); none by default
    activation_params: Mapping[str, float] = dataclasses.field(default_factory=dict)
    cell_params: BaseModel = NoParams()  # the variant's cell_params, validated by the cell's Params


@dataclasses.dataclass
class Batch:
    """A batch of sequences.

    ``x`` is (T, B, I). For a many-to-one task ``y`` holds one target per
    sequence: (B, O) for "mse", (B,) class indices for "cross_entropy". For a
    many-to-many task ``y`` holds one per step, (T, B, O) or (T, B), and
    ``mask`` (T, B) says which steps carry a loss (None: every step).
    """

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray | None = None


TEST_SET_SEED = 20_150_404
VALIDATION_SET_SEED = 19_971_115


class Task(abc.ABC):
    """A sequence task: generates batches deterministically from a generator.

    ``seq_len`` is the task's dependency length -- the axis a suite sweeps; the
    sequences may be longer (copy memory adds its 20 symbols). ``input_size``
    and ``output_size`` are the widths of x and of the read-out: class
    attributes, or properties where they depend on the parameters. ``loss`` names
    the training loss ("mse" or "cross_entropy", :mod:`rnnbench.engine.losses`);
    ``many_to_one`` says whether it is read at the last step only. Every task
    declares its baseline -- the loss (and metrics) of the best predictor that
    ignores the inputs -- and its success criteria, so that a report can say
    whether a run solved it.
    """

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    loss: ClassVar[str] = "mse"
    many_to_one: ClassVar[bool] = True
    input_size: int
    output_size: int
    criteria: ClassVar[dict[str, str]] = {}
    """Success criteria by name, each with a one-line description; the first is
    the task's main one (the one behind "solved" and "steps to solve")."""
    metrics: ClassVar[dict[str, str]] = {}
    """The metrics ``evaluate`` returns, by name, each with ``"min"`` or ``"max"``
    (which way is better); a suite may tune on any of them."""

    def __init__(self, params: BaseModel, seq_len: int):
        self.params = params
        self.seq_len = seq_len

    @property
    def baseline(self) -> float | None:
        """Expected loss of the best input-blind predictor."""
        return None

    @property
    def baseline_metrics(self) -> dict[str, float]:
        """The same predictor's metrics (e.g. chance accuracy), by name."""
        return {}

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """A training batch of ``batch_size`` sequences drawn with ``rng`` (float64 inputs)."""
        raise NotImplementedError

    def test_set(self, size: int) -> Batch:
        """The fixed held-out test set: the same for every seed and variant of the
        task at this length. By default ``size`` sequences from a constant seed.
        Verdicts are read on this set only."""
        return self.sample(np.random.default_rng(TEST_SET_SEED), size)

    def validation_set(self, size: int) -> Batch:
        """The fixed validation set, a third split with a random stream of its
        own (a constant seed other than the test set's and the training
        streams'): tuning selects configurations on it, never on the test set."""
        return self.sample(np.random.default_rng(VALIDATION_SET_SEED), size)

    def evaluate(self, outputs: np.ndarray, batch: Batch) -> dict[str, float]:
        """Metrics beyond the loss, from the read-out: ``outputs`` is (B, O) for a
        many-to-one task, (T, B, O) for a many-to-many one."""
        return {}

    def solved(self, loss: float, metrics: dict[str, float]) -> dict[str, bool]:
        """Whether each criterion of ``criteria`` holds for a held-out evaluation."""
        return {}


class SummedInputTransform(abc.ABC):
    """Transforms a cell's summed input a_t before its non-linearity, at every step.

    A cell hands each transform the summed input of one *site* (the vanilla
    cell has one, "h"; a gated cell may have several) as a (B, G*H) array of G
    blocks of H units, and keeps what ``forward`` returns as the step's cache.
    Layer normalisation is the built-in example.
    """

    name: ClassVar[str]

    def init_params(self, site: str, groups: int, size: int, dtype) -> Params:
        """The transform's parameters at ``site``, named ``<name>.<site>.<param>``."""
        return {}

    @abc.abstractmethod
    def forward(
        self, a: np.ndarray, params: Params, site: str, groups: int
    ) -> tuple[np.ndarray, object]:
        """Return z = T(a) and a cache for the backward pass. ``a`` may be a view
        the cell reuses after the step: keep a copy of what the backward needs."""
        raise NotImplementedError

    @abc.abstractmethod
    def backward(self, dz: np.ndarray, cache: object, params: Params, site: str, grads: Params):
        """Return dL/da from dL/dz; add the gradients of this step to ``grads``
        (which holds zero arrays for this transform's parameters)."""
        raise NotImplementedError


class Cell(abc.ABC):
    """A recurrent cell: initialisation, forward recursion and its BPTT.

    ``transforms`` are the summed-input transforms of the variant's remedies,
    in order; a cell applies them at each of its sites (see
    :class:`TransformChain`) and owns their parameters, which ``init_params``
    includes.
    """

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    activations: ClassVar[tuple[str, ...]]
    inits: ClassVar[tuple[str, ...]]
    takes_transforms: ClassVar[bool] = True
    """Whether the cell applies the summed-input transforms of remedies such as
    layer_norm; a cell that cannot (a torch cell, a cell with no summed input)
    sets False, and validation refuses those remedies in one line naming both."""
    refused_remedies: ClassVar[Mapping[str, str]] = {}
    """Remedies that make no sense for this cell, by name, each with the reason
    (for instance an initialisation of a W_hh the cell does not have):
    validation refuses them in one line naming the remedy, the cell and the reason."""

    def __init__(self, config: ModelConfig, transforms: tuple[SummedInputTransform, ...] = ()):
        self.config = config
        self.transforms = tuple(transforms)

    @abc.abstractmethod
    def init_params(self, rng: np.random.Generator) -> Params:
        """Fresh parameters of the cell (not of the read-out)."""
        raise NotImplementedError

    @abc.abstractmethod
    def forward(self, params: Params, x: np.ndarray) -> tuple[np.ndarray, object]:
        """Run the recursion from the zero state: return h_1..h_T as (T, B, H)
        and a cache."""
        raise NotImplementedError

    @abc.abstractmethod
    def backward(
        self, params: Params, cache: object, dh_out: np.ndarray, truncate: int | None = None,
        loss_steps: np.ndarray | None = None,
    ) -> tuple[Params, np.ndarray]:
        """BPTT. ``dh_out[t]`` is the gradient reaching h_t from the read-out at
        step t (zero where there is no loss). Return the gradients of the cell's
        parameters and g[t] = dL/dh_t, the total gradient at every step.

        With ``truncate`` = k the sequence is cut into chunks of k steps counted
        back from the last step, and no gradient flows across a cut: the state
        at a cut is treated as a constant (truncated BPTT, Williams & Peng 1990).

        ``loss_steps`` lists the steps t whose ``dh_out[t]`` may be non-zero
        (for a many-to-one task only the last); the network always gives it.
        A cell may read only those and skip a pass over all of ``dh_out``
        (see :func:`rnnbench.engine.bptt.loss_at`, where None means "find
        them from ``dh_out``"), or ignore it and add every ``dh_out[t]``.
        """
        raise NotImplementedError

    def constrain(self, params: Params) -> None:
        """After every update of the parameters: project them, in place, back
        onto the set the cell's method keeps them in (IndRNN bounds each |u_n|).
        By default nothing: most cells are unconstrained."""

    def recurrent_matrix(self, params: Params) -> np.ndarray | None:
        """The matrix W_hh whose norm bounds the per-step gradient factor, if any."""
        return None

    def max_derivative(self) -> float | None:
        """max |f'| of the cell's activation, for the bound ||W_hh||_2 * max|f'|
        on the per-step gradient factor; None where no such bound holds (gated cells)."""
        return None

    def state_profiles(self, params: Params, cache: object, dh_out: np.ndarray) -> dict[str, np.ndarray]:
        """Decay profiles of states other than h (the LSTM's cell state c): for
        each, norms[d] = mean over the batch of ||dL/ds_{T-d}||, by full BPTT from
        ``dh_out``. By default none: an empty dict."""
        return {}


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

    def check(self, config: ModelConfig) -> None:
        """Raise ValueError saying why, if this remedy makes no sense for the
        model configuration left by all the remedies. Called at validation."""

    def summed_input_transform(self) -> SummedInputTransform | None:
        """Inside the cell: a transform of the summed input before the non-linearity."""
        return None

    def truncation(self) -> int | None:
        """The backward pass: run it back at most this many steps (None: all)."""
        return None

    def initialise(self, params: Params, config: ModelConfig, rng: np.random.Generator) -> Params:
        """After the cell initialised its parameters: replace or rescale them."""
        return params

    def penalty(self, params: Params) -> tuple[float, Params] | None:
        """The loss: a penalty to add and its gradient per parameter (or None)."""
        return None

    def transform_gradients(self, grads: Params) -> Params:
        """After the backward pass: transform the gradients (clipping)."""
        return grads


class Optimizer(abc.ABC):
    """Updates parameters in place from their gradients; keeps its own state."""

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, params: BaseModel, learning_rate: float):
        self.params = params
        self.learning_rate = learning_rate

    @abc.abstractmethod
    def step(self, weights: Params, grads: Params) -> None:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class ReportSection:
    """A section a plugin adds to a suite's report (``rnnbench_report_section``).

    ``title`` is its heading; ``text`` a paragraph under it; ``figure`` a
    matplotlib ``Figure`` or the bytes of a PNG image, drawn under the
    paragraph with ``alt`` as its text alternative. ``text`` and ``figure``
    may each be left out. Every string is shown as text, escaped.
    """

    title: str
    text: str = ""
    figure: object = None  # a matplotlib Figure, PNG bytes, or None
    alt: str = ""
