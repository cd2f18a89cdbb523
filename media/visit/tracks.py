"""Labelled extra audio tracks in a Janus visit: the ``visit.tracks`` capability.

:class:`SessionTracks` implements ``clinician_console_api.VisitTracks`` structurally (media/
never imports plugins/) over a media session (:class:`app.visit.MediaSessionPort`).

Sending. :meth:`SessionTracks.add_audio_track` adds a ``sendonly`` audio
transceiver to the running publisher PeerConnection and renegotiates with Janus
(VideoRoom in Janus 1.x is multistream): a ``configure`` request with the new
offer and ``descriptions: [{"mid": <new mid>, "description": <label>}]``. The
new m-line's Opus ``fmtp`` is munged (that m-line only) to the options; for
``music=True`` that is :data:`OPUS_MUSIC_FMTP` (full band, 128 kbps, no DTX,
in-band FEC, mono). The sender's Opus encoder is set to application ``audio``
(aiortc's default is ``voip``, which high-passes and shapes for speech) at the
option's bitrate. aiortc does no voice processing (no AEC, NS, AGC or comfort
noise), so the samples written go out as they are; the voice microphone track
is untouched.

Receiving. Janus tells subscribers each stream's ``feed_description``; the
session asks :meth:`SessionTracks.claim_remote_track` about every remote audio
track, and labelled ones become :class:`IncomingTrack` s handed to the
``subscribe_audio(label, cb)`` callbacks (float32 ``(frames, 1)`` blocks). When a
participant adds a labelled stream mid-call (a ``publishers`` event listing a
stream we have no track for), the subscription is rebuilt to pick it up.

Threads: everything runs on the event loop, except ``OutgoingTrack.write``
(any thread; a lock-free ring of 1 s, the sender skips ahead past 200 ms of lag).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from app.errors import CapabilityUnavailableError, VisitError
from app.visit import MediaSessionPort, VisitState
from media.steth.capture import RingBuffer
from media.steth.track import SAMPLE_RATE_HZ, frame_to_float, make_steth_track

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack, RTCPeerConnection

    from media.janus.videoroom import VideoRoomHandle

log = logging.getLogger(__name__)

CAPABILITY = "visit.tracks"
#: Opus for a stethoscope: full band music, high bitrate, no DTX (RFC 7587 fmtp).
OPUS_MUSIC_FMTP = "maxaveragebitrate=128000;usedtx=0;useinbandfec=1;stereo=0;maxplaybackrate=48000"
RESUBSCRIBE_ATTEMPTS = 3
#: Labelled tracks received with a short jitter buffer (set_low_latency); the voice
#: track and other labels keep aiortc's default.
LOW_LATENCY_LABELS = frozenset({"stethoscope"})
ACTIVE_STATES = (VisitState.WAITING, VisitState.IN_CALL, VisitState.RECONNECTING)


def opus_fmtp(*, music: bool, dtx: bool, bitrate_bps: int, stereo: bool = False) -> str:
    """The Opus ``fmtp`` parameters for a track's options."""
    if music and not dtx and bitrate_bps == 128_000 and not stereo:
        return OPUS_MUSIC_FMTP
    return (
        f"maxaveragebitrate={bitrate_bps};usedtx={int(dtx)};useinbandfec=1;"
        f"stereo={int(stereo)};maxplaybackrate={48000 if music else 16000}"
    )


def munge_opus_fmtp(sdp: str, mid: str, fmtp: str) -> str:
    """``sdp`` with the Opus ``a=fmtp`` of the m-line whose ``a=mid`` is ``mid`` replaced."""
    sections = re.split(r"(?m)^(?=m=)", sdp)
    out: list[str] = []
    for part in sections:
        section = part
        if section.startswith("m=audio") and re.search(
            rf"(?m)^a=mid:{re.escape(mid)}\r?$", section
        ):
            found = re.search(r"(?mi)^a=rtpmap:(\d+) opus/48000", section)
            if found is not None:
                pt = found.group(1)
                line = f"a=fmtp:{pt} {fmtp}\r\n"
                if re.search(rf"(?m)^a=fmtp:{pt} .*\r?\n", section):
                    section = re.sub(rf"(?m)^a=fmtp:{pt} .*\r?\n", line, section)
                else:
                    end = section.index("\n", found.end()) + 1
                    section = section[:end] + line + section[end:]
        out.append(section)
    return "".join(out)


def make_opus_encoder(*, bitrate_bps: int, music: bool, dtx: bool) -> Any:
    """An aiortc ``OpusEncoder`` set to ``bitrate_bps`` and application audio/voip."""
    import av
    from aiortc.codecs.opus import OpusEncoder

    class MonoOpusEncoder(OpusEncoder):
        """Duplicates mono into both channels: aiortc's mono->stereo resample costs 3 dB."""

        def encode(self, frame: Any, force_keyframe: bool = False) -> Any:
            if frame.layout.name == "mono" and frame.format.name == "s16":
                mono = frame.to_ndarray().reshape(-1)
                both = np.repeat(mono, 2).reshape(1, -1)
                stereo = av.AudioFrame.from_ndarray(both, format="s16", layout="stereo")
                stereo.sample_rate, stereo.pts, stereo.time_base = (
                    frame.sample_rate,
                    frame.pts,
                    frame.time_base,
                )
                frame = stereo
            return super().encode(frame, force_keyframe)

    encoder = MonoOpusEncoder()
    encoder.codec.bit_rate = bitrate_bps
    options = {"application": "audio" if music else "voip"}
    if dtx:
        options["dtx"] = "1"
    encoder.codec.options = options
    return encoder


def set_sender_encoder(sender: Any, encoder: Any) -> None:
    """Make an aiortc ``RTCRtpSender`` use ``encoder`` (it creates one lazily otherwise)."""
    # aiortc has no API for encoder options; the sender builds its encoder on the first
    # frame only if none is set (rtcrtpsender._next_encoded_frame)
    sender._RTCRtpSender__encoder = encoder


def set_low_latency(receiver: Any) -> None:
    """Release each Opus packet as soon as the next one arrives (~20 ms) instead of
    aiortc's prefetch of 4 (~80 ms). Call before packets arrive (at the track event)."""
    from aiortc.jitterbuffer import JitterBuffer

    # aiortc has no API for it; the receiver builds JitterBuffer(16, prefetch=4) for audio
    receiver._RTCRtpReceiver__jitter_buffer = JitterBuffer(capacity=16, prefetch=1)


def _transceiver_of(pc: RTCPeerConnection, track: MediaStreamTrack) -> Any:
    for transceiver in pc.getTransceivers():
        if transceiver.receiver.track is track:
            return transceiver
    return None


class OutgoingTrack:
    """A labelled track this console sends (``clinician_console_api.OutgoingAudioTrack``)."""

    def __init__(self, owner: SessionTracks, label: str, ring: RingBuffer, source: Any) -> None:
        self._owner = owner
        self._label = label
        self._ring = ring
        self.source = source  # the aiortc track read by the sender
        self.transceiver: Any = None
        self.mid = ""
        self.closed = False

    @property
    def label(self) -> str:
        return self._label

    @property
    def sample_rate_hz(self) -> int:
        return SAMPLE_RATE_HZ

    def write(self, block: npt.ArrayLike) -> None:
        if self.closed:
            return
        x = np.asarray(block, dtype=np.float32)
        if x.ndim == 2:
            x = x.mean(axis=1)
        self._ring.write(x)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self._owner._remove(self)


class IncomingTrack:
    """A labelled track another participant sends (``clinician_console_api.IncomingAudioTrack``)."""

    def __init__(self, participant_id: str, label: str, track: MediaStreamTrack) -> None:
        self._participant_id = participant_id
        self._label = label
        self._track = track
        self._resampler: Any = None
        self.frames = 0

    @property
    def participant_id(self) -> str:
        return self._participant_id

    @property
    def label(self) -> str:
        return self._label

    @property
    def sample_rate_hz(self) -> int:
        return SAMPLE_RATE_HZ

    async def read(self) -> npt.NDArray[np.float32]:
        from aiortc.mediastreams import MediaStreamError

        try:
            frame: Any = await self._track.recv()
        except MediaStreamError as exc:
            raise CapabilityUnavailableError(
                capability=CAPABILITY, reason="the remote track ended"
            ) from exc
        self.frames += 1
        if frame.sample_rate != SAMPLE_RATE_HZ:
            import av

            if self._resampler is None:
                self._resampler = av.AudioResampler(
                    format="s16", layout="mono", rate=SAMPLE_RATE_HZ
                )
            parts = [frame_to_float(out) for out in self._resampler.resample(frame)]
            samples = np.concatenate(parts) if parts else np.zeros(0)
        else:
            samples = frame_to_float(frame)
        return samples.astype(np.float32).reshape(-1, 1)


class SessionTracks:
    """``visit.tracks`` over one media session (install before ``start``).

    It reaches the session only through :class:`app.visit.MediaSessionPort`, and the
    session calls it only through :class:`app.visit.ExtraTracksPort`.
    """

    def __init__(self, session: MediaSessionPort) -> None:
        self.session = session
        self._visit_callbacks: list[Callable[[bool], None]] = []
        self._subscribers: dict[str, list[Callable[[IncomingTrack], None]]] = {}
        self.incoming: list[IncomingTrack] = []
        self.outgoing: list[OutgoingTrack] = []
        self._lock = asyncio.Lock()
        self._active = False
        self._wanted: dict[int, set[str]] = {}  # feed -> labels Janus says it sends
        self._resubscribing: set[int] = set()
        session.attach_tracks(self)
        session.visit.state_changed.connect(self._on_state)

    # -- VisitTracks --

    def visit_active(self) -> bool:
        return self.session.visit.state in ACTIVE_STATES and self.session.publisher() is not None

    def on_visit_change(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        self._visit_callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._visit_callbacks.remove(callback)

        return unsubscribe

    async def add_audio_track(
        self,
        label: str,
        *,
        sample_rate_hz: int = 48_000,
        channels: int = 1,
        options: Any = None,
    ) -> OutgoingTrack:
        if sample_rate_hz != SAMPLE_RATE_HZ or channels != 1:
            raise CapabilityUnavailableError(
                capability=CAPABILITY, reason="extra tracks are 48 kHz mono"
            )
        if not self.visit_active():
            raise CapabilityUnavailableError(capability=CAPABILITY, reason="no visit is running")
        music = bool(getattr(options, "music", False))
        dtx = bool(getattr(options, "dtx", True))
        bitrate = int(getattr(options, "bitrate_bps", 32_000))
        ring = RingBuffer(SAMPLE_RATE_HZ)
        out = OutgoingTrack(self, label, ring, make_steth_track(ring))
        async with self._lock:
            await self._publish_extra(out, music=music, dtx=dtx, bitrate_bps=bitrate)
        self.outgoing.append(out)
        return out

    def subscribe_audio(
        self, label: str, callback: Callable[[IncomingTrack], None]
    ) -> Callable[[], None]:
        self._subscribers.setdefault(label, []).append(callback)
        for track in list(self.incoming):
            if track.label == label:
                self._deliver(callback, track)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.get(label, []).remove(callback)

        return unsubscribe

    # -- sending --

    async def _publish_extra(
        self, out: OutgoingTrack, *, music: bool, dtx: bool, bitrate_bps: int
    ) -> None:
        from aiortc import RTCSessionDescription

        session = self.session
        published = session.publisher()
        if published is None:
            raise CapabilityUnavailableError(capability=CAPABILITY, reason="no visit is running")
        pc, handle = published
        transceiver = pc.addTransceiver(out.source, direction="sendonly")
        offer = await pc.createOffer()
        await session.set_local_description(pc, offer)
        mid = str(transceiver.mid)
        sdp = munge_opus_fmtp(
            pc.localDescription.sdp,
            mid,
            opus_fmtp(music=music, dtx=dtx, bitrate_bps=bitrate_bps),
        )
        body = {
            "request": "configure",
            "descriptions": [{"mid": mid, "description": out.label}]
            + [{"mid": o.mid, "description": o.label} for o in self.outgoing if not o.closed],
        }
        try:
            _data, answer = await handle.async_request(body, {"type": "offer", "sdp": sdp})
        except VisitError as exc:
            raise CapabilityUnavailableError(
                capability=CAPABILITY, reason="the media server refused the track"
            ) from exc
        if answer is None or answer.get("type") != "answer":
            raise CapabilityUnavailableError(
                capability=CAPABILITY, reason="the media server sent no answer"
            )
        await session.set_remote_description(pc, RTCSessionDescription(answer["sdp"], "answer"))
        set_sender_encoder(
            transceiver.sender, make_opus_encoder(bitrate_bps=bitrate_bps, music=music, dtx=dtx)
        )
        out.transceiver, out.mid = transceiver, mid
        log.info("visit: extra audio track published (mid %s)", mid)

    async def _remove(self, out: OutgoingTrack) -> None:
        with contextlib.suppress(ValueError):
            self.outgoing.remove(out)
        out.source.stop()
        transceiver = out.transceiver
        if transceiver is not None and self.visit_active():
            # aiortc cannot renegotiate a removed m-line; stopping the sender ends the
            # stream (Janus sees no more packets); the m-line stays until the next publish
            with contextlib.suppress(Exception):
                await transceiver.sender.stop()

    # -- receiving (hooks called by VisitSession) --

    def claim_remote_track(
        self, feed_id: int, handle: VideoRoomHandle, pc: RTCPeerConnection, track: MediaStreamTrack
    ) -> bool:
        """A subscriber PeerConnection got ``track``: take it if Janus says it is labelled."""
        if track.kind != "audio":
            return False
        transceiver = _transceiver_of(pc, track)
        mid = str(getattr(transceiver, "mid", "") or "")
        label = ""
        for stream in getattr(handle, "streams", None) or []:
            if isinstance(stream, dict) and str(stream.get("mid")) == mid:
                description = stream.get("feed_description")
                label = description if isinstance(description, str) else ""
        if not label:
            return False
        if label in LOW_LATENCY_LABELS and transceiver is not None:
            set_low_latency(transceiver.receiver)
        incoming = IncomingTrack(str(feed_id), label, track)
        self.incoming = [
            t for t in self.incoming if t.participant_id != str(feed_id) or t.label != label
        ]
        self.incoming.append(incoming)
        for callback in list(self._subscribers.get(label, [])):
            self._deliver(callback, incoming)
        return True

    def on_room_event(self, data: dict[str, Any]) -> None:
        """A main-room event: resubscribe to feeds that gained a labelled audio stream."""
        publishers = data.get("publishers")
        if not isinstance(publishers, list):
            return
        for pub in publishers:
            if not isinstance(pub, dict) or not isinstance(pub.get("id"), int):
                continue
            labels = {
                s.get("description")
                for s in pub.get("streams", []) or []
                if isinstance(s, dict)
                and s.get("type") == "audio"
                and s.get("description")
                and not s.get("disabled")
            }
            self._wanted[pub["id"]] = {str(label) for label in labels}
            if self._missing(pub["id"]) and pub["id"] not in self._resubscribing:
                self.session.spawn(self._resubscribe(pub["id"]))

    def _missing(self, feed_id: int) -> set[str]:
        have = {t.label for t in self.incoming if t.participant_id == str(feed_id)}
        return self._wanted.get(feed_id, set()) - have

    async def _resubscribe(self, feed_id: int) -> None:
        session = self.session
        self._resubscribing.add(feed_id)
        try:
            for _attempt in range(RESUBSCRIBE_ATTEMPTS):
                # wait out a rebuild in progress (it may pick the new stream up by itself)
                deadline = time.monotonic() + 10.0
                while (busy := session.feed_busy(feed_id)) is True:
                    if time.monotonic() > deadline or session.ended:
                        return
                    await asyncio.sleep(0.1)
                if busy is None or not self._missing(feed_id):
                    return
                try:
                    await session.resubscribe(feed_id)
                except VisitError as exc:
                    log.info("visit: re-subscribe for a new track failed (%s)", exc.message_key)
        finally:
            self._resubscribing.discard(feed_id)

    def _deliver(self, callback: Callable[[IncomingTrack], None], track: IncomingTrack) -> None:
        try:
            callback(track)
        except Exception:
            log.exception("visit: a track subscriber raised")

    def _on_state(self, state: VisitState, _reason: str) -> None:
        active = state in ACTIVE_STATES
        if state is VisitState.ENDED:
            for out in self.outgoing:
                out.closed = True
            self.outgoing.clear()
            self.incoming.clear()
        if active != self._active:
            self._active = active
            for callback in list(self._visit_callbacks):
                try:
                    callback(active)
                except Exception:
                    log.exception("visit: a visit-change callback raised")


__all__ = [
    "OPUS_MUSIC_FMTP",
    "IncomingTrack",
    "OutgoingTrack",
    "SessionTracks",
    "make_opus_encoder",
    "munge_opus_fmtp",
    "opus_fmtp",
    "set_sender_encoder",
]
