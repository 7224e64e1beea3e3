"""The plugin manager: finds plugins, collects what they register, by name,
and calls their lifecycle hooks.

Plugins come from the ``rnnbench`` entry-point group (the built-ins too) and
from modules named for one run (``--plugin``). A plugin that fails to import,
or whose registration hook raises, is reported by name and left out; the
others are still loaded. A class that does not keep the contract of its base
class in :mod:`rnnbench.api` (what it must define itself) is refused when it
is registered, in one line naming the plugin, the class and what it lacks. A
name registered twice keeps the first and reports both plugins.

Every hook is called through pluggy, once per plugin that implements it, with
the other implementing plugins left out (``PluginManager.subset_hook_caller``):
so that what a plugin returns is attributed to it, an exception stays its own
and the caller can name the plugin and go on, while the hook wrappers
(``@hookimpl(wrapper=True)`` or ``hookwrapper=True``) go around each call as
pluggy calls them.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
import inspect
import reprlib
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterable, Iterator

import pluggy

from rnnbench import api, hookspecs

KINDS = ("task", "cell", "remedy", "optimizer")
BASES = {"task": api.Task, "cell": api.Cell, "remedy": api.Remedy, "optimizer": api.Optimizer}
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
    """The hooks of the loaded plugins: the registration hooks, and the
    lifecycle hooks (``rnnbench_run_stored``, ``rnnbench_report_section``)."""

    def __init__(self, pm: pluggy.PluginManager | None = None, providers: dict[str, Provider] | None = None):
        self._pm = pm
        self._providers = providers or {}

    def call(self, hook: str, **kwargs: Any) -> Iterator[HookCall]:
        """Call ``hook`` through pluggy once per plugin that implements it (not
        only as a wrapper), in the order the plugins were loaded, leaving the
        other implementing plugins out; yield a HookCall per value it returned
        (pluggy drops ``None``). An exception (not an interrupt) is caught and
        yielded as ``error``."""
        if self._pm is None:
            return
        caller = getattr(self._pm.hook, hook)
        implementing = list(dict.fromkeys(
            impl.plugin for impl in caller.get_hookimpls() if not (impl.wrapper or impl.hookwrapper)
        ))
        for plugin in implementing:
            name = self._pm.get_name(plugin)
            provider = self._providers.get(name, Provider(name))
            others = [other for other in implementing if other is not plugin]
            alone = self._pm.subset_hook_caller(hook, remove_plugins=others)
            try:
                values = alone(**kwargs)
            except Exception as exc:
                yield HookCall(provider, error=exc)
                continue
            for value in values:
                yield HookCall(provider, value)


class Registry:
    """Every registered component, the problems met while loading plugins, and
    the plugins' lifecycle ``hooks``."""

    def __init__(self) -> None:
        self.components: dict[tuple[str, str], Component] = {}
        self.problems: list[str] = []
        self.hooks = Hooks()

    def add(self, kind: str, cls: type, provider: Provider) -> None:
        """Register ``cls``, which ``provider`` returned as a ``kind``; or, if it
        breaks the contract of its base class or its name is taken, say why in
        one line of ``problems`` and leave it out."""
        breach = contract_breach(kind, cls)
        if breach is not None:
            self.problems.append(f"plugin {provider}: {breach}; ignored")
            return
        name = cls.name
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
            close = difflib.get_close_matches(name, self.names(kind), n=1)
            if self.problems:  # the likely cause, in words: the first problem met loading the plugins
                more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
                hint = f"; while loading the plugins: {self.problems[0]}{more}"
            elif close:
                hint = f"; did you mean '{close[0]}'?"
            else:
                hint = "; is the plugin that provides it installed, or given with --plugin?"
            raise UnknownName(f"unknown {kind} '{name}'; known: {known}{hint}") from None

    def create(self, kind: str, ref, *args):
        """Instantiate the component a spec reference names, with validated params."""
        cls = self.get(kind, ref.name)
        return cls(cls.Params.model_validate(ref.params), *args)


def required_members(base: type) -> list[str]:
    """What every subclass of ``base`` (a base class of :mod:`rnnbench.api`)
    must define itself: the attributes ``base`` declares without a value, then
    its abstract methods. The rest has a default."""
    declared = [name for name in inspect.get_annotations(base) if not hasattr(base, name)]
    return declared + sorted(getattr(base, "__abstractmethods__", ()))


def contract_breach(kind: str, cls: object) -> str | None:
    """Why ``cls`` cannot be registered as a ``kind``, in a few words naming it
    and what it lacks; None if it keeps the contract of the kind's base class."""
    base = BASES[kind]
    base_name = f"rnnbench.api.{base.__name__}"
    where = _described(cls)
    if not isinstance(cls, type):
        return f"{kind} {where} is not a class"
    if not issubclass(cls, base):
        return f"{kind} {where} is not a subclass of {base_name}"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        return f"{kind} {where} has no 'name'"
    lacking = [member for member in required_members(base)
               if not hasattr(cls, member) or member in getattr(cls, "__abstractmethods__", ())]
    if lacking:
        return (f"{kind} '{name}' ({where}) does not define {', '.join(map(repr, lacking))}, "
                f"which {base_name} requires")
    return None


def _described(value: object) -> str:
    """``value`` in a few words: a class by its module and name, anything else by a short repr."""
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return reprlib.repr(value)


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

    registry.hooks = Hooks(pm, providers)
    for kind in KINDS:
        hook = _HOOKS[kind]
        for call in registry.hooks.call(hook):
            if call.error is not None:
                registry.problems.append(f"plugin {call.provider}: {hook} raised {call.why()}")
            elif not isinstance(call.value, (list, tuple)):
                registry.problems.append(f"plugin {call.provider}: {hook} returned "
                                         f"{_described(call.value)}, not a list of classes; ignored")
            else:
                for cls in call.value:
                    registry.add(kind, cls, call.provider)
    return registry
