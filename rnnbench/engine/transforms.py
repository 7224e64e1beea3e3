"""Summed-input transforms chained at one site of a cell.

A cell computes a summed input a_t (B, G*H) at each of its sites, passes it
through the chain (z_t = T_n(...T_1(a_t))) and applies its non-linearity to
z_t; backwards it takes dL/dz_t back through the chain to dL/da_t. With no
transform the chain is empty and a cell skips it. A plugin's cell imports it
from :mod:`rnnbench.api`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # rnnbench.api offers TransformChain to plugins, so it imports this module
    from rnnbench.api import Params, SummedInputTransform


class TransformChain:
    """The summed-input transforms at one ``site`` of a cell, in the remedies' order."""

    def __init__(self, transforms: Sequence[SummedInputTransform], site: str, groups: int, size: int):
        self.transforms = tuple(transforms)
        self.site = site
        self.groups = groups
        self.size = size

    def __bool__(self) -> bool:
        return bool(self.transforms)

    def init_params(self, dtype) -> Params:
        params: Params = {}
        for t in self.transforms:
            params.update(t.init_params(self.site, self.groups, self.size, dtype))
        return params

    def zero_grads(self, params: Params) -> Params:
        """Zero gradients for the chain's parameters, for ``backward`` to add to."""
        prefixes = tuple(f"{t.name}.{self.site}." for t in self.transforms)
        if not prefixes:
            return {}
        return {n: np.zeros_like(p) for n, p in params.items() if n.startswith(prefixes)}

    def forward(self, a: np.ndarray, params: Params) -> tuple[np.ndarray, list]:
        caches = []
        for t in self.transforms:
            a, cache = t.forward(a, params, self.site, self.groups)
            caches.append(cache)
        return a, caches

    def backward(self, dz: np.ndarray, caches: list, params: Params, grads: Params) -> np.ndarray:
        for t, cache in zip(reversed(self.transforms), reversed(caches)):
            dz = t.backward(dz, cache, params, self.site, grads)
        return dz

