"""Pure parts of the Janus client and the visit session: parsing, error mapping, settings."""

from __future__ import annotations

import pytest

from app.errors import VisitAuthError, VisitEndedError, VisitProtocolError
from media.janus.client import error_of, parse_jsep, parse_message
from media.janus.videoroom import (
    parse_publishers,
    raise_for_plugin_error,
    random_pin,
    random_room_id,
)
from media.visit.session import host_addresses, parse_turn


def test_parse_message_envelope() -> None:
    assert parse_message('{"janus": "ack", "transaction": "t"}')["janus"] == "ack"
    for bad in ("", "nope", "[]", '{"janus": 1}', '{"janus": "ack", "transaction": 5}', b"\xff"):
        with pytest.raises(VisitProtocolError):
            parse_message(bad)


def test_parse_jsep() -> None:
    assert parse_jsep(None) is None
    assert parse_jsep({"type": "offer", "sdp": "v=0\r\n"}) == {"type": "offer", "sdp": "v=0\r\n"}
    for bad in ("x", {"type": "pranswer", "sdp": "v=0"}, {"type": "offer", "sdp": "garbage"}):
        with pytest.raises(VisitProtocolError):
            parse_jsep(bad)


def test_plugin_error_mapping() -> None:
    raise_for_plugin_error({"videoroom": "joined"})
    with pytest.raises(VisitAuthError, match="wrong PIN"):
        raise_for_plugin_error({"error_code": 433, "error": "Unauthorized (wrong pin)"})
    with pytest.raises(VisitAuthError, match="not admitted"):
        raise_for_plugin_error(
            {"error_code": 433, "error": "Unauthorized (not in the allowed list)"}
        )
    with pytest.raises(VisitEndedError):
        raise_for_plugin_error({"error_code": 426, "error": "No such room"})
    with pytest.raises(VisitProtocolError) as caught:
        raise_for_plugin_error({"error_code": 428, "error": "No such feed"})
    assert caught.value.params["code"] == 428
    assert isinstance(error_of({"janus": "error", "error": {"code": 403}}), VisitAuthError)


def test_parse_publishers() -> None:
    found = parse_publishers(
        [{"id": 5, "display": "A", "streams": [{"type": "video"}, {"type": "audio"}]}]
    )
    assert found[0].feed_id == 5 and found[0].has_video and found[0].has_audio
    for bad in ("x", [{"display": "no id"}], [{"id": 1, "display": 3}]):
        with pytest.raises(VisitProtocolError):
            parse_publishers(bad)


def test_random_room_and_pin() -> None:
    assert random_room_id() % 2 == 0
    pins = {random_pin() for _ in range(50)}
    assert len(pins) == 50 and all(len(p) == 10 and p.isdigit() for p in pins)


def test_parse_turn_credentials() -> None:
    (inline,) = parse_turn(["turn:t.example:3478?transport=udp&username=u&credential=p"])
    assert (inline.url, inline.username, inline.credential) == (
        "turn:t.example:3478?transport=udp",
        "u",
        "p",
    )
    (from_secret,) = parse_turn(["turns:t.example:443?transport=tcp"], secret="cart:s3cret")
    assert (from_secret.username, from_secret.credential) == ("cart", "s3cret")
    (bare,) = parse_turn(["turn:t.example"])
    assert bare.username == ""


def test_host_addresses_policy() -> None:
    assert host_addresses([]) is None
    assert host_addresses(["10.1.2.3"]) == ["10.1.2.3"]
    assert "127.0.0.1" in (host_addresses(["lo"]) or [])
    assert host_addresses(["no-such-interface0"]) == []
