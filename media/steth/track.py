"""The stethoscope over a call: an aiortc track out of a ring buffer, and its inverse.

- :func:`make_steth_track(ring, ...)` returns an aiortc ``MediaStreamTrack`` (kind
  audio) producing 48 kHz mono s16 ``av.AudioFrame`` s of 20 ms (960 samples),
  read from the capture :class:`~media.steth.capture.RingBuffer`. It is paced by
  the capture clock: ``recv`` waits until 960 new samples exist. If the reader
  fell behind by more than :data:`MAX_LAG_S` it skips ahead (latency beats
  completeness on a live call; the local recording reads the ring on its own).
- :class:`RemoteStethConsumer` pulls ``av.AudioFrame`` s from a remote track,
  converts them to 48 kHz mono float and writes them into a ring, so the remote
  console's filters, views, heart rate and recorder work exactly as locally.

The unfiltered signal is sent: each end applies its own filter choice.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from media.steth.capture import RingBuffer

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 48_000
FRAME_SAMPLES = 960  # 20 ms
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE_HZ)
MAX_LAG_S = 0.2
POLL_S = 0.004


def float_to_frame(samples: np.ndarray, pts: int) -> Any:
    """One mono s16 ``av.AudioFrame`` from float samples in -1..1."""
    import av

    ints = np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(ints.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE_HZ
    frame.pts = pts
    frame.time_base = TIME_BASE
    return frame


def frame_to_float(frame: Any) -> np.ndarray:
    """Mono float64 samples of an ``av.AudioFrame`` (s16/fltp, packed or planar)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    fmt = frame.format.name
    x = data.astype(np.float64)
    if fmt.startswith("s16"):
        x /= 32768.0
    elif fmt.startswith("s32"):
        x /= 2147483648.0
    if frame.format.is_planar:
        mono = x.reshape(channels, -1).mean(axis=0)
    else:
        mono = x.reshape(-1, channels).mean(axis=1)
    return np.asarray(mono)


def make_steth_track(ring: RingBuffer, *, sample_rate_hz: int = SAMPLE_RATE_HZ) -> MediaStreamTrack:
    """An aiortc audio track reading ``ring`` (which must be filled at 48 kHz)."""
    from aiortc import MediaStreamTrack

    if sample_rate_hz != SAMPLE_RATE_HZ:
        raise ValueError("the stethoscope track needs 48 kHz capture")

    class StethoscopeTrack(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self._index = ring.written
            self._pts = 0
            self.skipped_samples = 0

        async def recv(self) -> Any:
            from aiortc.mediastreams import MediaStreamError

            while ring.written - self._index < FRAME_SAMPLES:
                if self.readyState != "live":
                    raise MediaStreamError
                await asyncio.sleep(POLL_S)
            lag = ring.written - self._index
            if lag > MAX_LAG_S * SAMPLE_RATE_HZ:
                skip = lag - FRAME_SAMPLES
                self.skipped_samples += skip
                self._index += skip
            block, self._index = ring.read_since(self._index, FRAME_SAMPLES)
            if block.size < FRAME_SAMPLES:  # overwritten while we slept: pad
                block = np.pad(block, (0, FRAME_SAMPLES - block.size))
            frame = float_to_frame(block.astype(np.float64), self._pts)
            self._pts += FRAME_SAMPLES
            return frame

    return StethoscopeTrack()


class RemoteStethConsumer:
    """Feeds a remote stethoscope track into ``ring`` at 48 kHz mono; ``start``/``stop``."""

    def __init__(self, track: MediaStreamTrack, ring: RingBuffer) -> None:
        self._track = track
        self.ring = ring
        self.frames = 0
        self._task: asyncio.Task[None] | None = None
        self._resampler: Any = None

    def feed(self, frame: Any) -> None:
        """Convert one received frame into the ring (loop thread)."""
        if frame.sample_rate != SAMPLE_RATE_HZ or len(frame.layout.channels) != 1:
            import av

            if self._resampler is None:
                self._resampler = av.AudioResampler(
                    format="s16", layout="mono", rate=SAMPLE_RATE_HZ
                )
            for out in self._resampler.resample(frame):
                self.ring.write(frame_to_float(out))
        else:
            self.ring.write(frame_to_float(frame))
        self.frames += 1

    async def _run(self) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await self._track.recv()
            except MediaStreamError:
                return
            self.feed(frame)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
