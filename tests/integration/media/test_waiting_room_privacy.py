"""The waiting room through a real Janus: what a second person holding the link can learn,
and who may come back after leaving or being removed (issue 10 §5).

The "snoop" is what anyone holding the invite link can run: a plain Janus client that
joins the waiting room with the PIN and records every message Janus sends it
(attendee lists, ``joining`` events, ``listparticipants``). Nothing it sees may
contain another waiting patient's name or admission token.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from app.errors import VisitAuthError, VisitError
from app.visit import VisitState
from media.janus.client import JanusClient, JanusEvent
from media.janus.videoroom import VideoRoomHandle
from tests.integration.media._helpers import frames_from, new_session, session_config, wait_until
from tests.integration.media.services import JanusServer, MediaNet

pytestmark = pytest.mark.integration


class Snoop:
    """A second link holder in the waiting room, recording everything Janus tells it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.client: JanusClient | None = None
        self.handle: VideoRoomHandle | None = None

    def _on_event(self, event: JanusEvent) -> None:
        self.seen.append(json.dumps(event.raw or {}))

    async def join(self, janus: JanusServer, net: MediaNet, room: int, pin: str) -> None:
        self.client = await JanusClient.connect(janus.ws_url, allow_insecure_hosts=[net.host_ip])
        self.handle = await VideoRoomHandle.attach(self.client, self._on_event)
        joined = await self.handle.join_publisher(room + 1, pin=pin, display="just looking")
        self.seen.append(json.dumps(joined.attendees))

    async def list_room(self, room: int, *, main: bool = False) -> None:
        """``listparticipants``: Janus answers it for any room, PIN or not."""
        assert self.handle is not None
        self.seen.append(json.dumps(await self.handle.list_participants(room + (0 if main else 1))))

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


def test_waiting_patients_learn_nothing_about_each_other(
    janus: JanusServer, clean_net: MediaNet
) -> None:
    async def scenario() -> None:
        h_visit, host = new_session(session_config(janus, clean_net, create=True, display="Host"))
        await host.start()
        snoop = Snoop()
        p_visit, patient = new_session(
            session_config(
                janus,
                clean_net,
                display="Ann Confidential",
                room=host.cfg.room,
                pin=host.cfg.pin,
                host_key=host.lobby_key,
            )
        )
        patient_start = asyncio.ensure_future(patient.start())
        try:
            await snoop.join(janus, clean_net, host.cfg.room, host.cfg.pin)
            await wait_until(lambda: len(h_visit.waiting) == 1, 10, "the patient waiting")
            # the host, and only the host, reads the name
            assert h_visit.waiting[0].display == "Ann Confidential"
            await wait_until(lambda: p_visit.state is VisitState.WAITING, 10, "patient waiting")
            await snoop.list_room(host.cfg.room)
            seen = "\n".join(snoop.seen)
            assert seen, "the snoop saw nothing at all: the test would prove nothing"
            assert "Ann" not in seen and "Confidential" not in seen
            assert patient.token and patient.token not in seen
            # The count of people waiting may show: the snoop sees an opaque entry.
            assert any(p.get("display", "").startswith("v1.") for p in _participants(snoop))

            await host.admit(h_visit.waiting[0].waiting_id)
            await patient_start
            await wait_until(lambda: frames_from(patient) > 10, 15, "host video at the patient")
            # Admitted and in the call: the main room's list shows no name either, while
            # the host reads it (it opens the sealed display and checks id against token).
            await snoop.list_room(host.cfg.room, main=True)
            seen = "\n".join(snoop.seen)
            assert "Ann" not in seen and "Confidential" not in seen
            assert patient.token not in seen
            assert [p.display for p in h_visit.remote_participants()] == ["Ann Confidential"]
        finally:
            await snoop.close()
            await patient.close()
            await host.close()

    asyncio.run(scenario())


def _participants(snoop: Snoop) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for text in snoop.seen:
        value = json.loads(text)
        if isinstance(value, list):
            found += [p for p in value if isinstance(p, dict)]
    return found


def test_a_removed_participant_cannot_rejoin_but_one_who_left_can(
    janus: JanusServer, clean_net: MediaNet
) -> None:
    async def scenario() -> None:
        h_visit, host = new_session(session_config(janus, clean_net, create=True, display="Host"))
        await host.start()
        cfg = {"room": host.cfg.room, "pin": host.cfg.pin, "host_key": host.lobby_key}
        try:
            # Admitted through the waiting room, then removed by the host.
            r_visit, removed = new_session(session_config(janus, clean_net, display="R", **cfg))
            start = asyncio.ensure_future(removed.start())
            await wait_until(lambda: len(h_visit.waiting) == 1, 10, "first guest waiting")
            await host.admit(h_visit.waiting[0].waiting_id)
            await start
            assert removed.joined is not None
            await host.remove_participant(str(removed.joined.participant_id))
            await wait_until(lambda: r_visit.state is VisitState.ENDED, 10, "the removal")
            token = removed.token
            await removed.close()
            # Coming back with the same admission token: Janus refuses it.
            again_visit, again = new_session(
                session_config(janus, clean_net, display="R", token=token, **cfg)
            )
            with pytest.raises(VisitAuthError):
                await again.start()
            assert again_visit.state is VisitState.ENDED

            # Admitted, then leaves by themselves: the same token still opens the room.
            l_visit, leaver = new_session(session_config(janus, clean_net, display="L", **cfg))
            start = asyncio.ensure_future(leaver.start())
            await wait_until(lambda: len(h_visit.waiting) == 1, 10, "second guest waiting")
            await host.admit(h_visit.waiting[0].waiting_id)
            await start
            token = leaver.token
            await leaver.hang_up()
            _back_visit, back = new_session(
                session_config(janus, clean_net, display="L", token=token, **cfg)
            )
            try:
                await back.start()
                await wait_until(lambda: frames_from(back) > 10, 15, "the returning guest in call")
            finally:
                await back.close()
            assert l_visit.state is VisitState.ENDED
        finally:
            await host.close()

    asyncio.run(scenario())


def test_a_join_request_without_the_host_key_is_refused_before_the_waiting_room(
    janus: JanusServer, clean_net: MediaNet
) -> None:
    """Without the key from the invite link a console cannot hide its name: it must not
    fall back to sending it in clear."""

    async def scenario() -> None:
        _h_visit, host = new_session(session_config(janus, clean_net, create=True))
        await host.start()
        try:
            g_visit, guest = new_session(
                session_config(janus, clean_net, room=host.cfg.room, pin=host.cfg.pin)
            )
            with pytest.raises(VisitError) as caught:
                await guest.start()
            assert "invite link" in str(caught.value)
            assert host.cfg.pin not in str(caught.value)
            assert g_visit.state is VisitState.ENDED
        finally:
            await host.close()

    asyncio.run(scenario())
