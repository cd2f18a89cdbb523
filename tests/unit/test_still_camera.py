"""Stills at full resolution from multi-mode cameras (media/devices/still_camera.py and
the ``camera`` capability, plugins/_camera.py), with PyAV ``lavfi`` sources and a fake
multi-mode device: no camera exists on these machines (what only a real camera can
show is in docs/images.md)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import Iterator

import pytest

from app.errors import DeviceUnavailableError
from clinician_console_api import Camera, CameraStream
from media.devices.still_camera import TEST_CAMERA_MODES, LavfiCamera, StillCamera
from media.devices.v4l2 import MJPEG, YUYV, CameraMode, RawFrame
from plugins._camera import CameraProvider


def _wait(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.01)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
        return img.size


@contextlib.contextmanager
def running(camera: StillCamera) -> Iterator[StillCamera]:
    camera.start()
    try:
        _wait(lambda: camera.latest() is not None)
        yield camera
    finally:
        camera.stop()


def test_a_still_is_taken_at_the_largest_mode_and_the_preview_comes_back() -> None:
    raw = LavfiCamera(TEST_CAMERA_MODES)
    with running(StillCamera(raw, "lavfi")) as camera:
        preview = camera.latest()
        assert preview is not None and (preview.width, preview.height) == (1280, 720)
        still = asyncio.run(camera.take_still())
        assert (still.width, still.height) == (2592, 1944)
        assert still.mode == CameraMode(MJPEG, 2592, 1944)
        # MJPEG: the camera's own bytes, exactly as delivered, never re-encoded.
        assert still.camera_jpeg
        assert still.data == raw.sent[still.mode]
        assert _jpeg_size(still.data) == (2592, 1944)
        seen = camera.frames_seen
        _wait(lambda: camera.frames_seen > seen + 3)  # the preview runs again
        latest = camera.latest()
        assert latest is not None and latest.width == 1280
    widths = [m.width for m in camera.mode_log]
    assert widths[:3] == [1280, 2592, 1280]
    assert raw.opened[:3] == [TEST_CAMERA_MODES[1], TEST_CAMERA_MODES[2], TEST_CAMERA_MODES[1]]


def test_a_camera_without_mjpeg_at_full_size_is_encoded_once_at_quality_95() -> None:
    modes = [CameraMode(YUYV, 640, 480), CameraMode(YUYV, 1600, 1200)]
    with running(StillCamera(LavfiCamera(modes), "yuyv", preview_size=(640, 480))) as camera:
        still = asyncio.run(camera.take_still())
    assert not still.camera_jpeg
    assert _jpeg_size(still.data) == (1600, 1200)
    from PIL import Image

    with Image.open(io.BytesIO(still.data)) as img:
        # libjpeg's quality 95 luminance table starts with 2 (quality 75 starts with 8).
        assert img.quantization[0][0] == 2


def test_the_size_actually_delivered_is_read_back() -> None:
    claimed = CameraMode(MJPEG, 3264, 2448)
    raw = LavfiCamera([CameraMode(MJPEG, 1280, 720), claimed], delivered={claimed: (2592, 1944)})
    with running(StillCamera(raw, "liar")) as camera:
        still = asyncio.run(camera.take_still())
    assert still.mode == claimed
    assert (still.width, still.height) == (2592, 1944)
    assert _jpeg_size(still.data) == (2592, 1944)


class FailingAtFullSize(LavfiCamera):
    """Streams its preview mode, fails when switched to the largest (a USB bandwidth
    error on a real camera)."""

    def __init__(self) -> None:
        super().__init__(TEST_CAMERA_MODES)
        self.fail = True

    @contextlib.contextmanager
    def frames(self, mode: CameraMode, fps: int) -> Iterator[Iterator[RawFrame]]:
        if mode.width == 2592 and self.fail:
            raise DeviceUnavailableError(device="fake", reason="no bandwidth for this mode")
        with super().frames(mode, fps) as frames:
            yield frames


def test_a_failed_still_leaves_the_preview_running_and_a_retake_works() -> None:
    raw = FailingAtFullSize()
    with running(StillCamera(raw, "flaky")) as camera:
        with pytest.raises(DeviceUnavailableError, match="bandwidth"):
            asyncio.run(camera.take_still())
        seen = camera.frames_seen
        _wait(lambda: camera.frames_seen > seen + 3)
        raw.fail = False
        still = asyncio.run(camera.take_still())
        assert still.width == 2592


def test_the_capability_lists_modes_and_opens_a_stream() -> None:
    camera = LavfiCamera(TEST_CAMERA_MODES)
    provider = CameraProvider(lambda: [("cam-1", "Fake dermatoscope", camera)])
    assert isinstance(provider, Camera)
    [device] = provider.list_devices()
    assert device.label == "Fake dermatoscope"
    assert device.largest_mode is not None
    assert (device.largest_mode.width_px, device.largest_mode.height_px) == (2592, 1944)
    assert device.largest_mode.is_mjpeg

    async def scenario() -> None:
        stream = await provider.open("cam-1")
        assert isinstance(stream, CameraStream)
        try:
            frame = await asyncio.wait_for(stream.next_frame(), 10)
            assert (frame.width_px, frame.height_px) == (1280, 720)
            assert frame.rgb.shape == (720, 1280, 3)
            still = await stream.take_still()
            assert (still.width_px, still.height_px) == (2592, 1944)
            assert still.camera_jpeg and still.content_type == "image/jpeg"
            assert still.rgb is not None
            h, w = still.rgb.shape[:2]  # scaled by the decoder, same aspect
            assert 1024 <= w <= 2592 and abs(w / h - 2592 / 1944) < 0.01
            again = await asyncio.wait_for(stream.next_frame(), 10)
            assert again.width_px == 1280
        finally:
            await stream.close()
        with pytest.raises(DeviceUnavailableError):
            await stream.take_still()
        with pytest.raises(DeviceUnavailableError):
            await provider.open("no-such-camera")

    asyncio.run(scenario())
