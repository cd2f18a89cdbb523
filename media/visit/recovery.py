"""Recovery: the watchdog, PeerConnection rebuilds and rejoining after a lost socket.

aiortc has no ICE restart and its consent check needs ~30 s to declare a path dead,
so a watchdog looks at what each PeerConnection received every second: a publisher
that got no RTCP from Janus, or a subscriber that decoded no audio or video, for
:data:`STALL_S` (or whose ICE state failed) is rebuilt as a *new* PeerConnection
through Janus (publisher: unpublish, publish again on the same handle, so the
participant id stays, or a fresh handle with the same id; subscriber: a fresh
subscription). The visit goes RECONNECTING with a reason and back to IN_CALL when
media flows again; attempts repeat until the link returns or the visit ends. If
the WebSocket itself is lost the session joins again with a new Janus session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from app.errors import VisitAuthError, VisitError, VisitProtocolError
from app.visit import EndReason, VisitState
from media.janus.videoroom import VideoRoomHandle
from media.rtc import stats
from media.visit.core import RemoteFeed, SessionCore

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 1.0
STALL_S = 3.0  # nothing received for this long on a PeerConnection: rebuild it
CONNECT_TIMEOUT_S = 10.0
RETRY_PAUSE_S = 1.0


class RecoveryMixin(SessionCore):
    """The recovery part of :class:`~media.visit.session.VisitSession`."""

    def _on_socket_closed(self, reason: str) -> None:
        if not self._ended:
            self._spawn(self._rejoin(reason))

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
            self.visit.update_state(VisitState.RECONNECTING, reason)
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
                    self._pub_last = (stats.bytes_received(self.publisher_pc), time.monotonic())
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
                display=self._main_room_display(),
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

    async def _rebuild_subscriber(self, remote: RemoteFeed) -> None:
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

    async def _wait_frames(self, remote: RemoteFeed, before: int) -> bool:
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
                self.visit.update_state(VisitState.WAITING)

    async def _rejoin(self, reason: str) -> None:
        """The WebSocket is gone: join again with a new Janus session (same room, same token)."""
        if self.visit.state is not VisitState.RECONNECTING:
            self.reconnects += 1
            self._reconnect_started = time.monotonic()
            self.visit.update_state(VisitState.RECONNECTING, reason)
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
                await self._end(EndReason.of(exc))
                return
            except VisitError:
                await asyncio.sleep(RETRY_PAUSE_S * 2)

    async def _watchdog(self) -> None:
        """Every second: stats to the Visit, and rebuild PeerConnections that went silent."""
        while not self._ended:
            await asyncio.sleep(STATS_INTERVAL_S)
            now = time.monotonic()
            if self.publisher_pc is not None and not self._pub_rebuilding:
                received = stats.bytes_received(self.publisher_pc)
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
