"""Settings › Devices checks (``app.device_check.DeviceChecker``) on the console's device code.

- camera: ``media.devices.camera.open_camera`` (V4L2 on Linux), frames converted to
  RGB on a worker thread and handed to the loop about ten times a second; with no
  camera at all (and none chosen) the synthetic test picture.
- microphone / stethoscope input: ``media.steth.capture.Capture`` (PortAudio through
  sounddevice, float32 48 kHz mono, the stethoscope plugin's own capture) or its
  synthetic sources; the level is the RMS of what arrived since the last report.
  The capture is raw: the console puts no echo cancelling, noise suppression or
  automatic gain on a PortAudio input, so ``voice_processing=False`` (the stethoscope)
  is what is measured either way.
- speaker: a 660 Hz tone with soft edges written to a PortAudio output stream.

Device work (opening, reading frames, writing the tone, closing) runs on worker
threads; a cancelled check stops its device before it returns.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from app.device_check import (
    CAMERA_SECONDS,
    INPUT_SECONDS,
    TONE_SECONDS,
    CheckResult,
    Reason,
    RgbFrame,
)
from app.errors import ConsoleError, DeviceUnavailableError
from media.devices.audio import TONE, _resolve
from media.steth.capture import SYNTHETIC, Capture, _sounddevice

log = logging.getLogger(__name__)
_T = TypeVar("_T")

SAMPLE_RATE_HZ = 48_000
LEVEL_INTERVAL_S = 0.05
FRAME_INTERVAL_S = 0.1
PREVIEW_SIZE = (640, 360)
FLOOR_DB = -60.0  # the meter's bottom
SILENCE = 1e-4  # peak below this (-80 dBFS) over the whole check: nothing came in


def level_of(block: npt.NDArray[Any]) -> float:
    """0..1 on a dBFS scale from :data:`FLOOR_DB` to 0."""
    if block.size == 0:
        return 0.0
    rms = math.sqrt(float(np.mean(np.square(block, dtype=np.float64))))
    db = 20 * math.log10(rms) if rms > 0 else -120.0
    return min(1.0, max(0.0, (db - FLOOR_DB) / -FLOOR_DB))


def _reason(exc: ConsoleError) -> Reason:
    why = str(exc.params.get("reason", ""))
    if "PortAudio" in why:
        return Reason.NO_AUDIO_SYSTEM
    if why.startswith("no such") or "unknown device" in why:
        return Reason.NOT_FOUND
    return Reason.CANNOT_OPEN


async def _opened(
    loop: asyncio.AbstractEventLoop, open_: Callable[[], _T], close: Callable[[_T], object]
) -> _T:
    """``open_()`` on a worker thread. Cancelled while it runs (a driver taking its time,
    the dialog closing), the device is closed as soon as it has opened: never left on."""
    future = loop.run_in_executor(None, open_)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:

        def close_late(done: asyncio.Future[_T]) -> None:
            if not done.cancelled() and done.exception() is None:
                # Its own thread: the loop may be closing with the dialog's window.
                threading.Thread(
                    target=close, args=(done.result(),), name="device-check-close", daemon=True
                ).start()

        future.add_done_callback(close_late)
        raise


def _default_input_index() -> int:
    sd = _sounddevice()
    try:
        return int(sd.query_devices(kind="input")["index"])
    except Exception as exc:  # PortAudioError: no default input
        raise DeviceUnavailableError(device="default", reason="no such audio input") from exc


def _make_capture(device_id: str) -> Capture:
    """A started ``Capture`` for ``device_id`` (worker thread: opening probes the device)."""
    if device_id == TONE:
        capture: Capture = _ToneCapture(SYNTHETIC, sample_rate_hz=SAMPLE_RATE_HZ)
    else:
        device: str | int = device_id if device_id else _default_input_index()
        capture = Capture(device, sample_rate_hz=SAMPLE_RATE_HZ)
    capture.start()
    return capture


class _ToneCapture(Capture):
    """The microphone list's test tone (440 Hz, -20 dBFS) in place of the heart sound."""

    def _synth_loop(self) -> None:
        frames = self.block_frames
        phase = 0
        t_next = time.monotonic()
        while not self._stop.is_set():
            n = np.arange(phase, phase + frames)
            phase += frames
            self._push(0.1 * np.sin(2 * np.pi * 440.0 * n / self.sample_rate_hz))
            t_next += frames / self.sample_rate_hz
            delay = t_next - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)  # paced like a device clock; wakes on stop


class DeviceCheck:
    """``app.device_check.DeviceChecker`` on real devices (and the synthetic sources)."""

    async def audio_input(
        self,
        device_id: str,
        on_level: Callable[[float], None],
        *,
        seconds: float = INPUT_SECONDS,
        voice_processing: bool = True,
    ) -> CheckResult:
        loop = asyncio.get_running_loop()
        try:
            capture = await _opened(loop, lambda: _make_capture(device_id), lambda c: c.stop())
        except DeviceUnavailableError as exc:
            log.info("input check: cannot open (%s)", _reason(exc).value)
            return CheckResult(False, _reason(exc))
        used = device_id or "default"
        loudest = 0.0
        try:
            index = capture.ring.written
            end = loop.time() + seconds
            while loop.time() < end:
                await asyncio.sleep(LEVEL_INTERVAL_S)
                block, index = capture.ring.read_since(index)
                if block.size:
                    loudest = max(loudest, float(np.max(np.abs(block))))
                    on_level(level_of(block))
                if capture.poll() is not None:
                    on_level(0.0)
                    return CheckResult(False, Reason.STOPPED, used)
        finally:
            await asyncio.shield(loop.run_in_executor(None, capture.stop))
        if loudest < SILENCE:
            return CheckResult(False, Reason.NO_SIGNAL, used)
        return CheckResult(True, None, used)

    async def camera(
        self,
        device_id: str,
        on_frame: Callable[[RgbFrame], None],
        *,
        seconds: float = CAMERA_SECONDS,
    ) -> CheckResult:
        from media.devices import camera

        spec = device_id
        substitute = False
        if not spec:
            real = [d for d in camera.list_cameras() if d.device_id != camera.TESTSRC]
            spec = real[0].device_id if real else camera.TESTSRC
            substitute = not real
        width, height = PREVIEW_SIZE
        loop = asyncio.get_running_loop()
        try:
            track = await _opened(
                loop,
                lambda: camera.open_camera(spec, width, height, 15, fallback=False),
                lambda t: t.stop(),
            )
        except ConsoleError as exc:  # DeviceUnavailableError, MediaFileError
            log.info("camera check: cannot open (%s)", _reason(exc).value)
            return CheckResult(False, _reason(exc))
        source: Any = track.source  # type: ignore[attr-defined]

        def grab(counter: int) -> RgbFrame:
            return camera.frame_to_rgb(source.next_frame(counter))

        try:
            end = loop.time() + seconds
            counter = 0
            while loop.time() < end:
                on_frame(await loop.run_in_executor(None, grab, counter))
                counter += 1
                await asyncio.sleep(FRAME_INTERVAL_S)
        finally:
            await asyncio.shield(loop.run_in_executor(None, track.stop))
        if substitute:
            return CheckResult(False, Reason.TEST_PICTURE, spec)
        slot = getattr(source, "_slot", None)  # a device reader's: its thread's error
        if slot is not None and slot.error:
            return CheckResult(False, Reason.STOPPED, spec)
        read = getattr(source, "frames_read", counter)
        return CheckResult(read > 0, None if read > 0 else Reason.NO_SIGNAL, spec)

    async def speaker(self, device_id: str, *, seconds: float = TONE_SECONDS) -> CheckResult:
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        try:
            await loop.run_in_executor(None, _play_tone, device_id, seconds, stop)
        except DeviceUnavailableError as exc:
            log.info("speaker check: cannot play (%s)", _reason(exc).value)
            return CheckResult(False, _reason(exc))
        finally:
            stop.set()  # a cancelled check: the worker stops writing within a block
        return CheckResult(True, None, device_id or "default")


def _play_tone(device_id: str, seconds: float, stop: threading.Event) -> None:
    sd = _sounddevice()
    n = np.arange(round(seconds * SAMPLE_RATE_HZ))
    tone = (0.2 * np.sin(2 * np.pi * 660.0 * n / SAMPLE_RATE_HZ)).astype(np.float32)
    edge = min(tone.size // 2, SAMPLE_RATE_HZ // 50)  # 20 ms fades: no click
    ramp = np.linspace(0.0, 1.0, edge, dtype=np.float32)
    tone[:edge] *= ramp
    tone[tone.size - edge :] *= ramp[::-1]
    try:
        stream = sd.OutputStream(
            device=_resolve(device_id, "speaker"),
            samplerate=SAMPLE_RATE_HZ,
            channels=1,
            dtype="float32",
        )
        stream.start()
    except ValueError as exc:  # sounddevice: no device matches
        raise DeviceUnavailableError(device=device_id, reason="no such output") from exc
    except Exception as exc:  # PortAudioError: busy, unsupported, no default output
        raise DeviceUnavailableError(device=device_id, reason="cannot open output") from exc
    try:
        block = SAMPLE_RATE_HZ // 20
        for start in range(0, tone.size, block):
            if stop.is_set():
                break
            stream.write(tone[start : start + block].reshape(-1, 1))
    except Exception as exc:  # the output went away mid-tone
        raise DeviceUnavailableError(device=device_id, reason="output stopped") from exc
    finally:
        try:
            stream.abort()
            stream.close()
        except Exception:
            log.debug("closing the output failed", exc_info=True)
