"""Cameras as aiortc video tracks: synthetic pattern, video files (PyAV), real devices.

``open_camera(spec, width, height, fps)`` returns a started
``aiortc.MediaStreamTrack``. ``spec`` is:

- ``"testsrc"``: a moving test pattern generated with numpy directly in yuv420p
  (no colour conversion per frame), every frame stamped with
  :mod:`media.framestamp` (frame counter + send time) so the far end can measure
  loss and latency from the picture;
- a path to a video file: decoded with PyAV on a thread, scaled, looped at the end;
- a camera: an index (``"0"``; ``"cv:<n>"`` is still accepted), a device path
  (``"/dev/video0"``) or a DirectShow name (``"video=<name>"``): V4L2 through
  linuxpy on Linux (:mod:`media.devices.v4l2`), FFmpeg's AVFoundation and DirectShow
  inputs through PyAV on macOS and Windows, at the camera mode nearest the
  requested size, scaled to exactly that size.

Device reads happen on a thread that keeps only the latest frame: the track
never queues old pictures (drop rather than delay). ``recv()`` paces frames with
the track's own clock at ``fps``, like aiortc's ``VideoStreamTrack``.

A missing or unusable device raises :class:`app.errors.DeviceUnavailableError`;
``fallback=True`` returns the synthetic camera instead (demo, carts without a
camera), logging why.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import functools
import glob
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from app.errors import DeviceUnavailableError, MediaFileError
from app.visit import MediaDevice
from media import framestamp
from media.devices.v4l2 import CameraMode, RawCamera

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack

log = logging.getLogger(__name__)

TESTSRC = "testsrc"
VIDEO_CLOCK_HZ = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_HZ)
FIRST_FRAME_TIMEOUT_S = 3.0


class FrameSource(Protocol):
    """Produces the frame to send now; called on the event loop, must not block long."""

    def next_frame(self, counter: int) -> Any: ...  # av.VideoFrame

    def stop(self) -> None: ...


# --- synthetic ------------------------------------------------------------------------


class SyntheticSource:
    """Colour bars and a gradient scrolling sideways, built in yuv420p, stamped per frame."""

    def __init__(self, width: int, height: int, *, stamp: bool = True) -> None:
        if width < 64 or height < 48 or width % 2 or height % 2:
            raise DeviceUnavailableError(device=TESTSRC, reason="unsupported size")
        self.width = width
        self.height = height
        self.stamp = stamp
        # Twice as wide as the output so each frame is a slice at a moving offset.
        x = np.arange(2 * width)
        y = np.arange(height)[:, None]
        bars = (x // max(1, width // 8)) % 8
        luma_of_bar = np.array([235, 210, 170, 145, 106, 81, 41, 16], dtype=np.float32)
        self._y = (
            (luma_of_bar[bars][None, :] * 0.7 + (y * 255.0 / height) * 0.3)
            .clip(16, 235)
            .astype(np.uint8)
        )
        cx = np.arange(width)  # chroma planes: half height, half of the double width
        u_row = (128 + 100 * np.sin(cx * 2 * np.pi / width)).astype(np.uint8)
        v_row = (128 + 100 * np.cos(cx * 4 * np.pi / width)).astype(np.uint8)
        self._u = np.repeat(u_row[None, :], height // 2, axis=0)
        self._v = np.repeat(v_row[None, :], height // 2, axis=0)
        self._buf = np.empty((height * 3 // 2, width), dtype=np.uint8)

    def next_frame(self, counter: int) -> Any:
        import av

        w, h = self.width, self.height
        offset = (counter * 8) % w
        buf = self._buf
        buf[:h] = self._y[:, offset : offset + w]
        # I420 layout: the U plane then the V plane, each (h/2 x w/2) packed row-major.
        quarter = h // 4
        coff = offset // 2
        buf[h : h + quarter] = self._u[:, coff : coff + w // 2].reshape(quarter, w)
        buf[h + quarter :] = self._v[:, coff : coff + w // 2].reshape(quarter, w)
        if self.stamp:
            code_w, code_h = framestamp.code_size_px(w)
            framestamp.stamp(buf[:h], counter)
            # Neutral chroma under the code so it reads the same in RGB.
            u = buf[h : h + quarter].reshape(h // 2, w // 2)
            v = buf[h + quarter :].reshape(h // 2, w // 2)
            u[: code_h // 2, : code_w // 2] = 128
            v[: code_h // 2, : code_w // 2] = 128
        return av.VideoFrame.from_ndarray(buf, format="yuv420p")

    def stop(self) -> None:
        return None


# --- threaded device readers --------------------------------------------------------


class _LatestFrame:
    """One slot shared by a reader thread and the track: the newest frame wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: Any = None
        self._ready = threading.Event()
        self.error: str = ""
        self.count = 0  # frames read from the device so far (the tech check's frame rate)

    def put(self, frame: Any) -> None:
        with self._lock:
            self._frame = frame
            self.count += 1
        self._ready.set()

    def get(self, timeout_s: float) -> Any:
        self._ready.wait(timeout_s)
        with self._lock:
            return self._frame


class _ThreadedSource:
    def __init__(self, name: str, width: int, height: int, stamp: bool) -> None:
        self.width = width
        self.height = height
        self.stamp = stamp
        self._slot = _LatestFrame()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run_guarded, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if self._slot.get(FIRST_FRAME_TIMEOUT_S) is None:
            self.stop()
            raise DeviceUnavailableError(
                device=self.device_name(), reason=self._slot.error or "no picture"
            )

    def device_name(self) -> str:
        raise NotImplementedError

    @property
    def frames_read(self) -> int:
        return self._slot.count

    def _run(self) -> None:
        raise NotImplementedError

    def _run_guarded(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a reader thread must never take the app down
            self._slot.error = type(exc).__name__
            log.warning("camera reader stopped: %s", type(exc).__name__)

    def next_frame(self, counter: int) -> Any:
        import av

        frame = self._slot.get(0.0)
        if frame is None:  # unplugged before the first frame: black, not a crash
            frame = av.VideoFrame(self.width, self.height, "yuv420p")
        if self.stamp:
            image = frame.to_ndarray(format="rgb24")
            framestamp.stamp(image, counter)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        return frame

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)


class FileSource(_ThreadedSource):
    """A video file decoded with PyAV at its own rate, scaled to the requested size, looped."""

    def __init__(self, path: Path, width: int, height: int, *, stamp: bool = False) -> None:
        super().__init__("camera-file", width, height, stamp)
        self.path = path

    def device_name(self) -> str:
        return self.path.name

    def _run(self) -> None:
        import av

        while not self._stopped.is_set():
            try:
                container = av.open(str(self.path))
            except (av.FFmpegError, OSError) as exc:
                self._slot.error = "unreadable file"
                raise MediaFileError(name=self.path.name, reason="not a video file") from exc
            with container:
                if not container.streams.video:
                    self._slot.error = "no video stream"
                    return
                stream = container.streams.video[0]
                rate = float(stream.average_rate or 30)
                start = time.monotonic()
                for index, frame in enumerate(container.decode(stream)):
                    if self._stopped.is_set():
                        return
                    self._slot.put(
                        frame.reformat(width=self.width, height=self.height, format="yuv420p")
                    )
                    delay = start + (index + 1) / rate - time.monotonic()
                    if delay > 0:
                        self._stopped.wait(delay)


class V4L2Source(_ThreadedSource):
    """A Linux camera (``/dev/videoN``) through :mod:`media.devices.v4l2`.

    Streams the mode nearest the requested size (MJPEG preferred), scaled to exactly
    the requested size; ``camera`` is injectable so tests can feed real JPEG and YUYV
    bytes without a device.
    """

    def __init__(self, camera: RawCamera, name: str, width: int, height: int, fps: int) -> None:
        super().__init__("camera-read", width, height, stamp=False)
        self.camera = camera
        self.name = name
        self.fps = fps
        self.mode: CameraMode | None = None

    def device_name(self) -> str:
        return self.name

    def _run(self) -> None:
        from media.devices.v4l2 import FrameDecoder, choose_mode

        try:
            self.mode = choose_mode(self.camera.modes(), self.width, self.height)
        except DeviceUnavailableError as exc:
            self._slot.error = str(exc.params.get("reason", "cannot open"))
            return
        decoder = FrameDecoder()
        failures = 0
        with self.camera.frames(self.mode, self.fps) as frames:
            for raw in frames:
                if self._stopped.is_set():
                    return
                try:
                    frame = decoder.decode(raw)
                except DeviceUnavailableError:
                    failures += 1  # a torn JPEG now and then is normal on USB
                    if failures > 30:
                        self._slot.error = "stopped delivering"
                        return
                    continue
                failures = 0
                self._slot.put(
                    frame.reformat(width=self.width, height=self.height, format="yuv420p")
                )
        if not self._stopped.is_set():
            self._slot.error = "stopped delivering"
            log.warning("camera %s stopped delivering frames", self.name)


class AVDeviceSource(_ThreadedSource):
    """A camera through FFmpeg's own input devices in PyAV's wheels: DirectShow on
    Windows (``video=<name>``), AVFoundation on macOS (an index). Not run on Linux,
    whose PyAV wheel has no V4L2 input (:class:`V4L2Source` serves Linux)."""

    def __init__(self, target: str, width: int, height: int, fps: int) -> None:
        super().__init__("camera-read", width, height, stamp=False)
        self.target = target
        self.fps = fps

    def device_name(self) -> str:
        return self.target

    def _run(self) -> None:
        import av

        input_format = "avfoundation" if sys.platform == "darwin" else "dshow"
        options = {"video_size": f"{self.width}x{self.height}", "framerate": str(self.fps)}
        try:
            container = av.open(self.target, format=input_format, options=options)
        except (av.FFmpegError, OSError):
            self._slot.error = "cannot open"
            return
        with container:
            for frame in container.decode(video=0):
                if self._stopped.is_set():
                    return
                self._slot.put(
                    frame.reformat(width=self.width, height=self.height, format="yuv420p")
                )
        self._slot.error = "stopped delivering"


# --- the track ----------------------------------------------------------------------


@functools.cache
def _track_class() -> type[MediaStreamTrack]:
    from aiortc import MediaStreamTrack

    class CameraTrack(MediaStreamTrack):
        kind = "video"

        def __init__(self, source: FrameSource, fps: int, label: str) -> None:
            super().__init__()
            self.source = source
            self.fps = fps
            self.label = label
            self._counter = 0
            self._start: float | None = None

        async def recv(self) -> Any:
            from aiortc.mediastreams import MediaStreamError

            if self.readyState != "live":
                raise MediaStreamError
            if self._start is None:
                self._start = time.monotonic()
            else:
                wait = self._start + self._counter / self.fps - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                elif wait < -0.5:  # the loop stalled: do not burst to catch up
                    self._start = time.monotonic() - self._counter / self.fps
            frame = self.source.next_frame(self._counter)
            frame.pts = self._counter * VIDEO_CLOCK_HZ // self.fps
            frame.time_base = VIDEO_TIME_BASE
            self._counter += 1
            return frame

        def stop(self) -> None:
            self.source.stop()
            super().stop()

    return CameraTrack


def make_track(source: FrameSource, fps: int, label: str = "camera") -> MediaStreamTrack:
    cls: Any = _track_class()
    track: MediaStreamTrack = cls(source, fps, label)
    return track


def _camera_target(spec: str) -> str | None:
    """A device spec as the OS names it: ``/dev/videoN`` on Linux, else the spec itself.

    ``"N"`` and the older ``"cv:N"`` mean the N-th camera.
    """
    index = spec[3:] if spec.startswith("cv:") else spec
    if index.isdigit():
        if sys.platform.startswith("linux"):
            return f"/dev/video{int(index)}"
        if sys.platform == "win32":
            return None  # DirectShow opens cameras by name: "video=<name>"
        return index
    if spec.startswith("/dev/video") or spec.startswith("video="):
        return spec
    return None


def _device_source(target: str, width: int, height: int, fps: int) -> _ThreadedSource:
    if sys.platform.startswith("linux"):
        from media.devices.v4l2 import LinuxpyCamera

        if not os.path.exists(target):
            raise DeviceUnavailableError(device=target, reason="no such device")
        return V4L2Source(LinuxpyCamera(target), target, width, height, fps)
    return AVDeviceSource(target, width, height, fps)


def open_camera(
    spec: str,
    width: int = 1280,
    height: int = 720,
    fps: int = 30,
    *,
    fallback: bool = False,
    stamp: bool | None = None,
) -> MediaStreamTrack:
    """A live video track for ``spec`` (see the module docstring).

    ``stamp`` draws the framestamp barcode into every frame (default: only for
    ``testsrc``). ``fallback`` returns the synthetic camera when ``spec`` fails.
    """
    if fps <= 0 or fps > 120:
        raise DeviceUnavailableError(device=spec, reason="unsupported frame rate")
    try:
        source: FrameSource
        if spec == TESTSRC:
            source = SyntheticSource(width, height, stamp=True if stamp is None else stamp)
        elif (target := _camera_target(spec)) is not None:
            device = _device_source(target, width, height, fps)
            device.stamp = bool(stamp)
            device.start()
            source = device
        elif Path(spec).is_file():
            file_source = FileSource(Path(spec), width, height, stamp=bool(stamp))
            try:
                file_source.start()
            except DeviceUnavailableError as exc:
                raise MediaFileError(name=Path(spec).name, reason="not a video file") from exc
            source = file_source
        else:
            raise DeviceUnavailableError(device=spec, reason="no such camera")
    except (DeviceUnavailableError, MediaFileError) as exc:
        if not fallback or spec == TESTSRC:
            raise
        log.warning("camera unavailable (%s); using the synthetic camera", exc.message_key)
        return open_camera(TESTSRC, width, height, fps, stamp=stamp)
    return make_track(source, fps, label=spec)


def list_cameras() -> list[MediaDevice]:
    """The synthetic camera plus what the OS shows (V4L2 capture nodes on Linux, DirectShow
    devices by name on Windows, AVFoundation indices on macOS)."""
    found = [MediaDevice(device_id=TESTSRC, label="Test pattern", kind="camera")]
    if sys.platform.startswith("linux"):
        from media.devices.v4l2 import capture_device_label

        for node in sorted(glob.glob("/dev/video*")):
            label = capture_device_label(node)
            if label is not None:  # metadata nodes of UVC cameras cannot capture
                found.append(MediaDevice(device_id=node, label=label, kind="camera"))
        return found
    found.extend(_avdevice_cameras())
    return found


def _avdevice_cameras() -> list[MediaDevice]:
    """Cameras FFmpeg's input device lists (it only logs them: read its log)."""
    import av
    import av.logging

    input_format = "avfoundation" if sys.platform == "darwin" else "dshow"
    # Listing "fails" by design after FFmpeg has logged the devices.
    with av.logging.Capture() as lines, contextlib.suppress(av.FFmpegError, OSError):
        av.open(
            "dummy" if input_format == "dshow" else "",
            format=input_format,
            options={"list_devices": "true"},
        )
    found: list[MediaDevice] = []
    for _level, _name, message in lines:
        text = str(message).strip()
        if input_format == "dshow" and text.endswith("(video)") and '"' in text:
            name = text.split('"')[1]
            found.append(MediaDevice(device_id=f"video={name}", label=name, kind="camera"))
        elif input_format == "avfoundation" and text.startswith("[") and "]" in text:
            index, _, name = text[1:].partition("] ")
            if index.isdigit() and "screen" not in name.lower():
                found.append(MediaDevice(device_id=index, label=name, kind="camera"))
            if "audio devices" in text.lower():
                break
    return found


def frame_to_rgb(frame: Any) -> npt.NDArray[np.uint8]:
    """A decoded PyAV frame as the RGB24 ndarray ``Visit.put_frame`` expects."""
    image: npt.NDArray[np.uint8] = frame.to_ndarray(format="rgb24")
    return image
