"""Stills taken at the far end's cart during a visit: the ``visit.stills`` capability.

Transport. Janus's VideoRoom relays a publisher's data channel to everyone who
subscribes to that publisher; data a subscriber sends is not relayed. So each
console opens one data channel on its *publisher* PeerConnection (before the
offer, so the ``m=application`` line is negotiated with the media) and reads the
others' on its *subscriber* PeerConnections. Who sent a message is therefore the
feed we subscribed to: Janus forwards only that publisher's data on it. Janus opens
its end of a subscriber's channel when the publisher first sends, and each
subscriber opens a channel of its own too: Janus starts relaying to a subscriber once
that subscriber's side has opened one (janus.js does the same).

Protocol (version 1). Control messages are JSON text; chunks are binary::

    requester -> all: {"cc": "still", "v": 1, "op": "request", "id": ID, "to": FEED}
                      (repeated each second until answered; "op": "cancel" gives up)
    cart -> all:      {"cc": "still", "v": 1, "op": "taking", "id": ID, "to": FEED}
    cart -> all:      {... "op": "begin", "id", "to", "size", "chunks", "sha256",
                       "content_type", "image_id", "metadata": {...}}
    cart -> all:      b"CCS1" + ID (16 bytes) + index (uint32, big-endian) + payload
    cart -> all:      {... "op": "end", "id", "to"}   or   {... "op": "error", "id", "to", "reason"}
    cart -> all:      {... "op": "hello", "id": "00..", "to": 0}  every 3 s while it can take one

Everything about a transfer is checked as it arrives (sizes, counts, order,
duplicates, the hash at the end) and a transfer that breaks any rule, stalls, or
loses its channel fails the request with :class:`~app.errors.RemoteStillError`:
the requester never sees a partial still, so nothing half-received is stored.
The cart owns the still (stored and synced from the cart); the requester stores
its copy marked ``received`` (app/image_metadata.py), which is never queued for
sync (storage/repository.py).

Everyone in the room receives the bytes a cart sends (Janus broadcasts a
publisher's data): they are the same visit's participants, already admitted, and
consoles drop transfers addressed to someone else without keeping them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import secrets
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.errors import CapabilityUnavailableError, RemoteStillError
from clinician_console_api import RemoteStill, StillOffer, Unsubscribe

if TYPE_CHECKING:
    from aiortc import RTCDataChannel, RTCPeerConnection

log = logging.getLogger(__name__)

CAPABILITY = "visit.stills"
LABEL = "clinician-console.v1"
PROTOCOL_VERSION = 1
MAGIC = b"CCS1"
_HEADER = struct.Struct(">4s16sI")
#: 16 KiB: the size every WebRTC stack (and Janus's SCTP relay) carries as one message.
CHUNK_BYTES = 16 * 1024
MAX_STILL_BYTES = 50 * 1024 * 1024  # as for ``image add``
MAX_CONTROL_CHARS = 16_000
CONTENT_TYPES = frozenset({"image/jpeg", "image/png"})
#: The cart says "taking" at once; no word in this time means it cannot take stills.
ACK_TIMEOUT_S = 10.0
#: The cart takes on at most one request per this many seconds.
MIN_SERVE_INTERVAL_S = 2.0
#: A cart that can take pictures says "hello" this often; it counts for this long.
HELLO_EVERY_S = 3.0
HELLO_FRESH_S = 10.0
#: Until the cart answers, the request is repeated this often.
RESEND_S = 1.0
#: Mode switch, warm-up frames, the quality gate and the store: a slow camera needs time.
TAKE_TIMEOUT_S = 90.0
#: Mid-transfer, no chunk for this long: the channel is as good as gone.
STALL_TIMEOUT_S = 15.0
#: Keep this much queued in the data channel at most (back-pressure on the sender).
SEND_BUFFER_BYTES = 256 * 1024


class _RejectedError(Exception):
    """A transfer broke a rule (the reason is safe to show: no patient data)."""


@dataclass
class Transfer:
    """Reassembly of one still, checked as it arrives. Pure: no I/O."""

    size: int
    chunks: int
    sha256: str
    content_type: str
    image_id: str
    metadata: dict[str, object]
    received: dict[int, bytes] = field(default_factory=dict)
    bytes_received: int = 0

    @classmethod
    def from_begin(cls, message: Mapping[str, Any]) -> Transfer:
        size, chunks = message.get("size"), message.get("chunks")
        sha, ctype = message.get("sha256"), message.get("content_type")
        image_id, meta = message.get("image_id", ""), message.get("metadata", {})
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_STILL_BYTES:
            raise _RejectedError("the announced size is not allowed")
        if not isinstance(chunks, int) or chunks != math.ceil(size / CHUNK_BYTES):
            raise _RejectedError("the announced chunk count does not match the size")
        if (
            not isinstance(sha, str)
            or len(sha) != 64
            or any(c not in "0123456789abcdef" for c in sha)
        ):
            raise _RejectedError("the announced hash is not a SHA-256 digest")
        if ctype not in CONTENT_TYPES:
            raise _RejectedError("the announced type is not a JPEG or PNG still")
        if not isinstance(image_id, str) or len(image_id) > 100 or not image_id.isprintable():
            raise _RejectedError("the cart's image id is not valid")
        if not isinstance(meta, dict):
            raise _RejectedError("the still's details are not valid")
        return cls(size, chunks, sha, str(ctype), image_id, dict(meta))

    def add(self, index: int, payload: bytes) -> None:
        if not 0 <= index < self.chunks:
            raise _RejectedError("a chunk lies outside the still")
        if index in self.received:
            raise _RejectedError("a chunk arrived twice")
        last = index == self.chunks - 1
        expected = self.size - CHUNK_BYTES * (self.chunks - 1) if last else CHUNK_BYTES
        if len(payload) != expected:
            raise _RejectedError("a chunk has the wrong length")
        self.received[index] = payload
        self.bytes_received += len(payload)

    def finish(self) -> bytes:
        if len(self.received) != self.chunks:
            raise _RejectedError("chunks are missing")
        data = b"".join(self.received[i] for i in range(self.chunks))
        self.received.clear()
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise _RejectedError("the still's hash does not match (damaged on the way)")
        return data


def chunk_frames(request_id: bytes, data: bytes) -> list[bytes]:
    """The binary messages that carry ``data`` for ``request_id`` (16 bytes)."""
    return [
        _HEADER.pack(MAGIC, request_id, i) + data[off : off + CHUNK_BYTES]
        for i, off in enumerate(range(0, len(data), CHUNK_BYTES))
    ]


@dataclass
class _Pending:
    """A request of ours, waiting for the cart."""

    feed_id: int
    future: asyncio.Future[RemoteStill]
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    acknowledged: bool = False
    transfer: Transfer | None = None


class SessionStills:
    """``visit.stills`` over one media session (install before ``start``).

    The session calls :meth:`on_publisher_pc` on every publisher PeerConnection it
    negotiates (a rebuild too) and :meth:`on_subscriber_pc` on every subscription.
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self._out: RTCDataChannel | None = None
        self._inbound: dict[int, list[RTCDataChannel]] = {}  # feed id -> channels from it
        self._pending: dict[bytes, _Pending] = {}
        self._serve: Callable[[], Awaitable[StillOffer]] | None = None
        self._serving: asyncio.Task[None] | None = None
        self._serving_id: tuple[int, bytes] | None = None  # (requester, request id)
        self._sent_open = asyncio.Event()
        self._announcing = False
        self._served_at = -1e9  # when the last request was taken on (monotonic)
        self.min_interval_s = MIN_SERVE_INTERVAL_S
        self._servers: dict[int, float] = {}  # feed id -> when its cart last said "hello"
        # request id -> our answer so far ("taking",) or ("error", reason): repeats get it again
        self._answered: dict[bytes, tuple[str, ...]] = {}
        # Other messages on the same channels, by their "cc" tag (e.g. the patient's
        # stated location, media/visit/patient_statements.py): tag -> (feed id, text).
        self._listeners: dict[str, Callable[[int, str], None]] = {}
        session.attach_stills(self)

    def listen(self, tag: str, callback: Callable[[int, str], None]) -> None:
        """Hand messages tagged ``{"cc": tag}`` to ``callback`` (raw text: it checks them)."""
        self._listeners[tag] = callback

    async def send_text(self, text: str) -> None:
        """Send one control message of another protocol to everyone (our publisher channel)."""
        await self._send(text)

    # -- hooks the session calls --

    def on_publisher_pc(self, pc: RTCPeerConnection) -> None:
        if not self._announcing:
            self._announcing = True
            self.session.spawn(self._announce())
        channel = pc.createDataChannel(LABEL)
        self._out = channel
        self._sent_open.clear()
        if channel.readyState == "open":
            self._sent_open.set()
        channel.on("open", self._sent_open.set)

    def on_subscriber_pc(self, feed_id: int, pc: RTCPeerConnection) -> None:
        # Janus relays a publisher's data to a subscriber only once the subscriber's side
        # has opened a channel (its "data ready"; janus.js does the same), so open one.
        self._listen(feed_id, pc.createDataChannel(LABEL))
        pc.on("datachannel", lambda channel: self._listen(feed_id, channel))

    def _listen(self, feed_id: int, channel: RTCDataChannel) -> None:
        self._inbound.setdefault(feed_id, []).append(channel)
        channel.on("message", lambda message: self._on_message(feed_id, message))
        channel.on("close", lambda: self._on_channel_lost(feed_id, channel))

    def on_feed_gone(self, feed_id: int) -> None:
        """The participant left or their subscription is being rebuilt: their transfers fail."""
        self._inbound.pop(feed_id, None)
        self._servers.pop(feed_id, None)  # it says hello again once back
        self._fail_feed(feed_id, "the connection to the far end dropped")

    # -- the capability --

    def visit_active(self) -> bool:
        return not self.session.ended and self.session.publisher() is not None

    def reachable(self) -> list[str]:
        """Participants subscribed with a data channel negotiated (whom a message reaches)."""
        return [
            str(feed)
            for feed, remote in self.session.remotes.items()
            if remote.pc is not None and remote.pc.sctp is not None
        ]

    def participants(self) -> list[str]:
        """Whom one may ask: reachable participants whose cart said lately ("hello") that
        it can take a picture (its exam camera is open)."""
        now = time.monotonic()
        return [
            feed
            for feed in self.reachable()
            if now - self._servers.get(int(feed), -1e9) < HELLO_FRESH_S
        ]

    def serve_stills(self, take: Callable[[], Awaitable[StillOffer]]) -> Unsubscribe:
        self._serve = take
        if self._out is not None and self._out.readyState == "open":
            self.session.spawn(self._hello())  # at once: the others may ask now

        def unsubscribe() -> None:
            if self._serve is take:
                self._serve = None

        return unsubscribe

    async def request_still(self, participant_id: str | None = None) -> RemoteStill:
        """Ask a participant's cart for a still; the bytes, checked, or RemoteStillError."""
        feed_id = self._pick(participant_id)
        request_id = secrets.token_bytes(16)
        loop = asyncio.get_running_loop()
        pending = _Pending(feed_id, loop.create_future())
        self._pending[request_id] = pending
        request = {"op": "request", "id": request_id.hex(), "to": feed_id}
        try:
            await self._send_json(request)
            return await self._await(pending, request)
        except BaseException:
            # tell the cart to stop sending (best effort: the channel may be gone)
            with contextlib.suppress(Exception):
                await self._send_json({**request, "op": "cancel"})
            raise
        finally:
            self._pending.pop(request_id, None)
            if not pending.future.done():
                pending.future.cancel()

    # -- requester side --

    def _pick(self, participant_id: str | None) -> int:
        if participant_id is not None:
            try:
                feed_id = int(participant_id)
            except ValueError:
                raise RemoteStillError(reason="no such participant") from None
            if participant_id not in self.reachable():
                raise RemoteStillError(reason="that participant is not connected")
            return feed_id
        serving = [int(p) for p in self.participants()]
        if len(serving) == 1:
            return serving[0]
        if serving:
            raise RemoteStillError(reason="several carts have a camera open: choose one")
        if not self.reachable():
            raise RemoteStillError(reason="nobody is connected to ask")
        raise RemoteStillError(reason="nobody in the visit has an exam camera open")

    async def _await(self, pending: _Pending, request: dict[str, Any]) -> RemoteStill:
        """Wait with three clocks: the answer, the taking, and progress mid-transfer.

        Until the cart answers, the request is sent again every second: Janus forwards
        a publisher's data only to subscribers whose SCTP association is up, so a
        request sent as the cart joins can be lost (the cart ignores repeats)."""
        loop = asyncio.get_running_loop()
        asked_at = loop.time()
        while True:
            if pending.acknowledged:
                deadline = STALL_TIMEOUT_S if pending.transfer is not None else TAKE_TIMEOUT_S
            else:
                left = ACK_TIMEOUT_S - (loop.time() - asked_at)
                if left <= 0:
                    raise RemoteStillError(reason="the far end did not answer (no exam camera?)")
                deadline = min(RESEND_S, left)
            pending.progress.clear()
            waiter: asyncio.Future[Any] = asyncio.ensure_future(pending.progress.wait())
            watched: set[asyncio.Future[Any]] = {pending.future, waiter}
            done, _ = await asyncio.wait(
                watched, timeout=deadline, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            if pending.future in done:
                return pending.future.result()
            if done:
                continue
            if not pending.acknowledged:
                await self._send_json(request)
            elif pending.transfer is None:
                raise RemoteStillError(reason="the far end did not send the picture in time")
            else:
                raise RemoteStillError(reason="the transfer stalled")

    def _on_message(self, feed_id: int, message: str | bytes) -> None:
        try:
            if isinstance(message, bytes):
                self._on_chunk(feed_id, message)
            else:
                self._on_control(feed_id, message)
        except Exception:  # hostile input must never reach aiortc's event loop
            log.warning("visit stills: a message from a participant could not be handled")

    def _on_control(self, feed_id: int, text: str) -> None:
        if len(text) > MAX_CONTROL_CHARS:
            return
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        other = self._listeners.get(str(message.get("cc")))
        if other is not None:
            other(feed_id, text)
            return
        if message.get("cc") != "still":
            return
        if message.get("v") != PROTOCOL_VERSION:
            return
        op, rid = message.get("op"), message.get("id")
        if not isinstance(rid, str) or len(rid) != 32:
            return
        try:
            request_id = bytes.fromhex(rid)
        except ValueError:
            return
        if op == "hello":
            self._servers[feed_id] = time.monotonic()
            return
        if op in ("request", "cancel"):
            me = self.session.joined.participant_id if self.session.joined else None
            if message.get("to") != me or me is None:
                return
            if op == "request":
                self._on_request(feed_id, request_id)
            elif self._serving_id == (feed_id, request_id) and self._serving is not None:
                self._serving.cancel()  # the requester gave up: stop sending
                self._serving = self._serving_id = None
            return
        pending = self._pending.get(request_id)
        if pending is None or pending.feed_id != feed_id or pending.future.done():
            return  # someone else's transfer, or not from the participant we asked
        pending.progress.set()
        if op == "taking":
            pending.acknowledged = True
        elif op == "error":
            reason = message.get("reason")
            pending.acknowledged = True
            self._fail(pending, _REASONS.get(str(reason), "the far end could not take it"))
        elif op == "begin":
            pending.acknowledged = True
            if pending.transfer is not None:
                self._fail(pending, "the far end started the transfer twice")
                return
            try:
                pending.transfer = Transfer.from_begin(message)
            except _RejectedError as exc:
                self._fail(pending, str(exc))
        elif op == "end":
            self._on_end(pending)

    def _on_chunk(self, feed_id: int, frame: bytes) -> None:
        if len(frame) < _HEADER.size:
            return
        magic, request_id, index = _HEADER.unpack_from(frame)
        pending = self._pending.get(request_id)
        if magic != MAGIC or pending is None or pending.feed_id != feed_id:
            return
        if pending.future.done():
            return
        pending.progress.set()
        if pending.transfer is None:
            self._fail(pending, "a chunk came before the transfer began")
            return
        try:
            pending.transfer.add(index, frame[_HEADER.size :])
        except _RejectedError as exc:
            self._fail(pending, str(exc))

    def _on_end(self, pending: _Pending) -> None:
        transfer = pending.transfer
        if transfer is None:
            self._fail(pending, "the transfer ended before it began")
            return
        try:
            data = transfer.finish()
        except _RejectedError as exc:
            self._fail(pending, str(exc))
            return
        pending.future.set_result(
            RemoteStill(
                participant_id=str(pending.feed_id),
                data=data,
                content_type=transfer.content_type,
                sha256=transfer.sha256,
                remote_image_id=transfer.image_id,
                metadata=transfer.metadata,
            )
        )

    def _fail(self, pending: _Pending, reason: str) -> None:
        if pending.transfer is not None:
            pending.transfer.received.clear()  # drop what arrived: nothing half-kept
        if not pending.future.done():
            pending.future.set_exception(RemoteStillError(reason=reason))

    def _fail_feed(self, feed_id: int, reason: str) -> None:
        for pending in list(self._pending.values()):
            if pending.feed_id == feed_id:
                self._fail(pending, reason)

    def _on_channel_lost(self, feed_id: int, channel: RTCDataChannel) -> None:
        channels = self._inbound.get(feed_id, [])
        with contextlib.suppress(ValueError):
            channels.remove(channel)
        if not any(c.readyState in ("connecting", "open") for c in channels):
            self._inbound.pop(feed_id, None)
            self._fail_feed(feed_id, "the connection to the far end dropped")

    # -- cart side --

    async def _announce(self) -> None:
        """While this console can take pictures, say so every few seconds (participants who
        join later hear it too; Janus keeps no history)."""
        while not self.session.ended:
            channel = self._out
            if self._serve is not None and channel is not None and channel.readyState == "open":
                await self._hello()
            await asyncio.sleep(HELLO_EVERY_S)

    async def _hello(self) -> None:
        with contextlib.suppress(Exception):
            await self._send_json({"op": "hello", "id": "00" * 16, "to": 0})

    def _on_request(self, feed_id: int, request_id: bytes) -> None:
        answered = self._answered.get(request_id)
        if answered is not None:
            # a repeat: the requester did not hear our answer (Janus may not have been
            # relaying to it yet). Say it again; one still per request.
            self.session.spawn(self._reply(feed_id, request_id, *answered))
            return
        if self._serve is None:
            self._refuse(feed_id, request_id, "no_camera")
            return
        busy = self._serving is not None and not self._serving.done()
        if busy or time.monotonic() - self._served_at < self.min_interval_s:
            # one at a time, and not faster than a person asks: a participant sending
            # requests in a loop must not fill the cart's store with stills
            self._refuse(feed_id, request_id, "busy")
            return
        self._served_at = time.monotonic()
        self._remember(request_id, ("taking",))
        self._serving_id = (feed_id, request_id)
        self._serving = asyncio.ensure_future(self._take_and_send(feed_id, request_id, self._serve))

    def _refuse(self, feed_id: int, request_id: bytes, reason: str) -> None:
        self._remember(request_id, ("error", reason))
        self.session.spawn(self._reply(feed_id, request_id, "error", reason))

    def _remember(self, request_id: bytes, answer: tuple[str, ...]) -> None:
        self._answered[request_id] = answer
        while len(self._answered) > 64:
            del self._answered[next(iter(self._answered))]

    async def _take_and_send(
        self, feed_id: int, request_id: bytes, take: Callable[[], Awaitable[StillOffer]]
    ) -> None:
        try:
            await self._reply(feed_id, request_id, "taking")
            try:
                offer = await take()
            except Exception as exc:
                log.warning("visit stills: the still could not be taken (%s)", type(exc).__name__)
                reason = "no_encounter" if isinstance(exc, CapabilityUnavailableError) else "camera"
                self._remember(request_id, ("error", reason))
                await self._reply(feed_id, request_id, "error", reason)
                return
            await self.send_still(feed_id, request_id, offer)
        except RemoteStillError as exc:
            log.warning("visit stills: sending failed: %s", exc.params.get("reason"))
        except Exception:
            log.exception("visit stills: sending failed")

    async def send_still(self, feed_id: int, request_id: bytes, offer: StillOffer) -> None:
        """Send a still the cart has stored: begin, the chunks (with back-pressure), end."""
        data = offer.data
        await self._reply(
            feed_id,
            request_id,
            "begin",
            size=len(data),
            chunks=math.ceil(len(data) / CHUNK_BYTES),
            sha256=hashlib.sha256(data).hexdigest(),
            content_type=offer.content_type,
            image_id=offer.image_id,
            metadata=dict(offer.metadata),
        )
        for frame in chunk_frames(request_id, data):
            await self._send(frame)
        await self._reply(feed_id, request_id, "end")

    async def _reply(
        self, feed_id: int, request_id: bytes, op: str, reason: str = "", **fields: Any
    ) -> None:
        if reason:
            fields["reason"] = reason
        await self._send_json({"op": op, "id": request_id.hex(), "to": feed_id, **fields})

    async def _send_json(self, body: dict[str, Any]) -> None:
        await self._send(json.dumps({"cc": "still", "v": PROTOCOL_VERSION, **body}))

    async def _send(self, message: str | bytes) -> None:
        channel = self._out
        if channel is None:
            raise RemoteStillError(reason="the visit is not connected")
        if channel.readyState != "open":
            try:
                await asyncio.wait_for(self._sent_open.wait(), ACK_TIMEOUT_S)
            except TimeoutError:
                raise RemoteStillError(reason="the visit's data channel did not open") from None
            channel = self._out
            assert channel is not None
        while channel.bufferedAmount > SEND_BUFFER_BYTES:
            if channel.readyState != "open":
                raise RemoteStillError(reason="the connection dropped while sending")
            drained = asyncio.Event()
            channel.bufferedAmountLowThreshold = SEND_BUFFER_BYTES // 2
            channel.once("bufferedamountlow", drained.set)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(drained.wait(), 1.0)
        if channel.readyState != "open":
            raise RemoteStillError(reason="the connection dropped while sending")
        channel.send(message)


class StillsHub:
    """The ``visit.stills`` provider for the whole run of the console: it forwards to the
    running visit's :class:`SessionStills` and keeps the cart's ``take`` across visits
    (a panel registers once; visits come and go)."""

    def __init__(self) -> None:
        self.current: SessionStills | None = None
        self._take: Callable[[], Awaitable[StillOffer]] | None = None

    def attach(self, stills: SessionStills) -> None:
        self.current = stills
        if self._take is not None:
            stills.serve_stills(self._take)

    def detach(self, stills: SessionStills) -> None:
        if self.current is stills:
            self.current = None

    def visit_active(self) -> bool:
        return self.current is not None and self.current.visit_active()

    def participants(self) -> list[str]:
        return self.current.participants() if self.current is not None else []

    def reachable(self) -> list[str]:
        return self.current.reachable() if self.current is not None else []

    async def request_still(self, participant_id: str | None = None) -> RemoteStill:
        if self.current is None:
            raise RemoteStillError(reason="no visit is running")
        return await self.current.request_still(participant_id)

    def serve_stills(self, take: Callable[[], Awaitable[StillOffer]]) -> Unsubscribe:
        self._take = take
        inner = self.current.serve_stills(take) if self.current is not None else None

        def unsubscribe() -> None:
            if self._take is take:
                self._take = None
            if inner is not None:
                inner()

        return unsubscribe


_REASONS = {
    "no_encounter": "the far end has no encounter open to keep it with",
    "no_camera": "the far end has no exam camera open",
    "busy": "the far end is taking another picture",
    "camera": "the far end's camera could not take it",
}

__all__ = [
    "CAPABILITY",
    "CHUNK_BYTES",
    "LABEL",
    "SessionStills",
    "StillsHub",
    "Transfer",
    "chunk_frames",
]
