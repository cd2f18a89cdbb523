"""The Janus VideoRoom plugin: rooms, publishers, subscribers, the allowed list, kicks.

Docs: https://janus.conf.meetecho.com/docs/videoroom. Synchronous requests
(``create``, ``destroy``, ``allowed``, ``kick``, ``listparticipants``) answer in
the ``success`` message; asynchronous ones (``join``, ``publish``, ``start``,
``unpublish``, ``leave``) answer with an ``event`` carrying the same transaction.
A plugin-level failure is ``{"videoroom": "event", "error_code": N, "error": ...}``;
:func:`raise_for_plugin_error` maps the codes: 433 (wrong PIN, not on the
allowed list) to :class:`VisitAuthError`, 426 (no such room) to
:class:`VisitEndedError`, anything else to :class:`VisitProtocolError`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from app.errors import VisitAuthError, VisitEndedError, VisitError, VisitProtocolError
from media.janus.client import JSON, EventHandler, JanusClient, parse_jsep, parse_plugin_data

PLUGIN = "janus.plugin.videoroom"
DEFAULT_BITRATE_BPS = 1_500_000  # the stock room caps video at 128 kbps: unusable for exams
ERR_NO_SUCH_ROOM = 426
ERR_NO_SUCH_FEED = 428
ERR_UNAUTHORIZED = 433
ERR_ID_EXISTS = 436


#: The reason a VisitAuthError gives when a room's ``allowed`` list does not hold our token.
NOT_ADMITTED = "not admitted to this room"


def raise_for_plugin_error(data: JSON) -> None:
    code = data.get("error_code")
    if code is None:
        return
    text = data.get("error")
    detail = text[:120] if isinstance(text, str) else "no detail"
    if code == ERR_UNAUTHORIZED:
        reason = "wrong PIN" if "pin" in detail.lower() else NOT_ADMITTED
        raise VisitAuthError(reason=reason)
    if "admin_key" in detail:  # 429/433 on create: the server wants its VideoRoom admin_key
        raise VisitAuthError(reason="the media server needs its room admin key to create rooms")
    if code == ERR_NO_SUCH_ROOM:
        raise VisitEndedError(reason="the visit room does not exist")
    error = VisitProtocolError(reason=f"VideoRoom error {code}: {detail}")
    error.params["code"] = code
    raise error


def plugin_data_of(answer: JSON) -> JSON:
    data = parse_plugin_data(answer)
    if data is None:
        raise VisitProtocolError(reason="the answer has no plugin data")
    raise_for_plugin_error(data)
    if not isinstance(data.get("videoroom"), str):
        raise VisitProtocolError(reason="the answer is not from the VideoRoom")
    return data


def error_code(exc: VisitError) -> int | None:
    code = exc.params.get("code")
    return code if isinstance(code, int) else None


@dataclass(frozen=True, slots=True)
class Publisher:
    feed_id: int
    display: str  # patient data: never log it
    has_video: bool = False
    has_audio: bool = False


def parse_publishers(value: object) -> list[Publisher]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise VisitProtocolError(reason="'publishers' is not a list")
    found: list[Publisher] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            raise VisitProtocolError(reason="a publisher has no id")
        display = item.get("display", "")
        streams = item.get("streams", [])
        if not isinstance(display, str) or not isinstance(streams, list):
            raise VisitProtocolError(reason="a publisher entry is malformed")
        kinds = {s.get("type") for s in streams if isinstance(s, dict) and not s.get("disabled")}
        found.append(Publisher(item["id"], display, "video" in kinds, "audio" in kinds))
    return found


def parse_attendees(value: object) -> list[tuple[int, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise VisitProtocolError(reason="'attendees' is not a list")
    out: list[tuple[int, str]] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            raise VisitProtocolError(reason="an attendee has no id")
        display = item.get("display", "")
        out.append((item["id"], display if isinstance(display, str) else ""))
    return out


@dataclass
class Joined:
    participant_id: int
    private_id: int
    publishers: list[Publisher] = field(default_factory=list)
    attendees: list[tuple[int, str]] = field(default_factory=list)


def random_pin() -> str:
    """A join PIN: 10 random digits (never typed by the patient: it travels in the link)."""
    return "".join(secrets.choice("0123456789") for _ in range(10))


def random_room_id() -> int:
    """An even room number; the waiting room is the odd one after it."""
    return secrets.randbelow(2**40) * 2 + 2


class VideoRoomHandle:
    """One attached VideoRoom handle (a publisher, a subscriber, or an admin handle)."""

    def __init__(self, client: JanusClient, handle_id: int) -> None:
        self.client = client
        self.handle_id = handle_id
        self.streams: list[JSON] = []  # a subscriber's streams as Janus last listed them

    @classmethod
    async def attach(cls, client: JanusClient, on_event: EventHandler) -> VideoRoomHandle:
        return cls(client, await client.attach(PLUGIN, on_event))

    async def request(self, body: JSON) -> JSON:
        return plugin_data_of(await self.client.message(self.handle_id, body))

    async def async_request(
        self, body: JSON, jsep: JSON | None = None, *, timeout_s: float = 20.0
    ) -> tuple[JSON, JSON | None]:
        answer = await self.client.message(
            self.handle_id, body, jsep=jsep, asynchronous=True, timeout_s=timeout_s
        )
        return plugin_data_of(answer), parse_jsep(answer.get("jsep"))

    # -- rooms (need the admin key if the server sets one, and the room secret) --

    async def create_room(
        self,
        room: int,
        *,
        pin: str,
        secret: str,
        bitrate_bps: int = DEFAULT_BITRATE_BPS,
        publishers: int = 6,
        notify_joining: bool = False,
        allowed: list[str] | None = None,
        description: str = "visit",
        admin_key: str | None = None,
    ) -> int:
        body: JSON = {
            "request": "create",
            "room": room,
            "description": description,
            "pin": pin,
            "secret": secret,
            "is_private": True,
            "publishers": publishers,
            "bitrate": bitrate_bps,
            "bitrate_cap": False,
            "fir_freq": 5,
            "audiocodec": "opus",
            "videocodec": "vp8,h264",
            "notify_joining": notify_joining,
            "permanent": False,
        }
        if allowed is not None:
            body["allowed"] = allowed
        if admin_key:
            body["admin_key"] = admin_key
        data = await self.request(body)
        if data.get("videoroom") != "created":
            raise VisitProtocolError(reason="'create' was not confirmed")
        return room

    async def destroy_room(self, room: int, secret: str) -> None:
        await self.request({"request": "destroy", "room": room, "secret": secret})

    async def allowed(self, room: int, secret: str, action: str, tokens: list[str]) -> None:
        body: JSON = {"request": "allowed", "room": room, "secret": secret, "action": action}
        if action in ("add", "remove"):
            body["allowed"] = tokens
        await self.request(body)

    async def kick(self, room: int, secret: str, participant_id: int) -> None:
        await self.request(
            {"request": "kick", "room": room, "secret": secret, "id": participant_id}
        )

    async def list_participants(self, room: int) -> list[JSON]:
        data = await self.request({"request": "listparticipants", "room": room})
        found = data.get("participants", [])
        if not isinstance(found, list) or not all(isinstance(p, dict) for p in found):
            raise VisitProtocolError(reason="'participants' is malformed")
        return found

    # -- participants --

    async def join_publisher(
        self,
        room: int,
        *,
        pin: str,
        display: str,
        token: str | None = None,
        participant_id: int | None = None,
    ) -> Joined:
        body: JSON = {"request": "join", "ptype": "publisher", "room": room, "pin": pin}
        body["display"] = display
        if token:
            body["token"] = token
        if participant_id:
            body["id"] = participant_id
        data, _ = await self.async_request(body)
        if data.get("videoroom") != "joined":
            raise VisitProtocolError(reason="'join' was not confirmed")
        pid, private = data.get("id"), data.get("private_id", 0)
        if not isinstance(pid, int) or not isinstance(private, int):
            raise VisitProtocolError(reason="'joined' has no participant id")
        return Joined(
            pid,
            private,
            parse_publishers(data.get("publishers")),
            parse_attendees(data.get("attendees")),
        )

    async def publish(self, offer: JSON, *, display: str | None = None) -> JSON:
        body: JSON = {"request": "publish"}
        if display is not None:
            body["display"] = display
        data, answer = await self.async_request(body, dict(offer, trickle=False))
        if data.get("configured") != "ok" or answer is None or answer["type"] != "answer":
            raise VisitProtocolError(reason="'publish' was not answered with an SDP answer")
        return answer

    async def unpublish(self) -> None:
        await self.async_request({"request": "unpublish"}, timeout_s=5.0)

    async def join_subscriber(
        self, room: int, *, pin: str, feed_id: int, private_id: int, token: str | None
    ) -> JSON:
        body: JSON = {
            "request": "join",
            "ptype": "subscriber",
            "room": room,
            "pin": pin,
            "streams": [{"feed": feed_id}],
            "private_id": private_id,
        }
        if token:
            body["token"] = token
        data, offer = await self.async_request(body)
        if data.get("videoroom") != "attached" or offer is None or offer["type"] != "offer":
            raise VisitProtocolError(reason="the subscription came without an SDP offer")
        streams = data.get("streams")
        if isinstance(streams, list):
            self.streams = [x for x in streams if isinstance(x, dict)]
        return offer

    async def start(self, answer: JSON) -> None:
        data, _ = await self.async_request({"request": "start"}, dict(answer, trickle=False))
        if data.get("started") != "ok":
            raise VisitProtocolError(reason="'start' was not confirmed")

    async def leave(self) -> None:
        await self.async_request({"request": "leave"}, timeout_s=5.0)

    async def detach(self) -> None:
        await self.client.detach(self.handle_id)


def describe(data: JSON) -> dict[str, Any]:
    """What an unsolicited VideoRoom event says, for the session's dispatcher."""
    return {
        "publishers": parse_publishers(data.get("publishers")),
        "joining": data.get("joining") if isinstance(data.get("joining"), dict) else None,
        "leaving": data.get("leaving"),
        "unpublished": data.get("unpublished"),
        "kicked": data.get("kicked"),
        "reason": data.get("reason") if isinstance(data.get("reason"), str) else "",
        "destroyed": data.get("videoroom") == "destroyed",
    }
