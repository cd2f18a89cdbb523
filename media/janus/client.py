"""The Janus API over WebSocket or HTTP: one session, handles, transactions, keepalives, events.

Protocol (https://janus.conf.meetecho.com/docs/rest.html): every request
carries a ``transaction`` string; the server answers it with ``success`` /
``error`` (synchronous requests) or ``ack`` followed later by an ``event`` with
the same transaction (asynchronous plugin requests such as ``join``). Other
messages are addressed to a handle by ``sender`` (``event``, ``webrtcup``,
``media``, ``slowlink``, ``hangup``, ``detached``) or to the session
(``timeout``). A session dies after 60 s without traffic, so we send a
``keepalive`` every :data:`KEEPALIVE_S`.

Validation is strict: a message that is not a JSON object, lacks ``janus``, or
whose fields have the wrong types raises :class:`VisitProtocolError` to the
waiting request (and is logged and dropped if nobody waits), never a crash of
the reader. A socket that closes while requests are pending fails them with
:class:`VisitConnectError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.errors import (
    VisitConnectError,
    VisitError,
    VisitInsecureTransportError,
    VisitProtocolError,
)

log = logging.getLogger(__name__)

KEEPALIVE_S = 25.0
REQUEST_TIMEOUT_S = 15.0
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # an SDP is a few kB; anything this large is hostile

JSON = dict[str, Any]
EventHandler = Callable[["JanusEvent"], None]


@dataclass(frozen=True, slots=True)
class JanusEvent:
    """A message addressed to a handle: ``kind`` is the ``janus`` field."""

    kind: str  # "event" | "webrtcup" | "media" | "slowlink" | "hangup" | "detached" | ...
    handle_id: int
    plugin_data: JSON | None = None  # plugindata.data, validated to be an object
    jsep: JSON | None = None  # {"type": "offer"|"answer", "sdp": str}, validated
    raw: JSON | None = None


def _int_field(message: JSON, key: str) -> int:
    value = message.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise VisitProtocolError(reason=f"'{key}' is not an integer")
    return value


def parse_jsep(value: object) -> JSON | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise VisitProtocolError(reason="'jsep' is not an object")
    kind, sdp = value.get("type"), value.get("sdp")
    if kind not in ("offer", "answer") or not isinstance(sdp, str):
        raise VisitProtocolError(reason="'jsep' has no valid type/sdp")
    if not sdp.startswith("v=0"):
        raise VisitProtocolError(reason="the SDP does not start with v=0")
    return {"type": kind, "sdp": sdp}


def parse_plugin_data(message: JSON) -> JSON | None:
    raw = message.get("plugindata")
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
        raise VisitProtocolError(reason="'plugindata' has no data object")
    data: JSON = raw["data"]
    return data


def parse_message(text: str | bytes) -> JSON:
    """One WebSocket text frame as a validated Janus message (a JSON object with ``janus``)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise VisitProtocolError(reason="a message is not UTF-8") from exc
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise VisitProtocolError(reason="a message is not JSON") from exc
    if not isinstance(message, dict):
        raise VisitProtocolError(reason="a message is not a JSON object")
    if not isinstance(message.get("janus"), str):
        raise VisitProtocolError(reason="a message has no 'janus' field")
    transaction = message.get("transaction")
    if transaction is not None and not isinstance(transaction, str):
        raise VisitProtocolError(reason="'transaction' is not a string")
    return message


def error_of(message: JSON) -> VisitError:
    """A Janus-level ``error`` message as a VisitError (403/auth codes as VisitAuthError)."""
    from app.errors import VisitAuthError

    err = message.get("error")
    code = err.get("code") if isinstance(err, dict) else None
    reason = err.get("reason") if isinstance(err, dict) else None
    text = reason if isinstance(reason, str) else "unknown error"
    text = f"Janus error {code}: {text[:120]}"
    if code in (403, 405):  # JANUS_ERROR_UNAUTHORIZED, ..._UNAUTHORIZED_PLUGIN
        return VisitAuthError(reason=text)
    return VisitProtocolError(reason=text)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure_transport(url: str, allow_insecure_hosts: Sequence[str]) -> None:
    """Refuse plain ``ws://`` / ``http://`` unless the host is loopback or the policy names it.

    In clear, the room PIN, the admission token and the DTLS fingerprints (which
    authenticate the media keys) would be readable and changeable on the path.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "http"):
        return
    host = (parts.hostname or "").lower().rstrip(".")
    allowed = {h.strip().lower().strip("[]").rstrip(".") for h in allow_insecure_hosts}
    if _is_loopback(host) or host in allowed:
        return
    raise VisitInsecureTransportError(
        url=_safe_url(url), scheme=scheme, secure="wss" if scheme == "ws" else "https"
    )


class _Pending:
    def __init__(self, asynchronous: bool) -> None:
        self.future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self.asynchronous = asynchronous  # wait past "ack" for the "event"


class JanusClient:
    """One Janus session over one WebSocket. ``await JanusClient.connect(url)``."""

    def __init__(self, websocket: Any, url: str) -> None:
        self._ws = websocket
        self.url = url
        self.session_id = 0
        self._pending: dict[str, _Pending] = {}
        self._handlers: dict[int, EventHandler] = {}
        self._reader: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.protocol_errors = 0
        self.on_close: Callable[[str], None] | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        timeout_s: float = REQUEST_TIMEOUT_S,
        allow_insecure_hosts: Sequence[str] = (),
    ) -> JanusClient:
        """Open a Janus session over its WebSocket (``wss://``) or HTTP API (``https://``,
        media/janus/http_wire.py); plain ws:// and http:// only to loopback or
        ``allow_insecure_hosts``."""
        import websockets

        lowered = url.lower()
        if not lowered.startswith(("ws://", "wss://", "http://", "https://")):
            raise VisitConnectError(
                reason="the media server URL must start with wss:// or https:// "
                "(its WebSocket or HTTP API)"
            )
        require_secure_transport(url, allow_insecure_hosts)
        if lowered.startswith(("http://", "https://")):
            from media.janus.http_wire import HttpWire

            wire = await asyncio.wait_for(HttpWire.open(url, timeout_s), timeout_s + 1)
            return await cls._start(wire, url)
        try:
            ws = await asyncio.wait_for(
                websockets.connect(
                    url,
                    subprotocols=[websockets.Subprotocol("janus-protocol")],
                    max_size=MAX_MESSAGE_BYTES,
                    open_timeout=timeout_s,
                    ping_interval=None,  # Janus keepalives below keep the session and socket up
                ),
                timeout_s,
            )
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
            raise VisitConnectError(reason=f"cannot open {_safe_url(url)}") from exc
        return await cls._start(ws, url)

    @classmethod
    async def _start(cls, wire: Any, url: str) -> JanusClient:
        """Create the session over an open wire (a WebSocket or an :class:`HttpWire`)."""
        client = cls(wire, url)
        client._reader = asyncio.ensure_future(client._read_loop())
        try:
            created = await client._request({"janus": "create"})
            data = created.get("data")
            if not isinstance(data, dict):
                raise VisitProtocolError(reason="'create' answered without data")
            client.session_id = _int_field(data, "id")
        except BaseException:
            await client.close()
            raise
        client._keepalive = asyncio.ensure_future(client._keepalive_loop())
        return client

    # -- requests --

    async def _request(
        self, body: JSON, *, asynchronous: bool = False, timeout_s: float = REQUEST_TIMEOUT_S
    ) -> JSON:
        if self.closed.is_set():
            raise VisitConnectError(reason=self.close_reason or "the media server closed")
        transaction = secrets.token_hex(8)
        message = dict(body, transaction=transaction)
        if self.session_id and "session_id" not in message and body["janus"] != "create":
            message["session_id"] = self.session_id
        pending = _Pending(asynchronous)
        self._pending[transaction] = pending
        try:
            await self._send(message)
            return await asyncio.wait_for(asyncio.shield(pending.future), timeout_s)
        except TimeoutError as exc:
            raise VisitConnectError(reason=f"no answer to '{body['janus']}'") from exc
        finally:
            self._pending.pop(transaction, None)

    async def _send(self, message: JSON) -> None:
        import websockets

        try:
            await self._ws.send(json.dumps(message))
        except websockets.exceptions.WebSocketException as exc:
            raise VisitConnectError(reason="the media server closed the connection") from exc

    async def attach(self, plugin: str, on_event: EventHandler) -> int:
        answer = await self._request({"janus": "attach", "plugin": plugin})
        data = answer.get("data")
        if not isinstance(data, dict):
            raise VisitProtocolError(reason="'attach' answered without data")
        handle_id = _int_field(data, "id")
        self._handlers[handle_id] = on_event
        return handle_id

    async def detach(self, handle_id: int) -> None:
        self._handlers.pop(handle_id, None)
        with contextlib.suppress(VisitError):
            await self._request({"janus": "detach", "handle_id": handle_id}, timeout_s=5.0)

    async def message(
        self,
        handle_id: int,
        body: JSON,
        *,
        jsep: JSON | None = None,
        asynchronous: bool = False,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> JSON:
        """A plugin request; returns the answer (``success`` or the async ``event``)."""
        request: JSON = {"janus": "message", "handle_id": handle_id, "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        return await self._request(request, asynchronous=asynchronous, timeout_s=timeout_s)

    async def hangup(self, handle_id: int) -> None:
        with contextlib.suppress(VisitError):
            await self._request({"janus": "hangup", "handle_id": handle_id}, timeout_s=5.0)

    # -- the reader --

    async def _read_loop(self) -> None:
        import websockets

        reason = "the media server closed the connection"
        try:
            async for text in self._ws:
                try:
                    self._dispatch(parse_message(text))
                except VisitProtocolError as exc:
                    self.protocol_errors += 1
                    log.warning("janus: dropped a malformed message: %s", exc.params.get("reason"))
                    self._fail_pending_on_garbage(text, exc)
        except websockets.exceptions.WebSocketException:
            pass
        except asyncio.CancelledError:
            reason = "closed by the console"
            raise
        finally:
            self._closed(reason)

    def _fail_pending_on_garbage(self, text: str | bytes, exc: VisitProtocolError) -> None:
        """A malformed reply still fails the request it names (or, if unattributable, all)."""
        transaction = None
        with contextlib.suppress(Exception):
            candidate = json.loads(text)
            if isinstance(candidate, dict) and isinstance(candidate.get("transaction"), str):
                transaction = candidate["transaction"]
        targets = (
            [self._pending[transaction]]
            if transaction in self._pending
            else list(self._pending.values())
        )
        for pending in targets:
            if not pending.future.done():
                pending.future.set_exception(exc)

    def _dispatch(self, message: JSON) -> None:
        kind: str = message["janus"]
        transaction = message.get("transaction")
        pending = self._pending.get(transaction) if isinstance(transaction, str) else None
        if kind == "ack":
            if pending is not None and not pending.asynchronous and not pending.future.done():
                pending.future.set_result(message)  # keepalive, trickle, hangup
            return
        if kind == "error":
            if pending is not None and not pending.future.done():
                pending.future.set_exception(error_of(message))
            return
        if kind == "timeout":
            self._closed("the media server session timed out")
            return
        if kind == "success" and pending is not None:
            parse_plugin_data(message)  # validate before the caller reads it
            if not pending.future.done():
                pending.future.set_result(message)
            return
        sender = message.get("sender")
        if kind in ("event", "webrtcup", "media", "slowlink", "hangup", "detached", "trickle"):
            handle_id = _int_field(message, "sender")
            event = JanusEvent(
                kind=kind,
                handle_id=handle_id,
                plugin_data=parse_plugin_data(message),
                jsep=parse_jsep(message.get("jsep")),
                raw=message,
            )
            if pending is not None and pending.asynchronous and kind == "event":
                if not pending.future.done():
                    pending.future.set_result(message)
                return
            handler = self._handlers.get(handle_id)
            if handler is not None:
                try:
                    handler(event)
                except VisitError as exc:
                    log.warning("janus: handle event rejected: %s", exc.message_key)
            return
        if kind == "server_info" or sender is None:
            if pending is not None and not pending.future.done():
                pending.future.set_result(message)
            return
        raise VisitProtocolError(reason=f"unknown message '{kind[:32]}'")

    def _closed(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.closed.set()
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(VisitConnectError(reason=reason))
        if self._keepalive is not None:
            self._keepalive.cancel()
        if self.on_close is not None:
            self.on_close(reason)

    async def _keepalive_loop(self) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(KEEPALIVE_S)
            try:
                await self._request({"janus": "keepalive"}, timeout_s=10.0)
            except VisitError as exc:
                log.warning("janus: keepalive failed: %s", exc.message_key)

    async def close(self) -> None:
        if self.session_id and not self.closed.is_set():
            with contextlib.suppress(VisitError):
                await self._request({"janus": "destroy"}, timeout_s=3.0)
        if self._keepalive is not None:
            self._keepalive.cancel()
        with contextlib.suppress(Exception):
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        self._closed("closed by the console")


def _safe_url(url: str) -> str:
    """The URL without query or userinfo (which may carry credentials)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
