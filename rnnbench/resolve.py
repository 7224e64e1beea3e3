"""The resolution step: a suite, whose structure ``rnnbench.spec`` has checked,
resolved against the plugin registry.

``resolve(suite, registry)`` is the one place where what plugins accept is
checked. It

1. validates every plugin's parameters, once, with the plugin's ``Params``
   model (the task, the optimiser, each remedy, each variant's cell), and
   writes every default out, so that a run's key changes when a default does;
2. checks each variant's combination of cell, activation, initialisation and
   remedies (``model_config``: the remedies configure the model in order, each
   may refuse it, and the cell must offer the activation and initialisation);
3. checks the tuning protocol against the plugins (searched parameters that
   exist, trials whose settings the plugins accept, a selection metric the
   task reports) and fills in which way the metric is better;

and returns a ``Resolved`` suite, whose runs are the ones keyed and stored:
the grid as written, or, for a tuned suite, the trials of its search
(``rnnbench.tuning`` expands them here) and then the evaluation runs of what
tuning selects.

Every problem is one line naming the field, as ``rnnbench.spec`` names the
fields whose structure is wrong: ``variants[1].remedies[0]: remedy
'clip_norm': threshold: Input should be greater than 0``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from rnnbench import tuning
from rnnbench.api import ModelConfig, Remedy
from rnnbench.results import RunResult
from rnnbench.spec import (
    PluginRef,
    RunSpec,
    SpecError,
    SuiteSpec,
    TrainSpec,
    VariantSpec,
    first_problem,
    format_validation_error,
    load_suite,
    loads_suite,
    parse_suite,
    suite_line,
)


class Refused(ValueError):
    """What the plugins refuse, at ``where`` (a field path relative to the
    object resolved, "" for the object itself)."""

    def __init__(self, where: str, message: str):
        self.where, self.message = where, message
        super().__init__(f"{where}: {message}" if where else message)

    def line(self, prefix: str = "", root: str = "suite") -> str:
        """The problem as one line, its field under ``prefix`` (a problem of
        the whole object is said of ``prefix``, else of ``root``)."""
        where = self.where
        if prefix:
            where = f"{prefix}{'' if not where or where.startswith('[') else '.'}{where}"
        return f"{where or root}: {self.message}"


# --- plugin parameters --------------------------------------------------------------------


def plugin_ref(ref: PluginRef, registry) -> PluginRef:
    """``ref`` with its parameters validated by its plugin's ``Params`` model
    and every default written out. ValueError (one line) naming the plugin: an
    unknown name lists the known ones."""
    component = registry.get(ref.kind, ref.name)  # raises a ValueError listing known names
    try:
        params = component.Params.model_validate(ref.params)
    except ValidationError as exc:
        raise ValueError(f"{ref.kind} '{ref.name}': {first_problem(exc)}") from None
    return type(ref).model_construct(name=ref.name, **params.model_dump(mode="json"))


def model_config(variant: VariantSpec, registry, input_size: int, output_size: int, dtype) -> tuple[ModelConfig, list[Remedy]]:
    """The model configuration of ``variant`` (its remedies applied, in order,
    its cell's parameters validated) and its remedy instances.

    ValueError naming the remedy or the field when the combination is refused.
    """
    remedies = [registry.create("remedy", ref) for ref in variant.remedies]
    config = ModelConfig(
        cell=variant.cell,
        activation=variant.activation,
        init=variant.init,
        input_size=input_size,
        hidden_size=variant.hidden_size,
        output_size=output_size,
        dtype=np.dtype(dtype),
    )
    for remedy in remedies:
        config = remedy.configure(config)
    cell = registry.get("cell", config.cell)
    try:
        config = dataclasses.replace(config, cell_params=cell.Params.model_validate(variant.cell_params))
    except ValidationError as exc:
        raise ValueError(f"cell_params of cell '{config.cell}': {first_problem(exc)}") from None
    for remedy in remedies:  # first, so that a remedy's own reason is the one given
        try:
            remedy.check(config)
        except ValueError as exc:
            raise ValueError(f"remedy '{remedy.name}' does not apply here: {exc}") from None
    for field, allowed in (("activation", cell.activations), ("init", cell.inits)):
        value = getattr(config, field)
        if value not in allowed:
            raise ValueError(
                f"{field} '{value}' is not available for cell '{config.cell}'; "
                f"choose one of: {', '.join(allowed)}"
            )
    return config, remedies


def _variant_problems(variant: VariantSpec, registry) -> tuple[VariantSpec, list[Refused]]:
    remedies, problems = [], []
    for j, ref in enumerate(variant.remedies):
        try:
            remedies.append(plugin_ref(ref, registry))
        except ValueError as exc:
            problems.append(Refused(f"remedies[{j}]", str(exc)))
    if problems:
        return variant, problems
    resolved = variant.model_copy(update={"remedies": remedies})
    try:
        config, _ = model_config(resolved, registry, input_size=1, output_size=1, dtype="float64")
    except ValueError as exc:
        return variant, [Refused("", str(exc))]
    filled = config.cell_params.model_dump(mode="json")
    if filled != resolved.cell_params:  # every default written out, so the key covers it
        resolved = resolved.model_copy(update={"cell_params": filled})
    return resolved, []


def resolve_variant(variant: VariantSpec, registry) -> VariantSpec:
    """``variant`` with its remedies' and its cell's parameters validated and
    their defaults written out, its combination checked. Refused (a ValueError)
    naming the first problem's field (``remedies[0]``, or "" for the variant)."""
    resolved, problems = _variant_problems(variant, registry)
    if problems:
        raise problems[0]
    return resolved


# --- the suite ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Resolved:
    """A suite resolved against the plugins: its runs are the ones keyed and stored."""

    suite: SuiteSpec
    registry: Any

    def runs(self) -> list[RunSpec]:
        """Without tuning, the grid as written; with it, the trials of the search."""
        return self.trial_runs() if self.suite.tuning is not None else self.suite.runs()

    def trial_runs(self) -> list[RunSpec]:
        """The tuning runs: per length, variant, trial and tuning seed (none without tuning)."""
        return tuning.trial_runs(self.suite)

    def select(self, trial_results: Sequence[RunResult]) -> list[tuning.Selection]:
        """What tuning selects from the trials' results, per length and variant
        (see ``tuning.select``); none without tuning."""
        return tuning.select(self.suite, trial_results) if self.suite.tuning is not None else []

    def evaluation_runs(self, selections: Sequence[tuning.Selection] = ()) -> list[RunSpec]:
        """The runs the report and findings read (see ``tuning.evaluation_runs``)."""
        return tuning.evaluation_runs(self.suite, selections)


def resolve(suite: SuiteSpec, registry) -> Resolved:
    """Resolve ``suite`` against ``registry`` (see the module's docstring).
    SpecError with one line per problem naming its field."""
    lines: list[str] = []

    def ref(value: PluginRef, where: str) -> PluginRef:
        try:
            return plugin_ref(value, registry)
        except ValueError as exc:
            lines.append(f"{where}: {exc}")
            return value

    task = ref(suite.task, "task")
    optimizer = ref(suite.train.optimizer, "train.optimizer")
    variants = []
    for i, variant in enumerate(suite.variants):
        resolved, problems = _variant_problems(variant, registry)
        lines += [p.line(f"variants[{i}]") for p in problems]
        variants.append(resolved)
    if lines:
        raise SpecError(lines)
    resolved = suite.model_copy(update={
        "task": task, "train": suite.train.model_copy(update={"optimizer": optimizer}), "variants": variants,
    })
    if resolved.tuning is not None:
        try:
            _check_tuning(resolved, registry)
        except ValueError as exc:
            raise SpecError([suite_line(str(exc))]) from None
        if resolved.tuning.goal is None:
            metric = resolved.tuning.metric
            declared = registry.get("task", resolved.task.name).metrics
            direction = "min" if metric == "validation_loss" else declared[metric]
            resolved = resolved.model_copy(update={"tuning": resolved.tuning.model_copy(update={"goal": direction})})
    return Resolved(resolved, registry)


def _resolver(registry):
    return lambda suite: resolve(suite, registry).suite


def resolve_data(data: dict[str, Any], registry) -> SuiteSpec:
    """A suite given as plain data (a suite file's tables): its structure
    checked (``rnnbench.spec.parse_suite``), then resolved against ``registry``.
    SpecError with one line per problem naming its field."""
    return parse_suite(data, _resolver(registry))


def resolve_text(text: str, source: str, registry) -> SuiteSpec:
    """The same for TOML text; every message starts with ``source``."""
    return loads_suite(text, source, _resolver(registry))


def resolve_file(path: str | Path, registry) -> SuiteSpec:
    """The same for a suite file."""
    return load_suite(path, _resolver(registry))


def _check_tuning(suite: SuiteSpec, registry) -> None:
    """The tuning protocol checked against the plugins, in this order: every
    searched name is a setting of some variant and a numeric parameter of its
    plugin, each variant's search fits the budget and every trial's settings
    are accepted, the task reports the selection metric. ValueError naming
    the field."""
    tuning.check_applies(suite)
    _check_names(suite, registry)
    for variant in suite.variants:
        for values in tuning.trials_of(suite, variant):
            try:
                v, t = tuning.trial_settings(variant, suite.train, values)
                resolve_variant(v, registry)
                plugin_ref(t.optimizer, registry)
            except ValueError as exc:
                shown = ", ".join(f"{k}={v:g}" for k, v in values.items())
                raise ValueError(f"tuning: variant '{variant.name}' at {shown}: {_detail(exc)}") from None
    metrics = registry.get("task", suite.task.name).metrics
    if suite.tuning.metric != "validation_loss" and suite.tuning.metric not in metrics:
        known = ", ".join(["validation_loss", *metrics])
        raise ValueError(
            f"tuning.metric: task '{suite.task.name}' does not report '{suite.tuning.metric}' (it reports: {known})"
        )


def _detail(exc: ValueError) -> str:
    """What is wrong with one trial's settings, in one line naming the field."""
    if isinstance(exc, ValidationError):  # the settings' structure (say, a negative learning rate)
        line = format_validation_error(exc, root="variant")[0]
        return f"train.{line}" if exc.title == TrainSpec.__name__ else line
    return str(exc).splitlines()[0]


def _check_names(suite: SuiteSpec, registry) -> None:
    """Every train/optimizer/remedy name searched is a numeric setting of its plugin."""
    dims = [(f"tuning.search[{i}]", d) for i, d in enumerate(suite.tuning.search)]
    dims += [(f"variants[{i}].search[{j}]", d) for i, v in enumerate(suite.variants) for j, d in enumerate(v.search)]
    for where, dim in dims:
        kind, *rest = dim.name.split(".")
        if kind == "train":
            fields = {n for n, f in TrainSpec.model_fields.items() if f.annotation in (int, float)}
            if rest[0] not in fields:
                raise ValueError(f"{where}: '{dim.name}' is not a numeric training setting "
                                 f"({', '.join(sorted(fields))})")
        elif kind == "optimizer":
            params = registry.get("optimizer", suite.train.optimizer.name).Params.model_fields
            if rest[0] not in params:
                raise ValueError(f"{where}: optimizer '{suite.train.optimizer.name}' has no parameter "
                                 f"'{rest[0]}' ({', '.join(params) or 'it has none'})")
        elif kind == "remedy":
            component = registry.get("remedy", rest[0])  # a ValueError naming the known ones
            if rest[1] not in component.Params.model_fields:
                raise ValueError(f"{where}: remedy '{rest[0]}' has no parameter '{rest[1]}' "
                                 f"({', '.join(component.Params.model_fields) or 'it has none'})")
