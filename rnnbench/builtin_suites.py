"""The suites shipped inside the package (``rnnbench/suites/*.toml``): the
default suite and the classic comparisons of the literature."""

from __future__ import annotations

from importlib import resources

from rnnbench.resolve import resolve_text
from rnnbench.spec import SuiteSpec, loads_suite


def _folder():
    return resources.files("rnnbench") / "suites"


def names() -> list[str]:
    """The built-in suites' names, sorted."""
    return sorted(p.name.removesuffix(".toml") for p in _folder().iterdir() if p.name.endswith(".toml"))


def text(name: str) -> str:
    """The commented TOML of built-in suite ``name``."""
    return (_folder() / f"{name}.toml").read_text(encoding="utf-8")


def load(name: str, registry=None) -> SuiteSpec:
    """Built-in suite ``name``, validated (against ``registry`` when given)."""
    source = f"built-in suite '{name}'"
    return loads_suite(text(name), source) if registry is None else resolve_text(text(name), source, registry)
