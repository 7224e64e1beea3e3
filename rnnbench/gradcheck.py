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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np
from pydantic import ValidationError

from rnnbench.api import Batch
from rnnbench.engine import numerics
from rnnbench.engine.finite_differences import check_gradients
from rnnbench.resolve import Refused, resolve_variant
from rnnbench.spec import SuiteSpec, VariantSpec, format_validation_error
from rnnbench.variant import Model, build_model

INPUTS, OUTPUTS = 3, 2
HIDDEN_SIZE = 4  # units of every variant checked: small, so that finite differences are quick
# (loss, many_to_one) of the problems each variant is checked on: a many-to-one MSE problem
# and a many-to-many cross-entropy problem with masked steps
PROBLEMS = (("mse", True), ("cross_entropy", False))
COMMAND_LINE = "command line"  # the name of a variant given on the command line


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


def gradient_errors(problem: Problem, eps: float = 1e-6) -> dict[str, float]:
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
    the cell's first. ValueError, one line per problem, said of the command line."""
    fields = {"name": COMMAND_LINE, "cell": cell or "vanilla", "hidden_size": HIDDEN_SIZE,
              "remedies": list(remedies)}
    component = registry.components.get(("cell", fields["cell"]))
    for field, given in (("activation", activation), ("init", init)):
        if given:
            fields[field] = given
        elif component is not None:  # a cell without the variant default: its first choice
            allowed = getattr(component.cls, field + "s")
            default = VariantSpec.model_fields[field].default
            fields[field] = default if default in allowed else allowed[0]
    try:
        return resolve_variant(VariantSpec.model_validate(fields), registry)
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
    """A plugin's cell or remedy raised during a gradient check."""


def check_variant(variant: VariantSpec, registry, tolerance: float) -> Iterator[Check]:
    """``variant``'s gradients on each of PROBLEMS, one Check as each is done.
    ValueError when the combination does not fit (found when building);
    Crashed, after which no problem is checked, when the cell or a remedy raises."""
    for loss, many_to_one in PROBLEMS:
        problem = make_problem(variant, registry, loss=loss, many_to_one=many_to_one)
        try:
            errors = gradient_errors(problem)
        except Exception as exc:  # a plugin's cell or remedy crashed
            raise Crashed(f"cell '{variant.cell}' or a remedy raised {type(exc).__name__}: {exc}") from exc
        yield Check(loss, many_to_one, errors, tolerance)
