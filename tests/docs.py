"""The project's markdown documentation as the tests read it: README.md and the
files its long sections moved to, beside what they document. Imported by the
tests that check the documents' code blocks and links."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REPORTS = ROOT / "reports" / "README.md"  # findings, verdicts, the suite file, the command, results
PLUGINS = ROOT / "plugins" / "README.md"  # what is built in, the maths, writing a plugin, the code
BENCHMARKS = ROOT / "benchmarks" / "README.md"  # performance
DOCS = (README, REPORTS, PLUGINS, BENCHMARKS)

FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(kind: str | None = None, docs=DOCS) -> list[tuple[Path, str]]:
    """Every fenced block of ``docs`` (of language ``kind`` if given), with its file."""
    found = []
    for path in docs:
        for language, text in FENCE.findall(path.read_text(encoding="utf-8")):
            if kind is None or language == kind:
                found.append((path, text))
    return found


def block_starting_with(marker: str, kind: str = "python") -> tuple[Path, str]:
    """The one fenced block of the documents that starts with ``marker``, and its file."""
    found = [(path, text) for path, text in blocks(kind) if text.startswith(marker)]
    names = ", ".join(path.relative_to(ROOT).as_posix() for path in DOCS)
    assert len(found) == 1, f"{names}: expected one ```{kind} block starting with {marker!r}, found {len(found)}"
    return found[0]


def without_code(text: str) -> str:
    """``text`` with its fenced blocks blanked (their lines kept, so line numbers hold)."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, markup and punctuation dropped,
    spaces to '-'."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a markdown file's headings, GitHub's way (a repeated heading
    gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for line in without_code(path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found
