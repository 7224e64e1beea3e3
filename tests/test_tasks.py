"""The long-range tasks: structure, determinism, baselines, criteria, and a run of each."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from rnnbench.engine.losses import cross_entropy
from rnnbench.registry import load_registry
from rnnbench.resolve import resolve_data
from rnnbench.training import train
from rnnbench_plugins.copy_memory import CopyMemory
from rnnbench_plugins.digits import SequentialDigits
from rnnbench_plugins.slot_filling import SlotFilling
from rnnbench_plugins.temporal_order import TemporalOrder


def per_step_loss(outputs: np.ndarray, y: np.ndarray) -> float:
    """The cross-entropy as the network computes it for a many-to-many task with no mask."""
    return cross_entropy(outputs.reshape(-1, outputs.shape[-1]), y.reshape(-1))[0]


def confident(labels: np.ndarray, classes: int) -> np.ndarray:
    """Read-outs that put almost all probability on ``labels``."""
    return 30.0 * np.eye(classes)[labels]


def entropy(labels: np.ndarray, classes: int) -> float:
    """Entropy of the empirical distribution of ``labels``: the cross-entropy of
    the input-blind predictor that answers those frequencies."""
    p = np.bincount(labels, minlength=classes) / labels.size
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def assert_seeded(task):
    a, b, c = (task.sample(np.random.default_rng(s), 6) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not (np.array_equal(a.x, c.x) and np.array_equal(a.y, c.y))


# ---------------------------------------------------------------- copy memory


def copy_task(T):
    return CopyMemory(CopyMemory.Params(), T)


def test_copy_shapes_and_one_hot_inputs():
    T, B = 7, 5
    b = copy_task(T).sample(np.random.default_rng(0), B)
    assert b.x.shape == (T + 20, B, 10) and b.x.dtype == np.float64
    assert b.y.shape == (T + 20, B) and b.y.dtype.kind == "i"
    assert b.mask is None
    assert np.all(b.x.sum(axis=2) == 1) and set(np.unique(b.x)) == {0.0, 1.0}
    assert_seeded(copy_task(T))


def test_copy_the_last_ten_targets_are_the_first_ten_symbols():
    T, B = 12, 300
    b = copy_task(T).sample(np.random.default_rng(1), B)
    symbols = b.x.argmax(axis=2)
    data = symbols[:10]
    assert data.min() == 0 and data.max() == 7
    np.testing.assert_array_equal(b.y[-10:], data)
    assert np.all(b.y[: T + 10] == 8)  # blank
    assert np.all(symbols[10 : 10 + T - 1] == 8)
    assert np.all(symbols[10 + T - 1] == 9)  # the marker, T steps after the last data symbol
    assert np.all(symbols[-10:] == 8)


def test_copy_baseline_is_the_memoryless_loss():
    T, B = 15, 64
    t = copy_task(T)
    b = t.sample(np.random.default_rng(2), B)
    # Ideal memoryless read-out: certain blank, then uniform over the 8 data symbols.
    out = np.full((T + 20, B, 10), -1e3)
    out[: T + 10, :, 8] = 0.0
    out[-10:, :, :8] = 0.0
    assert per_step_loss(out, b.y) == pytest.approx(10 * math.log(8) / (T + 20), abs=1e-12)
    assert t.baseline == pytest.approx(10 * math.log(8) / (T + 20), abs=1e-12)
    # Empirically: the best input-blind predictor answers, at each step, the
    # frequencies of the targets at that step.
    y = t.sample(np.random.default_rng(3), 40_000).y
    blind = sum(entropy(y[s], 10) for s in range(T + 20)) / (T + 20)
    assert blind == pytest.approx(t.baseline, rel=2e-3)
    assert t.baseline_metrics == {"accuracy": 1 / 8}


def test_copy_criteria_on_perfect_and_memoryless_outputs():
    T = 10
    t = copy_task(T)
    b = t.test_set(400)
    perfect = confident(b.y, 10)
    metrics = t.evaluate(perfect, b)
    assert metrics == {"accuracy": 1.0}
    assert t.solved(per_step_loss(perfect, b.y), metrics) == {
        "accuracy_above_0.99": True,
        "loss_below_half_baseline": True,
    }
    blind = np.zeros((T + 20, 400, 10))
    blind[: T + 10, :, 8] = 30.0
    blind[-10:, :, 3] = 1.0  # argmax: always symbol 3
    metrics = t.evaluate(blind, b)
    assert metrics["accuracy"] == pytest.approx(np.mean(b.y[-10:] == 3))
    assert 0.1 < metrics["accuracy"] < 0.15
    assert t.solved(t.baseline, metrics) == {
        "accuracy_above_0.99": False,
        "loss_below_half_baseline": False,
    }
    # The loss criterion asks for half the baseline, not merely less than it.
    assert t.solved(0.49 * t.baseline, {"accuracy": 0.0})["loss_below_half_baseline"]
    assert not t.solved(0.51 * t.baseline, {"accuracy": 0.0})["loss_below_half_baseline"]
    assert list(t.criteria)[0] == "accuracy_above_0.99"


def test_copy_refuses_a_zero_delay():
    with pytest.raises(ValueError, match="seq_len >= 1"):
        copy_task(0)


# ------------------------------------------------------------- temporal order


def order_task(L, relevant=2):
    return TemporalOrder(TemporalOrder.Params(relevant=relevant), L)


def xy_class(letters: str) -> int:
    """The class of an X/Y word in the paper's listing order (XX, XY, YX, YY, ...)."""
    words = ["".join(w) for w in itertools.product("XY", repeat=len(letters))]
    return words.index(letters)


@pytest.mark.parametrize("relevant", [2, 3])
def test_order_structure_and_label(relevant):
    L, B = 40, 500
    t = order_task(L, relevant)
    assert t.input_size == 8 and t.output_size == 2**relevant
    b = t.sample(np.random.default_rng(4), B)
    assert b.x.shape == (L, B, 8) and b.x.dtype == np.float64 and np.all(b.x.sum(axis=2) == 1)
    assert b.y.shape == (B,) and b.y.dtype.kind == "i"
    sym = b.x.argmax(axis=2)  # a b c d E B X Y = 0..7
    assert np.all(sym[0] == 4) and np.all(sym[-1] == 5)
    windows = t.windows()
    for j in range(B):
        where = np.flatnonzero(sym[:, j] >= 6)
        assert len(where) == relevant
        assert all(lo <= p <= hi for p, (lo, hi) in zip(where, windows))
        assert np.all(sym[1:-1, j][sym[1:-1, j] < 6] < 4)  # everything else a distractor
        assert b.y[j] == xy_class("".join("XY"[s - 6] for s in sym[where, j]))
    assert_seeded(t)


def test_order_windows_are_the_papers_at_length_100_and_scale():
    assert order_task(100, 2).windows() == [(10, 20), (50, 60)]
    assert order_task(100, 3).windows() == [(10, 20), (33, 43), (66, 76)]
    assert order_task(200, 2).windows() == [(20, 40), (100, 120)]
    for L in range(10, 400):
        for relevant in (2, 3):
            w = order_task(L, relevant).windows()
            assert w[0][0] >= 1 and w[-1][1] <= L - 2  # between E and B
            assert all(a[1] < b[0] for a, b in zip(w, w[1:]))  # disjoint, in order
    # Every position of a window is used.
    t = order_task(100, 3)
    sym = t.sample(np.random.default_rng(5), 3000).x.argmax(axis=2)
    for k, (lo, hi) in enumerate(t.windows()):
        where = np.sort(np.argwhere(sym.T >= 6)[:, 1].reshape(-1, 3), axis=1)[:, k]
        assert set(where) == set(range(lo, hi + 1))


@pytest.mark.parametrize("relevant", [2, 3])
def test_order_baseline_is_chance(relevant):
    t = order_task(30, relevant)
    y = t.sample(np.random.default_rng(6), 80_000).y
    classes = 2**relevant
    assert t.baseline == pytest.approx(math.log(classes))
    assert entropy(y, classes) == pytest.approx(t.baseline, abs=2e-3)
    frequencies = np.bincount(y, minlength=classes) / y.size
    assert t.baseline_metrics["accuracy"] == 1 / classes
    assert frequencies.max() == pytest.approx(1 / classes, abs=0.01)


def test_order_criteria_on_perfect_and_chance_outputs():
    t = order_task(20, 3)
    b = t.test_set(300)
    perfect = confident(b.y, 8)
    assert t.evaluate(perfect, b) == {"accuracy": 1.0}
    solved = t.solved(cross_entropy(perfect, b.y)[0], t.evaluate(perfect, b))
    assert solved == {"accuracy_above_0.99": True}
    blind = np.zeros((300, 8))
    blind[:, 2] = 1.0
    metrics = t.evaluate(blind, b)
    assert metrics["accuracy"] == pytest.approx(np.mean(b.y == 2))
    assert cross_entropy(np.zeros((300, 8)), b.y)[0] == pytest.approx(t.baseline)
    assert t.solved(t.baseline, metrics) == {"accuracy_above_0.99": False}


def test_order_too_short_is_refused():
    with pytest.raises(ValueError, match="seq_len >= 10"):
        order_task(9)
    order_task(10, 3)


# -------------------------------------------------------------------- digits


def digits_task(**params):
    return SequentialDigits(SequentialDigits.Params(**params), 64)


@pytest.fixture(scope="module")
def digit_images():
    """Every image of scikit-learn's digits, row-major in [0, 1], by its pixels -> label."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return {tuple(row / 16.0): int(label) for row, label in zip(data.data, data.target)}


def images_of(batch, order):
    """Each sequence of ``batch`` put back into row-major image order."""
    pixels = np.empty((batch.x.shape[1], 64))
    pixels[:, order] = batch.x[:, :, 0].T
    return pixels


@pytest.mark.parametrize("permuted", [False, True])
def test_digits_sequences_are_the_images_pixel_by_pixel(permuted, digit_images):
    t = digits_task(permuted=permuted)
    b = t.sample(np.random.default_rng(7), 50)
    assert b.x.shape == (64, 50, 1) and b.x.dtype == np.float64
    assert b.y.shape == (50,) and b.y.dtype.kind == "i" and b.mask is None
    assert b.x.min() >= 0.0 and b.x.max() <= 1.0
    order = t.order
    assert sorted(order) == list(range(64))
    assert (order == np.arange(64)).all() != permuted
    for pixels, label in zip(images_of(b, order), b.y):
        assert digit_images[tuple(pixels)] == label
    assert_seeded(t)


def test_digits_permutation_is_fixed():
    first, second = digits_task(permuted=True).order, digits_task(permuted=True).order
    np.testing.assert_array_equal(first, second)


def test_digits_splits_are_disjoint_and_the_test_set_fixed(digit_images):
    t = digits_task()
    test = t.test_set(10_000)
    assert test.x.shape[1] == round(0.2 * 1797) == 359
    test_images = {tuple(p) for p in images_of(test, t.order)}
    assert len(test_images) == 359
    validation = {tuple(p) for p in images_of(t.validation_set(10_000), t.order)}
    assert len(validation) == round(0.1 * 1797) == 180
    drawn = t.sample(np.random.default_rng(8), 20_000)
    train_images = {tuple(p) for p in images_of(drawn, t.order)}
    assert not train_images & test_images and not train_images & validation
    assert not validation & test_images
    assert len(train_images) == 1797 - 359 - 180  # with 20000 draws, every training image shows up
    again = digits_task().test_set(10_000)
    np.testing.assert_array_equal(test.x, again.x)
    np.testing.assert_array_equal(test.y, again.y)
    small = t.test_set(5)
    np.testing.assert_array_equal(small.x, test.x[:, :5])
    assert digits_task(test_fraction=0.5).test_set(10_000).x.shape[1] == round(0.5 * 1797)
    with pytest.raises(ValueError):
        SequentialDigits.Params(test_fraction=1.0)


def test_digits_baseline_is_the_entropy_of_the_training_classes(digit_images):
    t = digits_task()
    test_images = {tuple(p) for p in images_of(t.test_set(10_000), t.order)}
    held_out = test_images | {tuple(p) for p in images_of(t.validation_set(10_000), t.order)}
    train_labels = np.array([lab for img, lab in digit_images.items() if img not in held_out])
    assert t.baseline == pytest.approx(entropy(train_labels, 10), abs=1e-12)
    assert t.baseline == pytest.approx(math.log(10), abs=0.01)
    majority = np.bincount(train_labels).max() / len(train_labels)
    assert t.baseline_metrics["accuracy"] == pytest.approx(majority)
    drawn = t.sample(np.random.default_rng(9), 100_000).y
    assert entropy(drawn, 10) == pytest.approx(t.baseline, abs=2e-3)


def test_digits_criteria_and_length():
    t = digits_task()
    b = t.test_set(100)
    perfect = confident(b.y, 10)
    solved = t.solved(cross_entropy(perfect, b.y)[0], t.evaluate(perfect, b))
    assert solved == {"accuracy_above_0.9": True}
    blind = np.zeros((100, 10))
    blind[:, 1] = 1.0
    metrics = t.evaluate(blind, b)
    assert metrics["accuracy"] == pytest.approx(np.mean(b.y == 1)) and metrics["accuracy"] < 0.3
    assert t.solved(t.baseline, metrics) == {"accuracy_above_0.9": False}
    for wrong in (63, 65):
        with pytest.raises(ValueError, match="seq_len must be 64"):
            SequentialDigits(SequentialDigits.Params(), wrong)


# -------------------------------------------------------------- slot filling


def slot_task(distance, triggers=3):
    return SlotFilling(SlotFilling.Params(triggers=triggers), distance)


@pytest.mark.parametrize("triggers", [2, 5])
def test_slot_tag_is_set_by_the_trigger_seq_len_steps_earlier(triggers):
    D, B = 13, 400
    t = slot_task(D, triggers)
    assert t.input_size == 8 + triggers + 4 and t.output_size == triggers + 1
    b = t.sample(np.random.default_rng(10), B)
    assert b.x.shape == (D + 5, B, t.input_size) and b.x.dtype == np.float64
    assert np.all(b.x.sum(axis=2) == 1)
    assert b.y.shape == (D + 5, B) and b.y.dtype.kind == "i" and b.mask is None
    words = b.x.argmax(axis=2)  # fillers 0..7, triggers 8..8+K-1, values after
    for j in range(B):
        trig = np.flatnonzero((words[:, j] >= 8) & (words[:, j] < 8 + triggers))
        value = np.flatnonzero(words[:, j] >= 8 + triggers)
        assert len(trig) == 1 and len(value) == 1
        assert trig[0] < 5 and value[0] == trig[0] + D
        expected = np.zeros(D + 5, dtype=int)
        expected[value[0]] = words[trig[0], j] - 8 + 1
        np.testing.assert_array_equal(b.y[:, j], expected)
    assert set(np.unique(b.y)) == set(range(triggers + 1))
    assert_seeded(t)


def test_slot_baseline_is_the_memoryless_tagger():
    D, K = 9, 3
    t = slot_task(D, K)
    b = t.sample(np.random.default_rng(11), 20_000)
    words = b.x.argmax(axis=2)
    # The best memoryless tagger: for each word, the frequencies of its tags.
    table = np.zeros((t.input_size, K + 1))
    np.add.at(table, (words, b.y), 1.0)
    table /= table.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        outputs = np.log(table)[words]
    outputs = np.maximum(outputs, -1e3)
    assert per_step_loss(outputs, b.y) == pytest.approx(math.log(K) / (D + 5), rel=2e-3)
    assert t.baseline == pytest.approx(math.log(K) / (D + 5))
    metrics = t.evaluate(outputs, b)
    assert metrics["slot_accuracy"] == pytest.approx(1 / K, abs=0.01)
    assert metrics["accuracy"] == pytest.approx(1 - (1 - 1 / K) / (D + 5), abs=0.001)
    declared = t.baseline_metrics
    assert declared["slot_accuracy"] == pytest.approx(1 / K)
    assert declared["accuracy"] == pytest.approx(1 - (1 - 1 / K) / (D + 5))
    assert t.solved(per_step_loss(outputs, b.y), metrics) == {"slot_accuracy_above_0.99": False}


def test_slot_metrics_and_criterion_on_perfect_outputs():
    t = slot_task(6)
    b = t.test_set(200)
    perfect = confident(b.y, 4)
    metrics = t.evaluate(perfect, b)
    assert metrics == {"accuracy": 1.0, "slot_accuracy": 1.0}
    assert t.solved(per_step_loss(perfect, b.y), metrics) == {"slot_accuracy_above_0.99": True}
    all_outside = confident(np.zeros_like(b.y), 4)  # right everywhere but on the slots
    metrics = t.evaluate(all_outside, b)
    assert metrics == {"accuracy": pytest.approx(1 - 1 / 11), "slot_accuracy": 0.0}


def test_slot_zero_distance_is_refused():
    with pytest.raises(ValueError, match="seq_len >= 1"):
        slot_task(0)


# ---------------------------------------------------------------- end to end


@pytest.mark.parametrize(
    "task, seq_len, metrics",
    [
        ({"name": "copy_memory"}, 5, {"accuracy"}),
        ({"name": "temporal_order", "relevant": 3}, 12, {"accuracy"}),
        ({"name": "digits", "permuted": True}, 64, {"accuracy"}),
        ({"name": "slot_filling", "triggers": 2}, 6, {"accuracy", "slot_accuracy"}),
    ],
)
def test_each_task_trains_end_to_end(task, seq_len, metrics):
    registry = load_registry()
    suite = resolve_data(
        {
            "name": "tiny",
            "task": task,
            "seq_lens": [seq_len],
            "seeds": [0],
            "train": {
                "steps": 4,
                "batch_size": 4,
                "log_every": 2,
                "test_size": 16,
                "learning_rate": 0.05,
            },
            "variants": [{"name": "tanh", "hidden_size": 8}],
        },
        registry,
    )
    (run,) = suite.runs()
    result = train(run, registry)
    assert result.status == "ok", result.message
    assert set(result.curves.test_metrics) == metrics
    assert all(len(v) == 3 for v in result.curves.test_metrics.values())  # steps 0, 2, 4
    made = registry.create("task", run.task, seq_len)
    assert set(result.solved) == set(made.criteria)
    assert result.baseline == pytest.approx(made.baseline)
    assert result.baseline_metrics == made.baseline_metrics
