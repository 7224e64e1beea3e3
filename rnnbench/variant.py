"""A resolved variant built into a model: the network, its parameters and its
remedies, in the variant's order.

``model_config`` makes the model configuration of a variant and checks its
combination of cell, activation, initialisation and remedies; the resolution
step (``rnnbench.resolve``) calls it to check every variant of a suite before
any run, and building calls it again. Building is used by training, by the
gradient check and by the benchmarks, so that all three train the same model.
This module knows nothing of suites or tuning.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from pydantic import ValidationError

from rnnbench.api import Batch, ModelConfig, Params, Remedy
from rnnbench.engine.losses import LOSSES
from rnnbench.engine.network import Network, init_readout
from rnnbench.spec import VariantSpec, first_problem


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
    for remedy in remedies:
        reason = cell.refused_remedies.get(remedy.name)
        if reason is None and not cell.takes_transforms and remedy.summed_input_transform() is not None:
            reason = "it transforms the summed input inside the cell, and this cell takes no such transform"
        if reason is not None:
            raise ValueError(f"remedy '{remedy.name}' does not apply to cell '{config.cell}': {reason}")
    for field, allowed in (("activation", cell.activations), ("init", cell.inits)):
        value = getattr(config, field)
        if value not in allowed:
            raise ValueError(
                f"{field} '{value}' is not available for cell '{config.cell}'; "
                f"choose one of: {', '.join(allowed)}"
            )
    return config, remedies


@dataclasses.dataclass
class Model:
    """A variant built: its network, parameters (updated in place by training)
    and remedies, in the variant's order."""

    config: ModelConfig
    network: Network
    params: Params
    remedies: list[Remedy]

    def loss_and_gradients(self, batch: Batch) -> tuple[float, Params]:
        """The loss with every remedy's penalty added, and its gradient (before
        any remedy transforms the gradient)."""
        loss, grads = self.network.loss_and_gradients(self.params, batch)
        for remedy in self.remedies:
            extra = remedy.penalty(self.params)
            if extra is not None:
                loss += extra[0]
                for name, g in extra[1].items():
                    grads[name] = grads[name] + g
        return loss, grads

    def loss_value(self, batch: Batch) -> float:
        """The same loss, without gradients."""
        loss = self.network.loss_value(self.params, batch)
        for remedy in self.remedies:
            extra = remedy.penalty(self.params)
            if extra is not None:
                loss += extra[0]
        return loss

    def transform_gradients(self, grads: Params) -> Params:
        """The remedies' transforms of the gradient (clipping), in order."""
        for remedy in self.remedies:
            grads = remedy.transform_gradients(grads)
        return grads


def build_model(
    variant, registry, input_size: int, output_size: int, dtype, loss: str, many_to_one: bool,
    rng: np.random.Generator,
) -> Model:
    """The network of ``variant`` with fresh parameters drawn from ``rng``: the
    cell's, then the read-out's, then each remedy's initialisation, in that order."""
    config, remedies = model_config(variant, registry, input_size, output_size, dtype)
    transforms = tuple(t for t in (r.summed_input_transform() for r in remedies) if t is not None)
    cell = registry.get("cell", config.cell)(config, transforms)
    truncations = [k for k in (r.truncation() for r in remedies) if k is not None]
    network = Network(cell, LOSSES[loss], many_to_one, min(truncations, default=None))
    params = cell.init_params(rng)
    params.update(init_readout(rng, config.hidden_size, config.output_size, config.dtype))
    for remedy in remedies:
        shapes = {name: p.shape for name, p in params.items()}
        params = remedy.initialise(params, config, rng)
        for name, shape in shapes.items():
            if name in params and params[name].shape != shape:
                raise ValueError(
                    f"remedy '{remedy.name}' changed the shape of {name} from {shape} to "
                    f"{params[name].shape}: it does not fit the '{config.cell}' cell"
                )
    return Model(config, network, params, remedies)
