"""Where runs are kept: one JSON record per run, written atomically.

Layout of a suite's results directory::

    results/<suite>/suite.json        the validated suite, as run
    results/<suite>/runs/<key>.json   one RunResult per run, keyed by RunSpec.key()

A record is written to a temporary file in the same directory, flushed to disk
and renamed over its final name, so a reader sees either the whole record or
none: a run killed mid-write leaves only a ``*.tmp`` file, which is never read
as a record and is removed by the next sweep of the suite.

Several processes may share a results directory: each suite has its own
directory, and a sweep holds ``results/<suite>/.lock`` (an advisory ``flock``,
which the system releases when the process dies, even by ``kill -9``) for as
long as it runs, so a second sweep of the same suite into the same directory
is refused instead of racing the first. Readers (report, export) take no
lock: every file they read is replaced whole.

Damage and upgrades. Every record is read by ``Store._read``, and nowhere
else: a record of an older format is migrated, one with fields this version
does not know is read without them (said once per store), and one that cannot
be read at all -- cut short, not JSON, not a record, unreadable, a directory --
is named through ``warn``, moved with its bytes intact to
``results/<suite>/damaged/<UTC time>-<name>`` and treated as missing, so a
sweep trains it again. Moving takes the lock (a reader takes it only for the
move, and leaves the record in place while a sweep holds it: the sweep moves
it), and happens only if the file is still damaged once the lock is held.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import stat
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

try:
    import fcntl
except ImportError:  # not POSIX: sweeps are not locked
    fcntl = None

from pydantic import ValidationError

from rnnbench import tuning
from rnnbench.results import (
    RECORD_FORMAT,
    ReadRecord,
    RecordError,
    RunResult,
    json_object,
    read_record,
    validate_known,
)
from rnnbench.spec import RunSpec, SuiteSpec, first_problem

SUITE_FILE = "suite.json"
RUNS_DIR = "runs"
LOCK_FILE = ".lock"
DAMAGED_DIR = "damaged"

Read = TypeVar("Read")


@dataclasses.dataclass(frozen=True)
class Contents:
    """What a results directory holds, read once (``Store.contents``)."""

    suite: SuiteSpec
    trials: list[RunResult]  # tuning runs, in search order
    selections: list[tuning.Selection]  # what they select; empty without tuning
    results: list[RunResult]  # evaluation runs, in grid order


class StoreError(Exception):
    """A results directory that cannot be read as one, or written into."""


class NotAResultsDirectory(StoreError):
    """A folder that holds no stored suite: no ``suite.json`` in it, nor in any
    folder directly below it."""


class StoreBusy(StoreError):
    """Another process is running a sweep of the same suite into the same directory."""


class SuiteDamaged(StoreError):
    """A ``suite.json`` that cannot be read; ``why`` says why in a few words."""

    def __init__(self, path: Path, why: str):
        self.path, self.why = path, why
        super().__init__(f"{path}: {why}")


@dataclasses.dataclass
class Damage:
    """A file of the store that cannot be read: where it was, why, and either
    where it was moved or why it is still in place (None: not asked to move it)."""

    path: Path
    why: str
    moved_to: Path | None = None
    kept: str | None = None

    def __str__(self) -> str:
        if self.moved_to is not None:
            return f"{self.path}: {self.why}; moved to {self.moved_to}"
        return f"{self.path}: {self.why}" + (f"; left in place: {self.kept}" if self.kept else "")


def read_text(path: Path) -> str:
    """The text of a stored file; RecordError says why there is none (a
    directory or another kind of file, a link to nothing, unreadable, not
    UTF-8). FileNotFoundError if it is gone."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise RecordError("a directory, not a file")
        if not stat.S_ISREG(mode):  # a pipe would block the reader
            raise RecordError("not a regular file")
        raw = path.read_bytes()
    except FileNotFoundError:
        if path.is_symlink():
            raise RecordError("a symbolic link to nothing") from None
        raise
    except OSError as exc:
        raise RecordError(f"cannot be read ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"not text (byte {raw[exc.start]:#04x} at offset {exc.start} is not UTF-8)") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp alone gives 0600


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that no reader ever sees it half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where directories can be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Store:
    """The stored runs of one suite.

    Reading never fails on a damaged record: it is named through ``warn`` (one
    line: its path, why, and where it went), moved into ``damaged/`` when
    ``set_aside`` (``rnnbench check`` without ``--move-damaged`` reads with it
    off), kept in ``damaged`` and treated as missing. Records with fields this
    version does not know are kept in ``unknown`` and said through ``warn`` once.
    """

    def __init__(self, root: str | Path, set_aside: bool = True, warn: Callable[[str], None] | None = None):
        self.root = Path(root)
        self.set_aside = set_aside
        self.warn = warn or (lambda line: None)
        self.damaged: dict[Path, Damage] = {}  # by path, in the order found
        self.unknown: dict[Path, ReadRecord] = {}  # records read without some of their fields
        self._held = False  # this object holds the lock
        self._suite_unknown_said = False

    @classmethod
    def for_suite(cls, results_root: str | Path, suite: SuiteSpec, **options) -> Store:
        return cls(Path(results_root) / suite.name, **options)

    @classmethod
    def of(cls, where: str | Path | Store) -> Store:
        """``where`` if it is a Store, else a Store of the directory it names."""
        return where if isinstance(where, Store) else cls(where)

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS_DIR

    def _path(self, key: str) -> Path:
        return self.runs_dir / f"{key}.json"

    # --- the suite ---------------------------------------------------------------------------

    def save_suite(self, suite: SuiteSpec) -> None:
        try:
            write_atomic(self.root / SUITE_FILE, suite.model_dump_json(indent=2))
        except OSError as exc:
            raise StoreError(f"{self.root / SUITE_FILE}: cannot be written ({exc.strerror or exc})") from None

    def stored_suite(self) -> SuiteSpec:
        """The suite as run, from suite.json: StoreError if there is none,
        SuiteDamaged if it cannot be read. Fields this version does not know
        are left out, and said once."""
        path = self.root / SUITE_FILE
        if not os.path.lexists(path):
            raise NotAResultsDirectory(f"{self.root}: not a results directory (no {SUITE_FILE})")
        try:
            data = json_object(read_text(path))
            suite, unknown = validate_known(SuiteSpec, data)
        except FileNotFoundError:
            raise NotAResultsDirectory(f"{self.root}: not a results directory (no {SUITE_FILE})") from None
        except RecordError as exc:
            raise SuiteDamaged(path, str(exc)) from None
        except ValidationError as exc:
            raise SuiteDamaged(path, f"not a suite record ({first_problem(exc)})") from None
        if unknown and not self._suite_unknown_said:
            self._suite_unknown_said = True
            self.warn(f"{path}: fields this version of rnnbench does not know ({', '.join(unknown)}): "
                      "read without them")
        return suite

    def claim(self, suite: SuiteSpec) -> None:
        """Check, before a sweep of ``suite`` writes here, that this directory
        may hold its results; StoreError, saying why, if not: the directory or
        its runs/ is not a directory, or suite.json cannot be read or is
        another suite's. A suite.json of the same name is this suite's, as run
        before (the suite file may have been edited since): save_suite replaces it."""
        for directory in (self.root, self.runs_dir):
            if os.path.lexists(directory) and not directory.is_dir():
                raise StoreError(f"{directory}: not a directory")
        path = self.root / SUITE_FILE
        if not os.path.lexists(path):
            return
        try:
            stored = self.stored_suite()
        except SuiteDamaged as exc:
            raise StoreError(
                f"{exc}: it may belong to other results, so it is not overwritten; "
                f"`rnnbench check {self.root} --move-damaged` moves it aside"
            ) from None
        if stored.name != suite.name:
            raise StoreError(
                f"{path}: holds the results of suite '{stored.name}', not '{suite.name}'; "
                "run into another --out, or move this directory away"
            )

    # --- the lock ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold this suite's results directory for a sweep; StoreBusy if another
        process holds it, StoreError if it cannot be locked. The lock file keeps
        the holder's pid for that message."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot be made a results directory ({exc.strerror or exc})") from None
        if fcntl is None:
            yield
            return
        path = self.root / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
        except OSError as exc:
            raise StoreError(f"{path}: cannot be locked ({exc.strerror or exc})") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise StoreBusy(
                    f"{self.root}: another rnnbench process (pid {holder}) is running this suite "
                    "into this directory; wait for it to finish, or use another --out"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self._held = True
            try:
                yield
            finally:
                self._held = False
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def remove_temporaries(self) -> int:
        """Delete the temporary files of writes that were killed midway; call it
        only while holding ``lock()``, when no write of this suite is under way."""
        removed = 0
        for directory in (self.root, self.runs_dir):
            for tmp in directory.glob(".*.tmp") if directory.is_dir() else ():
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    removed += 1
        return removed

    # --- records -----------------------------------------------------------------------------

    def keys(self) -> set[str]:
        """The key of every ``<key>.json`` entry in runs/, readable or not;
        StoreError if runs/ exists but cannot be listed."""
        try:
            names = os.listdir(self.runs_dir)
        except FileNotFoundError:
            return set()
        except OSError as exc:
            raise StoreError(f"{self.runs_dir}: cannot be listed ({exc.strerror or exc})") from None
        return {name[: -len(".json")] for name in names if name.endswith(".json") and len(name) > len(".json")}

    def save(self, result: RunResult) -> Path:
        path = self._path(result.key)
        try:
            write_atomic(path, result.model_dump_json(indent=1))
        except OSError as exc:
            raise StoreError(f"{path}: cannot be written ({exc.strerror or exc})") from None
        return path

    def load(self, key: str) -> RunResult | None:
        """The stored result of ``key``; None if it is not stored or cannot be read."""
        return self._read(key)

    def records(self, keys: Iterable[str] | None = None) -> dict[str, RunResult]:
        """Every readable stored record among ``keys`` (default: all), by key."""
        stored = self.keys()
        wanted = stored if keys is None else stored.intersection(keys)
        found = {}
        for key in sorted(wanted):
            result = self._read(key)
            if result is not None:
                found[key] = result
        return found

    def statuses(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        """The status of every readable stored run among ``keys`` (default: all), by key."""
        return {key: result.status for key, result in self.records(keys).items()}

    def unread(self, read: Iterable[RunResult]) -> list[Damage]:
        """The damaged records found so far whose runs are not among ``read``
        (those a report of ``read`` left out; not those trained again since)."""
        keys = {result.key for result in read}
        return [
            d for d in self.damaged.values()
            if d.path.parent == self.runs_dir and d.path.name[: -len(".json")] not in keys
        ]

    def damaged_in_place(self) -> set[str]:
        """The keys of the damaged records found so far that are still in runs/
        (not asked, or not able, to move them): a sweep must not overwrite them."""
        return {
            d.path.name[: -len(".json")] for d in self.damaged.values()
            if d.moved_to is None and d.path.parent == self.runs_dir
        }

    def load_runs(self, runs: Iterable[RunSpec]) -> list[RunResult]:
        """The stored results of ``runs``, in their order; those not stored, or
        whose record cannot be read, are left out."""
        stored = self.keys()
        found = (self._read(run.key()) for run in runs if run.key() in stored)
        return [result for result in found if result is not None]

    def trials(self) -> list[RunResult]:
        """Every stored tuning run of the suite's protocol, in search order."""
        return self.load_runs(tuning.trial_runs(self.stored_suite()))

    def selections(self) -> list[tuning.Selection]:
        """What the stored tuning runs select (empty for a suite without tuning)."""
        return tuning.stages(self.stored_suite(), self.load_runs).selections

    def results(self) -> list[RunResult]:
        """Every stored evaluation run of the suite (for a tuned suite, those of
        the configurations its stored trials select), in grid order."""
        return self.contents().results

    def contents(self) -> Contents:
        """The suite, its stored tuning runs, what they select and its stored
        evaluation runs, each record read once: for a verb that needs them all."""
        suite = self.stored_suite()
        staged = tuning.stages(suite, self.load_runs)
        return Contents(suite, staged.trial_results, staged.selections, self.load_runs(staged.evaluations))

    def planned(self, suite: SuiteSpec, records: dict[str, RunResult]) -> set[str]:
        """The keys ``suite`` plans, given its readable ``records``: its tuning
        runs and the evaluation runs of what they select (the grid, untuned)."""
        staged = tuning.stages(suite, lambda runs: [records[r.key()] for r in runs if r.key() in records])
        return {r.key() for r in staged.trials} | {r.key() for r in staged.evaluations}

    # --- damage ----------------------------------------------------------------------------------

    def _read(self, key: str) -> RunResult | None:
        """The record of ``key`` in this version's format, or None when it is
        not stored or cannot be read (then named, set aside and kept in ``damaged``)."""
        path = self._path(key)
        if path in self.damaged and self.damaged[path].moved_to is None:
            return None  # named already, and still there
        try:
            record = self._parse(path, key)
        except FileNotFoundError:
            return None
        except RecordError as exc:
            record = self._found_damaged(path, str(exc), lambda: self._parse(path, key))
            if record is None:
                return None
        if record.unknown:
            self._note_unknown(path, record)
        return record.result

    def _note_unknown(self, path: Path, record: ReadRecord) -> None:
        """Keep a record read without some of its fields in ``unknown``; the
        first such record of the store is named through ``warn``, for all."""
        if not self.unknown:
            newer = record.format_version > RECORD_FORMAT
            self.warn(
                f"{path}: has fields this rnnbench does not know ({', '.join(record.unknown)})"
                + (f", in record format {record.format_version} (this rnnbench writes {RECORD_FORMAT})"
                   if newer else "")
                + "; it is read without them, as is every record like it"
            )
        self.unknown[path] = record

    @staticmethod
    def _parse(path: Path, key: str) -> ReadRecord:
        """Read the record at ``path``, which must be that of ``key``; RecordError
        says why it cannot be read, FileNotFoundError that it is gone."""
        record = read_record(read_text(path))
        if record.result.key != key:
            raise RecordError(f"holds the record of run {record.result.key}, not of {key}")
        return record

    def _found_damaged(self, path: Path, why: str, reread: Callable[[], Read]) -> Read | None:
        """Deal with a damaged file: move it aside (if ``set_aside``), keep it
        in ``damaged`` and name it. Under the lock the file is read again with
        ``reread`` first (which raises RecordError while it is damaged): if a
        whole one has replaced it meanwhile, what ``reread`` read is returned."""
        damage = Damage(path, why)
        if self.set_aside:
            record = self._set_aside(damage, reread)
            if record is not None:
                return record
        self.damaged[path] = damage
        self.warn(str(damage))
        return None

    def _set_aside(self, damage: Damage, reread: Callable[[], Read]) -> Read | None:
        """Move a damaged file into damaged/ while holding the lock, if it is
        still damaged then; on failure say in ``damage.kept`` why it stays."""
        if self._held:
            return self._move_if_damaged(damage, reread)
        try:
            with self.lock():
                return self._move_if_damaged(damage, reread)
        except StoreBusy:
            damage.kept = "a sweep of this suite is running, and moves it aside"
        except StoreError as exc:
            damage.kept = str(exc)
        return None

    def _move_if_damaged(self, damage: Damage, reread: Callable[[], Read]) -> Read | None:
        """Move the file of ``damage`` aside unless ``reread`` now reads it whole
        (then return what it read) or it is gone."""
        try:
            return reread()
        except FileNotFoundError:
            damage.kept = "it is gone: another process moved it"
            return None
        except RecordError:
            pass
        try:
            damage.moved_to = self._move(damage.path)
        except OSError as exc:
            damage.kept = f"it cannot be moved aside ({exc.strerror or exc})"
        return None

    def set_aside_count(self) -> int:
        """How many files damaged/ holds (0 if there is none, or it cannot be listed)."""
        try:
            return len(os.listdir(self.root / DAMAGED_DIR))
        except OSError:
            return 0

    def _move(self, path: Path) -> Path:
        """Rename ``path`` into damaged/ as ``<UTC time>-<name>`` (never over another file)."""
        folder = self.root / DAMAGED_DIR
        folder.mkdir(exist_ok=True)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target, n = folder / f"{stamp}-{path.name}", 1
        while os.path.lexists(target):
            target, n = folder / f"{stamp}-{n}-{path.name}", n + 1
        os.rename(path, target)
        _fsync_dir(folder)
        _fsync_dir(path.parent)
        return target

    def audit(self) -> Audit:
        """Read suite.json and every record, as ``rnnbench check`` reports them:
        the damaged (suite.json too, moved aside if ``set_aside``), and the
        records the suite does not plan."""
        try:
            suite = self.stored_suite()
        except SuiteDamaged as exc:
            suite = self._found_damaged(exc.path, exc.why, self._reread_suite)
        records = self.records()
        planned = self.planned(suite, records) if suite is not None else None
        foreign = [] if planned is None else [records[k] for k in sorted(records) if k not in planned]
        return Audit(suite, records, planned, foreign, list(self.damaged.values()))

    def _reread_suite(self) -> SuiteSpec:
        """The suite, read again for ``_found_damaged``: RecordError while
        suite.json is damaged, FileNotFoundError once it is gone."""
        try:
            return self.stored_suite()
        except SuiteDamaged as exc:
            raise RecordError(exc.why) from None
        except StoreError:
            raise FileNotFoundError(self.root / SUITE_FILE) from None


@dataclasses.dataclass
class Audit:
    """What ``Store.audit`` found: the suite as run (None if suite.json cannot
    be read), every readable record by key, the keys the suite plans (None
    without a suite), the readable records it does not plan, and the damaged files."""

    suite: SuiteSpec | None
    records: dict[str, RunResult]
    planned: set[str] | None
    foreign: list[RunResult]
    damaged: list[Damage]


def find_result_dirs(path: str | Path) -> list[Path]:
    """A suite's results directory, or every one directly below ``path``;
    NotAResultsDirectory if there is none."""
    path = Path(path)
    if os.path.lexists(path / SUITE_FILE):
        return [path]
    found = sorted(p.parent for p in path.glob(f"*/{SUITE_FILE}") if p.parent.is_dir())
    if not found:
        raise NotAResultsDirectory(f"{path}: no stored suite here (looked for {SUITE_FILE})")
    return found
