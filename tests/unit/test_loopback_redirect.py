"""The loopback redirect listener (RFC 8252 §7.3) with real sockets on 127.0.0.1:
hostile requests are answered and ignored, only our ``state`` completes it, it listens
on loopback only, and it is closed when the sign-in ends or is cancelled."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from app.errors import SignInCancelledError
from storage.identity.oidc import LoopbackRedirect, pkce_pair
from tests.conftest import run


async def _raw(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


def test_only_the_request_with_our_state_completes_the_sign_in() -> None:
    async def scenario() -> None:
        async with LoopbackRedirect("our-state") as redirect:
            sock = redirect._server.sockets[0]  # type: ignore[union-attr]
            host, port = sock.getsockname()[:2]
            assert host == "127.0.0.1"  # never 0.0.0.0: nothing off the machine reaches it
            async with httpx.AsyncClient() as http:
                base = redirect.redirect_uri
                assert (await http.get(base.replace("/callback", "/other"))).status_code == 404
                assert (await http.post(base, params={"state": "our-state"})).status_code == 404
                assert (await http.get(base, params={"code": "x"})).status_code == 400
                assert (
                    await http.get(base, params={"code": "x", "state": "Ünï"})
                ).status_code == 400
            assert (await _raw(port, b"garbage\r\n\r\n")).startswith(b"HTTP/1.1 400")
            assert (await _raw(port, b"GET /callback HTTP/1.1\r\n" + b"X: y\r\n" * 9000 + b"\r\n"))[
                :12
            ] in (b"HTTP/1.1 400", b"")
            async with httpx.AsyncClient() as http:
                ok = await http.get(base, params={"code": "the-code", "state": "our-state"})
                assert ok.status_code == 200 and "signed in" in ok.text
                # A second answer after the first cannot replace it.
                late = await http.get(base, params={"code": "other", "state": "our-state"})
                assert late.status_code == 400
            answer = await redirect.wait(5.0)
            assert answer == {"code": "the-code", "state": "our-state"}
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # closed once the sign-in is over

    run(scenario())


def test_a_browser_that_never_comes_back_times_out_and_frees_the_port() -> None:
    async def scenario() -> None:
        async with LoopbackRedirect("s") as redirect:
            port = redirect._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            with pytest.raises(SignInCancelledError):
                await redirect.wait(0.2)
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass

    run(scenario())


def test_pkce_verifier_and_s256_challenge() -> None:
    import base64
    import hashlib

    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128 and set(verifier) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    )
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge == expected.decode()
    assert pkce_pair()[0] != verifier
