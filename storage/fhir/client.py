"""An async FHIR R4 REST client on httpx, written to the standard (DESIGN.md §4).

    async with FhirClient(url, auth=auth_from_settings(...), ca_file=...) as fhir:
        caps = await fhir.capabilities()
        response = await fhir.transaction(bundle)
        async for resource in fhir.search("DocumentReference", {"_lastUpdated": "gt..."}):
            ...

Every failure leaves this module as a :class:`~app.errors.SyncError` subclass
that says what to do (app/errors.py has the tree): network trouble, timeouts,
5xx, 408 and 429 are retryable (``Retry-After`` honoured); 401/403 mean
re-authenticate; 409 **and** 412 are conflicts (HAPI answers one, others the
other); other 4xx mean the server refused the content; an unverifiable
certificate names ``[record_store] ca_file``; a response that is not what FHIR
promises (not JSON, wrong ``resourceType``, truncated, larger than
``max_response_bytes``) is a protocol error and nothing from it is used.

Server-agnostic habits: version ids are opaque strings compared for equality
(``W/"x"`` ETags give ``x``); relative and absolute ``next`` links are both
followed, but only on the server's own origin; writes ask for
``Prefer: return=representation`` and cope with an empty body; Binary content
goes as JSON with base64 ``data`` (some servers refuse raw uploads).

Nothing here logs or raises resource content, query strings or credentials:
logs carry the method, the URL path and the status.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import math
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import urlencode, urljoin

import httpx

from app.errors import (
    SyncAuthError,
    SyncConfigError,
    SyncConflictError,
    SyncError,
    SyncProtocolError,
    SyncRejectedError,
    SyncRetryableError,
    SyncTlsError,
)
from storage.fhir.auth import Authenticator, JsonReply, NoAuth
from storage.fhir.capabilities import Capabilities, parse_capabilities

log = logging.getLogger(__name__)

FHIR_JSON: Final = "application/fhir+json"
#: Largest response body read, in bytes (after content decoding, so a
#: compressed bomb stops at the same cap).
MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
#: Auth endpoints answer with a few hundred bytes.
MAX_AUTH_RESPONSE_BYTES: Final = 1024 * 1024
#: A ``Retry-After`` beyond a day is treated as a day.
MAX_RETRY_AFTER_S: Final = 86_400.0
#: Characters of server diagnostics kept for a details view.
DIAGNOSTICS_LIMIT: Final = 300
#: Most pages one search follows; a server that pages forever is broken.
MAX_PAGES: Final = 100_000

_RESOURCE_TYPE_RE: Final = re.compile(r"[A-Z][A-Za-z]{1,63}")
_ID_RE: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_ETAG_RE: Final = re.compile(r'\s*(?:W/)?"([^"]{1,64})"\s*|\s*([^\s"]{1,64})\s*')
_LOCATION_RE: Final = re.compile(
    r"(?:.*/)?(?P<type>[A-Z][A-Za-z]{1,63})/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/(?P<vid>[A-Za-z0-9\-.]{1,64}))?/?"
)
_STATUS_RE: Final = re.compile(r"\s*(\d{3})(?:\s.*)?", re.DOTALL)
_ISSUE_CODE_RE: Final = re.compile(r"[a-z][a-z\-]{0,39}")
_SEVERITIES: Final = frozenset({"fatal", "error", "warning", "information"})
# Quoted fragments and ISO dates in server text are most likely echoed values.
_QUOTED_RE: Final = re.compile(r"'[^']{0,2000}'|\"[^\"]{0,2000}\"|`[^`]{0,2000}`|“[^”]{0,2000}”")
_DATE_RE: Final = re.compile(r"\d{4}-\d{2}(?:-\d{2}(?:T[\d:.]+(?:Z|[+\-]\d{2}:\d{2})?)?)?")
_SPACE_RE: Final = re.compile(r"\s+")


# --- small parsers (public: the sync engine reads Bundle responses with them) ------------


def parse_etag(value: str | None) -> str | None:
    """The opaque version id in an ETag: ``W/"3"`` -> ``3``; ``None`` if absent or odd."""
    if not value:
        return None
    match = _ETAG_RE.fullmatch(value)
    if match is None:
        return None
    return match.group(1) or match.group(2)


def parse_status(value: Any) -> int | None:
    """``Bundle.entry.response.status`` (``"201 Created"``) as 201."""
    if not isinstance(value, str):
        return None
    match = _STATUS_RE.fullmatch(value)
    return int(match.group(1)) if match else None


def parse_location(value: Any) -> tuple[str, str, str | None] | None:
    """``(type, id, version)`` from a Location (relative or absolute, with or without _history)."""
    if not isinstance(value, str) or len(value) > 4096:
        return None
    match = _LOCATION_RE.fullmatch(value.split("?", 1)[0])
    if match is None:
        return None
    return match.group("type"), match.group("id"), match.group("vid")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now (delay-seconds or HTTP-date); ``None`` if unusable."""
    if not value:
        return None
    value = value.strip()
    seconds: float
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def scrub_diagnostics(text: str) -> str:
    """Server text for a details view: quoted values and dates removed, one line, bounded."""
    text = text[: DIAGNOSTICS_LIMIT * 8]
    text = _QUOTED_RE.sub("'…'", text)
    text = _DATE_RE.sub("…", text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = _SPACE_RE.sub(" ", text).strip()
    if len(text) > DIAGNOSTICS_LIMIT:
        text = text[: DIAGNOSTICS_LIMIT - 1] + "…"
    return text


@dataclass(frozen=True, slots=True)
class OutcomeSummary:
    """The part of an OperationOutcome the console may show: code, severity, scrubbed text."""

    issue_code: str = "unspecified"
    severity: str = "error"
    diagnostics: str = ""


def summarize_outcome(outcome: Any) -> OutcomeSummary:
    """Summarise an OperationOutcome (anything else gives the empty summary)."""
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return OutcomeSummary()
    issues = [i for i in outcome.get("issue", []) or [] if isinstance(i, dict)][:100]
    if not issues:
        return OutcomeSummary()
    # The first error explains the refusal better than a leading warning.
    ranked = sorted(issues, key=lambda i: i.get("severity") not in ("fatal", "error"))
    first = ranked[0]
    code = first.get("code")
    severity = first.get("severity")
    texts = []
    for issue in ranked[:3]:
        diag = issue.get("diagnostics")
        if isinstance(diag, str) and diag.strip():
            texts.append(scrub_diagnostics(diag))
    diagnostics = "; ".join(texts)
    if len(issues) > 3:
        diagnostics += f" (+{len(issues) - 3} more issues)"
    if not isinstance(code, str) or not _ISSUE_CODE_RE.fullmatch(code):
        code = "unspecified"
    return OutcomeSummary(
        issue_code=code,
        severity=severity if severity in _SEVERITIES else "error",
        diagnostics=scrub_diagnostics(diagnostics),
    )


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a server said about one write (update, create, Bundle entry)."""

    status: int
    resource_type: str | None
    id: str | None
    #: Opaque; compare with ``==`` only.
    version_id: str | None
    last_modified: str | None
    location: str | None
    #: The stored resource when the server returned it, else None.
    resource: dict[str, Any] | None


def entry_result(entry: Any) -> WriteResult:
    """One ``transaction-response`` / ``batch-response`` entry as a :class:`WriteResult`.

    Raises SyncProtocolError when the entry has no readable ``response.status``.
    A failed batch entry keeps its status; its ``outcome`` is not returned here.
    """
    if not isinstance(entry, dict) or not isinstance(entry.get("response"), dict):
        raise SyncProtocolError(reason="a Bundle response entry has no response")
    response = entry["response"]
    status = parse_status(response.get("status"))
    if status is None:
        raise SyncProtocolError(reason="a Bundle response entry has no status")
    resource = entry.get("resource")
    if resource is not None and not (
        isinstance(resource, dict) and isinstance(resource.get("resourceType"), str)
    ):
        raise SyncProtocolError(reason="a Bundle response entry holds a malformed resource")
    location = response.get("location")
    location = location if isinstance(location, str) else None
    last_modified = response.get("lastModified")
    etag = response.get("etag")
    return _write_result(
        status,
        location,
        parse_etag(etag) if isinstance(etag, str) else None,
        last_modified if isinstance(last_modified, str) else None,
        resource,
    )


def _write_result(
    status: int,
    location: str | None,
    etag_version: str | None,
    last_modified: str | None,
    resource: dict[str, Any] | None,
) -> WriteResult:
    rtype = rid = version = None
    parsed = parse_location(location)
    if parsed is not None:
        rtype, rid, version = parsed
    meta = resource.get("meta") if resource is not None else None
    if resource is not None and resource.get("resourceType") != "OperationOutcome":
        rtype = rtype or _str_or_none(resource.get("resourceType"))
        rid = rid or _str_or_none(resource.get("id"))
        if isinstance(meta, dict):
            version = version or _str_or_none(meta.get("versionId"))
            last_modified = last_modified or _str_or_none(meta.get("lastUpdated"))
    else:
        resource = None
    return WriteResult(
        status=status,
        resource_type=rtype,
        id=rid,
        # The ETag is the server's own statement of the version; prefer it.
        version_id=etag_version or version,
        last_modified=last_modified,
        location=location,
        resource=resource,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def binary_resource(content_type: str, data: bytes) -> dict[str, Any]:
    """A Binary as JSON with base64 ``data``: accepted by every server (raw uploads are not)."""
    return {
        "resourceType": "Binary",
        "contentType": content_type,
        "data": base64.b64encode(data).decode("ascii"),
    }


# --- the client ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    headers: httpx.Headers
    body: bytes
    url: str


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    scheme = url.scheme.lower()
    return scheme, url.host.lower(), url.port or (443 if scheme == "https" else 80)


def _ssl_context(ca_file: str | os.PathLike[str] | None) -> ssl.SSLContext:
    """Verified TLS: the system's CAs and certifi's, plus IT's extra bundle if given.

    Contexts are shared between clients (building one reads every CA, ~50 ms);
    a changed ``ca_file`` (new mtime or size) gets a new one.
    """
    if not ca_file:
        return _cached_ssl_context(None, None)
    path = Path(ca_file)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise SyncConfigError(
            reason=f"the [record_store] ca_file {path.name} does not exist"
        ) from None
    except OSError:
        raise SyncConfigError(
            reason=f"the [record_store] ca_file {path.name} cannot be read"
        ) from None
    return _cached_ssl_context(str(path.resolve()), (stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _cached_ssl_context(ca_file: str | None, _version: tuple[int, int] | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    except (ImportError, OSError, ssl.SSLError):
        # certifi is httpx's dependency; without it the system store still applies.
        log.warning("certifi's CA bundle could not be loaded; using the system CAs only")
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError, ValueError):
            raise SyncConfigError(
                reason=f"the [record_store] ca_file {Path(ca_file).name} is not a readable PEM "
                "CA bundle"
            ) from None
    return context


_E = TypeVar("_E", bound=BaseException)


def _in_chain(exc: BaseException, kind: type[_E]) -> _E | None:
    """The first ``kind`` in ``exc``'s cause/context chain (httpx wraps ssl errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _tls_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    return _in_chain(exc, ssl.SSLCertVerificationError)


def _has_ssl_error(exc: BaseException) -> bool:
    return _in_chain(exc, ssl.SSLError) is not None


def _check_resource_type(resource_type: str) -> None:
    if not _RESOURCE_TYPE_RE.fullmatch(resource_type):
        raise ValueError("not a FHIR resource type name")


def _check_id(resource_id: str) -> None:
    if not _ID_RE.fullmatch(resource_id):
        raise ValueError("not a FHIR id")


Params = Mapping[str, str] | Sequence[tuple[str, str]]


class FhirClient:
    """One FHIR R4 server. Use as ``async with``; methods raise only SyncError (and ValueError
    for arguments that could never be valid, which is a bug in the caller).

    ``timeout`` (seconds) bounds each network phase (connect, each read, each
    write); ``deadline`` (seconds, or None) bounds a whole request including
    its body, so a server that drips bytes cannot hold a sync forever.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Authenticator | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        deadline: float | None = 300.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        try:
            url = httpx.URL(base_url.strip().rstrip("/"))
        except (httpx.InvalidURL, TypeError):
            raise SyncConfigError(reason="[record_store] url is not a URL") from None
        if url.scheme not in ("http", "https") or not url.host or url.query or url.fragment:
            raise SyncConfigError(reason="[record_store] url must be an http(s) base URL")
        self._base = str(url)
        self._origin = _origin(url)
        self._auth = auth or NoAuth()
        self._deadline = deadline
        self._max_response_bytes = max_response_bytes
        # Always our context: httpx would otherwise build its own (certifi only) per client.
        verify = _ssl_context(ca_file)
        self._http = httpx.AsyncClient(
            transport=transport,
            verify=verify,
            timeout=httpx.Timeout(timeout),
            # Redirects are not followed: a FHIR server has no reason to send
            # one, and following could carry credentials somewhere else.
            follow_redirects=False,
            headers={"Accept": FHIR_JSON, "User-Agent": "clinician-console"},
        )

    @property
    def base_url(self) -> str:
        return self._base

    @property
    def auth(self) -> Authenticator:
        return self._auth

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- FHIR interactions ------------------------------------------------------------------

    async def capabilities(self) -> Capabilities:
        """``GET [base]/metadata``, parsed. Sent without credentials first: it is meant to be
        public, and asking for a token just to read it would make discovery circular."""
        reply = await self._exchange("GET", f"{self._base}/metadata")
        if reply.status in (401, 403):
            reply = await self._request("GET", f"{self._base}/metadata")
        self._raise_for_status(reply)
        return parse_capabilities(self._json(reply))

    async def transaction(
        self, bundle: dict[str, Any], *, prefer: str = "return=representation"
    ) -> dict[str, Any]:
        """POST a ``transaction`` Bundle; the ``transaction-response`` Bundle, one entry per entry.

        All or nothing on the server: a conflict anywhere (409/412) rolls the
        whole transaction back and raises SyncConflictError.
        """
        return await self._post_bundle(bundle, "transaction", prefer)

    async def batch(
        self, bundle: dict[str, Any], *, prefer: str = "return=representation"
    ) -> dict[str, Any]:
        """POST a ``batch`` Bundle; entries succeed or fail one by one (:func:`entry_result`)."""
        return await self._post_bundle(bundle, "batch", prefer)

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        """``GET [base]/Type/id``. A missing ``meta.versionId`` is filled from the ETag."""
        _check_resource_type(resource_type)
        _check_id(resource_id)
        reply = await self._request("GET", f"{self._base}/{resource_type}/{resource_id}")
        self._raise_for_status(reply)
        resource = self._resource(self._json(reply), resource_type)
        if resource.get("id") != resource_id:
            raise SyncProtocolError(reason=f"the server returned a different {resource_type}")
        meta = resource.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise SyncProtocolError(reason=f"the {resource_type}'s meta is malformed")
        version = parse_etag(reply.headers.get("etag"))
        if version is not None and (meta is None or "versionId" not in meta):
            resource.setdefault("meta", {})["versionId"] = version
        return resource

    async def update(
        self,
        resource_type: str,
        resource_id: str,
        resource: dict[str, Any],
        if_match: str | None,
    ) -> WriteResult:
        """``PUT [base]/Type/id``; with ``if_match`` (a version id) only if that is still current,
        else SyncConflictError."""
        _check_resource_type(resource_type)
        _check_id(resource_id)
        if resource.get("resourceType") != resource_type or resource.get("id") != resource_id:
            raise ValueError("the resource's resourceType and id must match the URL")
        headers = {"Content-Type": FHIR_JSON, "Prefer": "return=representation"}
        if if_match is not None:
            headers["If-Match"] = f'W/"{if_match}"'
        reply = await self._request(
            "PUT",
            f"{self._base}/{resource_type}/{resource_id}",
            body=_encode(resource),
            headers=headers,
        )
        return self._write_reply(reply, resource_type)

    async def create_binary(self, content_type: str, data: bytes) -> WriteResult:
        """``POST [base]/Binary`` as JSON with base64 ``data``."""
        reply = await self._request(
            "POST",
            f"{self._base}/Binary",
            body=_encode(binary_resource(content_type, data)),
            headers={"Content-Type": FHIR_JSON, "Prefer": "return=representation"},
        )
        result = self._write_reply(reply, "Binary")
        if result.id is None:
            raise SyncProtocolError(reason="the server did not say where it stored the Binary")
        return result

    async def create_binary_raw(
        self, content_type: str, data: bytes, *, security_context: str | None = None
    ) -> WriteResult:
        """``POST [base]/Binary`` with the bytes as the body (FHIR's raw Binary create).

        Only for servers that refuse large JSON bodies (Medplum answers 413 above its
        ``maxJsonSize``, 1 MB by default): SEKMET answers 500 to raw uploads, so
        the JSON form stays the default. ``security_context`` ("Patient/<id>") goes
        in ``X-Security-Context``, the header R4 defines for raw Binary."""
        if "/" not in content_type or content_type.split("/", maxsplit=1)[0] in ("", "application"):
            raise ValueError("a raw Binary upload needs a media content type")
        headers = {"Content-Type": content_type, "Prefer": "return=minimal"}
        if security_context:
            headers["X-Security-Context"] = security_context
        reply = await self._request("POST", f"{self._base}/Binary", body=data, headers=headers)
        result = self._write_reply(reply, "Binary")
        if result.id is None:
            raise SyncProtocolError(reason="the server did not say where it stored the Binary")
        return result

    def search(
        self, resource_type: str, params: Params | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching resource across all pages (``next`` links followed).

        Entries with ``search.mode = outcome`` (server warnings) are skipped;
        ``_include``\\ d resources are yielded too.
        """
        _check_resource_type(resource_type)
        return self._search(f"{self._base}/{resource_type}", params)

    async def _search(self, url: str, params: Params | None) -> AsyncIterator[dict[str, Any]]:
        async for entry in self._pages(url, params, "searchset"):
            search = entry.get("search")
            if isinstance(search, dict) and search.get("mode") == "outcome":
                continue
            resource = entry.get("resource")
            if resource is None:
                raise SyncProtocolError(reason="a search result entry has no resource")
            yield resource

    def history(
        self,
        resource_type: str | None = None,
        *,
        since: str | None = None,
        params: Params | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Entries of ``[base]/_history`` or ``[base]/Type/_history`` (``_since`` when given).

        Use only where :meth:`Capabilities.supports_history_since` says so.
        Entries are yielded whole: a deletion has ``request.method = DELETE``
        and no resource.
        """
        path = "_history"
        if resource_type is not None:
            _check_resource_type(resource_type)
            path = f"{resource_type}/_history"
        query = list(params.items() if isinstance(params, Mapping) else params or [])
        if since is not None:
            query.append(("_since", since))
        return self._pages(f"{self._base}/{path}", query, "history")

    # --- transport ------------------------------------------------------------------------

    async def fetch_json(
        self,
        method: str,
        url: str,
        *,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JsonReply:
        """For authenticators (:class:`~storage.fhir.auth.AuthTransport`): no credentials added."""
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL:
            raise SyncProtocolError(reason="an auth endpoint URL is malformed") from None
        if target.scheme not in ("http", "https"):
            raise SyncProtocolError(reason="an auth endpoint URL is not http(s)")
        all_headers = dict(headers or {})
        body = None
        if form is not None:
            body = urlencode(dict(form)).encode("ascii")
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        reply = await self._exchange(
            method, url, body=body, headers=all_headers, cap=MAX_AUTH_RESPONSE_BYTES
        )
        if reply.status in (408, 429) or reply.status >= 500:
            raise _retryable(reply)
        parsed: Any = None
        try:
            parsed = json.loads(reply.body) if reply.body else None
        except (ValueError, RecursionError):
            parsed = None
        return JsonReply(status=reply.status, headers=dict(reply.headers), body=parsed)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
    ) -> _Reply:
        """Send with credentials; on 401 ask the authenticator for fresh ones and retry once."""
        reply: _Reply | None = None
        for attempt in range(2):
            sent = await self._auth.headers(self)
            reply = await self._exchange(
                method, url, body=body, headers={**(headers or {}), **sent}, params=params
            )
            if reply.status != 401 or attempt == 1:
                break
            if not self._auth.retry_after_unauthorized(sent):
                break
        assert reply is not None
        return reply

    async def _exchange(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
        cap: int | None = None,
    ) -> _Reply:
        """One HTTP exchange, body read in full up to ``cap``; transport errors translated."""
        limit = self._max_response_bytes if cap is None else min(cap, self._max_response_bytes)
        started = time.perf_counter()
        try:
            request = self._http.build_request(
                method, url, content=body, headers=headers, params=_query(params)
            )
            path = request.url.path
            async with asyncio.timeout(self._deadline):
                response = await self._http.send(request, stream=True)
                try:
                    data = await _read_capped(response, limit)
                finally:
                    await response.aclose()
        except SyncError:
            raise
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise SyncRetryableError(reason="the request timed out") from exc
        except httpx.ConnectError as exc:
            raise _connect_error(exc) from exc
        except httpx.RemoteProtocolError as exc:
            # A connection cut mid-response (or garbage instead of HTTP).
            raise SyncRetryableError(
                reason="the connection closed before the response was complete"
            ) from exc
        except httpx.DecodingError as exc:
            raise SyncProtocolError(reason="the response's content encoding is broken") from exc
        except httpx.InvalidURL as exc:
            raise SyncProtocolError(reason="a URL from the server is malformed") from exc
        except httpx.TransportError as exc:
            if _tls_failure(exc) is not None:
                raise _connect_error(exc) from exc
            raise SyncRetryableError(reason=f"network error ({type(exc).__name__})") from exc
        except ssl.SSLError as exc:  # httpx normally wraps these; be safe
            raise _connect_error(exc) from exc
        except OSError as exc:
            raise SyncRetryableError(reason=f"network error ({type(exc).__name__})") from exc
        log.debug(
            "%s %s -> %d (%.0f ms, %d bytes)",
            method,
            path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            len(data),
        )
        return _Reply(response.status_code, response.headers, data, str(request.url))

    # --- interpreting replies --------------------------------------------------------------

    def _raise_for_status(self, reply: _Reply) -> None:
        status = reply.status
        if 200 <= status < 300:
            return
        if status in (401, 403):
            reason = (
                "HTTP 401: not signed in, or the credentials were refused"
                if status == 401
                else "HTTP 403: the credentials do not permit this request"
            )
            raise SyncAuthError(status=status, reason=reason)
        if status in (408, 429) or 500 <= status < 600:
            raise _retryable(reply)
        if status in (409, 412) or 400 <= status < 500:
            summary = summarize_outcome(_loads_or_none(reply.body))
            if status in (409, 412):
                raise SyncConflictError(
                    status=status, issue_code=summary.issue_code, diagnostics=summary.diagnostics
                )
            raise SyncRejectedError(
                status=status,
                issue_code=summary.issue_code,
                severity=summary.severity,
                diagnostics=summary.diagnostics,
            )
        if 300 <= status < 400:
            raise SyncProtocolError(
                reason=f"the server answered with a redirect (HTTP {status}); check "
                "[record_store] url"
            )
        raise SyncProtocolError(reason=f"unexpected HTTP status {status}")

    def _json(self, reply: _Reply) -> Any:
        if not reply.body.strip():
            raise SyncProtocolError(reason="the response body is empty")
        try:
            return json.loads(reply.body)
        except (ValueError, RecursionError):
            raise SyncProtocolError(reason="the response is not valid JSON") from None

    @staticmethod
    def _resource(value: Any, resource_type: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise SyncProtocolError(reason="the response is not a FHIR resource")
        if value.get("resourceType") != resource_type:
            # What it was instead is not said: the value is the server's, not ours.
            raise SyncProtocolError(reason=f"the response is not a {resource_type}")
        return value

    def _write_reply(self, reply: _Reply, resource_type: str) -> WriteResult:
        self._raise_for_status(reply)
        resource: dict[str, Any] | None = None
        if reply.body.strip():
            value = self._json(reply)
            if not isinstance(value, dict):
                raise SyncProtocolError(reason="the response is not a FHIR resource")
            if value.get("resourceType") == resource_type:
                resource = value
            elif value.get("resourceType") != "OperationOutcome":
                self._resource(value, resource_type)  # raises with the reason
        etag = parse_etag(reply.headers.get("etag"))
        return _write_result(
            reply.status,
            reply.headers.get("location") or reply.headers.get("content-location"),
            etag,
            reply.headers.get("last-modified"),
            resource,
        )

    async def _post_bundle(
        self, bundle: dict[str, Any], kind: str, prefer: str = "return=representation"
    ) -> dict[str, Any]:
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != kind:
            raise ValueError(f"expected a Bundle of type {kind}")
        entries = bundle.get("entry") or []
        reply = await self._request(
            "POST",
            self._base,
            body=_encode(bundle),
            headers={"Content-Type": FHIR_JSON, "Prefer": prefer},
        )
        self._raise_for_status(reply)
        response = self._resource(self._json(reply), "Bundle")
        if response.get("type") != f"{kind}-response":
            raise SyncProtocolError(reason=f"the server did not answer with a {kind}-response")
        got = response.get("entry") or []
        if not isinstance(got, list) or len(got) != len(entries):
            # R4: one response entry per request entry, in order. Without that
            # the acknowledgements cannot be matched to the outbox.
            raise SyncProtocolError(reason=f"the {kind}-response has the wrong number of entries")
        for entry in got:
            entry_result(entry)  # validates each
        return response

    async def _pages(
        self, url: str, params: Params | None, bundle_type: str
    ) -> AsyncIterator[dict[str, Any]]:
        seen: set[str] = set()
        query: Params | None = params
        for _ in range(MAX_PAGES):
            reply = await self._request("GET", url, params=query)
            self._raise_for_status(reply)
            page = self._resource(self._json(reply), "Bundle")
            if page.get("type") != bundle_type:
                raise SyncProtocolError(reason=f"expected a {bundle_type} Bundle")
            entries = page.get("entry") or []
            if not isinstance(entries, list):
                raise SyncProtocolError(reason="the Bundle's entries are malformed")
            for entry in entries:
                if not isinstance(entry, dict):
                    raise SyncProtocolError(reason="a Bundle entry is malformed")
                resource = entry.get("resource")
                if resource is not None and not (
                    isinstance(resource, dict) and isinstance(resource.get("resourceType"), str)
                ):
                    raise SyncProtocolError(reason="a Bundle entry holds a malformed resource")
                yield entry
            next_url = self._next_link(page, reply.url)
            if next_url is None:
                return
            if next_url in seen:
                raise SyncProtocolError(reason="the server's next links go round in a circle")
            seen.add(next_url)
            url, query = next_url, None
        raise SyncProtocolError(reason="the search has more pages than the console follows")

    def _next_link(self, page: dict[str, Any], current_url: str) -> str | None:
        links = page.get("link") or []
        if not isinstance(links, list):
            raise SyncProtocolError(reason="the Bundle's links are malformed")
        for link in links:
            if not isinstance(link, dict) or link.get("relation") != "next":
                continue
            target = link.get("url")
            if not isinstance(target, str) or not target or len(target) > 16_384:
                raise SyncProtocolError(reason="a next link is malformed")
            if any(ch.isspace() or not ch.isprintable() for ch in target):
                raise SyncProtocolError(reason="a next link is malformed")
            if target.startswith("?"):
                # Relative to the page itself (only a query changes).
                resolved = current_url.split("?", 1)[0] + target
            else:
                # FHIR resolves relative URLs against the service base.
                resolved = urljoin(self._base + "/", target)
            try:
                parsed = httpx.URL(resolved)
            except httpx.InvalidURL:
                raise SyncProtocolError(reason="a next link is malformed") from None
            if parsed.scheme not in ("http", "https") or _origin(parsed) != self._origin:
                # Following it would send our credentials to another server.
                raise SyncProtocolError(reason="a next link points to another server")
            return resolved
        return None


def _query(params: Params | None) -> httpx.QueryParams | None:
    if params is None:
        return None
    items = params.items() if isinstance(params, Mapping) else params
    return httpx.QueryParams([(str(k), str(v)) for k, v in items])


def _encode(resource: Mapping[str, Any]) -> bytes:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _loads_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        return None


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise SyncProtocolError(reason=f"the response is larger than {limit // (1024 * 1024)} MiB")
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks += chunk
        if len(chunks) > limit:
            raise SyncProtocolError(
                reason=f"the response is larger than {limit // (1024 * 1024)} MiB"
            )
    return bytes(chunks)


def _retryable(reply: _Reply | JsonReply) -> SyncRetryableError:
    status = reply.status
    retry_after = parse_retry_after(reply.headers.get("retry-after"))
    reason = f"HTTP {status}"
    if status == 429:
        reason = "HTTP 429: too many requests"
    elif status == 503:
        reason = "HTTP 503: the service is unavailable"
    return SyncRetryableError(status=status, reason=reason, retry_after_s=retry_after)


def _connect_error(exc: BaseException) -> SyncError:
    failure = _tls_failure(exc)
    if failure is not None:
        detail = failure.verify_message or "certificate verify failed"
        return SyncTlsError(reason=str(detail)[:160])
    if _has_ssl_error(exc):
        return SyncRetryableError(reason="the TLS handshake failed")
    return SyncRetryableError(reason="could not connect")
