"""Capability providers the composition root hands the plugin host (plugins/api.py Protocols).

- :class:`EncounterAttach` (``encounter.attach``): attaches through the app's
  :class:`~app.services.AttachmentsService`, so a plugin's recording is announced on
  the bus and nudges sync like a note save; the window tells it which encounter is
  open (``set_current``).
- :class:`SoundDeviceAudioInput` (``audio.input``): PortAudio inputs through
  sounddevice, blocks handed from the device's callback thread to the loop.

``visit.tracks`` has no provider here: the visit's media session implements it
(media/visit), and the composition root passes it with ``host.set_provider`` while a
visit runs.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable
from typing import Any

from app.errors import CapabilityUnavailableError, DeviceUnavailableError
from app.images import ImagesService
from app.services import AttachmentsService
from clinician_console_api import (
    AttachedRecord,
    AttachmentRequest,
    AudioBlock,
    AudioDevice,
    Unsubscribe,
)

log = logging.getLogger(__name__)

# Blocks kept for a reader that falls behind: ~5 s at 48 kHz in 1024-frame blocks.
MAX_QUEUED_BLOCKS = 240
_CLOSED = "closed"


class EncounterAttach:
    """``encounter.attach`` over the attachments use case (never the store itself)."""

    def __init__(
        self, attachments: AttachmentsService, images: ImagesService | None = None
    ) -> None:
        self._attachments = attachments
        # Stills go through the images use case: decoded in full and checked like
        # ``image add`` (size read from the bytes, quality verdict recorded).
        self._images = images
        self._current: str | None = None
        self._listeners: list[Callable[[str | None], None]] = []

    def set_current(self, encounter_id: str | None) -> None:
        """The window says which encounter is open (loop thread)."""
        if encounter_id == self._current:
            return
        self._current = encounter_id
        for listener in list(self._listeners):
            listener(encounter_id)  # guarded by the host: a plugin's error stays its own

    def current_encounter_id(self) -> str | None:
        return self._current

    def on_encounter_change(self, callback: Callable[[str | None], None]) -> Unsubscribe:
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    async def attach(self, request: AttachmentRequest) -> AttachedRecord:
        encounter_id = request.encounter_id or self._current
        if not encounter_id:
            raise CapabilityUnavailableError(
                capability="encounter.attach", reason="no encounter is open"
            )
        if request.kind == "image" and self._images is not None:
            added = await self._images.add(
                encounter_id,
                request.data,
                metadata=dict(request.metadata),
                title=request.title,
                source=self,
            )
            return AttachedRecord(attachment_id=added.image_id, encounter_id=encounter_id)
        attachment = await self._attachments.attach(
            encounter_id,
            request.kind,
            request.content_type,
            request.data,
            title=request.title,
            metadata=dict(request.metadata),
            source=self,
        )
        return AttachedRecord(
            attachment_id=attachment.id,
            encounter_id=encounter_id,
            observation_id=attachment.observation_id,
        )


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # libportaudio missing
        raise DeviceUnavailableError(device="audio", reason="no PortAudio library") from exc
    return sounddevice


def _index(device_id: str) -> int:
    try:
        return int(device_id.removeprefix("sd:"))
    except ValueError as exc:
        raise DeviceUnavailableError(device=device_id, reason="unknown device id") from exc


class _SoundDeviceStream:
    """One open input: PortAudio's callback thread -> bounded deque -> ``read`` on the loop."""

    def __init__(
        self,
        device_id: str,
        sample_rate_hz: int,
        channels: int,
        block_frames: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._device_id = device_id
        self._rate = sample_rate_hz
        self._channels = channels
        self._loop = loop
        self._blocks: collections.deque[AudioBlock] = collections.deque()
        self._lock = threading.Lock()
        self._ready = asyncio.Event()
        self._overruns = 0
        self._ended: str | None = None  # why the device stopped, once it has
        sd = _sounddevice()
        try:
            self._stream = sd.InputStream(
                device=_index(device_id),
                samplerate=sample_rate_hz,
                channels=channels,
                blocksize=block_frames,
                dtype="float32",
                callback=self._callback,
                finished_callback=self._finished,
            )
            self._stream.start()
        except DeviceUnavailableError:
            raise
        except Exception as exc:  # PortAudioError, ValueError for a bad rate/channels
            raise DeviceUnavailableError(device=device_id, reason=type(exc).__name__) from exc

    def _callback(self, data: Any, _frames: int, _time: Any, _status: Any) -> None:
        if self._ended == _CLOSED:  # blocks still arriving while the stream stops
            return
        block = data.copy()
        with self._lock:
            if len(self._blocks) >= MAX_QUEUED_BLOCKS:
                self._blocks.popleft()
                self._overruns += 1
            self._blocks.append(block)
        self._loop.call_soon_threadsafe(self._ready.set)

    def _finished(self) -> None:  # the device went away, or close() stopped it
        self._ended = self._ended or "the device stopped"
        self._loop.call_soon_threadsafe(self._ready.set)

    @property
    def device_id(self) -> str:
        return self._device_id

    @property
    def sample_rate_hz(self) -> int:
        return self._rate

    @property
    def channels(self) -> int:
        return self._channels

    @property
    def overruns(self) -> int:
        return self._overruns

    async def read(self) -> AudioBlock:
        while True:
            with self._lock:
                if self._ended == _CLOSED:
                    raise DeviceUnavailableError(device=self._device_id, reason="closed")
                if self._blocks:
                    return self._blocks.popleft()
                if self._ended is not None:
                    raise DeviceUnavailableError(device=self._device_id, reason=self._ended)
                self._ready.clear()
            await self._ready.wait()

    async def close(self) -> None:
        if self._ended == _CLOSED:
            return
        self._ended = _CLOSED
        with self._lock:
            self._blocks.clear()
        stream = self._stream
        await asyncio.get_running_loop().run_in_executor(None, _stop, stream)
        self._ready.set()


def _stop(stream: Any) -> None:
    try:
        # abort, not stop: stop waits for the device's pending buffer, which a silent
        # or stalled source (a pipe, an unplugged USB card) may never deliver.
        stream.abort()
        stream.close()
    except Exception:  # already gone with the device
        log.debug("audio input close failed", exc_info=True)


class SoundDeviceAudioInput:
    """``audio.input`` through sounddevice (PortAudio): USB/jack stethoscopes are inputs."""

    def list_devices(self) -> list[AudioDevice]:
        try:
            sd = _sounddevice()
            entries = list(sd.query_devices())
        except Exception as exc:  # no PortAudio, or its init failed
            log.info("no audio inputs listed: %s", type(exc).__name__)
            return []
        try:
            default_input = int(sd.query_devices(kind="input")["index"])
        except Exception:  # no default input (PortAudioError): none marked
            default_input = -1
        return [
            AudioDevice(
                device_id=f"sd:{index}",
                label=str(entry["name"]),
                max_channels=int(entry["max_input_channels"]),
                default_sample_rate_hz=float(entry.get("default_samplerate", 48_000.0)),
                is_default=index == default_input,
            )
            for index, entry in enumerate(entries)
            if int(entry.get("max_input_channels", 0)) > 0
        ]

    async def open(
        self,
        device_id: str,
        *,
        sample_rate_hz: int = 48_000,
        channels: int = 1,
        block_frames: int = 1024,
    ) -> _SoundDeviceStream:
        loop = asyncio.get_running_loop()
        # Opening a PortAudio stream can take a while (device probing): off the loop.
        return await loop.run_in_executor(
            None,
            lambda: _SoundDeviceStream(device_id, sample_rate_hz, channels, block_frames, loop),
        )
