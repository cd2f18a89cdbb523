"""Stethoscope plugin logic, Qt-free: activation and :class:`StethoscopeModel`.

The model owns one audio source (a local :class:`~media.steth.capture.Capture`
or a remote track's ring), the listening filter, the heart-rate estimator and the
recorder. The panel calls :meth:`StethoscopeModel.pull` at display rate (~30 Hz);
the audio callback only ever writes the capture ring, so a slow paint never loses
audio (the ring holds 30 s). Heart rate runs every second on a worker thread over
the last :data:`HR_WINDOW_S` seconds.
"""

from __future__ import annotations

import concurrent.futures
import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.errors import ConsoleError, DeviceUnavailableError
from app.records import AuscultationSite, StethoscopeFilter
from clinician_console_api import (
    AttachedRecord,
    AttachmentRequest,
    AudioInput,
    AudioTrackOptions,
    Capability,
    CapabilityUnavailableError,
    IncomingAudioTrack,
    OutgoingAudioTrack,
    PluginContext,
)
from media.steth.capture import SYNTHETIC, Capture, RingBuffer
from media.steth.filters import StethFilter
from media.steth.heart_rate import MIN_DURATION_S, HeartRateAnalysis, analyze
from media.steth.recording import ClipMetadata, encode_wav
from plugins.stethoscope.audio_source import AudioInputCapture

log = logging.getLogger(__name__)

HR_WINDOW_S = 8.0
HR_INTERVAL_S = 1.0
HR_RATE_HZ = 4_000  # heart-rate input is decimated to this before the worker gets it
DISPLAY_SECONDS = 5.0
MAX_RECORD_S = 120.0
TRACK_LABEL = "stethoscope"
# The panel's own words from here (English; the panel shows them translated, context
# ``Stethoscope`` in plugins/stethoscope/_qt.py).
DEVICE_STOPPED = "The stethoscope stopped delivering sound (unplugged?)."
PLAYBACK_UNAVAILABLE = "Playback is not available: check that a speaker or headset is connected."
UNEXPECTED = "The stethoscope could not do that. Details were written to the log."
SETTINGS_INPUT_MISSING = (
    "The stethoscope input chosen in Settings is not connected: the default input is "
    "selected instead."
)
NO_INPUT = "The stethoscope input chosen in Settings is not connected, and no other input is."
#: A stethoscope is not a voice: no AEC/NS/AGC/comfort noise, Opus full band, no DTX.
TRACK_OPTIONS = AudioTrackOptions(
    voice_processing=False, music=True, dtx=False, bitrate_bps=128_000
)


#: The plugin's own ``audio.input`` (its context's, kept at activation): models built by
#: the panel capture through it, as a third-party plugin would.
_audio_input: AudioInput | None = None


def activate(ctx: PluginContext) -> None:
    """Loop thread: nothing heavy; the panel builds its model when shown."""
    global _audio_input  # noqa: PLW0603 - one context per plugin, kept while active
    _audio_input = ctx.audio_input() if ctx.has(Capability.AUDIO_INPUT) else None
    ctx.logger.info("stethoscope plugin active; capabilities %s", sorted(ctx.granted))


def deactivate(ctx: PluginContext) -> None:
    global _audio_input  # noqa: PLW0603
    _audio_input = None
    ctx.logger.info("stethoscope plugin deactivated")


@dataclass(frozen=True, slots=True)
class Recording:
    wav: bytes
    samples: npt.NDArray[np.float64]
    metadata: ClipMetadata
    interrupted: str = ""  # why it stopped early (device unplugged), "" otherwise


class StethoscopeModel:
    """One stethoscope view: source -> filter -> display/HR/recorder (display thread)."""

    def __init__(
        self, *, sample_rate_hz: int = 48_000, audio_input: AudioInput | None = None
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.audio_input = audio_input if audio_input is not None else _audio_input
        self.filter = StethFilter(sample_rate_hz)
        self.capture: Capture | AudioInputCapture | None = None
        self.ring: RingBuffer | None = None
        self.display = RingBuffer(round(DISPLAY_SECONDS * sample_rate_hz))
        self.heart_rate: HeartRateAnalysis | None = None
        self.status = ""  # a one-line, patient-free message for the panel (English)
        self.status_error: ConsoleError | None = None  # the error behind ``status``, if any
        self._read_index = 0
        self._hr_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="steth-hr")
        self._hr_future: concurrent.futures.Future[HeartRateAnalysis] | None = None
        self._hr_due = 0
        self._recording: list[npt.NDArray[np.float64]] | None = None
        self._record_site = AuscultationSite.MITRAL
        self.last_recording: Recording | None = None
        self.outgoing: OutgoingAudioTrack | None = None

    # -- sources -----------------------------------------------------------------
    def devices(self) -> list[tuple[str, str]]:
        """``(device id, label)`` for the chooser: the inputs ``audio.input`` lists, then
        the synthetic heart sound."""
        audio = self.audio_input
        found = [(d.device_id, d.label) for d in audio.list_devices()] if audio else []
        return [*found, (SYNTHETIC, "Synthetic heart sound (demo)")]

    def choose_input(self, chosen: str) -> tuple[str, str]:
        """The input to listen to for Settings › Devices › Stethoscope input ``chosen``
        (``ctx.device_choices().stethoscope``; "" = the default input), and a note for the
        panel: "" when that is what was chosen, else :data:`SETTINGS_INPUT_MISSING` (or
        :data:`NO_INPUT` when nothing is connected; the synthetic source is then
        selected so nothing real is pretended to be heard)."""
        audio = self.audio_input
        listed = audio.list_devices() if audio is not None else []
        if chosen == SYNTHETIC:
            return SYNTHETIC, ""
        if chosen:
            wanted = chosen.casefold()
            for matches in (
                lambda d: d.device_id == chosen,
                lambda d: d.label.casefold() == wanted,  # a name typed in Settings
                lambda d: wanted in d.label.casefold(),
            ):
                found = next((d for d in listed if matches(d)), None)
                if found is not None:
                    return found.device_id, ""
        default = next((d for d in listed if d.is_default), listed[0] if listed else None)
        if default is None:
            return SYNTHETIC, NO_INPUT if chosen else ""
        return default.device_id, SETTINGS_INPUT_MISSING if chosen else ""

    def open(self, device: str | int, *, gain: float = 1.0) -> None:
        """Start capturing from ``device`` (an ``audio.input`` device id, or the synthetic
        source); raises :class:`DeviceUnavailableError`. A device that fails after this
        returns is reported through the status line (``pull``)."""
        self.close()
        capture: Capture | AudioInputCapture
        if device == SYNTHETIC:
            capture = Capture(SYNTHETIC, sample_rate_hz=self.sample_rate_hz, gain=gain)
        elif self.audio_input is None:
            raise DeviceUnavailableError(device=str(device), reason="audio input not granted")
        else:
            capture = AudioInputCapture(
                self.audio_input, str(device), sample_rate_hz=self.sample_rate_hz, gain=gain
            )
        capture.start()
        self.capture = capture
        self.use_ring(capture.ring)
        self.status = ""
        self.status_error = None

    def use_ring(self, ring: RingBuffer) -> None:
        """Read from ``ring`` (a local capture's, or a remote track consumer's)."""
        self.ring = ring
        self._read_index = ring.written
        self.filter.reset()
        # A new source: forget the old estimate and estimate as soon as data arrives.
        self.heart_rate = None
        self._hr_due = 0
        if self._hr_future is not None:
            self._hr_future.cancel()
            self._hr_future = None

    def set_gain(self, gain: float) -> None:
        if self.capture is not None:
            self.capture.gain = float(gain)

    def set_filter(self, mode: StethoscopeFilter | str) -> None:
        self.filter.set_mode(mode)

    def close(self) -> None:
        if self.capture is not None:
            self.capture.stop()
            self.capture = None
        self.ring = None

    def shutdown(self) -> None:
        self.close()
        self._hr_pool.shutdown(wait=False, cancel_futures=True)

    # -- the display tick --------------------------------------------------------
    def pull(self) -> npt.NDArray[np.float64]:
        """New filtered samples since the last call (display thread, ~30 Hz)."""
        if self.ring is None:
            return np.zeros(0)
        raw, self._read_index = self.ring.read_since(self._read_index)
        if self.outgoing is not None and raw.size and self.capture is not None:
            # The unfiltered sound goes to the call; the far end applies its own filter.
            self.outgoing.write(raw.reshape(-1, 1))
        out = self.filter.process(raw)
        self.display.write(out)
        if self._recording is not None and out.size:
            self._recording.append(out)
            if sum(b.size for b in self._recording) >= MAX_RECORD_S * self.sample_rate_hz:
                self.stop_recording()
        self._tick_heart_rate()
        if self.capture is not None and self.capture.poll() is not None:
            self._device_lost(self.capture.poll())
        return out

    def clipping(self) -> tuple[float, bool]:
        return self.capture.clipping_check() if self.capture is not None else (0.0, False)

    def _device_lost(self, error: DeviceUnavailableError | None) -> None:
        self.status = DEVICE_STOPPED
        self.status_error = error
        if error is not None:
            self.status = error.user_message()
        interrupted = self.status
        if self._recording is not None:
            self.stop_recording(interrupted=interrupted)
        if self.capture is not None:
            self.capture.stop()
            self.capture = None

    def _tick_heart_rate(self) -> None:
        if self._hr_future is not None and self._hr_future.done():
            try:
                self.heart_rate = self._hr_future.result()
            except Exception:  # a DSP failure must not take the panel down
                log.exception("heart-rate estimate failed")
                self.heart_rate = None
            self._hr_future = None
        if self.ring is None or self._hr_future is not None:
            return
        if self.ring.written < self._hr_due:
            return
        self._hr_due = self.ring.written + round(HR_INTERVAL_S * self.sample_rate_hz)
        window = self.ring.latest(round(HR_WINDOW_S * self.sample_rate_hz))
        self._hr_future = self._hr_pool.submit(_hr_job, window, self.sample_rate_hz)

    # -- recording ---------------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self._recording is not None

    @property
    def recorded_s(self) -> float:
        """Seconds in the clip being recorded (0 when not recording)."""
        blocks = self._recording or []
        return sum(b.size for b in blocks) / self.sample_rate_hz

    def start_recording(self, site: AuscultationSite | str) -> None:
        self._record_site = AuscultationSite(site)
        self._recording = []

    def stop_recording(self, *, interrupted: str = "") -> Recording | None:
        """Finish the clip (everything pulled so far is kept)."""
        if self._recording is None:
            return None
        blocks, self._recording = self._recording, None
        samples = np.concatenate(blocks) if blocks else np.zeros(0)
        if samples.size == 0:
            return None
        hr = analyze(samples, self.sample_rate_hz)
        meta = ClipMetadata(
            site=self._record_site,
            filter=self.filter.mode,
            duration_s=samples.size / self.sample_rate_hz,
            sample_rate_hz=self.sample_rate_hz,
            heart_rate_bpm=hr.bpm,
            heart_rate_confidence=hr.confidence,
        )
        self.last_recording = Recording(
            encode_wav(samples, self.sample_rate_hz), samples, meta, interrupted
        )
        return self.last_recording

    # -- the visit -----------------------------------------------------------------
    async def start_sending(self, ctx: PluginContext) -> None:
        """Send the local stethoscope as its own track in the running visit (loop thread);
        raises :class:`CapabilityUnavailableError` when no visit runs."""
        if self.outgoing is None:
            self.outgoing = await ctx.visit_tracks().add_audio_track(
                TRACK_LABEL, sample_rate_hz=self.sample_rate_hz, options=TRACK_OPTIONS
            )

    async def stop_sending(self) -> None:
        outgoing, self.outgoing = self.outgoing, None
        if outgoing is not None:
            await outgoing.close()


async def pump_incoming(
    track: IncomingAudioTrack, ring: RingBuffer, *, sample_rate_hz: int = 48_000
) -> None:
    """Copy a remote stethoscope track into ``ring`` until it ends (loop thread); the
    model then reads that ring like a local capture (``use_ring``)."""
    if track.sample_rate_hz != sample_rate_hz:
        raise CapabilityUnavailableError(
            capability="visit.tracks", reason="remote stethoscope track is not 48 kHz"
        )
    while True:
        try:
            block = await track.read()
        except CapabilityUnavailableError:
            return
        samples = np.asarray(block, dtype=np.float32)
        ring.write(samples.mean(axis=1) if samples.ndim == 2 else samples)


def _hr_job(window: npt.NDArray[np.float32], sample_rate_hz: int) -> HeartRateAnalysis:
    from scipy import signal

    if window.size < MIN_DURATION_S * sample_rate_hz:  # too short to decimate or estimate
        return analyze(window, sample_rate_hz)
    step = max(1, sample_rate_hz // HR_RATE_HZ)
    x = signal.decimate(window.astype(np.float64), step) if step > 1 else window
    return analyze(x, sample_rate_hz / step)


async def attach_recording(ctx: PluginContext, recording: Recording) -> AttachedRecord:
    """Store the clip with the open encounter (FHIR Media + heart-rate Observation on sync)."""
    site = recording.metadata.site.value.replace("_", " ")
    return await ctx.encounter().attach(
        AttachmentRequest(
            kind="audio",
            content_type="audio/wav",
            data=recording.wav,
            title=f"Stethoscope, {site}",
            metadata=recording.metadata.attachment_metadata(),
        )
    )


def play(samples: npt.NDArray[np.float64], sample_rate_hz: int) -> str:
    """Play on the default output without blocking; "" or a one-line reason."""
    try:
        import sounddevice as sd

        sd.play(np.asarray(samples, dtype=np.float32), sample_rate_hz)
    except Exception as exc:  # no PortAudio, no output device
        # The library's name is for IT (the log); the clinician is told what to check.
        log.warning("Playback failed: %s", type(exc).__name__)
        return PLAYBACK_UNAVAILABLE
    return ""


def error_text(exc: BaseException) -> str:
    if isinstance(exc, ConsoleError):
        return exc.user_message()
    log.warning("Stethoscope error: %s", type(exc).__name__)
    return UNEXPECTED


__all__ = ["StethoscopeModel", "activate", "attach_recording", "deactivate", "play"]
