"""Microphones and speakers through sounddevice (PortAudio), plus a synthetic tone.

- ``open_microphone(spec)`` returns a live aiortc audio track of 48 kHz mono s16
  frames of 20 ms (960 samples): ``"tone"`` is a synthetic 440 Hz tone paced
  with the track's own clock (like aiortc's ``AudioStreamTrack``); anything else
  names a PortAudio input (``"sd:<index>"``, an index, a device-name substring,
  or ``"default"``) and is paced by the device's clock. At most
  ``MAX_QUEUED_FRAMES`` are queued (oldest dropped) so a stalled loop never turns
  into growing delay.
- ``SpeakerSink(track, device)`` plays a remote audio track on a PortAudio output
  (resampled to 48 kHz mono s16), keeping at most ~100 ms buffered.

A missing device, or no PortAudio at all, raises
:class:`app.errors.DeviceUnavailableError`; ``fallback=True`` gives the tone.
"""

from __future__ import annotations

import asyncio
import fractions
import functools
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from app.errors import DeviceUnavailableError
from app.visit import MediaDevice

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack

log = logging.getLogger(__name__)

TONE = "tone"
SAMPLE_RATE_HZ = 48_000
FRAME_SAMPLES = 960  # 20 ms
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE_HZ
AUDIO_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE_HZ)
MAX_QUEUED_FRAMES = 10  # 200 ms
SPEAKER_MAX_BUFFER_SAMPLES = SAMPLE_RATE_HZ // 10  # 100 ms
TONE_HZ = 440.0


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # libportaudio missing
        raise DeviceUnavailableError(device="audio", reason="no PortAudio library") from exc
    return sounddevice


def _devices(kind: str) -> list[MediaDevice]:
    channels_key = "max_input_channels" if kind == "microphone" else "max_output_channels"
    try:
        sd = _sounddevice()
        entries = list(sd.query_devices())
    except Exception as exc:  # no PortAudio, or its init failed (many ways): list none
        log.info("no audio devices listed: %s", type(exc).__name__)
        return []
    return [
        MediaDevice(device_id=f"sd:{index}", label=str(entry["name"]), kind=kind)
        for index, entry in enumerate(entries)
        if int(entry.get(channels_key, 0)) > 0
    ]


def list_microphones() -> list[MediaDevice]:
    """The synthetic tone plus PortAudio inputs."""
    return [
        MediaDevice(device_id=TONE, label="Test tone", kind="microphone"),
        *_devices("microphone"),
    ]


def list_stethoscope_inputs() -> list[MediaDevice]:
    """The stethoscope plugin's demo heart sound plus PortAudio inputs, with the ids its
    ``audio.input`` lists (``sd:<index>``): Settings › Devices › Stethoscope input."""
    return [
        MediaDevice(
            device_id="synthetic", label="Synthetic heart sound (demo)", kind="stethoscope"
        ),
        *(
            MediaDevice(device_id=d.device_id, label=d.label, kind="stethoscope")
            for d in _devices("microphone")
        ),
    ]


def list_speakers() -> list[MediaDevice]:
    return _devices("speaker")


def _resolve(spec: str, kind: str) -> int | str | None:
    """A sounddevice ``device=`` argument for ``spec`` (None: the default device)."""
    if spec in ("", "default"):
        return None
    if spec.startswith("sd:"):
        spec = spec[3:]
    if spec.isdigit():
        return int(spec)
    return spec  # sounddevice matches a name substring


def _audio_frame(samples: np.ndarray, pts: int) -> Any:
    import av

    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE_HZ
    frame.pts = pts
    frame.time_base = AUDIO_TIME_BASE
    return frame


class _ToneSource:
    def __init__(self, frequency_hz: float = TONE_HZ) -> None:
        self._phase = 0
        self._frequency_hz = frequency_hz

    async def read(self) -> np.ndarray:
        n = np.arange(self._phase, self._phase + FRAME_SAMPLES)
        self._phase += FRAME_SAMPLES
        return (np.sin(2 * np.pi * self._frequency_hz * n / SAMPLE_RATE_HZ) * 8000).astype(np.int16)

    def stop(self) -> None:
        return None

    paced = True


class _InputSource:
    """A PortAudio input stream; its callback hands 20 ms blocks to the loop."""

    paced = False

    def __init__(self, spec: str) -> None:
        sd = _sounddevice()
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[np.ndarray] = asyncio.Queue()
        try:
            self._stream = sd.InputStream(
                device=_resolve(spec, "microphone"),
                samplerate=SAMPLE_RATE_HZ,
                channels=1,
                dtype="int16",
                blocksize=FRAME_SAMPLES,
                callback=self._callback,
            )
            self._stream.start()
        except (ValueError, sd.PortAudioError) as exc:
            raise DeviceUnavailableError(device=spec, reason="cannot open input") from exc

    def _callback(self, data: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
        block = data[:, 0].copy()
        self._loop.call_soon_threadsafe(self._push, block)

    def _push(self, block: np.ndarray) -> None:
        while self._queue.qsize() >= MAX_QUEUED_FRAMES:
            self._queue.get_nowait()  # drop the oldest: latency over completeness
        self._queue.put_nowait(block)

    async def read(self) -> np.ndarray:
        return await self._queue.get()

    def stop(self) -> None:
        try:
            self._stream.stop()
            self._stream.close()
        except Exception as exc:  # already gone (device unplugged)
            log.debug("closing input: %s", type(exc).__name__)


@functools.cache
def _track_class() -> type[MediaStreamTrack]:
    from aiortc import MediaStreamTrack

    class MicrophoneTrack(MediaStreamTrack):
        kind = "audio"

        def __init__(self, source: Any, label: str) -> None:
            super().__init__()
            self.source = source
            self.label = label
            self._samples = 0
            self._start: float | None = None

        async def recv(self) -> Any:
            from aiortc.mediastreams import MediaStreamError

            if self.readyState != "live":
                raise MediaStreamError
            if self.source.paced:
                if self._start is None:
                    self._start = time.monotonic()
                else:
                    wait = self._start + self._samples / SAMPLE_RATE_HZ - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    elif wait < -0.5:
                        self._start = time.monotonic() - self._samples / SAMPLE_RATE_HZ
            block = await self.source.read()
            frame = _audio_frame(block, self._samples)
            self._samples += len(block)
            return frame

        def stop(self) -> None:
            self.source.stop()
            super().stop()

    return MicrophoneTrack


def open_microphone(spec: str = TONE, *, fallback: bool = False) -> MediaStreamTrack:
    """A live 48 kHz mono audio track for ``spec``; call from the event loop."""
    source: Any
    if spec == TONE:
        source = _ToneSource()
    else:
        try:
            source = _InputSource(spec)
        except DeviceUnavailableError as exc:
            if not fallback:
                raise
            log.warning("microphone unavailable (%s); using the test tone", exc.message_key)
            source = _ToneSource()
            spec = TONE
    cls: Any = _track_class()
    track: MediaStreamTrack = cls(source, spec)
    return track


class SpeakerSink:
    """Plays a remote audio track on a PortAudio output until stopped or the track ends.

    With ``track=None`` the caller feeds decoded frames through :meth:`play`.
    """

    def __init__(self, track: MediaStreamTrack | None, device: str = "default") -> None:
        self.track = track
        self.device = device
        self._buffer: deque[np.ndarray] = deque()
        self._buffered = 0
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stream: Any = None
        self.frames_played = 0
        self._resampler: Any = None

    async def start(self) -> None:
        sd = _sounddevice()
        try:
            self._stream = sd.OutputStream(
                device=_resolve(self.device, "speaker"),
                samplerate=SAMPLE_RATE_HZ,
                channels=1,
                dtype="int16",
                blocksize=FRAME_SAMPLES,
                callback=self._callback,
            )
            self._stream.start()
        except (ValueError, sd.PortAudioError) as exc:
            raise DeviceUnavailableError(device=self.device, reason="cannot open output") from exc
        if self.track is not None:
            self._task = asyncio.ensure_future(self._pump(self.track))

    async def _pump(self, track: MediaStreamTrack) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.play(frame)

    def play(self, frame: Any) -> None:
        """Queue one decoded audio frame (any rate/layout) for playback; call on the loop."""
        import av

        if self._resampler is None:
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE_HZ)
        for out in self._resampler.resample(frame):
            samples = out.to_ndarray().reshape(-1).astype(np.int16)
            with self._lock:
                self._buffer.append(samples)
                self._buffered += len(samples)
                while self._buffered > SPEAKER_MAX_BUFFER_SAMPLES and len(self._buffer) > 1:
                    self._buffered -= len(self._buffer.popleft())

    def _callback(self, out: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
        written = 0
        with self._lock:
            while written < frames and self._buffer:
                head = self._buffer[0]
                take = min(frames - written, len(head))
                out[written : written + take, 0] = head[:take]
                written += take
                if take == len(head):
                    self._buffer.popleft()
                else:
                    self._buffer[0] = head[take:]
                self._buffered -= take
        out[written:, 0] = 0
        if written:
            self.frames_played += 1

    async def set_device(self, device: str) -> None:
        await self.stop()
        self.device = device
        await self.start()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except Exception as exc:
                log.debug("closing output: %s", type(exc).__name__)
            self._stream = None
