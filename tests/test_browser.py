"""A generated report opened in real headless Chromium (the system's package),
driven by Playwright: every image loads, nothing is logged as an error, and
nothing but local files is requested."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnbench.report import build_report
from rnnbench.resolve import resolve_data
from rnnbench.runner import run_suite
from rnnbench.store import Store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip

# Real runs, small enough to take a second: a vanilla cell with and without
# clipping and an LSTM (its cell-state profile adds a row of panels).
SUITE = {
    "name": "browser",
    "description": "A <i>tiny</i> sweep for the browser test.",
    "task": {"name": "adding"},
    "seq_lens": [5, 8],
    "seeds": [0, 1],
    "train": {"learning_rate": 0.1, "steps": 20, "batch_size": 8, "log_every": 5, "test_size": 16},
    "variants": [
        {"name": "tanh", "hidden_size": 6},
        {"name": "tanh + clip", "hidden_size": 6, "remedies": [{"name": "clip_norm", "threshold": 0.5}]},
        {"name": "lstm", "cell": "lstm", "hidden_size": 6},
    ],
}


@pytest.fixture(scope="module")
def index(registry, tmp_path_factory) -> Path:
    suite = resolve_data(SUITE, registry)
    root = tmp_path_factory.mktemp("browser")
    store = Store.for_suite(root / "results", suite)
    run_suite(suite, store, registry)
    return build_report(store.root, root / "reports", asv_results=root / "no-asv-results")


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
def test_report_opens_in_chromium_offline_with_every_image(index):
    from playwright.sync_api import sync_playwright  # in the test extra

    messages, failures, requests = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(offline=True).new_page()
            page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: failures.append(str(e)))
            page.on("requestfailed", lambda r: failures.append(f"{r.url}: {r.failure}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(index.as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
            )
            title = page.title()
        finally:
            browser.close()

    pngs = sorted(p.name for p in index.parent.glob("*.png"))
    assert len(pngs) >= 6, pngs  # every figure but the asv history
    assert sorted(src for src, _, _ in images) == pngs
    assert [src for src, complete, width in images if not (complete and width > 0)] == []
    assert [m for m in messages if m.startswith(("error", "warning"))] == []
    assert failures == []
    assert requests and [url for url in requests if not url.startswith("file://")] == []
    assert title == "rnnbench report: browser"
