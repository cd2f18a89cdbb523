"""The tech check against a real Janus (WebSocket and HTTP API, EchoTest) and a real coturn."""

from __future__ import annotations

import asyncio

import pytest

from app.techcheck import Status, TechCheck, grade
from media import techcheck
from media.visit.session import parse_turn
from tests.integration.media.services import (
    TURN_PASSWORD,
    TURN_USER,
    JanusServer,
    MediaNet,
    TurnServer,
)

pytestmark = pytest.mark.integration


def _servers(turn: TurnServer, password: str = TURN_PASSWORD) -> list[object]:
    return list(
        parse_turn([f"{u}&username={TURN_USER}&credential={password}" for u in turn.urls()])
    )


def test_media_server_answers_on_both_apis(janus: JanusServer) -> None:
    async def scenario() -> None:
        allowed = [janus.net.host_ip]  # the test Janus speaks plain ws:// on its veth address
        refused = await techcheck.measure_media_server(janus.ws_url)
        assert not refused.ok and refused.problem == "visit.insecure", refused
        ws = await techcheck.measure_media_server(janus.ws_url, allowed)
        http = await techcheck.measure_media_server(janus.http_url)  # loopback: allowed
        assert ws.ok and ws.values["api"] == "websocket", ws
        assert http.ok and http.values["api"] == "http", http
        assert grade(ws).status is Status.GREEN

    asyncio.run(scenario())


def test_an_unreachable_media_server_is_red() -> None:
    async def scenario() -> None:
        found = await techcheck.measure_media_server("ws://127.0.0.1:9/janus")
        assert not found.ok
        line = grade(found)
        assert line.status is Status.RED and line.action

    asyncio.run(scenario())


def test_turn_allocates_over_udp_and_tcp_and_refuses_a_wrong_password(turn: TurnServer) -> None:
    async def scenario() -> None:
        for transport in ("udp", "tcp"):
            found = await techcheck.measure_turn(_servers(turn), transport)
            assert found.ok, found
            assert grade(found).status is Status.GREEN
        bad = await techcheck.measure_turn(_servers(turn, "wrong-password"), "udp")
        assert not bad.ok and grade(bad).status is Status.AMBER
        none = await techcheck.measure_turn(_servers(turn), "tls")  # no turns: URL set up
        assert grade(none).status is Status.SKIPPED

    asyncio.run(scenario())


@pytest.mark.parametrize("relay", [False, True])
def test_echo_session_finds_the_path_and_estimates_bandwidth(
    relay: bool, janus: JanusServer, turn: TurnServer, clean_net: MediaNet
) -> None:
    cfg = techcheck.TechCheckConfig(
        media_server_url=janus.ws_url,
        turn=_servers(turn) if relay else (),
        force_relay=relay,
        interfaces=[clean_net.host_if],
        allow_insecure_hosts=[janus.net.host_ip],
    )

    async def scenario() -> None:
        found = await techcheck.measure_echo(cfg)
        print("echo", "relay" if relay else "direct", dict(found.values))
        assert found.ok, found
        assert found.values["candidate_type"] == ("relay" if relay else "host")
        # A clean local link carries the paced 4 Mbit/s both ways.
        assert found.values["uplink_kbps"] > 1500, found.values
        assert found.values["downlink_kbps"] > 1500, found.values
        connection = grade(techcheck.connection_measurement(found))
        assert connection.status is (Status.AMBER if relay else Status.GREEN)
        assert grade(found).status is Status.GREEN

    asyncio.run(scenario())


def test_whole_check_with_synthetic_devices_and_the_real_server(
    janus: JanusServer, clean_net: MediaNet
) -> None:
    cfg = techcheck.TechCheckConfig(
        camera="testsrc",
        microphone="tone",
        speaker="no-such-speaker",
        media_server_url=janus.ws_url,
        interfaces=[clean_net.host_if],
        allow_insecure_hosts=[janus.net.host_ip],
    )
    check = TechCheck(techcheck.probes(cfg))
    seen: list[str] = []
    check.line_did_finish.connect(lambda line: seen.append(line.key))

    async def scenario() -> None:
        report = await check.run()
        by_key = {line.key: line for line in report.lines}
        assert seen == [line.key for line in report.lines]
        assert by_key["camera"].status is Status.AMBER  # the test pattern, not a camera
        assert by_key["microphone"].status is Status.AMBER
        assert by_key["speaker"].status is Status.RED
        assert by_key["media_server"].status is Status.GREEN
        assert by_key["turn_udp"].status is Status.SKIPPED
        assert by_key["connection"].status is Status.GREEN
        assert by_key["bandwidth"].status is Status.GREEN
        assert report.status is Status.RED
        assert report.to_json()["lines"][0]["key"] == "camera"

    asyncio.run(scenario())
