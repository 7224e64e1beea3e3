"""A variant resolved into a model: its remedies applied, in order, to the model
configuration, and the combination checked.

Used twice: when a suite is validated (so that a combination that makes no
sense is refused before anything runs) and when a run builds its network.
"""

from __future__ import annotations

import numpy as np

from rnnbench.api import ModelConfig, Remedy


def resolve_model(variant, registry, input_size: int, output_size: int, dtype) -> tuple[ModelConfig, list[Remedy]]:
    """The model configuration of ``variant`` and its remedy instances.

    Raises ValueError naming the remedy or the field when the combination is refused.
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
