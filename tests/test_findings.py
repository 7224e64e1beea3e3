"""The built-in suites: each one's quick version reproduces the direction of
every finding it claims, so that an engine change that breaks a finding fails
here; and the findings machinery decides claims as written."""

from __future__ import annotations

import pytest
import scipy.stats

from rnnbench.report.findings import check
from rnnbench.registry import load_registry
from rnnbench.results import RunResult
from rnnbench.runner import run_suite
from rnnbench.resolve import resolve_data
from rnnbench.spec import SpecError
from rnnbench.store import Store
from rnnbench import builtin_suites

REGISTRY = load_registry()
SUITES = [n for n in builtin_suites.names() if n != "default"]


def builtin(name):
    return builtin_suites.load(name, REGISTRY)


def test_every_builtin_suite_validates_cites_its_source_and_has_a_quick_version():
    assert len(SUITES) >= 6
    for name in SUITES:
        suite = builtin(name)
        assert suite.findings, name
        assert all(f.source for f in suite.findings), name
        assert suite.quick is not None, name
        assert "Scaled down" in suite.description, name


@pytest.mark.parametrize("name", SUITES)
def test_the_quick_version_reproduces_every_finding(name, tmp_path):
    suite = builtin(name).quick_version()
    store = Store.for_suite(tmp_path, suite)
    run_suite(suite, store, REGISTRY)
    verdicts = check(suite, store.results(), store.trials())
    assert verdicts
    failed = [f"T={v.seq_len}: {v.finding.claim}: {v.detail}" for v in verdicts if v.held is not True]
    assert not failed, failed


def _result(suite, run, loss, status="ok", solved=None):
    return RunResult(key=run.key(), spec=run, status=status, final_test_loss=loss, baseline=0.2,
                     solved={} if solved is None else {"solved": solved})


def test_a_claim_is_decided_against_numbers_and_other_variants(small_suite_data):
    small_suite_data["findings"] = [
        {"claim": "clip is better", "variant": "tanh + clip", "measure": "final_test_loss", "below": "tanh"},
        {"claim": "tanh beats the baseline", "variant": "tanh", "measure": "loss_over_baseline", "below": 1.0},
    ]
    suite = resolve_data(small_suite_data, REGISTRY)
    runs = suite.runs()
    losses = {"tanh": [0.1, 0.5], "tanh + clip": [0.05, 0.05]}
    results = [_result(suite, r, losses[r.variant.name][r.seed]) for r in runs]
    first, second = check(suite, results)
    assert first.held is True and first.value == pytest.approx(0.05) and first.reference == pytest.approx(0.3)
    assert second.held is False and second.value == pytest.approx(1.5)  # (0.5 + 2.5) / 2 is not below 1
    diverged = [_result(suite, r, None, "diverged") if r.variant.name == "tanh + clip" else
                _result(suite, r, 0.2) for r in runs]
    assert check(suite, diverged)[0].held is False  # a variant that never finished is worst


def test_findings_must_name_variants_and_one_bound(small_suite_data):
    small_suite_data["findings"] = [{"claim": "x", "variant": "nope", "measure": "success_rate", "above": 0.5}]
    with pytest.raises(SpecError, match="no variant named 'nope'"):
        resolve_data(small_suite_data, REGISTRY)
    small_suite_data["findings"] = [{"claim": "x", "variant": "tanh", "measure": "success_rate"}]
    with pytest.raises(SpecError, match="exactly one of 'below' and 'above'"):
        resolve_data(small_suite_data, REGISTRY)


def test_quick_version_overrides_and_renames(small_suite_data):
    small_suite_data["quick"] = {"steps": 3, "seq_lens": [4], "seeds": [7]}
    quick = resolve_data(small_suite_data, REGISTRY).quick_version()
    assert (quick.name, quick.train.steps, quick.seq_lens, quick.seeds) == ("small-quick", 3, [4], [7])
    assert quick.train.batch_size == small_suite_data["train"]["batch_size"]
    # [fast], the table's old name, is read as [quick]
    old = dict(small_suite_data)
    old["fast"] = old.pop("quick")
    assert resolve_data(old, REGISTRY).quick_version().seq_lens == [4]


def test_a_scaled_version_may_keep_some_variants_and_the_findings_about_them(small_suite_data):
    small_suite_data["findings"] = [
        {"claim": "a", "variant": "tanh", "measure": "final_test_loss", "below": 1.0},
        {"claim": "b", "variant": "tanh + clip", "measure": "final_test_loss", "below": 1.0},
        {"claim": "c", "variant": "tanh", "measure": "final_test_loss", "below": "tanh + clip"},
    ]
    small_suite_data["quick"] = {"variants": ["tanh"]}
    fast = resolve_data(small_suite_data, REGISTRY).quick_version()
    assert [v.name for v in fast.variants] == ["tanh"]
    assert [f.claim for f in fast.findings] == ["a"]
    small_suite_data["quick"] = {"variants": ["tanh", "nope"]}
    with pytest.raises(ValueError, match="quick.variants: no variant named 'nope'"):
        resolve_data(small_suite_data, REGISTRY).quick_version()


CLAIMS = [
    {"claim": "clip is better", "variant": "tanh + clip", "measure": "final_test_loss", "below": "tanh"},
    {"claim": "clip beats the baseline", "variant": "tanh + clip", "measure": "loss_over_baseline",
     "below": 1.0},
    {"claim": "clip solves more", "variant": "tanh + clip", "measure": "success_rate", "above": "tanh"},
    {"claim": "clip mostly solves", "variant": "tanh + clip", "measure": "success_rate", "above": 0.4},
]


def _verdicts(small_suite_data, losses, solved=None, status=None):
    """Check CLAIMS on runs with the given final losses (and success) per variant and seed."""
    n = len(losses["tanh"])
    small_suite_data["seeds"] = list(range(n))
    small_suite_data["findings"] = CLAIMS
    suite = resolve_data(small_suite_data, REGISTRY)
    results = []
    for r in suite.runs():
        name, seed = r.variant.name, r.seed
        done = (status or {}).get(name, "ok")
        loss = losses[name][seed] if done == "ok" else None
        results.append(_result(suite, r, loss, done, (solved or {}).get(name, [False] * n)[seed]))
    return check(suite, results)


def test_eight_seeds_that_clearly_separate_reproduce_the_claims(small_suite_data):
    losses = {"tanh + clip": [0.10 + 0.01 * i for i in range(8)], "tanh": [0.30 + 0.01 * i for i in range(8)]}
    solved = {"tanh + clip": [True] * 8, "tanh": [False] * 8}
    better, baseline, solves_more, mostly = _verdicts(small_suite_data, losses, solved)
    assert (better.held, better.outcome) == (True, "reproduced")
    assert better.p == pytest.approx(1 / 12870)  # the one split of 16 runs with every clip run lowest
    assert "Mann-Whitney" in better.detail and better.detail.endswith(": reproduced")
    assert better.headline == "reproduced (95%)"
    assert (baseline.held, baseline.outcome) == (True, "reproduced")  # 0.1 / 0.2 .. 0.17 / 0.2
    assert baseline.value == pytest.approx((0.13 + 0.14) / 2 / 0.2)  # the median run
    assert baseline.p == pytest.approx(0.5 ** 8) and "sign test" in baseline.method
    assert (solves_more.held, solves_more.outcome) == (True, "reproduced")
    assert solves_more.p < 0.001 and "Boschloo" in solves_more.detail  # 8 of 8 against 0 of 8
    assert (mostly.held, mostly.outcome) == (True, "reproduced")
    assert mostly.p == pytest.approx(0.4 ** 8)  # the exact binomial tail P(K >= 8 | 0.4)
    # the four are one family: Holm multiplies the smallest p by 4, the next by 3, ...
    ps = sorted(v.p for v in (better, baseline, solves_more, mostly))
    adjusted = sorted(v.p_adjusted for v in (better, baseline, solves_more, mostly))
    assert adjusted[0] == pytest.approx(4 * ps[0]) and adjusted[-1] >= ps[-1]
    assert all("power" in v.detectable for v in (better, baseline, solves_more, mostly))


def test_eight_seeds_that_overlap_show_nothing_though_the_medians_agree(small_suite_data):
    losses = {"tanh + clip": [0.10, 0.30, 0.20, 0.40, 0.25, 0.21, 0.33, 0.12],
              "tanh": [0.15, 0.35, 0.22, 0.38, 0.30, 0.24, 0.31, 0.11]}
    solved = {"tanh + clip": [True, True, True, False, False, True, False, False],
              "tanh": [True, True, False, False, False, False, True, False]}
    better, baseline, solves_more, mostly = _verdicts(small_suite_data, losses, solved)
    assert (better.held, better.outcome) == (True, "not shown")
    assert (solves_more.held, solves_more.outcome) == (True, "not shown")  # 4 of 8 against 3 of 8
    assert (mostly.held, mostly.outcome) == (True, "not shown")  # 4 of 8 above 0.4


def test_eight_seeds_that_reverse_contradict_the_claims(small_suite_data):
    losses = {"tanh + clip": [0.30 + 0.01 * i for i in range(8)], "tanh": [0.10 + 0.01 * i for i in range(8)]}
    solved = {"tanh + clip": [False] * 8, "tanh": [True] * 8}
    better, baseline, solves_more, mostly = _verdicts(small_suite_data, losses, solved)
    assert (better.held, better.outcome) == (False, "contradicted")
    assert (baseline.held, baseline.outcome) == (False, "contradicted")  # 1.5 .. 1.85 times the baseline
    assert (solves_more.held, solves_more.outcome) == (False, "contradicted")
    # 0 of 8 is below 0.4, and P(K = 0 | 0.4) = 0.6^8 = 0.017 is small, but the claim was "above"
    assert mostly.held is False and mostly.outcome in ("contradicted", "not shown")


def test_the_same_runs_decided_alone_or_in_a_family_of_four(small_suite_data):
    """Holm: one claim alone at p = 0.03 is reproduced; beside three claims with
    p = 1 it needs p <= 0.05 / 4 and is not."""
    losses = {"tanh + clip": [0.10, 0.11, 0.12, 0.13, 0.35], "tanh": [0.30, 0.31, 0.32, 0.33, 0.34]}
    alone_data = dict(small_suite_data, seeds=list(range(5)), findings=CLAIMS[1:2])
    suite = resolve_data(alone_data, REGISTRY)
    results = [_result(suite, r, losses[r.variant.name][r.seed]) for r in suite.runs()]
    (alone,) = check(suite, results)
    assert alone.p == pytest.approx(6 / 32)  # 4 of 5 below: P(K >= 4) = 6/32: not even alone
    losses["tanh + clip"][4] = 0.14
    results = [_result(suite, r, losses[r.variant.name][r.seed]) for r in suite.runs()]
    (alone,) = check(suite, results)
    assert (alone.p, alone.p_adjusted, alone.outcome) == (pytest.approx(1 / 32), pytest.approx(1 / 32), "reproduced")
    crowd = _verdicts(small_suite_data, losses, {"tanh + clip": [False] * 5, "tanh": [False] * 5})
    baseline = crowd[1]
    assert baseline.p == pytest.approx(1 / 32) and baseline.p_adjusted > 0.05
    assert baseline.outcome == "not shown"


def test_two_seeds_are_too_few_to_decide(small_suite_data):
    losses = {"tanh + clip": [0.10, 0.11], "tanh": [0.30, 0.31]}
    solved = {"tanh + clip": [True, True], "tanh": [False, False]}
    verdicts = _verdicts(small_suite_data, losses, solved)
    assert [(v.held, v.outcome, v.p_adjusted) for v in verdicts] == [(True, "too few seeds", None)] * 4
    assert verdicts[0].headline == "too few seeds"
    assert "cannot decide" in verdicts[0].detail


def test_a_variant_that_never_finished_counts_as_worse_than_any_run_that_did(small_suite_data):
    losses = {"tanh + clip": [0.10, 0.11, 0.12, 0.13, 0.14, 0.15], "tanh": [None] * 6}
    better = _verdicts(small_suite_data, losses, status={"tanh": "diverged"})[0]
    assert (better.held, better.outcome, better.reference) == (True, "reproduced", float("inf"))
    assert "6 diverged" in better.detail
    # the other way round, the claim is contradicted
    swapped = {"tanh + clip": losses["tanh"], "tanh": losses["tanh + clip"]}
    worse = _verdicts(small_suite_data, swapped, status={"tanh + clip": "diverged"})
    assert (worse[0].held, worse[0].outcome) == (False, "contradicted")
    # a diverged run is never below a number: "below the baseline" is contradicted by none of
    # the runs lying above it, but it cannot be reproduced either
    assert worse[1].outcome == "not shown" and worse[1].p == 1.0


def test_a_diverged_run_never_counts_as_one_that_stayed_at_the_baseline(small_suite_data):
    small_suite_data["seeds"] = list(range(8))
    small_suite_data["findings"] = [{"claim": "tanh stays", "variant": "tanh",
                                     "measure": "loss_over_baseline", "above": 0.9}]
    suite = resolve_data(small_suite_data, REGISTRY)
    stayed = [_result(suite, r, 0.2) for r in suite.runs()]  # 1.0 of the baseline
    (verdict,) = check(suite, stayed)
    assert verdict.outcome == "reproduced" and verdict.p == pytest.approx(0.5 ** 8)
    diverged = [_result(suite, r, None, "diverged") if r.seed < 3 else _result(suite, r, 0.2)
                for r in suite.runs()]
    (verdict,) = check(suite, diverged)
    assert verdict.p == pytest.approx(scipy.stats.binom.sf(4, 8, 0.5))  # 5 of 8 above
    assert verdict.outcome == "not shown" and "3 diverged" in verdict.detail


def test_undecided_without_values(small_suite_data):
    small_suite_data["findings"] = CLAIMS[:1]
    suite = resolve_data(small_suite_data, REGISTRY)
    (verdict,) = check(suite, [])
    assert (verdict.held, verdict.outcome, verdict.p) == (None, "undecided", None)


@pytest.mark.parametrize("name", builtin_suites.names())
def test_the_papers_size_validates_and_expands_to_the_runs_it_says(name):
    from rnnbench import tuning

    suite = builtin(name)
    assert suite.paper is not None, name
    paper = suite.scaled("paper")
    assert paper.name == f"{name}-paper" and paper.paper is None and paper.quick is None
    assert max(paper.seq_lens) > max(suite.seq_lens) and max(paper.seq_lens) >= 200  # the papers' lengths
    assert all(v.hidden_size == suite.paper.hidden_size for v in paper.variants)
    trials, evaluations = tuning.planned_runs(paper)
    cells = len(paper.seq_lens) * len(paper.variants)
    assert evaluations == cells * len(paper.seeds)
    assert trials == cells * paper.tuning.budget * len(paper.tuning.seeds)
    runs = tuning.trial_runs(paper)
    assert len(runs) == trials and len({r.key() for r in runs}) == trials
    assert {r.seq_len for r in runs} == set(paper.seq_lens)
    assert {r.train.steps for r in runs} == {suite.paper.steps or suite.train.steps}
    # findings at a length the papers' size does not run are left out, the others kept
    assert [f for f in suite.findings if f.seq_len is None or f.seq_len in paper.seq_lens] == paper.findings


def test_a_suite_without_a_scale_says_so(small_suite_data):
    with pytest.raises(ValueError, match="suite 'small' has no paper version"):
        resolve_data(small_suite_data, REGISTRY).scaled("paper")


def test_steps_to_solve_censors_a_run_that_never_solved_at_the_budget(small_suite_data):
    small_suite_data["findings"] = [
        {"claim": "clip solves sooner", "variant": "tanh + clip", "measure": "steps_to_solve", "below": "tanh"}]
    suite = resolve_data(small_suite_data, REGISTRY)
    budget = suite.train.steps
    solved_at = {"tanh": [None, 4], "tanh + clip": [2, 2]}
    results = [
        RunResult(key=r.key(), spec=r, status="ok", final_test_loss=0.1, baseline=0.2,
                  steps_to_solve=solved_at[r.variant.name][r.seed])
        for r in suite.runs()
    ]
    verdict = check(suite, results)[0]
    # Kaplan-Meier medians: tanh solved one of two by step 4 (the other is censored at the budget)
    assert verdict.value == 2 and verdict.reference == 4
    assert verdict.held is True
    never = [RunResult(key=r.key(), spec=r, status="ok", final_test_loss=0.1, baseline=0.2,
                       steps_to_solve=None if r.variant.name == "tanh" else 2) for r in suite.runs()]
    verdict = check(suite, never)[0]
    assert verdict.reference == float("inf")  # neither tanh run solved: the median is beyond the budget
    assert verdict.held is True and verdict.value == 2 and budget > 2
