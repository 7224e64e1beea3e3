"""The ``rnnbench`` command as a user runs it: real processes, exit codes, files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from command import TINY_SUITE, rnnbench

FIXTURES = Path(__file__).parent / "fixtures"

TINY = TINY_SUITE.replace('name = "plain"', 'name = "<script>alert(1)</script>"')  # must be escaped



@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def test_run_report_export_from_a_suite_file(tmp_path, tiny):
    done = rnnbench("run", str(tiny), "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last == f"report: {Path('out/reports/tiny/index.html')}"
    index = tmp_path / "out" / "reports" / "tiny" / "index.html"
    html = index.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert len(list((tmp_path / "out/results/tiny/runs").glob("*.json"))) == 4

    again = rnnbench("run", str(tiny), "--out", "out", cwd=tmp_path)
    assert again.returncode == 0 and "ran 0 of 4 runs" in again.stdout and "4 already stored" in again.stdout

    index.unlink()
    rebuilt = rnnbench("report", "out/results", "--out", "out", cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert index.is_file()

    exported = rnnbench("export", "out/results/tiny", "--out", "csv", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    with open(tmp_path / "csv" / "tiny" / "runs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    with open(tmp_path / "csv" / "tiny" / "curves.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 4 * 4  # steps 0, 4, 8, 12


def test_a_crashing_plugin_gives_exit_1_and_keeps_the_other_results(tmp_path, tiny):
    text = tiny.read_text().replace('threshold = 0.5 }]', 'threshold = 0.5 }, "crash"]')
    tiny.write_text(text)
    done = rnnbench("run", str(tiny), "--out", ".", "--plugin", str(FIXTURES / "crashing_plugin.py"), cwd=tmp_path)
    assert done.returncode == 1
    # the two seeds that failed the same way share one line
    failed = [line for line in done.stderr.splitlines() if line.startswith("failed:")]
    assert failed == ["failed: clipped T=5 seeds=0,1: RuntimeError: this remedy always fails"]
    assert "Traceback" not in done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("report: ")
    assert "ok 2, diverged 0, error 2, timeout 0" in done.stdout


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda t: t.replace("seq_lens = [5]", "seq_lens = [0]"), "seq_lens[0]: Input should be greater than 0"),
        (lambda t: t.replace('name = "adding"', 'name = "add"'), "task: unknown task 'add'; known: adding"),
        (lambda t: t.replace('name = "clip_norm"', 'name = "clip"'), "unknown remedy 'clip'; known: chrono_init, clip_norm"),
        (lambda t: t.replace("steps = 12", 'steps = "many"'), "train.steps: Input should be a valid integer"),
        (lambda t: t.replace("seeds = [0, 1]", "seeds = [0, 1"), "invalid TOML"),
        (lambda t: "variants = []\n" + t[: t.index("[[variants]]")], "variants: List should have at least 1 item"),
        (lambda t: t.replace('name = "tiny"', 'name = "my suite"'),
         "name: 'my suite': use letters, digits, '_', '.' and '-', starting with a letter or digit"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_traceback(tmp_path, tiny, edit, expected):
    tiny.write_text(edit(tiny.read_text()))
    for verb in ("validate", "run"):
        done = rnnbench(verb, str(tiny), cwd=tmp_path)
        assert done.returncode == 2, (verb, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert not (tmp_path / "results").exists()


def test_a_missing_suite_or_results_dir_is_exit_2(tmp_path):
    missing = rnnbench("run", "nope.toml", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.toml: no such suite file" in missing.stderr
    (tmp_path / "somedir").mkdir()
    directory = rnnbench("validate", "somedir", cwd=tmp_path)
    assert directory.returncode == 2 and "somedir: a directory, not a suite file" in directory.stderr
    no_results = rnnbench("report", str(tmp_path), cwd=tmp_path)
    assert no_results.returncode == 2 and "no stored suite here" in no_results.stderr


def test_init_writes_the_default_suite_which_validates(tmp_path):
    done = rnnbench("init", "mine.toml", cwd=tmp_path)
    assert done.returncode == 0
    data = tomllib.loads((tmp_path / "mine.toml").read_text())
    assert data["name"] == "mine" and data["task"]["name"] == "adding"  # not results/default: its own
    assert len(data["variants"]) == 3 and len(data["seeds"]) == 10
    assert data["tuning"]["budget"] == 4 and len(data["tuning"]["seeds"]) == 1
    assert "#" in (tmp_path / "mine.toml").read_text()  # it is the commented file
    valid = rnnbench("validate", "mine.toml", cwd=tmp_path)
    assert valid.returncode == 0 and "suite 'mine', " in valid.stdout
    assert "= 30 runs, after 12 tuning runs" in valid.stdout
    refused = rnnbench("init", "mine.toml", cwd=tmp_path)
    assert refused.returncode == 2 and "--force" in refused.stderr


def test_plugins_lists_each_component_with_its_distribution(tmp_path):
    done = rnnbench("plugins", "--plugin", str(FIXTURES / "halving_plugin.py"), cwd=tmp_path)
    assert done.returncode == 0
    from rnnbench import __version__

    for name in ("adding", "vanilla", "clip_norm", "sgd"):
        line = next(l for l in done.stdout.splitlines() if l.split()[:1] == [name])
        assert f"(rnnbench {__version__})" in line
    assert any(l.split()[:1] == ["halve"] for l in done.stdout.splitlines())


@pytest.mark.parametrize("init_name, name", [
    ("my suite (copy).toml", "my_suite__copy_"),
    ("_draft.v2.toml", "draft.v2"),
    ("!!.toml", "suite"),
])
def test_init_names_the_suite_after_its_file(tmp_path, init_name, name):
    done = rnnbench("init", init_name, "--suite", "vanishing", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / init_name).read_text()
    assert tomllib.loads(text)["name"] == name and text.count(f'name = "{name}"') == 1
    valid = rnnbench("validate", init_name, cwd=tmp_path)
    assert valid.returncode == 0 and f"suite '{name}'" in valid.stdout, valid.stderr


@pytest.mark.parametrize("verb", [("plugins",), ("validate", "default"), ("schema",), ("run", "default")])
def test_a_plugin_module_that_cannot_be_loaded_is_exit_2_one_line_each(tmp_path, verb):
    broken = tmp_path / "broken.py"
    broken.write_text("raise ImportError('missing dependency xyz')\n")
    done = rnnbench(*verb, "--plugin", "nothere.py", "--plugin", str(broken), "--plugin", "no_such.module",
                    cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "error: plugin nothere.py: failed to import: FileNotFoundError: no such file: nothere.py",
        f"error: plugin {broken}: failed to import: ImportError: missing dependency xyz",
        "error: plugin no_such.module: failed to import: ModuleNotFoundError: No module named 'no_such'",
    ]
    assert not (tmp_path / "results").exists()


def test_schema_is_json_with_the_plugins_parameters(tmp_path):
    done = rnnbench("schema", cwd=tmp_path)
    schema = json.loads(done.stdout)
    assert "clip_norm" in json.dumps(schema["$defs"]["RemedyRef"])
    assert set(schema["required"]) >= {"name", "task", "seq_lens", "seeds", "variants"}


def test_every_verb_explains_itself(tmp_path):
    top = rnnbench("--help", cwd=tmp_path)
    for verb in ("run", "validate", "report", "export", "check", "schema", "plugins", "init", "gradcheck"):
        assert verb in top.stdout
        done = rnnbench(verb, "--help", cwd=tmp_path)
        assert done.returncode == 0 and "Usage:" in done.stdout and len(done.stdout) > 150


def test_gradcheck_passes_the_builtins_and_catches_a_wrong_gradient(tmp_path):
    good = rnnbench("gradcheck", "--cell", "vanilla", "--remedy", "layer_norm",
                    "--remedy", '{ name = "l2", weight_decay = 0.1 }', cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert good.stdout.count(": ok") == 2
    bad = rnnbench("gradcheck", "--plugin", str(FIXTURES / "wrong_gradient_plugin.py"),
                   "--remedy", "wrong_l2", cwd=tmp_path)
    assert bad.returncode == 1
    assert "FAILED W_hh" in bad.stdout and "W_hx" not in bad.stdout.split("FAILED")[1]
    suite = rnnbench("gradcheck", "default", "--variant", "tanh + clipping", cwd=tmp_path)
    assert suite.returncode == 0 and "tanh + clipping: cell vanilla" in suite.stdout
    assert "tanh: cell" not in suite.stdout


def test_gradcheck_says_which_command_line_choice_does_not_fit(tmp_path):
    done = rnnbench("gradcheck", "--cell", "lstm", "--activation", "relu", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: command line: activation 'relu' is not available for cell 'lstm'; choose one of: tanh"
    ]


def test_a_directory_named_like_a_builtin_suite_does_not_hide_it(tmp_path):
    (tmp_path / "vanishing").mkdir()  # e.g. the --out directory of an earlier run
    done = rnnbench("validate", "vanishing", cwd=tmp_path)
    assert done.returncode == 0 and "suite 'vanishing'" in done.stdout, done.stderr


def test_suites_lists_the_builtins_and_init_writes_one_out(tmp_path):
    listed = rnnbench("suites", cwd=tmp_path)
    assert listed.returncode == 0
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert {"default", "vanishing", "clipping", "gates", "irnn", "layernorm_l2", "copy_memory"} <= set(names)
    gates = next(l for l in listed.stdout.splitlines() if l.startswith("gates"))
    assert "--scale quick" in gates and "--scale paper" in gates
    paper = rnnbench("validate", "gates", "--scale", "paper", cwd=tmp_path)
    assert paper.returncode == 0, paper.stderr
    assert "suite 'gates-paper', 5 variants x 3 lengths x 6 seeds = 90 runs, after 60 tuning runs" in paper.stdout
    both = rnnbench("run", "gates", "--quick", "--scale", "paper", cwd=tmp_path)
    assert both.returncode == 2 and "--quick and --scale paper: choose one" in both.stderr
    both = rnnbench("validate", "gates", "--quick", "--scale", "paper", cwd=tmp_path)
    assert both.returncode == 2 and "--quick and --scale paper: choose one" in both.stderr
    quick = rnnbench("validate", "gates", "--quick", cwd=tmp_path)
    assert quick.returncode == 0, quick.stderr
    assert "suite 'gates-quick', 3 variants x 1 lengths x 1 seeds = 3 runs, after 6 tuning runs" in quick.stdout
    # --fast, its old name, still works and says what it is now
    old = rnnbench("validate", "gates", "--fast", cwd=tmp_path)
    assert old.returncode == 0 and old.stdout == quick.stdout
    assert old.stderr.strip() == "note: --fast is now --quick (a suite's quick version, its [quick] table); " \
        "--engine fast chooses the compiled path"
    done = rnnbench("init", "g.toml", "--suite", "gates", cwd=tmp_path)
    assert done.returncode == 0 and "[[findings]]" in (tmp_path / "g.toml").read_text()
    unknown = rnnbench("init", "x.toml", "--suite", "nope", cwd=tmp_path)
    assert unknown.returncode == 2 and "no such built-in suite" in unknown.stderr


def test_run_quick_prints_the_findings_and_a_suite_without_one_is_refused(tmp_path):
    done = rnnbench("run", "vanishing", "--quick", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    findings = [l for l in done.stdout.splitlines() if l.startswith("finding")]
    assert len(findings) == 4 and all(": reproduced (95%): " in l for l in findings)
    assert (tmp_path / "results" / "vanishing-quick").is_dir()
    assert "Findings" in (tmp_path / "reports" / "vanishing-quick" / "index.html").read_text()
    assert rnnbench("init", "mine.toml", cwd=tmp_path).returncode == 0
    text = (tmp_path / "mine.toml").read_text()
    start = text.index("[quick]")
    (tmp_path / "mine.toml").write_text(text[:start] + text[text.index("[paper]"):])
    refused = rnnbench("run", "mine.toml", "--quick", cwd=tmp_path)
    assert refused.returncode == 2 and "has no quick version" in refused.stderr


def test_validate_checks_a_scaled_suite_against_the_plugins_as_run_does(tmp_path):
    """A [quick] tuning protocol that only the plugins can refuse (a metric the task
    does not report): validate --quick says so, and run --quick says the same before training."""
    assert rnnbench("init", "mine.toml", cwd=tmp_path).returncode == 0
    text = (tmp_path / "mine.toml").read_text()
    quick = text.index("[quick]")
    tuning = text.index("tuning = {", quick)
    edited = text[:tuning] + text[tuning:].replace("budget = 2,", 'budget = 2, metric = "accuracy",', 1)
    assert edited != text
    (tmp_path / "mine.toml").write_text(edited)
    assert rnnbench("validate", "mine.toml", cwd=tmp_path).returncode == 0  # the full size selects as before
    expected = ["error: quick: tuning.metric: task 'adding' does not report 'accuracy' "
                "(it reports: validation_loss, max_abs_error)"]
    for argv in (("validate", "mine.toml", "--quick"), ("validate", "mine.toml", "--scale", "quick"),
                 ("run", "mine.toml", "--quick", "-q")):
        done = rnnbench(*argv, cwd=tmp_path)
        assert done.returncode == 2 and done.stderr.splitlines() == expected, (argv, done.stderr)
    assert not (tmp_path / "results").exists()


NOT_AT_START = ("scipy", "matplotlib", "pandas")


@pytest.mark.parametrize("argv", [None, ["--help"], ["suites"], ["plugins"], ["validate", "default"],
                                  ["validate", "gates", "--scale", "paper"]],
                         ids=["import", "--help", "suites", "plugins", "validate", "validate --scale paper"])
def test_the_verbs_that_draw_nothing_load_neither_scipy_matplotlib_nor_pandas(tmp_path, argv):
    """`import rnnbench.cli` (argv None), and these verbs run to the end, leave out
    the report and the libraries it draws and tests with: they answer at once."""
    run = "" if argv is None else (
        f"from rnnbench.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
    )
    code = (
        "import sys\nimport rnnbench.cli\n" + run
        + f"print(sorted({{m for m in sys.modules if m.split('.')[0] in {NOT_AT_START!r}}}), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr
