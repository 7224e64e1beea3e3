"""Checking a variant's gradients (``rnnbench gradcheck``): the analytic BPTT
gradient of every parameter against central finite differences, in float64, on
small random data.

What is checked is d(loss + penalties)/dp with full BPTT, for the variant's cell,
activation, initialisation and summed-input transforms. Remedies that change the
gradient itself -- clipping, truncation -- have no finite-difference
counterpart; they are checked against their own definitions (see the tests).

The variants checked are a suite's (``suite_variants``) or one given on the
command line (``command_line_variant``), each at HIDDEN_SIZE units;
``check_variant`` checks one on each of PROBLEMS.

Finite differences never call a remedy's ``transform_gradients``, and a
remedy may crash in any of its hooks on a real step while its gradients are
right, so ``check_variant`` also runs every hook -- each method of the
:class:`~rnnbench.api.Remedy` API (``HOOKS``: building the model, its
summed-input transform, the truncation of the backward pass, the
initialisation, the loss penalty, the gradient transform, and whatever else the
base class defines) -- by the code path ``rnnbench run`` takes: the model built
by ``build_model`` in the training dtype, then STEPS calls of
``training.train_step`` with the suite's optimiser, on each problem's batch.

Attribution: each remedy instance is wrapped where it is created (the
registry ``build_model`` is given creates it, :class:`_HookedRegistry`): every
hook of ``HOOKS`` it has, and the forward, backward and init_params of the
summed-input transform it returns, are replaced on the instance by a
pass-through that records, for an exception escaping it, the remedy and the
hook. The exception itself is left as it is (a remedy that catches its own
exceptions works as before); when hooks nest (a hook calling another), the
outermost one -- the one the training loop called -- is named. A hook that
returns non-finite numbers from finite ones (the parameters from
``initialise``, the penalty and its gradient, the transformed gradients, a
transform's output) fails the same way: the API promises finite values, and
nothing else is checked where a remedy says nothing more. A crash is then one
line (:class:`Crashed`), naming the remedy, the hook and the exception's first
line; a ValueError from ``configure`` or ``check`` still means the combination
does not fit, as at validation.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from pydantic import ValidationError

from rnnbench import training
from rnnbench.api import Batch, Remedy, SummedInputTransform
from rnnbench.engine import numerics
from rnnbench.engine.finite_differences import EPS, check_gradients
from rnnbench.engine.network import cast
from rnnbench.resolve import Refused, resolve_variant
from rnnbench.spec import SuiteSpec, TrainSpec, VariantSpec, format_validation_error
from rnnbench.variant import Model, build_model

INPUTS, OUTPUTS = 3, 2
HIDDEN_SIZE = 4  # units of every variant checked: small, so that finite differences are quick
# (loss, many_to_one) of the problems each variant is checked on: a many-to-one MSE problem
# and a many-to-many cross-entropy problem with masked steps
PROBLEMS = (("mse", True), ("cross_entropy", False))
COMMAND_LINE = "command line"  # the name of a variant given on the command line
STEPS = 2  # real training steps run on each problem, so that every hook runs (twice: state kept)


def _methods(base: type) -> tuple[str, ...]:
    return tuple(name for name, value in vars(base).items() if not name.startswith("_") and inspect.isfunction(value))


HOOKS = _methods(Remedy)  # every hook of the Remedy API, the points of the training loop
TRANSFORM_HOOK = "summed_input_transform"  # the hook whose transform's methods are watched too
TRANSFORM_METHODS = _methods(SummedInputTransform)
REFUSALS = ("configure", "check")  # the hooks whose ValueError says the combination does not fit


@dataclasses.dataclass
class Problem:
    """A model with float64 parameters and a batch, ready for a gradient check."""

    model: Model
    batch: Batch


def make_problem(
    variant, registry, seq_len: int = 6, batch_size: int = 3, loss: str = "mse",
    many_to_one: bool = True, seed: int = 0, noise: float = 0.1,
) -> Problem:
    """A float64 network for ``variant`` on random data, its parameters perturbed
    by N(0, noise) so that none sits at a special value (zero biases, I). The
    network runs full BPTT: truncation is checked against its own definition."""
    rng = np.random.default_rng(seed)
    outputs = OUTPUTS if loss == "mse" else OUTPUTS + 1
    model = build_model(variant, registry, INPUTS, outputs, "float64", loss, many_to_one, rng)
    model.network.truncate = None
    params = model.params
    for name in params:
        params[name] = params[name] + rng.normal(0.0, noise, params[name].shape)
    x = rng.normal(size=(seq_len, batch_size, INPUTS))
    steps = (batch_size,) if many_to_one else (seq_len, batch_size)
    if loss == "mse":
        y = rng.normal(size=(*steps, outputs))
    else:
        y = rng.integers(0, outputs, steps)
    mask = None if many_to_one else rng.random((seq_len, batch_size)) < 0.6
    if mask is not None:
        mask[-1] = True
    return Problem(model, Batch(x, y, mask))


def gradient_errors(problem: Problem, eps: float = EPS) -> dict[str, float]:
    """Relative error of each parameter's analytic gradient against finite
    differences, with subnormals kept (flush-to-zero off) so no difference is lost."""
    with numerics.flush_to_zero(False):
        _, grads = problem.model.loss_and_gradients(problem.batch)
        return check_gradients(lambda: problem.model.loss_value(problem.batch), problem.model.params, grads, eps)


# --- the variants checked -----------------------------------------------------------------


def suite_variants(suite: SuiteSpec, names: Sequence[str] = ()) -> list[VariantSpec]:
    """The variants of ``suite`` called ``names`` (all of them without names),
    at HIDDEN_SIZE units. ValueError naming the names the suite does not have."""
    chosen = [v for v in suite.variants if not names or v.name in names]
    missing = set(names) - {v.name for v in chosen}
    if missing:
        raise ValueError(f"no variant named {', '.join(sorted(missing))} in suite '{suite.name}'")
    return [v.model_copy(update={"hidden_size": HIDDEN_SIZE}) for v in chosen]


def command_line_variant(
    registry, cell: str | None = None, activation: str | None = None, init: str | None = None,
    remedies: Sequence = (),
) -> VariantSpec:
    """A variant of ``cell`` (vanilla by default) with ``remedies`` (names or
    dicts), at HIDDEN_SIZE units, resolved against ``registry``. An activation
    or initialisation not given is the variant default if the cell has it, else
    the cell's first. ValueError, one line per problem, said of the command line;
    Crashed when a remedy's ``configure`` or ``check`` raises anything else."""
    fields = {"name": COMMAND_LINE, "cell": cell or "vanilla", "hidden_size": HIDDEN_SIZE,
              "remedies": list(remedies)}
    for field, given in (("activation", activation), ("init", init)):
        if given:  # the rest is filled in by resolve_variant
            fields[field] = given
    hooked = _HookedRegistry(registry)
    try:
        return _guarded(hooked, "checking the combination", "a remedy or cell raised ",
                        lambda: resolve_variant(VariantSpec.model_validate(fields), hooked), building=True)
    except ValidationError as exc:
        raise ValueError("\n".join(format_validation_error(exc, root=COMMAND_LINE))) from None
    except Refused as exc:
        raise ValueError(exc.line(root=COMMAND_LINE)) from None


# --- checking one ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Check:
    """A variant's gradients on one problem: every parameter's relative error."""

    loss: str
    many_to_one: bool
    errors: dict[str, float]
    tolerance: float

    @property
    def shape(self) -> str:
        return "many-to-one" if self.many_to_one else "many-to-many"

    @property
    def worst(self) -> str:
        """The parameter with the largest error."""
        return max(self.errors, key=self.errors.get)

    @property
    def failed(self) -> dict[str, float]:
        """The parameters whose error exceeds the tolerance, with their errors."""
        return {n: e for n, e in self.errors.items() if e > self.tolerance}


class Crashed(Exception):
    """A plugin's cell or remedy raised during a gradient check, or a remedy's
    hook returned non-finite numbers; ``remedy`` and ``hook`` name where, when
    it came from a remedy (else None)."""

    def __init__(self, message: str, remedy: str | None = None, hook: str | None = None):
        super().__init__(message)
        self.remedy, self.hook = remedy, hook


class NonFinite(ArithmeticError):
    """A remedy's hook returned non-finite numbers from finite ones."""


def _non_finite(value, path: str = "") -> str | None:
    """Where ``value`` (arrays and numbers, in dicts, tuples and lists) holds a
    non-finite number, as an index path ("" for value itself); None if nowhere.
    Anything else (a cache object, a config) is not looked into."""
    if isinstance(value, np.ndarray):
        return path if value.dtype.kind in "fc" and not np.isfinite(value).all() else None
    if isinstance(value, (float, complex, np.floating, np.complexfloating)):
        return None if np.isfinite(value) else path
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{path}[{key!r}]")
        if found is not None:
            return found
    return None


def _first_line(exc: BaseException) -> str:
    """The exception's type and the first line of its message; a NonFinite's message only."""
    lines = str(exc).strip().splitlines()
    if isinstance(exc, NonFinite):
        return lines[0]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


class _HookedRegistry:
    """``registry``, whose remedies come out with every hook watched: an
    exception escaping one is recorded with the remedy and the hook (see the
    module's docstring)."""

    def __init__(self, registry):
        self.registry = registry
        self._origins: dict[int, tuple[BaseException, str, str]] = {}

    def __getattr__(self, name):  # everything but create is the registry's own
        return getattr(self.registry, name)

    def create(self, kind: str, ref, *args):
        component = self.registry.create(kind, ref, *args)
        if kind == "remedy":
            self._watch_all(component, component.name, HOOKS, "")
        return component

    def origin(self, exc: BaseException) -> tuple[str, str] | None:
        """(remedy, hook) that ``exc`` escaped from, if it came from one."""
        found = self._origins.get(id(exc))
        return None if found is None or found[0] is not exc else found[1:]

    def _watch_all(self, obj, remedy: str, methods: Sequence[str], prefix: str) -> None:
        for method in methods:
            original = getattr(obj, method, None)
            if callable(original):
                try:
                    setattr(obj, method, self._watch(original, remedy, prefix + method))
                except (AttributeError, TypeError):  # slots or a frozen object: left unwatched
                    pass

    def _watch(self, original: Callable, remedy: str, hook: str) -> Callable:
        @functools.wraps(original)
        def watched(*args, **kwargs):
            try:
                result = original(*args, **kwargs)
                if hook == TRANSFORM_HOOK and result is not None:
                    self._watch_all(result, remedy, TRANSFORM_METHODS, TRANSFORM_HOOK + "().")
                # what the API says a hook returns: numbers, finite where its inputs are
                returned = result[0] if hook.endswith(".forward") and isinstance(result, tuple) else result
                where = _non_finite(returned)
                if where is not None and _non_finite((args, kwargs)) is None:
                    raise NonFinite(f"returned non-finite numbers{' in ' + where if where else ''}")
            except Exception as exc:
                self._origins[id(exc)] = (exc, remedy, hook)  # outer hooks overwrite: the outermost is named
                raise
            return result

        return watched


def _guarded(hooked: _HookedRegistry, when: str, unattributed: str, action: Callable, building: bool = False):
    """``action()``; an exception from it as Crashed, naming the remedy and hook
    it escaped from (else said as ``unattributed`` followed by the exception's
    first line), and ``when`` it happened. While ``building``, a
    ValueError not from a remedy's hook, or from ``configure`` or ``check``,
    goes through: the combination does not fit."""
    try:
        return action()
    except Exception as exc:
        origin = hooked.origin(exc)
        if building and isinstance(exc, ValueError) and (origin is None or origin[1] in REFUSALS):
            raise
        where = f" ({when})"
        if origin is None and isinstance(exc, training.Diverged):
            raise Crashed(f"the training step diverged{where}: {_first_line(exc)}") from exc
        if origin is None:
            raise Crashed(unattributed + _first_line(exc) + where) from exc
        remedy, hook = origin
        raise Crashed(f"remedy '{remedy}' failed in {hook}{where}: {_first_line(exc)}", remedy, hook) from exc


def run_steps(variant: VariantSpec, registry, loss: str, many_to_one: bool, batch: Batch,
              train: TrainSpec, steps: int = STEPS) -> list[training.StepStats]:
    """``steps`` real training steps of ``variant`` on ``batch``, as ``rnnbench
    run`` takes them: the model built in ``train.dtype`` (its remedies'
    truncation kept), ``training.train_step`` with ``train``'s optimiser.
    Diverged if a step's loss, gradients or parameters are not finite."""
    rng = np.random.default_rng(1)
    outputs = OUTPUTS if loss == "mse" else OUTPUTS + 1
    model = build_model(variant, registry, INPUTS, outputs, train.dtype, loss, many_to_one, rng)
    optimizer = registry.create("optimizer", train.optimizer, variant.learning_rate or train.learning_rate)
    batch = cast(batch, np.dtype(train.dtype))
    done = []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for step in range(1, steps + 1):
            stats = training.train_step(model, optimizer, batch, step)
            bad = [n for n, p in model.params.items() if not np.isfinite(p).all()]
            if not math.isfinite(stats.grad_norm_after) or bad:
                what = f"parameter {bad[0]}" if bad else "transformed gradient"
                raise training.Diverged(f"non-finite {what} after step {step}")
            done.append(stats)
    return done


def check_variant(variant: VariantSpec, registry, tolerance: float, train: TrainSpec | None = None) -> Iterator[Check]:
    """``variant``'s gradients on each of PROBLEMS, then STEPS real training
    steps on the same batch (``run_steps``, with ``train``, a suite's training
    settings, the defaults if None), one Check as each problem is done.
    ValueError when the combination does not fit (found when building);
    Crashed, after which no problem is checked, when the cell or a remedy
    raises, a remedy's hook returns non-finite numbers or a step diverges."""
    train = train or TrainSpec()
    for loss, many_to_one in PROBLEMS:
        hooked = _HookedRegistry(registry)
        shape = f"{loss} {'many-to-one' if many_to_one else 'many-to-many'}"
        problem = _guarded(hooked, f"building the model, {shape}", f"cell '{variant.cell}' or a remedy raised ",
                           lambda: make_problem(variant, hooked, loss=loss, many_to_one=many_to_one), building=True)
        errors = _guarded(hooked, f"gradient check, {shape}",
                          f"cell '{variant.cell}' or a remedy raised ", lambda: gradient_errors(problem))
        _guarded(hooked, f"training steps, {shape}",
                 f"cell '{variant.cell}' or optimizer '{train.optimizer.name}' raised ",
                 lambda: run_steps(variant, hooked, loss, many_to_one, problem.batch, train))
        yield Check(loss, many_to_one, errors, tolerance)
