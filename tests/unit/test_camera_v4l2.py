"""Linux cameras through V4L2: mode choice, MJPEG and YUYV decoding, the reader thread.

No camera exists on the CI machines and no virtual V4L2 driver (v4l2loopback, vivid)
can be loaded there, so the ioctl layer (linuxpy) is replaced by :class:`FakeCamera`,
which offers modes like a UVC exam camera and delivers *real* MJPEG (encoded by
FFmpeg from a test pattern) and YUYV bytes. Everything after the driver's buffer,
which is our code, runs for real. What only a real camera can show is listed in
docs/media.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from app.errors import DeviceUnavailableError
from media import framestamp
from media.devices import camera
from media.devices.v4l2 import (
    MJPEG,
    YUYV,
    CameraMode,
    FrameDecoder,
    RawFrame,
    choose_mode,
    largest_mode,
)

UVC_MODES = [
    CameraMode(YUYV, 640, 480),
    CameraMode(YUYV, 1280, 720),
    CameraMode(MJPEG, 640, 480),
    CameraMode(MJPEG, 1280, 720),
    CameraMode(MJPEG, 1920, 1080),
    CameraMode(MJPEG, 3264, 2448),
    CameraMode("H264", 3840, 2160),  # offered by some cameras; we cannot decode it here
]


def _pattern(width: int, height: int, counter: int) -> np.ndarray:
    rng = np.random.default_rng(counter)
    image = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    image = np.repeat(np.repeat(image, 8, axis=0), 8, axis=1)
    framestamp.stamp(image, counter)
    return image


def _jpeg(image: np.ndarray) -> bytes:
    import av

    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = image.shape[1], image.shape[0]
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = __import__("fractions").Fraction(1, 30)
    encoder.options = {"qscale": "2"}
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in encoder.encode(frame))


def _yuyv(image: np.ndarray) -> bytes:
    import av

    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuyv422")
    packed: np.ndarray = frame.to_ndarray()
    return packed.tobytes()


class FakeCamera:
    """A stand-in for the V4L2 ioctls (see the module docstring)."""

    def __init__(self, modes: list[CameraMode], *, corrupt_every: int = 0, stop_after: int = 0):
        self._modes = modes
        self.corrupt_every = corrupt_every
        self.stop_after = stop_after
        self.opened: list[tuple[CameraMode, int]] = []
        self.closed = threading.Event()

    def modes(self) -> list[CameraMode]:
        return list(self._modes)

    @contextlib.contextmanager
    def frames(self, mode: CameraMode, fps: int) -> Iterator[Iterator[RawFrame]]:
        self.opened.append((mode, fps))

        def stream() -> Iterator[RawFrame]:
            counter = 0
            while not self.stop_after or counter < self.stop_after:
                image = _pattern(mode.width, mode.height, counter)
                data = _jpeg(image) if mode.pixel_format == MJPEG else _yuyv(image)
                if self.corrupt_every and counter % self.corrupt_every == 1:
                    data = b"\xff\xd8garbage"
                yield RawFrame(mode.pixel_format, mode.width, mode.height, data)
                counter += 1
                threading.Event().wait(1 / fps)

        try:
            yield stream()
        finally:
            self.closed.set()


def test_mode_choice_prefers_exact_mjpeg_then_the_next_larger_never_upscales() -> None:
    assert choose_mode(UVC_MODES, 1280, 720) == CameraMode(MJPEG, 1280, 720)
    assert choose_mode(UVC_MODES, 1024, 576) == CameraMode(MJPEG, 1280, 720)
    assert choose_mode(UVC_MODES, 4000, 3000) == CameraMode(MJPEG, 3264, 2448)
    assert choose_mode([CameraMode(YUYV, 640, 480)], 1280, 720) == CameraMode(YUYV, 640, 480)
    assert largest_mode(UVC_MODES) == CameraMode(MJPEG, 3264, 2448)  # H264 is not decodable
    with pytest.raises(DeviceUnavailableError):
        choose_mode([CameraMode("H264", 1920, 1080)], 1280, 720)


@pytest.mark.parametrize("fmt", [MJPEG, YUYV])
def test_decoder_reads_real_frames_of_each_format(fmt: str) -> None:
    image = _pattern(640, 480, 7)
    data = _jpeg(image) if fmt == MJPEG else _yuyv(image)
    frame: Any = FrameDecoder().decode(RawFrame(fmt, 640, 480, data))
    assert (frame.width, frame.height) == (640, 480)
    assert framestamp.read(frame.to_ndarray(format="rgb24")) is not None


def test_decoder_refuses_torn_frames() -> None:
    decoder = FrameDecoder()
    with pytest.raises(DeviceUnavailableError):
        decoder.decode(RawFrame(YUYV, 640, 480, b"\x00" * 1000))
    with pytest.raises(DeviceUnavailableError):
        decoder.decode(RawFrame(MJPEG, 640, 480, b"\xff\xd8 not a jpeg"))
    with pytest.raises(DeviceUnavailableError):
        decoder.decode(RawFrame("H264", 640, 480, b"\x00\x00\x00\x01"))


@pytest.mark.parametrize("modes", [UVC_MODES, [CameraMode(YUYV, 1280, 720)]])
def test_a_v4l2_camera_streams_as_a_track_at_the_requested_size(
    modes: list[CameraMode],
) -> None:
    fake = FakeCamera(modes, corrupt_every=5)

    async def scenario() -> None:
        source = camera.V4L2Source(fake, "/dev/video0", 1280, 720, 30)
        source.stamp = False
        source.start()
        track = camera.make_track(source, 30)
        frames = [await track.recv() for _ in range(8)]
        track.stop()
        assert {(f.width, f.height) for f in frames} == {(1280, 720)}
        assert source.mode is not None and source.mode.width == 1280
        # The picture is the camera's, not black: its barcode reads back.
        assert any(framestamp.read_video_frame(f) is not None for f in frames)

    asyncio.run(scenario())
    assert fake.closed.wait(5)
    assert fake.opened[0][1] == 30


def test_a_camera_that_stops_delivering_is_reported() -> None:
    fake = FakeCamera(UVC_MODES, stop_after=2)
    source = camera.V4L2Source(fake, "/dev/video0", 640, 480, 30)
    source.start()  # the first frame arrives
    assert fake.closed.wait(5)
    assert source._slot.error == "stopped delivering"
    source.stop()


def test_a_camera_with_no_usable_format_is_unavailable() -> None:
    source = camera.V4L2Source(
        FakeCamera([CameraMode("H264", 1920, 1080)]), "/dev/video0", 640, 480, 30
    )
    with pytest.raises(DeviceUnavailableError):
        source.start()


def test_camera_specs_name_v4l2_nodes_on_linux() -> None:
    assert camera._camera_target("0") == "/dev/video0"
    assert camera._camera_target("cv:2") == "/dev/video2"
    assert camera._camera_target("/dev/video4") == "/dev/video4"
    assert camera._camera_target("no-such-camera") is None
