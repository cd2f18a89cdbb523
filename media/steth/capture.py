"""Audio capture for the stethoscope: PortAudio (sounddevice) or a synthetic source.

The device's callback thread only copies its block into a :class:`RingBuffer`
(a preallocated numpy array, one writer, readers that never block it) and
updates the clipping peak; everything else (drawing, filtering, heart rate,
recording) reads the ring at its own pace. A reader that falls more than the
ring's capacity behind loses the oldest audio and sees ``overruns``.

If the device disappears mid-stream (unplugged USB stethoscope), PortAudio
stops the stream; :attr:`Capture.error` then holds a
:class:`DeviceUnavailableError` and what was captured until then stays readable,
so a recording in progress keeps everything up to the unplug.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from app.errors import DeviceUnavailableError

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
MAX_SAMPLE_RATE_HZ = 48_000
CLIP_LEVEL = 0.99  # |sample| at or above this (after gain) counts as clipping
SYNTHETIC = "synthetic"
#: A running stream that delivered before and then nothing for this long is gone
#: (some back ends stall rather than error when a USB device is pulled).
STALL_S = 2.0


class RingBuffer:
    """Single-writer ring of float32 mono samples with a monotonically growing write index.

    The writer (audio callback) copies into the array and *then* advances
    ``written``; readers copy ranges by absolute sample index. No lock on the
    write path: a plain int store is atomic under the GIL, and a reader that asks
    for samples already overwritten gets only the ones still there.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self._buf = np.zeros(self.capacity, dtype=np.float32)
        self.written = 0  # total samples ever written

    def write(self, block: npt.ArrayLike) -> None:
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        n = x.size
        if n == 0:
            return
        if n >= self.capacity:
            x = x[-self.capacity :]
            start = (self.written + n - self.capacity) % self.capacity
        else:
            start = self.written % self.capacity
        m = x.size
        first = min(m, self.capacity - start)
        self._buf[start : start + first] = x[:first]
        if first < m:
            self._buf[: m - first] = x[first:]
        self.written += n

    def read_since(self, index: int, max_samples: int | None = None) -> tuple[FloatArray, int]:
        """Samples from absolute ``index`` up to now (at most ``max_samples``), and the
        index after them. Samples lost to overwriting are skipped."""
        end = self.written
        start = max(index, end - self.capacity)
        if max_samples is not None:
            end = min(end, start + max_samples)
        n = max(0, end - start)
        if n == 0:
            return np.zeros(0, dtype=np.float32), start
        pos = start % self.capacity
        first = min(n, self.capacity - pos)
        out = np.empty(n, dtype=np.float32)
        out[:first] = self._buf[pos : pos + first]
        if first < n:
            out[first:] = self._buf[: n - first]
        return out, end

    def latest(self, n: int) -> FloatArray:
        """The most recent ``n`` samples (fewer at the start)."""
        out, _ = self.read_since(max(0, self.written - n))
        return out


@dataclass(frozen=True, slots=True)
class InputDevice:
    index: int
    name: str
    max_channels: int
    default_sample_rate_hz: float


class _Source(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    @property
    def active(self) -> bool: ...


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # libportaudio missing
        raise DeviceUnavailableError(device="audio", reason="no PortAudio library") from exc
    return sounddevice


def list_input_devices() -> list[InputDevice]:
    """PortAudio inputs present now (``[]`` without PortAudio)."""
    try:
        sd = _sounddevice()
        entries = list(sd.query_devices())
    except Exception as exc:  # no PortAudio or its init failed
        log.info("no audio inputs listed: %s", type(exc).__name__)
        return []
    return [
        InputDevice(i, str(e["name"]), int(e["max_input_channels"]), float(e["default_samplerate"]))
        for i, e in enumerate(entries)
        if int(e["max_input_channels"]) > 0
    ]


def resolve_device(spec: str | int) -> int:
    """A device index from an index, ``"sd:<index>"`` or a name (substring, case-insensitive)."""
    devices = list_input_devices()
    if isinstance(spec, int) or str(spec).removeprefix("sd:").isdigit():
        index = int(str(spec).removeprefix("sd:"))
        if any(d.index == index for d in devices):
            return index
    else:
        wanted = str(spec).lower()
        for d in devices:
            if d.name.lower() == wanted:
                return d.index
        for d in devices:
            if wanted in d.name.lower():
                return d.index
    raise DeviceUnavailableError(device=str(spec), reason="no such audio input")


class Capture:
    """One running input feeding a ring buffer; ``start()``/``stop()`` (any thread).

    ``device`` is an index/name (see :func:`resolve_device`) or :data:`SYNTHETIC`
    (a synthetic heart sound paced by a thread, for the demo and when no device
    exists). ``gain`` (linear) is applied in the callback before clipping
    detection; it may be changed at any time.
    """

    def __init__(
        self,
        device: str | int = SYNTHETIC,
        *,
        sample_rate_hz: int = MAX_SAMPLE_RATE_HZ,
        block_frames: int = 480,
        ring_seconds: float = 30.0,
        gain: float = 1.0,
        synthetic_bpm: float = 72.0,
    ) -> None:
        if not (8_000 <= sample_rate_hz <= MAX_SAMPLE_RATE_HZ):
            raise DeviceUnavailableError(
                device=str(device), reason=f"sample rate {sample_rate_hz} Hz is not supported"
            )
        self.device = device
        self.sample_rate_hz = int(sample_rate_hz)
        self.block_frames = int(block_frames)
        self.ring = RingBuffer(round(ring_seconds * sample_rate_hz))
        self.gain = float(gain)
        self.peak = 0.0  # max |x| since the last clipping_check
        self.clipped_samples = 0
        self.status_flags = 0  # PortAudio under/overflow count
        self.error: DeviceUnavailableError | None = None
        self.last_block_at: float | None = None  # monotonic time of the last block
        self._synthetic_bpm = synthetic_bpm
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- the callback path: copy, gain, peak; nothing else ------------------------
    def _push(self, block: npt.NDArray[Any]) -> None:
        x = np.asarray(block, dtype=np.float32)
        if x.ndim == 2:
            x = x[:, 0]
        if self.gain != 1.0:
            x = x * np.float32(self.gain)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        self.peak = max(self.peak, peak)
        if peak >= CLIP_LEVEL:
            self.clipped_samples += int(np.count_nonzero(np.abs(x) >= CLIP_LEVEL))
        self.ring.write(x)
        self.last_block_at = time.monotonic()

    def _callback(self, data: npt.NDArray[Any], frames: int, _time: Any, status: Any) -> None:
        if status:
            self.status_flags += 1
        self._push(data)

    def _finished(self) -> None:
        # PortAudio calls this when the stream stops, including when the device goes away.
        if not self._stop.is_set() and self.error is None:
            self.error = DeviceUnavailableError(device=str(self.device), reason="device stopped")

    # -- control -----------------------------------------------------------------
    def start(self) -> None:
        if self.device == SYNTHETIC:
            self._thread = threading.Thread(
                target=self._synth_loop, name="steth-synth", daemon=True
            )
            self._thread.start()
            return
        sd = _sounddevice()
        index = resolve_device(self.device)
        try:
            self._stream = sd.InputStream(
                device=index,
                channels=1,
                samplerate=self.sample_rate_hz,
                blocksize=self.block_frames,
                dtype="float32",
                callback=self._callback,
                finished_callback=self._finished,
            )
            self._stream.start()
        except Exception as exc:  # PortAudioError, ValueError (rate/channels)
            self._stream = None
            raise DeviceUnavailableError(device=str(self.device), reason=str(exc)[:120]) from exc

    def poll(self) -> DeviceUnavailableError | None:
        """Check the device is still delivering (any thread, cheap); the error if not."""
        if self.error is None and self._stream is not None and not self._stop.is_set():
            try:
                stalled = (
                    self.last_block_at is not None
                    and time.monotonic() - self.last_block_at > STALL_S
                )
                if not self._stream.active or stalled:
                    self.error = DeviceUnavailableError(
                        device=str(self.device),
                        reason="no sound from the device" if stalled else "device stopped",
                    )
            except Exception as exc:  # the stream is already broken
                self.error = DeviceUnavailableError(device=str(self.device), reason=str(exc)[:120])
        return self.error

    def clipping_check(self) -> tuple[float, bool]:
        """``(peak since the last call, clipped?)``; resets the peak (display thread)."""
        peak, self.peak = self.peak, 0.0
        return peak, peak >= CLIP_LEVEL

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except Exception:
                log.debug("closing the input stream failed", exc_info=True)
            self._stream = None

    def _synth_loop(self) -> None:
        from media.steth.synth import heart_sound

        loop_s = 20.0
        clip = heart_sound(
            self._synthetic_bpm, loop_s, sample_rate_hz=self.sample_rate_hz, snr_db=25.0
        ).astype(np.float32)
        pos = 0
        t_next = time.monotonic()
        block_s = self.block_frames / self.sample_rate_hz
        while not self._stop.is_set():
            block = np.take(clip, np.arange(pos, pos + self.block_frames), mode="wrap")
            pos = (pos + self.block_frames) % clip.size
            self._push(block)
            t_next += block_s
            delay = t_next - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)  # paced like a device clock; also wakes on stop
