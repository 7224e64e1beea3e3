"""Lifecycle hooks: a run handed to the plugins once it is stored, on every
executor; a plugin's section in the report, escaped; a failing hook named by
its plugin, costing neither a run nor the report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rnnbench.registry import load_registry
from rnnbench.report import build_report
from rnnbench.runner import run_suite
from rnnbench.resolve import resolve_data
from rnnbench.spec import ExecutionSpec
from rnnbench.store import Store

from command import TINY_SUITE, rnnbench
from docs import block_starting_with

FIXTURES = Path(__file__).parent / "fixtures"
LIFECYCLE = str(FIXTURES / "lifecycle_plugin.py")
FAILING = str(FIXTURES / "failing_hooks_plugin.py")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

SUITE_FILE = TINY_SUITE


@pytest.fixture
def run_log(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "stored.jsonl"
    monkeypatch.setenv("RNNBENCH_TEST_RUN_LOG", str(path))
    return path


def logged(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- rnnbench_run_stored -----------------------------------------------------------------------


@pytest.mark.parametrize("execution", [{"executor": "serial"}, {"executor": "processes", "jobs": 2}])
def test_the_stored_hook_is_called_once_per_stored_run_in_the_storing_process(
    small_suite, run_log, tmp_path, execution
):
    registry = load_registry([LIFECYCLE])
    store = Store(tmp_path / "results" / small_suite.name)
    warnings = []
    summary = run_suite(small_suite, store, registry, execution=ExecutionSpec(**execution),
                        plugins=[LIFECYCLE], warn=warnings.append)
    assert summary.counts == {"ok": 4} and warnings == []
    calls = logged(run_log)
    stored = {p.stem for p in store.runs_dir.glob("*.json")}
    assert len(calls) == 4 and {c["key"] for c in calls} == stored
    assert {c["pid"] for c in calls} == {os.getpid()}  # here, not in a worker
    assert all(Path(c["path"]) == store.runs_dir / f"{c['key']}.json" for c in calls)
    # a run skipped because it is stored already is not announced again
    run_suite(small_suite, store, registry, execution=ExecutionSpec(**execution), plugins=[LIFECYCLE])
    assert len(logged(run_log)) == 4


def test_the_stored_hook_sees_the_tuning_runs_too(small_suite_data, run_log, tmp_path):
    small_suite_data["tuning"] = {"budget": 2, "seeds": [100],
                                  "search": [{"name": "learning_rate", "values": [0.01, 0.1]}]}
    registry = load_registry([LIFECYCLE])
    suite = resolve_data(small_suite_data, registry)
    store = Store(tmp_path / suite.name)
    run_suite(suite, store, registry)
    calls = logged(run_log)
    assert sorted(c["trial"] for c in calls) == [False] * 4 + [True] * 4
    assert len({c["key"] for c in calls}) == 8


def test_a_raising_stored_hook_is_named_once_and_every_run_is_stored(small_suite, run_log, tmp_path):
    registry = load_registry([FAILING, LIFECYCLE])
    store = Store(tmp_path / small_suite.name)
    warnings = []
    summary = run_suite(small_suite, store, registry, warn=warnings.append)
    assert summary.counts == {"ok": 4}
    assert len(list(store.runs_dir.glob("*.json"))) == 4
    (line,) = warnings
    assert line.startswith("plugin ") and "failing_hooks_plugin.py" in line
    assert "rnnbench_run_stored raised RuntimeError: the tracker cannot be reached" in line
    assert len(logged(run_log)) == 4  # the plugin after it is still called, for every run


# --- rnnbench_report_section -------------------------------------------------------------------


@pytest.fixture(scope="module")
def stored(tmp_path_factory, registry):
    root = tmp_path_factory.mktemp("stored")
    suite = resolve_data(
        {"name": "tiny", "task": {"name": "adding"}, "seq_lens": [5], "seeds": [0, 1],
         "train": {"steps": 8, "batch_size": 4, "log_every": 4, "test_size": 8},
         "variants": [{"name": "plain", "hidden_size": 4}]},
        registry,
    )
    store = Store(root / "results" / suite.name)
    run_suite(suite, store, registry)
    return store


def test_a_plugin_section_is_on_the_page_escaped(stored, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no asv results here
    warnings = []
    index = build_report(stored.root, tmp_path / "reports", hooks=load_registry([LIFECYCLE]).hooks,
                         warn=warnings.append)
    html = index.read_text()
    assert warnings == []
    assert "Final losses &lt;b&gt;by seed&lt;/b&gt;" in html and "<b>by seed" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; checked" in html and "<script>" not in html
    assert 'alt="final test loss of tiny &lt;i&gt;per seed&lt;/i&gt;"' in html
    assert '<a href="#plugin-1">' in html and '<h2 id="plugin-1">' in html
    assert "Added by plugin " in html and "lifecycle_plugin.py" in html
    assert '<img src="plugin-1.png"' in html
    assert (index.parent / "plugin-1.png").read_bytes()[:8] == PNG_MAGIC


def test_without_the_plugin_the_page_has_no_section_and_no_stale_figure(stored, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    build_report(stored.root, tmp_path / "reports", hooks=load_registry([LIFECYCLE]).hooks)
    index = build_report(stored.root, tmp_path / "reports")
    assert "plugin-1" not in index.read_text()
    assert not (index.parent / "plugin-1.png").exists()


UNDRAWABLE = {
    "not a section": '"a string"',
    "a figure that is a file name": 'ReportSection("t", figure="plot.png")',
    "bytes that are not a PNG": 'ReportSection("t", figure=b"GIF89a....")',
    "no title": 'ReportSection("  ", text="x")',
    "a title that is not text": 'ReportSection(42)',
    "a figure that cannot be saved": "ReportSection('t', figure=broken())",
}


@pytest.mark.parametrize("returned", UNDRAWABLE.values(), ids=UNDRAWABLE.keys())
def test_a_section_the_report_cannot_draw_is_named_once_and_left_out(stored, tmp_path, monkeypatch, returned):
    monkeypatch.chdir(tmp_path)
    plugin = tmp_path / "odd_plugin.py"
    plugin.write_text(
        "from matplotlib.figure import Figure\n"
        "from rnnbench import hookimpl\n"
        "from rnnbench.api import ReportSection\n"
        "def broken():\n"
        "    fig = Figure()\n"
        "    fig.add_subplot().text(0.5, 0.5, '$\\\\frac{unbalanced$')\n"  # mathtext that cannot be parsed
        "    return fig\n"
        "@hookimpl\n"
        "def rnnbench_report_section():\n"
        f"    return [{returned}, ReportSection('kept', text='the good one')]\n"
    )
    warnings = []
    index = build_report(stored.root, tmp_path / "reports", hooks=load_registry([str(plugin)]).hooks,
                         warn=warnings.append)
    (line,) = warnings
    assert line.startswith("plugin ") and "odd_plugin.py" in line
    assert "rnnbench_report_section returned" in line and "which the report cannot draw" in line
    html = index.read_text()
    assert "the good one" in html and '<h2 id="plugin-1">kept</h2>' in html
    assert 'id="plugin-2"' not in html
    assert not list(index.parent.glob("plugin-*.png"))


def test_a_section_of_a_title_alone_is_a_heading_without_paragraph_or_figure(stored, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plugin = tmp_path / "title_plugin.py"
    plugin.write_text(
        "from rnnbench import hookimpl\n"
        "from rnnbench.api import ReportSection\n"
        "@hookimpl\n"
        "def rnnbench_report_section():\n"
        "    return ReportSection('only a title')\n"
    )
    warnings = []
    index = build_report(stored.root, tmp_path / "reports", hooks=load_registry([str(plugin)]).hooks,
                         warn=warnings.append)
    html = index.read_text()
    assert warnings == []
    start = html.index('<h2 id="plugin-1">only a title</h2>')
    section = html[start:html.index("Added by plugin", start)]
    assert '<p class="note">' not in section and "<img" not in section
    assert not (index.parent / "plugin-1.png").exists()


# --- the command line ------------------------------------------------------------------------------


def test_failing_hooks_warn_by_plugin_name_and_lose_nothing(tmp_path):
    (tmp_path / "tiny.toml").write_text(SUITE_FILE)
    env = dict(os.environ, RNNBENCH_TEST_RUN_LOG=str(tmp_path / "log.jsonl"))
    done = rnnbench("run", "tiny.toml", "-q", "--plugin", FAILING, "--plugin", LIFECYCLE, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "failing_hooks_plugin.py" in line]
    assert len(lines) == 2 and all(line.startswith("warning: plugin ") for line in lines)
    assert "rnnbench_run_stored raised RuntimeError: the tracker cannot be reached" in lines[0]
    assert "rnnbench_report_section raised ValueError: this diagnostic always fails" in lines[1]
    assert len(list((tmp_path / "results/tiny/runs").glob("*.json"))) == 4
    assert len(logged(tmp_path / "log.jsonl")) == 4
    assert done.stdout.strip().splitlines()[-1] == f"report: {Path('reports/tiny/index.html')}"
    html = (tmp_path / "reports/tiny/index.html").read_text()
    assert "Final losses &lt;b&gt;by seed&lt;/b&gt;" in html  # the working plugin's section is there
    assert "this diagnostic" not in html


def test_report_takes_plugins_that_add_sections(tmp_path):
    (tmp_path / "tiny.toml").write_text(SUITE_FILE)
    assert rnnbench("run", "tiny.toml", "-q", cwd=tmp_path).returncode == 0
    html = (tmp_path / "reports/tiny/index.html").read_text()
    assert "plugin-1" not in html
    done = rnnbench("report", "results", "--plugin", LIFECYCLE, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Final losses &lt;b&gt;by seed&lt;/b&gt;" in (tmp_path / "reports/tiny/index.html").read_text()


def test_the_run_logger_of_the_plugin_guide_logs_every_run(tmp_path):
    _, code = block_starting_with("# rnnbench_runlog.py")  # plugins/README.md, lifecycle hooks
    (tmp_path / "rnnbench_runlog.py").write_text(code)
    (tmp_path / "tiny.toml").write_text(SUITE_FILE)
    done = rnnbench("run", "tiny.toml", "-q", "--plugin", "rnnbench_runlog.py", cwd=tmp_path)
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
    rows = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"} and {r["suite"] for r in rows} == {"tiny"}
