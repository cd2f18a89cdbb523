"""The plugin host: finds manifests, applies the policy, activates plugins, guards every call.

Life of a plugin::

    discover()      entry point "clinician_console.plugins" -> package:plugin.toml; the
                    manifest is read as data (no plugin code runs); ids not on the
                    policy's plugins.allow are "not_allowed" and never imported.
    activate(id)    import each python_name, check its signature (pluggy-style, at
                    registration), build the PluginContext, call activate(ctx).
    panels(where)   the UI asks; panel factories (Qt modules) are imported and
                    checked the first time, so activation itself needs no Qt.
    deactivate(id)  call deactivate(ctx), then the context's cleanups.

A failure anywhere (bad manifest, import error, wrong signature, an exception in
activate or in any callback) is logged once, scrubbed, with the plugin id; the
plugin is then "failed", its panels are withdrawn (``plugins_did_change``) and
``plugin_did_fail(plugin_id, error)`` is emitted once. The console carries on.

Threads: the host lives on the asyncio loop's thread (the GUI thread in the
desktop app); its signals are emitted there.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import importlib.util
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, TypeVar

from psygnal import Signal

from app.errors import ConsoleError, PluginError, PluginLoadError, PluginManifestError
from app.settings import PluginSettings
from clinician_console_api import (
    SUPPORTED_API_VERSIONS,
    DeviceChoices,
    PanelWhere,
    PluginContext,
)
from plugins._manifest import Manifest, load_manifest

log = logging.getLogger("clinician_console.plugins")

ENTRY_POINT_GROUP = "clinician_console.plugins"
_NOT_ALLOWED = "not on the policy's plugins.allow list"
_F = TypeVar("_F", bound=Callable[..., Any])

# The parameters each contribution's callable must take (names and order).
ACTIVATE_PARAMS = ("ctx",)
DEACTIVATE_PARAMS = ("ctx",)
PANEL_PARAMS = ("ctx", "parent")
COMMAND_PARAMS = ("ctx",)


class PluginState(StrEnum):
    INACTIVE = "inactive"  # found and allowed; not activated (yet, or any more)
    ACTIVE = "active"
    DISABLED = "disabled"  # cannot run here (API version) -> update the plugin or console
    NOT_ALLOWED = "not_allowed"  # not on plugins.allow -> IT decides; never imported
    FAILED = "failed"  # broke (manifest, import, signature, exception); see reason


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """What the dialog and ``plugins list`` show about one plugin."""

    plugin_id: str
    name: str
    version: str
    state: PluginState
    reason: str = ""  # why it is failed / disabled / not allowed (no patient data)
    source: str = ""  # "entry point <name>" or the manifest path
    api: tuple[str, ...] = ()
    requested: tuple[str, ...] = ()
    granted: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.plugin_id,
            "name": self.name,
            "version": self.version,
            "state": self.state.value,
            "reason": self.reason,
            "source": self.source,
            "api": list(self.api),
            "requested": list(self.requested),
            "granted": list(self.granted),
        }


@dataclass(frozen=True, slots=True)
class PanelSlot:
    """A panel an active plugin offers; ``make(parent)`` builds it (guarded, GUI thread).

    ``make`` returns the plugin's QWidget, or ``None`` when the factory raised (the
    plugin is then failed and reported). The UI owns and deletes the widget.
    """

    plugin_id: str
    panel_id: str
    title: str
    where: PanelWhere
    make: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class CommandSlot:
    plugin_id: str
    command_id: str
    title: str
    run: Callable[[], Awaitable[None]]  # guarded


@dataclass
class Resolved:
    """A manifest's contributions imported and checked (``resolve_contributions``)."""

    activate: Callable[..., Any] | None = None
    deactivate: Callable[..., Any] | None = None
    # None until the UI first asks for panels (their modules import Qt).
    panels: list[tuple[Any, Callable[..., Any]]] | None = None
    commands: list[tuple[Any, Callable[..., Any]]] = field(default_factory=list)


@dataclass
class _Record:
    plugin_id: str
    source: str
    state: PluginState
    manifest: Manifest | None = None
    reason: str = ""
    granted: tuple[str, ...] = ()
    ctx: PluginContext | None = None
    resolved: Resolved | None = None
    reported: bool = False

    def info(self) -> PluginInfo:
        m = self.manifest
        return PluginInfo(
            plugin_id=self.plugin_id,
            name=m.name if m else self.plugin_id,
            version=m.version if m else "",
            state=self.state,
            reason=self.reason,
            source=self.source,
            api=m.api if m else (),
            requested=m.capabilities if m else (),
            granted=self.granted,
        )


def _safe_reason(exc: BaseException) -> str:
    """Text about an exception that cannot carry patient data: our own errors' text,
    otherwise only the exception's type (a library message may echo values)."""
    if isinstance(exc, ConsoleError):
        return str(exc)
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return f"ModuleNotFoundError: no module named {exc.name!r}"
    return type(exc).__name__


def check_signature(fn: object, expected: tuple[str, ...], what: str, plugin_id: str) -> None:
    """pluggy-style: the callable's positional parameters must be exactly ``expected``
    (more are allowed only with defaults). Raises :class:`PluginLoadError`."""
    if not callable(fn):
        raise PluginLoadError(plugin_id=plugin_id, reason=f"{what} is not callable")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise PluginLoadError(
            plugin_id=plugin_id, reason=f"{what}: its signature cannot be read"
        ) from exc
    positional = [
        p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    names = tuple(p.name for p in positional[: len(expected)])
    extra_required = [p for p in positional[len(expected) :] if p.default is p.empty]
    kw_required = [
        p for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY and p.default is p.empty
    ]
    if names != expected or extra_required or kw_required:
        found = ", ".join(p.name for p in sig.parameters.values())
        raise PluginLoadError(
            plugin_id=plugin_id,
            reason=f"{what} must take ({', '.join(expected)}), not ({found})",
        )


def resolve_python_name(python_name: str, plugin_id: str) -> Any:
    """Import ``pkg.module:attr`` (attr may be dotted); failures are PluginLoadError."""
    module_name, _, attr_path = python_name.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        raise PluginLoadError(
            plugin_id=plugin_id, reason=f"importing {module_name} failed: {_safe_reason(exc)}"
        ) from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise PluginLoadError(
                plugin_id=plugin_id, reason=f"{module_name} has no {attr_path}"
            ) from exc
    return obj


def manifest_path_for(entry_point: EntryPoint) -> Path:
    """Where ``package:plugin.toml`` lives, found without running the package's code.

    ``find_spec`` of a top-level package locates it without executing it (a
    sub-package imports its parents, which are then ordinary packages).
    """
    package, sep, resource = entry_point.value.partition(":")
    package, resource = package.strip(), resource.strip()
    if not sep or not package or not resource:
        raise PluginManifestError(
            path=entry_point.value, reason="the entry point must be 'package:plugin.toml'"
        )
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError) as exc:
        raise PluginManifestError(
            path=entry_point.value, reason=f"package {package} not found"
        ) from exc
    if spec is None or not spec.submodule_search_locations:
        raise PluginManifestError(
            path=entry_point.value, reason=f"package {package} not found (or not a package)"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / resource
        if candidate.is_file():
            return candidate
    raise PluginManifestError(path=entry_point.value, reason=f"{package} has no {resource}")


def resolve_contributions(manifest: Manifest, *, panels: bool = True) -> Resolved:
    """Import every contribution and check its signature: registration, pluggy-style.

    ``panels=False`` leaves the panel factories for :func:`resolve_panels` (their
    modules import Qt, so the host checks them when the UI first asks for panels).
    """
    pid = manifest.id
    c = manifest.contributions
    resolved = Resolved()
    if c.activate:
        resolved.activate = resolve_python_name(c.activate, pid)
        check_signature(resolved.activate, ACTIVATE_PARAMS, f"activate ({c.activate})", pid)
    if c.deactivate:
        resolved.deactivate = resolve_python_name(c.deactivate, pid)
        check_signature(resolved.deactivate, DEACTIVATE_PARAMS, f"deactivate ({c.deactivate})", pid)
    for command in c.commands:
        fn = resolve_python_name(command.python_name, pid)
        check_signature(fn, COMMAND_PARAMS, f"command {command.id}", pid)
        resolved.commands.append((command, fn))
    if panels:
        resolved.panels = resolve_panels(manifest)
    return resolved


def resolve_panels(manifest: Manifest) -> list[tuple[Any, Callable[..., Any]]]:
    resolved: list[tuple[Any, Callable[..., Any]]] = []
    for panel in manifest.contributions.panels:
        factory = resolve_python_name(panel.python_name, manifest.id)
        check_signature(
            factory, PANEL_PARAMS, f"panel {panel.id} ({panel.python_name})", manifest.id
        )
        resolved.append((panel, factory))
    return resolved


class PluginHost:
    """Finds, activates and guards plugins; the composition root owns one."""

    plugin_did_fail = Signal(str, object)  # plugin_id, PluginError (its __cause__ the original)
    plugin_did_activate = Signal(str)  # plugin_id
    plugin_did_deactivate = Signal(str)  # plugin_id
    plugins_did_change = Signal()  # any state changed: refresh lists, re-read panels()

    def __init__(
        self,
        *,
        data_root: Path,
        allow: Iterable[str] | None,
        settings: PluginSettings | None = None,
        providers: Mapping[str, object] | None = None,
        discover_entry_points: bool = True,
        api_versions: frozenset[str] = SUPPORTED_API_VERSIONS,
        devices: DeviceChoices | None = None,
    ) -> None:
        """``allow=None`` allows every plugin (tests only; the console passes the policy's
        ``plugins.allow``). ``providers`` maps capability ids to objects implementing
        the Protocols in clinician_console_api; ``data_root`` is ``<profile>/plugins``."""
        self._data_root = data_root
        self._allow = None if allow is None else frozenset(allow)
        self._settings = settings or PluginSettings(allow=[])
        self._providers: dict[str, object] = dict(providers or {})
        self._devices = devices or DeviceChoices()
        self._discover_entry_points = discover_entry_points
        self._api_versions = api_versions
        self._records: dict[str, _Record] = {}
        self._discovered = False
        self._tasks: set[asyncio.Task[None]] = set()

    # --- discovery -------------------------------------------------------------------

    def discover(self) -> list[PluginInfo]:
        """Read every registered manifest (once); returns all plugins known."""
        if self._discovered or not self._discover_entry_points:
            self._discovered = True
            return self.plugins()
        self._discovered = True
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            source = f"entry point {ep.name}"
            if ep.name in self._records:
                continue  # the same distribution seen twice on sys.path
            try:
                path = manifest_path_for(ep)
            except PluginManifestError as exc:
                if self._allowed(ep.name):
                    self._add_broken(ep.name, source, exc)
                else:  # not ours to load anyway: no failure to report
                    self._put(
                        _Record(ep.name, source, PluginState.NOT_ALLOWED, reason=_NOT_ALLOWED)
                    )
                continue
            self._add(path, source=source, expected_id=ep.name)
        self.plugins_did_change.emit()
        return self.plugins()

    def add_manifest(self, path: Path, *, source: str = "") -> PluginInfo:
        """Register a plugin from its manifest file directly (tests, the fixtures in
        ``clinician_console_api.testing``)."""
        info = self._add(Path(path), source=source or str(path), expected_id=None)
        self.plugins_did_change.emit()
        return info

    def _add(self, path: Path, *, source: str, expected_id: str | None) -> PluginInfo:
        try:
            manifest = load_manifest(path)
        except PluginManifestError as exc:
            name = expected_id or exc.plugin_id or path.parent.name
            if not self._allowed(name):
                return self._put(
                    _Record(name, source, PluginState.NOT_ALLOWED, reason=_NOT_ALLOWED)
                )
            return self._add_broken(name, source, exc)
        plugin_id = manifest.id
        if expected_id is not None and expected_id != plugin_id:
            error = PluginManifestError(
                path=str(path),
                plugin_id=expected_id,
                reason=f"its id {plugin_id!r} differs from the entry point name {expected_id!r}",
            )
            return self._add_broken(expected_id, source, error)
        if plugin_id in self._records:
            error = PluginManifestError(
                path=str(path), plugin_id=plugin_id, reason="another plugin has the same id"
            )
            log.warning("Plugin %r ignored: %s", plugin_id, error)
            return self._records[plugin_id].info()
        record = _Record(plugin_id, source, PluginState.INACTIVE, manifest=manifest)
        if not self._allowed(plugin_id):
            record.state = PluginState.NOT_ALLOWED
            record.reason = _NOT_ALLOWED
            log.info("Plugin %r is not on plugins.allow; not loaded", plugin_id)
            return self._put(record)
        if not set(manifest.api) & self._api_versions:
            record.state = PluginState.DISABLED
            record.reason = (
                f"needs plugin API {', '.join(manifest.api)}; this console offers "
                f"{', '.join(sorted(self._api_versions))}"
            )
            log.warning("Plugin %r disabled: %s", plugin_id, record.reason)
            return self._put(record)
        record.granted = self._grant(manifest)
        return self._put(record)

    def _grant(self, manifest: Manifest) -> tuple[str, ...]:
        limit = self._settings.capabilities.get(manifest.id)
        return tuple(c for c in manifest.capabilities if limit is None or c in limit)

    def _allowed(self, plugin_id: str) -> bool:
        return self._allow is None or plugin_id in self._allow

    def _put(self, record: _Record) -> PluginInfo:
        self._records[record.plugin_id] = record
        return record.info()

    def _add_broken(self, plugin_id: str, source: str, exc: PluginError) -> PluginInfo:
        record = _Record(plugin_id, source, PluginState.FAILED)
        self._records[plugin_id] = record
        self._report(record, exc)
        return record.info()

    # --- queries -----------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        return [r.info() for r in sorted(self._records.values(), key=lambda r: r.plugin_id)]

    def get(self, plugin_id: str) -> PluginInfo:
        return self._records[plugin_id].info()

    def context(self, plugin_id: str) -> PluginContext | None:
        """The plugin's context while it is active (for tests and the UI's panels)."""
        return self._records[plugin_id].ctx

    def set_device_choices(self, devices: DeviceChoices) -> None:
        """Settings › Devices changed (saved): every context's ``device_choices()`` answers
        the new choices from now on."""
        self._devices = devices

    def device_choices(self) -> DeviceChoices:
        return self._devices

    def set_provider(self, capability: str, provider: object | None) -> None:
        """Put (or take away, with ``None``) what stands behind a capability; contexts made
        afterwards see it, and accessors look it up on every call."""
        if provider is None:
            self._providers.pop(capability, None)
        else:
            self._providers[capability] = provider

    def panels(self, where: PanelWhere) -> list[PanelSlot]:
        """Panels offered by active plugins granted ``ui.panel``, for ``where``."""
        slots: list[PanelSlot] = []
        for record in sorted(self._records.values(), key=lambda r: r.plugin_id):
            if record.state is not PluginState.ACTIVE or record.resolved is None:
                continue
            if record.ctx is None or "ui.panel" not in record.granted:
                continue
            if record.resolved.panels is None and record.manifest is not None:
                try:
                    record.resolved.panels = resolve_panels(record.manifest)
                except PluginLoadError as exc:
                    self._fail(record, exc)
                    continue
            for panel, factory in record.resolved.panels or ():
                if panel.where != where:
                    continue
                guarded = self.guard(record.plugin_id, factory, during=f"panel {panel.id}")
                slots.append(
                    PanelSlot(
                        plugin_id=record.plugin_id,
                        panel_id=panel.id,
                        title=panel.title,
                        where=panel.where,
                        make=functools.partial(guarded, record.ctx),
                    )
                )
        return slots

    def commands(self) -> list[CommandSlot]:
        slots: list[CommandSlot] = []
        for record in sorted(self._records.values(), key=lambda r: r.plugin_id):
            if record.state is not PluginState.ACTIVE or record.resolved is None:
                continue
            for command, fn in record.resolved.commands:
                slots.append(
                    CommandSlot(
                        plugin_id=record.plugin_id,
                        command_id=command.id,
                        title=command.title,
                        run=self._command_runner(record, fn, command.id),
                    )
                )
        return slots

    def _command_runner(
        self, record: _Record, fn: Callable[..., Any], command_id: str
    ) -> Callable[[], Awaitable[None]]:
        guarded = self.guard(record.plugin_id, fn, during=f"command {command_id}")

        async def run() -> None:
            result = guarded(record.ctx)
            if inspect.isawaitable(result):
                await result

        return run

    # --- activation --------------------------------------------------------------------

    async def activate_all(self) -> list[PluginInfo]:
        """Activate every allowed, compatible plugin; a failure affects only its plugin."""
        self.discover()
        for plugin_id in sorted(self._records):
            if self._records[plugin_id].state is PluginState.INACTIVE:
                await self.activate(plugin_id)
        return self.plugins()

    async def activate(self, plugin_id: str) -> PluginInfo:
        record = self._records[plugin_id]
        if record.state is not PluginState.INACTIVE or record.manifest is None:
            return record.info()
        try:
            resolved = resolve_contributions(record.manifest, panels=False)
        except PluginLoadError as exc:
            self._fail(record, exc)
            return record.info()
        record.resolved = resolved
        record.ctx = PluginContext(
            plugin_id,
            settings=self._settings.settings.get(plugin_id, {}),
            data_root=self._data_root,
            granted=frozenset(record.granted),
            providers=_LiveProviders(self._providers),
            guard=lambda fn: self.guard(plugin_id, fn),
            devices=self.device_choices,
        )
        if resolved.activate is not None:
            guarded = self.guard(plugin_id, resolved.activate, during="activate")
            result = guarded(record.ctx)
            if inspect.isawaitable(result):
                await result
        if self._state(plugin_id) is PluginState.FAILED:  # activate raised
            return record.info()
        record.state = PluginState.ACTIVE
        log.info("Plugin %r %s activated", plugin_id, record.manifest.version)
        self.plugin_did_activate.emit(plugin_id)
        self.plugins_did_change.emit()
        return record.info()

    async def deactivate_all(self) -> None:
        """Deactivate in reverse order of ids (the quit path); never raises."""
        for plugin_id in sorted(self._records, reverse=True):
            await self.deactivate(plugin_id)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def deactivate(self, plugin_id: str) -> PluginInfo:
        record = self._records[plugin_id]
        if record.state is not PluginState.ACTIVE:
            return record.info()
        ctx, resolved = record.ctx, record.resolved
        if resolved is not None and resolved.deactivate is not None and ctx is not None:
            guarded = self.guard(plugin_id, resolved.deactivate, during="deactivate")
            result = guarded(ctx)
            if inspect.isawaitable(result):
                await result
        if ctx is not None:
            await self._run_cleanups(record, ctx)
        if record.state is PluginState.ACTIVE:
            record.state = PluginState.INACTIVE
        record.ctx, record.resolved = None, None
        self.plugin_did_deactivate.emit(plugin_id)
        self.plugins_did_change.emit()
        return record.info()

    async def _run_cleanups(self, record: _Record, ctx: PluginContext) -> None:
        for fn in ctx._take_cleanups():
            try:
                result = fn()
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._fail(record, exc, during="cleanup")

    # --- the guard ---------------------------------------------------------------------

    def guard(self, plugin_id: str, fn: _F, *, during: str = "") -> _F:
        """Wrap a call into plugin code: an exception is reported once, the plugin is
        disabled and the call returns ``None``; calls after that do nothing.

        Works for plain and ``async`` callables (and for plain ones returning an
        awaitable). Cancellation is passed through.
        """
        where = during or getattr(fn, "__qualname__", "a callback")
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                if not self._callable(plugin_id):
                    return None
                try:
                    return await fn(*args, **kwargs)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._fail_id(plugin_id, exc, during=where)
                    return None

            return guarded_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not self._callable(plugin_id):
                return None
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                self._fail_id(plugin_id, exc, during=where)
                return None
            if inspect.isawaitable(result):
                return self._guard_awaitable(plugin_id, result, where)
            return result

        return guarded  # type: ignore[return-value]

    async def _guard_awaitable(self, plugin_id: str, awaitable: Awaitable[Any], where: str) -> Any:
        try:
            return await awaitable
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail_id(plugin_id, exc, during=where)
            return None

    def fail(self, plugin_id: str, reason: str) -> None:
        """Disable a plugin for something the console noticed (a panel factory returned
        no widget); reported once like any other failure. ``reason`` must be safe text."""
        self._fail_id(plugin_id, PluginError(plugin_id=plugin_id, reason=reason), during="")

    def _state(self, plugin_id: str) -> PluginState:
        return self._records[plugin_id].state

    def _callable(self, plugin_id: str) -> bool:
        record = self._records.get(plugin_id)
        return record is not None and record.state in (PluginState.ACTIVE, PluginState.INACTIVE)

    def _fail_id(self, plugin_id: str, exc: BaseException, *, during: str) -> None:
        record = self._records.get(plugin_id)
        if record is None:  # a guard made for an id the host does not know
            record = _Record(plugin_id, "", PluginState.INACTIVE)
            self._records[plugin_id] = record
        self._fail(record, exc, during=during)

    def _fail(self, record: _Record, exc: BaseException, *, during: str = "") -> None:
        if isinstance(exc, PluginError) and not during:
            error: PluginError = exc
        else:
            reason = f"{_safe_reason(exc)} in {during}" if during else _safe_reason(exc)
            error = PluginError(plugin_id=record.plugin_id, reason=reason)
            error.__cause__ = exc
        was_active = record.state is PluginState.ACTIVE
        record.state = PluginState.FAILED
        self._report(record, error)
        ctx = record.ctx
        record.resolved = None  # its panels and commands are withdrawn
        if was_active and ctx is not None:
            # Release what it holds (devices, tracks) without waiting in the caller.
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to release
                task = asyncio.get_running_loop().create_task(self._release(record, ctx))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        self.plugins_did_change.emit()

    async def _release(self, record: _Record, ctx: PluginContext) -> None:
        for fn in ctx._take_cleanups():
            try:
                result = fn()
                if inspect.isawaitable(result):
                    await result
            except Exception:  # already failed and reported once; keep releasing
                log.debug("Plugin %r cleanup failed", record.plugin_id, exc_info=True)

    def _report(self, record: _Record, error: PluginError) -> None:
        """Log and emit a plugin's failure the first time only."""
        if not record.reason:
            record.reason = _reason_text(error)
        if record.reported:
            log.debug("Plugin %r failed again (already reported)", record.plugin_id)
            return
        record.reported = True
        record.state = PluginState.FAILED
        cause = error.__cause__
        log.warning(
            "Plugin %r failed and was disabled: %s",
            record.plugin_id,
            error,
            exc_info=(type(cause), cause, cause.__traceback__) if cause is not None else None,
        )
        self.plugin_did_fail.emit(record.plugin_id, error)


def _reason_text(error: PluginError) -> str:
    reason = error.params.get("reason")
    return str(reason) if reason else str(error)


class _LiveProviders(Mapping[str, object]):
    """The host's provider table seen through a context: set_provider shows up at once."""

    def __init__(self, table: dict[str, object]) -> None:
        self._table = table

    def __getitem__(self, key: str) -> object:
        return self._table[key]

    def __iter__(self) -> Any:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)
