"""Linux cameras through V4L2 (linuxpy): modes, capture of raw frames, decoding with PyAV.

Why not OpenCV: its wheel brings 170 MiB (a second FFmpeg, OpenBLAS, codecs we never
use) to read a camera, hides the camera's own JPEG bytes behind a BGR conversion and
cannot list the modes a camera offers. PyAV's Linux wheel has no ``v4l2`` input, so
the device is driven with linuxpy (pure Python ioctls) and its frames are decoded by
PyAV's MJPEG decoder or wrapped as YUYV. docs/media.md has the decision.

The module splits what needs a device (:class:`LinuxpyCamera`) from what does not
(mode choice, decoding), so tests feed real MJPEG and YUYV bytes through the same
path without a camera (none exists on the CI machines).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from app.errors import DeviceUnavailableError

MJPEG = "MJPG"
YUYV = "YUYV"
#: Formats we can decode, best first: MJPEG keeps USB 2 cameras at full rate at 720p
#: and beyond; YUYV is what every UVC camera offers as a fallback.
SUPPORTED_FORMATS: tuple[str, ...] = (MJPEG, YUYV)


@dataclass(frozen=True)
class CameraMode:
    """One capture mode a camera offers (a discrete size in a pixel format)."""

    pixel_format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class RawFrame:
    """One frame as the driver delivered it: compressed JPEG or packed YUYV bytes."""

    pixel_format: str
    width: int
    height: int
    data: bytes


class RawCamera(Protocol):
    """What :class:`media.devices.camera.V4L2Source` needs from a device."""

    def modes(self) -> list[CameraMode]: ...

    def frames(
        self, mode: CameraMode, fps: int
    ) -> contextlib.AbstractContextManager[Iterator[RawFrame]]: ...


def choose_mode(modes: Sequence[CameraMode], width: int, height: int) -> CameraMode:
    """The mode to stream at ``width`` x ``height``.

    A supported format at exactly that size wins (MJPEG first); else the smallest
    mode at least that large (scaled down, never up); else the largest there is.
    """
    usable = [m for m in modes if m.pixel_format in SUPPORTED_FORMATS]
    if not usable:
        raise DeviceUnavailableError(device="camera", reason="no supported pixel format")
    rank = {fmt: i for i, fmt in enumerate(SUPPORTED_FORMATS)}
    exact = [m for m in usable if (m.width, m.height) == (width, height)]
    if exact:
        return min(exact, key=lambda m: rank[m.pixel_format])
    larger = [m for m in usable if m.width >= width and m.height >= height]
    if larger:
        return min(larger, key=lambda m: (m.pixels, rank[m.pixel_format]))
    return max(usable, key=lambda m: (m.pixels, -rank[m.pixel_format]))


def largest_mode(modes: Sequence[CameraMode]) -> CameraMode:
    """The camera's full resolution (for stills), MJPEG preferred at equal size."""
    usable = [m for m in modes if m.pixel_format in SUPPORTED_FORMATS]
    if not usable:
        raise DeviceUnavailableError(device="camera", reason="no supported pixel format")
    rank = {fmt: i for i, fmt in enumerate(SUPPORTED_FORMATS)}
    return max(usable, key=lambda m: (m.pixels, -rank[m.pixel_format]))


class FrameDecoder:
    """Raw frames to ``av.VideoFrame``; one per stream (the MJPEG decoder keeps state)."""

    def __init__(self) -> None:
        self._mjpeg: Any = None

    def decode(self, raw: RawFrame) -> Any:
        import av

        if raw.pixel_format == YUYV:
            expected = raw.width * raw.height * 2
            if len(raw.data) < expected:
                raise DeviceUnavailableError(device="camera", reason="short frame")
            packed = np.frombuffer(raw.data, dtype=np.uint8, count=expected)
            return av.VideoFrame.from_ndarray(
                packed.reshape(raw.height, raw.width, 2), format="yuyv422"
            )
        if raw.pixel_format == MJPEG:
            if self._mjpeg is None:
                self._mjpeg = av.CodecContext.create("mjpeg", "r")
            try:
                frames = self._mjpeg.decode(av.Packet(raw.data))
            except av.FFmpegError as exc:
                raise DeviceUnavailableError(device="camera", reason="corrupt frame") from exc
            if not frames:
                raise DeviceUnavailableError(device="camera", reason="corrupt frame")
            return frames[-1]
        raise DeviceUnavailableError(device="camera", reason="unsupported pixel format")


class LinuxpyCamera:
    """A V4L2 capture device (``/dev/videoN``) through linuxpy."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _open(self) -> Any:
        from linuxpy.video.device import Device

        try:
            device = Device(self.path)
            device.open()
        except OSError as exc:
            raise DeviceUnavailableError(device=self.path, reason="cannot open") from exc
        return device

    def modes(self) -> list[CameraMode]:
        from linuxpy.video.device import BufferType, FrameSizeType

        device = self._open()
        try:
            found: list[CameraMode] = []
            for fmt in device.info.buffer_formats(BufferType.VIDEO_CAPTURE):
                name = _fourcc(int(fmt.pixel_format))
                for size in device.info.format_frame_sizes(fmt.pixel_format):
                    if size.type == FrameSizeType.DISCRETE:
                        found.append(CameraMode(name, size.info.width, size.info.height))
                    else:  # stepwise/continuous: offer its largest and smallest
                        found.append(CameraMode(name, size.info.max_width, size.info.max_height))
                        found.append(CameraMode(name, size.info.min_width, size.info.min_height))
            return found
        except OSError as exc:
            raise DeviceUnavailableError(device=self.path, reason="cannot list modes") from exc
        finally:
            device.close()

    @contextlib.contextmanager
    def frames(self, mode: CameraMode, fps: int) -> Iterator[Iterator[RawFrame]]:
        from linuxpy.video.device import PixelFormat, VideoCapture

        device = self._open()
        try:
            capture = VideoCapture(device)
            capture.set_format(
                mode.width, mode.height, PixelFormat[_LINUXPY_NAMES[mode.pixel_format]]
            )
            with contextlib.suppress(OSError):  # not every driver lets the rate be chosen
                capture.set_fps(fps)
            delivered = capture.get_format()
            fmt = _fourcc(int(delivered.pixel_format))
            width, height = int(delivered.width), int(delivered.height)

            def stream() -> Iterator[RawFrame]:
                with capture:
                    for frame in capture:
                        yield RawFrame(fmt, width, height, bytes(frame.data[: frame.nbytes]))

            yield stream()
        except OSError as exc:
            raise DeviceUnavailableError(device=self.path, reason="capture failed") from exc
        finally:
            device.close()


_LINUXPY_NAMES = {MJPEG: "MJPEG", YUYV: "YUYV"}


def _fourcc(code: int) -> str:
    return code.to_bytes(4, "little").decode("ascii", errors="replace")


def capture_device_label(path: str) -> str | None:
    """The card name of a V4L2 node that can capture video, or None (metadata nodes etc.)."""
    try:
        from linuxpy.video.device import Capability, Device
    except ImportError:
        return None
    try:
        with Device(path) as device:
            if Capability.VIDEO_CAPTURE not in device.info.device_capabilities:
                return None
            return str(device.info.card) or path
    except OSError:
        return None
