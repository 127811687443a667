"""Plugins found through entry points, with a registry that refuses duplicate names, and the
gate's own group (`gate_checks`; attest's groups are built in `attest.plugins`).

Nothing registers at import time: a registry reads the installed distributions' entry points
when it is first asked, and loads a plugin only when that plugin is used.
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import metadata
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from verify import deadline
from verify.errors import PluginError

if TYPE_CHECKING:
    from verify.interface import Check

T = TypeVar("T")

DISTRIBUTION = "attest-pipeline"  # the distribution of the built-in plugins
GATE_CHECKS = "verify.checks"


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    """One registered plugin, described without importing it."""

    group: str
    name: str
    target: str  # "module:attribute"
    distribution: str
    version: str


@functools.cache
def _name_and_version(dist: metadata.Distribution) -> tuple[str, str]:
    """Read once per distribution: each `.name` or `.version` parses its whole METADATA, and
    every decision lists the check plugins, most of them from one distribution."""
    found = dist.metadata
    return found["Name"], found["Version"]


def _describe(group: str, ep: metadata.EntryPoint) -> PluginInfo:
    name, version = _name_and_version(ep.dist) if ep.dist is not None else ("<unknown>", "")
    return PluginInfo(group, ep.name, ep.value, distribution=name, version=version)


def _built_in(ep: metadata.EntryPoint) -> bool:
    return ep.dist is not None and _name_and_version(ep.dist)[0] == DISTRIBUTION


class EntryPointGroup:
    """The entry points of one group, read once, refusing a name registered twice."""

    def __init__(self, group: str) -> None:
        self.group = group
        self._entry_points: dict[str, metadata.EntryPoint] | None = None

    def _scan(self) -> dict[str, metadata.EntryPoint]:
        if self._entry_points is None:
            found: dict[str, metadata.EntryPoint] = {}
            for ep in metadata.entry_points(group=self.group):
                if ep.name in found:
                    first, second = _describe(self.group, found[ep.name]), _describe(self.group, ep)
                    raise PluginError(
                        f"plugin name {ep.name!r} in group {self.group} is registered twice: "
                        f"by {first.distribution} ({first.target}) and by {second.distribution} "
                        f"({second.target}); uninstall or rename one of them"
                    )
                found[ep.name] = ep
            self._entry_points = found
        return self._entry_points

    def names(self, *, built_in: bool | None = None) -> list[str]:
        """The names registered, or only those of attest's own distribution (`built_in`), or
        only the others: a choice made by what plugins read tries the built-in ones first."""
        found = self._scan().items()
        return sorted(n for n, ep in found if built_in is None or built_in == _built_in(ep))

    def describe(self) -> list[PluginInfo]:
        return [_describe(self.group, ep) for _, ep in sorted(self._scan().items())]

    def __contains__(self, name: object) -> bool:
        return name in self._scan()

    def _import(self, name: str) -> tuple[object, metadata.EntryPoint]:
        """The plugin and its entry point (described only for a message: reading a
        distribution's metadata costs every command that loads a plugin)."""
        entry_points = self._scan()
        if name not in entry_points:
            known = ", ".join(self.names()) or "none"
            raise PluginError(f"no plugin {name!r} in group {self.group} (installed: {known})")
        ep = entry_points[name]
        try:
            return ep.load(), ep
        except deadline.PASSING:
            raise
        except BaseException as e:  # a plugin's sys.exit() at import is a failure, not an exit
            info = _describe(self.group, ep)
            raise PluginError(
                f"plugin {name!r} from {info.distribution} ({info.target}) failed to load: "
                f"{failure(e)}"
            ) from e


def failure(error: BaseException) -> str:
    """What a plugin's failure says, for people: a `sys.exit()` says nothing by itself, nor
    does a bare exception without its class."""
    if isinstance(error, SystemExit):
        return f"it called sys.exit({'' if error.code is None else repr(error.code)})"
    if isinstance(error, ImportError) and str(error):
        return str(error)  # "No module named 'x'" says it all
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _wrong_kind(name: str, group: str, ep: metadata.EntryPoint, what: str) -> PluginError:
    info = _describe(group, ep)
    return PluginError(f"plugin {name!r} from {info.distribution} ({info.target}) is not {what}")


class Registry(EntryPointGroup, Generic[T]):
    """Plugins that are objects: each loaded object must be an instance of `kind`."""

    def __init__(self, group: str, kind: type[T]) -> None:
        super().__init__(group)
        self._kind = kind

    def load(self, name: str) -> T:
        obj, ep = self._import(name)
        if not isinstance(obj, self._kind):
            raise _wrong_kind(name, self.group, ep, f"a {self._kind.__name__}")
        return obj


class ClassRegistry(EntryPointGroup, Generic[T]):
    """Plugins that are classes: each loaded class must derive from `base` (which may be
    abstract, hence typed `type` rather than `type[T]`)."""

    def __init__(self, group: str, base: type) -> None:
        super().__init__(group)
        self._base = base

    def load(self, name: str) -> type[T]:
        obj, ep = self._import(name)
        if not (isinstance(obj, type) and issubclass(obj, self._base)):
            raise _wrong_kind(name, self.group, ep, f"a subclass of {self._base.__name__}")
        return cast("type[T]", obj)


def gate_checks() -> ClassRegistry[Check]:
    """The gate's checks. The gate loads every one and fails closed when one does not load."""
    from verify.interface import (
        Check,  # here: it brings sigstore, which `attest --help` never needs
    )

    return ClassRegistry(GATE_CHECKS, Check)
