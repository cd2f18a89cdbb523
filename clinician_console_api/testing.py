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

import asyncio
import io
import itertools
import json
import re
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clinician_console_api import (
    CameraDevice,
    CameraMode,
    CameraStream,
    DeviceUnavailableError,
    PreviewFrame,
    Still,
)
from plugins.host import PluginHost

__all__ = [
    "FakeCamera",
    "MakePlugin",
    "TemporaryPlugin",
    "fake_camera",
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


# --- a fake camera for plugins that use the ``camera`` capability ----------------------


class FakeCamera:
    """A ``camera`` provider with one multi-mode device ("fake-camera") that films
    ``picture(width, height) -> RGB uint8 array`` (default: a gradient with a grid).

    Pass it as a provider: ``make_host(tmp_path, providers={"camera": fake_camera})``.
    Stills come from the largest mode as JPEG (its ``camera_jpeg`` is True, as from an
    MJPEG camera); ``stills_taken`` counts them and ``modes_streamed`` lists the modes in
    the order the device was switched to.
    """

    def __init__(
        self,
        modes: Iterable[CameraMode] = (
            CameraMode(640, 480, 30.0, "YUYV"),
            CameraMode(1280, 720, 30.0, "MJPG"),
            CameraMode(2592, 1944, 15.0, "MJPG"),
        ),
        picture: Callable[[int, int], Any] | None = None,
    ) -> None:
        self.modes = tuple(modes)
        self.picture = picture or _grid_picture
        self.stills_taken = 0
        self.modes_streamed: list[CameraMode] = []

    def list_devices(self) -> list[CameraDevice]:
        return [CameraDevice("fake-camera", "Fake camera", self.modes)]

    async def open(self, device_id: str, *, preview: CameraMode | None = None) -> CameraStream:
        if device_id != "fake-camera":
            raise DeviceUnavailableError(device=device_id, reason="no such camera")
        chosen = preview or min(
            self.modes, key=lambda m: abs(m.width_px - 1280) + abs(m.height_px - 720)
        )
        self.modes_streamed.append(chosen)
        return _FakeStream(self, chosen)


class _FakeStream:
    def __init__(self, camera: FakeCamera, mode: CameraMode) -> None:
        self._camera = camera
        self._mode = mode
        self._closed = False

    @property
    def device_id(self) -> str:
        return "fake-camera"

    @property
    def preview_mode(self) -> CameraMode:
        return self._mode

    def latest_frame(self) -> PreviewFrame | None:
        if self._closed:
            return None
        rgb = self._camera.picture(self._mode.width_px, self._mode.height_px)
        return PreviewFrame(rgb, self._mode.width_px, self._mode.height_px, time.monotonic())

    async def next_frame(self) -> PreviewFrame:
        await asyncio.sleep(1 / max(1.0, self._mode.fps))
        frame = self.latest_frame()
        if frame is None:
            raise DeviceUnavailableError(device=self.device_id, reason="closed")
        return frame

    async def take_still(self) -> Still:
        if self._closed:
            raise DeviceUnavailableError(device=self.device_id, reason="closed")
        from PIL import Image

        largest = max(self._camera.modes, key=lambda m: m.pixels)
        self._camera.modes_streamed += [largest, self._mode]
        rgb = self._camera.picture(largest.width_px, largest.height_px)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
        self._camera.stills_taken += 1
        return Still(
            buf.getvalue(), "image/jpeg", largest.width_px, largest.height_px, largest, True, rgb
        )

    async def close(self) -> None:
        self._closed = True


def _grid_picture(width: int, height: int) -> Any:
    import numpy as np

    y, x = np.mgrid[0:height, 0:width]
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rgb[..., 0] = (x * 255 // max(1, width - 1)).astype(np.uint8)
    rgb[..., 1] = (y * 255 // max(1, height - 1)).astype(np.uint8)
    rgb[..., 2] = 128
    rgb[(x % 32 == 0) | (y % 32 == 0)] = 0
    return rgb


@pytest.fixture
def fake_camera() -> FakeCamera:
    """A :class:`FakeCamera` to pass as the ``camera`` provider."""
    return FakeCamera()
