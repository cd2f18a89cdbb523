"""Forced relay through a real coturn (UDP and TCP to the TURN server): candidate type relay."""

from __future__ import annotations

import asyncio

import pytest

from app.visit import VisitState
from media.visit.session import parse_turn
from tests.integration.media._helpers import frames_from, new_session, session_config, wait_until
from tests.integration.media.services import (
    TURN_PASSWORD,
    TURN_USER,
    JanusServer,
    MediaNet,
    TurnServer,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_forced_relay(
    transport: str, janus: JanusServer, turn: TurnServer, clean_net: MediaNet
) -> None:
    (url,) = [u for u in turn.urls() if u.endswith(transport)]
    servers = parse_turn([f"{url}&username={TURN_USER}&credential={TURN_PASSWORD}"])
    assert servers[0].username == TURN_USER and servers[0].url == url

    async def scenario() -> None:
        _h_visit, host = new_session(session_config(janus, clean_net, create=True, auto_admit=True))
        await host.start()
        g_visit, guest = new_session(
            session_config(
                janus,
                clean_net,
                room=host.cfg.room,
                pin=host.cfg.pin,
                host_key=host.lobby_key,
                turn=servers,
                force_relay=True,
            )
        )
        try:
            await guest.start()
            took = await wait_until(lambda: frames_from(guest) > 30, 20, "video over the relay")
            await wait_until(lambda: frames_from(host) > 30, 20, "video back over the relay")
            stats = await guest.refresh_stats()
            print(
                transport,
                "relay: video after",
                round(took, 2),
                "s",
                stats.candidate_type,
                stats.relay_protocol,
                "rtt",
                stats.rtt_ms,
            )
            assert stats.candidate_type == "relay"
            assert stats.relay_protocol == transport
            assert g_visit.state is VisitState.IN_CALL
        finally:
            await guest.close()
            await host.close()

    asyncio.run(scenario())
