"""The resolution step: a suite, whose structure ``rnnbench.spec`` has checked,
resolved against the plugin registry.

``resolve(suite, registry)`` is the one place where what plugins accept is
checked. It

1. validates every plugin's parameters, once, with the plugin's ``Params``
   model (the task, the optimiser, each remedy, each variant's cell), and
   writes every default out, so that a run's key changes when a default does;
2. checks each variant's combination of cell, activation, initialisation and
   remedies (``rnnbench.variant.model_config``: the remedies configure the
   model in order, each may refuse it, and the cell must offer the activation
   and initialisation);
3. checks the tuning protocol, the one place it is checked
   (``tuning_problems``: tuning seeds apart from the evaluation seeds,
   searched names that are numeric settings of the variants' plugins, searches
   that fit the budget, trials whose settings the plugins accept, a selection
   metric the task reports), and fills in which way the metric is better;

and returns a ``Resolved`` suite, whose runs are the ones keyed and stored:
the grid as written, or, for a tuned suite, the trials of its search
(``rnnbench.tuning`` expands them here) and then the evaluation runs of what
tuning selects.

Every problem is one line naming the field, as ``rnnbench.spec`` names the
fields whose structure is wrong: ``variants[1].remedies[0]: remedy
'clip_norm': threshold: Input should be greater than 0``; every problem is
reported at once (those of the tuning protocol once the plugins' parameters
are good).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rnnbench import tuning
from rnnbench.results import RunResult
from rnnbench.spec import (
    PluginRef,
    RunSpec,
    SearchDim,
    SpecError,
    SuiteSpec,
    TrainSpec,
    VariantSpec,
    first_problem,
    format_validation_error,
    parse_suite_file,
    loads_suite,
    parse_suite,
    suite_line,
)
from rnnbench.variant import model_config  # a variant's combination, checked where it is built


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


def _variant_problems(variant: VariantSpec, registry) -> tuple[VariantSpec, list[Refused]]:
    remedies, problems = [], []
    for j, ref in enumerate(variant.remedies):
        try:
            remedies.append(plugin_ref(ref, registry))
        except ValueError as exc:
            problems.append(Refused(f"remedies[{j}]", str(exc)))
    if problems:
        return variant, problems
    resolved = variant.model_copy(update={"remedies": remedies, **_cell_choices(variant, registry)})
    try:
        config, _ = model_config(resolved, registry, input_size=1, output_size=1, dtype="float64")
    except ValueError as exc:
        return variant, [Refused("", str(exc))]
    filled = config.cell_params.model_dump(mode="json")
    if filled != resolved.cell_params:  # every default written out, so the key covers it
        resolved = resolved.model_copy(update={"cell_params": filled})
    return resolved, []


def _cell_choices(variant: VariantSpec, registry) -> dict[str, str]:
    """The activation and initialisation of a variant that names neither, where
    its cell does not offer the variant's defaults (tanh, uniform): the cell's
    first choice (a torch module's own initialisation, "module"), written out
    so that the run key covers it. A value the variant gives is kept as given."""
    component = registry.components.get(("cell", variant.cell))
    if component is None:
        return {}
    cell = component.cls
    chosen = {}
    for field, offered in (("activation", cell.activations), ("init", cell.inits)):
        if field not in variant.model_fields_set and getattr(variant, field) not in offered and offered:
            chosen[field] = offered[0]
    return chosen


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

    def stages(self, stored: Callable[[list[RunSpec]], list[RunResult]]) -> tuning.Stages:
        """The trials, their stored results (``stored``), what they select and
        the evaluation runs of that (see ``tuning.stages``)."""
        return tuning.stages(self.suite, stored)


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
        lines = tuning_problems(resolved, registry)
        if lines:
            raise SpecError([suite_line(line) for line in lines])
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
    return parse_suite_file(path, _resolver(registry))


# --- the tuning protocol --------------------------------------------------------------------


def tuning_problems(suite: SuiteSpec, registry) -> list[str]:
    """The one check of a tuning protocol, against the plugins, on a suite
    whose variants are resolved (their cells' defaults written out): every
    problem, one line each naming its field. In this order: tuning seeds that
    are also evaluation seeds; each searched name that is not a numeric
    setting of some variant (one line per bad dimension); then, when every
    name is good, each variant's search that does not fit the budget and the
    first trial of each variant whose settings the plugins refuse (variants
    with the same problem share a line); last, a selection metric the task
    does not report."""
    lines = []
    overlap = sorted(set(suite.tuning.seeds) & set(suite.seeds))
    if overlap:
        shown = ", ".join(map(str, overlap))
        lines.append(f"tuning.seeds: {shown} {'is also an evaluation seed' if len(overlap) == 1 else 'are also evaluation seeds'}; keep them apart")
    names = _name_problems(suite, registry)
    lines += names
    if not names:
        lines += _search_problems(suite, registry)
    metrics = registry.get("task", suite.task.name).metrics
    if suite.tuning.metric != "validation_loss" and suite.tuning.metric not in metrics:
        known = ", ".join(["validation_loss", *metrics])
        lines.append(
            f"tuning.metric: task '{suite.task.name}' does not report '{suite.tuning.metric}' (it reports: {known})"
        )
    return lines


def _name_problems(suite: SuiteSpec, registry) -> list[str]:
    """One line per searched name that names no numeric setting of a variant it is searched for."""
    lines = []
    for i, dim in enumerate(suite.tuning.search):
        problem = _dim_problem(dim, suite.variants, suite, registry)
        if problem:
            lines.append(f"tuning.search[{i}].name: '{dim.name}': {problem}")
    for i, variant in enumerate(suite.variants):
        for j, dim in enumerate(variant.search):
            problem = _dim_problem(dim, [variant], suite, registry)
            if problem:
                lines.append(f"variants[{i}].search[{j}].name: '{dim.name}': {problem}")
    return lines


def _dim_problem(dim: SearchDim, variants: list[VariantSpec], suite: SuiteSpec, registry) -> str | None:
    """What is wrong with searching ``dim`` for ``variants`` (one of them must have it), or None."""
    target = dim.target
    if target.kind == "train":
        fields = [n for n, f in TrainSpec.model_fields.items() if f.annotation in (int, float)]
        if target.param not in fields:
            return f"'{target.param}' is not a numeric training setting{_options(target.param, sorted(fields), 'those are:')}"
    elif target.kind == "optimizer":
        name = suite.train.optimizer.name
        params = list(registry.get("optimizer", name).Params.model_fields)
        if target.param not in params:
            return f"optimizer '{name}' has no parameter '{target.param}'{_options(target.param, params)}"
    elif target.kind == "cell":
        if not any(tuning.applies(dim, v) for v in variants):
            return _no_cell_parameter(target.param, variants, registry)
    elif target.kind == "remedy":
        if not any(tuning.applies(dim, v) for v in variants):
            remedies = list(dict.fromkeys(r.name for v in variants for r in v.remedies))
            if len(variants) == 1:
                return f"variant '{variants[0].name}' has no remedy '{target.remedy}'{_options(target.remedy, remedies)}"
            return f"no variant has remedy '{target.remedy}'{_options(target.remedy, remedies, 'their remedies:')}"
        params = list(registry.get("remedy", target.remedy).Params.model_fields)
        if target.param not in params:
            return f"remedy '{target.remedy}' has no parameter '{target.param}'{_options(target.param, params)}"
    return None


def _no_cell_parameter(param: str, variants: list[VariantSpec], registry) -> str:
    """``cell 'lstm' has no parameter 'forget_bais' (it has: forget_bias); did you
    mean 'forget_bias'?``, naming every cell of ``variants`` (the cell each is
    built with, after its remedies chose)."""
    cells: dict[str, list[str]] = {}
    for variant in variants:
        cell = model_config(variant, registry, input_size=1, output_size=1, dtype="float64")[0].cell
        cells.setdefault(cell, list(registry.get("cell", cell).Params.model_fields))
    if len(cells) == 1:
        ((cell, params),) = cells.items()
        return f"cell '{cell}' has no parameter '{param}'{_options(param, params)}"
    named = ", ".join(f"'{c}'" for c in cells)
    each = "; ".join(f"{c} has: {', '.join(p)}" if p else f"{c} has none" for c, p in cells.items())
    every = list(dict.fromkeys(p for params in cells.values() for p in params))
    return f"cells {named} have no parameter '{param}' ({each}){_hint(param, every)}"


def _options(wrong: str, known: list[str], label: str = "it has:") -> str:
    """`` (it has: a, b); did you mean 'a'?``, what is known said after ``label``
    (`` (it has: none)`` when nothing is)."""
    return f" ({label} {', '.join(known) or 'none'}){_hint(wrong, known)}"


def _hint(wrong: str, known: list[str]) -> str:
    close = difflib.get_close_matches(wrong, known, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _search_problems(suite: SuiteSpec, registry) -> list[str]:
    """Each variant whose search does not fit the budget, then the first trial of
    each variant whose settings the plugins refuse; variants with the same
    problem share one line, ``tuning: variants 'a', 'b': ...``."""
    by_problem: dict[str, list[str]] = {}
    for variant in suite.variants:
        problem = _variant_search_problem(suite, variant, registry)
        if problem is not None:
            by_problem.setdefault(problem, []).append(variant.name)
    lines = []
    for problem, names in by_problem.items():
        who = f"variant '{names[0]}'" if len(names) == 1 else "variants " + ", ".join(f"'{n}'" for n in names)
        lines.append(f"tuning: {who}{problem}")
    return lines


def _variant_search_problem(suite: SuiteSpec, variant: VariantSpec, registry) -> str | None:
    """What follows the variant's name in its problem line, or None."""
    try:
        trials = tuning.search(suite, variant)
    except ValueError as exc:
        return f": {exc}"
    for values in trials:
        try:
            v, t = tuning.trial_settings(variant, suite.train, values)
            resolve_variant(v, registry)
            plugin_ref(t.optimizer, registry)
        except ValueError as exc:
            shown = ", ".join(f"{k}={x:g}" for k, x in values.items())
            return f" at {shown}: {_detail(exc)}"
    return None


def _detail(exc: ValueError) -> str:
    """What is wrong with one trial's settings, in one line naming the field."""
    if isinstance(exc, ValidationError):  # the settings' structure (say, a negative learning rate)
        line = format_validation_error(exc, root="variant")[0]
        return f"train.{line}" if exc.title == TrainSpec.__name__ else line
    return str(exc).splitlines()[0]
