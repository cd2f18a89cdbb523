"""Bad input from the media server: a scripted Janus on 127.0.0.1 that misbehaves.

The fake server is the one place a stand-in is needed: a real Janus never sends
garbage, so a WebSocket server here speaks just enough of the Janus protocol
(create, attach, join, publish) and then breaks it in the way each case names.
Every case must end in a clear VisitError subclass, the Visit ENDED with a
user-facing reason, and no crash or stray task.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from app.errors import VisitAuthError, VisitConnectError, VisitError, VisitProtocolError
from app.visit import Visit, VisitState
from media.janus.client import JanusClient, parse_message
from media.visit.session import SessionConfig, VisitSession

pytestmark = pytest.mark.integration

Mode = Callable[[dict[str, Any]], Any]  # request -> reply frames (list) or "close"

GOOD_SESSION = {"janus": "success", "data": {"id": 11}}
GOOD_HANDLE = {"janus": "success", "data": {"id": 22}}


def joined_event(tx: str) -> list[Any]:
    return [
        {"janus": "ack", "transaction": tx},
        {
            "janus": "event",
            "sender": 22,
            "transaction": tx,
            "plugindata": {
                "plugin": "janus.plugin.videoroom",
                "data": {"videoroom": "joined", "room": 4, "id": 99, "private_id": 7},
            },
        },
    ]


def script(on_publish: Callable[[str], list[Any] | str], on_join: Any = None) -> Mode:
    def reply(request: dict[str, Any]) -> Any:
        tx = request["transaction"]
        kind = request["janus"]
        if kind == "create":
            return [dict(GOOD_SESSION, transaction=tx)]
        if kind == "attach":
            return [dict(GOOD_HANDLE, transaction=tx)]
        if kind == "message" and request["body"]["request"] == "join":
            return on_join(tx) if on_join is not None else joined_event(tx)
        if kind == "message" and request["body"]["request"] == "publish":
            return on_publish(tx)
        return [{"janus": "ack", "transaction": tx}]

    return reply


async def run_against(mode: Mode, **config: Any) -> tuple[Visit, VisitError, int]:
    import websockets

    async def handler(ws: Any) -> None:
        async for text in ws:
            frames = mode(json.loads(text))
            if frames == "close":
                await ws.close()
                return
            for frame in frames:
                await ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["janus-protocol"]) as srv:
        port = srv.sockets[0].getsockname()[1]
        visit = Visit()
        session = VisitSession(
            visit,
            SessionConfig(
                server_url=f"ws://127.0.0.1:{port}",
                room=4,
                pin="1",
                token="t",
                interfaces=["127.0.0.1"],
                width=320,
                height=240,
                render_frames=False,
                **config,
            ),
        )
        with pytest.raises(VisitError) as caught:
            await asyncio.wait_for(session.start(), 20)
        await session.close()
        errors = session.client.protocol_errors if session.client is not None else 0
    assert visit.state is VisitState.ENDED and visit.end_reason
    return visit, caught.value, errors


def check(mode: Mode, expected: type[VisitError], text: str = "") -> VisitError:
    _, error, _ = asyncio.run(run_against(mode))
    assert isinstance(error, expected), repr(error)
    assert text in str(error), str(error)
    return error


def test_not_json_at_create() -> None:
    check(lambda r: ["}{ not json"], VisitProtocolError, "not JSON")


def test_json_but_not_janus() -> None:
    check(lambda r: [json.dumps([1, 2, 3])], VisitProtocolError, "not a JSON object")
    check(lambda r: [{"transaction": r["transaction"]}], VisitProtocolError, "no 'janus'")


def test_wrong_types_in_answer() -> None:
    def mode(r: dict[str, Any]) -> Any:
        return [{"janus": "success", "transaction": r["transaction"], "data": {"id": "eleven"}}]

    check(mode, VisitProtocolError, "not an integer")


def test_sdp_garbage() -> None:
    def answer(sdp: str) -> Callable[[str], list[Any]]:
        def publish(tx: str) -> list[Any]:
            return [
                {"janus": "ack", "transaction": tx},
                {
                    "janus": "event",
                    "sender": 22,
                    "transaction": tx,
                    "plugindata": {
                        "plugin": "x",
                        "data": {"videoroom": "event", "configured": "ok"},
                    },
                    "jsep": {"type": "answer", "sdp": sdp},
                },
            ]

        return publish

    check(script(answer("certainly not an SDP")), VisitProtocolError, "v=0")
    check(script(answer("v=0\r\nm=video banana\r\na=\x00\r\n")), VisitProtocolError, "SDP")


def test_socket_closed_mid_negotiation() -> None:
    check(script(lambda tx: "close"), VisitConnectError)


def test_plugin_errors() -> None:
    def wrong_pin(tx: str) -> list[Any]:
        return [
            {"janus": "ack", "transaction": tx},
            {
                "janus": "event",
                "sender": 22,
                "transaction": tx,
                "plugindata": {
                    "plugin": "janus.plugin.videoroom",
                    "data": {
                        "videoroom": "event",
                        "error_code": 433,
                        "error": "Unauthorized (wrong pin)",
                    },
                },
            },
        ]

    check(script(lambda tx: [], on_join=wrong_pin), VisitAuthError, "wrong PIN")


def test_unsolicited_garbage_is_dropped_not_fatal() -> None:
    """Garbage before a reply fails the pending request with a clear error, not a crash."""

    def mode(r: dict[str, Any]) -> Any:
        tx = r["transaction"]
        junk = ["\xff\xfe", "[]", json.dumps({"janus": "event", "sender": "x"}), b"\x80\x81"]
        if r["janus"] == "create":
            return [*junk[:1], dict(GOOD_SESSION, transaction=tx)]
        return "close"

    async def scenario() -> None:
        import websockets

        async def handler(ws: Any) -> None:
            async for text in ws:
                frames = mode(json.loads(text))
                if frames == "close":
                    await ws.close()
                    return
                for f in frames:
                    await ws.send(f if isinstance(f, str | bytes) else json.dumps(f))

        async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["janus-protocol"]) as s:
            port = s.sockets[0].getsockname()[1]
            # The junk frame arrives first and fails the pending create: a clear error.
            with pytest.raises(VisitProtocolError):
                await JanusClient.connect(f"ws://127.0.0.1:{port}")

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "null",
        '{"janus": 5}',
        '{"janus": "event", "transaction": 3}',
        '{"janus": "event", "sender": 1, "plugindata": []}',
        '{"janus": "event", "sender": 1, "jsep": {"type": "offer", "sdp": 5}}',
        "[" * 100_000,
    ],
)
def test_parse_rejects(frame: str) -> None:
    from media.janus.client import JanusEvent  # noqa: F401  (the module imports cleanly)

    try:
        message = parse_message(frame)
    except VisitProtocolError:
        return
    # parse_message only checks the envelope; the dispatcher checks the rest
    client = JanusClient.__new__(JanusClient)
    client._pending, client._handlers = {}, {}
    with pytest.raises(VisitProtocolError):
        client._dispatch(message)
