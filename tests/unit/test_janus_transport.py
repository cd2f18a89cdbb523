"""The Janus client refuses plain ws:// / http:// to hosts that are not loopback (issue 10 §5).

A real listening socket stands in for a media server: the test checks that a refused
URL is refused before any byte is sent (the socket never sees a connection).
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from app.errors import VisitError, VisitInsecureTransportError
from media.janus.client import JanusClient, require_secure_transport

PIN = "0123456789"


@pytest.mark.parametrize(
    "url",
    [
        "ws://10.1.2.3:8188/janus",
        "ws://visits.example.org/janus",
        "http://visits.example.org/janus",
        "WS://Visits.Example.Org:8188",
        "ws://[2001:db8::1]:8188/janus",
        "ws://127.0.0.1.example.org/janus",  # not loopback: a name that merely starts so
    ],
)
def test_plain_transport_to_other_hosts_is_refused(url: str) -> None:
    with pytest.raises(VisitError) as caught:
        require_secure_transport(url, [])
    text = str(caught.value)
    assert ("wss://" in text or "https://" in text) and "allow_insecure_hosts" in text


@pytest.mark.parametrize(
    "url",
    [
        "wss://visits.example.org/janus",
        "https://visits.example.org/janus",
        "ws://127.0.0.1:8188/janus",
        "ws://127.3.4.5:8188",
        "ws://[::1]:8188/janus",
        "ws://localhost:8188/janus",
    ],
)
def test_tls_or_loopback_is_accepted(url: str) -> None:
    require_secure_transport(url, [])


def test_a_host_the_policy_names_is_accepted_and_only_that_host() -> None:
    require_secure_transport("ws://10.1.2.3:8188/janus", ["10.1.2.3"])
    require_secure_transport("ws://Media.Clinic.Lan/janus", ["media.clinic.lan"])
    with pytest.raises(VisitError):
        require_secure_transport("ws://10.1.2.4:8188/janus", ["10.1.2.3"])


def test_the_client_refuses_before_connecting() -> None:
    """Refused at once, with what to do, and without a connection attempt."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    port = server.getsockname()[1]

    async def scenario() -> None:
        # 127.0.0.1 is loopback (allowed); the same socket through a policy-less
        # non-loopback spelling must be refused without a connection attempt
        with pytest.raises(VisitInsecureTransportError) as caught:
            await JanusClient.connect(f"ws://10.255.255.1:{port}/janus?pin={PIN}")
        assert PIN not in str(caught.value) and "wss://" in str(caught.value)
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected

    try:
        asyncio.run(scenario())
    finally:
        server.close()
