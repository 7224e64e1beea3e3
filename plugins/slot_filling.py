"""Slot filling: a synthetic tagging task whose tags depend on distant words.

Inspired by the classic use of recurrent networks for slot filling in spoken
language understanding -- one tag per word of a sentence, as in the ATIS
flight queries ("from Boston to Denver": Boston is a departure city, Denver an
arrival city, because of the words before them) -- by Mesnil, He, Deng &
Bengio (2013), "Investigation of Recurrent-Neural-Network Architectures and
Learning Methods for Spoken Language Understanding", and Mesnil et al. (2015),
"Using Recurrent Neural Networks for Slot Filling in Spoken Language
Understanding". The data here are synthetic, built so that the distance between
a word and the word that decides its tag is exactly ``seq_len``.

Vocabulary (one-hot): 8 filler words, K trigger words (the "from" / "to" of the
analogy; K = ``triggers``) and 4 value words (the city names). A sentence has
``seq_len`` + 5 words: fillers everywhere, except one trigger at a position p
drawn uniformly from 0..4 and one value word, drawn uniformly, at p + seq_len.
Tags: 0 ("O", outside any slot) for every word but the value word, whose tag is
k + 1 when the trigger was the k-th. The trigger's random position keeps the
slot from being found by counting steps from the start.

Loss: cross-entropy at every step (mask None), so the task is truly
many-to-many: the network must tag the fillers and the trigger O as well as
give the slot its tag. Metrics: ``accuracy`` over all steps and
``slot_accuracy`` over the value words only -- the part that needs memory.

Baseline: the memoryless tagger, which sees the current word and nothing
before it. It tags fillers and triggers O with certainty (loss 0); for a value
word every slot tag is equally likely, so it answers uniform over the K tags
(loss log K, slot accuracy 1/K). With one value word per sentence of
seq_len + 5 steps its mean loss is log(K) / (seq_len + 5), its accuracy
1 - (1 - 1/K) / (seq_len + 5). It is at least as good as any tagger that
ignores the inputs altogether (which cannot even tell where the slot is), so
beating it shows memory, not just word recognition.

Success: the main criterion asks for a slot accuracy above 0.99.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Batch, Task, hookimpl

FILLERS = 8
VALUES = 4
LEAD = 5  # the trigger stands at one of the first LEAD positions
OUTSIDE = 0  # the tag "O"


class SlotFillingParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    triggers: int = Field(3, ge=2, le=9, description="Trigger words, hence slot tags.")


class SlotFilling(Task):
    """Tag every word; a value word's tag is set by the trigger seq_len steps
    earlier (many-to-many)."""

    name = "slot_filling"
    Params = SlotFillingParams
    loss = "cross_entropy"
    many_to_one = False
    metrics = {"accuracy": "max", "slot_accuracy": "max"}
    criteria = {"slot_accuracy_above_0.99": "accuracy on the slot (value) words > 0.99"}

    def __init__(self, params, seq_len: int):
        if seq_len < 1:
            raise ValueError("the slot filling task needs seq_len >= 1")
        super().__init__(params, seq_len)
        K = params.triggers
        self.first_trigger = FILLERS  # word ids: fillers, then triggers, then values
        self.first_value = FILLERS + K

    @property
    def input_size(self) -> int:
        """One-hot words: the fillers, the triggers, the values."""
        return FILLERS + self.params.triggers + VALUES

    @property
    def output_size(self) -> int:
        """The tags: O, then one per trigger."""
        return self.params.triggers + 1

    @property
    def length(self) -> int:
        """Words per sentence."""
        return self.seq_len + LEAD

    @property
    def baseline(self) -> float:
        return math.log(self.params.triggers) / self.length

    @property
    def baseline_metrics(self) -> dict[str, float]:
        K = self.params.triggers
        return {"accuracy": 1.0 - (1.0 - 1.0 / K) / self.length, "slot_accuracy": 1.0 / K}

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        B, rows = batch_size, np.arange(batch_size)
        words = rng.integers(0, FILLERS, (self.length, B))
        where = rng.integers(0, LEAD, B)
        trigger = rng.integers(0, self.params.triggers, B)
        words[where, rows] = self.first_trigger + trigger
        words[where + self.seq_len, rows] = self.first_value + rng.integers(0, VALUES, B)
        tags = np.full((self.length, B), OUTSIDE, dtype=np.int64)
        tags[where + self.seq_len, rows] = trigger + 1
        return Batch(np.eye(self.input_size)[words], tags)

    def evaluate(self, outputs, batch):
        right = np.argmax(outputs, axis=-1) == batch.y
        slots = batch.y != OUTSIDE
        return {"accuracy": float(np.mean(right)), "slot_accuracy": float(np.mean(right[slots]))}

    def solved(self, loss, metrics):
        return {"slot_accuracy_above_0.99": metrics["slot_accuracy"] > 0.99}


@hookimpl
def rnnbench_register_tasks():
    return [SlotFilling]
