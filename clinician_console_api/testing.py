"""A pytest plugin for plugin authors: a host with discovery blocked, and temporary plugins.

Qt-free. pytest loads it by itself wherever the console is installed (a ``pytest11``
entry point named ``clinician_console_api.testing``); a ``conftest.py`` may also
name it, which is harmless (``pytest_plugins = ["clinician_console_api.testing"]``)::

    def test_activates(plugin_host, make_plugin):
        plugin = make_plugin("example.hello", code=MY_CODE, capabilities=["audio.input"])
        plugin_host.add_manifest(plugin.manifest_path)
        asyncio.run(plugin_host.activate("example.hello"))
        assert plugin_host.get("example.hello").state == "active"

or register your real package's manifest: ``plugin_host.add_manifest(Path(my_pkg.__file__)
.parent / "plugin.toml")``. ``plugin_host`` never looks at installed entry points, so
only the plugins a test adds exist; every plugin is allowed and capability providers
are whatever the test passes to :func:`make_host` (none by default: accessors then
return the "unavailable" providers described in :mod:`clinician_console_api`).
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from plugins.host import PluginHost

__all__ = [
    "MakePlugin",
    "TemporaryPlugin",
    "imported",
    "make_host",
    "make_plugin",
    "plugin_host",
]

_counter = itertools.count(1)
AUTO = "<auto>"
_DEFINES_DEACTIVATE = re.compile(r"^(async\s+)?def deactivate\(", re.MULTILINE)

DEFAULT_CODE = """\
def activate(ctx):
    ctx.logger.info("activated")


def deactivate(ctx):
    ctx.logger.info("deactivated")
"""


@dataclass(frozen=True)
class TemporaryPlugin:
    plugin_id: str
    package: str  # an importable package name unique to this test run
    directory: Path  # the package directory (plugin.toml, __init__.py, plugin.py)
    manifest_path: Path

    @property
    def module(self) -> str:
        """The module holding ``code``: ``<package>.plugin``."""
        return f"{self.package}.plugin"


MakePlugin = Callable[..., TemporaryPlugin]


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


def make_host(
    data_root: Path,
    *,
    providers: Mapping[str, object] | None = None,
    allow: Iterable[str] | None = None,
) -> PluginHost:
    """A host that never reads installed entry points (``allow=None``: all allowed)."""
    return PluginHost(
        data_root=data_root, allow=allow, providers=providers, discover_entry_points=False
    )


@pytest.fixture
def plugin_host(tmp_path: Path) -> PluginHost:
    """A :class:`PluginHost` with entry-point discovery blocked; data in tmp_path."""
    return make_host(tmp_path / "plugin-data")


@pytest.fixture
def make_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakePlugin]:
    """A factory writing a plugin package below tmp_path and putting it on sys.path.

    ``make_plugin(plugin_id="test.plugin", *, code=DEFAULT_CODE, capabilities=(),
    api=("1",), activate="activate", deactivate=AUTO, panels=(),
    manifest=None, version="1.0.0")``: ``code`` becomes ``<package>/plugin.py`` and
    ``activate``/``deactivate``/``panels`` name attributes in it (``None`` leaves the
    contribution out; by default ``deactivate`` is contributed when ``code`` defines
    it); ``panels`` are ``(id_suffix, title, where, attr)`` tuples.
    ``manifest`` (text) replaces the generated plugin.toml entirely. The package's
    modules are dropped from ``sys.modules`` after the test.
    """
    root = tmp_path / "plugin-src"
    root.mkdir(exist_ok=True)
    monkeypatch.syspath_prepend(str(root))
    packages: list[str] = []

    def make(
        plugin_id: str = "test.plugin",
        *,
        code: str = DEFAULT_CODE,
        capabilities: Iterable[str] = (),
        api: Iterable[str] = ("1",),
        activate: str | None = "activate",
        deactivate: str | None = AUTO,
        panels: Iterable[tuple[str, str, str, str]] = (),
        manifest: str | None = None,
        version: str = "1.0.0",
        name: str = "",
    ) -> TemporaryPlugin:
        if deactivate == AUTO:  # contribute deactivate only when the code defines it
            deactivate = "deactivate" if _DEFINES_DEACTIVATE.search(textwrap.dedent(code)) else None
        package = f"cc_test_plugin_{next(_counter)}"
        packages.append(package)
        directory = root / package
        directory.mkdir()
        (directory / "__init__.py").write_text("", encoding="utf-8")
        (directory / "plugin.py").write_text(textwrap.dedent(code), encoding="utf-8")
        if manifest is None:
            lines = [
                f"id = {_toml_str(plugin_id)}",
                f"name = {_toml_str(name or plugin_id)}",
                f"version = {_toml_str(version)}",
                f"api = [{', '.join(_toml_str(a) for a in api)}]",
                f"capabilities = [{', '.join(_toml_str(c) for c in capabilities)}]",
                "",
                "[contributions]",
            ]
            if activate:
                lines.append(f"activate = {_toml_str(f'{package}.plugin:{activate}')}")
            if deactivate:
                lines.append(f"deactivate = {_toml_str(f'{package}.plugin:{deactivate}')}")
            for suffix, title, where, attr in panels:
                lines += [
                    "",
                    "[[contributions.panels]]",
                    f"id = {_toml_str(f'{plugin_id}.{suffix}')}",
                    f"title = {_toml_str(title)}",
                    f"where = {_toml_str(where)}",
                    f"python_name = {_toml_str(f'{package}.plugin:{attr}')}",
                ]
            manifest = "\n".join(lines) + "\n"
        path = directory / "plugin.toml"
        path.write_text(manifest, encoding="utf-8")
        return TemporaryPlugin(plugin_id, package, directory, path)

    yield make
    for package in packages:
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]


def imported(package: str) -> bool:
    """Whether any module of ``package`` has been imported (laziness checks)."""
    return any(m == package or m.startswith(package + ".") for m in sys.modules)
