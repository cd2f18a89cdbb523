"""The stethoscope's sound through its own ``audio.input`` capability.

:class:`AudioInputCapture` has the shape :class:`~plugins.stethoscope.plugin.StethoscopeModel`
reads (``ring``, ``gain``, ``poll()``, ``clipping_check()``, ``stop()``), fed by an
:class:`~clinician_console_api.AudioStream` the plugin's context opened, so the
built-in stethoscope captures exactly as a third-party plugin would (no direct
PortAudio). A task on the event loop copies blocks into the ring; the panel's
display tick reads the ring, so a slow paint never loses sound (the ring holds 30 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import numpy as np

from clinician_console_api import (
    AudioInput,
    AudioStream,
    CapabilityUnavailableError,
    DeviceUnavailableError,
)
from media.steth.capture import CLIP_LEVEL, RingBuffer

log = logging.getLogger(__name__)

RING_SECONDS = 30.0


class AudioInputCapture:
    """One input opened through ``audio.input``, copied into a ring (loop thread)."""

    def __init__(
        self,
        audio: AudioInput,
        device_id: str,
        *,
        sample_rate_hz: int = 48_000,
        gain: float = 1.0,
        block_frames: int = 480,
    ) -> None:
        self.device = device_id
        self.sample_rate_hz = sample_rate_hz
        self.ring = RingBuffer(round(RING_SECONDS * sample_rate_hz))
        self.gain = float(gain)
        self.peak = 0.0
        self.clipped_samples = 0
        self.error: DeviceUnavailableError | None = None
        self.last_block_at: float | None = None
        self._audio = audio
        self._block_frames = block_frames
        self._stream: AudioStream | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self) -> None:
        """Open the input and start copying (needs the running loop: the GUI's qasync one)."""
        loop = asyncio.get_event_loop()
        self._task = loop.create_task(self._run(), name="steth-audio-input")

    async def _run(self) -> None:
        try:
            stream = await self._audio.open(
                self.device,
                sample_rate_hz=self.sample_rate_hz,
                channels=1,
                block_frames=self._block_frames,
            )
            self._stream = stream
            if self._stopped:
                await stream.close()
                return
            while not self._stopped:
                self._push(await stream.read())
        except DeviceUnavailableError as exc:
            if not self._stopped:
                self.error = exc
        except CapabilityUnavailableError:
            self.error = DeviceUnavailableError(device=self.device, reason="no audio input")

    def _push(self, block: object) -> None:
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

    def poll(self) -> DeviceUnavailableError | None:
        """The error once the input stopped delivering (cheap; display thread)."""
        task = self._task
        if self.error is None and task is not None and task.done() and not self._stopped:
            self.error = DeviceUnavailableError(device=self.device, reason="device stopped")
        return self.error

    def clipping_check(self) -> tuple[float, bool]:
        peak, self.peak = self.peak, 0.0
        return peak, peak >= CLIP_LEVEL

    def stop(self) -> None:
        """Stop copying and close the stream (idempotent; the close runs on the loop)."""
        if self._stopped:
            return
        self._stopped = True
        task, self._task = self._task, None
        stream, self._stream = self._stream, None
        if task is not None and not task.done():
            task.cancel()
        if stream is not None:
            with contextlib.suppress(RuntimeError):  # no loop any more: nothing to close on
                asyncio.get_event_loop().create_task(stream.close())
