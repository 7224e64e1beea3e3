"""What a user writes: the suite file, validated by pydantic.

A suite names one task, the sequence lengths and seeds to sweep, the training
settings and the variants to compare. Expanding it gives one ``RunSpec`` per
(sequence length, variant, seed); a RunSpec is everything a worker needs to
train one network, and its hash is the key of the stored result.

Names of tasks, cells, remedies and optimisers are provided by plugins. Those
names, and the parameters each plugin accepts, are checked when the suite is
validated with a plugin registry in the validation context::

    SuiteSpec.model_validate(data, context={"registry": registry})

Without a registry only the structure is checked.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    ValidationInfo,
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


def _registry(info: ValidationInfo):
    return (info.context or {}).get("registry")


class PluginRef(BaseModel):
    """A name provided by a plugin, with that plugin's own parameters beside it.

    In TOML: ``{ name = "clip_norm", threshold = 1.0 }``, or just ``"sgd"``
    when the defaults will do. The parameters are validated by the plugin's
    ``Params`` model and stored with every default filled in, so that the run's
    hash changes when a default does.
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

    @model_validator(mode="after")
    def _check_against_plugins(self, info: ValidationInfo):
        registry = _registry(info)
        if registry is None:
            return self
        component = registry.get(self.kind, self.name)  # raises a ValueError listing known names
        try:
            params = component.Params.model_validate(self.params)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(
                f"{self.kind} '{self.name}': {where + ': ' if where else ''}{first['msg']}"
            ) from None
        return type(self).model_construct(name=self.name, **params.model_dump(mode="json"))


class TaskRef(PluginRef):
    kind: ClassVar[str] = "task"


class RemedyRef(PluginRef):
    kind: ClassVar[str] = "remedy"


class OptimizerRef(PluginRef):
    kind: ClassVar[str] = "optimizer"


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

    @model_validator(mode="after")
    def _check_combination(self, info: ValidationInfo):
        registry = _registry(info)
        if registry is not None:
            from rnnbench.variant import resolve_model

            config, _ = resolve_model(self, registry, input_size=1, output_size=1, dtype="float64")
            filled = config.cell_params.model_dump(mode="json")
            if filled != self.cell_params:  # every default written out, so the key covers it
                return self.model_copy(update={"cell_params": filled})
        return self


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


class FindingSpec(_Strict):
    """A known result the suite should reproduce, checked against its stored runs.

    ``measure`` of ``variant`` must lie below or above a number, or the same
    measure of another variant, at every sequence length of the suite (or only
    at ``seq_len``). Measures: ``final_test_loss`` (mean over the runs that
    finished; a variant with none counts as infinitely bad), ``success_rate``,
    ``diverged_fraction``, ``k_hat_init``, ``k_hat_final`` (fitted per-step
    gradient factors), ``k_hat_over_bound_init`` (k-hat / (||W_hh||_2 max|f'|)),
    ``recurrent_norm_final`` (mean ||W_hh||_2 at the end), ``loss_over_baseline``
    (final test loss / the input-blind baseline), or the name of a task metric
    (its mean final value).
    """

    claim: str = Field(min_length=1, description="The finding, in a sentence.")
    source: str = Field("", description="Where it comes from (paper, section).")
    variant: str
    measure: str
    below: float | str | None = Field(None, description="A number, or another variant's name.")
    above: float | str | None = Field(None, description="A number, or another variant's name.")
    seq_len: PositiveInt | None = Field(None, description="Only at this length (default: all).")

    @model_validator(mode="after")
    def _one_bound(self):
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of 'below' and 'above'")
        return self


class FastSpec(_Strict):
    """Overrides that make a quick version of a suite (``rnnbench run NAME --fast``),
    small enough for the test suite to check the direction of its findings."""

    seq_lens: list[PositiveInt] | None = None
    seeds: list[NonNegativeInt] | None = None
    steps: PositiveInt | None = None
    log_every: PositiveInt | None = None
    test_size: PositiveInt | None = None


class SuiteSpec(_Strict):
    """A benchmark: one task, swept over sequence lengths, variants and seeds."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
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
    fast: FastSpec | None = Field(None, description="A quick version of the suite.")

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

    def fast_version(self) -> SuiteSpec:
        """The suite with its ``fast`` overrides applied, named ``<name>-fast``."""
        if self.fast is None:
            raise ValueError(f"suite '{self.name}' has no fast version")
        fast = self.fast
        train = self.train.model_copy(
            update={k: getattr(fast, k) for k in ("steps", "log_every", "test_size") if getattr(fast, k)}
        )
        seq_lens = fast.seq_lens or self.seq_lens
        findings = [f for f in self.findings if f.seq_len is None or f.seq_len in seq_lens]
        return self.model_copy(
            update={
                "name": f"{self.name}-fast",
                "seq_lens": seq_lens,
                "seeds": fast.seeds or self.seeds,
                "train": train,
                "findings": findings,
                "fast": None,
            }
        )

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
        """The grid: every sequence length x variant x seed, in that order."""
        return [
            RunSpec(task=self.task, seq_len=n, variant=v, seed=s, train=self.train)
            for n in self.seq_lens
            for v in self.variants
            for s in self.seeds
        ]


class RunSpec(_Strict):
    """Everything one training run depends on; its hash keys the stored result."""

    task: TaskRef
    seq_len: PositiveInt
    variant: VariantSpec
    seed: NonNegativeInt
    train: TrainSpec

    def key(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def format_validation_error(exc: ValidationError, root: str = "suite") -> list[str]:
    """One line per problem: ``variants[0].remedies[1]: unknown remedy 'x'; ...``;
    a problem of the whole model is said of ``root``."""
    lines = []
    for err in exc.errors():
        where = ""
        for part in err["loc"]:
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{where or root}: {msg}")
    return lines


def parse_suite(data: dict[str, Any], registry=None) -> SuiteSpec:
    """Validate a suite given as plain data; raise SpecError on any problem."""
    try:
        return SuiteSpec.model_validate(data, context={"registry": registry})
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc)) from None


def loads_suite(text: str, source: str, registry=None) -> SuiteSpec:
    """Validate a suite given as TOML text; every message starts with ``source``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError([f"{source}: invalid TOML: {exc}"]) from None
    try:
        return parse_suite(data, registry)
    except SpecError as exc:
        raise SpecError([f"{source}: {line}" for line in exc.lines]) from None


def load_suite(path: str | Path, registry=None) -> SuiteSpec:
    """Read and validate a suite file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"{path}: cannot read: {exc}"]) from None
    return loads_suite(text, str(path), registry)


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
