"""Rooms the console did not create: a VideoRoom IT or another application set up,
with a PIN and no waiting room of ours, joined with just the room and its PIN."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from app.errors import VisitAuthError, VisitError
from app.visit import VisitState
from media.janus.client import JanusClient
from media.janus.videoroom import VideoRoomHandle
from tests.integration.media._helpers import frames_from, new_session, session_config, wait_until
from tests.integration.media.services import JanusServer, MediaNet

pytestmark = pytest.mark.integration


async def _room_made_elsewhere(janus: JanusServer, net: MediaNet, pin: str) -> tuple[int, str]:
    """What another system does: one ``create`` with a PIN and a secret, nothing else
    (no lobby room beside it, no allowed list, an odd room number)."""
    client = await JanusClient.connect(janus.ws_url, allow_insecure_hosts=[net.host_ip])
    try:
        admin = await VideoRoomHandle.attach(client, lambda _event: None)
        room = 900_000_001 + secrets.randbelow(1000) * 2  # odd: never one of ours
        secret = secrets.token_hex(8)
        await admin.create_room(room, pin=pin, secret=secret, admin_key=janus.admin_key)
        return room, secret
    finally:
        await client.close()


def test_two_consoles_meet_in_a_room_the_console_did_not_create(
    janus: JanusServer, clean_net: MediaNet
) -> None:
    async def scenario() -> None:
        pin = "".join(secrets.choice("0123456789") for _ in range(8))
        room, _ = await _room_made_elsewhere(janus, clean_net, pin)
        a_visit, a = new_session(session_config(janus, clean_net, room=room, pin=pin))
        b_visit, b = new_session(session_config(janus, clean_net, room=room, pin=pin))
        try:
            await a.start()
            await b.start()
            await wait_until(lambda: frames_from(a) > 20, 20, "b's video at a")
            await wait_until(lambda: frames_from(b) > 20, 20, "a's video at b")
            assert a_visit.state is VisitState.IN_CALL and b_visit.state is VisitState.IN_CALL
        finally:
            await b.close()
            await a.close()

    asyncio.run(scenario())


def test_a_wrong_pin_for_a_foreign_room_is_an_auth_error(
    janus: JanusServer, clean_net: MediaNet
) -> None:
    async def scenario() -> None:
        room, _ = await _room_made_elsewhere(janus, clean_net, "24681357")
        visit, session = new_session(session_config(janus, clean_net, room=room, pin="11111111"))
        with pytest.raises(VisitAuthError) as caught:
            await session.start()
        assert "11111111" not in str(caught.value)
        assert visit.state is VisitState.ENDED

    asyncio.run(scenario())


def test_a_room_of_ours_still_needs_its_invite_link(
    janus: JanusServer, clean_net: MediaNet
) -> None:
    """The direct join is for rooms without our waiting room: our own rooms refuse it."""

    async def scenario() -> None:
        _h, host = new_session(session_config(janus, clean_net, create=True))
        await host.start()
        try:
            visit, guest = new_session(
                session_config(janus, clean_net, room=host.cfg.room, pin=host.cfg.pin)
            )
            with pytest.raises(VisitError) as caught:
                await guest.start()
            assert "invite link" in str(caught.value)
            assert visit.state is VisitState.ENDED
            assert all(p.is_local for p in host.visit.participants)  # nobody got in
        finally:
            await host.close()

    asyncio.run(scenario())


def test_a_console_on_janus_http_api_meets_one_on_its_websocket(
    janus: JanusServer, clean_net: MediaNet
) -> None:
    """The media server given as Janus's HTTP API URL (long poll), not its WebSocket."""

    async def scenario() -> None:
        pin = "".join(secrets.choice("0123456789") for _ in range(8))
        room, _ = await _room_made_elsewhere(janus, clean_net, pin)
        http_cfg = session_config(janus, clean_net, room=room, pin=pin)
        http_cfg.server_url = janus.http_url
        h_visit, over_http = new_session(http_cfg)
        w_visit, over_ws = new_session(session_config(janus, clean_net, room=room, pin=pin))
        try:
            await over_http.start()
            await over_ws.start()
            await wait_until(lambda: frames_from(over_http) > 20, 20, "video at the HTTP one")
            await wait_until(lambda: frames_from(over_ws) > 20, 20, "video at the WebSocket one")
            assert h_visit.state is VisitState.IN_CALL and w_visit.state is VisitState.IN_CALL
        finally:
            await over_ws.close()
            await over_http.close()

    asyncio.run(scenario())


def test_the_http_api_refuses_what_is_not_janus_and_plain_http_off_loopback() -> None:
    async def scenario() -> None:
        with pytest.raises(VisitError):
            await JanusClient.connect("http://127.0.0.1:9/janus", timeout_s=3)
        with pytest.raises(VisitError) as caught:
            await JanusClient.connect("http://visits.example.org/janus", timeout_s=3)
        assert "https" in str(caught.value)

    asyncio.run(scenario())
