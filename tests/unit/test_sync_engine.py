"""Sync against misbehaving servers: failure schedules on httpx.MockTransport.

A mock transport stands in for the server here because these responses (503,
429, truncated or hostile bodies) are ones a real server will not produce on
demand; the same paths against real SEKMET are in tests/integration/.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import SyncError, SyncProtocolError, SyncRetryableError
from app.records import Encounter, Patient, new_id, utc_now
from app.settings import RecordStoreSettings
from app.sync import SyncState
from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync import queue
from storage.sync.adapter import sync_service
from storage.sync.engine import SyncEngine
from tests.conftest import TEST_PASSPHRASE, open_test_store, run

BASE = "https://fhir.test/fhir"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    async def make() -> EncryptedStore:
        s = await open_test_store(tmp_path_factory.mktemp("sync-unit"))
        patient = await s.add_patient(Patient(new_id(), "Mock", "Server", "1990-01-01"))
        enc = await s.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        for i in range(5):
            await s.create_note(enc.id, f"Plan:\nmock {i}")
        return s

    s = run(make())
    yield s
    run(s.close())


def _client(handler: Handler) -> FhirClient:
    return FhirClient(BASE, transport=httpx.MockTransport(handler), timeout=2, deadline=5)


def _sync(store: EncryptedStore, handler: Handler) -> Any:
    async def go() -> Any:
        async with _client(handler) as client:
            return await SyncEngine(store).sync_once(client)

    return run(go())


def _waiting(store: EncryptedStore) -> int:
    return int(run(store.transact(queue.waiting))["waiting"])


def _bundle_reply(request: httpx.Request) -> httpx.Response:
    bundle = json.loads(request.content)
    return httpx.Response(
        200,
        json={
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [
                {
                    "response": {
                        "status": "201 Created",
                        "location": f"{e['request']['url']}/{i}/_history/1",
                    }
                }
                for i, e in enumerate(bundle["entry"])
            ],
        },
    )


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (lambda r: httpx.Response(503, text="down for maintenance"), SyncRetryableError),
        (lambda r: httpx.Response(502), SyncRetryableError),
        (
            lambda r: httpx.Response(200, content=b'{"resourceType": "Bundle", "entry": [{'),
            SyncProtocolError,
        ),
        (lambda r: httpx.Response(200, json={"resourceType": "Patient"}), SyncProtocolError),
        (
            lambda r: httpx.Response(
                200, json={"resourceType": "Bundle", "type": "transaction-response", "entry": []}
            ),
            SyncProtocolError,
        ),
        (lambda r: httpx.Response(200, content=b"<html>proxy login</html>"), SyncProtocolError),
    ],
    ids=["503", "502", "truncated-json", "wrong-resource-type", "entry-count", "html"],
)
def test_bad_answers_lose_nothing(
    store: EncryptedStore, reply: Handler, error: type[SyncError]
) -> None:
    before = _waiting(store)
    with pytest.raises(error):
        _sync(store, reply)
    assert _waiting(store) == before


def test_timeout_is_retryable(store: EncryptedStore) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("the server took too long", request=request)

    before = _waiting(store)
    with pytest.raises(SyncRetryableError):
        _sync(store, slow)
    assert _waiting(store) == before


def test_429_retry_after_is_honoured_by_the_service(store: EncryptedStore) -> None:
    def busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "120"})

    @contextlib.asynccontextmanager
    async def factory(_settings: RecordStoreSettings) -> AsyncIterator[FhirClient]:
        async with _client(busy) as client:
            yield client

    service = sync_service(store, RecordStoreSettings(url=BASE), client_factory=factory)
    seen: list[Any] = []
    service.status_did_change.connect(seen.append)
    outcome = run(service.sync_now())
    assert outcome.status.next_attempt_s is not None and outcome.status.next_attempt_s >= 120
    assert service.status.state is SyncState.OFFLINE
    assert service.status.waiting == _waiting(store) > 0
    assert [s.state for s in seen][:1] == [SyncState.SYNCING]


def test_backoff_grows_with_jitter_and_resets(store: EncryptedStore) -> None:
    service = sync_service(store, RecordStoreSettings(url=BASE), backoff_base_s=1, backoff_max_s=60)
    service._failures = 10
    assert all(0 <= service.backoff_s() <= 60 for _ in range(50))
    assert len({round(service.backoff_s(), 3) for _ in range(20)}) > 1  # jittered
    service.request_sync()
    assert service._failures == 0


def test_a_good_server_drains_the_queue_and_logs_no_content(
    store: EncryptedStore, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # the pull: nothing changed elsewhere
            return httpx.Response(
                200, json={"resourceType": "Bundle", "type": "searchset", "entry": []}
            )
        return _bundle_reply(request)

    caplog.set_level(logging.DEBUG)
    report = _sync(store, handler)
    assert report.failed == 0 and _waiting(store) == 0
    assert "mock 3" not in caplog.text and "Mock" not in caplog.text


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=2000),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda c: (
                st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4)
            ),
            max_leaves=30,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    status=st.sampled_from([200, 201, 400, 404, 409, 412, 422, 500]),
)
def test_fuzzed_responses_never_crash_or_lose_data(
    tmp_path_factory: pytest.TempPathFactory, body: bytes, status: int
) -> None:
    store = _FUZZ_STORE.get("store") or _FUZZ_STORE.setdefault(
        "store", _fuzz_store(tmp_path_factory)
    )
    # Forget earlier examples' "refused" marks so every example really sends.
    run(store.transact(lambda conn: conn.execute("UPDATE outbox SET failed_revision = 0")))
    before = _waiting(store)
    with contextlib.suppress(SyncError):
        _sync(store, lambda r: httpx.Response(status, content=body))
    # Either the server accepted (impossible with junk) or nothing left the queue.
    assert _waiting(store) == before


_FUZZ_STORE: dict[str, EncryptedStore] = {}


def _fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> EncryptedStore:
    async def make() -> EncryptedStore:
        s = await open_test_store(tmp_path_factory.mktemp("sync-fuzz"))
        patient = await s.add_patient(Patient(new_id(), "Fuzz", "Server", "1990-01-01"))
        await s.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        return s

    return run(make())


@pytest.fixture(scope="module", autouse=True)
def _close_fuzz_store() -> Any:
    yield
    if "store" in _FUZZ_STORE:
        run(_FUZZ_STORE.pop("store").close())
    asyncio.set_event_loop(None)


def test_a_locked_store_does_not_end_background_sync(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    async def scenario() -> None:
        s = await open_test_store(tmp_path_factory.mktemp("sync-locked"))
        attempts = asyncio.Event()

        @contextlib.asynccontextmanager
        async def factory(_settings: RecordStoreSettings) -> AsyncIterator[FhirClient]:
            attempts.set()
            async with _client(lambda r: httpx.Response(503)) as client:
                yield client

        service = sync_service(
            s,
            RecordStoreSettings(url=BASE),
            client_factory=factory,
            backoff_base_s=0.01,
            backoff_max_s=0.02,
        )
        await s.lock()
        await service.start()
        # Locked: every attempt fails inside the store; the loop must survive them.
        states: list[SyncState] = []
        service.status_did_change.connect(lambda st: states.append(st.state))
        await s.unlock(TEST_PASSPHRASE)
        await asyncio.wait_for(attempts.wait(), timeout=10)
        assert service.running
        await service.stop()
        assert not service.running
        await s.close()

    run(scenario())


def test_engine_and_mapping_agree_on_the_identifier_system() -> None:
    from storage.fhir import mapping
    from storage.sync import engine

    assert engine.IDENTIFIER_SYSTEM == mapping.IDENTIFIER_SYSTEM
    resource = {
        "identifier": [{"system": mapping.IDENTIFIER_SYSTEM, "value": "urn:uuid:NOT-A-UUID"}]
    }
    assert engine.local_uuid_of(resource) is None
