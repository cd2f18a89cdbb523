"""The video visit as the rest of the console sees it: state, people, quality, controls.

Qt-free and media-free. ``media/visit/`` drives a :class:`Visit` (it owns the
peer connections and the media server); ``ui/visit/`` renders one and calls its
:class:`VisitControls`. Everything here is plain data plus psygnal signals, so
the visit window can be tested against a scripted ``Visit`` and the session
against a headless one.

Threads: every signal is emitted on the asyncio loop's thread (the GUI thread
in the desktop app); ``latest_frame`` may be called from any thread.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

from psygnal import Signal

from app.errors import MESSAGES, ConsoleError, InputRejectedError
from app.patient_location import PatientStatedLocation

# Why a visit ended, as app message keys (STYLE.md §5): the window shows them in the
# user's language (ui.i18n.message); the command line and logs read the English.
MESSAGES.update(
    {
        "visit.end.hung_up": "You ended the visit.",
        "visit.end.removed": "The host removed you from the visit.",
        "visit.end.host_ended": "The host ended the visit.",
        "visit.end.not_started": "The visit could not start.",
        "visit.end.demo_not_started": "The demo visit could not start.",
        "visit.end.connection_lost": "The connection was lost.",
        "visit.end.patient_left": "The patient left the visit.",
    }
)


@dataclass(frozen=True)
class EndReason:
    """Why a visit ended: an app message key and its (non-identifying) parameters."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, error: ConsoleError) -> EndReason:
        return cls(error.message_key, dict(error.params))

    def english(self) -> str:
        template = MESSAGES.get(self.key, self.key)
        try:
            return template.format(**self.params)
        except (KeyError, IndexError, ValueError):
            return template


class VisitState(StrEnum):
    IDLE = "idle"  # not started
    CONNECTING = "connecting"  # signalling / ICE in progress
    WAITING = "waiting"  # joined; nobody else yet (host) or not yet admitted (guest)
    IN_CALL = "in_call"  # media flowing with at least one other participant
    RECONNECTING = "reconnecting"  # link lost; ICE restart / rejoin under way
    ENDED = "ended"  # hung up, removed, or failed for good (see ``end_reason``)


_LIVE_STATES = frozenset(
    {VisitState.CONNECTING, VisitState.WAITING, VisitState.IN_CALL, VisitState.RECONNECTING}
)


class CallQuality(StrEnum):
    UNKNOWN = "unknown"
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


class ParticipantRole(StrEnum):
    HOST = "host"  # the clinician who opened the room
    CLINICIAN = "clinician"  # another console (specialist, nurse's cart)
    PATIENT = "patient"  # a browser patient
    GUEST = "guest"  # interpreter, family


@dataclass(frozen=True, slots=True)
class Participant:
    participant_id: str  # media-server id, stable for the visit
    display: str  # the name they gave; patient data: never log it
    role: ParticipantRole = ParticipantRole.GUEST
    is_local: bool = False
    has_video: bool = False
    has_audio: bool = False
    extra_audio_tracks: tuple[str, ...] = ()  # e.g. ("stethoscope",): labelled extra tracks


@dataclass(frozen=True, slots=True)
class WaitingPatient:
    waiting_id: str
    display: str  # patient data: never log it
    waiting_since: datetime  # UTC


@dataclass(frozen=True, slots=True)
class TrackStats:
    kind: str  # "audio" | "video"
    direction: str  # "inbound" | "outbound"
    participant_id: str = ""
    label: str = ""  # "voice", "stethoscope", "camera"
    codec: str = ""  # "VP8", "H264", "opus"
    width_px: int = 0
    height_px: int = 0
    frames_per_s: float = 0.0
    bitrate_kbps: float = 0.0
    packets_lost: int = 0
    loss_pct: float = 0.0
    jitter_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class CallStats:
    rtt_ms: float | None = None
    candidate_type: str = ""  # local candidate of the selected pair: host | srflx | prflx | relay
    relay_protocol: str = ""  # "udp" | "tcp" | "tls" when relayed
    tracks: tuple[TrackStats, ...] = ()
    low_bandwidth: bool = False  # the sender stepped down (e.g. 640x360 at 15 fps)
    quality: CallQuality = CallQuality.UNKNOWN

    def inbound_video(self) -> tuple[TrackStats, ...]:
        return tuple(t for t in self.tracks if t.kind == "video" and t.direction == "inbound")


# Thresholds for the quality badge. RTT and loss follow the ITU-T G.114 / common
# WebRTC practice (150 ms one-way is "good", ~300 ms RTT is where conversation
# breaks down); frame rate below 10 fps makes examination video hard to use.
GOOD_RTT_MS = 200.0
POOR_RTT_MS = 400.0
GOOD_LOSS_PCT = 2.0
POOR_LOSS_PCT = 8.0
GOOD_FPS = 20.0
POOR_FPS = 10.0


def _grade(value: float, fair_from: float, poor_from: float) -> int:
    return 2 if value >= poor_from else 1 if value >= fair_from else 0


def classify_quality(
    rtt_ms: float | None, loss_pct: float | None, frames_per_s: float | None
) -> CallQuality:
    """good / fair / poor from the worst of RTT, loss and received frame rate."""
    if rtt_ms is None and loss_pct is None and frames_per_s is None:
        return CallQuality.UNKNOWN
    score = 0  # 0 good, 1 fair, 2 poor
    if rtt_ms is not None:
        score = max(score, _grade(rtt_ms, GOOD_RTT_MS, POOR_RTT_MS))
    if loss_pct is not None:
        score = max(score, _grade(loss_pct, GOOD_LOSS_PCT, POOR_LOSS_PCT))
    if frames_per_s is not None:
        score = max(score, 2 if frames_per_s < POOR_FPS else 1 if frames_per_s < GOOD_FPS else 0)
    return (CallQuality.GOOD, CallQuality.FAIR, CallQuality.POOR)[score]


@dataclass(frozen=True, slots=True)
class Invite:
    """What a patient needs to join: the page, and in its fragment the server, room and PIN.

    The fragment (after ``#``) is never sent to a web server, so the PIN does not
    land in any access log.
    """

    page_url: str  # where the clinic serves resources/web/patient/
    server_url: str  # the media server's WebSocket or HTTP API, as the browser reaches it
    room: int
    pin: str = field(repr=False)
    # The host's public key for this visit (base64url P-256 point): joiners seal their
    # name and admission token to it, so the waiting room shows the others nothing
    # (media/visit/sealed.py). "" only in links from before sealed waiting rooms.
    host_key: str = ""
    # The patient page offers a stethoscope input only when the link asks for one.
    stethoscope: bool = False

    @property
    def link(self) -> str:
        fields = {"server": self.server_url, "room": str(self.room), "pin": self.pin}
        if self.host_key:
            fields["key"] = self.host_key
        if self.stethoscope:
            fields["steth"] = "1"
        return f"{self.page_url.split('#', 1)[0]}#{urlencode(fields)}"


#: Janus VideoRoom ids are unsigned 64-bit; positive and below 2**63 keeps every client happy.
MAX_ROOM = 2**63 - 1
MAX_LINK_CHARS = 4096
MAX_PIN_CHARS = 256
MAX_DISPLAY_CHARS = 64
_SERVER_SCHEMES = frozenset({"ws", "wss", "http", "https"})


def _has_control(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def check_server_url(server_url: str) -> str:
    """The media server's URL, stripped; ws://, wss://, http:// or https:// with a host."""
    url = server_url.strip()
    if not url:
        raise InputRejectedError(reason="enter the media server's address")
    try:
        parts = urlsplit(url)
        has_host = bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise InputRejectedError(reason="the media server's address is not a valid URL") from None
    if parts.scheme.lower() not in _SERVER_SCHEMES or not has_host or _has_control(url):
        raise InputRejectedError(
            reason="the media server's address must start with wss://, ws://, https:// or http://"
        )
    return url


def check_room(room: str) -> int:
    """A room number as typed (digits only) -> the int; positive, at most :data:`MAX_ROOM`."""
    text = room.strip()
    if not text:
        raise InputRejectedError(reason="enter the room number")
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        raise InputRejectedError(reason="the room must be a number")
    number = int(text)
    if not 1 <= number <= MAX_ROOM:
        raise InputRejectedError(reason="the room must be a number")
    return number


def check_pin(pin: str) -> str:
    """The room PIN as given (not stripped inside); never put it in a message or a log."""
    text = pin.strip()
    if not text:
        raise InputRejectedError(reason="enter the room PIN")
    if len(text) > MAX_PIN_CHARS or _has_control(text):
        raise InputRejectedError(reason="the room PIN is not valid")
    return text


def check_display(display: str) -> str:
    """Your name as others in the visit see it."""
    text = " ".join(display.split())
    if not text:
        raise InputRejectedError(reason="enter your name as others see it")
    if len(text) > MAX_DISPLAY_CHARS:
        raise InputRejectedError(
            reason=f"your name as others see it is longer than {MAX_DISPLAY_CHARS} characters"
        )
    return text


def parse_invite_link(link: str) -> Invite:
    """An invite link (see :attr:`Invite.link`) -> the :class:`Invite`.

    The server, room and PIN are in the fragment (``#server=...&room=...&pin=...``).
    Raises :class:`InputRejectedError` with a ``reason`` that never quotes the link
    or the PIN.
    """
    text = link.strip()
    if not text or len(text) > MAX_LINK_CHARS:
        raise InputRejectedError(reason="this is not a visit invite link")
    page_url, sep, fragment = text.partition("#")
    if not sep or not fragment:
        raise InputRejectedError(
            reason="this is not a visit invite link (nothing after the '#' in it)"
        )
    try:
        fields = parse_qs(fragment, keep_blank_values=True, strict_parsing=False)
    except ValueError:
        raise InputRejectedError(reason="this is not a visit invite link") from None
    values = {key: vals[0] for key, vals in fields.items() if vals}
    missing = [key for key in ("server", "room", "pin") if not values.get(key, "").strip()]
    if missing:
        raise InputRejectedError(
            reason="the invite link has no "
            + " and no ".join(m.replace("pin", "PIN") for m in missing)
        )
    return Invite(
        page_url=page_url,
        server_url=check_server_url(values["server"]),
        room=check_room(values["room"]),
        pin=check_pin(values["pin"]),
        host_key=check_host_key(values.get("key", "")),
        stethoscope=values.get("steth") == "1",
    )


_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def check_host_key(key: str) -> str:
    """The invite's ``key=``: base64url, 87 characters (a 65-byte P-256 point); or ""."""
    text = key.strip()
    if text and (len(text) != 87 or not set(text) <= _KEY_CHARS):
        raise InputRejectedError(reason="the invite link's key is damaged; ask for a new link")
    return text


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """What a console needs to join an existing visit as a participant (not the host)."""

    server_url: str
    room: int
    pin: str = field(repr=False)  # never in a repr, a log line or a message
    display: str = "Clinician"
    host_key: str = ""  # from the invite link: needed to wait in the waiting room


@dataclass(frozen=True, slots=True)
class MediaDevice:
    device_id: str  # what to pass back to switch_*: "testsrc", "/dev/video0", "pulse:vmic", ...
    label: str
    kind: str  # "camera" | "microphone" | "speaker" | "stethoscope"


class VisitControls(Protocol):
    """What the visit window may ask of the running visit. All run on the loop thread."""

    async def set_microphone_muted(self, muted: bool) -> None: ...

    async def set_camera_enabled(self, enabled: bool) -> None: ...

    async def switch_camera(self, device_id: str) -> None: ...

    async def switch_microphone(self, device_id: str) -> None: ...

    async def set_speaker(self, device_id: str) -> None: ...

    async def admit(self, waiting_id: str) -> None: ...

    async def remove_participant(self, participant_id: str) -> None: ...

    async def hang_up(self) -> None: ...

    async def set_privacy_hold(self, on: bool) -> None:
        """on: mute the microphone (remembering its state) and stop playing remote audio;
        off: restore both. Idempotent both ways."""
        ...

    def devices(self) -> list[MediaDevice]: ...


class ExtraTracksPort(Protocol):
    """What a media session calls on its extra labelled tracks (media/visit/tracks.py).

    ``pc``, ``handle`` and ``track`` are the media layer's objects (aiortc, Janus);
    app/ only passes them through.
    """

    def claim_remote_track(self, feed_id: int, handle: Any, pc: Any, track: Any) -> bool:
        """A subscriber PeerConnection got ``track``: True if it is a labelled extra track."""
        ...

    def on_room_event(self, data: dict[str, Any]) -> None:
        """A main-room event (publishers and their streams changed)."""
        ...


class MediaSessionPort(Protocol):
    """What extra tracks may ask of the running media session (and nothing private)."""

    @property
    def visit(self) -> Visit: ...

    @property
    def ended(self) -> bool: ...

    def attach_tracks(self, tracks: ExtraTracksPort) -> None:
        """Install before ``start``: the session then calls ``tracks`` for every feed."""
        ...

    def publisher(self) -> tuple[Any, Any] | None:
        """(publisher PeerConnection, its media-server handle) while published, else None."""
        ...

    async def set_local_description(self, pc: Any, description: Any) -> None: ...

    async def set_remote_description(self, pc: Any, description: Any) -> None:
        """Raises VisitProtocolError when the far end's description is unusable."""
        ...

    def feed_busy(self, feed_id: int) -> bool | None:
        """None: no such feed; True: being (re)built; False: subscribed and steady."""
        ...

    async def resubscribe(self, feed_id: int) -> None:
        """Subscribe to ``feed_id`` afresh (it gained a stream). Raises VisitError."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` for the session's life; a failure becomes a notice, not a crash."""
        ...


@dataclass
class Visit:
    """The observable state of one visit.

    The media session (media/visit/) is the only writer, through the ``update_*`` and
    ``put_frame`` methods; the window (ui/visit/) reads it and listens to the signals,
    and acts through :attr:`controls`.
    """

    encounter_id: str = ""
    invite: Invite | None = None
    state: VisitState = VisitState.IDLE
    end_reason: str = ""  # user-facing English (command line, logs), no patient data
    end_message: EndReason | None = None  # the same as a message key, for the window
    participants: tuple[Participant, ...] = ()
    waiting: tuple[WaitingPatient, ...] = ()
    stats: CallStats = field(default_factory=CallStats)
    started_at: datetime | None = None  # when the first other participant arrived (call timer)
    microphone_muted: bool = False
    camera_enabled: bool = True
    controls: VisitControls | None = None
    patient_location: PatientStatedLocation | None = None  # as stated on the patient's page
    # Latest decoded frame per participant id (RGB24 ndarray, H x W x 3), replaced, never
    # queued: the window paints at display rate and drops what it did not paint.
    _frames: dict[str, Any] = field(default_factory=dict, repr=False)

    state_changed = Signal(object, str)  # VisitState, reason
    participants_changed = Signal(object)  # tuple[Participant, ...]
    waiting_changed = Signal(object)  # tuple[WaitingPatient, ...]
    stats_updated = Signal(object)  # CallStats
    local_media_changed = Signal(bool, bool)  # microphone_muted, camera_enabled
    notice = Signal(str)  # a short user-facing message (no patient data)
    # The patient said on their page where they are (app.patient_location, checked):
    # a pre-fill for the clinician to confirm, never a record by itself.
    patient_stated_location = Signal(object)  # PatientStatedLocation
    # A new frame for a participant: views repaint at once instead of at their next poll.
    frame_did_arrive = Signal(str)  # participant id

    @property
    def is_live(self) -> bool:
        """A call is connecting, waiting, in progress or reconnecting (not idle or ended)."""
        return self.state in _LIVE_STATES

    async def privacy_hold(self, on: bool) -> None:
        """The console locked (on) or unlocked (off) during this visit.

        on=True mutes the local microphone (the far end hears silence and sees the
        muted state) and pauses remote audio playback; on=False restores the
        microphone's mute state from before the hold and resumes playback. A visit
        with no running session (idle, ended) has nothing to hold.
        """
        if self.controls is not None and self.state is not VisitState.ENDED:
            await self.controls.set_privacy_hold(on)

    def latest_frame(self, participant_id: str) -> Any | None:
        return self._frames.get(participant_id)

    def put_frame(self, participant_id: str, frame_rgb: Any) -> None:
        self._frames[participant_id] = frame_rgb
        self.frame_did_arrive.emit(participant_id)

    def update_state(self, state: VisitState, reason: str | EndReason = "") -> None:
        """``reason``: an :class:`EndReason` (translatable) or plain English text."""
        message = reason if isinstance(reason, EndReason) else None
        text = reason.english() if isinstance(reason, EndReason) else reason
        if state is self.state and not text:
            return
        self.state = state
        if state is VisitState.ENDED:
            self.end_reason = text
            self.end_message = message
        self.state_changed.emit(state, text)

    def update_participants(self, participants: tuple[Participant, ...]) -> None:
        self.participants = participants
        live = {p.participant_id for p in participants}
        for gone in [pid for pid in self._frames if pid not in live]:
            del self._frames[gone]
        self.participants_changed.emit(participants)

    def update_waiting(self, waiting: tuple[WaitingPatient, ...]) -> None:
        self.waiting = waiting
        self.waiting_changed.emit(waiting)

    def update_patient_location(self, stated: PatientStatedLocation) -> None:
        """A checked statement from the patient's page; announced when it is new."""
        if stated == self.patient_location:
            return
        self.patient_location = stated
        self.patient_stated_location.emit(stated)

    def update_stats(self, stats: CallStats) -> None:
        self.stats = stats
        self.stats_updated.emit(stats)

    def update_local_media(self, microphone_muted: bool, camera_enabled: bool) -> None:
        self.microphone_muted = microphone_muted
        self.camera_enabled = camera_enabled
        self.local_media_changed.emit(microphone_muted, camera_enabled)

    # The names before the media session used the public ones (scripted test visits).
    _set_frame = put_frame
    _set_state = update_state
    _set_participants = update_participants
    _set_waiting = update_waiting
    _set_stats = update_stats
    _set_local_media = update_local_media

    def remote_participants(self) -> tuple[Participant, ...]:
        return tuple(p for p in self.participants if not p.is_local)
