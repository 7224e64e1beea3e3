"""Timing history across commits, read from asv's result files (asv 0.6, results format 2).

asv writes, under its results directory (``.asv/results`` by default)::

    benchmarks.json                      every benchmark: its type, unit, parameter names
    <machine>/machine.json               the machine's description
    <machine>/<commit[:8]>-<env>.json    one file per commit and environment

A result file is a JSON object with ``"version": 2``, ``commit_hash``, ``date``
(the commit's time in milliseconds since the epoch), ``env_name``,
``result_columns`` (the names of the columns, among them ``result`` and
``params``) and ``results``: benchmark name -> one row of values in the order
of ``result_columns``. ``params`` is a list of lists of the parameter values
(as their Python repr), empty for a benchmark without parameters; ``result`` is
a flat list with one value per combination of the parameters (in the order of
``itertools.product``), or null when the benchmark failed.

Only timing benchmarks are read: those whose unit in ``benchmarks.json`` is
seconds, or, without that file, whose last name component starts with ``time_``.
Files in another format version, or not in this shape, are skipped.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 2
DEFAULT_DIR = Path(".asv") / "results"
_NOT_RESULTS = {"machine.json", "benchmarks.json"}


@dataclass(frozen=True)
class AsvPoint:
    """One timing: a benchmark (and parameter combination) at one commit."""

    machine: str
    env: str
    benchmark: str
    params: str  # "cell=lstm, shape=small"; "" for a benchmark without parameters
    commit: str
    date_ms: int
    seconds: float


def _unquote(value: str) -> str:
    """A parameter repr such as "'lstm'" as the bare text lstm."""
    value = str(value)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def is_timing(name: str, benchmarks: dict) -> bool:
    """Whether benchmark ``name`` measures time: seconds as its unit in
    ``benchmarks`` (the content of benchmarks.json) or, if it is not described
    there, a last name component starting with ``time_``."""
    info = benchmarks.get(name)
    if isinstance(info, dict) and "unit" in info:
        return info["unit"] == "seconds"
    return name.rsplit(".", 1)[-1].startswith("time_")


def parse_result_file(data: dict, machine: str, benchmarks: dict | None = None) -> list[AsvPoint]:
    """The finite timings of one result file's content; [] for a file in
    another format version or shape."""
    benchmarks = benchmarks or {}
    try:
        if data.get("version") != FORMAT_VERSION:
            return []
        columns = list(data["result_columns"])
        commit, date, env = str(data["commit_hash"]), int(data["date"]), str(data["env_name"])
        rows = dict(data["results"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return []
    points = []
    for name, row in rows.items():
        if not is_timing(name, benchmarks) or not isinstance(row, list):
            continue
        values = dict(zip(columns, row))
        result, params = values.get("result"), values.get("params") or []
        if not isinstance(result, list):
            continue
        info = benchmarks.get(name) if isinstance(benchmarks.get(name), dict) else {}
        names = list(info.get("param_names") or [])
        combos = itertools.product(*params) if params else [()]
        for combo, value in zip(combos, result):
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            labels = [
                f"{names[i]}={_unquote(v)}" if i < len(names) else _unquote(v)
                for i, v in enumerate(combo)
            ]
            points.append(
                AsvPoint(machine, env, name, ", ".join(labels), commit, date, float(value))
            )
    return points


def _load_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def read_asv_results(results_dir: str | Path | None = None) -> list[AsvPoint]:
    """Every timing in an asv results directory (default: ``.asv/results``
    under the current directory), sorted by commit date; [] if there is none."""
    root = Path(DEFAULT_DIR if results_dir is None else results_dir)
    if not root.is_dir():
        return []
    benchmarks = _load_json(root / "benchmarks.json")
    benchmarks = benchmarks if isinstance(benchmarks, dict) else {}
    points: list[AsvPoint] = []
    for machine_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(machine_dir.glob("*.json")):
            if path.name in _NOT_RESULTS:
                continue
            data = _load_json(path)
            if isinstance(data, dict):
                points += parse_result_file(data, machine_dir.name, benchmarks)
    return sorted(points, key=lambda p: (p.date_ms, p.commit))
