"""parse_invite_link: the invite link the host's console shows -> server, room and PIN."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import InputRejectedError
from app.visit import (
    MAX_ROOM,
    Invite,
    JoinRequest,
    check_display,
    check_room,
    parse_invite_link,
)

PIN = "s3cr#t&pin=x"  # characters that need escaping in a fragment

INVITE = Invite(
    page_url="https://clinic.example.org/patient/",
    server_url="wss://media.example.org/janus",
    room=4821,
    pin=PIN,
)


def test_round_trips_the_link_the_host_shows() -> None:
    assert parse_invite_link(INVITE.link) == INVITE
    assert parse_invite_link(f"  {INVITE.link}\n") == INVITE  # pasted with whitespace


@given(
    server=st.sampled_from(["ws://127.0.0.1:8188", "https://h.example/janus", "wss://[::1]:1/j"]),
    room=st.integers(min_value=1, max_value=MAX_ROOM),
    pin=st.text(
        st.characters(
            min_codepoint=33,
            max_codepoint=0x2FFF,
            exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),  # the checks strip whitespace
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_round_trips_any_valid_invite(server: str, room: int, pin: str) -> None:
    invite = Invite("https://c.example/p/", server, room, pin)
    assert parse_invite_link(invite.link) == invite


@pytest.mark.parametrize(
    ("link", "reason"),
    [
        ("", "this is not a visit invite link"),
        ("https://clinic.example.org/patient/", "nothing after the '#'"),
        ("https://c/p/#", "nothing after the '#'"),
        ("https://c/p/#room=12&pin=x", "has no server"),
        ("https://c/p/#server=wss://m/j&pin=x", "has no room"),
        ("https://c/p/#server=wss://m/j&room=12", "has no PIN"),
        ("https://c/p/#server=wss://m/j&room=12&pin=", "has no PIN"),
        ("https://c/p/#server=wss://m/j&room=abc&pin=x", "the room must be a number"),
        ("https://c/p/#server=wss://m/j&room=-3&pin=x", "the room must be a number"),
        ("https://c/p/#server=wss://m/j&room=0&pin=x", "the room must be a number"),
        ("https://c/p/#server=wss://m/j&room=%D9%A3&pin=x", "the room must be a number"),
        (f"https://c/p/#server=wss://m/j&room={2**63}&pin=x", "the room must be a number"),
        ("https://c/p/#server=ftp://m/j&room=1&pin=x", "must start with wss://"),
        ("https://c/p/#server=wss://&room=1&pin=x", "must start with wss://"),
        ("https://c/p/#server=wss://[::1&room=1&pin=x", "not a valid URL"),
        ("https://c/p/#server=wss://m:99999/j&room=1&pin=x", "not a valid URL"),
        ("https://c/p/#server=wss://m/j&room=1&pin=a%0Ab", "PIN is not valid"),
        ("x" * 5000, "this is not a visit invite link"),
    ],
)
def test_rejects_with_a_reason_that_never_quotes_the_pin(link: str, reason: str) -> None:
    with pytest.raises(InputRejectedError) as caught:
        parse_invite_link(link)
    assert reason in caught.value.params["reason"]
    assert "pin=" not in str(caught.value)


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_garbage_is_rejected_cleanly_or_parsed_into_a_valid_invite(link: str) -> None:
    try:
        invite = parse_invite_link(link)
    except InputRejectedError as exc:
        assert exc.params["reason"]
        return
    assert 1 <= invite.room <= MAX_ROOM and invite.pin and invite.server_url


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["server", "room", "pin", "x", ""]),
            st.text(max_size=30),
        ),
        max_size=6,
    )
)
def test_garbage_fragments_never_raise_anything_else(pairs: list[tuple[str, str]]) -> None:
    from urllib.parse import urlencode

    link = "https://c/p/#" + urlencode(pairs)
    try:
        invite = parse_invite_link(link)
    except InputRejectedError:
        return
    assert invite.room >= 1 and invite.pin == invite.pin.strip()


def test_room_and_display_checks() -> None:
    assert check_room(" 42 ") == 42
    assert check_display("  Dr   Lee ") == "Dr Lee"
    with pytest.raises(InputRejectedError, match="enter your name"):
        check_display("   ")
    with pytest.raises(InputRejectedError, match="longer than"):
        check_display("x" * 65)


def test_join_request_repr_hides_the_pin() -> None:
    request = JoinRequest("wss://m/j", 1, PIN, "Dr Lee")
    assert PIN not in repr(request)


def test_a_link_asks_for_a_stethoscope_only_when_the_clinic_wants_one() -> None:
    """steth=1 makes the patient page offer a stethoscope input; without it, none."""
    assert "steth" not in INVITE.link
    wanted = Invite(INVITE.page_url, INVITE.server_url, INVITE.room, PIN, stethoscope=True)
    assert "steth=1" in wanted.link.split("#", 1)[1]
    assert parse_invite_link(wanted.link) == wanted
    assert parse_invite_link(INVITE.link).stethoscope is False
