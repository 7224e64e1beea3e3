"""Where runs are kept: one JSON record per run, written atomically.

Layout of a suite's results directory::

    results/<suite>/suite.json        the validated suite, as run
    results/<suite>/runs/<key>.json   one RunResult per run, keyed by RunSpec.key()

A record is written to a temporary file in the same directory, flushed to disk
and renamed over its final name, so a reader sees either the whole record or
none: a run killed mid-write leaves only a ``*.tmp`` file, which is ignored.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import ValidationError

from rnnbench.results import RunResult
from rnnbench.spec import SuiteSpec

SUITE_FILE = "suite.json"
RUNS_DIR = "runs"


class StoreError(Exception):
    """A results directory that cannot be read as one."""


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

    def results(self) -> list[RunResult]:
        """Every stored run of the suite that the suite file still lists, in grid order."""
        suite = self.load_suite()
        stored = self.keys()
        return [self.load(run.key()) for run in suite.runs() if run.key() in stored]


def find_result_dirs(path: str | Path) -> list[Path]:
    """A suite's results directory, or every one directly below ``path``."""
    path = Path(path)
    if (path / SUITE_FILE).is_file():
        return [path]
    found = sorted(p.parent for p in path.glob(f"*/{SUITE_FILE}"))
    if not found:
        raise StoreError(f"{path}: no stored suite here (looked for {SUITE_FILE})")
    return found
