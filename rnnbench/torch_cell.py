"""A recurrent cell written in PyTorch, run through the :class:`rnnbench.api.Cell`
contract: the user writes the step, rnnbench unrolls it, autograd takes the
gradients, and everything else -- the read-out and loss, the optimisers, the
remedies that act on the parameters or the gradient, the tuning, the store, the
executors and the report -- is rnnbench's own, shared with the numpy cells.

Two ways to write one:

- a subclass of :class:`TorchCell`: ``init_params(rng)`` returns numpy
  parameters (so a seed gives the same weights as a numpy cell, and the
  initialisation remedies act on them), ``step(p, x_t, state)`` is one step in
  torch (``p`` the parameters as tensors by name, ``x_t`` (B, I), ``state`` one
  tensor or a tuple of tensors, as ``states`` names its parts), returning the
  new state;
- a ``torch.nn.Module`` whose ``forward(x_t, state)`` returns the new state,
  made a cell by :func:`torch_cell` (:class:`TorchModuleCell`): the module is
  built as ``module(input_size, hidden_size, **cell_params)``, its parameters
  start at the values its own initialisation gives them under a torch generator
  seeded from the run's numpy generator (so the same seed gives the same
  weights), and are kept as numpy arrays under the module's parameter names.

What the adapter does, one implementation for both (``forward`` and
``backward``):

- forward: the numpy parameters and x become tensors (the dtype of x and the
  parameters: float32 or float64), the step is applied for t = 1..T from the
  initial state (zeros by default), and a zero-valued probe tensor q_t that
  requires a gradient is added to each part of each step's state. h_t (the
  part called "h") is handed to the network as numpy; the graph stays in the
  cache.
- backward: one ``torch.autograd.grad`` call from the outputs h_t of the steps
  that carry a loss, with ``dh_out[t]`` as their output gradients (the gradient
  of the surrogate sum_t <h_t, dh_out_t>, whose gradient is the loss's), with
  respect to the parameters and the probes. Because q_t is added to h_t and
  everything after step t reads h_t + q_t, dL/dq_t is the total gradient
  g_t = dL/dh_t, through every later step -- what the numpy cells' BPTT gives
  and the decay profile draws. Adding zero changes no value, and addition
  passes a gradient through unchanged, so the probes change neither the loss
  nor the parameter gradients (tested). Autograd of the fused ``nn.RNN`` or
  ``nn.LSTM`` could not give this: there the outputs are not the tensors the
  recursion reads, and their gradient is only the direct term d_t.
- truncated BPTT with k steps: at every cut that ``rnnbench.api.cut_before``
  gives (after step s when no gradient may flow from step s + 1 back into s,
  the convention of the numpy cells) the state handed to the next step is
  detached, so the state at a cut is a constant. ``truncate`` is only known in
  backward: the cell remembers the last one it was given and builds the next
  forward graph with those cuts; backward re-runs the unroll when the graph it
  is given was built with other cuts (the first step of a run, and the full
  BPTT of a decay profile), or was already used.
- other states: ``state_profiles`` gives, for every part but h (the LSTM's
  c), norms[d] = mean over the batch of ||dL/ds_{T-d}||, from the gradient of
  its probes, as :meth:`rnnbench.engine.lstm.LSTMCell.state_profiles` does.
  The probe of a part is added after the step by default: its gradient is then
  dL/ds_t with the step's other outputs held. A step that computes h_t from
  another part s_t (the LSTM's h_t = o_t tanh(c_t)) marks s_t with
  :meth:`TorchCell.probe` where it is made, so that its gradient also counts
  the path through h_t, the total dL/ds_t of the numpy cells.

The network around the cell stays in numpy (the read-out, the loss, the
optimiser, the remedies): a torch cell is a cell, nothing more. Remedies that
transform the summed input inside a cell (layer_norm) are refused for it
(``takes_transforms = False``), in one line naming the remedy and the cell.

Device and threads: the unroll runs on the device :func:`use_device` sets
(the CPU unless set) and hands numpy back; :func:`resolve_device` turns a
setting ("cpu", "cuda", "auto") into a torch device and says in one line when
a GPU was asked for and there is none. On the CPU each forward and backward
sets torch to ``threads`` threads (one by default: one torch thread per worker
process, as the numpy engine uses one BLAS thread, :mod:`rnnbench.engine.blas`)
and restores the process's own count afterwards (a set costs about a
microsecond).

torch is optional (the extra ``torch``): this module imports it only inside
its functions, so that registering a torch cell costs nothing and the command
line never imports torch unless a torch cell runs. A suite that names a torch
cell without torch is refused when it is validated, in one line naming the
extra (:class:`TorchParams`), and running one raises
:class:`rnnbench.extras.MissingExtra`.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from typing import Any, Callable, ClassVar, Iterator, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from rnnbench.api import Cell, NoParams, Params
from rnnbench.engine.bptt import cut_before, loss_at
from rnnbench.extras import installed, missing, require

NEEDS = ("a cell written in PyTorch", "torch", "torch")  # what, the package, the extra that installs it
READOUT = ("W_hy", "b_y")  # the network's parameters (rnnbench.engine.network): not the cell's
DEVICES = ("cpu", "cuda", "auto")
NO_GPU = "rnnbench: device '{name}' asked for, but torch sees no GPU (torch.cuda.is_available() is False): the torch cells run on the CPU"

_settings: dict[str, Any] = {"device": "cpu", "threads": 1}


def _torch():
    """The torch module; MissingExtra, naming the extra, where it is not installed."""
    require("torch", *NEEDS)
    import torch

    return torch


# --- device and threads -----------------------------------------------------------------------


def resolve_device(name: str) -> tuple[str, str | None]:
    """The torch device that the setting ``name`` ("cpu", "cuda" or "auto")
    gives here, and a one-line message when it is not the one asked for
    ("cuda" or "auto" without a GPU: "cpu", and a line saying so); None when
    nothing needs saying. "cpu" does not import torch. ValueError, one line,
    for any other name."""
    if name not in DEVICES:
        raise ValueError(f"device: '{name}' is not a device; choose one of {', '.join(DEVICES)}")
    if name == "cpu":
        return "cpu", None
    if _torch().cuda.is_available():
        return "cuda", None
    return "cpu", NO_GPU.format(name=name)


@contextlib.contextmanager
def use_device(device: str = "cpu", threads: int | None = 1) -> Iterator[None]:
    """Inside the block, torch cells run on the torch ``device`` ("cpu",
    "cuda", "cuda:1": what :func:`resolve_device` gives), with ``threads``
    torch threads on the CPU (None: torch's own count). Restored on exit."""
    before = dict(_settings)
    _settings.update(device=device, threads=threads)
    try:
        yield
    finally:
        _settings.clear()
        _settings.update(before)


def current_device() -> str:
    """The torch device the torch cells run on now."""
    return _settings["device"]


def versions() -> dict[str, str]:
    """What a run of a torch cell depends on beyond rnnbench's own packages,
    for its record: the engine ("torch", the numpy engine's fast/textbook
    choice does not apply), torch's version and the device."""
    return {"engine": "torch", "torch": _torch().__version__, "device": current_device()}


def is_torch_cell(cls: type) -> bool:
    """Whether the cell class ``cls`` runs in torch."""
    return isinstance(cls, type) and issubclass(cls, TorchCell)


@contextlib.contextmanager
def _threads(torch) -> Iterator[None]:
    """On the CPU, torch limited to the setting's thread count inside the block."""
    wanted = _settings["threads"]
    if wanted is None or not _settings["device"].startswith("cpu"):
        yield
        return
    before = torch.get_num_threads()
    if before != wanted:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if before != wanted:
            torch.set_num_threads(before)


# --- parameters ----------------------------------------------------------------------------


class TorchParams(BaseModel):
    """The parameters of a torch cell (none by default). Validating them checks
    that torch is installed, so that a suite naming a torch cell without it is
    refused before anything runs, in one line naming the extra; a torch cell's
    own ``Params`` derives from this one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _torch_installed(self):
        if not installed("torch"):
            raise ValueError(missing(*NEEDS))
        return self


# --- the unroll ------------------------------------------------------------------------------


class _Unroll:
    """One unroll of ``steps`` steps: per state part, the tensor each step
    returned (its probe added), and the part's probes, one zero leaf of
    (steps, ...) that requires a gradient, whose slice t is added at step t
    (one leaf rather than one per step: its gradient is g at every step at once)."""

    def __init__(self, names: tuple[str, ...], steps: int):
        self.names, self.steps = names, steps
        self.index = {name: k for k, name in enumerate(names)}
        self.outputs: list[list] = [[] for _ in names]
        self.probes: list = [None] * len(names)  # per part, the (steps, ...) leaf
        self._slices: list = [None] * len(names)  # per part, its slices, one per step
        self._t = -1
        self._probed: list[bool] = []

    def begin(self) -> None:
        self._t += 1
        self._probed = [False] * len(self.names)

    def probe(self, name: str, value):
        k = self.index.get(name)
        if k is None:
            raise ValueError(f"probe: '{name}' is not a part of the state; the parts are {', '.join(self.names)}")
        if self._probed[k]:
            raise ValueError(f"probe: the state part '{name}' was probed twice in one step")
        if self.probes[k] is None:
            self.probes[k] = value.new_zeros((self.steps, *value.shape)).requires_grad_()
            self._slices[k] = self.probes[k].unbind(0)  # one node: a slice per step costs O(T^2) backwards
        self._probed[k] = True
        return value + self._slices[k][self._t]

    def end(self, new, before: tuple) -> tuple:
        """The step's new state ``new``, each part probed where the step did
        not; at the first step, checked against the state ``before`` it (a
        tuple of parts): a tensor of the same shape."""
        parts = (new,) if len(self.names) == 1 else tuple(new)
        if len(parts) != len(self.names):
            raise ValueError(
                f"step returned {len(parts)} state parts; the cell's states are {', '.join(self.names)}"
            )
        done = []
        for k, part in enumerate(parts):
            shape = tuple(getattr(part, "shape", ()))
            if self._t == 0 and (not hasattr(part, "requires_grad") or shape != tuple(before[k].shape)):
                what = f"shape {shape}" if hasattr(part, "requires_grad") else f"a {type(part).__name__}"
                raise ValueError(f"step {self._t + 1} returned state part '{self.names[k]}' as {what}; it must "
                                 f"be a tensor of the shape of the state it was given, {tuple(before[k].shape)}")
            if not self._probed[k]:
                part = self.probe(self.names[k], part)
            self.outputs[k].append(part)
            done.append(part)
        return tuple(done)


@dataclasses.dataclass
class TorchCache:
    """What forward keeps for backward: the parameters (tensors that require a
    gradient), the inputs, the initial state, and the unroll's graph."""

    p: dict  # name -> tensor, the cell's parameters
    x: Any  # (T, B, I) tensor
    initial: Any  # the initial state, a tuple of tensors (one per part), or None for the cell's own
    unroll: _Unroll
    truncate: int | None  # the cuts the graph was built with
    spent: bool = False  # whether a backward pass went through the graph (and freed it)

    def state(self, k: int, t: int):
        """Part k of the state after t steps (t >= 1), a tensor."""
        return self.unroll.outputs[k][t - 1]


class TorchCell(Cell):
    """A recurrent cell whose step is written in PyTorch (see the module's
    docstring). A subclass defines ``name``, ``activations``, ``inits``,
    ``init_params(rng)`` (numpy parameters) and ``step(p, x_t, state)``, and
    may define ``states`` (the names of the state's parts; the one called "h"
    is read out), ``prepare`` (work on the whole sequence before the steps)
    and ``initial_state``."""

    Params: ClassVar[type[BaseModel]] = TorchParams
    takes_transforms = False
    states: ClassVar[tuple[str, ...]] = ("h",)
    """The parts of the state, in the order ``step`` takes and returns them: one
    name, the state is one tensor; more, a tuple. The part "h" is the hidden
    state the read-out sees and the decay profile follows; every other part gets
    a decay profile of its own (``state_profiles``)."""

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        if "h" not in self.states:
            raise ValueError(f"cell '{self.name}': states {self.states} has no part called 'h'")
        self._run: _Unroll | None = None
        self._cuts: int | None = None  # the truncation backward was last given

    @abc.abstractmethod
    def step(self, p: dict, x_t, state):
        """One step: the new state from the parameters ``p`` (tensors by name),
        the input ``x_t`` (B, I) -- or what :meth:`prepare` made of x at this
        step -- and the state (a tensor, or a tuple of tensors in the order of
        ``states``)."""
        raise NotImplementedError

    def prepare(self, p: dict, x):
        """Work done once per sequence before the steps: what step t receives
        as its input, a (T, ...) tensor or a sequence of T inputs. By default x
        itself. ``p`` is this unroll's own dict: a cell may add derived tensors
        to it (a transpose) for its steps."""
        return x

    def initial_state(self, batch: int, like):
        """The state before step 1: zeros of (batch, H) per part, of ``like``'s
        dtype and device."""
        zeros = tuple(like.new_zeros((batch, self.config.hidden_size)) for _ in self.states)
        return zeros[0] if len(zeros) == 1 else zeros

    def probe(self, name: str, value):
        """Inside ``step``: ``value`` is the state part ``name`` of this step,
        to be probed here (its total gradient then counts what the step computes
        from it after this point) rather than after the step. Returns the value
        to use from here on; outside an unroll, ``value`` itself."""
        return value if self._run is None else self._run.probe(name, value)

    def _bind(self, p: dict, run: Callable[[], None]) -> None:
        """Call ``run``, the unroll, with the parameters ``p`` in force (a
        module cell swaps them into its module)."""
        run()

    # --- the contract ------------------------------------------------------------------------

    def forward(self, params: Params, x: np.ndarray, initial=None):
        """h_1..h_T (T, B, H) as numpy, and the cache. ``initial`` (numpy, one
        array or a tuple in the order of ``states``) replaces the zero state."""
        torch = _torch()
        with _threads(torch):
            dtype = np.result_type(x, *(v for k, v in params.items() if k not in READOUT))
            device = current_device()
            p = {
                k: torch.tensor(np.asarray(v), dtype=_dtype(torch, dtype), device=device, requires_grad=True)
                for k, v in params.items() if k not in READOUT
            }
            xt = torch.as_tensor(np.asarray(x, dtype=dtype), device=device)
            start = None if initial is None else _to_state(torch, initial, dtype, device, len(self.states))
            unroll = self._unroll(p, xt, start, self._cuts)
            h = torch.stack([out.detach() for out in unroll.outputs[self.states.index("h")]])
            return h.cpu().numpy(), TorchCache(p, xt, start, unroll, self._cuts)

    def backward(self, params: Params, cache: TorchCache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        if truncate is not None:
            self._cuts = truncate
        grads, g = self._gradients(params, cache, dh_out, truncate, loss_steps, ("h",), with_params=True)
        return grads, g["h"]

    def state_profiles(self, params: Params, cache: TorchCache, dh_out: np.ndarray) -> dict[str, np.ndarray]:
        others = tuple(name for name in self.states if name != "h")
        if not others:
            return {}
        _, g = self._gradients(params, cache, dh_out, None, None, others, with_params=False)
        return {name: np.linalg.norm(_flat(s).astype(np.float64), axis=2).mean(axis=1)[::-1]
                for name, s in g.items()}

    def state_at(self, cache: TorchCache, t: int):
        """The state after t steps of the forward pass that made ``cache``, as
        numpy (what ``forward``'s ``initial`` takes): h_t, or a tuple of parts."""
        if t == 0 and cache.initial is not None:
            parts = cache.initial
        elif t == 0:
            parts = self.initial_state(cache.x.shape[1], cache.x)
            parts = (parts,) if len(self.states) == 1 else tuple(parts)
        else:
            parts = tuple(cache.state(k, t) for k in range(len(self.states)))
        arrays = tuple(part.detach().cpu().numpy() for part in parts)
        return arrays[0] if len(arrays) == 1 else arrays

    # --- the shared machinery ----------------------------------------------------------------

    def _unroll(self, p: dict, x, initial, truncate: int | None) -> _Unroll:
        """The steps t = 1..T, each state part probed, the state detached at the cuts."""
        T, B = x.shape[0], x.shape[1]
        cut = cut_before(T, truncate)
        unroll = _Unroll(self.states, T)
        single = len(self.states) == 1

        def run() -> None:
            q = dict(p)
            inputs = self.prepare(q, x)
            if hasattr(inputs, "unbind"):
                inputs = inputs.unbind(0)  # one node: indexing a tensor per step costs O(T^2) backwards
            state = self.initial_state(B, x) if initial is None else (initial[0] if single else initial)
            for t in range(T):
                unroll.begin()
                parts = unroll.end(self.step(q, inputs[t], state), (state,) if single else state)
                if cut[t]:
                    parts = tuple(part.detach() for part in parts)
                state = parts[0] if single else parts

        self._run = unroll
        try:
            self._bind(p, run)
        finally:
            self._run = None
        return unroll

    def _gradients(self, params, cache: TorchCache, dh_out, truncate, loss_steps, parts: Sequence[str],
                   with_params: bool):
        """The cell's parameter gradients (numpy, each in its parameter's dtype;
        an empty dict unless ``with_params``) and, for each state part of
        ``parts``, the gradients of its probes, (T, B, ...) numpy."""
        torch = _torch()
        with _threads(torch):
            unroll = cache.unroll
            if cache.spent or cache.truncate != truncate:
                unroll = self._unroll(cache.p, cache.x, cache.initial, truncate)
            else:
                cache.spent = True
            h = unroll.outputs[self.states.index("h")]
            steps = np.flatnonzero(loss_at(dh_out, loss_steps))
            outputs = [h[t] for t in steps]
            given = torch.as_tensor(np.asarray(dh_out)[steps], dtype=h[0].dtype, device=h[0].device).unbind(0)
            names = list(cache.p) if with_params else []
            probes = [unroll.probes[self.states.index(name)] for name in parts]
            inputs = [cache.p[n] for n in names] + probes
            found = torch.autograd.grad(outputs, inputs, given, allow_unused=True) if outputs else [None] * len(inputs)
            grads = {}
            for name, d in zip(names, found):
                want = np.asarray(params[name]).dtype
                grads[name] = np.zeros(cache.p[name].shape, dtype=want) if d is None else d.cpu().numpy().astype(want, copy=False)
            g = {name: (torch.zeros_like(q) if d is None else d).cpu().numpy()
                 for name, q, d in zip(parts, probes, found[len(names):])}
            return grads, g


def _dtype(torch, dtype: np.dtype):
    """The torch dtype of the numpy ``dtype``."""
    return torch.from_numpy(np.empty(0, dtype=dtype)).dtype


def _to_state(torch, state, dtype, device, parts: int) -> tuple:
    """A numpy state (an array, or a tuple of arrays) as a tuple of tensors."""
    arrays = (state,) if parts == 1 and not isinstance(state, tuple) else tuple(state)
    return tuple(torch.as_tensor(np.asarray(a, dtype=dtype), device=device) for a in arrays)


def _flat(a: np.ndarray) -> np.ndarray:
    """(T, B, ...) as (T, B, n); complex as its modulus."""
    a = np.abs(a) if np.iscomplexobj(a) else a
    return a.reshape(a.shape[0], a.shape[1], -1)


# --- a torch.nn.Module as a cell -------------------------------------------------------------


class TorchModuleCell(TorchCell):
    """A cell made of a ``torch.nn.Module`` (class attribute ``module``) whose
    ``forward(x_t, state)`` returns the new state. The module is built as
    ``module(input_size, hidden_size, **cell_params)``; its parameters are the
    cell's, under their names in the module (``named_parameters``), and start
    at the values the module's own initialisation draws from a torch generator
    seeded from the run's numpy generator. Its steps run through
    ``torch.func.functional_call`` with the current parameters; a module may
    define ``initial_state(batch, like)`` for a state other than zeros."""

    module: ClassVar[type]

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        self._holder = None  # a torch Module holding the user's module, built when first needed
        self._device: str | None = None  # where the holder is

    def _build(self, seed: int):
        """The user's module, built with torch's CPU generator seeded with ``seed``
        (and torch's generator state restored afterwards)."""
        torch = _torch()
        kwargs = self.config.cell_params.model_dump()
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed)
            try:
                return self.module(self.config.input_size, self.config.hidden_size, **kwargs)
            except TypeError as e:  # most often a constructor of another signature
                called = ", ".join(["input_size", "hidden_size", *(f"{k}=..." for k in kwargs)])
                raise TypeError(f"building the module as {self.module.__name__}({called}) failed: {e}") from e

    def init_params(self, rng: np.random.Generator) -> Params:
        seed = int(rng.integers(2**63 - 1))
        with _threads(_torch()):
            module = self._build(seed)
        return {name: value.detach().cpu().numpy().astype(self.config.dtype)
                for name, value in module.named_parameters()}

    def initial_state(self, batch: int, like):
        module = self._holder.cell if self._holder is not None else None
        if module is not None and hasattr(module, "initial_state"):
            return module.initial_state(batch, like)
        return super().initial_state(batch, like)

    def step(self, p: dict, x_t, state):
        return self._holder.cell(x_t, state)  # its parameters are p's, swapped in by _bind

    def _bind(self, p: dict, run: Callable[[], None]) -> None:
        torch = _torch()
        if self._holder is None:
            self._holder = _holder(torch, self._build(0))
        device = current_device()
        if self._device != device:
            self._holder.to(device)
            self._device = device
        torch.func.functional_call(self._holder, {f"cell.{k}": v for k, v in p.items()}, (run,))


def _holder(torch, module):
    """A Module whose forward calls what it is given, holding ``module`` as
    ``cell``: ``functional_call`` on it swaps the parameters in once for a whole
    unroll, rather than once per step."""

    class Holder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = module

        def forward(self, run):
            return run()

    return Holder()


def torch_cell(
    module: type, name: str, *, states: tuple[str, ...] = ("h",), activations: tuple[str, ...] = ("tanh",),
    inits: tuple[str, ...] = ("module",), Params: type[BaseModel] = NoParams, doc: str | None = None,
) -> type[TorchModuleCell]:
    """The cell class of the ``torch.nn.Module`` class ``module`` (see
    :class:`TorchModuleCell`), called ``name``; register it like any cell.

    ``states`` names the parts of the state the module's forward takes and
    returns ("h" the one read out); ``activations`` and ``inits`` are the names
    a variant may give (the module computes what it computes: the defaults,
    "tanh" and "module", the module's own initialisation, only label it);
    ``Params``, a pydantic model of the module's own keyword arguments, which a
    variant gives as ``cell_params``. Nothing here imports torch."""
    params = Params if issubclass(Params, TorchParams) else type(
        f"{module.__name__}Params", (Params, TorchParams), {"__module__": module.__module__}
    )
    return type(module.__name__ + "Cell", (TorchModuleCell,), {
        "__module__": module.__module__,
        "__doc__": doc or module.__doc__ or f"The torch module {module.__name__} as a cell.",
        "name": name, "module": module, "states": tuple(states), "activations": tuple(activations),
        "inits": tuple(inits), "Params": params,
    })
