"""The FHIR client and its auth against fakes (httpx.MockTransport with failure schedules).

Every failure must come out as a SyncError subclass that says what to do, and
no secret (password, client secret, access token, private key) or patient
datum (the canary) may reach an exception text or a log record.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import (
    SyncAuthError,
    SyncConfigError,
    SyncConflictError,
    SyncError,
    SyncProtocolError,
    SyncRejectedError,
    SyncRetryableError,
    SyncSecretMissingError,
    SyncTlsError,
)
from app.settings import RecordStoreSettings
from storage.fhir import auth as auth_mod
from storage.fhir.auth import (
    BasicAuth,
    NoAuth,
    SmartBackendAuth,
    auth_from_settings,
    public_jwk,
)
from storage.fhir.capabilities import parse_capabilities
from storage.fhir.client import (
    FhirClient,
    entry_result,
    parse_etag,
    parse_location,
    parse_retry_after,
    parse_status,
    scrub_diagnostics,
)

BASE = "https://fhir.test/fhir"
TOKEN_URL = "https://auth.test/token"
CANARY = "Zebediah"
PASSWORD = "pw-Quokka-7731"
CLIENT_SECRET = "cs-Wombat-9902"
ACCESS_TOKEN_PREFIX = "at-Numbat-"

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def fhir_json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/fhir+json", **(headers or {})},
    )


def patient(pid: str = "p1", version: str = "1") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "meta": {"versionId": version},
        "name": [{"family": CANARY}],
    }


class FakeServer:
    """Routes by (method, path); ``schedule`` (responses, exceptions or handlers) goes first."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.schedule: list[httpx.Response | Exception | Handler] = []
        self.routes: dict[tuple[str, str], Handler] = {}
        self.host_routes: dict[tuple[str, str, str], Handler] = {}

    def route(self, method: str, path: str, handler: Handler | httpx.Response) -> None:
        self.routes[(method, path)] = (
            (lambda _r: handler) if isinstance(handler, httpx.Response) else handler
        )

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.schedule:
            step = self.schedule.pop(0)
            if isinstance(step, Exception):
                raise step
            if isinstance(step, httpx.Response):
                return step
            return await _resolve(step(request))
        handler = self.host_routes.get((request.url.host, request.method, request.url.path))
        handler = handler or self.routes.get((request.method, request.url.path))
        if handler is None:
            return fhir_json(404, outcome("not-found", "no route"))
        return await _resolve(handler(request))

    def client(self, **kwargs: Any) -> FhirClient:
        return FhirClient(BASE, transport=httpx.MockTransport(self), **kwargs)


async def _resolve(value: httpx.Response | Awaitable[httpx.Response]) -> httpx.Response:
    if isinstance(value, httpx.Response):
        return value
    return await value


E = TypeVar("E", bound=SyncError)


def fails_with(
    kind: type[E],
    call: Callable[[FhirClient], Awaitable[Any]],
    server: FakeServer,
    **kwargs: Any,
) -> E:
    async def go() -> None:
        async with server.client(**kwargs) as client:
            await call(client)

    with pytest.raises(kind) as info:
        run(go())
    assert_clean(info.value)
    return info.value


SECRETS = (PASSWORD, CLIENT_SECRET, ACCESS_TOKEN_PREFIX, CANARY)


def assert_clean(exc: BaseException) -> None:
    """No secret or canary in the text of ``exc`` or anything it chains to."""
    seen: BaseException | None = exc
    while seen is not None:
        for secret in SECRETS:
            assert secret not in str(seen), f"{secret!r} leaked into {type(seen).__name__}"
            assert secret not in repr(seen)
        seen = seen.__cause__ or seen.__context__


def read_p1(client: FhirClient) -> Awaitable[Any]:
    return client.read("Patient", "p1")


# --- small parsers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('W/"3"', "3"),
        ('"abc-1"', "abc-1"),
        ("7", "7"),
        (' W/"9f2e" ', "9f2e"),
        ("", None),
        (None, None),
        ('W/"', None),
    ],
)
def test_etags_give_opaque_version_ids(value: str | None, expected: str | None) -> None:
    assert parse_etag(value) == expected


def test_statuses_and_locations() -> None:
    assert parse_status("201 Created") == 201
    assert parse_status("412") == 412
    assert parse_status("Created") is None
    assert parse_status(201) is None
    assert parse_location("Patient/abc/_history/2") == ("Patient", "abc", "2")
    assert parse_location("https://x.test/fhir/Patient/abc") == ("Patient", "abc", None)
    assert parse_location("nonsense") is None


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert (
        parse_retry_after(
            email.utils.format_datetime(now + timedelta(seconds=90), usegmt=True), now=now
        )
        == 90.0
    )
    # A date in the past means "now"; absurd values are capped; garbage is ignored.
    assert (
        parse_retry_after(
            email.utils.format_datetime(now - timedelta(hours=1), usegmt=True), now=now
        )
        == 0.0
    )
    assert parse_retry_after("99999999999") == 86_400.0
    assert parse_retry_after("-5") == 0.0
    for junk in ("soon", "", None, "nan", "inf", "Mon, 99 Foo 2025"):
        assert parse_retry_after(junk) is None


def test_diagnostics_are_scrubbed_and_bounded() -> None:
    text = scrub_diagnostics(
        f"Patient.name value '{CANARY}' invalid; birthDate 1970-01-02 \"{CANARY}\"\n" + "x" * 1000
    )
    assert CANARY not in text and "1970" not in text
    assert "\n" not in text and len(text) <= 300


# --- status translation ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retryable(status: int) -> None:
    server = FakeServer()
    server.schedule.append(fhir_json(status, outcome("exception", f"boom {CANARY}")))
    exc = fails_with(SyncRetryableError, read_p1, server)
    assert exc.status == status and exc.retry_after_s is None


def test_429_with_retry_after_seconds_and_date() -> None:
    server = FakeServer()
    server.schedule.append(httpx.Response(429, headers={"Retry-After": "7"}))
    exc = fails_with(SyncRetryableError, read_p1, server)
    assert isinstance(exc, SyncRetryableError)
    assert exc.status == 429 and exc.retry_after_s == 7.0

    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server.schedule.append(httpx.Response(503, headers={"Retry-After": later}))
    exc = fails_with(SyncRetryableError, read_p1, server)
    assert isinstance(exc, SyncRetryableError)
    assert exc.retry_after_s is not None and 25 <= exc.retry_after_s <= 30


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.ReadError("reset"),
    ],
)
def test_network_failures_are_retryable(failure: Exception) -> None:
    server = FakeServer()
    server.schedule.append(failure)
    fails_with(SyncRetryableError, read_p1, server)


def test_a_server_that_drips_past_the_deadline_is_retryable() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        async def drip() -> AsyncIterator[bytes]:
            yield b'{"resourceType":'
            await asyncio.sleep(5)
            yield b'"Patient"}'

        return httpx.Response(200, content=drip())

    server = FakeServer()
    server.schedule.append(slow)
    started = time.monotonic()
    exc = fails_with(SyncRetryableError, read_p1, server, deadline=0.2)
    assert "timed out" in str(exc)
    assert time.monotonic() - started < 3


def test_certificate_failure_names_ca_file() -> None:
    def tls_failure(request: httpx.Request) -> httpx.Response:
        cause = ssl.SSLCertVerificationError(
            1, "certificate verify failed: self-signed certificate"
        )
        cause.verify_message = "self-signed certificate"
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]") from cause

    server = FakeServer()
    server.schedule.append(tls_failure)
    exc = fails_with(SyncTlsError, read_p1, server)
    assert "ca_file" in str(exc) and "self-signed certificate" in str(exc)


@pytest.mark.parametrize("status", [409, 412])
def test_409_and_412_are_both_conflicts(status: int) -> None:
    server = FakeServer()
    server.schedule.append(
        fhir_json(status, outcome("conflict", f"version mismatch for '{CANARY}'"))
    )
    exc = fails_with(
        SyncConflictError, lambda c: c.update("Patient", "p1", patient(), if_match="1"), server
    )
    assert isinstance(exc, SyncConflictError)
    assert exc.status == status and exc.issue_code == "conflict"
    assert "version mismatch" in exc.diagnostics and CANARY not in exc.diagnostics


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_other_4xx_are_rejections_with_a_scrubbed_summary(status: int) -> None:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "warning", "code": "informational", "diagnostics": "fyi"},
            {"severity": "error", "code": "invalid", "diagnostics": f'name "{CANARY}" too long'},
            *({"severity": "error", "code": "value", "diagnostics": "more"} for _ in range(5)),
        ],
    }
    server = FakeServer()
    server.schedule.append(fhir_json(status, body))
    exc = fails_with(SyncRejectedError, read_p1, server)
    assert isinstance(exc, SyncRejectedError)
    assert exc.issue_code == "invalid" and exc.severity == "error"
    assert "too long" in exc.diagnostics and "more issues" in exc.diagnostics
    assert f"HTTP {status}" in str(exc) and "too long" not in str(exc)


def test_a_rejection_without_outcome_or_with_a_hostile_one_still_reads_cleanly() -> None:
    server = FakeServer()
    server.schedule.append(httpx.Response(400, content=b"<html>nope</html>"))
    exc = fails_with(SyncRejectedError, read_p1, server)
    assert isinstance(exc, SyncRejectedError) and exc.issue_code == "unspecified"
    server.schedule.append(
        fhir_json(
            400, {"resourceType": "OperationOutcome", "issue": [{"code": CANARY, "severity": 3}]}
        )
    )
    exc = fails_with(SyncRejectedError, read_p1, server)
    assert isinstance(exc, SyncRejectedError) and exc.issue_code == "unspecified"


def test_redirects_are_not_followed() -> None:
    server = FakeServer()
    server.schedule.append(httpx.Response(302, headers={"Location": "https://elsewhere.test/"}))
    fails_with(SyncProtocolError, read_p1, server)
    assert len(server.requests) == 1


# --- malformed responses --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"resourceType": "Patient", "id": "p1", "name": [{"fam',  # truncated
        b"",
        b"null",
        b"[1, 2]",
        b"\xff\xfe\x00garbage",
        b"[" * 100_000,  # nesting deeper than the JSON parser goes
        b'{"resourceType": "Observation", "id": "p1"}',  # wrong type
        b'{"resourceType": "Patient", "id": "someone-else"}',
        b'{"resourceType": "Patient", "id": "p1", "meta": "v1"}',
    ],
)
def test_malformed_read_responses_are_protocol_errors(body: bytes) -> None:
    server = FakeServer()
    server.route("GET", "/fhir/Patient/p1", httpx.Response(200, content=body))
    fails_with(SyncProtocolError, read_p1, server)


def test_oversize_bodies_stop_at_the_cap() -> None:
    server = FakeServer()
    big = b'{"resourceType":"Patient","id":"p1","x":"' + b"a" * 5000 + b'"}'
    server.schedule.append(httpx.Response(200, content=big))
    exc = fails_with(SyncProtocolError, read_p1, server, max_response_bytes=1024)
    assert "larger than" in str(exc)

    chunks_sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        yield b'{"resourceType":"Patient","x":"'
        while True:
            chunks_sent += 1
            yield b"a" * 256

    # No Content-Length: the cap is enforced while streaming, and reading stops there.
    server.schedule.append(httpx.Response(200, content=endless()))
    fails_with(SyncProtocolError, read_p1, server, max_response_bytes=1024)
    assert chunks_sent <= 5


def test_read_fills_a_missing_version_from_the_etag() -> None:
    server = FakeServer()
    body = {"resourceType": "Patient", "id": "p1"}
    server.route("GET", "/fhir/Patient/p1", fhir_json(200, body, {"ETag": 'W/"a1b2"'}))

    async def go() -> dict[str, Any]:
        async with server.client() as client:
            return await client.read("Patient", "p1")

    assert run(go())["meta"]["versionId"] == "a1b2"


def test_update_sends_if_match_and_reads_the_new_version() -> None:
    server = FakeServer()

    def put(request: httpx.Request) -> httpx.Response:
        assert request.headers["If-Match"] == 'W/"41"'
        assert request.headers["Content-Type"] == "application/fhir+json"
        assert json.loads(request.content)["id"] == "p1"
        return httpx.Response(
            200, headers={"ETag": 'W/"42"', "Location": f"{BASE}/Patient/p1/_history/42"}
        )

    server.route("PUT", "/fhir/Patient/p1", put)

    async def go() -> Any:
        async with server.client() as client:
            return await client.update("Patient", "p1", patient(version="41"), if_match="41")

    result = run(go())
    assert (result.status, result.id, result.version_id, result.resource) == (200, "p1", "42", None)


def test_arguments_that_could_never_be_valid_are_caller_bugs() -> None:
    server = FakeServer()

    async def go() -> None:
        async with server.client() as client:
            with pytest.raises(ValueError):
                await client.read("Patient", "../metadata")
            with pytest.raises(ValueError):
                await client.update("Patient", "p2", patient("p1"), if_match=None)
            with pytest.raises(ValueError):
                await client.transaction({"resourceType": "Bundle", "type": "batch"})

    run(go())
    assert server.requests == []


def test_binary_goes_as_json_base64() -> None:
    server = FakeServer()
    payload = bytes(range(256))

    def post(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["resourceType"] == "Binary" and body["contentType"] == "image/png"
        assert base64.b64decode(body["data"]) == payload
        return fhir_json(
            201,
            {**body, "id": "b1", "meta": {"versionId": "1"}},
            {"Location": f"{BASE}/Binary/b1/_history/1"},
        )

    server.route("POST", "/fhir/Binary", post)

    async def go() -> Any:
        async with server.client() as client:
            return await client.create_binary("image/png", payload)

    result = run(go())
    assert (result.status, result.id, result.version_id) == (201, "b1", "1")


# --- Bundles and paging ---------------------------------------------------------------------


def transaction(n: int) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient"},
                "request": {"method": "POST", "url": "Patient"},
            }
            for _ in range(n)
        ],
    }


def test_transaction_response_must_match_the_request() -> None:
    server = FakeServer()
    ok_entry = {
        "response": {"status": "201 Created", "location": "Patient/x/_history/1", "etag": 'W/"1"'}
    }
    server.route(
        "POST",
        "/fhir",
        fhir_json(
            200, {"resourceType": "Bundle", "type": "transaction-response", "entry": [ok_entry] * 2}
        ),
    )

    async def go() -> dict[str, Any]:
        async with server.client() as client:
            return await client.transaction(transaction(2))

    response = run(go())
    assert [entry_result(e).version_id for e in response["entry"]] == ["1", "1"]
    assert server.requests[0].headers["Content-Type"] == "application/fhir+json"

    for bad in (
        {"resourceType": "Bundle", "type": "transaction-response", "entry": [ok_entry]},
        {"resourceType": "Bundle", "type": "batch-response", "entry": [ok_entry] * 2},
        {"resourceType": "Bundle", "type": "transaction-response", "entry": [{"response": {}}] * 2},
        {"resourceType": "OperationOutcome"},
    ):
        server.schedule.append(fhir_json(200, bad))
        fails_with(SyncProtocolError, lambda c: c.transaction(transaction(2)), server)


def test_a_rolled_back_transaction_with_412_is_a_conflict() -> None:
    server = FakeServer()
    server.schedule.append(fhir_json(412, outcome("conflict", "Transaction rolled back")))
    fails_with(SyncConflictError, lambda c: c.transaction(transaction(1)), server)


def searchset(ids: list[str], next_url: str | None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": patient(i), "search": {"mode": "match"}} for i in ids],
        "link": [{"relation": "self", "url": "ignored"}],
    }
    if next_url is not None:
        bundle["link"].append({"relation": "next", "url": next_url})
    return bundle


def test_search_follows_relative_and_absolute_next_links() -> None:
    server = FakeServer()

    def pages(request: httpx.Request) -> httpx.Response:
        page = request.url.params.get("page", "1")
        if page == "1":
            assert request.url.params["_lastUpdated"] == "gt2024-01-01T00:00:00Z"
            return fhir_json(200, searchset(["a", "b"], "Patient?page=2"))  # relative to the base
        if page == "2":
            body = searchset(["c"], f"{BASE}/Patient?page=3")  # absolute
            body["entry"].append(
                {"resource": outcome("informational", "fyi"), "search": {"mode": "outcome"}}
            )
            return fhir_json(200, body)
        if page == "3":
            return fhir_json(200, searchset(["d"], "/fhir/Patient?page=4"))  # host-relative
        return fhir_json(200, searchset(["e"], None))

    server.route("GET", "/fhir/Patient", pages)

    async def go() -> list[str]:
        async with server.client() as client:
            params = {"_lastUpdated": "gt2024-01-01T00:00:00Z", "_sort": "_lastUpdated"}
            return [r["id"] async for r in client.search("Patient", params)]

    assert run(go()) == ["a", "b", "c", "d", "e"]
    assert len(server.requests) == 4


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.test/fhir/Patient?page=2",
        "//evil.test/fhir/Patient",
        "http://fhir.test/fhir/Patient?page=2",  # a downgrade to plain HTTP is another origin
        "https://fhir.test:8443/fhir/Patient",
        "file:///etc/passwd",
        "Patient?page=2\r\nX-Injected: 1",
    ],
)
def test_search_refuses_next_links_to_another_server(next_url: str) -> None:
    server = FakeServer()
    server.route("GET", "/fhir/Patient", fhir_json(200, searchset(["a"], next_url)))

    async def consume(client: FhirClient) -> None:
        async for _ in client.search("Patient"):
            pass

    fails_with(SyncProtocolError, consume, server)
    assert {r.url.host for r in server.requests} == {"fhir.test"}
    assert len(server.requests) == 1


def test_search_stops_when_next_links_loop() -> None:
    server = FakeServer()
    server.route("GET", "/fhir/Patient", fhir_json(200, searchset(["a"], f"{BASE}/Patient?page=2")))

    async def consume(client: FhirClient) -> None:
        async for _ in client.search("Patient"):
            pass

    fails_with(SyncProtocolError, consume, server)
    assert len(server.requests) == 2


def test_history_passes_since_and_yields_whole_entries() -> None:
    server = FakeServer()

    def history(request: httpx.Request) -> httpx.Response:
        assert request.url.params["_since"] == "2024-01-01T00:00:00Z"
        return fhir_json(
            200,
            {
                "resourceType": "Bundle",
                "type": "history",
                "entry": [
                    {"resource": patient("a"), "request": {"method": "PUT", "url": "Patient/a"}},
                    {"request": {"method": "DELETE", "url": "Patient/b"}},
                ],
            },
        )

    server.route("GET", "/fhir/_history", history)

    async def go() -> list[str]:
        async with server.client() as client:
            return [
                e["request"]["method"] async for e in client.history(since="2024-01-01T00:00:00Z")
            ]

    assert run(go()) == ["PUT", "DELETE"]


# --- capabilities ---------------------------------------------------------------------------


def statement(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "4.0.1",
        "software": {"name": "Test FHIR", "version": "9.1"},
        "rest": [
            {
                "mode": "server",
                "interaction": [
                    {"code": "transaction"},
                    {"code": "batch"},
                    {"code": "history-system"},
                ],
                "security": {
                    "service": [{"coding": [{"code": "SMART-on-FHIR"}]}],
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": "token", "valueUri": TOKEN_URL}],
                        }
                    ],
                },
                "resource": [
                    {
                        "type": "DocumentReference",
                        "conditionalCreate": True,
                        "versioning": "versioned-update",
                        "interaction": [{"code": "read"}, {"code": "history-type"}],
                        "searchParam": [{"name": "identifier", "type": "token"}],
                    },
                    {"type": "Patient", "conditionalCreate": False},
                ],
            }
        ],
    }
    base.update(overrides)
    return base


def test_capabilities_are_parsed() -> None:
    caps = parse_capabilities(statement())
    assert caps.is_r4 and caps.fhir_version == "4.0.1"
    assert (caps.software_name, caps.software_version) == ("Test FHIR", "9.1")
    assert caps.transaction and caps.batch and caps.history_system
    assert caps.supports_conditional_create("DocumentReference")
    assert not caps.supports_conditional_create("Patient")
    assert not caps.supports_conditional_create("Media")
    assert caps.conditional_create["Observation"] is False
    assert caps.supports_history_since("DocumentReference") and not caps.supports_history_since(
        "Patient"
    )
    doc = caps.resource("DocumentReference")
    assert doc is not None and doc.version_aware_updates and "identifier" in doc.search_params
    assert caps.smart is not None and caps.smart.token_url == TOKEN_URL
    assert "SMART-on-FHIR" in caps.security_services
    with pytest.raises(AttributeError):
        caps.transaction = False  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"resourceType": "Patient"},
        statement(fhirVersion=4),
        statement(fhirVersion="four"),
        statement(rest={"mode": "server"}),
        statement(rest=[{"mode": "server", "resource": [{"type": 3}]}]),
        statement(
            rest=[{"mode": "server", "resource": [{"type": "Patient", "conditionalCreate": "yes"}]}]
        ),
        statement(rest=[{"mode": "server", "interaction": "transaction"}]),
        statement(software="x"),
    ],
)
def test_malformed_capabilities_are_protocol_errors(bad: Any) -> None:
    with pytest.raises(SyncProtocolError):
        parse_capabilities(bad)


def test_capabilities_over_the_wire_without_credentials_first() -> None:
    server = FakeServer()
    server.route("GET", "/fhir/metadata", fhir_json(200, statement()))

    async def go() -> Any:
        async with server.client(auth=BasicAuth("u", PASSWORD)) as client:
            return await client.capabilities()

    assert run(go()).transaction
    assert "Authorization" not in server.requests[0].headers


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["", "ftp://x/fhir", "fhir.example.org", "https://x/fhir?x=1", "http://"]
)
def test_unusable_base_urls_are_config_errors(url: str) -> None:
    with pytest.raises(SyncConfigError):
        FhirClient(url)


def test_ca_file_problems_are_config_errors(tmp_path: Any) -> None:
    with pytest.raises(SyncConfigError, match="does not exist"):
        FhirClient(BASE, ca_file=tmp_path / "missing.pem")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(SyncConfigError, match="not a readable PEM"):
        FhirClient(BASE, ca_file=bad)


# --- auth -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TokenServer:
    """A SMART token endpoint plus a FHIR resource that checks the bearer token."""

    def __init__(self, server: FakeServer, lifetime_s: float = 300, public_key: Any = None) -> None:
        self.server = server
        self.lifetime_s = lifetime_s
        self.public_key = public_key
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.assertions: list[dict[str, Any]] = []
        server.route(
            "GET",
            "/fhir/.well-known/smart-configuration",
            fhir_json(
                200, {"token_endpoint": TOKEN_URL, "grant_types_supported": ["client_credentials"]}
            ),
        )
        server.host_routes[("auth.test", "POST", "/token")] = self.token
        server.route("GET", "/fhir/Patient/p1", self.resource)

    def token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        assert form["grant_type"] == "client_credentials"
        if "client_assertion" in form:
            assert form["client_assertion_type"] == auth_mod.ASSERTION_TYPE
            header = jwt.get_unverified_header(form["client_assertion"])
            claims = jwt.decode(
                form["client_assertion"],
                self.public_key,
                algorithms=["RS384", "ES384"],
                audience=TOKEN_URL,
            )
            self.assertions.append({"header": header, "claims": claims})
        else:
            scheme, _, value = request.headers["Authorization"].partition(" ")
            assert scheme == "Basic"
            if base64.b64decode(value).decode() != f"console:{CLIENT_SECRET}":
                return httpx.Response(
                    401,
                    json={"error": "invalid_client", "error_description": f"bad {CLIENT_SECRET}"},
                )
        token = f"{ACCESS_TOKEN_PREFIX}{len(self.issued)}"
        self.issued.append(token)
        self.valid.add(token)
        return httpx.Response(
            200,
            json={
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.lifetime_s,
                "scope": form.get("scope", ""),
            },
        )

    def resource(self, request: httpx.Request) -> httpx.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.valid:
            return fhir_json(401, outcome("login", "Access token expired"))
        return fhir_json(200, patient())


def test_private_key_jwt_assertion_follows_smart_backend_services(rsa_pem: str) -> None:
    server = FakeServer()
    key = serialization.load_pem_private_key(rsa_pem.encode(), password=None)
    tokens = TokenServer(server, public_key=key.public_key())
    auth = SmartBackendAuth("console", private_key_pem=rsa_pem, scope="system/Patient.read")

    async def go() -> None:
        async with server.client(auth=auth) as client:
            await client.read("Patient", "p1")
            await client.read("Patient", "p1")

    run(go())
    assert auth.token_requests == 1  # cached
    (sent,) = tokens.assertions
    assert sent["header"]["alg"] == "RS384" and sent["header"]["kid"] == public_jwk(rsa_pem)["kid"]
    claims = sent["claims"]
    assert claims["iss"] == claims["sub"] == "console" and claims["aud"] == TOKEN_URL
    assert 0 < claims["exp"] - time.time() <= 300 and len(claims["jti"]) >= 16
    assert parse_qs(server.requests[1].content.decode())["scope"] == ["system/Patient.read"]


def test_es384_keys_sign_with_es384() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    server = FakeServer()
    tokens = TokenServer(server, public_key=key.public_key())

    async def go() -> None:
        async with server.client(auth=SmartBackendAuth("console", private_key_pem=pem)) as client:
            await client.read("Patient", "p1")

    run(go())
    assert tokens.assertions[0]["header"]["alg"] == "ES384"
    assert public_jwk(pem)["crv"] == "P-384"


def test_client_secret_basic_and_a_wrong_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = FakeServer()
    TokenServer(server)

    async def go(secret: str) -> None:
        async with server.client(auth=SmartBackendAuth("console", client_secret=secret)) as client:
            await client.read("Patient", "p1")

    run(go(CLIENT_SECRET))
    with pytest.raises(SyncAuthError) as info:
        run(go("wrong-" + PASSWORD))
    assert "invalid_client" in str(info.value) and info.value.status == 401
    assert_clean(info.value)
    assert_logs_clean(caplog)


def test_token_is_refreshed_before_it_expires(rsa_pem: str) -> None:
    clock = FakeClock()
    server = FakeServer()
    key = serialization.load_pem_private_key(rsa_pem.encode(), password=None)
    TokenServer(server, lifetime_s=300, public_key=key.public_key())
    auth = SmartBackendAuth("console", private_key_pem=rsa_pem, clock=clock)

    async def go() -> None:
        async with server.client(auth=auth) as client:
            await client.read("Patient", "p1")
            clock.now += 200  # 100 s left: still fine
            await client.read("Patient", "p1")
            assert auth.token_requests == 1
            clock.now += 45  # 55 s left: inside the margin
            await client.read("Patient", "p1")
            assert auth.token_requests == 2

    run(go())


def test_a_401_refreshes_the_token_once_then_gives_up(
    rsa_pem: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = FakeServer()
    key = serialization.load_pem_private_key(rsa_pem.encode(), password=None)
    tokens = TokenServer(server, public_key=key.public_key())
    auth = SmartBackendAuth("console", private_key_pem=rsa_pem)

    async def go() -> None:
        async with server.client(auth=auth) as client:
            await client.read("Patient", "p1")
            tokens.valid.clear()  # revoked early, server side
            await client.read("Patient", "p1")  # 401, new token, retried: fine
            assert auth.token_requests == 2
            # Now every token is refused: one refresh, then SyncAuthError.
            server.route("GET", "/fhir/Patient/p1", fhir_json(401, outcome("login", "nope")))
            with pytest.raises(SyncAuthError) as info:
                await client.read("Patient", "p1")
            assert auth.token_requests == 3
            assert_clean(info.value)

    run(go())
    assert_logs_clean(caplog)


def test_basic_auth_401_is_final(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = FakeServer()
    server.route(
        "GET", "/fhir/Patient/p1", fhir_json(401, outcome("login", "Invalid Basic credentials"))
    )
    exc = fails_with(SyncAuthError, read_p1, server, auth=BasicAuth("console-01", PASSWORD))
    assert exc.status == 401
    assert len(server.requests) == 1
    assert (
        base64.b64decode(server.requests[0].headers["Authorization"][6:]).decode()
        == f"console-01:{PASSWORD}"
    )
    assert PASSWORD not in repr(BasicAuth("console-01", PASSWORD))
    assert_logs_clean(caplog)


def test_403_is_an_auth_error() -> None:
    server = FakeServer()
    server.schedule.append(fhir_json(403, outcome("forbidden", "scope")))
    fails_with(SyncAuthError, read_p1, server)


def always(reply: httpx.Response | Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(reply, Exception):
            raise reply
        return reply

    return handler


def test_token_endpoint_failures(rsa_pem: str) -> None:
    cases: list[tuple[httpx.Response | Exception, type[SyncError]]] = [
        (httpx.Response(400, json={"error": "invalid_scope"}), SyncAuthError),
        (httpx.Response(503, headers={"Retry-After": "4"}), SyncRetryableError),
        (httpx.Response(200, content=b"{not json"), SyncProtocolError),
        (httpx.Response(200, json={"access_token": 5, "token_type": "bearer"}), SyncProtocolError),
        (
            httpx.Response(200, json={"access_token": "a\r\nb", "token_type": "bearer"}),
            SyncProtocolError,
        ),
        (httpx.Response(200, json={"access_token": "abc", "token_type": "mac"}), SyncProtocolError),
        (
            httpx.Response(
                200, json={"access_token": "abc", "token_type": "bearer", "expires_in": -1}
            ),
            SyncProtocolError,
        ),
        (httpx.ConnectTimeout("slow"), SyncRetryableError),
    ]
    for reply, kind in cases:
        server = FakeServer()
        TokenServer(server)
        server.host_routes[("auth.test", "POST", "/token")] = always(reply)
        exc = fails_with(
            kind, read_p1, server, auth=SmartBackendAuth("console", client_secret=CLIENT_SECRET)
        )
        if isinstance(exc, SyncRetryableError) and exc.status == 503:
            assert exc.retry_after_s == 4.0


def test_token_endpoint_discovery_falls_back_to_the_capability_statement() -> None:
    server = FakeServer()
    TokenServer(server)
    server.routes.pop(("GET", "/fhir/.well-known/smart-configuration"))
    server.route("GET", "/fhir/metadata", fhir_json(200, statement()))

    async def go() -> None:
        async with server.client(
            auth=SmartBackendAuth("console", client_secret=CLIENT_SECRET)
        ) as client:
            await client.read("Patient", "p1")

    run(go())
    server.route("GET", "/fhir/metadata", fhir_json(200, statement(rest=[])))
    fails_with(
        SyncAuthError,
        read_p1,
        server,
        auth=SmartBackendAuth("console", client_secret=CLIENT_SECRET),
    )


def test_a_plain_http_token_endpoint_elsewhere_is_refused() -> None:
    server = FakeServer()
    TokenServer(server)
    server.route(
        "GET",
        "/fhir/.well-known/smart-configuration",
        fhir_json(200, {"token_endpoint": "http://auth.test/token"}),
    )
    fails_with(
        SyncProtocolError,
        read_p1,
        server,
        auth=SmartBackendAuth("console", client_secret=CLIENT_SECRET),
    )
    assert all(r.url.host == "fhir.test" for r in server.requests)


def test_concurrent_requests_share_one_token_fetch() -> None:
    server = FakeServer()
    TokenServer(server)
    auth = SmartBackendAuth("console", client_secret=CLIENT_SECRET)

    async def go() -> None:
        async with server.client(auth=auth) as client:
            await asyncio.gather(*(client.read("Patient", "p1") for _ in range(10)))

    run(go())
    assert auth.token_requests == 1


def test_private_keys_that_cannot_sign_are_auth_errors() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_pem = weak.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for pem in (weak_pem, p256, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"):
        with pytest.raises(SyncAuthError) as info:
            SmartBackendAuth("console", private_key_pem=pem)
        assert "AAAA" not in str(info.value)


def test_a_pem_flattened_onto_one_line_still_loads(rsa_pem: str) -> None:
    flat = " ".join(rsa_pem.split())
    assert "\n" not in flat
    assert public_jwk(flat) == public_jwk(rsa_pem)


def test_auth_from_settings(rsa_pem: str) -> None:
    def secrets(value: str | None) -> Callable[[str], str | None]:
        def get(name: str) -> str | None:
            assert name == "record_store"
            return value

        return get

    assert isinstance(auth_from_settings(RecordStoreSettings(), secrets(None)), NoAuth)
    basic = auth_from_settings(RecordStoreSettings(auth="basic", username="u1"), secrets(PASSWORD))
    assert isinstance(basic, BasicAuth) and PASSWORD not in repr(basic)
    jwt_auth = auth_from_settings(
        RecordStoreSettings(auth="smart-backend", username="c1"), secrets(rsa_pem)
    )
    assert isinstance(jwt_auth, SmartBackendAuth) and jwt_auth.method == "private_key_jwt"
    secret_auth = auth_from_settings(
        RecordStoreSettings(auth="smart-backend", username="c1"), secrets(CLIENT_SECRET)
    )
    assert isinstance(secret_auth, SmartBackendAuth) and secret_auth.method == "client_secret_basic"
    assert CLIENT_SECRET not in repr(secret_auth)

    modes: tuple[Literal["basic", "smart-backend"], ...] = ("basic", "smart-backend")
    for mode in modes:
        with pytest.raises(SyncSecretMissingError) as info:
            auth_from_settings(RecordStoreSettings(auth=mode, username="u1"), secrets(None))
        assert isinstance(info.value, SyncAuthError)
        assert "clinician-console secret set record_store" in str(info.value)
        with pytest.raises(SyncConfigError):
            auth_from_settings(RecordStoreSettings(auth=mode, username=""), secrets(PASSWORD))


def assert_logs_clean(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        text = record.getMessage() + (
            logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        )
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} logged by {record.name}"


# --- fuzzing --------------------------------------------------------------------------------

_KEYS = st.sampled_from(
    [
        "resourceType",
        "type",
        "id",
        "entry",
        "link",
        "relation",
        "url",
        "resource",
        "response",
        "status",
        "search",
        "mode",
        "meta",
        "versionId",
        "issue",
        "code",
        "severity",
        "diagnostics",
        "fhirVersion",
        "rest",
        "interaction",
        "location",
        "etag",
        "token_endpoint",
        "x",
    ]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.sampled_from(
        [
            "Bundle",
            "searchset",
            "transaction-response",
            "Patient",
            "next",
            "201 Created",
            "CapabilityStatement",
            "4.0.1",
            "server",
            "OperationOutcome",
            "p1",
            "",
            f"{BASE}/Patient?p=2",
            "//evil.test/x",
            "http://auth.test/token",
            TOKEN_URL,
            CANARY,
            f"'{CANARY}'",
            "?p=3",
            'W/"1"',
        ]
    )
    | st.text(max_size=20)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=6),
    max_leaves=30,
)
_BODIES = _JSON.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200)
_HEADERS = st.dictionaries(
    st.sampled_from(["ETag", "Location", "Retry-After", "Content-Type", "Content-Length"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    max_size=3,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.sampled_from(
        [200, 201, 204, 301, 400, 401, 404, 409, 412, 422, 429, 500, 503, 599, 600, 99]
    )
    | st.integers(100, 999),
    body=_BODIES,
    headers=_HEADERS,
    method=st.sampled_from(
        ["capabilities", "read", "search", "transaction", "update", "binary", "history"]
    ),
)
def test_fuzzed_responses_raise_only_sync_errors(
    status: int, body: bytes, headers: dict[str, str], method: str
) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    transport = httpx.MockTransport(respond)

    async def go() -> None:
        async with FhirClient(BASE, transport=transport, deadline=5) as client:
            if method == "capabilities":
                await client.capabilities()
            elif method == "read":
                await client.read("Patient", "p1")
            elif method == "search":
                async for _ in client.search("Patient", {"_count": "2"}):
                    pass
            elif method == "history":
                async for _ in client.history("Patient"):
                    pass
            elif method == "transaction":
                await client.transaction(transaction(1))
            elif method == "update":
                await client.update("Patient", "p1", patient(), if_match="1")
            else:
                await client.create_binary("text/plain", b"hi")

    try:
        run(go())
    except SyncError as exc:
        assert str(exc)
        assert_clean(exc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    discovery_status=st.sampled_from([200, 404, 500]),
    discovery=_BODIES,
    token_status=st.sampled_from([200, 400, 401, 429, 503]),
    token=_JSON.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries(
        {"access_token": _SCALARS, "token_type": _SCALARS},
        optional={"expires_in": _SCALARS, "scope": _SCALARS, "error": _SCALARS},
    ).map(lambda v: json.dumps(v).encode()),
)
def test_fuzzed_auth_endpoints_raise_only_sync_errors(
    discovery_status: int, discovery: bytes, token_status: int, token: bytes
) -> None:
    server = FakeServer()
    TokenServer(server)
    server.route(
        "GET",
        "/fhir/.well-known/smart-configuration",
        httpx.Response(discovery_status, content=discovery),
    )
    server.route("GET", "/fhir/metadata", httpx.Response(discovery_status, content=discovery))
    server.host_routes[("auth.test", "POST", "/token")] = always(
        httpx.Response(token_status, content=token)
    )
    server.route("GET", "/fhir/Patient/p1", fhir_json(200, patient()))
    auth = SmartBackendAuth("console", client_secret=CLIENT_SECRET, token_url=None)

    async def go() -> None:
        async with server.client(auth=auth) as client:
            await client.read("Patient", "p1")

    try:
        run(go())
    except SyncError as exc:
        assert_clean(exc)
    # Whatever the discovery document said, the client secret never went over plain HTTP.
    for request in server.requests:
        if request.headers.get("Authorization", "").startswith("Basic"):
            assert request.url.scheme == "https"
