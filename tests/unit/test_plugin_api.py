"""The public plugin API package (clinician_console_api): complete, typed, testable, and
the built-in stethoscope captures through its own ``audio.input`` capability."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import tomllib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import clinician_console_api as api
from app.errors import ConsoleError, DeviceUnavailableError

ROOT = Path(__file__).resolve().parents[2]


def test_all_names_every_public_class_function_and_error() -> None:
    public = {
        name
        for name, value in vars(api).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "").startswith(("clinician_console_api", "app.errors"))
    }
    assert public <= set(api.__all__), sorted(public - set(api.__all__))
    assert {"InputRejectedError", "MediaFileError", "Camera", "Still"} <= set(api.__all__)
    for name in api.__all__:
        assert hasattr(api, name), name
    # Every error a capability raises is importable from the API itself.
    for error in ("CapabilityUnavailableError", "DeviceUnavailableError", "InputRejectedError"):
        assert issubclass(getattr(api, error), ConsoleError)


def test_the_package_is_typed_and_its_fixtures_are_a_pytest11_entry_point() -> None:
    assert (ROOT / "clinician_console_api" / "py.typed").is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entry = project["project"]["entry-points"]["pytest11"]
    # Named after the module, so a conftest listing it too does not register it twice.
    assert entry == {"clinician_console_api.testing": "clinician_console_api.testing"}
    testing = importlib.import_module(entry["clinician_console_api.testing"])
    assert {"plugin_host", "make_plugin"} <= set(testing.__all__)
    package_data = project["tool"]["setuptools"]["package-data"]["clinician_console_api"]
    assert "py.typed" in package_data
    plugins = project["project"]["entry-points"]["clinician_console.plugins"]
    assert plugins["clinician-console.image-capture"] == "plugins.image_capture:plugin.toml"


def test_the_fixtures_are_qt_free() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tests._block_qt as block\nblock.install()\n"
        "import clinician_console_api, clinician_console_api.testing\n"
        "assert not [m for m in sys.modules if m.startswith(('PySide6', 'qasync'))]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_old_module_name_still_loads_with_a_warning() -> None:
    import sys

    sys.modules.pop("plugins.api", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module("plugins.api")
    assert old.PluginContext is api.PluginContext
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


def test_an_ungranted_or_absent_camera_answers_as_the_api_says(tmp_path: Path) -> None:
    ctx = api.PluginContext(
        "t.cam", settings={}, data_root=tmp_path, granted=frozenset({"camera"}), providers={}
    )
    assert ctx.camera().list_devices() == []
    with pytest.raises(api.CapabilityUnavailableError):
        asyncio.run(ctx.camera().open("x"))
    other = api.PluginContext(
        "t.nocam", settings={}, data_root=tmp_path, granted=frozenset(), providers={}
    )
    with pytest.raises(api.PluginCapabilityError):
        other.camera()


# --- the stethoscope through audio.input -------------------------------------------------


class FakeStream:
    """A fake AudioStream: blocks of a 100 Hz sine, then the device goes away."""

    def __init__(self, device_id: str, rate: int, blocks: int) -> None:
        self.device_id = device_id
        self.sample_rate_hz = rate
        self.channels = 1
        self.overruns = 0
        self.closed = False
        self._left = blocks
        self._t = 0

    async def read(self) -> Any:
        await asyncio.sleep(0.001)
        if self.closed:
            raise DeviceUnavailableError(device=self.device_id, reason="closed")
        if self._left == 0:
            raise DeviceUnavailableError(device=self.device_id, reason="unplugged")
        self._left -= 1
        n = np.arange(self._t, self._t + 480)
        self._t += 480
        return (0.25 * np.sin(2 * np.pi * 100 * n / self.sample_rate_hz)).astype(np.float32)[
            :, None
        ]

    async def close(self) -> None:
        self.closed = True


class FakeAudioInput:
    """A fake of the host's ``audio.input`` provider (no sound card on these machines;
    the real provider is tested with PulseAudio in tests/integration)."""

    def __init__(self, blocks: int = 10_000) -> None:
        self.opened: list[FakeStream] = []
        self.blocks = blocks

    def list_devices(self) -> list[api.AudioDevice]:
        return [api.AudioDevice("fake:1", "Fake stethoscope")]

    async def open(self, device_id: str, **kwargs: Any) -> FakeStream:
        if device_id != "fake:1":
            raise DeviceUnavailableError(device=device_id, reason="unknown")
        stream = FakeStream(device_id, kwargs.get("sample_rate_hz", 48_000), self.blocks)
        self.opened.append(stream)
        return stream


def test_the_stethoscope_lists_and_captures_through_its_audio_input(tmp_path: Path) -> None:
    from plugins.stethoscope import plugin

    audio = FakeAudioInput()
    ctx = api.PluginContext(
        "clinician-console.stethoscope",
        settings={},
        data_root=tmp_path,
        granted=frozenset({"audio.input"}),
        providers={"audio.input": audio},
    )

    async def scenario() -> None:
        plugin.activate(ctx)  # the plugin keeps its context's audio.input
        try:
            model = plugin.StethoscopeModel(sample_rate_hz=48_000)
            assert ("fake:1", "Fake stethoscope") in model.devices()
            model.open("fake:1", gain=2.0)
            deadline = asyncio.get_running_loop().time() + 5
            while model.display.written < 48_000 and asyncio.get_running_loop().time() < deadline:
                model.pull()
                await asyncio.sleep(0.01)
            assert model.display.written >= 48_000
            peak, clipped = model.clipping()
            assert 0.45 < peak <= 0.5 and not clipped  # the gain applied: 0.25 x 2
            model.close()
            await asyncio.sleep(0.05)
            assert audio.opened[0].closed
        finally:
            plugin.deactivate(ctx)
        assert plugin.StethoscopeModel().audio_input is None

    asyncio.run(scenario())


def test_an_unplugged_input_ends_the_recording_with_what_was_kept() -> None:
    from plugins.stethoscope import plugin

    async def scenario() -> None:
        model = plugin.StethoscopeModel(sample_rate_hz=48_000, audio_input=FakeAudioInput(200))
        model.open("fake:1")
        model.start_recording("mitral")
        deadline = asyncio.get_running_loop().time() + 5
        while model.recording and asyncio.get_running_loop().time() < deadline:
            model.pull()
            await asyncio.sleep(0.01)
        assert not model.recording
        rec = model.last_recording
        assert rec is not None and rec.interrupted
        assert rec.samples.size > 0.5 * 200 * 480
        assert "unplugged" in model.status
        model.shutdown()

    asyncio.run(scenario())


def test_without_the_capability_a_device_cannot_be_opened() -> None:
    from plugins.stethoscope import plugin

    model = plugin.StethoscopeModel()
    assert [d for d, _ in model.devices()] == ["synthetic"]
    with pytest.raises(DeviceUnavailableError):
        model.open("sd:0")


def test_the_fake_camera_fixture_drives_the_image_capture_model(
    fake_camera: Any, tmp_path: Path
) -> None:
    """What a third-party camera plugin's tests get: ``fake_camera`` as the provider."""
    import plugins.image_capture
    from clinician_console_api.testing import make_host
    from plugins.image_capture.plugin import CaptureModel

    host = make_host(tmp_path / "data", providers={"camera": fake_camera})
    host.add_manifest(Path(plugins.image_capture.__file__).parent / "plugin.toml")

    async def scenario() -> None:
        info = await host.activate("clinician-console.image-capture")
        assert info.state == "active"
        ctx = host.context("clinician-console.image-capture")
        assert ctx is not None
        model = CaptureModel(ctx)
        [device] = model.devices()
        await model.open(device.device_id)
        preview = model.preview()
        assert preview is not None and (preview.width_px, preview.height_px) == (1280, 720)
        candidate = await model.take_still()
        assert (candidate.still.width_px, candidate.still.height_px) == (2592, 1944)
        assert candidate.report.width_px == 2592
        assert fake_camera.stills_taken == 1
        assert [m.width_px for m in fake_camera.modes_streamed] == [1280, 2592, 1280]
        await model.close()

    asyncio.run(scenario())
