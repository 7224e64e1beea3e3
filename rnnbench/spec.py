"""What a user writes: the suite file, validated by pydantic.

A suite names one task, the sequence lengths and seeds to sweep, the training
settings and the variants to compare. Expanding it gives one ``RunSpec`` per
(sequence length, variant, seed); a RunSpec is everything a worker needs to
train one network, and its hash is the key of the stored result.

The models here check the structure only. Names of tasks, cells, remedies
and optimisers are provided by plugins; those names, the parameters each
plugin accepts and the combinations of a variant are checked by the one
resolution step, ``rnnbench.resolve.resolve``, which also writes every
default out. ``rnnbench.resolve.resolve_data`` (``resolve_file``) does both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)


class SpecError(Exception):
    """A suite that cannot be run; each line of ``lines`` names a field and what is wrong."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PluginRef(BaseModel):
    """A name provided by a plugin, with that plugin's own parameters beside it.

    In TOML: ``{ name = "clip_norm", threshold = 1.0 }``, or just ``"sgd"``
    when the defaults will do. Resolution (``rnnbench.resolve``) validates the
    parameters with the plugin's ``Params`` model and writes every default out,
    so that the run's hash changes when a default does.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: ClassVar[str] = ""

    name: str = Field(min_length=1, description="Name of the plugin-provided component.")

    @model_validator(mode="before")
    @classmethod
    def _accept_bare_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @property
    def params(self) -> dict[str, Any]:
        """The parameters for the plugin (everything but ``name``)."""
        return dict(self.model_extra or {})


class TaskRef(PluginRef):
    kind: ClassVar[str] = "task"


class RemedyRef(PluginRef):
    kind: ClassVar[str] = "remedy"


class OptimizerRef(PluginRef):
    kind: ClassVar[str] = "optimizer"


SEARCH_TARGETS = (
    "learning_rate (the variant's learning rate), train.<setting>, optimizer.<parameter>, "
    "cell.<parameter>, remedy.<remedy name>.<parameter>"
)


@dataclasses.dataclass(frozen=True)
class SearchTarget:
    """What a search dimension's name says is searched: ``kind`` is one of
    learning_rate, train, optimizer, cell and remedy; ``param`` the setting or
    parameter ("" for learning_rate); ``remedy`` the remedy's name (for a remedy)."""

    kind: str
    param: str = ""
    remedy: str = ""


def search_target(name: str) -> SearchTarget:
    """The one reading of a search dimension's name (see ``SearchDim``);
    ValueError for a name that is none of ``SEARCH_TARGETS``."""
    parts = name.split(".")
    if name == "learning_rate":
        return SearchTarget("learning_rate")
    if len(parts) == 2 and parts[0] in ("train", "optimizer", "cell") and parts[1]:
        return SearchTarget(parts[0], parts[1])
    if len(parts) == 3 and parts[0] == "remedy" and parts[1] and parts[2]:
        return SearchTarget("remedy", parts[2], parts[1])
    raise ValueError(f"cannot search '{name}': name one of {SEARCH_TARGETS}")


class SearchDim(_Strict):
    """One searched setting of a tuning protocol: a range or a list of values.

    ``name`` says what is searched: ``learning_rate`` (the variant's learning
    rate), ``train.<setting>`` (a numeric training setting), ``optimizer.<p>``
    (a parameter of the optimiser), ``cell.<p>`` (a parameter of the variant's
    cell, e.g. ``cell.forget_bias``) or ``remedy.<name>.<p>`` (a parameter of
    one of the variant's remedies, e.g. ``remedy.clip_norm.threshold``). A
    dimension of a cell or remedy applies to the variants that have one.
    """

    name: str = Field(min_length=1, description="What is searched: " + SEARCH_TARGETS + ".")
    low: float | None = Field(None, description="Lower end of a range.")
    high: float | None = Field(None, description="Upper end of a range.")
    log: bool = Field(True, description="Search the range on a log scale (its bounds must be > 0).")
    values: list[float] | None = Field(None, description="The values to search, instead of a range.")
    integer: bool = Field(False, description="Round every value to a whole number.")

    @model_validator(mode="after")
    def _range_or_values(self):
        if self.values is not None:
            if self.low is not None or self.high is not None:
                raise ValueError(f"'{self.name}': give either values or low and high, not both")
            if not self.values:
                raise ValueError(f"'{self.name}': values is an empty grid")
            if len(set(self.values)) != len(self.values):
                raise ValueError(f"'{self.name}': values must be unique")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"'{self.name}': give low and high (a range) or values (a grid)")
        if self.low > self.high:
            raise ValueError(f"'{self.name}': low {self.low:g} > high {self.high:g}")
        if self.log and self.low <= 0:
            raise ValueError(f"'{self.name}': a log range needs low > 0, not {self.low:g}")
        return self

    @field_validator("name")
    @classmethod
    def _known_target(cls, name: str) -> str:
        search_target(name)
        return name

    @property
    def target(self) -> SearchTarget:
        """What ``name`` says is searched (``search_target``)."""
        return search_target(self.name)


def _default_search() -> list[SearchDim]:
    return [SearchDim(name="learning_rate", low=1e-4, high=1e-1, log=True)]


class TuningSpec(_Strict):
    """The tuning protocol: every variant gets the same budget of trials at
    every sequence length, each trial trained with the tuning seeds and scored
    on the validation set; the best configuration is then trained with the
    suite's seeds and judged on the test set.

    Selection: a trial's score is the mean, over the tuning seeds, of the final
    value of ``metric`` on the validation set; a trial with a run that diverged,
    failed or timed out scores worst. The best score wins; ties (such as every
    trial diverging) go to the trial that comes first in the search order (for
    a grid, the smallest values, the first dimension varying slowest).
    """

    budget: PositiveInt = Field(description="Trials per (variant, sequence length), the same for every variant.")
    seeds: list[NonNegativeInt] = Field(
        default_factory=lambda: [1000], min_length=1,
        description="Tuning seeds, apart from the suite's evaluation seeds.",
    )
    method: Literal["grid", "random", "quasirandom"] = Field(
        "grid",
        description="grid: every combination (one range is split into as many points as the "
        "budget leaves); random: seeded uniform draws (log-uniform on a log range); "
        "quasirandom: a scrambled Halton sequence, seeded.",
    )
    draw_seed: NonNegativeInt = Field(0, description="Seeds the random and quasi-random draws.")
    search: list[SearchDim] = Field(
        default_factory=_default_search, min_length=1,
        description="The searched settings (default: the learning rate, 1e-4 to 1e-1 on a log scale).",
    )
    metric: str = Field(
        "validation_loss",
        description="Selection metric: validation_loss (lower is better) or a metric the task "
        "reports, in the direction the task declares.",
    )
    goal: Literal["min", "max"] | None = Field(
        None, description="Which way the metric is better (default: the task's declaration)."
    )

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, values: list[int]) -> list[int]:
        if len(set(values)) != len(values):
            raise ValueError("values must be unique")
        return values

    @field_validator("search")
    @classmethod
    def _unique_names(cls, dims: list[SearchDim]) -> list[SearchDim]:
        names = [d.name for d in dims]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"'{twice[0]}' is searched twice")
        return dims


class VariantSpec(_Strict):
    """One network configuration to compare: a cell, its activation, its
    initialisation, and the remedies applied to it, in order."""

    name: str = Field(min_length=1, description="Label shown in the report; must be unique.")
    cell: str = Field("vanilla", description="Recurrent cell, provided by a plugin.")
    cell_params: dict[str, Any] = Field(
        default_factory=dict,
        description="The cell's own parameters (e.g. the LSTM's forget_bias), validated by the cell.",
    )
    activation: str = Field("tanh", description="Non-linearity of the cell.")
    init: str = Field("uniform", description="Initialisation scheme of the cell's weights.")
    hidden_size: PositiveInt = Field(32, description="Number of hidden units.")
    remedies: list[RemedyRef] = Field(
        default_factory=list, description="Remedies applied in this order."
    )
    learning_rate: PositiveFloat | None = Field(
        None, description="This variant's learning rate, instead of train.learning_rate."
    )
    search: list[SearchDim] = Field(
        default_factory=list,
        description="This variant's own search dimensions, added to the suite's tuning.search "
        "(one of the same name replaces the suite's): a variant may widen or narrow its space, "
        "never its budget.",
    )


class TrainSpec(_Strict):
    """How every variant is trained."""

    optimizer: OptimizerRef = Field(
        default_factory=lambda: OptimizerRef(name="sgd"), description="Optimiser plugin."
    )
    learning_rate: PositiveFloat = 0.01
    steps: PositiveInt = Field(300, description="Number of parameter updates.")
    batch_size: PositiveInt = 32
    log_every: PositiveInt = Field(25, description="Evaluate and log every this many steps.")
    test_size: PositiveInt = Field(256, description="Sequences in the fixed held-out test set.")
    validation_size: PositiveInt = Field(
        256, description="Sequences in the fixed validation set, on which tuning selects."
    )
    dtype: Literal["float32", "float64"] = "float32"
    flush_to_zero: bool = Field(
        True,
        description="Flush subnormal floats to zero while training: vanishing gradients in "
        "float32 reach the subnormal range, where arithmetic is many times slower.",
    )


class ExecutionSpec(_Strict):
    """How the runs are executed. Not part of any run's key: a run gives the same
    numbers on every executor. The command line overrides these settings."""

    executor: Literal["serial", "processes", "dask"] = Field(
        "serial", description="serial (in-process), processes (a local pool) or dask."
    )
    jobs: PositiveInt | None = Field(None, description="Worker processes (default: the cores).")
    scheduler: str | None = Field(
        None, description="Address of a running Dask scheduler (default: a local cluster)."
    )
    timeout_s: PositiveFloat | None = Field(
        None, description="Per-run time limit in seconds; a run over it is recorded as 'timeout'."
    )
    blas_threads: PositiveInt = Field(1, description="BLAS threads per worker.")
    engine: Literal["auto", "fast", "textbook"] = Field(
        "auto",
        description="Which path the cells run: 'textbook' (plain numpy, one line per formula), "
        "'fast' (compiled with numba) or 'auto' (fast where numba is installed). The same numbers "
        "to round-off; the path each run took is recorded in its record.",
    )
    device: Literal["cpu", "cuda", "auto"] = Field(
        "cpu",
        description="Where cells written in torch run: 'cpu', 'cuda' (a GPU) or 'auto' (a GPU where torch "
        "sees one). Without a GPU one line says so and they run on the CPU. The numpy cells always run "
        "on the CPU. The device each run took is recorded in its record.",
    )
    workers_per_gpu: PositiveInt = Field(
        4, description="With a GPU and no jobs given: worker processes per GPU, sharing it. Four by "
        "default: processes sharing one GPU overlap each other's kernel launches (4 to 16 of them trained "
        "2.4-3.5 times the run-steps per second of 16 CPU cores, measured with fused torch cells on an H200).",
    )


class FindingSpec(_Strict):
    """A known result the suite should reproduce, checked against its stored runs.

    ``measure`` of ``variant`` must lie below or above a number, or the same
    measure of another variant, at every sequence length of the suite (or only
    at ``seq_len``). Counts (a rate, decided by exact tests): ``success_rate``
    (runs that met the task's main criterion, of every run), ``diverged_fraction``,
    ``trials_diverged_fraction`` (of a tuned suite: the share of the variant's
    learning rates, or other trials, at which a run diverged). Per-run values
    (the median run, decided by the sign test against a number and the exact
    rank test against another variant; every run counts, see
    ``rnnbench.report.findings``): ``final_test_loss``, ``loss_over_baseline``
    (final test loss / the input-blind baseline), ``k_hat_init``,
    ``k_hat_final`` (fitted per-step gradient factors), ``k_hat_over_bound_init``
    (k-hat / (||W_hh||_2 max|f'|)), ``recurrent_norm_final`` (||W_hh||_2 at the
    end), ``steps_to_solve`` (the first logged step at which the task was
    solved, censored at the budget for a run that never was), or the name of a
    task metric (its final value).
    """

    claim: str = Field(min_length=1, description="The finding, in a sentence.")
    source: str = Field("", description="Where it comes from (paper, section).")
    variant: str
    measure: str
    below: float | str | None = Field(None, description="A number, or another variant's name.")
    above: float | str | None = Field(None, description="A number, or another variant's name.")
    seq_len: PositiveInt | None = Field(None, description="Only at this length (default: all).")
    every_trial: bool = Field(
        False,
        description="Also require the claim at every run of every trial of the variant's tuning "
        "budget (each tuning seed; a run that did not finish breaks it): set it on every claim "
        "that a variant fails.",
    )

    @property
    def bound(self) -> float | str:
        """The number or the variant's name the measure is compared with."""
        return self.below if self.below is not None else self.above

    @model_validator(mode="after")
    def _one_bound(self):
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of 'below' and 'above'")
        if self.every_trial and isinstance(self.below if self.below is not None else self.above, str):
            raise ValueError("every_trial: compare with a number, not with another variant")
        return self


SCALES = ("quick", "paper")
SCALE_ALIASES = {"fast": "quick"}  # the quick version's name before the compiled path took the word "fast"
SCALE_CHOICES = (*SCALES, *SCALE_ALIASES)  # what --scale accepts


def scale_name(scale: str) -> str:
    """The scale ``scale`` names: "quick" for its old name "fast", else itself."""
    return SCALE_ALIASES.get(scale, scale)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""What a suite's name may be: it names the folders results/<name>/ and reports/<name>/."""
NAME_RULE = "use letters, digits, '_', '.' and '-', starting with a letter or digit"


def suite_name(text: str, fallback: str = "suite") -> str:
    """``text`` made a suite name (``NAME_PATTERN``): every other character
    becomes '_', and what comes before the first letter or digit is dropped;
    ``fallback`` if nothing is left."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", text)
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)
    return name or fallback


class ScaleSpec(_Strict):
    """Overrides that make another size of a suite: ``[quick]``, a quick version
    small enough for the test suite to check the direction of its findings
    (``rnnbench run NAME --quick``; ``[fast]`` is its old name), and ``[paper]``,
    the papers' lengths and training budgets, hours of CPU meant for a cluster
    (``--scale paper``)."""

    seq_lens: list[PositiveInt] | None = None
    seeds: list[NonNegativeInt] | None = None
    steps: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    log_every: PositiveInt | None = None
    test_size: PositiveInt | None = None
    validation_size: PositiveInt | None = None
    hidden_size: PositiveInt | None = Field(None, description="Every variant's hidden size.")
    variants: list[str] | None = Field(
        None, description="Only these variants, by name; findings about the others are left out.")
    tuning: TuningSpec | None = Field(None, description="Another tuning protocol, replacing the suite's.")



class SuiteSpec(_Strict):
    """A benchmark: one task, swept over sequence lengths, variants and seeds."""

    name: str = Field(
        json_schema_extra={"pattern": NAME_PATTERN.pattern},
        description="Suite name; results go to results/<name>/, the report to reports/<name>/.",
    )
    description: str = ""
    task: TaskRef
    seq_lens: list[PositiveInt] = Field(min_length=1, description="Sequence lengths to sweep.")
    seeds: list[NonNegativeInt] = Field(min_length=1, description="Seeds; one run per seed.")
    train: TrainSpec = Field(default_factory=TrainSpec)
    variants: list[VariantSpec] = Field(min_length=1)
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)
    findings: list[FindingSpec] = Field(
        default_factory=list, description="Known results the suite should reproduce."
    )
    quick: ScaleSpec | None = Field(
        None, validation_alias=AliasChoices("quick", "fast"),
        description="A quick version of the suite (--quick); [fast] is its old name.",
    )
    paper: ScaleSpec | None = Field(
        None, description="The suite at its papers' lengths and training budgets (--scale paper)."
    )
    tuning: TuningSpec | None = Field(
        None, description="The tuning protocol; without it every variant trains with its settings as written."
    )
    first_figure: Literal["success", "convergence", "decay", "grad_norm", "recurrent", "timing"] | None = Field(
        None, description="The figure the report shows first, where the suite's point is one figure (the "
        "gradient decay across cell families); by default success, convergence, decay, ... in that order.",
    )

    @field_validator("name")
    @classmethod
    def _a_folder_name(cls, name: str) -> str:
        if not NAME_PATTERN.match(name):
            raise ValueError(f"{name!r}: {NAME_RULE}")
        return name

    @model_validator(mode="after")
    def _tuning_is_there(self):
        """Fields that need a [tuning] table name one; the table itself is
        checked by the resolution step (``rnnbench.resolve``)."""
        if self.tuning is not None:
            return self
        for i, v in enumerate(self.variants):
            if v.search:
                raise ValueError(f"variants[{i}].search: the suite has no [tuning] protocol")
        for i, f in enumerate(self.findings):
            if f.every_trial or f.measure.startswith("trials_"):
                raise ValueError(f"findings[{i}]: {'every_trial' if f.every_trial else f.measure} "
                                 "needs a [tuning] protocol")
        return self

    @model_validator(mode="after")
    def _findings_name_variants(self):
        names = {v.name for v in self.variants}
        for i, f in enumerate(self.findings):
            for field in ("variant", "below", "above"):
                value = getattr(f, field)
                if field == "variant" or isinstance(value, str):
                    if value not in names:
                        raise ValueError(f"findings[{i}].{field}: no variant named '{value}'")
            if f.seq_len is not None and f.seq_len not in self.seq_lens:
                raise ValueError(f"findings[{i}].seq_len: {f.seq_len} is not in seq_lens")
        return self

    def quick_version(self) -> SuiteSpec:
        """The suite with its ``quick`` overrides applied, named ``<name>-quick``."""
        return self.scaled("quick")

    def scaled(self, scale: str) -> SuiteSpec:
        """The suite with the overrides of its ``[quick]`` or ``[paper]`` table
        applied, named ``<name>-<scale>`` ("fast" is the old name of "quick"). Findings at a length or about a
        variant the scaled suite does not run are left out. ValueError if the
        suite has no such table. Its tuning protocol is checked, as every
        suite's, when it is resolved (``rnnbench.resolve.resolve``)."""
        scale = scale_name(scale)
        over = getattr(self, scale) if scale in SCALES else None
        if over is None:
            raise ValueError(f"suite '{self.name}' has no {scale} version")
        train = self.train.model_copy(update={
            k: getattr(over, k)
            for k in ("steps", "batch_size", "log_every", "test_size", "validation_size")
            if getattr(over, k)
        })
        seq_lens = over.seq_lens or self.seq_lens
        variants = self.variants
        if over.variants is not None:
            unknown = sorted(set(over.variants) - {v.name for v in variants})
            if unknown:
                raise ValueError(f"{scale}.variants: no variant named '{unknown[0]}'")
            variants = [v for v in variants if v.name in over.variants]
        kept = {v.name for v in variants}
        if over.hidden_size:
            variants = [v.model_copy(update={"hidden_size": over.hidden_size}) for v in variants]
        sized = self.model_copy(
            update={
                "name": f"{self.name}-{scale}",
                "seq_lens": seq_lens,
                "seeds": over.seeds or self.seeds,
                "train": train,
                "variants": variants,
                "findings": [
                    f for f in self.findings
                    if (f.seq_len is None or f.seq_len in seq_lens) and f.variant in kept
                    and not (isinstance(f.bound, str) and f.bound not in kept)
                ],
                "quick": None,
                "paper": None,
                "tuning": self._scaled_tuning(over.tuning),
            }
        )
        return sized

    def _scaled_tuning(self, own: TuningSpec | None) -> TuningSpec | None:
        """A scaled version's protocol: its own, with the direction of the suite's
        metric (filled in from the task's declaration) when it selects on the same
        one; else the suite's."""
        if own is None:
            return self.tuning
        if own.goal is None and self.tuning is not None and own.metric == self.tuning.metric:
            return own.model_copy(update={"goal": self.tuning.goal})
        return own

    @field_validator("variants")
    @classmethod
    def _unique_variant_names(cls, variants: list[VariantSpec]) -> list[VariantSpec]:
        seen: set[str] = set()
        for v in variants:
            if v.name in seen:
                raise ValueError(f"variant name '{v.name}' is used twice")
            seen.add(v.name)
        return variants

    @field_validator("seq_lens", "seeds")
    @classmethod
    def _unique_values(cls, values: list[int]) -> list[int]:
        if len(set(values)) != len(values):
            raise ValueError("values must be unique")
        return values

    def runs(self) -> list[RunSpec]:
        """The grid as written, without tuning: every sequence length x variant x
        seed, in that order (a tuned suite's evaluation runs depend on what tuning
        selects: ``rnnbench.tuning.evaluation_runs``)."""
        return [
            RunSpec(task=self.task, seq_len=n, variant=v.model_copy(update={"search": []}), seed=s,
                    train=self.train)
            for n in self.seq_lens
            for v in self.variants
            for s in self.seeds
        ]


class Trial(_Strict):
    """Which trial of a tuning search a run belongs to: its place in the search
    order and the searched values (already applied to the run's settings)."""

    index: NonNegativeInt
    values: dict[str, float]


class RunSpec(_Strict):
    """Everything one training run depends on; its hash keys the stored result."""

    task: TaskRef
    seq_len: PositiveInt
    variant: VariantSpec
    seed: NonNegativeInt
    train: TrainSpec
    trial: Trial | None = Field(None, description="Set on the runs of a tuning search.")

    def key(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def names_a_field(message: str) -> bool:
    """Whether ``message`` starts with a field of a suite, e.g. ``tuning.metric:``."""
    head = message.split(":", 1)[0]
    first = head.split(".", 1)[0].split("[", 1)[0]
    return ":" in message and " " not in head and first in SuiteSpec.model_fields


def field_path(loc: Sequence[str | int]) -> str:
    """A pydantic error's location as a field path: ``variants[0].remedies[1]``."""
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where


def problem_line(err: Mapping[str, Any], root: str = "") -> str:
    """One pydantic error as one line, ``field.path: message`` (a check's own
    message without pydantic's "Value error, "); a problem of the whole model
    is said of ``root``, or is the message alone."""
    where = field_path(err["loc"]) or root
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


def first_problem(exc: ValidationError, root: str = "") -> str:
    """The first problem of a validation error as one line (``problem_line``)."""
    return problem_line(exc.errors()[0], root)


def format_validation_error(exc: ValidationError, root: str = "suite") -> list[str]:
    """One line per problem of a suite's structure: ``variants[0].remedies[1]:
    unknown remedy 'x'; ...``; a problem of the whole model is said of ``root``."""
    lines = []
    for err in exc.errors():
        if err["type"] == "extra_forbidden":
            err = {**err, "msg": "unknown key"}
        alone = problem_line(err)  # a check of the whole suite that names its field is said as it is
        lines.append(alone if not err["loc"] and names_a_field(alone) else problem_line(err, root))
    return lines


def suite_line(message: str) -> str:
    """A problem of the whole suite: as it is when it names its field, else said of the suite."""
    return message if names_a_field(message) else f"suite: {message}"


Resolver = Callable[[SuiteSpec], SuiteSpec]


def parse_suite(data: dict[str, Any], resolver: Resolver | None = None) -> SuiteSpec:
    """Validate a suite given as plain data; raise SpecError on any problem.

    The structure is checked here. ``resolver`` checks the rest and returns the
    suite it accepts: ``rnnbench.resolve`` passes one that resolves the suite
    against the plugins (``resolve_data``, ``resolve_file``), the tuning
    protocol included. Without one, only the structure is checked."""
    try:
        suite = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc)) from None
    return suite if resolver is None else resolver(suite)


def loads_suite(text: str, source: str, resolver: Resolver | None = None) -> SuiteSpec:
    """Validate a suite given as TOML text (see ``parse_suite``); every message
    starts with ``source``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError([f"{source}: invalid TOML: {exc}"]) from None
    try:
        return parse_suite(data, resolver)
    except SpecError as exc:
        raise SpecError([f"{source}: {line}" for line in exc.lines]) from None


def parse_suite_file(path: str | Path, resolver: Resolver | None = None) -> SuiteSpec:
    """Read and validate a suite file (see ``parse_suite``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"{path}: cannot read: {exc}"]) from None
    return loads_suite(text, str(path), resolver)


_REF_MODELS = {"task": TaskRef, "remedy": RemedyRef, "optimizer": OptimizerRef}


def json_schema(registry=None) -> dict[str, Any]:
    """The JSON schema of a suite file.

    With a registry, each reference to a task, remedy or optimiser becomes one
    alternative per registered name, carrying that plugin's own parameters.
    """
    schema = SuiteSpec.model_json_schema()
    if registry is None:
        return schema
    defs = schema.setdefault("$defs", {})
    for kind, model in _REF_MODELS.items():
        alternatives: list[dict[str, Any]] = []
        for name in registry.names(kind):
            params = registry.get(kind, name).Params.model_json_schema()
            defs.update(params.pop("$defs", {}))
            properties = {"name": {"const": name}, **params.get("properties", {})}
            alternatives.append({"const": name})
            alternatives.append(
                {
                    "type": "object",
                    "title": f"{kind} {name}",
                    "properties": properties,
                    "required": ["name", *params.get("required", [])],
                    "additionalProperties": False,
                }
            )
        defs[model.__name__] = {
            "description": f"The {kind}, by name, or a table with its name and parameters.",
            "anyOf": alternatives,
        }
    return schema
