"""100 ms added delay (a user-space UDP relay; kernel netem does not exist here): >= 15 fps.

The guest console reaches Janus only through coturn (forced relay), and reaches
coturn only through :class:`DelayRelay`, an asyncio UDP proxy on the veth host
address that holds every datagram 100 ms in each direction before forwarding it.
TURN over UDP is one client<->server 5-tuple, so one upstream socket per client
carries all of the guest's media. Frame rates are counted from decoded barcodes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

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

DELAY_S = 0.100


class DelayRelay:
    """Forward UDP ``listen`` <-> ``upstream``, delaying each datagram by ``delay_s``."""

    def __init__(self, upstream: tuple[str, int], delay_s: float) -> None:
        self.upstream = upstream
        self.delay_s = delay_s
        self.forwarded = 0
        self.address: tuple[str, int] = ("", 0)
        self._listen: Any = None
        self._clients: dict[tuple[str, int], Any] = {}  # client address -> upstream transport
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str) -> None:
        loop = asyncio.get_running_loop()
        relay = self

        class Downstream(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                relay._from_client(data, addr)

        self._listen, _ = await loop.create_datagram_endpoint(Downstream, local_addr=(host, 0))
        self.address = self._listen.get_extra_info("sockname")[:2]

    def _later(self, send: Any, *args: Any) -> None:
        self.forwarded += 1
        asyncio.get_running_loop().call_later(self.delay_s, send, *args)

    def _from_client(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr not in self._clients:
            self._clients[addr] = None  # connecting: datagrams until then are dropped (UDP)
            task = asyncio.ensure_future(self._open_upstream(addr, data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        upstream = self._clients[addr]
        if upstream is not None:
            self._later(upstream.sendto, data)

    async def _open_upstream(self, client: tuple[str, int], first: bytes) -> None:
        relay = self

        class Upstream(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, _addr: tuple[str, int]) -> None:
                relay._later(relay._listen.sendto, data, client)

        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            Upstream, local_addr=(self.address[0], 0), remote_addr=self.upstream
        )
        self._clients[client] = transport
        self._later(transport.sendto, first)

    def close(self) -> None:
        for transport in self._clients.values():
            if transport is not None:
                transport.close()
        if self._listen is not None:
            self._listen.close()


async def _fps(session: Any, seconds: float) -> float:
    start_frames, start = frames_from(session), time.monotonic()
    await asyncio.sleep(seconds)  # a measurement window, not synchronisation
    return (frames_from(session) - start_frames) / (time.monotonic() - start)


def test_added_delay_keeps_frame_rate(
    janus: JanusServer, turn: TurnServer, clean_net: MediaNet
) -> None:
    async def scenario() -> None:
        relay = DelayRelay((clean_net.host_ip, turn.port), DELAY_S)
        await relay.start(clean_net.host_ip)
        url = f"turn:{relay.address[0]}:{relay.address[1]}?transport=udp"
        servers = parse_turn([f"{url}&username={TURN_USER}&credential={TURN_PASSWORD}"])
        _h_visit, host = new_session(session_config(janus, clean_net, create=True, auto_admit=True))
        await host.start()
        _g_visit, guest = new_session(
            session_config(
                janus,
                clean_net,
                room=host.cfg.room,
                pin=host.cfg.pin,
                host_key=host.lobby_key,
                turn=servers,
                force_relay=True,
            )
        )  # fmt: skip
        try:
            await guest.start()
            await wait_until(lambda: frames_from(guest) > 30, 30, "video over the delayed relay")
            await wait_until(lambda: frames_from(host) > 30, 30, "video back over the relay")
            await asyncio.sleep(2)  # let the estimate settle before measuring
            guest_fps, host_fps = await asyncio.gather(_fps(guest, 6), _fps(host, 6))
            stats = await guest.refresh_stats()
            print(
                f"100 ms each way: guest receives {guest_fps:.1f} fps, host receives "
                f"{host_fps:.1f} fps; guest RTT {stats.rtt_ms} ms, candidate "
                f"{stats.candidate_type}; {relay.forwarded} datagrams delayed; "
                f"low bandwidth {stats.low_bandwidth}"
            )
            assert stats.candidate_type == "relay"
            assert relay.forwarded > 500  # the media really went through the delay
            assert stats.rtt_ms is not None and stats.rtt_ms >= 2 * DELAY_S * 1000 * 0.9
            assert guest_fps >= 15.0
            assert host_fps >= 15.0
        finally:
            await guest.close()
            await host.close()
            relay.close()

    asyncio.run(scenario())
