"""The built-in suites: each one's fast version reproduces the direction of
every finding it claims, so that an engine change that breaks a finding fails
here; and the findings machinery decides claims as written."""

from __future__ import annotations

import pytest

from rnnbench.report.findings import check
from rnnbench.plugins import load_registry
from rnnbench.results import RunResult
from rnnbench.runner import run_suite
from rnnbench.spec import SpecError, parse_suite
from rnnbench.store import Store
from rnnbench import builtin_suites

REGISTRY = load_registry()
SUITES = [n for n in builtin_suites.names() if n != "default"]


def builtin(name):
    return builtin_suites.load(name, REGISTRY)


def test_every_builtin_suite_validates_cites_its_source_and_has_a_fast_version():
    assert len(SUITES) >= 6
    for name in SUITES:
        suite = builtin(name)
        assert suite.findings, name
        assert all(f.source for f in suite.findings), name
        assert suite.fast is not None, name
        assert "Scaled down" in suite.description, name


@pytest.mark.parametrize("name", SUITES)
def test_the_fast_version_reproduces_every_finding(name, tmp_path):
    suite = builtin(name).fast_version()
    store = Store.for_suite(tmp_path, suite)
    run_suite(suite, store, REGISTRY)
    verdicts = check(suite, store.results())
    assert verdicts
    failed = [f"T={v.seq_len}: {v.finding.claim}: {v.detail}" for v in verdicts if v.held is not True]
    assert not failed, failed


def _result(suite, run, loss, status="ok"):
    return RunResult(key=run.key(), spec=run, status=status, final_test_loss=loss, baseline=0.2)


def test_a_claim_is_decided_against_numbers_and_other_variants(small_suite_data):
    small_suite_data["findings"] = [
        {"claim": "clip is better", "variant": "tanh + clip", "measure": "final_test_loss", "below": "tanh"},
        {"claim": "tanh beats the baseline", "variant": "tanh", "measure": "loss_over_baseline", "below": 1.0},
    ]
    suite = parse_suite(small_suite_data, REGISTRY)
    runs = suite.runs()
    losses = {"tanh": [0.1, 0.3], "tanh + clip": [0.05, 0.05]}
    results = [_result(suite, r, losses[r.variant.name][r.seed]) for r in runs]
    first, second = check(suite, results)
    assert first.held is True and first.value == pytest.approx(0.05) and first.reference == pytest.approx(0.2)
    assert second.held is False and second.value == pytest.approx(1.0)  # 0.2 / 0.2 is not below 1
    diverged = [_result(suite, r, None, "diverged") if r.variant.name == "tanh + clip" else
                _result(suite, r, 0.2) for r in runs]
    assert check(suite, diverged)[0].held is False  # a variant that never finished is worst


def test_findings_must_name_variants_and_one_bound(small_suite_data):
    small_suite_data["findings"] = [{"claim": "x", "variant": "nope", "measure": "success_rate", "above": 0.5}]
    with pytest.raises(SpecError, match="no variant named 'nope'"):
        parse_suite(small_suite_data, REGISTRY)
    small_suite_data["findings"] = [{"claim": "x", "variant": "tanh", "measure": "success_rate"}]
    with pytest.raises(SpecError, match="exactly one of 'below' and 'above'"):
        parse_suite(small_suite_data, REGISTRY)


def test_fast_version_overrides_and_renames(small_suite_data):
    small_suite_data["fast"] = {"steps": 3, "seq_lens": [4], "seeds": [7]}
    fast = parse_suite(small_suite_data, REGISTRY).fast_version()
    assert (fast.name, fast.train.steps, fast.seq_lens, fast.seeds) == ("small-fast", 3, [4], [7])
    assert fast.train.batch_size == small_suite_data["train"]["batch_size"]
