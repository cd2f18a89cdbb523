"""A visit through Janus: :class:`VisitSession` drives an :class:`app.visit.Visit`.

Rooms. A visit uses two VideoRoom rooms with the same random PIN: the **main
room** ``N`` (even), created with an ``allowed`` token list so Janus itself
refuses anyone the host has not admitted, and the **waiting room** ``N + 1``
(``notify_joining``), where a patient joins with display ``"<token>|<name>"``
and publishes nothing, so they see and hear nobody. The host's console sees
them arrive (name, time waiting); admitting adds their token to the main
room's allowed list and kicks them out of the waiting room, which is the
patient page's cue to join the main room with that token. A console joining
without a token takes the same path.

Media. One publisher PeerConnection (camera + microphone, sendonly) and one
subscriber PeerConnection per remote publisher (any number: multi-party).
aiortc gathers all candidates before ``setLocalDescription`` returns, so SDPs
are sent complete (``trickle: false``); host candidates come only from the
addresses allowed by ``[media_server] interfaces`` (:func:`host_addresses`),
TURN servers and ``force_relay`` from settings.

Reconnection. aiortc has no ICE restart and its consent check needs ~30 s to
declare a path dead, so a watchdog looks at bytes received per
PeerConnection every second: a publisher/subscriber that received nothing for
:data:`STALL_S` (or whose ICE state failed) is rebuilt as a *new*
PeerConnection through Janus (publisher: unpublish, publish again on the same
handle, so the participant id stays; subscriber: a fresh subscription). State
goes RECONNECTING with a reason and back to IN_CALL when media flows again;
attempts repeat until the link returns or the visit ends. If the WebSocket
itself is lost the session joins again with a new Janus session.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

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
    Invite,
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
    DEFAULT_BITRATE_BPS,
    ERR_NO_SUCH_FEED,
    Joined,
    Publisher,
    VideoRoomHandle,
    describe,
    error_code,
    random_pin,
    random_room_id,
)
from media.rtc.hostaddr import pin_host_addresses
from media.visit.sealed import HostKey, seal

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection

    from media.visit.loopback import FrameProbe
    from media.visit.tracks import SessionTracks

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 1.0
ADAPT_SETTLE_S = 5.0  # low-bandwidth mode ignores stats this long after (re)entering the call
STALL_S = 3.0  # nothing received for this long on a PeerConnection: rebuild it
CONNECT_TIMEOUT_S = 10.0
RETRY_PAUSE_S = 1.0


def participant_id_for(token: str) -> int | None:
    """A guest's main-room participant id, from its admission token (48 bits: safe in JS).

    The page does the same (patient.js ``participantIdFor``). A token given by hand
    that is not hex gets Janus's choice of id (and cannot be taken back on removal).
    """
    head = token[:12]
    if len(head) < 12 or any(ch not in "0123456789abcdef" for ch in head):
        return None
    return int(head, 16) or 1


@dataclass(frozen=True, slots=True)
class TurnServer:
    url: str  # turn:host:port?transport=udp|tcp, turns:...
    username: str = ""
    credential: str = ""


def parse_turn(urls: Sequence[str], secret: str | None = None) -> list[TurnServer]:
    """``[media_server] turn`` entries; credentials from the URL query or the ``turn`` secret.

    ``turn:host:3478?transport=udp&username=u&credential=p`` carries its own; else the
    keyring secret ``turn`` (``clinician-console secret set turn``) as ``username:credential``.
    """
    found: list[TurnServer] = []
    for url in urls:
        base, _, query = url.partition("?")
        params = parse_qs(query)
        user = params.pop("username", [""])[0]
        cred = params.pop("credential", [""])[0]
        if not user and secret and ":" in secret:
            user, cred = secret.split(":", 1)
        rest = "&".join(f"{k}={v[0]}" for k, v in params.items())
        found.append(TurnServer(f"{base}?{rest}" if rest else base, user, cred))
    return found


def host_addresses(interfaces: Sequence[str]) -> list[str] | None:
    """Addresses aioice may offer: ``interfaces`` entries are names (``eth0``) or IPs.

    Empty means "aioice's default" (every interface but loopback): ``None``.
    """
    if not interfaces:
        return None
    import ipaddress

    import ifaddr

    wanted: list[str] = []
    names = set()
    for item in interfaces:
        try:
            wanted.append(str(ipaddress.ip_address(item)))
        except ValueError:
            names.add(item)
    for adapter in ifaddr.get_adapters():
        if adapter.nice_name in names or adapter.name in names:
            for ip in adapter.ips:
                if isinstance(ip.ip, str):
                    wanted.append(ip.ip)
    return wanted


@dataclass
class SessionConfig:
    server_url: str
    room: int = 0  # the main room; 0 with create=True picks one
    pin: str = ""
    display: str = "Clinician"
    create: bool = False  # host: create the rooms (and destroy them on hang-up)
    token: str = ""  # a main-room token (skip the waiting room)
    admin_key: str = ""  # Janus VideoRoom admin_key, if the server requires one to create
    bitrate_bps: int = DEFAULT_BITRATE_BPS
    interfaces: list[str] = field(default_factory=list)
    turn: list[TurnServer] = field(default_factory=list)
    force_relay: bool = False
    camera: str = "testsrc"
    microphone: str = "tone"
    width: int = 1280
    height: int = 720
    fps: int = 30
    page_url: str = ""  # patient page, for the invite
    browser_server_url: str = ""  # the server URL as browsers reach it (default: server_url)
    auto_admit: bool = False  # headless host: admit everyone who waits
    render_frames: bool = True  # convert remote frames to RGB for the window
    speaker: str = ""  # play remote voices on this output ("default", "sd:N"); "" = headless
    camera_fallback: bool = False  # no such camera: send the synthetic one (and say so)
    receive_path: str = "ours"
    host_key: str = ""  # guest: the host's public key from the invite link (sealed lobby)
    # Hosts that may be reached over plain ws:// (IT's policy, [security]
    # allow_insecure_hosts); loopback always may. Anything else needs wss://.
    allow_insecure_hosts: list[str] = field(default_factory=list)


@dataclass
class _Remote:
    feed_id: int
    display: str
    has_video: bool = False
    has_audio: bool = False
    handle: VideoRoomHandle | None = None
    pc: RTCPeerConnection | None = None
    probe: FrameProbe | None = None
    audio_frames: int = 0
    audio_task: asyncio.Task[None] | None = None
    last_bytes: int = 0
    last_change: float = field(default_factory=time.monotonic)
    rebuilding: bool = False
    stats_prev: tuple[float, int, int] | None = None  # time, frames, bytes


def _ice_config(cfg: SessionConfig) -> RTCConfiguration:
    config = _ice_config_unbundled(cfg)
    # Janus always BUNDLEs. aiortc's default (balanced) puts a 2nd/3rd audio m-line of a
    # subscriber offer on a transport that is never connected (the labelled tracks of
    # media/visit/tracks.py), and their packets then land in the voice receiver
    from aiortc import RTCBundlePolicy

    config.bundlePolicy = RTCBundlePolicy.MAX_BUNDLE
    return config


def _ice_config_unbundled(cfg: SessionConfig) -> RTCConfiguration:
    from aiortc import RTCConfiguration, RTCIceServer

    servers = [
        RTCIceServer(urls=t.url, username=t.username or None, credential=t.credential or None)
        for t in cfg.turn
    ]
    if cfg.force_relay:
        if not servers:
            raise VisitConnectError(reason="relay is required but no TURN server is configured")
        from aiortc import RTCIceTransportPolicy

        return RTCConfiguration(iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy.RELAY)
    return RTCConfiguration(iceServers=servers)


def _bytes_received(pc: RTCPeerConnection) -> int:
    """Bytes the PeerConnection's DTLS transports received (SRTP + RTCP), without stats I/O."""
    total = 0
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        # aiortc keeps the counter behind name mangling; getStats() reads the same value
        total += int(getattr(dtls, "_RTCDtlsTransport__rx_bytes", 0) or 0)
    return total


def _selected_candidate(pc: RTCPeerConnection) -> tuple[str, str]:
    """(local candidate type, relay protocol "udp"/"tcp") of the nominated ICE pair."""
    for transceiver in pc.getTransceivers():
        ice = getattr(transceiver.sender.transport, "transport", None)
        conn = getattr(ice, "_connection", None)
        for pair in getattr(conn, "_nominated", {}).values():
            kind = str(pair.local_candidate.type)
            if kind != "relay":
                return kind, ""
            turn = getattr(pair.protocol, "transport", None)
            inner = getattr(turn, "_TurnTransport__inner_protocol", None)
            return kind, "tcp" if "Tcp" in type(inner).__name__ else "udp"
    return "", ""


class VisitSession:
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
        self.remotes: dict[int, _Remote] = {}
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
        self._departed: dict[int, _Remote] = {}  # participants who left (for the summary)
        self.pc_config = _ice_config(config)
        self.history: list[tuple[float, str, str]] = []  # (s since start, state, reason)
        visit.state_changed.connect(self._record_state)
        self._hosts = host_addresses(config.interfaces)
        visit.controls = self
        self.tracks: SessionTracks | None = None  # visit.tracks (media/visit/tracks.py)

    # -- lifecycle --

    def _record_state(self, state: VisitState, reason: str) -> None:
        elapsed = time.monotonic() - self._started_at if self._started_at else 0.0
        self.history.append((round(elapsed, 2), str(state), reason))

    @property
    def is_host(self) -> bool:
        return self.cfg.create

    async def start(self) -> None:
        """Connect, join (via the waiting room if not admitted) and publish. Raises VisitError."""
        self._started_at = time.monotonic()
        self.visit._set_state(VisitState.CONNECTING)
        try:
            await self._open_media()
            await self._connect()
            if self.is_host:
                await self._create_rooms()
            elif not self.token:
                await self._wait_in_lobby()
            await self._join_main()
        except VisitError as exc:
            await self._teardown()
            self.visit._set_state(VisitState.ENDED, str(exc))
            raise
        except BaseException:
            await self._teardown()
            self.visit._set_state(VisitState.ENDED, "the visit could not start")
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
            self.visit._set_frame(key, frame_to_rgb(frame))

    async def _connect(self) -> None:
        self.client = await JanusClient.connect(
            self.cfg.server_url, allow_insecure_hosts=self.cfg.allow_insecure_hosts
        )
        self.client.on_close = self._on_socket_closed

    async def _create_rooms(self) -> None:
        assert self.client is not None
        admin = await VideoRoomHandle.attach(self.client, self._on_lobby_event)
        self.lobby = admin
        room = self.cfg.room or random_room_id()
        pin = self.cfg.pin or random_pin()
        self.secret = secrets.token_urlsafe(18)
        self.token = self.token or secrets.token_hex(16)
        self._host_key = HostKey()
        await admin.create_room(
            room,
            pin=pin,
            secret=self.secret,
            bitrate_bps=self.cfg.bitrate_bps,
            allowed=[self.token],
            admin_key=self.cfg.admin_key or None,
        )
        await admin.create_room(
            room + 1,
            pin=pin,
            secret=self.secret,
            bitrate_bps=64_000,
            publishers=32,
            notify_joining=True,
            description="waiting room",
            admin_key=self.cfg.admin_key or None,
        )
        self.cfg.room, self.cfg.pin = room, pin
        joined = await admin.join_publisher(room + 1, pin=pin, display="host")
        for attendee_id, display in joined.attendees:
            self._lobby_joined(attendee_id, display)
        if self.cfg.page_url:
            self.visit.invite = Invite(
                page_url=self.cfg.page_url,
                server_url=self.cfg.browser_server_url or self.cfg.server_url,
                room=room,
                pin=pin,
                host_key=self._host_key.public,
            )

    @property
    def lobby_key(self) -> str:
        """Host: the public key joiners seal their waiting-room request to ("" as a guest)."""
        return self._host_key.public if self._host_key is not None else ""

    async def _wait_in_lobby(self) -> None:
        assert self.client is not None
        if not self.cfg.host_key:
            # Never fall back to a readable display: everyone in the waiting room sees it.
            raise VisitError(
                reason="joining through the waiting room needs the host's invite link "
                "(it carries the key that keeps your name private): paste the link"
            )
        self.token = secrets.token_hex(16)
        display = seal(self.cfg.host_key, self.cfg.room, self.token, self.cfg.display)
        self.lobby = await VideoRoomHandle.attach(self.client, self._on_guest_lobby_event)
        await self.lobby.join_publisher(self.cfg.room + 1, pin=self.cfg.pin, display=display)
        self.visit._set_state(VisitState.WAITING, "waiting to be admitted")
        await self._admitted.wait()
        with contextlib.suppress(VisitError):
            await self.lobby.detach()
        self.lobby = None

    async def _join_main(self) -> None:
        assert self.client is not None
        self.main = await VideoRoomHandle.attach(self.client, self._on_main_event)
        self.joined = await self.main.join_publisher(
            self.cfg.room,
            pin=self.cfg.pin,
            display=self.cfg.display,
            token=self.token,
            # a guest's id follows from its token, so the host can take that token off
            # the allowed list when it removes the guest (the host keeps Janus's choice)
            participant_id=None if self.is_host else participant_id_for(self.token),
        )
        await self._publish()
        self._update_participants()
        self.visit._set_state(VisitState.WAITING if not self.remotes else VisitState.CONNECTING)
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
            remote = self._departed.pop(pub.feed_id, None) or _Remote(pub.feed_id, pub.display)
            self.remotes[pub.feed_id] = remote
        remote.display, remote.has_video, remote.has_audio = (
            pub.display,
            pub.has_video,
            pub.has_audio,
        )
        self._update_participants()
        if remote.pc is None and not remote.rebuilding:
            remote.rebuilding = True
            self._spawn(self._subscribe(remote))

    async def _subscribe(self, remote: _Remote, *, owns_flag: bool = True) -> None:
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
        self, remote: _Remote, handle: VideoRoomHandle, pc: RTCPeerConnection, track: Any
    ) -> None:
        if self.tracks is not None and self.tracks.claim_remote_track(
            remote.feed_id, handle, pc, track
        ):
            track.cc_labelled = True

    def _on_remote_track(self, remote: _Remote, track: MediaStreamTrack) -> None:
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

    def _on_remote_frame(self, remote: _Remote, frame: Any) -> None:
        if self.connect_s is None:
            self.connect_s = time.monotonic() - self._started_at
        if self.cfg.render_frames:
            from media.devices.camera import frame_to_rgb

            self.visit._set_frame(str(remote.feed_id), frame_to_rgb(frame))
        if self.visit.state is not VisitState.IN_CALL and not self._any_rebuilding():
            self._enter_call()

    async def _pump_audio(self, remote: _Remote, track: MediaStreamTrack) -> None:
        from aiortc.mediastreams import MediaStreamError

        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                remote.audio_frames += 1
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
        self.visit._set_state(VisitState.IN_CALL)

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
            self.visit._set_state(VisitState.WAITING, "everyone else left")

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
            reason = "the host removed you" if what["reason"] == "kicked" else "the host ended it"
            self._spawn(self._end(reason))

    def _on_subscriber_event(self, event: JanusEvent) -> None:
        if event.kind == "hangup":
            for remote in self.remotes.values():
                if remote.handle is not None and remote.handle.handle_id == event.handle_id:
                    self._schedule_rebuild(remote.feed_id, "the media server hung up")

    def _lobby_joined(self, attendee_id: int, display: str) -> None:
        request = self._host_key.open(display, self.cfg.room) if self._host_key else None
        if request is None:
            return  # the host's own watcher, or not sealed to this visit's key
        if any(token == request.token for token, _ in self.waiting.values()):
            return  # a copy of someone's sealed request: it admits nobody, show it once
        entry = WaitingPatient(str(attendee_id), request.name, datetime.now(UTC))
        self.waiting[attendee_id] = (request.token, entry)
        self.visit._set_waiting(tuple(e for _, e in self.waiting.values()))
        if self.cfg.auto_admit:
            self._spawn(self.admit(str(attendee_id)))

    def _on_lobby_event(self, event: JanusEvent) -> None:
        if event.kind != "event" or event.plugin_data is None:
            return
        what = describe(event.plugin_data)
        joining = what["joining"]
        if joining is not None and isinstance(joining.get("id"), int):
            display = joining.get("display", "")
            self._lobby_joined(joining["id"], display if isinstance(display, str) else "")
        for key in ("leaving", "kicked"):
            if isinstance(what[key], int) and what[key] in self.waiting:
                del self.waiting[what[key]]
                self.visit._set_waiting(tuple(e for _, e in self.waiting.values()))

    def _on_guest_lobby_event(self, event: JanusEvent) -> None:
        if event.kind != "event" or event.plugin_data is None:
            return
        what = describe(event.plugin_data)
        if what["leaving"] == "ok" and what["reason"] == "kicked":
            self._admitted.set()  # admitted (or turned away: the main-room join will tell)
        elif what["destroyed"]:
            self._admitted.set()

    def _on_socket_closed(self, reason: str) -> None:
        if not self._ended:
            self._spawn(self._rejoin(reason))

    # -- reconnection --

    def _any_rebuilding(self) -> bool:
        return self._pub_rebuilding or any(r.rebuilding for r in self.remotes.values())

    def _schedule_rebuild(self, feed_id: int | None, reason: str) -> None:
        if self._ended or self.visit.state in (VisitState.CONNECTING, VisitState.ENDED):
            return
        if feed_id is None:
            if self._pub_rebuilding:
                return
            self._pub_rebuilding = True
            coro = self._rebuild_publisher()
        else:
            remote = self.remotes.get(feed_id)
            if remote is None or remote.rebuilding:
                return
            remote.rebuilding = True
            coro = self._rebuild_subscriber(remote)
        if self.visit.state is not VisitState.RECONNECTING:
            self.reconnects += 1
            self._reconnect_started = time.monotonic()
            self.visit._set_state(VisitState.RECONNECTING, reason)
        self._spawn(coro)

    async def _rebuild_publisher(self) -> None:
        fresh_handle = False
        try:
            while not self._ended:
                old, self.publisher_pc = self.publisher_pc, None
                if old is not None:
                    await old.close()
                try:
                    if fresh_handle:
                        await self._fresh_publisher_handle()
                    else:
                        assert self.main is not None
                        with contextlib.suppress(VisitProtocolError):  # 435: not published
                            await self.main.unpublish()
                    self.publisher_pc = await asyncio.wait_for(
                        self._negotiate_publisher(), CONNECT_TIMEOUT_S
                    )
                except (VisitError, TimeoutError) as exc:
                    log.info("visit: re-publish failed (%s); retrying", type(exc).__name__)
                    # the handle may be in a state Janus will not publish from: start clean
                    fresh_handle = isinstance(exc, VisitProtocolError)
                    await asyncio.sleep(RETRY_PAUSE_S)
                    continue
                if await self._wait_connected(self.publisher_pc):
                    self._watch_pc(self.publisher_pc, None)
                    self._pub_last = (_bytes_received(self.publisher_pc), time.monotonic())
                    return
                await asyncio.sleep(RETRY_PAUSE_S)
        finally:
            self._pub_rebuilding = False
            self._maybe_resumed()

    async def _fresh_publisher_handle(self) -> None:
        """Leave with the old handle and join again, same participant id, on a new handle.

        The fallback when unpublish + publish on the old handle fails with a protocol
        error; the others see us leave and come back under the same id and re-subscribe.
        """
        assert self.client is not None and self.joined is not None
        old, self.main = self.main, None
        if old is not None:
            with contextlib.suppress(VisitError):
                await old.leave()
            with contextlib.suppress(VisitError):
                await old.detach()
        handle = await VideoRoomHandle.attach(self.client, self._on_main_event)
        try:
            joined = await handle.join_publisher(
                self.cfg.room,
                pin=self.cfg.pin,
                display=self.cfg.display,
                token=self.token,
                participant_id=self.joined.participant_id,
            )
        except BaseException:
            with contextlib.suppress(VisitError):
                await handle.detach()
            raise
        self.main = handle
        self.joined.private_id = joined.private_id
        for pub in joined.publishers:
            self._add_remote(pub)

    async def _rebuild_subscriber(self, remote: _Remote) -> None:
        try:
            while not self._ended and remote.feed_id in self.remotes:
                await self._drop_remote(remote.feed_id, forget=False)
                frames = remote.probe.frames if remote.probe is not None else 0
                try:
                    await self._subscribe(remote, owns_flag=False)
                except VisitError as exc:  # signalling down too: keep trying
                    log.info("visit: re-subscribe failed (%s); retrying", exc.message_key)
                    await asyncio.sleep(RETRY_PAUSE_S)
                    continue
                # connected to Janus is not enough: the far end's media must flow again
                if (
                    remote.pc is not None
                    and await self._wait_connected(remote.pc)
                    and await self._wait_frames(remote, frames)
                ):
                    return
                await asyncio.sleep(RETRY_PAUSE_S)
        finally:
            remote.rebuilding = False
            self._maybe_resumed()

    async def _wait_connected(self, pc: RTCPeerConnection) -> bool:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while time.monotonic() < deadline and not self._ended:
            if pc.connectionState == "connected":
                return True
            if pc.connectionState in ("failed", "closed"):
                return False
            await asyncio.sleep(0.1)
        return False

    async def _wait_frames(self, remote: _Remote, before: int) -> bool:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while time.monotonic() < deadline and not self._ended:
            if remote.probe is not None and remote.probe.frames > before:
                return True
            if remote.pc is None:
                return False
            await asyncio.sleep(0.1)
        return False

    def _maybe_resumed(self) -> None:
        if self.visit.state is VisitState.RECONNECTING and not self._any_rebuilding():
            if self.remotes:
                self._enter_call()
            else:
                self.visit._set_state(VisitState.WAITING)

    async def _rejoin(self, reason: str) -> None:
        """The WebSocket is gone: join again with a new Janus session (same room, same token)."""
        if self.visit.state is not VisitState.RECONNECTING:
            self.reconnects += 1
            self._reconnect_started = time.monotonic()
            self.visit._set_state(VisitState.RECONNECTING, reason)
        while not self._ended:
            for feed_id in list(self.remotes):
                await self._drop_remote(feed_id, forget=True)
            if self.publisher_pc is not None:
                await self.publisher_pc.close()
                self.publisher_pc = None
            try:
                await self._connect()
                await self._join_main()
                return
            except VisitAuthError as exc:
                await self._end(str(exc))
                return
            except VisitError:
                await asyncio.sleep(RETRY_PAUSE_S * 2)

    async def _watchdog(self) -> None:
        """Every second: stats to the Visit, and rebuild PeerConnections that went silent."""
        while not self._ended:
            await asyncio.sleep(STATS_INTERVAL_S)
            now = time.monotonic()
            if self.publisher_pc is not None and not self._pub_rebuilding:
                received = _bytes_received(self.publisher_pc)
                if received != self._pub_last[0]:
                    self._pub_last = (received, now)
                elif now - self._pub_last[1] > STALL_S and received:
                    self._schedule_rebuild(None, "no media from the server")
            for remote in list(self.remotes.values()):
                if remote.pc is None or remote.rebuilding:
                    continue
                # Janus keeps sending RTCP to a subscriber whose publisher went silent, so
                # bytes are no sign of life here: decoded frames and audio are
                received = remote.audio_frames + (remote.probe.frames if remote.probe else 0)
                if received != remote.last_bytes:
                    remote.last_bytes, remote.last_change = received, now
                elif now - remote.last_change > STALL_S:
                    self._schedule_rebuild(remote.feed_id, "no media from the far end")
            with contextlib.suppress(Exception):  # stats are best effort, never fatal
                await self.refresh_stats()

    # -- stats --

    async def refresh_stats(self) -> CallStats:
        tracks: list[TrackStats] = []
        rtts: list[float] = []
        candidate, relay_proto = "", ""
        worst_loss: float | None = None
        min_fps: float | None = None
        now = time.monotonic()
        if self.publisher_pc is not None:
            candidate, relay_proto = _selected_candidate(self.publisher_pc)
            report = await self.publisher_pc.getStats()
            for entry in report.values():
                if getattr(entry, "type", "") == "remote-inbound-rtp":
                    if entry.roundTripTime is not None:
                        rtts.append(entry.roundTripTime * 1000.0)
                    if entry.kind == "video":
                        tracks.append(
                            TrackStats(
                                kind="video",
                                direction="outbound",
                                label="camera",
                                codec=_codec_of(self.publisher_pc, "video"),
                                width_px=self.cfg.width,
                                height_px=self.cfg.height,
                                frames_per_s=float(self.cfg.fps),
                                packets_lost=max(0, entry.packetsLost),
                                loss_pct=round(100.0 * (entry.fractionLost or 0) / 256.0, 2),
                                jitter_ms=round((entry.jitter or 0) / 90.0, 2),
                            )
                        )
        for remote in self.remotes.values():
            pc = remote.pc
            if pc is None:
                continue
            report = await pc.getStats()
            transport_bytes = sum(
                e.bytesReceived for e in report.values() if getattr(e, "type", "") == "transport"
            )
            frames = remote.probe.frames if remote.probe else 0
            fps = kbps = 0.0
            if remote.stats_prev is not None:
                then, f0, b0 = remote.stats_prev
                elapsed = max(1e-3, now - then)
                fps = max(0.0, (frames - f0) / elapsed)
                kbps = max(0.0, (transport_bytes - b0) * 8 / 1000.0 / elapsed)
            remote.stats_prev = (now, frames, transport_bytes)
            for entry in report.values():
                if getattr(entry, "type", "") != "inbound-rtp":
                    continue
                expected = entry.packetsReceived + max(0, entry.packetsLost)
                loss_pct = 100.0 * max(0, entry.packetsLost) / expected if expected else 0.0
                video = entry.kind == "video"
                if video:
                    worst_loss = max(worst_loss or 0.0, loss_pct)
                    min_fps = fps if min_fps is None else min(min_fps, fps)
                tracks.append(
                    TrackStats(
                        kind=entry.kind,
                        direction="inbound",
                        participant_id=str(remote.feed_id),
                        label="camera" if video else "voice",
                        codec=_codec_of(pc, entry.kind),
                        width_px=remote.probe.width if video and remote.probe else 0,
                        height_px=remote.probe.height if video and remote.probe else 0,
                        frames_per_s=round(fps, 1) if video else 0.0,
                        bitrate_kbps=round(kbps, 1) if video else 0.0,
                        packets_lost=max(0, entry.packetsLost),
                        loss_pct=round(loss_pct, 2),
                        jitter_ms=round(entry.jitter / (90.0 if video else 48.0), 2),
                    )
                )
        rtt = max(rtts) if rtts else None
        stats = CallStats(
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
            self.adapter.tick(stats, senders, settled=settled and not self._any_rebuilding())
            stats = self.adapter.annotate(stats)
        self.visit._set_stats(stats)
        return stats

    @staticmethod
    def _remote_summary(remote: _Remote) -> dict[str, Any]:
        probe = remote.probe
        latencies = sorted(s.latency_ms for s in probe.samples) if probe else []
        return {
            "participant_id": str(remote.feed_id),
            "video_frames": probe.frames if probe else 0,
            "width": probe.width if probe else 0,
            "height": probe.height if probe else 0,
            "stamped_frames": len(latencies),
            # a decoded frame whose barcode did not read is not lost: count it out of the gaps
            "frames_lost": max(0, probe.lost() - probe.unreadable) if probe else 0,
            "unreadable_frames": probe.unreadable if probe else 0,
            "latency_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
            "latency_p95_ms": (
                round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None
            ),
            "latency_max_ms": round(latencies[-1], 1) if latencies else None,
            "audio_frames": remote.audio_frames,
        }

    def summary(self) -> dict[str, Any]:
        """Call statistics for ``visit --headless --json`` (figures from the barcodes)."""
        everyone = {**self._departed, **self.remotes}
        remotes = [self._remote_summary(r) for r in everyone.values()]
        stats = self.visit.stats
        return {
            "state": str(self.visit.state),
            "room": self.cfg.room,
            "connect_s": round(self.connect_s, 2) if self.connect_s is not None else None,
            "reconnects": self.reconnects,
            "states": [list(entry) for entry in self.history],
            "recovery_s": [round(s, 2) for s in self.recovery_s],
            "rtt_ms": stats.rtt_ms,
            "candidate_type": stats.candidate_type,
            "relay_protocol": stats.relay_protocol,
            "quality": str(stats.quality),
            "low_bandwidth": stats.low_bandwidth,
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
                for t in stats.tracks
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
        self.visit._set_participants((local, *others))

    # -- VisitControls --

    async def set_microphone_muted(self, muted: bool) -> None:
        if self._audio_gate is not None:
            self._audio_gate.muted = muted
        self.visit._set_local_media(muted, self.visit.camera_enabled)

    async def set_camera_enabled(self, enabled: bool) -> None:
        self._video_gate.enabled = enabled  # black frames keep the encoder and the path alive
        self.visit._set_local_media(self.visit.microphone_muted, enabled)

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

    async def admit(self, waiting_id: str) -> None:
        if not self.is_host or self.lobby is None:
            raise VisitError(reason="only the host can admit")
        entry = self.waiting.get(int(waiting_id))
        if entry is None:
            return
        await self.lobby.allowed(self.cfg.room, self.secret, "add", [entry[0]])
        feed = participant_id_for(entry[0])
        if feed is not None:
            self.admitted[feed] = entry[0]
        await self.lobby.kick(self.cfg.room + 1, self.secret, int(waiting_id))
        self.waiting.pop(int(waiting_id), None)
        self.visit._set_waiting(tuple(e for _, e in self.waiting.values()))

    async def remove_participant(self, participant_id: str) -> None:
        if not self.is_host or self.lobby is None:
            raise VisitError(reason="only the host can remove participants")
        feed = int(participant_id)
        if feed in self.waiting:
            await self.lobby.kick(self.cfg.room + 1, self.secret, feed)
            return
        # Off the allowed list first: once kicked they must not come straight back in.
        # (Someone who leaves by themselves keeps their token and may rejoin.)
        token = self.admitted.pop(feed, None)
        if token is not None:
            await self.lobby.allowed(self.cfg.room, self.secret, "remove", [token])
        else:
            log.warning("visit: removing a participant the host did not admit; they may rejoin")
        await self.lobby.kick(self.cfg.room, self.secret, feed)
        await self._drop_remote(feed, forget=True)

    async def hang_up(self) -> None:
        await self._end("hung up")

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

    async def _end(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        with contextlib.suppress(Exception):
            await self.refresh_stats()
        await self._teardown()
        self.visit._set_state(VisitState.ENDED, reason)

    async def close(self) -> None:
        await self._end("hung up")

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

    def _spawn(self, coro: Any) -> None:
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


def _codec_of(pc: RTCPeerConnection, kind: str) -> str:
    for transceiver in pc.getTransceivers():
        if transceiver.kind == kind:
            codecs = getattr(transceiver, "_codecs", None) or []
            if codecs:
                return str(codecs[0].mimeType).split("/", 1)[-1]
    return ""


__all__ = [
    "SessionConfig",
    "TurnServer",
    "VisitAuthError",
    "VisitConnectError",
    "VisitEndedError",
    "VisitSession",
    "host_addresses",
    "parse_turn",
]
