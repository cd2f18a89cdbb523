"""Rooms and the waiting room: create, wait, admit, remove (the host's and a guest's side).

A visit uses two VideoRoom rooms with the same random PIN: the **main room** ``N``
(even), created with an ``allowed`` token list so Janus itself refuses anyone the
host has not admitted, and the **waiting room** ``N + 1`` (``notify_joining``),
where a joiner waits publishing nothing, so they see and hear nobody. Their display
there is their name and a fresh admission token **sealed to the host's key**
(media/visit/sealed.py): Janus shows every waiting-room display to everyone in it,
and only the host may read these. Admitting adds the token to the main room's
allowed list and kicks them out of the waiting room, which is the joiner's cue to
join the main room with that token. A guest's main-room participant id follows
from its token (:func:`participant_id_for`), so removing it takes the token off the
allowed list (they cannot come back); someone who leaves by themselves keeps it.
A guest's main-room display is sealed the same way, because Janus answers
``listparticipants`` for any room to anyone, PIN or not; the host opens it.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from datetime import UTC, datetime

from app.errors import VisitError
from app.visit import Invite, VisitState, WaitingPatient
from media.janus.client import JanusEvent
from media.janus.videoroom import VideoRoomHandle, describe, random_pin, random_room_id
from media.visit.core import SessionCore
from media.visit.sealed import PREFIX as SEALED_PREFIX
from media.visit.sealed import HostKey, seal

log = logging.getLogger(__name__)

WAITING_ROOM_BITRATE_BPS = 64_000  # nobody publishes there
WAITING_ROOM_SEATS = 32


def participant_id_for(token: str) -> int | None:
    """A guest's main-room participant id, from its admission token (48 bits: safe in JS).

    The page does the same (patient.js ``participantId``). A token given by hand
    that is not hex gets Janus's choice of id (and cannot be taken back on removal).
    """
    head = token[:12]
    if len(head) < 12 or any(ch not in "0123456789abcdef" for ch in head):
        return None
    return int(head, 16) or 1


class RoomsMixin(SessionCore):
    """The rooms-and-waiting-room part of :class:`~media.visit.session.VisitSession`."""

    def _main_room_display(self) -> str:
        """Our display in the main room: sealed too for a guest (see the module docstring).

        Janus answers ``listparticipants`` for any room to anyone who can reach its API,
        without the PIN, so a readable name there would reach people still waiting.
        """
        if self.is_host or not self.cfg.host_key:
            return self.cfg.display  # the clinician hosting, or a console given a token
        return seal(self.cfg.host_key, self.cfg.room, self.token, self.cfg.display)

    def _readable_display(self, feed_id: int, display: str) -> str:
        """A participant's name as we may show it: the host opens sealed ones."""
        if not display.startswith(SEALED_PREFIX):
            return display
        request = self._host_key.open(display, self.cfg.room) if self._host_key else None
        if request is None:
            return "Participant"  # sealed to the host: only the host reads it
        if participant_id_for(request.token) != feed_id:
            return "Participant (unverified)"  # someone else's sealed name, copied
        return request.name

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
            bitrate_bps=WAITING_ROOM_BITRATE_BPS,
            publishers=WAITING_ROOM_SEATS,
            notify_joining=True,
            # The public key, where only this console (the room's creator) can put it:
            # a patient who types the visit number and PIN reads it from "joined".
            description=f"waiting room key={self._host_key.public}",
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
                stethoscope=self.cfg.patient_stethoscope,
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
        self.visit.update_state(VisitState.WAITING, "waiting to be admitted")
        await self._admitted.wait()
        with contextlib.suppress(VisitError):
            await self.lobby.detach()
        self.lobby = None

    def _lobby_joined(self, attendee_id: int, display: str) -> None:
        request = self._host_key.open(display, self.cfg.room) if self._host_key else None
        if request is None:
            return  # the host's own watcher, or not sealed to this visit's key
        if any(token == request.token for token, _ in self.waiting.values()):
            return  # a copy of someone's sealed request: it admits nobody, show it once
        entry = WaitingPatient(str(attendee_id), request.name, datetime.now(UTC))
        self.waiting[attendee_id] = (request.token, entry)
        self.visit.update_waiting(tuple(e for _, e in self.waiting.values()))
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
                self.visit.update_waiting(tuple(e for _, e in self.waiting.values()))

    def _on_guest_lobby_event(self, event: JanusEvent) -> None:
        if event.kind != "event" or event.plugin_data is None:
            return
        what = describe(event.plugin_data)
        if what["leaving"] == "ok" and what["reason"] == "kicked":
            self._admitted.set()  # admitted (or turned away: the main-room join will tell)
        elif what["destroyed"]:
            self._admitted.set()

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
        self.visit.update_waiting(tuple(e for _, e in self.waiting.values()))

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
