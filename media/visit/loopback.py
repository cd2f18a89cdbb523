"""The demo visit: a simulated patient over a real aiortc peer connection on loopback.

Two ``RTCPeerConnection`` objects in this process, ICE pinned to 127.0.0.1
(:mod:`media.rtc.hostaddr`), DTLS-SRTP and RTCP as in a real call. The patient
side sends the synthetic camera (moving test pattern, framestamped) and a tone;
the console side sends its own camera and microphone (falling back to the
synthetic ones). :class:`LoopbackVisit` drives an :class:`app.visit.Visit`
(state, participants, waiting room, stats, latest frames as RGB arrays) and
implements :class:`app.visit.VisitControls`, so ``--demo`` and UI tests run the
real visit window against real media.

Flow: ``start()`` connects and puts the patient in the waiting room (state
WAITING); ``admit()`` lets their media through (state IN_CALL, call timer
starts); ``remove_participant()`` sends them away; ``hang_up()`` ends it.
Before admission the patient's frames are discarded and the console's camera
and microphone are gated to black/silence, as in a real waiting room.

The lower-level helpers (:func:`connect_pair`, :func:`prefer_codec`,
:class:`FrameProbe`, :func:`drop_at_receiver`) are shared with
``bench.video_latency``, ``bench.nack_recovery`` and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.errors import VisitConnectError
from app.visit import (
    CallStats,
    EndReason,
    MediaDevice,
    Participant,
    ParticipantRole,
    Visit,
    VisitState,
    WaitingPatient,
    classify_quality,
)
from media import framestamp
from media.devices import audio, camera
from media.rtc import stats
from media.rtc.hostaddr import loopback_config, pin_host_addresses
from media.rtc.install import ReceivePath, install_receive_path

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack, RTCPeerConnection

log = logging.getLogger(__name__)

LOCAL_ID = "local"
PATIENT_ID = "demo-patient"
PATIENT_WAITING_ID = "demo-patient-waiting"
CONNECT_TIMEOUT_S = 15.0
STATS_INTERVAL_S = 1.0
SELF_VIEW_EVERY = 2  # convert every 2nd local frame to RGB for the self-view (CPU)


# --- pair plumbing (shared with the benchmark) ---------------------------------------


def prefer_codec(pc: RTCPeerConnection, mime: str) -> None:
    """Offer only ``mime`` (e.g. "video/VP8", "video/H264") plus RTX on video transceivers."""
    from aiortc import RTCRtpSender

    capabilities = RTCRtpSender.getCapabilities("video")
    chosen = [c for c in capabilities.codecs if c.mimeType.lower() == mime.lower()]
    if not chosen:
        raise ValueError(f"aiortc cannot send {mime}")
    rtx = [c for c in capabilities.codecs if c.mimeType.lower() == "video/rtx"]
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "video":
            transceiver.setCodecPreferences(chosen + rtx)


async def negotiate(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    """Offer/answer between two local peers on 127.0.0.1, then wait until both connect."""
    from aiortc import RTCSessionDescription

    with pin_host_addresses(["127.0.0.1"]):
        await offerer.setLocalDescription(await offerer.createOffer())
        offer = offerer.localDescription
        await answerer.setRemoteDescription(RTCSessionDescription(offer.sdp, offer.type))
        await answerer.setLocalDescription(await answerer.createAnswer())
        answer = answerer.localDescription
        await offerer.setRemoteDescription(RTCSessionDescription(answer.sdp, answer.type))
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while time.monotonic() < deadline:
        states = {offerer.connectionState, answerer.connectionState}
        if states == {"connected"}:
            return
        if "failed" in states or "closed" in states:
            break
        await asyncio.sleep(0.02)
    raise VisitConnectError(reason="loopback peers did not connect")


@dataclass
class Pair:
    sender: RTCPeerConnection  # the offerer
    receiver: RTCPeerConnection  # the answerer
    remote_tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)  # on receiver, by kind
    back_tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)  # on sender, by kind

    async def close(self) -> None:
        await asyncio.gather(self.sender.close(), self.receiver.close(), return_exceptions=True)


async def connect_pair(
    send: list[MediaStreamTrack],
    *,
    send_back: list[MediaStreamTrack] | None = None,
    codec: str = "video/VP8",
    receive_path: ReceivePath = "ours",
    buffer_options: Mapping[str, Any] | None = None,
) -> Pair:
    """Connect an offerer sending ``send`` to an answerer (optionally sending ``send_back``).

    ``buffer_options`` go to the answerer's jitter buffers (``receive_path="ours"``), e.g.
    ``{"timings": ReleaseTimings()}`` for a benchmark.
    """
    from aiortc import RTCPeerConnection

    sender = RTCPeerConnection(loopback_config())
    receiver = RTCPeerConnection(loopback_config())
    pair = Pair(sender, receiver)
    install_receive_path(receiver, receive_path, **(buffer_options or {}))
    install_receive_path(sender, receive_path)
    back = list(send_back or [])

    @receiver.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        pair.remote_tracks[track.kind] = track
        for transceiver in receiver.getTransceivers():
            if transceiver.receiver.track is track:
                local = next((t for t in back if t.kind == track.kind), None)
                if local is not None:
                    back.remove(local)
                    transceiver.sender.replaceTrack(local)
                    transceiver.direction = "sendrecv"

    @sender.on("track")
    def on_back_track(track: MediaStreamTrack) -> None:
        pair.back_tracks[track.kind] = track

    for track in send:
        sender.addTransceiver(track, direction="sendrecv" if send_back else "sendonly")
    prefer_codec(sender, codec)
    try:
        await negotiate(sender, receiver)
    except BaseException:
        await pair.close()
        raise
    return pair


#: ``drop(media_packets_seen, is_media, packet) -> bool``: True drops the packet.
DropRule = Callable[[int, bool, Any], bool]


def drop_at_receiver(receiver: Any, drop: DropRule) -> dict[str, int]:
    """Drop the RTP packets ``drop`` picks at an ``RTCRtpReceiver``'s door (a lossy network).

    A fake network at the RTP layer, like aiortc's ``DummyConnection(loss_pattern=...)``:
    kernel netem is not available here, and nft drops cannot tell a first transmission
    from its retransmission. ``is_media`` is False for retransmissions (RTX: another
    SSRC, the first one seen is the media's). Returns live counters: ``seen`` (media
    packets that reached the door), ``dropped`` (media and RTX packets dropped).
    """
    original = receiver._handle_rtp_packet
    counts = {"dropped": 0, "seen": 0}
    media_ssrc: set[int] = set()

    async def handle(packet: Any, arrival_time_ms: int) -> None:
        if not media_ssrc:
            media_ssrc.add(packet.ssrc)
        is_media = packet.ssrc in media_ssrc
        counts["seen"] += is_media
        if drop(counts["seen"], is_media, packet):
            counts["dropped"] += 1
            return
        await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle
    return counts


def video_receiver(pc: RTCPeerConnection) -> Any:
    """The ``RTCRtpReceiver`` of ``pc``'s (first) video transceiver."""
    return next(t.receiver for t in pc.getTransceivers() if t.kind == "video")


@dataclass
class ProbeSample:
    counter: int
    latency_ms: float


class FrameProbe:
    """Reads a remote video track, decodes each frame's barcode, keeps latency and loss."""

    def __init__(
        self, track: MediaStreamTrack, on_frame: Callable[[Any], None] | None = None
    ) -> None:
        self.track = track
        self.on_frame = on_frame
        self.samples: list[ProbeSample] = []
        self.frames = 0
        self.unreadable = 0
        self.width = 0
        self.height = 0
        self.recording = True
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame: Any = await self.track.recv()
            except MediaStreamError:
                return
            now = framestamp.now_us()
            self.frames += 1
            self.width, self.height = frame.width, frame.height
            if self.recording:
                stamp = framestamp.read_video_frame(frame)
                if stamp is None:
                    self.unreadable += 1
                else:
                    self.samples.append(
                        ProbeSample(stamp.counter, framestamp.age_ms(stamp, now=now))
                    )
            if self.on_frame is not None:
                self.on_frame(frame)

    def reset(self) -> None:
        self.samples.clear()
        self.unreadable = 0

    def lost(self) -> int:
        """Frames sent within the recorded counter range that never arrived (decoded)."""
        if not self.samples:
            return 0
        counters = {s.counter for s in self.samples}
        return max(counters) - min(counters) + 1 - len(counters)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


# --- gating wrappers for the console's own media -------------------------------------


def _gate_classes() -> tuple[type[Any], type[Any]]:
    from aiortc import MediaStreamTrack

    class VideoGate(MediaStreamTrack):
        """The console camera as sent: black while disabled or not admitted; swappable source."""

        kind = "video"

        def __init__(self, source: MediaStreamTrack, on_local: Callable[[Any], None]) -> None:
            super().__init__()
            self.source = source
            self.enabled = True
            self.open = False
            self.on_local = on_local
            self._n = 0

        async def recv(self) -> Any:
            import av

            frame: Any = await self.source.recv()
            self._n += 1
            if self.enabled and self._n % SELF_VIEW_EVERY == 0:
                self.on_local(frame)
            if self.enabled and self.open:
                return frame
            black = av.VideoFrame(frame.width, frame.height, "yuv420p")
            for plane, value in zip(black.planes, (16, 128, 128), strict=True):
                plane.update(bytes([value]) * plane.buffer_size)
            black.pts, black.time_base = frame.pts, frame.time_base
            return black

        def stop(self) -> None:
            self.source.stop()
            super().stop()

    class AudioGate(MediaStreamTrack):
        kind = "audio"

        def __init__(self, source: MediaStreamTrack) -> None:
            super().__init__()
            self.source = source
            self.muted = False
            self.open = False

        async def recv(self) -> Any:
            frame: Any = await self.source.recv()
            if self.muted or not self.open:
                for plane in frame.planes:
                    plane.update(bytes(plane.buffer_size))
            return frame

        def stop(self) -> None:
            self.source.stop()
            super().stop()

    return VideoGate, AudioGate


# Public name for the Janus session (media/visit/session.py gates its media the same way).
gate_classes = _gate_classes


# --- the demo visit ----------------------------------------------------------------


class LoopbackVisit:
    """A demo visit with a simulated patient; implements :class:`app.visit.VisitControls`."""

    def __init__(
        self,
        visit: Visit,
        *,
        camera_spec: str = camera.TESTSRC,
        microphone_spec: str = audio.TONE,
        width: int = 640,
        height: int = 480,
        fps: int = 30,
        receive_path: ReceivePath = "ours",
        patient_display: str = "Demo patient",
    ) -> None:
        self.visit = visit
        self.camera_spec = camera_spec
        self.microphone_spec = microphone_spec
        self.width, self.height, self.fps = width, height, fps
        self.receive_path = receive_path
        self.patient_display = patient_display
        self.pair: Pair | None = None
        self.probe: FrameProbe | None = None
        self._video_gate: Any = None
        self._audio_gate: Any = None
        self._admitted = False
        self._audio_frames = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._speaker: audio.SpeakerSink | None = None
        self._privacy_hold: bool | None = None  # the mic's mute state before a hold, if held
        self._rates = stats.Rates()  # the patient's video: frames/s, kbit/s
        visit.controls = self

    # -- lifecycle --

    async def start(self) -> None:
        self.visit.update_state(VisitState.CONNECTING)
        video_gate_cls, audio_gate_cls = _gate_classes()
        local_cam = camera.open_camera(
            self.camera_spec, self.width, self.height, self.fps, fallback=True
        )
        local_mic = audio.open_microphone(self.microphone_spec, fallback=True)
        self._video_gate = video_gate_cls(local_cam, self._on_local_frame)
        self._audio_gate = audio_gate_cls(local_mic)
        patient_cam = camera.open_camera(camera.TESTSRC, self.width, self.height, self.fps)
        patient_mic = audio.open_microphone(audio.TONE)
        try:
            # The patient offers (like a browser joining); the console answers and sends back.
            self.pair = await connect_pair(
                [patient_cam, patient_mic],
                send_back=[self._video_gate, self._audio_gate],
                receive_path=self.receive_path,
            )
        except VisitConnectError:
            self.visit.update_state(VisitState.ENDED, EndReason("visit.end.demo_not_started"))
            raise
        self.pair.receiver.on("connectionstatechange", self._on_connection_state)
        video = self.pair.remote_tracks.get("video")
        if video is not None:
            self.probe = FrameProbe(video, self._on_remote_frame)
            self.probe.start()
        remote_audio = self.pair.remote_tracks.get("audio")
        if remote_audio is not None:
            self._tasks.append(asyncio.ensure_future(self._pump_audio(remote_audio)))
        self._tasks.append(asyncio.ensure_future(self._stats_loop()))
        self.visit.update_participants(
            (
                Participant(
                    LOCAL_ID,
                    "You",
                    ParticipantRole.HOST,
                    is_local=True,
                    has_video=True,
                    has_audio=True,
                ),
            )
        )
        self.visit.update_waiting(
            (WaitingPatient(PATIENT_WAITING_ID, self.patient_display, datetime.now(UTC)),)
        )
        self.visit.update_state(VisitState.WAITING)

    def _on_connection_state(self) -> None:
        if self.pair is None:
            return
        state = self.pair.receiver.connectionState
        if state in ("failed", "closed") and self.visit.state is not VisitState.ENDED:
            self.visit.update_state(VisitState.ENDED, EndReason("visit.end.connection_lost"))

    # -- media callbacks --

    def _on_remote_frame(self, frame: Any) -> None:
        if self._admitted:
            self.visit.put_frame(PATIENT_ID, camera.frame_to_rgb(frame))

    def _on_local_frame(self, frame: Any) -> None:
        self.visit.put_frame(LOCAL_ID, camera.frame_to_rgb(frame))

    async def _pump_audio(self, track: MediaStreamTrack) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self._audio_frames += 1
            if self._speaker is not None and self._admitted and self._privacy_hold is None:
                self._speaker.play(frame)

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL_S)
            with contextlib.suppress(Exception):  # stats are best effort, never fatal
                await self.refresh_stats()

    async def refresh_stats(self) -> CallStats:
        assert self.pair is not None
        pc = self.pair.receiver
        report = await pc.getStats()
        rtt_ms = stats.rtt_ms(report)
        self._rates.update(
            self.probe.frames if self.probe is not None else 0,
            stats.transport_bytes_received(report),
        )
        tracks = stats.inbound_tracks(
            report,
            participant_id=PATIENT_ID,
            codec_of=stats.codecs(pc),
            width_px=self.probe.width if self.probe else 0,
            height_px=self.probe.height if self.probe else 0,
            rates=self._rates,
        )
        loss, _fps = stats.worst_inbound_video(tracks)
        call = CallStats(
            rtt_ms=rtt_ms,
            candidate_type="host",  # pinned to 127.0.0.1 host candidates
            tracks=tuple(tracks),
            quality=classify_quality(rtt_ms, loss, self._rates.frames_per_s or None),
        )
        log.debug("demo visit stats: %d tracks", len(tracks))
        self.visit.update_stats(call)
        return call

    # -- VisitControls --

    async def set_privacy_hold(self, on: bool) -> None:
        """Locked console: mic muted (the far end hears silence), patient audio not played."""
        if on and self._privacy_hold is None:
            self._privacy_hold = self.visit.microphone_muted
            await self.set_microphone_muted(True)
        elif not on and self._privacy_hold is not None:
            was_muted, self._privacy_hold = self._privacy_hold, None
            await self.set_microphone_muted(was_muted)

    async def set_microphone_muted(self, muted: bool) -> None:
        if self._audio_gate is not None:
            self._audio_gate.muted = muted
        self.visit.update_local_media(muted, self.visit.camera_enabled)

    async def set_camera_enabled(self, enabled: bool) -> None:
        if self._video_gate is not None:
            self._video_gate.enabled = enabled
        if not enabled:
            self.visit._frames.pop(LOCAL_ID, None)
        self.visit.update_local_media(self.visit.microphone_muted, enabled)

    async def switch_camera(self, device_id: str) -> None:
        new = camera.open_camera(device_id, self.width, self.height, self.fps)  # raises if absent
        old, self._video_gate.source = self._video_gate.source, new
        old.stop()
        self.camera_spec = device_id

    async def switch_microphone(self, device_id: str) -> None:
        new = audio.open_microphone(device_id)
        old, self._audio_gate.source = self._audio_gate.source, new
        old.stop()
        self.microphone_spec = device_id

    async def set_speaker(self, device_id: str) -> None:
        if self._speaker is not None:
            await self._speaker.stop()
            self._speaker = None
        sink = audio.SpeakerSink(None, device_id)
        await sink.start()  # DeviceUnavailableError propagates to the window's presenter
        self._speaker = sink

    async def admit(self, waiting_id: str) -> None:
        if waiting_id != PATIENT_WAITING_ID or self._admitted:
            return
        self._admitted = True
        self._video_gate.open = True
        self._audio_gate.open = True
        self.visit.update_waiting(())
        patient = Participant(
            PATIENT_ID,
            self.patient_display,
            ParticipantRole.PATIENT,
            has_video=True,
            has_audio=True,
        )
        self.visit.update_participants((*self.visit.participants, patient))
        self.visit.started_at = datetime.now(UTC)
        self.visit.update_state(VisitState.IN_CALL)

    async def remove_participant(self, participant_id: str) -> None:
        if participant_id != PATIENT_ID or not self._admitted:
            return
        self._admitted = False
        self._video_gate.open = False
        self._audio_gate.open = False
        self.visit.update_participants(
            tuple(p for p in self.visit.participants if p.participant_id != PATIENT_ID)
        )
        self.visit.notice.emit("The participant was removed from the visit.")
        self.visit.update_state(VisitState.WAITING)

    async def hang_up(self) -> None:
        if self.visit.state is VisitState.ENDED:
            return
        await self.close()
        self.visit.update_participants(())
        self.visit.update_state(VisitState.ENDED, EndReason("visit.end.hung_up"))

    def devices(self) -> list[MediaDevice]:
        return [*camera.list_cameras(), *audio.list_microphones(), *audio.list_speakers()]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.probe is not None:
            await self.probe.stop()
        if self._speaker is not None:
            await self._speaker.stop()
        if self.pair is not None:
            await self.pair.close()
        for gate in (self._video_gate, self._audio_gate):
            if gate is not None:
                gate.stop()
