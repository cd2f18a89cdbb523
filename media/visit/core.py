"""What the parts of a visit session share: its state, and the steps each part calls.

:class:`VisitSession` (media/visit/session.py: negotiation, media, controls) is
built from :class:`~media.visit.rooms.RoomsMixin` (rooms, waiting room, admission,
removal) and :class:`~media.visit.recovery.RecoveryMixin` (watchdog, rebuilds,
rejoin). Each part declares here what it reads and which steps of the others it
calls, so mypy checks the seams between the modules; the session implements them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.visit import EndReason, Visit, WaitingPatient
from media.rtc import stats

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection

    from media.janus.client import JanusClient, JanusEvent
    from media.janus.videoroom import Joined, Publisher, VideoRoomHandle
    from media.visit.config import SessionConfig
    from media.visit.loopback import FrameProbe
    from media.visit.sealed import HostKey


@dataclass
class RemoteFeed:
    """One other participant's published feed and our subscription to it."""

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
    rates: stats.Rates = field(default_factory=stats.Rates)  # video frames/s, kbit/s


class SessionCore:
    """The shared state of one visit session (set in ``VisitSession.__init__``)."""

    visit: Visit
    cfg: SessionConfig
    client: JanusClient | None
    main: VideoRoomHandle | None  # our publisher handle in the main room
    lobby: VideoRoomHandle | None  # host: watcher; guest: waiting handle
    joined: Joined | None
    secret: str  # the rooms' secret (host only)
    token: str  # our main-room admission token
    publisher_pc: RTCPeerConnection | None
    remotes: dict[int, RemoteFeed]
    waiting: dict[int, tuple[str, WaitingPatient]]  # lobby id -> (token, entry)
    admitted: dict[int, str]  # host: main-room participant id -> admission token
    reconnects: int
    recovery_s: list[float]
    _host_key: HostKey | None
    _admitted: asyncio.Event
    _ended: bool
    _pub_last: tuple[int, float]  # (bytes received, when they last changed)
    _pub_rebuilding: bool
    _reconnect_started: float | None

    @property
    def is_host(self) -> bool:
        return self.cfg.create

    # Steps the parts call on one another; VisitSession implements them.

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        raise NotImplementedError

    async def _connect(self) -> None:
        raise NotImplementedError

    async def _join_main(self) -> None:
        raise NotImplementedError

    async def _negotiate_publisher(self) -> RTCPeerConnection:
        raise NotImplementedError

    def _watch_pc(self, pc: RTCPeerConnection, feed_id: int | None) -> None:
        raise NotImplementedError

    def _add_remote(self, pub: Publisher) -> None:
        raise NotImplementedError

    async def _subscribe(self, remote: RemoteFeed, *, owns_flag: bool = True) -> None:
        raise NotImplementedError

    async def _drop_remote(self, feed_id: int, forget: bool) -> None:
        raise NotImplementedError

    def _on_main_event(self, event: JanusEvent) -> None:
        raise NotImplementedError

    def _enter_call(self) -> None:
        raise NotImplementedError

    async def _end(self, reason: EndReason) -> None:
        raise NotImplementedError

    async def refresh_stats(self) -> Any:
        raise NotImplementedError

    # Steps of the recovery part that the session calls.

    def _schedule_rebuild(self, feed_id: int | None, reason: str) -> None:
        raise NotImplementedError

    # Steps of the rooms part that the others call.

    def _main_room_display(self) -> str:
        raise NotImplementedError

    def _any_rebuilding(self) -> bool:
        raise NotImplementedError


__all__ = ["RemoteFeed", "SessionCore", "field", "stats", "time"]
