"""The remote-still protocol's checks (media/visit/stills.py), without a network: what a
hostile or broken cart can send never yields a still, and a good transfer yields exactly
the bytes. Through the real Janus: tests/integration/media/test_remote_still.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import RemoteStillError
from media.visit.stills import (
    CHUNK_BYTES,
    MAX_STILL_BYTES,
    SessionStills,
    Transfer,
    _RejectedError,
    chunk_frames,
)

DATA = bytes(range(256)) * 300  # 76,800 bytes: 5 chunks, the last one short
SHA = hashlib.sha256(DATA).hexdigest()


def begin(**over: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "size": len(DATA),
        "chunks": math.ceil(len(DATA) / CHUNK_BYTES),
        "sha256": SHA,
        "content_type": "image/jpeg",
        "image_id": "cart-1",
        "metadata": {},
    }
    msg.update(over)
    return msg


def payloads() -> list[bytes]:
    return [frame[24:] for frame in chunk_frames(b"\0" * 16, DATA)]


def test_a_whole_transfer_gives_the_bytes_in_any_order() -> None:
    transfer = Transfer.from_begin(begin())
    for index, payload in reversed(list(enumerate(payloads()))):
        transfer.add(index, payload)
    assert transfer.finish() == DATA


@pytest.mark.parametrize(
    ("over", "words"),
    [
        ({"size": 0}, "size"),
        ({"size": MAX_STILL_BYTES + 1}, "size"),
        ({"size": True}, "size"),
        ({"size": "76800"}, "size"),
        ({"chunks": 4}, "chunk count"),
        ({"sha256": "00" * 31}, "hash"),
        ({"sha256": "G" * 64}, "hash"),
        ({"content_type": "text/html"}, "type"),
        ({"image_id": "x\n" * 10}, "image id"),
        ({"metadata": []}, "details"),
    ],
)
def test_a_lying_header_is_refused(over: dict[str, Any], words: str) -> None:
    with pytest.raises(_RejectedError, match=words):
        Transfer.from_begin(begin(**over))


def test_bad_chunks_are_refused() -> None:
    parts = payloads()
    transfer = Transfer.from_begin(begin())
    with pytest.raises(_RejectedError, match="outside"):
        transfer.add(len(parts), parts[0])
    with pytest.raises(_RejectedError, match="outside"):
        transfer.add(-1, parts[0])
    with pytest.raises(_RejectedError, match="length"):
        transfer.add(0, parts[0][:-1])
    with pytest.raises(_RejectedError, match="length"):
        transfer.add(len(parts) - 1, parts[0])  # the last chunk is short
    transfer.add(0, parts[0])
    with pytest.raises(_RejectedError, match="twice"):
        transfer.add(0, parts[0])
    with pytest.raises(_RejectedError, match="missing"):
        transfer.finish()


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, len(DATA) - 1), flip=st.integers(1, 255))
def test_any_flipped_byte_fails_the_hash(index: int, flip: int) -> None:
    damaged = bytearray(DATA)
    damaged[index] ^= flip
    transfer = Transfer.from_begin(begin())
    for i, frame in enumerate(chunk_frames(b"\0" * 16, bytes(damaged))):
        transfer.add(i, frame[24:])
    with pytest.raises(_RejectedError, match="hash"):
        transfer.finish()


def _stills() -> SessionStills:
    # A bare object with the attributes SessionStills reads: there is no visit here.
    session = types.SimpleNamespace(
        joined=types.SimpleNamespace(participant_id=99),
        remotes={},
        ended=False,
        attach_stills=lambda stills: None,
        spawn=lambda coro: coro.close(),
        publisher=lambda: None,
    )
    return SessionStills(session)


@settings(max_examples=200, deadline=None)
@given(
    message=st.one_of(
        st.binary(max_size=64),
        st.text(max_size=64),
        st.dictionaries(st.text(max_size=8), st.none() | st.integers() | st.text(max_size=8)).map(
            json.dumps
        ),
        st.fixed_dictionaries(
            {
                "cc": st.just("still"),
                "v": st.just(1),
                "op": st.sampled_from(["begin", "end", "error", "taking", "x"]),
                "id": st.text(max_size=40),
                "size": st.integers() | st.text(max_size=4),
            }
        ).map(json.dumps),
    )
)
def test_garbage_from_a_participant_changes_nothing(message: str | bytes) -> None:
    stills = _stills()
    stills._on_message(5, message)  # never raises, never answers, keeps nothing
    assert stills._pending == {}
    assert stills._answered == {}


def test_a_transfer_from_someone_not_asked_is_ignored_and_a_bad_one_fails_the_request() -> None:
    async def scenario() -> None:
        stills = _stills()
        loop = asyncio.get_running_loop()
        from media.visit.stills import _Pending

        rid = b"\1" * 16
        pending = _Pending(7, loop.create_future())
        stills._pending[rid] = pending
        good = {"cc": "still", "v": 1, "id": rid.hex(), "to": 99, **begin()}
        stills._on_message(8, json.dumps({**good, "op": "begin"}))  # not the one asked
        assert pending.transfer is None and not pending.future.done()
        stills._on_message(7, json.dumps({**good, "op": "begin", "size": 10**12}))
        with pytest.raises(RemoteStillError, match="size is not allowed"):
            await pending.future

    asyncio.run(scenario())


class _Channel:
    """Records what the cart sends (a stand-in for the data channel: no network here)."""

    readyState = "open"  # noqa: N815 - aiortc's names
    bufferedAmount = 0  # noqa: N815

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        self.sent.append(json.loads(message) if isinstance(message, str) else message)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("encounter", "no_encounter"),  # the cart has no encounter open to keep it with
        ("camera", "camera"),
    ],
)
def test_the_cart_refuses_with_the_reason_and_sends_nothing_else(error: str, reason: str) -> None:
    from app.errors import CapabilityUnavailableError, DeviceUnavailableError

    async def scenario() -> None:
        stills = _stills()
        channel = _Channel()
        stills._out = channel  # type: ignore[assignment]

        async def take() -> Any:
            if error == "encounter":
                raise CapabilityUnavailableError(capability="encounter.attach", reason="none")
            raise DeviceUnavailableError(device="camera", reason="unplugged")

        stills.serve_stills(take)
        rid = b"\2" * 16
        request = {"cc": "still", "v": 1, "op": "request", "id": rid.hex(), "to": 99}
        stills._on_message(7, json.dumps(request))
        assert stills._serving is not None
        await stills._serving
        assert [m["op"] for m in channel.sent] == ["taking", "error"]
        assert channel.sent[-1]["reason"] == reason
        stills._on_message(7, json.dumps(request))  # a repeat gets the same answer again
        await asyncio.sleep(0)
        assert stills._answered[rid] == ("error", reason)

    asyncio.run(scenario())
