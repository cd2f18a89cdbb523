"""A visit through Janus: :class:`VisitSession` drives an :class:`app.visit.Visit`.

The session is in four parts, one concern each:

- ``media/visit/config.py``: :class:`SessionConfig`, TURN and ICE configuration;
- ``media/visit/rooms.py``: the rooms and the sealed waiting room (create, wait,
  admit, remove);
- ``media/visit/recovery.py``: the watchdog, PeerConnection rebuilds, rejoin;
- this module: joining, negotiation (publisher and subscribers), media, the
  statistics it hands the Visit (computed by ``media/rtc/stats.py``) and the
  :class:`app.visit.VisitControls` the window calls.

Media. One publisher PeerConnection (camera + microphone, sendonly) and one
subscriber PeerConnection per remote publisher (any number: multi-party).
aiortc gathers all candidates before ``setLocalDescription`` returns, so SDPs
are sent complete (``trickle: false``); host candidates come only from the
addresses allowed by ``[media_server] interfaces`` (:func:`host_addresses`),
TURN servers and ``force_relay`` from settings.

Extra tracks (media/visit/tracks.py) reach the session only through
:class:`app.visit.MediaSessionPort`, and the session reaches them only through
:class:`app.visit.ExtraTracksPort`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.errors import (
    DeviceError,
    DeviceUnavailableError,
    VisitAuthError,
    VisitConnectError,
    VisitEndedError,
    VisitError,
    VisitProtocolError,
)
from app.visit import (
    CallStats,
    EndReason,
    ExtraTracksPort,
    MediaDevice,
    Participant,
    ParticipantRole,
    TrackStats,
    Visit,
    VisitState,
    WaitingPatient,
    classify_quality,
)
from media.devices.audio import SpeakerSink
from media.janus.client import JanusClient, JanusEvent
from media.janus.videoroom import (
    ERR_NO_SUCH_FEED,
    NOT_ADMITTED,
    Joined,
    Publisher,
    VideoRoomHandle,
    describe,
    error_code,
)
from media.rtc import stats
from media.rtc.hostaddr import pin_host_addresses
from media.visit.config import (
    SessionConfig,
    TurnServer,
    host_addresses,
    ice_config,
    parse_turn,
)
from media.visit.core import RemoteFeed
from media.visit.recovery import RETRY_PAUSE_S, RecoveryMixin
from media.visit.rooms import RoomsMixin, participant_id_for
from media.visit.sealed import HostKey

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack, RTCPeerConnection

log = logging.getLogger(__name__)

ADAPT_SETTLE_S = 5.0  # low-bandwidth mode ignores stats this long after (re)entering the call


class VisitSession(RoomsMixin, RecoveryMixin):
    """One participant in a Janus visit; implements :class:`app.visit.VisitControls`."""

    def __init__(self, visit: Visit, config: SessionConfig) -> None:
        self.visit = visit
        self.cfg = config
        self.client: JanusClient | None = None
        self.main: VideoRoomHandle | None = None  # our publisher handle in the main room
        self.lobby: VideoRoomHandle | None = None  # host: watcher; guest: waiting handle
        self.joined: Joined | None = None
        self.secret = ""
        self.token = config.token
        self.publisher_pc: RTCPeerConnection | None = None
        self.remotes: dict[int, RemoteFeed] = {}
        # One output stream per remote voice: PortAudio/PulseAudio mix them, and a
        # shared buffer would interleave two people's frames.
        self._speakers: dict[int, SpeakerSink] = {}
        self.waiting: dict[int, tuple[str, WaitingPatient]] = {}  # lobby id -> (token, entry)
        # host: main-room participant id -> admission token, to take it off the allowed
        # list on removal (ids follow from tokens: participant_id_for)
        self.admitted: dict[int, str] = {}
        self._host_key: HostKey | None = None  # host: opens the sealed waiting-room displays
        self._privacy_hold: bool | None = None  # the mic's mute state before a hold, if held
        self.connect_s: float | None = None  # start() until the first remote frame
        self._started_at = 0.0
        self._camera: Any = None
        self._microphone: Any = None
        self._video_gate: Any = None
        self.adapter: Any = None  # media.rtc.adapt.SenderAdapter: low-bandwidth mode
        self._audio_gate: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._admitted = asyncio.Event()
        self._ended = False
        self._pub_last = (0, time.monotonic())
        self._pub_rebuilding = False
        self._reconnect_reason = ""
        self.reconnects = 0
        self._reconnect_started: float | None = None
        self.recovery_s: list[float] = []
        self._departed: dict[int, RemoteFeed] = {}  # participants who left (for the summary)
        self.pc_config = ice_config(config)
        self.history: list[tuple[float, str, str]] = []  # (s since start, state, reason)
        visit.state_changed.connect(self._record_state)
        self._hosts = host_addresses(config.interfaces)
        visit.controls = self
        self.tracks: ExtraTracksPort | None = None  # visit.tracks (media/visit/tracks.py)
        self.stills: Any = None  # visit.stills (media/visit/stills.py): data channels

    # -- MediaSessionPort (what extra tracks may use) --

    @property
    def ended(self) -> bool:
        return self._ended

    def attach_tracks(self, tracks: ExtraTracksPort) -> None:
        self.tracks = tracks

    def attach_stills(self, stills: Any) -> None:
        self.stills = stills

    def publisher(self) -> tuple[RTCPeerConnection, VideoRoomHandle] | None:
        if self.publisher_pc is None or self.main is None:
            return None
        return self.publisher_pc, self.main

    async def set_local_description(self, pc: RTCPeerConnection, description: Any) -> None:
        await self._set_local(pc, description)

    async def set_remote_description(self, pc: RTCPeerConnection, description: Any) -> None:
        await self._set_remote(pc, description)

    def feed_busy(self, feed_id: int) -> bool | None:
        remote = self.remotes.get(feed_id)
        if remote is None:
            return None
        return remote.rebuilding or remote.pc is None

    async def resubscribe(self, feed_id: int) -> None:
        remote = self.remotes.get(feed_id)
        if remote is None or remote.rebuilding:
            return
        remote.rebuilding = True
        try:
            await self._drop_remote(feed_id, forget=False)
            await self._subscribe(remote, owns_flag=False)
        finally:
            remote.rebuilding = False

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._spawn(coro)

    # -- lifecycle --

    def _record_state(self, state: VisitState, reason: str) -> None:
        elapsed = time.monotonic() - self._started_at if self._started_at else 0.0
        self.history.append((round(elapsed, 2), str(state), reason))

    async def start(self) -> None:
        """Connect, join (via the waiting room if not admitted) and publish. Raises VisitError."""
        self._started_at = time.monotonic()
        self.visit.update_state(VisitState.CONNECTING)
        try:
            await self._open_media()
            await self._connect()
            if self.is_host:
                await self._create_rooms()
                await self._join_main()
            elif self.token:
                await self._join_main()  # admitted already (a token given by hand)
            elif self.cfg.host_key:
                await self._wait_in_lobby()  # our invite link: through the sealed waiting room
                await self._join_main()
            else:
                await self._join_room_directly()
        except VisitError as exc:
            await self._teardown()
            self.visit.update_state(VisitState.ENDED, EndReason.of(exc))
            raise
        except BaseException:
            await self._teardown()
            self.visit.update_state(VisitState.ENDED, EndReason("visit.end.not_started"))
            raise
        self._tasks.append(asyncio.ensure_future(self._watchdog()))

    async def _open_media(self) -> None:
        from media.devices import audio, camera
        from media.visit.loopback import _gate_classes

        video_gate, audio_gate = _gate_classes()
        try:
            try:
                self._camera = camera.open_camera(
                    self.cfg.camera, self.cfg.width, self.cfg.height, self.cfg.fps
                )
            except DeviceError:
                if not self.cfg.camera_fallback:
                    raise
                self._camera = camera.open_camera(
                    camera.TESTSRC, self.cfg.width, self.cfg.height, self.cfg.fps
                )
                self.visit.notice.emit(
                    "No camera was found: the others see a test pattern. Choose a camera "
                    "from the camera menu when one is plugged in."
                )
            self._microphone = audio.open_microphone(self.cfg.microphone, fallback=True)
        except DeviceError as exc:
            raise VisitError(reason=f"camera or microphone unavailable: {exc}") from exc
        self._video_gate = video_gate(self._camera, self._on_local_frame)
        self._video_gate.open = True
        from media.rtc.adapt import SenderAdapter, normal_profile

        # every publisher feed reads the adapter's scaled track (low-bandwidth mode)
        self.adapter = SenderAdapter(
            self._video_gate,
            normal_profile(self.cfg.width, self.cfg.height, self.cfg.fps, self.cfg.bitrate_bps),
        )
        self._audio_gate = audio_gate(self._microphone)
        self._audio_gate.open = True

    def _on_local_frame(self, frame: Any) -> None:
        if self.cfg.render_frames:
            from media.devices.camera import frame_to_rgb

            # keyed by our participant id once joined (Visit drops frames of unlisted ids)
            key = str(self.joined.participant_id) if self.joined else "local"
            self.visit.put_frame(key, frame_to_rgb(frame))

    async def _connect(self) -> None:
        self.client = await JanusClient.connect(
            self.cfg.server_url, allow_insecure_hosts=self.cfg.allow_insecure_hosts
        )
        self.client.on_close = self._on_socket_closed

    async def _join_room_directly(self) -> None:
        """A room some other system set up (IT, another application): no waiting room of
        ours, just the room and its PIN. Rooms this console hosts admit only through
        their waiting room (an ``allowed`` list): Janus refuses the join, and the
        clinician is told to use the invite link, which carries the waiting room's key."""
        try:
            await self._join_main()
        except VisitAuthError as exc:
            if exc.params.get("reason") == NOT_ADMITTED:
                raise VisitAuthError(
                    reason="this visit admits through its waiting room: paste the host's "
                    "invite link (it carries the key that keeps your name private)"
                ) from exc
            raise

    async def _join_main(self) -> None:
        assert self.client is not None
        self.main = await VideoRoomHandle.attach(self.client, self._on_main_event)
        self.joined = await self.main.join_publisher(
            self.cfg.room,
            pin=self.cfg.pin,
            display=self._main_room_display(),
            token=self.token,
            # a guest's id follows from its token, so the host can take that token off
            # the allowed list when it removes the guest (the host keeps Janus's choice)
            participant_id=None if self.is_host else participant_id_for(self.token),
        )
        await self._publish()
        self._update_participants()
        self.visit.update_state(VisitState.WAITING if not self.remotes else VisitState.CONNECTING)
        for pub in self.joined.publishers:
            self._add_remote(pub)

    # -- publishing --

    async def _negotiate_publisher(self) -> RTCPeerConnection:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        assert self.main is not None
        pc = RTCPeerConnection(self.pc_config)
        # aiortc stops a sender's track when the sender ends, so every PeerConnection
        # gets its own thin feed over the long-lived gates (which own the devices)
        video = self.adapter.track if self.adapter is not None else self._video_gate
        pc.addTransceiver(_feed(video), direction="sendonly")
        pc.addTransceiver(_feed(self._audio_gate), direction="sendonly")
        if self.stills is not None:  # its data channel, in the first offer
            self.stills.on_publisher_pc(pc)
        try:
            offer = await pc.createOffer()
            await self._set_local(pc, offer)
            answer = await self.main.publish({"type": "offer", "sdp": pc.localDescription.sdp})
            await self._set_remote(pc, RTCSessionDescription(answer["sdp"], "answer"))
        except BaseException:
            await pc.close()
            raise
        self._apply_bitrate(pc)
        return pc

    async def _set_local(self, pc: RTCPeerConnection, description: Any) -> None:
        if self._hosts is None:
            await pc.setLocalDescription(description)
        else:
            with pin_host_addresses(self._hosts):
                await pc.setLocalDescription(description)

    async def _set_remote(self, pc: RTCPeerConnection, description: Any) -> None:
        try:
            await pc.setRemoteDescription(description)
        except Exception as exc:
            # aiortc's SDP parser signals garbage with assert/ValueError/KeyError/...: any
            # failure to apply the far end's description is the far end's protocol error
            raise VisitProtocolError(reason="the media server sent an unusable SDP") from exc

    def _apply_bitrate(self, pc: RTCPeerConnection) -> None:
        with contextlib.suppress(Exception):
            from media.rtc.bandwidth import apply_bitrate_cap

            for transceiver in pc.getTransceivers():
                if transceiver.kind == "video":
                    apply_bitrate_cap(
                        transceiver.sender,
                        self.adapter.profile.max_bitrate_bps
                        if self.adapter is not None
                        else self.cfg.bitrate_bps,
                    )

    async def _publish(self) -> None:
        self.publisher_pc = await self._negotiate_publisher()
        self._watch_pc(self.publisher_pc, None)

    def _watch_pc(self, pc: RTCPeerConnection, feed_id: int | None) -> None:
        @pc.on("iceconnectionstatechange")
        def _on_ice() -> None:
            if pc.iceConnectionState == "failed":
                self._schedule_rebuild(feed_id, "the network path failed")

    # -- subscribing --

    def _add_remote(self, pub: Publisher) -> None:
        if self.joined is not None and pub.feed_id == self.joined.participant_id:
            return
        remote = self.remotes.get(pub.feed_id)
        if remote is None:
            # someone who left and came back under the same id (a rebuilt publisher):
            # keep their frame counts so the call's figures stay whole
            remote = self._departed.pop(pub.feed_id, None) or RemoteFeed(pub.feed_id, "")
            self.remotes[pub.feed_id] = remote
        remote.display, remote.has_video, remote.has_audio = (
            self._readable_display(pub.feed_id, pub.display),
            pub.has_video,
            pub.has_audio,
        )
        self._update_participants()
        if remote.pc is None and not remote.rebuilding:
            remote.rebuilding = True
            self._spawn(self._subscribe(remote))

    async def _subscribe(self, remote: RemoteFeed, *, owns_flag: bool = True) -> None:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        assert self.client is not None and self.joined is not None
        try:
            while not self._ended and remote.feed_id in self.remotes:
                handle = await VideoRoomHandle.attach(self.client, self._on_subscriber_event)
                pc = RTCPeerConnection(self.pc_config)
                try:
                    self._install_receive_path(pc)
                    if self.tracks is not None:  # labelled tracks first (they claim theirs)
                        pc.on("track", functools.partial(self._claim_track, remote, handle, pc))
                    pc.on("track", lambda track, r=remote: self._on_remote_track(r, track))
                    offer = await handle.join_subscriber(
                        self.cfg.room,
                        pin=self.cfg.pin,
                        feed_id=remote.feed_id,
                        private_id=self.joined.private_id,
                        token=self.token,
                    )
                    await self._set_remote(pc, RTCSessionDescription(offer["sdp"], "offer"))
                    if self.stills is not None:  # after the offer: its m=application
                        self.stills.on_subscriber_pc(remote.feed_id, pc)
                    answer = await pc.createAnswer()
                    await self._set_local(pc, answer)
                    await handle.start({"type": "answer", "sdp": pc.localDescription.sdp})
                except VisitError as exc:
                    await pc.close()
                    with contextlib.suppress(VisitError):
                        await handle.detach()
                    if error_code(exc) == ERR_NO_SUCH_FEED:
                        return  # they unpublished; a new 'publishers' event brings them back
                    if isinstance(exc, VisitProtocolError):
                        raise
                    log.info("visit: subscription failed (%s); retrying", exc.message_key)
                    await asyncio.sleep(RETRY_PAUSE_S)
                    continue
                remote.handle, remote.pc = handle, pc
                remote.last_bytes, remote.last_change = 0, time.monotonic()
                self._watch_pc(pc, remote.feed_id)
                return
        finally:
            if owns_flag:
                remote.rebuilding = False

    def _install_receive_path(self, pc: RTCPeerConnection) -> None:
        if self.cfg.receive_path == "stock":
            return
        try:
            from media.rtc.install import install_receive_path

            install_receive_path(pc, "ours")
        except Exception as exc:  # an untested aiortc: fall back to the stock receive path
            log.warning("visit: low-latency receive path unavailable: %s", exc)

    def _claim_track(
        self, remote: RemoteFeed, handle: VideoRoomHandle, pc: RTCPeerConnection, track: Any
    ) -> None:
        if self.tracks is not None and self.tracks.claim_remote_track(
            remote.feed_id, handle, pc, track
        ):
            track.cc_labelled = True

    def _on_remote_track(self, remote: RemoteFeed, track: MediaStreamTrack) -> None:
        from media.visit.loopback import FrameProbe

        if getattr(track, "cc_labelled", False):
            return  # a labelled extra track: media/visit/tracks.py reads it
        if track.kind == "video":
            if remote.probe is not None:
                old = remote.probe
                self._spawn(old.stop())
            probe = FrameProbe(track, on_frame=functools.partial(self._on_remote_frame, remote))
            if remote.probe is not None:  # keep the counts across a rebuild
                probe.samples, probe.frames = remote.probe.samples, remote.probe.frames
                probe.unreadable = remote.probe.unreadable
            remote.probe = probe
            probe.start()
        elif track.kind == "audio":
            if remote.audio_task is not None:
                remote.audio_task.cancel()
            remote.audio_task = asyncio.ensure_future(self._pump_audio(remote, track))

    def _on_remote_frame(self, remote: RemoteFeed, frame: Any) -> None:
        if self.connect_s is None:
            self.connect_s = time.monotonic() - self._started_at
        if self.cfg.render_frames:
            from media.devices.camera import frame_to_rgb

            self.visit.put_frame(str(remote.feed_id), frame_to_rgb(frame))
        if self.visit.state is not VisitState.IN_CALL and not self._any_rebuilding():
            self._enter_call()

    async def _pump_audio(self, remote: RemoteFeed, track: MediaStreamTrack) -> None:
        from aiortc.mediastreams import MediaStreamError

        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                remote.audio_frames += 1
                if (
                    remote.probe is None  # sound only (a patient without a camera)
                    and self.visit.state is not VisitState.IN_CALL
                    and not self._any_rebuilding()
                ):
                    self._enter_call()
                if self._privacy_hold is not None:
                    continue  # on hold (the console is locked): receive, do not play
                sink = await self._speaker_for(remote.feed_id)
                if sink is not None:
                    sink.play(frame)

    async def _speaker_for(self, feed_id: int) -> SpeakerSink | None:
        if not self.cfg.speaker:
            return None
        sink = self._speakers.get(feed_id)
        if sink is None:
            sink = SpeakerSink(None, self.cfg.speaker)
            self._speakers[feed_id] = sink
            try:
                await sink.start()
            except DeviceUnavailableError as exc:
                # No speaker must not end the call: say so once, keep receiving.
                self.cfg.speaker = ""
                self._speakers.pop(feed_id, None)
                self.visit.notice.emit(exc.user_message())
                return None
        return sink

    async def _stop_speaker(self, feed_id: int) -> None:
        sink = self._speakers.pop(feed_id, None)
        if sink is not None:
            await sink.stop()

    def _enter_call(self) -> None:
        if self._reconnect_started is not None:
            self.recovery_s.append(time.monotonic() - self._reconnect_started)
            self._reconnect_started = None
        if self.visit.started_at is None:
            self.visit.started_at = datetime.now(UTC)
        self.visit.update_state(VisitState.IN_CALL)

    async def _drop_remote(self, feed_id: int, forget: bool) -> None:
        remote = self.remotes.get(feed_id)
        if remote is None:
            return
        if forget:
            del self.remotes[feed_id]
            if remote.probe is not None and remote.probe.frames:
                self._departed[feed_id] = remote
        pc, handle = remote.pc, remote.handle
        remote.pc = remote.handle = None
        if self.stills is not None:  # a transfer from them cannot finish now
            self.stills.on_feed_gone(feed_id)
        if remote.audio_task is not None:
            remote.audio_task.cancel()
        if forget:
            await self._stop_speaker(feed_id)
        if forget and remote.probe is not None:
            await remote.probe.stop()
        if pc is not None:
            await pc.close()
        if handle is not None:
            with contextlib.suppress(VisitError):
                await handle.detach()
        self._update_participants()
        if forget and not self.remotes and self.visit.state is VisitState.IN_CALL:
            self.visit.update_state(VisitState.WAITING, "everyone else left")

    # -- Janus events --

    def _on_main_event(self, event: JanusEvent) -> None:
        if event.kind == "hangup":
            self._schedule_rebuild(None, "the media server hung up")
            return
        if event.kind != "event" or event.plugin_data is None:
            return
        what = describe(event.plugin_data)
        for pub in what["publishers"]:
            self._add_remote(pub)
        if self.tracks is not None:
            self.tracks.on_room_event(event.plugin_data)
        for key in ("unpublished", "leaving", "kicked"):
            value = what[key]
            if isinstance(value, int):
                self._spawn(self._drop_remote(value, forget=key != "unpublished"))
        if what["destroyed"] or (what["leaving"] == "ok" and what["reason"] == "kicked"):
            kicked = what["reason"] == "kicked"
            reason = EndReason("visit.end.removed" if kicked else "visit.end.host_ended")
            self._spawn(self._end(reason))

    def _on_subscriber_event(self, event: JanusEvent) -> None:
        if event.kind == "hangup":
            for remote in self.remotes.values():
                if remote.handle is not None and remote.handle.handle_id == event.handle_id:
                    self._schedule_rebuild(remote.feed_id, "the media server hung up")

    # -- stats --

    async def refresh_stats(self) -> CallStats:
        tracks: list[TrackStats] = []
        rtt: float | None = None
        candidate, relay_proto = "", ""
        if self.publisher_pc is not None:
            candidate, relay_proto = stats.selected_candidate(self.publisher_pc)
            report = await self.publisher_pc.getStats()
            rtt = stats.rtt_ms(report)
            tracks += stats.outbound_video(
                report,
                codec=stats.codecs(self.publisher_pc).get("video", ""),
                width_px=self.cfg.width,
                height_px=self.cfg.height,
                frames_per_s=float(self.cfg.fps),
            )
        for remote in self.remotes.values():
            pc = remote.pc
            if pc is None:
                continue
            report = await pc.getStats()
            probe = remote.probe
            remote.rates.update(
                probe.frames if probe else 0, stats.transport_bytes_received(report)
            )
            tracks += stats.inbound_tracks(
                report,
                participant_id=str(remote.feed_id),
                codec_of=stats.codecs(pc),
                width_px=probe.width if probe else 0,
                height_px=probe.height if probe else 0,
                rates=remote.rates,
            )
        worst_loss, min_fps = stats.worst_inbound_video(tracks)
        call = CallStats(
            rtt_ms=round(rtt, 1) if rtt is not None else None,
            candidate_type=candidate,
            relay_protocol=relay_proto,
            tracks=tuple(tracks),
            quality=classify_quality(rtt, worst_loss, min_fps),
        )
        if self.adapter is not None:  # low-bandwidth mode: step down/up, show the chip
            senders = [
                t.sender
                for t in (self.publisher_pc.getTransceivers() if self.publisher_pc else [])
                if t.kind == "video"
            ]
            # count samples only once the call has been steady for a few seconds
            changed_at = self.history[-1][0] if self.history else 0.0
            since = time.monotonic() - self._started_at - changed_at
            settled = self.visit.state is VisitState.IN_CALL and since >= ADAPT_SETTLE_S
            self.adapter.tick(call, senders, settled=settled and not self._any_rebuilding())
            call = self.adapter.annotate(call)
        self.visit.update_stats(call)
        return call

    @staticmethod
    def _remote_summary(remote: RemoteFeed) -> dict[str, Any]:
        probe = remote.probe
        latencies = [s.latency_ms for s in probe.samples] if probe else []
        return {
            "participant_id": str(remote.feed_id),
            "video_frames": probe.frames if probe else 0,
            "width": probe.width if probe else 0,
            "height": probe.height if probe else 0,
            "stamped_frames": len(latencies),
            # a decoded frame whose barcode did not read is not lost: count it out of the gaps
            "frames_lost": max(0, probe.lost() - probe.unreadable) if probe else 0,
            "unreadable_frames": probe.unreadable if probe else 0,
            **stats.latency_summary(latencies),
            "audio_frames": remote.audio_frames,
        }

    def summary(self) -> dict[str, Any]:
        """Call statistics for ``visit --headless --json`` (figures from the barcodes)."""
        everyone = {**self._departed, **self.remotes}
        remotes = [self._remote_summary(r) for r in everyone.values()]
        call = self.visit.stats
        return {
            "state": str(self.visit.state),
            "room": self.cfg.room,
            "connect_s": round(self.connect_s, 2) if self.connect_s is not None else None,
            "reconnects": self.reconnects,
            "states": [list(entry) for entry in self.history],
            "recovery_s": [round(s, 2) for s in self.recovery_s],
            "rtt_ms": call.rtt_ms,
            "candidate_type": call.candidate_type,
            "relay_protocol": call.relay_protocol,
            "quality": str(call.quality),
            "low_bandwidth": call.low_bandwidth,
            "sender_profiles": [  # low-bandwidth mode switches, oldest first
                {"profile": c.name, "width": c.width, "height": c.height, "fps": c.fps}
                for c in (self.adapter.changes if self.adapter is not None else [])
            ],
            "tracks": [
                {
                    "kind": t.kind,
                    "direction": t.direction,
                    "participant_id": t.participant_id,
                    "codec": t.codec,
                    "width": t.width_px,
                    "height": t.height_px,
                    "fps": t.frames_per_s,
                    "bitrate_kbps": t.bitrate_kbps,
                    "loss_pct": t.loss_pct,
                    "jitter_ms": t.jitter_ms,
                }
                for t in call.tracks
            ],
            "remotes": remotes,
        }

    # -- participants --

    def _update_participants(self) -> None:
        local = Participant(
            participant_id=str(self.joined.participant_id) if self.joined else "local",
            display=self.cfg.display,
            role=ParticipantRole.HOST if self.is_host else ParticipantRole.GUEST,
            is_local=True,
            has_video=self.visit.camera_enabled,
            has_audio=not self.visit.microphone_muted,
        )
        others = tuple(
            Participant(
                participant_id=str(r.feed_id),
                display=r.display,
                role=ParticipantRole.GUEST,
                has_video=r.has_video,
                has_audio=r.has_audio,
            )
            for r in self.remotes.values()
        )
        self.visit.update_participants((local, *others))

    # -- VisitControls --

    async def set_microphone_muted(self, muted: bool) -> None:
        if self._audio_gate is not None:
            self._audio_gate.muted = muted
        self.visit.update_local_media(muted, self.visit.camera_enabled)

    async def set_camera_enabled(self, enabled: bool) -> None:
        self._video_gate.enabled = enabled  # black frames keep the encoder and the path alive
        self.visit.update_local_media(self.visit.microphone_muted, enabled)

    async def switch_camera(self, device_id: str) -> None:
        from media.devices import camera

        new = camera.open_camera(device_id, self.cfg.width, self.cfg.height, self.cfg.fps)
        old, self._video_gate.source = self._video_gate.source, new
        old.stop()
        self.cfg.camera = device_id

    async def switch_microphone(self, device_id: str) -> None:
        from media.devices import audio

        new = audio.open_microphone(device_id)
        old, self._audio_gate.source = self._audio_gate.source, new
        old.stop()
        self.cfg.microphone = device_id

    async def set_speaker(self, device_id: str) -> None:
        # DeviceUnavailableError propagates to the window's presenter; the old
        # output is gone by then, so the next remote frame reopens the new one.
        self.cfg.speaker = device_id
        for feed_id in list(self._speakers):
            await self._speakers[feed_id].set_device(device_id)

    async def hang_up(self) -> None:
        await self._end(EndReason("visit.end.hung_up"))

    async def set_privacy_hold(self, on: bool) -> None:
        """Locked console: mic muted (the others see it), remote voices not played."""
        if on and self._privacy_hold is None:
            self._privacy_hold = self.visit.microphone_muted
            await self.set_microphone_muted(True)
        elif not on and self._privacy_hold is not None:
            was_muted, self._privacy_hold = self._privacy_hold, None
            await self.set_microphone_muted(was_muted)

    def devices(self) -> list[MediaDevice]:
        from media.devices import audio, camera

        found = camera.list_cameras()
        with contextlib.suppress(Exception):
            found += audio.list_microphones() + audio.list_speakers()
        return found

    async def _end(self, reason: EndReason) -> None:
        if self._ended:
            return
        self._ended = True
        with contextlib.suppress(Exception):
            await self.refresh_stats()
        await self._teardown()
        self.visit.update_state(VisitState.ENDED, reason)

    async def close(self) -> None:
        await self._end(EndReason("visit.end.hung_up"))

    async def _teardown(self) -> None:
        self._ended = True
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for feed_id in list(self.remotes):
            await self._drop_remote(feed_id, forget=True)
        if self.publisher_pc is not None:
            await self.publisher_pc.close()
            self.publisher_pc = None
        if self.client is not None and not self.client.closed.is_set():
            if self.is_host and self.lobby is not None and self.secret:
                for room in (self.cfg.room, self.cfg.room + 1):
                    with contextlib.suppress(VisitError):
                        await self.lobby.destroy_room(room, self.secret)
            elif self.main is not None:
                with contextlib.suppress(VisitError):
                    await self.main.leave()
            self.client.on_close = None
            await self.client.close()
        for track in (self._video_gate, self._audio_gate):
            if track is not None:
                track.stop()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, VisitError):
            log.warning("visit: %s", exc.message_key)
            self.visit.notice.emit(str(exc))
        elif exc is not None:
            log.error("visit: background task failed", exc_info=exc)


def _feed(source: MediaStreamTrack) -> MediaStreamTrack:
    """A track reading ``source`` whose stop() leaves ``source`` running."""
    from aiortc import MediaStreamTrack as Base

    class Feed(Base):
        kind = source.kind

        async def recv(self) -> Any:
            from aiortc.mediastreams import MediaStreamError

            if self.readyState != "live":
                raise MediaStreamError
            return await source.recv()

    return Feed()


__all__ = [
    "SessionConfig",
    "TurnServer",
    "VisitAuthError",
    "VisitConnectError",
    "VisitEndedError",
    "VisitSession",
    "host_addresses",
    "parse_turn",
    "participant_id_for",
]
