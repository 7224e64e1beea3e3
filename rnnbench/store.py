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
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

try:
    import fcntl
except ImportError:  # not POSIX: sweeps are not locked
    fcntl = None

from pydantic import ValidationError

from rnnbench import tuning
from rnnbench.results import RunResult
from rnnbench.spec import RunSpec, SuiteSpec

SUITE_FILE = "suite.json"
RUNS_DIR = "runs"
LOCK_FILE = ".lock"


class StoreError(Exception):
    """A results directory that cannot be read as one."""


class StoreBusy(StoreError):
    """Another process is running a sweep of the same suite into the same directory."""


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
    """The stored runs of one suite."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @classmethod
    def for_suite(cls, results_root: str | Path, suite: SuiteSpec) -> Store:
        return cls(Path(results_root) / suite.name)

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS_DIR

    def _path(self, key: str) -> Path:
        return self.runs_dir / f"{key}.json"

    def save_suite(self, suite: SuiteSpec) -> None:
        write_atomic(self.root / SUITE_FILE, suite.model_dump_json(indent=2))

    def load_suite(self) -> SuiteSpec:
        path = self.root / SUITE_FILE
        if not path.is_file():
            raise StoreError(f"{self.root}: not a results directory (no {SUITE_FILE})")
        try:
            return SuiteSpec.model_validate_json(path.read_text(encoding="utf-8"))
        except ValidationError as exc:
            raise StoreError(f"{path}: not a suite record: {exc.errors()[0]['msg']}") from None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold this suite's results directory for a sweep; StoreBusy if another
        process holds it. The lock file keeps the holder's pid for that message."""
        self.root.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            yield
            return
        path = self.root / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
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
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def remove_temporaries(self) -> int:
        """Delete the temporary files of writes that were killed midway; call it
        only while holding ``lock()``, when no write of this suite is under way."""
        removed = 0
        for directory in (self.root, self.runs_dir):
            for tmp in directory.glob(".*.tmp") if directory.is_dir() else ():
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed

    def statuses(self) -> dict[str, str]:
        """The status of every stored run, by key; a record that cannot be read is left out."""
        found = {}
        for key in self.keys():
            try:
                found[key] = json.loads(self._path(key).read_text(encoding="utf-8"))["status"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return found

    def has(self, key: str) -> bool:
        return self._path(key).is_file()

    def save(self, result: RunResult) -> Path:
        path = self._path(result.key)
        write_atomic(path, result.model_dump_json(indent=1))
        return path

    def load(self, key: str) -> RunResult:
        return RunResult.model_validate_json(self._path(key).read_text(encoding="utf-8"))

    def keys(self) -> set[str]:
        if not self.runs_dir.is_dir():
            return set()
        return {p.stem for p in self.runs_dir.glob("*.json")}

    def load_runs(self, runs: Iterable[RunSpec]) -> list[RunResult]:
        """The stored results of ``runs``, in their order; those not stored are left out."""
        stored = self.keys()
        return [self.load(run.key()) for run in runs if run.key() in stored]

    def trials(self) -> list[RunResult]:
        """Every stored tuning run of the suite's protocol, in search order."""
        return self.load_runs(tuning.trial_runs(self.load_suite()))

    def selections(self) -> list[tuning.Selection]:
        """What the stored tuning runs select (empty for a suite without tuning)."""
        suite = self.load_suite()
        return tuning.select(suite, self.load_runs(tuning.trial_runs(suite)))

    def results(self) -> list[RunResult]:
        """Every stored evaluation run of the suite (for a tuned suite, those of
        the configurations its stored trials select), in grid order."""
        suite = self.load_suite()
        return self.load_runs(tuning.evaluation_runs(suite, self.selections()))


def find_result_dirs(path: str | Path) -> list[Path]:
    """A suite's results directory, or every one directly below ``path``."""
    path = Path(path)
    if (path / SUITE_FILE).is_file():
        return [path]
    found = sorted(p.parent for p in path.glob(f"*/{SUITE_FILE}"))
    if not found:
        raise StoreError(f"{path}: no stored suite here (looked for {SUITE_FILE})")
    return found
