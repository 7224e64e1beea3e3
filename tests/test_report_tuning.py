"""The report's tuning section and its sensitivity figure, from a tiny tuned suite
trained for real (a learning rate of 1e6 without clipping diverges), and the
robustness number and table rows from hand-made selections."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnbench.report import build_report
from rnnbench.report.tuning_figures import (
    ROBUST_FACTOR,
    chosen_rows,
    robustness,
    tuning_figure,
    x_dimension,
)
from rnnbench.results import RunResult
from rnnbench.runner import run_suite
from rnnbench.resolve import resolve_data
from rnnbench.spec import Trial
from rnnbench.store import Store
from rnnbench.tuning import SELECTION_RULE, Selection, TrialScore, select, trial_runs, tuning_cost

SCRIPT = "<script>alert(1)</script>"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RATES = [0.01, 0.1, 1e6]  # the last one blows up a network without clipping
CLIPPED = f"clip {SCRIPT}"

TUNED = {
    "name": "tuned",
    "description": f"A tuned suite {SCRIPT}",
    "task": {"name": "adding"},
    "seq_lens": [5],
    "seeds": [0, 1],
    "train": {"steps": 30, "batch_size": 8, "log_every": 10, "test_size": 16, "validation_size": 16},
    "variants": [
        {"name": "tanh", "hidden_size": 6},
        {
            "name": CLIPPED, "hidden_size": 6,
            "remedies": [{"name": "clip_norm", "threshold": 1.0}],
            # a second dimension of its own: the figure draws it against the learning rate
            "search": [{"name": "remedy.clip_norm.threshold", "values": [1.0]}],
        },
    ],
    "tuning": {
        "budget": len(RATES),
        "seeds": [100, 101],
        "search": [{"name": "learning_rate", "values": RATES}],
    },
}  # fmt: skip


def section(html: str) -> str:
    """The page's tuning section: from its heading to the next h2."""
    start = html.index('<h2 id="tuning">')
    return html[start:html.index("<h2", start + 1)]


@pytest.fixture(scope="module")
def tuned(registry, tmp_path_factory):
    suite = resolve_data(TUNED, registry)
    root = tmp_path_factory.mktemp("tuned")
    store = Store.for_suite(root / "results", suite)
    run_suite(suite, store, registry)
    index = build_report(store.root, root / "reports", asv_results=root / "no-asv")
    return suite, store, index, index.read_text(encoding="utf-8")


def test_the_tiny_suite_has_a_diverged_trial_and_selections(tuned):
    suite, store, _, _ = tuned
    selections = store.selections()
    assert [(s.variant, s.seq_len) for s in selections] == [("tanh", 5), (CLIPPED, 5)]
    assert all(s.chosen is not None for s in selections)
    tanh = selections[0]
    assert tanh.trials[-1].values["learning_rate"] == 1e6 and tanh.trials[-1].diverged == 2
    assert tanh.chosen.values["learning_rate"] != 1e6


def test_page_has_the_tuning_section_with_chosen_values_budget_and_cost(tuned):
    suite, store, index, html = tuned
    assert '<a href="#tuning">Tuning</a>' in html
    part = section(html)
    assert html.index('<h2 id="tuning">') < html.index('<h2 id="ranking">')
    for s in store.selections():
        shown = ", ".join(f"{k} = {v:.3g}" for k, v in s.chosen.values.items())
        row = next(r for r in part.split("<tr") if f"{s.variant.replace('<', '&lt;').replace('>', '&gt;')}</td>" in r)
        assert f"<code>{shown}</code>" in row, (s.variant, shown)
        assert f"{s.chosen.score:.4g}" in row
    # the protocol in words
    assert f"{len(RATES)} trials per (variant, sequence length)" in part
    assert "learning_rate: the values 0.01, 0.1, 1e+06" in part
    assert "remedy.clip_norm.threshold: the values 1" in part  # the clipped variant's own space
    assert "100, 101" in part and "0, 1</td>" in part  # tuning seeds, evaluation seeds
    assert "<code>validation_loss</code>" in part and "lower is better" in part
    assert SELECTION_RULE.replace("'", "&#39;") in part
    assert "validation set only" in part and "test set only" in part
    # budget and cost
    cost = tuning_cost(store.selections(), store.results())
    assert cost.trial_runs == 2 * len(RATES) * 2 and cost.trial_diverged >= 2
    assert f"{cost.trial_runs} trial runs" in part  # the budget
    assert f"{cost.trial_runs} ({cost.trial_diverged} diverged, {cost.trial_failed} failed)" in part
    assert f"{cost.ratio:.3g}\u00d7" in part
    # the tanh row: one of its three trials diverged; robustness is defined
    assert "1 / 0 of 3" in part
    assert f"within a factor of {ROBUST_FACTOR:g} of the best" in part
    # the figure sits in the section, a real PNG beside the page
    assert '<img src="tuning.png"' in part
    assert (index.parent / "tuning.png").read_bytes().startswith(PNG_MAGIC)


def test_page_escapes_names_from_the_suite_file(tuned):
    _, _, _, html = tuned
    assert "<script" not in html.lower()
    part = section(html)
    assert "clip &lt;script&gt;alert(1)&lt;/script&gt;" in part
    assert part.count("&lt;script&gt;") >= 3  # chosen table, its search space, the caption


def test_figure_marks_the_chosen_trial_and_a_cross_for_the_diverged_one(tuned):
    suite, store, _, _ = tuned
    selections = store.selections()
    fig = tuning_figure(suite, selections)
    assert fig is not None
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    lines = {line.get_gid(): line for line in ax.lines if line.get_gid()}
    for s in selections:
        chosen = lines[f"chosen:{s.variant}"]
        assert list(chosen.get_xdata()) == [s.chosen.values["learning_rate"]]
        assert list(chosen.get_ydata()) == pytest.approx([s.chosen.score])
        score = lines[f"score:{s.variant}"]
        finite = [(t.values["learning_rate"], t.score) for t in s.trials if math.isfinite(t.score)]
        assert list(score.get_xdata()) == [x for x, _ in finite]
        assert list(score.get_ydata()) == pytest.approx([y for _, y in finite])
    crosses = lines["failed:tanh"]
    assert list(crosses.get_xdata()) == [1e6] and crosses.get_marker() == "x"
    # at the top edge: y in axes fraction, x in data
    assert crosses.get_transform() == ax.get_xaxis_transform()
    assert all(0.8 < y <= 1.0 for y in crosses.get_ydata())
    # the clipped variant at 1e6 either diverged too or blew up past the top of the axis
    top = [lines.get(f"{kind}:{CLIPPED}") for kind in ("failed", "above")]
    assert [1e6] in [list(line.get_xdata()) for line in top if line is not None]
    # one dot per tuning seed that finished
    seeds = lines["seeds:tanh"]
    assert len(seeds.get_xdata()) == sum(r.status == "ok" for t in selections[0].trials for r in t.runs)
    # the input-blind baseline of the validation loss: a dashed horizontal line
    assert any(line.get_linestyle() == "--" and len(set(line.get_ydata())) == 1 for line in ax.lines)


def test_x_axis_is_the_learning_rate_and_the_caption_says_so(tuned):
    suite, _, _, html = tuned
    assert x_dimension(suite, CLIPPED).name == "learning_rate"
    assert "also searched: remedy.clip_norm.threshold" in section(html)


def test_untuned_suite_has_no_tuning_section_and_no_stale_figure(registry, tmp_path):
    data = {k: v for k, v in TUNED.items() if k != "tuning"}
    data["variants"] = [{k: v for k, v in var.items() if k != "search"} for var in TUNED["variants"]]
    data["train"] = {**TUNED["train"], "learning_rate": 0.05, "steps": 10, "log_every": 5}
    data["seeds"] = [0]
    suite = resolve_data(data, registry)
    store = Store.for_suite(tmp_path / "results", suite)
    run_suite(suite, store, registry)
    stale = tmp_path / "reports" / suite.name / "tuning.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(PNG_MAGIC)
    html = build_report(store.root, tmp_path / "reports", asv_results=tmp_path / "no-asv").read_text()
    assert 'id="tuning"' not in html and "#tuning" not in html and "tuning.png" not in html
    assert not stale.exists()
    assert tuning_figure(suite, store.selections()) is None


# --- the numbers, from hand-made selections ---------------------------------------------


def score(index: int, lr: float, value: float, diverged: int = 0) -> TrialScore:
    return TrialScore(Trial(index=index, values={"learning_rate": lr}), (), value, diverged, 0)


def test_robustness_counts_trials_within_the_factor_and_not_diverged_ones():
    trials = (score(0, 1e-3, 0.3), score(1, 1e-2, 0.1), score(2, 1e-1, 0.19),
              score(3, 1.0, 0.21), score(4, 10.0, math.inf, diverged=1))
    sel = Selection("v", 5, "validation_loss", "min", trials, trials[1])
    assert robustness(sel) == pytest.approx(2 / 5)  # 0.1 and 0.19; 0.21 > 2 x 0.1
    up = Selection("v", 5, "accuracy", "max", (score(0, 1, 0.9), score(1, 2, 0.45), score(2, 3, 0.44)), None)
    assert robustness(up) == pytest.approx(2 / 3)


def test_rows_note_a_variant_that_failed_at_every_value():
    trials = (score(0, 1e-3, math.inf, diverged=2), score(1, 1e-2, math.inf, diverged=1))
    sel = Selection("v", 8, "validation_loss", "min", trials, trials[0])
    assert sel.all_diverged
    (row,) = chosen_rows([sel])
    assert "failed at every value tried" in row.note
    assert row.score is None and row.robustness is None and row.diverged == 2
    assert row.values == "learning_rate = 0.001"
    missing = Selection("v", 8, "validation_loss", "min", (score(0, 1e-3, None),), None)
    assert "not selected yet" in chosen_rows([missing])[0].note


def test_every_trial_diverged_is_drawn_as_crosses_with_the_chosen_one_ringed(registry):
    suite = resolve_data(TUNED, registry)
    runs = [r for r in trial_runs(suite) if r.variant.name == "tanh"]
    results = [RunResult(key=r.key(), spec=r, status="diverged", steps_done=3) for r in runs]
    selections = [s for s in select(suite, results) if s.variant == "tanh"]
    assert selections[0].all_diverged
    fig = tuning_figure(suite, selections)
    lines = {line.get_gid(): line for line in fig.axes[0].lines if line.get_gid()}
    assert sorted(lines["failed:tanh"].get_xdata()) == sorted(RATES)
    ring = lines["chosen:tanh"]
    assert list(ring.get_xdata()) == [RATES[0]]
    assert ring.get_transform() == fig.axes[0].get_xaxis_transform()
    assert np.all(np.isfinite(fig.axes[0].get_ylim()))
