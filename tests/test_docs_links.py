"""Every relative link of README.md and of the files its sections moved to
(reports/, plugins/, benchmarks/ README.md) resolves: the file or folder exists,
and an ``#anchor`` names a heading of the target markdown file, as GitHub makes
anchors. README.md stays a five-minute read and starts with its two commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docs import DOCS, README, ROOT, anchors, slug, without_code

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)\)")


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every markdown link outside code blocks."""
    found = []
    for number, line in enumerate(without_code(path.read_text(encoding="utf-8")).splitlines(), 1):
        for match in LINK.finditer(re.sub(r"`[^`]*`", lambda m: m.group(0).replace("](", "]_("), line)):
            found.append((number, match.group(1)))
    return found


def relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto: ...


def test_slugs_are_githubs():
    assert slug("`rnnbench export`: the columns") == "rnnbench-export-the-columns"
    assert slug("Tuning: every variant gets the same chance") == "tuning-every-variant-gets-the-same-chance"
    assert slug("1. Write the remedy") == "1-write-the-remedy"
    assert slug("Where our numbers differ from the papers'") == "where-our-numbers-differ-from-the-papers"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(doc):
    assert doc.is_file()
    found = [(n, t) for n, t in links(doc) if relative(t)]
    assert found, f"{doc} has no relative link"
    broken = []
    for number, target in found:
        file, _, anchor = target.partition("#")
        destination = (doc.parent / file).resolve() if file else doc
        where = f"{doc.relative_to(ROOT)}:{number}: {target}"
        if not destination.exists():
            broken.append(f"{where}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{where}: no heading #{anchor} in {destination.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def test_the_readme_links_every_moved_to_file():
    targets = {t.partition("#")[0] for _, t in links(README)}
    for doc in DOCS[1:]:
        assert doc.relative_to(ROOT).as_posix() in targets


def test_the_readme_is_a_five_minute_read_that_starts_with_its_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 330
    commands = re.findall(r"^```sh\n(.*?)\n```$", text, re.MULTILINE | re.DOTALL)[:2]
    assert commands[0].endswith("rnnbench run") and commands[1].endswith("pytest")
    assert text.index(commands[1]) < text.index("\n## ")
