"""Exam-camera stills at the camera's full resolution, over a preview.

:class:`StillCamera` runs one camera on its own thread: it streams the preview
mode (the mode nearest 1280x720) and keeps only the latest frame; a still request
makes the thread leave the preview, stream the camera's **largest** mode, skip a
few frames while exposure settles after the switch, take one frame, and go back
to the preview mode. The still is the camera's own JPEG bytes when that mode
delivers MJPEG, otherwise the frame encoded once as JPEG quality 95; its size is
read back from the frame, because cameras do not always deliver the mode they
were asked for. What only a real camera can show (docs/images.md): how long a
given camera takes to switch modes, and whether its first frames after a switch
are dark or soft (``warmup_frames``).

Cameras are :class:`media.devices.v4l2.RawCamera` s: ``LinuxpyCamera`` for V4L2
devices, and :class:`LavfiCamera`, a multi-mode camera made of PyAV's ``lavfi``
sources (the demo's "test camera" and the tests': no camera exists on the CI
machines).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.errors import DeviceUnavailableError, MediaFileError
from media.devices.v4l2 import (
    MJPEG,
    YUYV,
    CameraMode,
    FrameDecoder,
    RawCamera,
    RawFrame,
    choose_mode,
    largest_mode,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

JPEG_QUALITY = 95
PREVIEW_SIZE = (1280, 720)
STILL_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class StillFrame:
    """One still as taken: the bytes to store and the picture to check and show."""

    data: bytes  # JPEG: the camera's own, or encoded once at quality 95
    width: int  # as delivered (read back from the frame)
    height: int
    mode: CameraMode  # the mode asked for
    camera_jpeg: bool
    rgb: npt.NDArray[np.uint8]  # scaled down by the decoder (long side >= 1024 px)


@dataclass(frozen=True, slots=True)
class Preview:
    rgb: npt.NDArray[np.uint8]
    width: int
    height: int
    at_monotonic_s: float


def encode_jpeg(rgb: npt.NDArray[np.uint8], quality: int = JPEG_QUALITY) -> bytes:
    """Encode once (Pillow's libjpeg); never called on a camera's own JPEG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, subsampling=0)
    return buf.getvalue()


def _to_rgb(decoder: FrameDecoder, raw: RawFrame) -> npt.NDArray[np.uint8]:
    frame = decoder.decode(raw)
    rgb: npt.NDArray[np.uint8] = frame.to_ndarray(format="rgb24")
    return rgb


def make_still(raw: RawFrame, mode: CameraMode) -> StillFrame:
    """The still from one raw frame: MJPEG bytes kept as delivered, else JPEG q95 once.

    The size is read back from the JPEG itself. ``rgb`` is the picture decoded with
    DCT scaling (long side at least 1024 px): enough to show and judge it, and every
    byte is entropy-decoded, so a damaged frame is refused here; the verdict is kept
    (``quality.remember``) so storing the same bytes does not decode them again."""
    from media.images.quality import judge_still

    data = raw.data if raw.pixel_format == MJPEG else encode_jpeg(_to_rgb(FrameDecoder(), raw))
    try:
        info, _report, rgb = judge_still(data)
    except MediaFileError as exc:
        raise DeviceUnavailableError(device="camera", reason="corrupt frame") from exc
    return StillFrame(data, info.width_px, info.height_px, mode, raw.pixel_format == MJPEG, rgb)


class StillCamera:
    """One camera: a preview thread and stills at full resolution (see the module doc)."""

    def __init__(
        self,
        raw: RawCamera,
        device_id: str,
        *,
        preview_size: tuple[int, int] = PREVIEW_SIZE,
        fps: int = 30,
        warmup_frames: int = 2,
    ) -> None:
        self.device_id = device_id
        self._raw = raw
        self._fps = fps
        self._warmup = warmup_frames
        self.modes: tuple[CameraMode, ...] = tuple(raw.modes())
        self.preview_mode = choose_mode(self.modes, *preview_size)
        self.still_mode = largest_mode(self.modes)
        self._latest: Preview | None = None
        self._frames = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._request: concurrent.futures.Future[StillFrame] | None = None
        self._error: DeviceUnavailableError | None = None
        self._thread = threading.Thread(target=self._run, name="still-camera", daemon=True)
        self._listeners: list[Any] = []
        #: Modes streamed, in order (the tests read it to see the switch and the return).
        self.mode_log: list[CameraMode] = []

    # -- control (any thread) -------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    def latest(self) -> Preview | None:
        with self._lock:
            return self._latest

    @property
    def frames_seen(self) -> int:
        return self._frames

    @property
    def error(self) -> DeviceUnavailableError | None:
        return self._error

    def on_frame(self, callback: Any) -> None:
        """``callback()`` from the camera thread after each preview frame (keep it cheap)."""
        self._listeners.append(callback)

    def request_still(self) -> concurrent.futures.Future[StillFrame]:
        """Ask the camera thread for a still; the future resolves with it (or its error)."""
        future: concurrent.futures.Future[StillFrame] = concurrent.futures.Future()
        if self._error is not None or self._stop.is_set():
            future.set_exception(
                self._error or DeviceUnavailableError(device=self.device_id, reason="closed")
            )
            return future
        with self._lock:
            if self._request is not None and not self._request.done():
                return self._request  # one still at a time
            self._request = future
        return future

    async def take_still(self) -> StillFrame:
        """The still (loop thread): the work happens on the camera thread."""
        future = self.request_still()
        return await asyncio.wait_for(asyncio.wrap_future(future), STILL_TIMEOUT_S)

    # -- the camera thread -----------------------------------------------------------
    def _pending(self) -> concurrent.futures.Future[StillFrame] | None:
        with self._lock:
            request = self._request
        return request if request is not None and not request.done() else None

    def _run(self) -> None:
        decoder = FrameDecoder()
        try:
            while not self._stop.is_set():
                self._preview(decoder)
                request = self._pending()
                if request is not None:
                    self._serve(request)
        except DeviceUnavailableError as exc:
            self._error = exc
        except Exception as exc:  # a driver or decoder failure: the camera is unusable
            log.warning("camera thread ended: %s", type(exc).__name__)
            self._error = DeviceUnavailableError(device=self.device_id, reason="camera failed")
        finally:
            request = self._pending()
            if request is not None:
                request.set_exception(
                    self._error or DeviceUnavailableError(device=self.device_id, reason="closed")
                )

    def _preview(self, decoder: FrameDecoder) -> None:
        self.mode_log.append(self.preview_mode)
        with self._raw.frames(self.preview_mode, self._fps) as frames:
            for raw in frames:
                if self._stop.is_set() or self._pending() is not None:
                    return
                rgb = _to_rgb(decoder, raw)
                preview = Preview(rgb, rgb.shape[1], rgb.shape[0], time.monotonic())
                with self._lock:
                    self._latest = preview
                self._frames += 1
                for listener in list(self._listeners):
                    listener()
        raise DeviceUnavailableError(device=self.device_id, reason="the camera stopped")

    def _serve(self, request: concurrent.futures.Future[StillFrame]) -> None:
        """Largest mode, skip the warm-up frames, one frame; the preview resumes after."""
        mode = self.still_mode
        self.mode_log.append(mode)
        try:
            with self._raw.frames(mode, self._fps) as frames:
                for index, raw in enumerate(frames):
                    if index < self._warmup:
                        continue  # exposure and focus settle after a mode switch
                    still = make_still(raw, mode)
                    break
                else:
                    raise DeviceUnavailableError(device=self.device_id, reason="no still frame")
        except DeviceUnavailableError as exc:
            request.set_exception(exc)  # the preview resumes: a retake may work
            return
        request.set_result(still)


# --- a multi-mode camera made of lavfi sources ---------------------------------------


class LavfiCamera:
    """A :class:`RawCamera` whose frames come from PyAV's ``lavfi`` (``testsrc2`` by
    default), in the modes it is given: MJPEG modes deliver real JPEG bytes (PyAV's
    MJPEG encoder), YUYV modes packed 4:2:2. ``delivered`` maps a mode to the size it
    really delivers (cameras that do not honour a mode); ``sent`` keeps the last JPEG
    bytes each MJPEG mode delivered (the tests compare a still's bytes with them)."""

    def __init__(
        self,
        modes: Sequence[CameraMode],
        *,
        source: str = "testsrc2",
        delivered: dict[CameraMode, tuple[int, int]] | None = None,
    ) -> None:
        self._modes = list(modes)
        self._source = source
        self._delivered = dict(delivered or {})
        self.sent: dict[CameraMode, bytes] = {}
        self.opened: list[CameraMode] = []

    def modes(self) -> list[CameraMode]:
        return list(self._modes)

    @contextlib.contextmanager
    def frames(self, mode: CameraMode, fps: int) -> Iterator[Iterator[RawFrame]]:
        import av

        if mode not in self._modes:
            raise DeviceUnavailableError(device="lavfi", reason="mode not offered")
        self.opened.append(mode)
        width, height = self._delivered.get(mode, (mode.width, mode.height))
        container = av.open(f"{self._source}=size={width}x{height}:rate={fps}", format="lavfi")
        encoder: Any = None
        if mode.pixel_format == MJPEG:
            encoder = av.CodecContext.create("mjpeg", "w")
            encoder.width, encoder.height = width, height
            encoder.pix_fmt = "yuvj422p"
            encoder.options = {"qscale": "3"}

        def stream() -> Iterator[RawFrame]:
            for frame in container.decode(video=0):
                if mode.pixel_format == MJPEG:
                    packets = encoder.encode(frame.reformat(format="yuvj422p"))
                    data = b"".join(bytes(p) for p in packets)
                    self.sent[mode] = data
                    yield RawFrame(MJPEG, width, height, data)
                else:
                    packed = frame.reformat(format="yuyv422").to_ndarray()
                    yield RawFrame(YUYV, width, height, packed.tobytes())

        try:
            yield stream()
        finally:
            container.close()


#: The demo's test camera: a UVC-like set of modes, the largest 2592x1944 MJPEG.
TEST_CAMERA_MODES: tuple[CameraMode, ...] = (
    CameraMode(YUYV, 640, 480),
    CameraMode(MJPEG, 1280, 720),
    CameraMode(MJPEG, 2592, 1944),
)


__all__ = [
    "TEST_CAMERA_MODES",
    "LavfiCamera",
    "Preview",
    "StillCamera",
    "StillFrame",
    "encode_jpeg",
    "make_still",
]
