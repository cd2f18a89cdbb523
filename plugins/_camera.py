"""The ``camera`` capability over :mod:`media.devices.still_camera`.

:class:`CameraProvider` lists cameras (V4L2 capture nodes on Linux through linuxpy,
plus the synthetic multi-mode test camera when asked for) with their modes, and
opens them as :class:`StillCameraStream` s, which turn the media layer's frames into
the API's :class:`~clinician_console_api.PreviewFrame` and
:class:`~clinician_console_api.Still`. Windows and macOS cameras are not offered
for stills yet: PyAV's DirectShow and AVFoundation inputs cannot list modes
(docs/images.md).
"""

from __future__ import annotations

import asyncio
import glob
import logging
import sys
from collections.abc import Callable

from app.errors import DeviceUnavailableError
from clinician_console_api import CameraDevice, CameraMode, PreviewFrame, Still
from media.devices import v4l2
from media.devices.still_camera import TEST_CAMERA_MODES, LavfiCamera, StillCamera

log = logging.getLogger(__name__)

TEST_CAMERA_ID = "test-camera"

#: ``() -> [(device_id, label, camera)]``: what the provider offers right now.
CameraSources = Callable[[], list[tuple[str, str, v4l2.RawCamera]]]


def api_mode(mode: v4l2.CameraMode, fps: float = 30.0) -> CameraMode:
    return CameraMode(mode.width, mode.height, fps, mode.pixel_format)


def media_mode(mode: CameraMode) -> v4l2.CameraMode:
    return v4l2.CameraMode(mode.pixel_format, mode.width_px, mode.height_px)


def os_cameras(*, test_camera: bool = False) -> CameraSources:
    """The cameras the OS offers (Linux: V4L2), and the test camera if asked for."""

    def sources() -> list[tuple[str, str, v4l2.RawCamera]]:
        found: list[tuple[str, str, v4l2.RawCamera]] = []
        if sys.platform.startswith("linux"):
            for node in sorted(glob.glob("/dev/video*")):
                label = v4l2.capture_device_label(node)
                if label is not None:
                    found.append((node, label, v4l2.LinuxpyCamera(node)))
        if test_camera:
            found.append((TEST_CAMERA_ID, "Test camera (demo)", LavfiCamera(TEST_CAMERA_MODES)))
        return found

    return sources


class StillCameraStream:
    """``clinician_console_api.CameraStream`` over a :class:`StillCamera`."""

    def __init__(self, camera: StillCamera, loop: asyncio.AbstractEventLoop) -> None:
        self._camera = camera
        self._loop = loop
        self._new_frame = asyncio.Event()
        self._closed = False
        self._last_returned = 0.0
        camera.on_frame(self._on_frame)

    def _on_frame(self) -> None:  # the camera thread
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._new_frame.set)

    @property
    def device_id(self) -> str:
        return self._camera.device_id

    @property
    def preview_mode(self) -> CameraMode:
        return api_mode(self._camera.preview_mode)

    @property
    def still_mode(self) -> CameraMode:
        return api_mode(self._camera.still_mode)

    @property
    def mode_log(self) -> list[CameraMode]:
        return [api_mode(m) for m in self._camera.mode_log]

    def latest_frame(self) -> PreviewFrame | None:
        preview = self._camera.latest()
        if preview is None:
            return None
        return PreviewFrame(preview.rgb, preview.width, preview.height, preview.at_monotonic_s)

    async def next_frame(self) -> PreviewFrame:
        while True:
            if self._closed:
                raise DeviceUnavailableError(device=self.device_id, reason="closed")
            if self._camera.error is not None:
                raise self._camera.error
            frame = self.latest_frame()
            if frame is not None and frame.captured_monotonic_s > self._last_returned:
                self._last_returned = frame.captured_monotonic_s
                return frame
            self._new_frame.clear()
            try:
                await asyncio.wait_for(self._new_frame.wait(), 1.0)
            except TimeoutError:
                continue

    async def take_still(self) -> Still:
        if self._closed:
            raise DeviceUnavailableError(device=self.device_id, reason="closed")
        taken = await self._camera.take_still()
        return Still(
            data=taken.data,
            content_type="image/jpeg",
            width_px=taken.width,
            height_px=taken.height,
            mode=api_mode(taken.mode),
            camera_jpeg=taken.camera_jpeg,
            rgb=taken.rgb,
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._new_frame.set()
        await self._loop.run_in_executor(None, self._camera.stop)


class CameraProvider:
    """Capability ``camera``."""

    def __init__(self, sources: CameraSources | None = None) -> None:
        self._sources = sources or os_cameras()
        self._known: dict[str, v4l2.RawCamera] = {}

    def list_devices(self) -> list[CameraDevice]:
        devices: list[CameraDevice] = []
        try:
            found = self._sources()
        except Exception as exc:  # enumeration must never take the panel down
            log.info("no cameras listed: %s", type(exc).__name__)
            return []
        for device_id, label, raw in found:
            self._known[device_id] = raw
            try:
                modes = tuple(api_mode(m) for m in raw.modes())
            except DeviceUnavailableError:
                modes = ()
            devices.append(CameraDevice(device_id, label, modes))
        return devices

    async def open(self, device_id: str, *, preview: CameraMode | None = None) -> StillCameraStream:
        if device_id not in self._known:
            self.list_devices()
        raw = self._known.get(device_id)
        if raw is None:
            raise DeviceUnavailableError(device=device_id, reason="no such camera")
        loop = asyncio.get_running_loop()
        size = (preview.width_px, preview.height_px) if preview is not None else (1280, 720)

        def start() -> StillCamera:
            camera = StillCamera(raw, device_id, preview_size=size)  # lists modes: I/O
            camera.start()
            return camera

        camera = await loop.run_in_executor(None, start)
        return StillCameraStream(camera, loop)


__all__ = ["TEST_CAMERA_ID", "CameraProvider", "StillCameraStream", "os_cameras"]
