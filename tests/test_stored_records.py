"""Stored results survive damage and upgrades: records of older and newer
formats are read, a damaged record is named, set aside with its bytes intact
and trained again, and no content of a results directory gives a traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnbench.cli import main
from rnnbench.resolve import resolve_text
from rnnbench.results import RECORD_FORMAT, read_record
from rnnbench.runner import DAMAGED, OTHER_VERSION, plan, run_suite, this_version
from rnnbench.store import DAMAGED_DIR, Store, StoreError

FIXTURES = Path(__file__).parent / "fixtures"
RECORDS_V1 = FIXTURES / "records" / "v1"

TINY = """
name = "tiny"
seq_lens = [5]
seeds = [0, 1]
[task]
name = "adding"
[train]
steps = 10
batch_size = 4
log_every = 5
test_size = 8
validation_size = 8
[[variants]]
name = "tanh"
hidden_size = 4
[[variants]]
name = "clipped"
hidden_size = 4
remedies = [{ name = "clip_norm", threshold = 0.5 }]
"""


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory, registry):
    """A results tree with the tiny suite's 4 runs stored, made once per module."""
    root = tmp_path_factory.mktemp("template")
    suite = resolve_text(TINY, "tiny.toml", registry)
    summary = run_suite(suite, Store(root / "results" / "tiny"), registry)
    assert summary.counts == {"ok": 4}
    return root


@pytest.fixture
def out(tmp_path, template):
    """A copy of the template's results under tmp_path/out, and tiny.toml beside it."""
    shutil.copytree(template, tmp_path / "out", symlinks=True)
    (tmp_path / "tiny.toml").write_text(TINY)
    return tmp_path / "out"


@pytest.fixture
def suite(registry):
    return resolve_text(TINY, "tiny.toml", registry)


def runs_dir(out: Path) -> Path:
    return out / "results" / "tiny" / "runs"


def record_paths(out: Path) -> list[Path]:
    """The tiny suite's four record files, in key order."""
    return sorted(runs_dir(out).glob("*.json"))


def snapshot(directory: Path) -> dict[str, bytes | str]:
    """Every entry under ``directory``: a file's bytes, a link's target, or "dir"."""
    found = {}
    for path in sorted(directory.rglob("*")):
        name = str(path.relative_to(directory))
        if path.is_symlink():
            found[name] = os.readlink(path)
        elif path.is_dir():
            found[name] = "dir"
        elif path.is_file():
            found[name] = path.read_bytes()
        else:
            found[name] = "special"
    return found


def edit_record(path: Path, **changes) -> None:
    """Rewrite the JSON record at ``path`` with top-level ``changes``."""
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


def cli(*args: str, cwd: Path):
    """Run the command line in this process, in ``cwd``; fail on any exception
    but the exit that click makes of an exit code (a traceback is a bug)."""
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, list(args))
    finally:
        os.chdir(previous)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def set_aside(out: Path) -> list[Path]:
    folder = out / "results" / "tiny" / DAMAGED_DIR
    return sorted(folder.iterdir()) if folder.is_dir() else []


# --- older formats, kept as fixtures --------------------------------------------------------------


def test_records_of_format_1_still_load_and_keep_their_keys(tmp_path, registry):
    # tests/fixtures/records/v1/records-v1: a tuned suite's records as rnnbench wrote them
    # before records carried a format. A later version must read them all, as the runs its
    # suite plans: a schema change must migrate them, not orphan them.
    root = tmp_path / "records-v1"
    shutil.copytree(RECORDS_V1 / "records-v1", root)
    before = snapshot(root)
    warnings = []
    store = Store(root, warn=warnings.append)
    suite = store.stored_suite()
    records = store.records()
    assert len(records) == 6 and warnings == [] and store.damaged == {}
    for path in (root / "runs").glob("*.json"):
        assert "format_version" not in json.loads(path.read_text())
        assert read_record(path.read_text()).format_version == 1
    assert {r.format_version for r in records.values()} == {RECORD_FORMAT}
    assert store.planned(suite, records) == set(records)  # every key is still a planned run
    assert [(s.variant, s.chosen.values) for s in store.selections()] == [
        ("tanh", {"learning_rate": 0.1}), ("lstm", {"learning_rate": 0.1})
    ]
    trials, results = store.trials(), store.results()
    assert len(trials) == 4 and len(results) == 2
    assert sorted(r.status for r in trials) == ["diverged", "diverged", "ok", "ok"]
    diverged = next(r for r in trials if r.status == "diverged")
    assert diverged.final_test_loss is None and diverged.curves.test_loss[-1] is None
    lstm = next(r for r in results if r.spec.variant.cell == "lstm")
    raw = json.loads((root / "runs" / f"{lstm.key}.json").read_text())
    assert lstm.final_validation_loss == raw["final_validation_loss"] is not None
    assert lstm.decay[0].state_norms["c"] == raw["decay"][0]["state_norms"]["c"]

    # a sweep of the same suite finds every run stored and trains nothing
    summary = run_suite(suite, store, registry)
    assert summary.counts == {} and summary.tuning.counts == {}
    assert summary.skipped == 2 and summary.tuning.skipped == 4
    assert {k: v for k, v in snapshot(root).items() if k.startswith("runs")} == {
        k: v for k, v in before.items() if k.startswith("runs")
    }


def test_a_record_from_before_the_validation_split_loads_with_empty_validation_fields():
    # written by rnnbench before the tuning protocol (git f8eeb9d^): no validation curves,
    # no trial, no variant search
    [path] = (RECORDS_V1 / "records-v1-before-validation" / "runs").glob("*.json")
    raw = json.loads(path.read_text())
    assert "final_validation_loss" not in raw and "validation_loss" not in raw["curves"]
    record = read_record(path.read_text())
    assert record.format_version == 1 and record.unknown == {}
    result = record.result
    assert result.status == "ok" and result.key == path.stem
    assert result.final_validation_loss is None and result.final_validation_metrics == {}
    assert result.curves.validation_loss == [] and result.curves.validation_metrics == {}
    assert result.spec.trial is None and result.spec.variant.search == []
    assert result.final_test_loss == raw["final_test_loss"] and result.curves.step == [0, 5, 10]
    assert Store(path.parent.parent).stored_suite().name == "records-v1-before-validation"


def test_new_records_carry_the_format_they_are_written_in(out):
    for path in record_paths(out):
        assert json.loads(path.read_text())["format_version"] == RECORD_FORMAT


# --- damaged records, met by the store ------------------------------------------------------------


def _cut_short(path, others):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _binary(path, others):
    path.write_bytes(bytes(range(256)) * 8)


def _empty(path, others):
    path.write_bytes(b"")


def _array(path, others):
    path.write_text("[1, 2, 3]")


def _another_runs_record(path, others):
    path.write_bytes(others[0].read_bytes())


def _bad_status(path, others):
    edit_record(path, status="splendid")


def _newer_and_changed(path, others):
    edit_record(path, format_version=RECORD_FORMAT + 7, curves="a layout this version cannot read")


def _directory(path, others):
    path.unlink()
    path.mkdir()
    (path / "inside.txt").write_text("kept")


def _nested(path, others):
    path.write_text("[" * 200_000 + "]" * 200_000)


DAMAGE = {
    "cut short": (_cut_short, "cut short"),
    "binary garbage": (_binary, "not text (byte 0x80 at offset 128 is not UTF-8)"),
    "empty": (_empty, "an empty file"),
    "a JSON array": (_array, "a JSON array, not an object"),
    "another run's record": (_another_runs_record, "holds the record of run"),
    "a bad status": (_bad_status, "not a run record (status: Input should be"),
    "a newer format": (_newer_and_changed, f"record format {RECORD_FORMAT + 7}, newer than this rnnbench"),
    "a directory": (_directory, "a directory, not a file"),
    "nested too deeply": (_nested, "nested too deeply"),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_each_kind_of_damaged_record_is_set_aside_and_trained_again(out, suite, registry, kind):
    damage, why = DAMAGE[kind]
    victim, *others = record_paths(out)
    damage(victim, others)
    damaged = snapshot(victim) if victim.is_dir() else victim.read_bytes()
    untouched = {p.name: p.read_bytes() for p in others}

    warnings = []
    store = Store(out / "results" / "tiny", warn=warnings.append)
    results = store.results()
    assert sorted(r.key for r in results) == sorted(p.stem for p in others)  # the rest, read
    [line] = warnings
    assert line.startswith(f"{victim}: ") and why in line and "; moved to " in line
    [moved] = set_aside(out)
    assert moved.name.endswith(f"-{victim.name}") and line.endswith(str(moved))
    assert (snapshot(moved) if moved.is_dir() else moved.read_bytes()) == damaged  # bytes intact
    assert not os.path.lexists(victim)

    summary = run_suite(suite, Store(out / "results" / "tiny"), registry)
    assert summary.counts == {"ok": 1} and summary.skipped == 3
    assert {p.name: p.read_bytes() for p in others} == untouched
    assert read_record(victim.read_text()).result.key == victim.stem
    assert len(Store(out / "results" / "tiny").results()) == 4


def test_an_unreadable_record_is_named_and_set_aside(out, monkeypatch):
    victim = record_paths(out)[2]
    content = victim.read_bytes()
    real = Path.read_bytes

    def read_bytes(self):
        if self == victim:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    warnings = []
    assert len(Store(out / "results" / "tiny", warn=warnings.append).results()) == 3
    assert warnings == [f"{victim}: cannot be read (Permission denied); moved to {set_aside(out)[0]}"]
    monkeypatch.undo()
    assert set_aside(out)[0].read_bytes() == content


def test_records_with_fields_this_version_does_not_know_are_read_and_said_once(out, suite, registry):
    first, second, *_ = record_paths(out)
    record = json.loads(first.read_text())
    del record["format_version"]  # as format 1 with a field added by hand
    record["comment"] = "added later"
    record["curves"]["new_curve"] = [1.0, 2.0, 3.0]
    first.write_text(json.dumps(record))
    edit_record(second, format_version=RECORD_FORMAT + 1, shiny={"new": True})
    before = snapshot(out)

    warnings = []
    store = Store(out / "results" / "tiny", warn=warnings.append)
    results = store.results()
    assert len(results) == 4 and store.damaged == {}
    [line] = warnings  # once, for every record like it: the first one read (in grid order) is named
    assert line in (
        f"{first}: has fields this rnnbench does not know (comment, curves.new_curve); "
        "it is read without them, as is every record like it",
        f"{second}: has fields this rnnbench does not know (shiny), in record format {RECORD_FORMAT + 1} "
        f"(this rnnbench writes {RECORD_FORMAT}); it is read without them, as is every record like it",
    )
    assert {p.name: r.unknown for p, r in store.unknown.items()} == {
        first.name: {"comment": "added later", "curves.new_curve": [1.0, 2.0, 3.0]},
        second.name: {"shiny": {"new": True}},
    }
    assert {p.name: r.format_version for p, r in store.unknown.items()} == {
        first.name: 1, second.name: RECORD_FORMAT + 1
    }
    summary = run_suite(suite, store, registry)
    assert summary.counts == {} and summary.skipped == 4
    after = snapshot(out)
    assert {k: after[k] for k in before if "/runs/" in k} == {k: before[k] for k in before if "/runs/" in k}


def test_a_reader_leaves_a_damaged_record_in_place_while_a_sweep_holds_the_lock(out):
    victim = record_paths(out)[0]
    victim.write_text("{")
    sweep = Store(out / "results" / "tiny")
    with sweep.lock():
        reader = Store(out / "results" / "tiny")
        assert len(reader.results()) == 3
        [damage] = reader.damaged.values()
        assert damage.moved_to is None and damage.kept == "a sweep of this suite is running, and moves it aside"
        assert victim.read_text() == "{" and set_aside(out) == []
    # with the lock free, the next reader moves it
    assert len(Store(out / "results" / "tiny").results()) == 3
    assert [p.read_text() for p in set_aside(out)] == ["{"]


def test_a_damaged_record_that_cannot_be_moved_aside_is_never_overwritten(out, suite, registry, monkeypatch):
    victim = record_paths(out)[1]
    victim.write_bytes(b"\x00garbage")

    def refuse(self, path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Store, "_move", refuse)
    warnings = []
    summary = run_suite(suite, Store(out / "results" / "tiny", warn=warnings.append), registry, rerun=True)
    assert summary.counts == {"ok": 3}  # every run again but that one
    assert victim.read_bytes() == b"\x00garbage"
    assert warnings == [f"{victim}: not JSON (Expecting value: line 1 column 1 (char 0)); left in place: "
                        "it cannot be moved aside (Permission denied)"]


def test_plan_redoes_other_versions_and_never_a_damaged_record_in_place(suite):
    runs = suite.runs()
    keys = [r.key() for r in runs]
    stored = {keys[0]: "ok", keys[1]: OTHER_VERSION, keys[2]: DAMAGED}
    assert plan(runs, stored) == [runs[1], runs[3]]
    assert plan(runs, stored, rerun=True) == [runs[0], runs[1], runs[3]]


# --- suite.json -----------------------------------------------------------------------------------


def _suite_json_empty_object(path):
    path.write_text("{}")


def _suite_json_garbage(path):
    path.write_bytes(b"\xff\xfe\x00garbage")


def _suite_json_a_directory(path):
    path.unlink()
    path.mkdir()


def _suite_json_of_another_suite(path):
    data = json.loads(path.read_text())
    data["name"] = "other"
    path.write_text(json.dumps(data))


SUITE_JSON = {
    "{}": (_suite_json_empty_object, "not a suite record (name: Field required): it may belong to other results"),
    "garbage": (_suite_json_garbage, "not text (byte 0xff at offset 0 is not UTF-8)"),
    "a directory": (_suite_json_a_directory, "a directory, not a file"),
    "another suite's": (_suite_json_of_another_suite, "holds the results of suite 'other', not 'tiny'"),
}


@pytest.mark.parametrize("kind", SUITE_JSON)
def test_a_damaged_or_foreign_suite_json_is_never_overwritten(out, kind):
    damage, why = SUITE_JSON[kind]
    damage(out / "results" / "tiny" / "suite.json")
    before = snapshot(out)
    done = cli("run", "../tiny.toml", "--out", ".", "--quiet", cwd=out)
    assert done.exit_code == 2
    assert done.stderr.splitlines() == [done.stderr.strip()]  # one line
    assert done.stderr.startswith(f"error: results/tiny/suite.json: ") and why in done.stderr
    assert snapshot(out) == before


def test_a_suite_edited_since_its_last_sweep_replaces_its_own_suite_json(out, tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY.replace("seeds = [0, 1]", "seeds = [0, 1, 2]"))
    done = cli("run", "../tiny.toml", "--out", ".", "--quiet", cwd=out)
    assert done.exit_code == 0, done.stderr
    assert "ran 2 of 6 runs" in done.stdout
    assert json.loads((out / "results/tiny/suite.json").read_text())["seeds"] == [0, 1, 2]


def test_check_moves_a_damaged_suite_json_aside_so_that_run_can_start_again(out):
    suite_json = out / "results" / "tiny" / "suite.json"
    suite_json.write_text('{"name": "tin')
    checked = cli("check", "results/tiny", "--move-damaged", cwd=out)
    assert checked.exit_code == 1
    assert f"damaged: results/tiny/suite.json: cut short (" in checked.stdout
    assert [p.read_text() for p in set_aside(out)] == ['{"name": "tin']
    done = cli("run", "../tiny.toml", "--out", ".", "--quiet", cwd=out)
    assert done.exit_code == 0, done.stderr
    assert "ran 0 of 4 runs" in done.stdout and "4 already stored were skipped" in done.stdout


# --- the verbs ----------------------------------------------------------------------------------


def test_report_and_export_leave_out_a_damaged_record_and_say_how_many(out):
    first, second, *_ = record_paths(out)
    first_bytes = first.read_bytes()
    first.write_bytes(first_bytes[:100])
    done = cli("report", "results/tiny", "--out", ".", cwd=out)
    assert done.exit_code == 0, done.stderr
    [moved] = set_aside(out)
    named, summary = done.stderr.splitlines()
    assert named.startswith(f"warning: results/tiny/runs/{first.name}: cut short (")
    assert named.endswith(f"); moved to results/tiny/damaged/{moved.name}")
    assert summary == "warning: results/tiny: the report leaves out 1 run whose record cannot be read (named above)"
    assert moved.read_bytes() == first_bytes[:100]
    page = (out / "reports" / "tiny" / "index.html").read_text()
    assert "3 of 4 runs stored" in page and 'id="left-out"' in page and first.name in page

    second.write_bytes(b"\x89PNG\r\n")
    exported = cli("export", "results/tiny", "--out", "tables", cwd=out)
    assert exported.exit_code == 0, exported.stderr
    assert exported.stderr.splitlines()[-1] == (
        "warning: results/tiny: the export leaves out 1 run whose record cannot be read (named above)"
    )
    rows = json.loads((out / "tables" / "tiny" / "runs.json").read_text())
    assert sorted(row["key"] for row in rows) == sorted(p.stem for p in record_paths(out))
    assert len(rows) == 2 and len(set_aside(out)) == 2


def test_check_reports_damaged_foreign_and_other_version_records_and_changes_nothing(out):
    damaged, old, *_ = record_paths(out)
    damaged.write_bytes(b"\x00" * 64)
    edit_record(old, versions={**json.loads(old.read_text())["versions"], "rnnbench": "0.0.1"})
    foreign = json.loads(record_paths(out)[2].read_text())
    variant = foreign["spec"]["variant"]["name"]
    foreign["key"] = "f" * 20
    foreign["spec"]["seed"] = 7
    (runs_dir(out) / f"{'f' * 20}.json").write_text(json.dumps(foreign))
    before = snapshot(out)

    checked = cli("check", "results/tiny", cwd=out)
    assert checked.exit_code == 1
    assert checked.stdout.splitlines() == [
        "results/tiny: 5 records; suite 'tiny': 3 of 4 planned runs stored",
        f"damaged: results/tiny/runs/{damaged.name}: not JSON (Expecting value: line 1 column 1 (char 0)); "
        "--move-damaged moves it aside",
        f"foreign: results/tiny/runs/{'f' * 20}.json: {variant} T=5 seed=7: not a run of the stored suite",
        f"other version: results/tiny: 1 record made by rnnbench 0.0.1 (this is {this_version()}); "
        "`rnnbench run --rerun-other-versions` trains them again",
        "results/tiny: 3 problems",
    ]
    assert snapshot(out) == before  # check changes nothing

    moved = cli("check", "results", "--move-damaged", cwd=out)
    assert moved.exit_code == 1
    assert [p.read_bytes() for p in set_aside(out)] == [b"\x00" * 64]
    assert "moved to results/tiny/damaged/" in moved.stdout

    report = cli("report", "results/tiny", "--out", ".", cwd=out)
    assert report.exit_code == 0, report.stderr
    assert "made by 2 versions of rnnbench" in report.stderr
    page = (out / "reports" / "tiny" / "index.html").read_text()
    assert 'id="versions"' in page and "0.0.1 (1 run)" in page and f"{this_version()} (2 runs)" in page

    rerun = cli("run", "../tiny.toml", "--out", ".", "--quiet", "--rerun-other-versions", cwd=out)
    assert rerun.exit_code == 0, rerun.stderr
    assert "ran 2 of 4 runs (ok 2," in rerun.stdout  # the one set aside and the one of 0.0.1
    assert json.loads(old.read_text())["versions"]["rnnbench"] == this_version()
    assert 'id="versions"' not in (out / "reports" / "tiny" / "index.html").read_text()
    last = cli("check", "results/tiny", cwd=out)
    assert last.exit_code == 1
    assert [line.split(":")[0] for line in last.stdout.splitlines()[1:-1]] == ["foreign"]
    assert "1 file(s) set aside earlier in results/tiny/damaged" in last.stdout

    (runs_dir(out) / f"{'f' * 20}.json").unlink()
    clean = cli("check", "results/tiny", cwd=out)
    assert clean.exit_code == 0 and clean.stdout.splitlines()[-1] == "results/tiny: ok"


@pytest.mark.parametrize(
    "executor", [("--jobs", "2"), ("--executor", "dask", "--jobs", "2")], ids=["processes", "dask"]
)
def test_a_damaged_record_met_by_a_pool_of_workers_is_set_aside_and_trained_again(out, executor):
    if "dask" in executor:
        pytest.importorskip("distributed", reason="Dask is not installed (pip install rnnbench[dask])")
    victim, *others = record_paths(out)
    cut = victim.read_bytes()[:-40]
    victim.write_bytes(cut)
    untouched = {p.name: p.read_bytes() for p in others}
    done = cli("run", "../tiny.toml", "--out", ".", "--quiet", *executor, cwd=out)
    assert done.exit_code == 0, done.stderr
    assert "ran 1 of 4 runs (ok 1, diverged 0, error 0, timeout 0); 3 already stored were skipped" in done.stdout
    assert f"warning: results/tiny/runs/{victim.name}: cut short (" in done.stderr
    [moved] = set_aside(out)
    assert moved.read_bytes() == cut
    assert {p.name: p.read_bytes() for p in others} == untouched
    assert read_record(victim.read_text()).result.status == "ok"


def test_no_content_of_a_results_directory_gives_a_traceback(out):
    runs = runs_dir(out)
    record = record_paths(out)[0]
    os.mkfifo(runs / "pipe.json")  # reading it would block
    (runs / "dangling.json").symlink_to(out / "nowhere")
    (runs / "folder.json").mkdir()
    (runs / "empty.json").write_bytes(b"")
    (runs / "notes.json").write_text('{"note": "not a record"}')
    (runs / ".json").write_text("hidden")
    (runs / "README").write_text("not a record")
    (out / "results" / "tiny" / DAMAGED_DIR).write_text("a file where the folder for damaged records goes")
    record.write_text("null")

    assert cli("report", "results", "--out", ".", cwd=out).exit_code == 0
    exported = cli("export", "results", "--out", "tables", cwd=out)
    assert exported.exit_code == 0
    assert "the export leaves out 1 run" in exported.stderr
    assert "a JSON null, not an object; left in place: it cannot be moved aside (File exists)" in exported.stderr
    checked = cli("check", "results", "--move-damaged", cwd=out)
    assert checked.exit_code == 1
    names = {line.split(": ")[1].removeprefix("results/tiny/runs/") for line in checked.stdout.splitlines()
             if line.startswith("damaged: ")}
    assert names == {"pipe.json", "dangling.json", "folder.json", "empty.json", "notes.json", record.name}
    assert record.read_text() == "null"
    done = cli("run", "../tiny.toml", "--out", ".", "--quiet", cwd=out)
    assert done.exit_code == 0  # the run of the damaged record stays undone: it cannot be moved
    assert "ran 0 of 4 runs" in done.stdout


@pytest.mark.parametrize("where", ["runs", "results/tiny"])
def test_a_results_directory_that_is_a_file_is_one_line_exit_2(tmp_path, out, where):
    target = out / "results" / "tiny" / "runs" if where == "runs" else out / "results" / "tiny"
    shutil.rmtree(target)
    target.write_text("a file")
    done = cli("run", "../tiny.toml", "--out", ".", "--quiet", cwd=out)
    assert done.exit_code == 2 and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("error: results/tiny")
    if where == "runs":
        for verb in ("report", "export"):
            refused = cli(verb, "results/tiny", "--out", "x", cwd=out)
            assert refused.exit_code == 2
            assert refused.stderr == "error: results/tiny/runs: cannot be listed (Not a directory)\n"


def test_a_store_refuses_a_sweep_into_another_suites_directory(out, suite, registry):
    store = Store(out / "results" / "tiny")
    other = suite.model_copy(update={"name": "other"})
    with pytest.raises(StoreError, match="holds the results of suite 'tiny', not 'other'"):
        run_suite(other, store, registry)
