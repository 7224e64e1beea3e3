"""The plugin manager: finds plugins, collects what they register, by name,
and calls their lifecycle hooks.

Plugins come from the ``rnnbench`` entry-point group (the built-ins too) and
from modules named for one run (``--plugin``). A plugin that fails to import,
or whose registration hook raises, is reported by name and left out; the
others are still loaded. A name registered twice keeps the first and reports
both plugins. The lifecycle hooks are called through ``Registry.hooks``, each
implementation on its own, so that its caller can name the plugin of one that
fails and go on.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterable, Iterator

import pluggy

from rnnbench import hookspecs

KINDS = ("task", "cell", "remedy", "optimizer")
_HOOKS = {
    "task": "rnnbench_register_tasks",
    "cell": "rnnbench_register_cells",
    "remedy": "rnnbench_register_remedies",
    "optimizer": "rnnbench_register_optimizers",
}


class UnknownName(ValueError):
    """A suite asked for a name no plugin registered."""


@dataclasses.dataclass(frozen=True)
class Provider:
    """Who registered a component."""

    plugin: str
    distribution: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        if self.distribution:
            return f"{self.plugin} ({self.distribution} {self.version})"
        return self.plugin


@dataclasses.dataclass(frozen=True)
class Component:
    kind: str
    name: str
    cls: type
    provider: Provider


@dataclasses.dataclass(frozen=True)
class HookCall:
    """What one plugin's implementation of a lifecycle hook did: returned
    ``value``, or raised ``error``."""

    provider: Provider
    value: Any = None
    error: BaseException | None = None

    def why(self) -> str:
        """The error in a few words, e.g. ``RuntimeError: boom``."""
        return one_line(self.error) if self.error is not None else ""


class Hooks:
    """The lifecycle hooks (``rnnbench_run_stored``, ``rnnbench_report_section``)
    of the loaded plugins."""

    def __init__(self, pm: pluggy.PluginManager | None = None, providers: dict[str, Provider] | None = None):
        self._pm = pm
        self._providers = providers or {}

    def call(self, hook: str, **kwargs: Any) -> Iterator[HookCall]:
        """Call each implementation of ``hook`` on its own, in the order the
        plugins were loaded, with the arguments it names; yield what each did.
        An exception (not an interrupt) is caught and yielded as ``error``."""
        if self._pm is None:
            return
        for impl in getattr(self._pm.hook, hook).get_hookimpls():
            provider = self._providers.get(impl.plugin_name, Provider(impl.plugin_name))
            try:
                value = impl.function(*(kwargs[name] for name in impl.argnames))
            except Exception as exc:
                yield HookCall(provider, error=exc)
                continue
            yield HookCall(provider, value)


class Registry:
    """Every registered component, the problems met while loading plugins, and
    the plugins' lifecycle ``hooks``."""

    def __init__(self) -> None:
        self.components: dict[tuple[str, str], Component] = {}
        self.problems: list[str] = []
        self.hooks = Hooks()

    def add(self, kind: str, cls: type, provider: Provider) -> None:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            self.problems.append(f"plugin {provider}: {kind} {cls!r} has no 'name'; ignored")
            return
        taken = self.components.get((kind, name))
        if taken is not None:
            self.problems.append(
                f"plugin {provider}: {kind} name '{name}' is already registered by "
                f"plugin {taken.provider}; refused"
            )
            return
        self.components[(kind, name)] = Component(kind, name, cls, provider)

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self.components if k == kind)

    def get(self, kind: str, name: str) -> Any:
        """The class registered as ``name``; UnknownName lists the names that exist."""
        try:
            return self.components[(kind, name)].cls
        except KeyError:
            known = ", ".join(self.names(kind)) or "none"
            hint = ""
            if self.problems:
                hint = f" ({len(self.problems)} plugin problem(s) reported while loading)"
            raise UnknownName(f"unknown {kind} '{name}'; known: {known}{hint}") from None

    def create(self, kind: str, ref, *args):
        """Instantiate the component a spec reference names, with validated params."""
        cls = self.get(kind, ref.name)
        return cls(cls.Params.model_validate(ref.params), *args)


def _import_plugin_module(spec: str):
    """Import ``spec``, a dotted module name or a path to a ``.py`` file."""
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {spec}")
        modname = f"rnnbench_local_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(modname, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[modname] = module
        module_spec.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def one_line(exc: BaseException) -> str:
    """An exception in one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def load_registry(extra_modules: Iterable[str] = (), use_entry_points: bool = True) -> Registry:
    """Load the installed plugins and the modules named in ``extra_modules``."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    providers: dict[str, Provider] = {}

    def register(plugin, name: str, provider: Provider) -> None:
        try:
            pm.register(plugin, name=name)
        except Exception as exc:  # a malformed plugin (bad hook name or signature)
            registry.problems.append(f"plugin {provider}: not registered: {one_line(exc)}")
            return
        providers[name] = provider

    if use_entry_points:
        eps = sorted(
            entry_points(group=hookspecs.PROJECT),
            # the built-ins first, so that a third-party plugin cannot take their names
            key=lambda ep: (ep.dist is None or ep.dist.name != "rnnbench", ep.name),
        )
        for ep in eps:
            dist = ep.dist
            provider = Provider(ep.name, dist.name if dist else None, dist.version if dist else None)
            try:
                plugin = ep.load()
            except Exception as exc:
                registry.problems.append(f"plugin {provider}: failed to import: {one_line(exc)}")
                continue
            register(plugin, f"ep:{ep.name}", provider)
    for spec in extra_modules:
        provider = Provider(spec)
        try:
            plugin = _import_plugin_module(spec)
        except Exception as exc:
            registry.problems.append(f"plugin {provider}: failed to import: {one_line(exc)}")
            continue
        register(plugin, f"module:{spec}", provider)

    # Each implementation is called on its own, so that every contribution is
    # attributed to its plugin and a plugin whose hook raises is isolated.
    for kind in KINDS:
        for impl in getattr(pm.hook, _HOOKS[kind]).get_hookimpls():
            provider = providers[impl.plugin_name]
            try:
                contributed = impl.function() or []
            except Exception as exc:
                registry.problems.append(f"plugin {provider}: {_HOOKS[kind]} raised {one_line(exc)}")
                continue
            for cls in contributed:
                registry.add(kind, cls, provider)
    registry.hooks = Hooks(pm, providers)
    return registry
