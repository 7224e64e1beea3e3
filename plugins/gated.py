"""Gated cells as remedies: `lstm` and `gru` swap the variant's cell for a
gated one (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al.
2000; Cho et al. 2014), whose additive state path lets gradients cross many
steps. The same as choosing ``cell = "lstm"`` in the variant; as a remedy it
can be listed and compared beside the others.
"""

from __future__ import annotations

import dataclasses

from rnnbench.api import Remedy, hookimpl


class _GatedCell(Remedy):
    cell: str

    def configure(self, config):
        return dataclasses.replace(config, cell=self.cell, activation="tanh")

    def check(self, config):
        if config.cell != self.cell:
            raise ValueError(f"a later remedy replaced the cell '{self.cell}' by '{config.cell}'")


class UseLSTM(_GatedCell):
    """Replace the cell by an LSTM with forget gate."""

    name = "lstm"
    cell = "lstm"


class UseGRU(_GatedCell):
    """Replace the cell by a GRU."""

    name = "gru"
    cell = "gru"


@hookimpl
def rnnbench_register_remedies():
    return [UseLSTM, UseGRU]
