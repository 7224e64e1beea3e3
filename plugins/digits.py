"""Sequential digits: classify a handwritten digit read one pixel per step.

The images are the 1797 8x8 digits that scikit-learn ships with its package
(``sklearn.datasets.load_digits``, no download; they come from the UCI optical
recognition of handwritten digits data, Alpaydin & Kaynak 1998). scikit-learn
is the optional extra ``digits`` (``pip install 'rnnbench[digits]'``): a suite
that uses this task without it is refused when it is validated, in one line
that names the extra. Pixel values
0..16 are scaled to [0, 1] and fed in row-major order, one per step: 64 steps
of input size 1, the class read at the last step. This is the small-scale
analogue of the pixel-by-pixel MNIST of Le, Jaitly & Hinton (2015), "A Simple
Way to Initialize Recurrent Networks of Rectified Linear Units", section 4.2;
with ``permuted`` the pixels are read in one fixed random order, as in their
permuted MNIST, so that neighbouring pixels of the image end up far apart in
time. The length is fixed by the images: ``seq_len`` must be 64.

Splits. The images are shuffled once with a constant seed; the last
``test_fraction`` of them is the fixed test set, the ``validation_fraction``
before it the fixed validation set (on which tuning selects), and the rest the
training split, from which ``sample`` draws with replacement.

Baseline. The best input-blind predictor answers the class frequencies of the
training split; its expected cross-entropy on the training distribution is
their entropy (just under log 10, the classes being nearly balanced), and its
accuracy is the frequency of the most common class (just over 0.1).
"""

from __future__ import annotations

import functools

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rnnbench.api import Batch, Task, hookimpl, installed, missing, require

PIXELS = 64
CLASSES = 10
SPLIT_SEED = 19_980_101  # shuffles the images before the split
PERMUTATION_SEED = 20_150_403  # the fixed pixel order of the permuted variant
NEEDS = ("the digits task", "scikit-learn", "digits")  # what, the package, the extra that installs it


@functools.cache
def load() -> tuple[np.ndarray, np.ndarray]:
    """All images as (N, 64) pixels in [0, 1] and their (N,) labels, shuffled
    with the constant ``SPLIT_SEED``. Read-only; loaded once per process.
    MissingExtra, naming the extra, without scikit-learn."""
    require("sklearn", *NEEDS)
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    data = load_digits()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(data.target))
    images = data.data[order] / 16.0
    labels = data.target[order].astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def pixel_order(permuted: bool) -> np.ndarray:
    """The order in which the 64 pixels are read: row-major, or the fixed permutation."""
    if not permuted:
        return np.arange(PIXELS)
    return np.random.default_rng(PERMUTATION_SEED).permutation(PIXELS)


class DigitsParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    permuted: bool = Field(False, description="Read the pixels in a fixed random order.")
    test_fraction: float = Field(
        0.2, gt=0.0, lt=1.0, description="Share of the shuffled images held out as the test set."
    )
    validation_fraction: float = Field(
        0.1, gt=0.0, lt=1.0,
        description="Share of the shuffled images held out as the validation set (tuning selects on it).",
    )

    @model_validator(mode="after")
    def _images_installed(self):
        # checked when a suite naming the task is validated, so that the suite is refused
        # before anything runs (without importing scikit-learn, which is slow to import)
        if not installed("sklearn"):
            raise ValueError(missing(*NEEDS))
        return self


class SequentialDigits(Task):
    """Classify an 8x8 digit from its 64 pixels, one per step (many-to-one)."""

    name = "digits"
    Params = DigitsParams
    loss = "cross_entropy"
    input_size = 1
    output_size = CLASSES
    metrics = {"accuracy": "max"}
    criteria = {"accuracy_above_0.9": "test accuracy > 0.9"}

    def __init__(self, params, seq_len: int):
        if seq_len != PIXELS:
            raise ValueError(
                f"the digits task reads one pixel per step: seq_len must be {PIXELS}, not {seq_len}"
            )
        super().__init__(params, seq_len)
        images, labels = load()
        n_test = round(params.test_fraction * len(labels))
        n_validation = round(params.validation_fraction * len(labels))
        if not (0 < n_test and 0 < n_validation and n_test + n_validation < len(labels)):
            raise ValueError(
                f"test_fraction {params.test_fraction} and validation_fraction "
                f"{params.validation_fraction} leave an empty split"
            )
        cut = len(labels) - n_test - n_validation
        test = len(labels) - n_test
        self.order = pixel_order(params.permuted)
        self.train_images, self.train_labels = images[:cut], labels[:cut]
        self.validation_images, self.validation_labels = images[cut:test], labels[cut:test]
        self.test_images, self.test_labels = images[test:], labels[test:]

    def _frequencies(self) -> np.ndarray:
        return np.bincount(self.train_labels, minlength=CLASSES) / len(self.train_labels)

    @property
    def baseline(self) -> float:
        p = self._frequencies()
        p = p[p > 0]
        return float(-np.sum(p * np.log(p)))

    @property
    def baseline_metrics(self) -> dict[str, float]:
        return {"accuracy": float(self._frequencies().max())}

    def _batch(self, images: np.ndarray, labels: np.ndarray) -> Batch:
        x = images[:, self.order].T[:, :, None]  # (64, B, 1)
        return Batch(np.ascontiguousarray(x), labels.copy())

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        pick = rng.integers(0, len(self.train_labels), batch_size)
        return self._batch(self.train_images[pick], self.train_labels[pick])

    def test_set(self, size: int) -> Batch:
        """The first ``size`` held-out images (all of them if there are fewer)."""
        return self._batch(self.test_images[:size], self.test_labels[:size])

    def validation_set(self, size: int) -> Batch:
        """The first ``size`` validation images (all of them if there are fewer)."""
        return self._batch(self.validation_images[:size], self.validation_labels[:size])

    def evaluate(self, outputs, batch):
        return {"accuracy": float(np.mean(np.argmax(outputs, axis=-1) == batch.y))}

    def solved(self, loss, metrics):
        return {"accuracy_above_0.9": metrics["accuracy"] > 0.9}


@hookimpl
def rnnbench_register_tasks():
    return [SequentialDigits]
