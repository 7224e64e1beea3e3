"""Shared fixtures: the plugin registry and small suites built in code."""

from __future__ import annotations

import copy

import pytest

from rnnbench.registry import load_registry
from rnnbench.resolve import resolve_data

SMALL_SUITE = {
    "name": "small",
    "task": {"name": "adding"},
    "seq_lens": [6],
    "seeds": [0, 1],
    "train": {"learning_rate": 0.1, "steps": 20, "batch_size": 8, "log_every": 5, "test_size": 16},
    "variants": [
        {"name": "tanh", "hidden_size": 8},
        {"name": "tanh + clip", "hidden_size": 8, "remedies": [{"name": "clip_norm", "threshold": 0.5}]},
    ],
}


@pytest.fixture(scope="session")
def registry():
    return load_registry()


@pytest.fixture
def small_suite_data():
    return copy.deepcopy(SMALL_SUITE)


@pytest.fixture
def small_suite(registry, small_suite_data):
    return resolve_data(small_suite_data, registry)
