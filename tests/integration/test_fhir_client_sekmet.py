"""The FHIR client against a real SEKMET server: no mocks (DESIGN.md §4-5).

Covers what sync relies on: the CapabilityStatement, idempotent conditional
create in transactions, If-Match updates and their conflicts, paging, and each
auth mode (Basic, SMART private_key_jwt and client_secret_basic, token expiry
and revocation), plus TLS with a self-signed certificate.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.errors import SyncAuthError, SyncConflictError, SyncRetryableError, SyncTlsError
from app.settings import RecordStoreSettings
from storage.fhir.auth import BasicAuth, SmartBackendAuth, auth_from_settings
from storage.fhir.client import FhirClient, entry_result
from storage.fhir.mapping import IDENTIFIER_SYSTEM
from tests.integration.conftest import (
    BASIC_PASSWORD,
    BASIC_USER,
    SMART_TOKEN_LIFETIME_S,
    SekmetFactory,
    SmartSekmet,
    smart_server_auth,
)
from tests.integration.sekmet import SekmetServer, make_rsa_client, make_self_signed_cert

pytestmark = pytest.mark.integration

CANARY = "Zebediah"


class RecordingTransport(httpx.AsyncBaseTransport):
    """The real network transport, noting (method, path, status) of every exchange."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.seen: list[tuple[str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.seen.append((request.method, request.url.path, response.status_code))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def note_bundle(local_id: str, text: str = "progress note") -> dict[str, Any]:
    """A transaction with one conditional create, as sync sends them (DESIGN.md §4)."""
    identifier = f"urn:uuid:{local_id}"
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": identifier,
                "resource": {
                    "resourceType": "DocumentReference",
                    "identifier": [{"system": IDENTIFIER_SYSTEM, "value": identifier}],
                    "status": "current",
                    "docStatus": "preliminary",
                    "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
                    "content": [
                        {
                            "attachment": {
                                "contentType": "text/plain; charset=utf-8",
                                "data": "cHJvZ3Jlc3Mgbm90ZQ==",
                                "title": text,
                            }
                        }
                    ],
                },
                "request": {
                    "method": "POST",
                    "url": "DocumentReference",
                    "ifNoneExist": f"identifier={IDENTIFIER_SYSTEM}|{identifier}",
                },
            }
        ],
    }


async def by_identifier(client: FhirClient, local_id: str) -> list[dict[str, Any]]:
    query = {"identifier": f"{IDENTIFIER_SYSTEM}|urn:uuid:{local_id}"}
    return [r async for r in client.search("DocumentReference", query)]


def test_capabilities(sekmet: SekmetServer) -> None:
    async def go() -> None:
        async with FhirClient(sekmet.base_url) as client:
            caps = await client.capabilities()
        assert caps.is_r4 and caps.fhir_version == "4.0.1"
        assert caps.software_name and caps.transaction and caps.batch
        for rtype in ("Patient", "Encounter", "DocumentReference", "Media", "Observation"):
            assert caps.supports_conditional_create(rtype), rtype
        assert caps.history_system and caps.supports_history_since("DocumentReference")
        doc = caps.resource("DocumentReference")
        assert doc is not None and doc.version_aware_updates and "identifier" in doc.search_params
        assert caps.smart is None

    run(go())


def test_conditional_create_in_a_transaction_is_idempotent(sekmet: SekmetServer) -> None:
    local_id = str(uuid.uuid4())

    async def go() -> None:
        async with FhirClient(sekmet.base_url) as client:
            first = entry_result((await client.transaction(note_bundle(local_id)))["entry"][0])
            # The retry after a crash between send and acknowledgement:
            again = entry_result((await client.transaction(note_bundle(local_id)))["entry"][0])
            assert first.status == 201 and again.status == 200
            assert first.id is not None and again.id == first.id
            assert first.version_id == again.version_id
            found = await by_identifier(client, local_id)
            assert [r["id"] for r in found] == [first.id]

    run(go())


def test_if_match_update_and_a_stale_update_conflicts(sekmet: SekmetServer) -> None:
    local_id = str(uuid.uuid4())

    async def go() -> None:
        async with FhirClient(sekmet.base_url) as client:
            created = entry_result((await client.transaction(note_bundle(local_id)))["entry"][0])
            assert created.id and created.version_id
            current = await client.read("DocumentReference", created.id)
            seen = current["meta"]["versionId"]
            current["docStatus"] = "final"
            updated = await client.update("DocumentReference", created.id, current, if_match=seen)
            assert updated.status == 200 and updated.version_id not in (None, seen)
            # Another console still holds the old version: its update must not win.
            with pytest.raises(SyncConflictError) as info:
                await client.update("DocumentReference", created.id, current, if_match=seen)
            assert info.value.status in (409, 412) and info.value.diagnostics
            fresh = await client.read("DocumentReference", created.id)
            assert fresh["meta"]["versionId"] == updated.version_id

            # Inside a transaction, a stale If-Match rolls everything back.
            stale = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "resource": fresh,
                        "request": {
                            "method": "PUT",
                            "url": f"DocumentReference/{created.id}",
                            "ifMatch": f'W/"{seen}"',
                        },
                    },
                    *note_bundle(str(uuid.uuid4()))["entry"],
                ],
            }
            with pytest.raises(SyncConflictError):
                await client.transaction(stale)
            rolled_back = stale["entry"][1]["resource"]["identifier"][0]["value"]
            assert await by_identifier(client, rolled_back.removeprefix("urn:uuid:")) == []

    run(go())


def test_search_pages_through_next_links(sekmet: SekmetServer) -> None:
    marker = f"paging-{uuid.uuid4()}"

    transport = RecordingTransport()

    async def go() -> None:
        async with FhirClient(sekmet.base_url, transport=transport) as client:
            bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction", "entry": []}
            for i in range(7):
                entry = note_bundle(str(uuid.uuid4()))["entry"][0]
                entry["resource"]["description"] = f"{marker} {i}"
                entry["resource"]["identifier"].append(
                    {"system": "urn:test:paging", "value": marker}
                )
                bundle["entry"].append(entry)
            await client.transaction(bundle)
            pages_before = len(transport.seen)
            found = [
                r
                async for r in client.search(
                    "DocumentReference",
                    [
                        ("identifier", f"urn:test:paging|{marker}"),
                        ("_count", "2"),
                        ("_sort", "_lastUpdated"),
                    ],
                )
            ]
            assert len(found) == 7 and len({r["id"] for r in found}) == 7
            assert len(transport.seen) - pages_before == 4  # 2 + 2 + 2 + 1
            since = min(r["meta"]["lastUpdated"] for r in found)
            later = [
                r
                async for r in client.search(
                    "DocumentReference",
                    {
                        "_lastUpdated": f"gt{since}",
                        "identifier": f"urn:test:paging|{marker}",
                        "_count": "3",
                    },
                )
            ]
            assert 0 < len(later) <= 7

    run(go())


def test_basic_auth_right_and_wrong_password(
    sekmet_basic: SekmetServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    local_id = str(uuid.uuid4())

    async def go() -> None:
        settings = RecordStoreSettings(url=sekmet_basic.base_url, auth="basic", username=BASIC_USER)
        auth = auth_from_settings(settings, lambda name: BASIC_PASSWORD)
        async with FhirClient(settings.url, auth=auth) as client:
            await client.transaction(note_bundle(local_id))
            assert len(await by_identifier(client, local_id)) == 1
        wrong = BasicAuth(BASIC_USER, f"{CANARY}-wrong")
        async with FhirClient(sekmet_basic.base_url, auth=wrong) as client:
            with pytest.raises(SyncAuthError) as info:
                await by_identifier(client, local_id)
            assert info.value.status == 401
            assert CANARY not in str(info.value)
        async with FhirClient(sekmet_basic.base_url) as client:
            with pytest.raises(SyncAuthError):
                await by_identifier(client, local_id)

    run(go())
    assert BASIC_PASSWORD not in caplog.text and CANARY not in caplog.text


def test_smart_private_key_jwt_token_fetch_and_use(
    sekmet_smart: SmartSekmet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = SmartBackendAuth(
        sekmet_smart.jwt_client.client_id, private_key_pem=sekmet_smart.jwt_client.private_key_pem
    )

    async def go() -> None:
        async with FhirClient(sekmet_smart.base_url, auth=auth) as client:
            caps = await client.capabilities()
            assert caps.smart is not None and caps.smart.token_url == sekmet_smart.server.token_url
            local_id = str(uuid.uuid4())
            await client.transaction(note_bundle(local_id))
            assert len(await by_identifier(client, local_id)) == 1
        assert auth.token_requests >= 1

    run(go())
    assert "Bearer" not in caplog.text and "eyJ" not in caplog.text  # no token, no JWT


def test_smart_client_secret_basic(sekmet_smart: SmartSekmet) -> None:
    settings = RecordStoreSettings(
        url=sekmet_smart.base_url, auth="smart-backend", username=sekmet_smart.secret_client_id
    )
    auth = auth_from_settings(settings, lambda name: sekmet_smart.client_secret)
    assert isinstance(auth, SmartBackendAuth) and auth.method == "client_secret_basic"

    async def go() -> None:
        async with FhirClient(settings.url, auth=auth) as client:
            await by_identifier(client, str(uuid.uuid4()))
        wrong = SmartBackendAuth(
            sekmet_smart.secret_client_id, client_secret="not-" + sekmet_smart.client_secret
        )
        async with FhirClient(settings.url, auth=wrong) as client:
            with pytest.raises(SyncAuthError) as info:
                await by_identifier(client, str(uuid.uuid4()))
            assert "invalid_client" in str(info.value)
            assert sekmet_smart.client_secret not in str(info.value)

    run(go())


class ManualClock:
    """A monotonic clock the test moves: the token looks fresh to the client however old it is."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_smart_token_expiry_refreshes_before_and_after_a_401(sekmet_smart: SmartSekmet) -> None:
    clock = ManualClock()
    keys = sekmet_smart.jwt_client
    auth = SmartBackendAuth(keys.client_id, private_key_pem=keys.private_key_pem, clock=clock)
    transport = RecordingTransport()

    def statuses() -> list[int]:
        return [status for _, path, status in transport.seen if path.startswith("/fhir/Doc")]

    async def go() -> None:
        async with FhirClient(sekmet_smart.base_url, auth=auth, transport=transport) as client:
            await by_identifier(client, str(uuid.uuid4()))
            assert auth.token_requests == 1
            # 1. Refresh before expiry: past the refresh point on the client's
            #    clock (half of the 2 s lifetime), the next request fetches a
            #    new token and is never refused.
            clock.now += 1.5
            await by_identifier(client, str(uuid.uuid4()))
            assert auth.token_requests == 2 and 401 not in statuses()

            # 2. The server's clock ends the token while the client's (frozen)
            #    one says it is fresh: a 401, one refresh, the request retried.
            #    The server stamps exp = its whole-second now + lifetime; poll
            #    the real clock until that has certainly passed.
            issued_by = time.time()
            await by_identifier(client, str(uuid.uuid4()))  # still the same token
            assert auth.token_requests == 2
            deadline = int(issued_by) + SMART_TOKEN_LIFETIME_S + 0.05
            while time.time() <= deadline:
                await asyncio.sleep(0.05)
            await by_identifier(client, str(uuid.uuid4()))
            assert auth.token_requests == 3
            assert statuses()[-2:] == [401, 200]

            # 3. Asking the auth object to treat its token as expired does the same.
            auth.invalidate()
            await by_identifier(client, str(uuid.uuid4()))
            assert auth.token_requests == 4

    run(go())


def test_smart_revoked_and_unknown_clients(sekmet_factory: SekmetFactory, tmp_path: Path) -> None:
    kept = make_rsa_client("kept-client")
    revoked = make_rsa_client("revoked-client")
    server_auth = smart_server_auth(kept, "secret-client", "s3cret", 300)
    server_auth["smart_clients"].append(
        {
            "client_id": revoked.client_id,
            "jwks": {"keys": [revoked.public_jwk]},
            "scopes": "system/*.*",
        }
    )
    server = sekmet_factory("smart-revoke", {"server_auth": server_auth})
    auth = SmartBackendAuth(revoked.client_id, private_key_pem=revoked.private_key_pem)
    unknown = make_rsa_client("nobody")

    async def go() -> None:
        async with FhirClient(server.base_url, auth=auth) as client:
            await by_identifier(client, str(uuid.uuid4()))
        # IT removes the client from the authorization server.
        server.stop()
        server_auth["smart_clients"] = [
            c for c in server_auth["smart_clients"] if c["client_id"] != revoked.client_id
        ]
        server.config["server_auth"] = server_auth
        server.start()
        auth.invalidate()  # the next token request is where revocation shows
        async with FhirClient(server.base_url, auth=auth) as client:
            with pytest.raises(SyncAuthError) as info:
                await by_identifier(client, str(uuid.uuid4()))
            assert "invalid_client" in str(info.value)
        stranger = SmartBackendAuth(unknown.client_id, private_key_pem=unknown.private_key_pem)
        async with FhirClient(server.base_url, auth=stranger) as client:
            with pytest.raises(SyncAuthError):
                await by_identifier(client, str(uuid.uuid4()))
        # A key the server does not know for a known client is refused the same way.
        impostor = SmartBackendAuth(kept.client_id, private_key_pem=unknown.private_key_pem)
        async with FhirClient(server.base_url, auth=impostor) as client:
            with pytest.raises(SyncAuthError):
                await by_identifier(client, str(uuid.uuid4()))

    run(go())


def test_self_signed_tls_needs_ca_file(sekmet_factory: SekmetFactory, tmp_path: Path) -> None:
    cert, key = make_self_signed_cert(tmp_path / "tls")
    server = sekmet_factory(
        "tls", {"tls_certfile": str(cert), "tls_keyfile": str(key)}, ca_file=cert
    )
    assert server.base_url.startswith("https://")

    async def go() -> None:
        async with FhirClient(server.base_url) as client:
            with pytest.raises(SyncTlsError) as info:
                await client.capabilities()
            assert "ca_file" in str(info.value) and "[record_store]" in str(info.value)
        async with FhirClient(server.base_url, ca_file=cert) as client:
            caps = await client.capabilities()
            assert caps.transaction
            local_id = str(uuid.uuid4())
            await client.transaction(note_bundle(local_id))
            assert len(await by_identifier(client, local_id)) == 1

    run(go())


def test_a_stopped_server_is_retryable_and_comes_back_with_its_data(
    sekmet_factory: SekmetFactory,
) -> None:
    server = sekmet_factory("restart")
    local_id = str(uuid.uuid4())

    async def go() -> None:
        async with FhirClient(server.base_url, timeout=5) as client:
            await client.transaction(note_bundle(local_id))
            server.stop()
            with pytest.raises(SyncRetryableError) as info:
                await by_identifier(client, local_id)
            assert info.value.retry_after_s is None
            server.start()
            assert len(await by_identifier(client, local_id)) == 1
            server.kill()
            with pytest.raises(SyncRetryableError):
                await client.transaction(note_bundle(str(uuid.uuid4())))
            server.start()
            assert len(await by_identifier(client, local_id)) == 1

    run(go())
