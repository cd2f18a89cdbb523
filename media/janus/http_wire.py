"""Janus's HTTP(S) API carried like a WebSocket, so :class:`~media.janus.client.JanusClient`
speaks one protocol over either (https://janus.conf.meetecho.com/docs/rest.html).

- Requests are POSTed: ``create`` to the base URL (``.../janus``), session requests to
  ``.../janus/<session>``, handle requests (``message``, ``trickle``, ``detach``,
  ``hangup``) to ``.../janus/<session>/<handle>``. The reply to each POST (``success``,
  ``error`` or ``ack``) is handed to the client's reader as if it had arrived on a socket.
- Asynchronous events come from a long poll, ``GET .../janus/<session>?maxev=N``,
  restarted as soon as it answers; Janus answers an idle poll after about 30 s with a
  ``keepalive``, which also keeps the session alive. The poll starts once the client
  has learnt its session id from the ``create`` reply.

Only the transport differs: validation, transactions and events stay in the client.
HTTP errors and unreachable servers become :class:`~app.errors.VisitConnectError`, and
end the wire as a closed socket would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from app.errors import VisitConnectError

log = logging.getLogger(__name__)

POLL_EVENTS = 10
POLL_TIMEOUT_S = 60.0  # Janus holds a poll up to 30 s
MAX_REPLY_BYTES = 4 * 1024 * 1024
_CLOSED = object()


class HttpWire:
    """The subset of a WebSocket the client uses: ``send``, async iteration, ``close``."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, read=POLL_TIMEOUT_S), follow_redirects=False
        )
        self._incoming: asyncio.Queue[object] = asyncio.Queue()
        self._session_id = 0
        self._poller: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(cls, base_url: str, timeout_s: float) -> HttpWire:
        """Check that a Janus answers ``GET /info`` there before the client starts."""
        import httpx

        wire = cls(base_url, timeout_s)
        try:
            response = await wire._http.get(f"{wire.base_url}/info")
            info = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            await wire.close()
            raise VisitConnectError(reason="the media server's HTTP API does not answer") from exc
        if not isinstance(info, dict) or info.get("janus") != "server_info":
            await wire.close()
            raise VisitConnectError(reason="that address is not a Janus HTTP API")
        return wire

    async def send(self, text: str) -> None:
        import httpx

        if self._closed:
            raise VisitConnectError(reason="the media server connection is closed")
        message: dict[str, Any] = json.loads(text)
        url = self.base_url
        if message.get("janus") != "create":
            url += f"/{message.get('session_id', self._session_id)}"
            if "handle_id" in message:
                url += f"/{message['handle_id']}"
        try:
            response = await self._http.post(url, content=text)
        except httpx.HTTPError as exc:
            raise VisitConnectError(reason="the media server did not answer") from exc
        if response.status_code != 200 or len(response.content) > MAX_REPLY_BYTES:
            raise VisitConnectError(reason=f"the media server answered HTTP {response.status_code}")
        if message.get("janus") == "create":
            self._learn_session(response.content)
        await self._incoming.put(response.text)

    def _learn_session(self, body: bytes) -> None:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            data = json.loads(body).get("data")
            session_id = data.get("id") if isinstance(data, dict) else None
            if isinstance(session_id, int) and not isinstance(session_id, bool):
                self._session_id = session_id
                self._poller = asyncio.ensure_future(self._poll())

    async def _poll(self) -> None:
        import httpx

        url = f"{self.base_url}/{self._session_id}"
        try:
            while not self._closed:
                response = await self._http.get(url, params={"maxev": POLL_EVENTS})
                if response.status_code != 200:
                    log.warning("janus http: long poll answered HTTP %s", response.status_code)
                    break
                try:
                    events = json.loads(response.content)
                except ValueError:
                    await self._incoming.put(response.text)  # the client reports it
                    continue
                for event in events if isinstance(events, list) else [events]:
                    await self._incoming.put(json.dumps(event))
        except httpx.HTTPError as exc:
            log.warning("janus http: long poll failed (%s)", type(exc).__name__)
        finally:
            await self._incoming.put(_CLOSED)  # the client sees the "socket" close

    def __aiter__(self) -> AsyncIterator[str]:
        return self._texts()

    async def _texts(self) -> AsyncIterator[str]:
        while True:
            item = await self._incoming.get()
            if item is _CLOSED:
                return
            assert isinstance(item, str)
            yield item

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await self._http.aclose()
        await self._incoming.put(_CLOSED)
