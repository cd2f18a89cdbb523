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
from storage.sync.engine import SyncEngine, SyncReport
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
    if "pull" in _FUZZ_STORE:
        run(_FUZZ_STORE.pop("pull")[0].close())  # type: ignore[index]
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


# --- issue 11: a scripted server (a plain object, not HTTP) ----------------------------------
# These answers (a non-object meta, a 429 on one batch entry, a whole batch refused) are
# ones a real server will not give on demand: the real-server half is in
# tests/integration/test_sync_failures.py.


class ScriptedServer:
    """Creates get 201 with sequential ids; searches return ``self.found`` (filtered by
    ``_lastUpdated=ge...`` as instants); ``batch_reply`` decides update answers."""

    def __init__(self) -> None:
        self.next_id = 0
        self.found: list[Any] = []
        self.searches: list[dict[str, str]] = []
        self.batch_reply: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    async def transaction(self, bundle: dict[str, Any], *, prefer: str = "") -> dict[str, Any]:
        entries = []
        for e in bundle["entry"]:
            self.next_id += 1
            url = e["request"]["url"].split("/")[0]
            entries.append(
                {"response": {"status": "201", "location": f"{url}/s{self.next_id}/_history/1"}}
            )
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}

    async def batch(self, bundle: dict[str, Any], *, prefer: str = "") -> dict[str, Any]:
        assert self.batch_reply is not None
        return self.batch_reply(bundle)

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        raise AssertionError("not expected")

    def search(self, resource_type: str, params: dict[str, str]) -> Any:
        from storage.sync.engine import parse_instant

        self.searches.append({"type": resource_type, **params})
        since = parse_instant(params.get("_lastUpdated", "ge")[2:])
        ids = set(params.get("_id", "").split(","))

        async def gen() -> AsyncIterator[Any]:
            for r in self.found:
                if isinstance(r, dict) and r.get("resourceType") not in (None, resource_type):
                    continue
                if isinstance(r, dict) and isinstance(r.get("id"), str) and r["id"] not in ids:
                    continue
                meta = r.get("meta") if isinstance(r, dict) else None
                when = parse_instant(meta.get("lastUpdated")) if isinstance(meta, dict) else None
                if since is not None and when is not None and when < since:
                    continue
                yield r

        return gen()


def _doc(server_id: str, text: str, when: str, version: str = "2", **extra: Any) -> dict[str, Any]:
    import base64

    return {
        "resourceType": "DocumentReference",
        "id": server_id,
        "meta": {"versionId": version, "lastUpdated": when},
        "status": "current",
        "content": [{"attachment": {"data": base64.b64encode(text.encode()).decode()}}],
        **extra,
    }


def _synced_store(tmp_path_factory: pytest.TempPathFactory, notes: int = 2) -> Any:
    """A store whose records are on the scripted server; returns (store, server, ids, refs)."""

    async def make() -> Any:
        s = await open_test_store(tmp_path_factory.mktemp("sync-scripted"))
        patient = await s.add_patient(Patient(new_id(), "Script", "Server", "1990-01-01"))
        enc = await s.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        ids = [(await s.create_note(enc.id, f"Plan:\nscripted {i}")).id for i in range(notes)]
        server = ScriptedServer()
        await SyncEngine(s).push(server, SyncReport())
        refs = {
            "patient": await s.transact(queue.remote_ref, "patient", patient.id),
            "encounter": await s.transact(queue.remote_ref, "encounter", enc.id),
            **{n: await s.transact(queue.remote_ref, "note", n) for n in ids},
        }
        assert await s.outbox_size() == 0
        return s, server, ids, refs

    return run(make())


def test_a_malformed_resource_is_quarantined_and_the_pull_carries_on(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Old engine: a non-object meta raised AttributeError out of the loop, the
    checkpoint was never saved, and the same resource killed every later sync."""
    s, server, (first, second), refs = _synced_store(tmp_path_factory)
    subject = {"reference": f"Patient/{refs['patient'].server_id}"}
    server.found = [
        {**_doc(refs[first].server_id, "x", "2030-01-01T00:00:00Z"), "meta": "not an object"},
        _doc(
            refs[second].server_id,
            "Plan:\nfrom the server",
            "2030-01-01T00:00:01Z",
            subject=subject,
        ),
    ]

    async def go() -> Any:
        return await SyncEngine(s).sync_once(server)

    report = run(go())
    assert len(report.quarantined) == 1 and "meta" in report.quarantined[0]
    assert run(s.open_note(second)).text == "Plan:\nfrom the server"
    quarantined = run(s.transact(queue.quarantined))
    assert quarantined == [
        (f"DocumentReference/{refs[first].server_id}", "meta is missing or not an object")
    ]
    assert run(s.transact(queue.get_checkpoint, "DocumentReference")) is not None
    # Fixed on the server: applied, and no longer listed as set aside.
    server.found[0] = _doc(
        refs[first].server_id, "Plan:\nfixed", "2030-01-01T00:00:02Z", version="3", subject=subject
    )
    run(go())
    assert run(s.open_note(first)).text == "Plan:\nfixed"
    assert run(s.transact(queue.quarantined)) == []
    run(s.close())


def test_429_on_one_entry_is_retried_and_a_refused_batch_is_split(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Old engine: a 408/429 on one entry marked the record permanently failed, and a 4xx
    for the whole batch failed every record in it without finding the bad one."""
    from app.errors import SyncRejectedError

    s, server, (first, second), refs = _synced_store(tmp_path_factory)
    run(s.save_note_text(first, "Plan:\nbusy server"))
    run(s.save_note_text(second, "Plan:\nbad entry"))

    def reply(bundle: dict[str, Any]) -> dict[str, Any]:
        if len(bundle["entry"]) > 1:
            raise SyncRejectedError(status=400, issue_code="invalid")
        entry = bundle["entry"][0]
        if entry["resource"]["id"] == refs[second].server_id:
            raise SyncRejectedError(status=400, issue_code="invalid")
        return {"resourceType": "Bundle", "entry": [{"response": {"status": "429"}}]}

    server.batch_reply = reply
    report = run(SyncEngine(s).sync_once(server))
    assert report.retry == 1 and report.failed == 1
    pending = {p.item.entity_id for p in run(s.transact(queue.pending, 10))}
    assert pending == {first}, "the 429 entry is retried, the refused one waits"

    # The refused record waits for the user's Retry (sync details), audited.
    assert run(s.transact(queue.retry_failed, s.actor, "note", second))
    pending = {p.item.entity_id for p in run(s.transact(queue.pending, 10))}
    assert pending == {first, second}
    run(s.close())


def test_checkpoint_compares_instants_and_asks_with_an_overlap(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Old engine: the high-water mark was the string maximum (10:00+01:00 > 09:30Z as
    strings, yet earlier as an instant) and was asked for with no overlap window."""
    from storage.sync.engine import PULL_OVERLAP, parse_instant

    s, server, (first, _second), refs = _synced_store(tmp_path_factory)
    run(s.transact(queue.set_checkpoint, "DocumentReference", "2030-01-01T10:00:00+01:00"))
    subject = {"reference": f"Patient/{refs['patient'].server_id}"}
    server.found = [
        _doc(refs[first].server_id, "Plan:\nlater", "2030-01-01T09:30:00Z", subject=subject)
    ]
    run(SyncEngine(s).sync_once(server))
    asked = next(q for q in server.searches if q["type"] == "DocumentReference")
    asked_from = parse_instant(asked["_lastUpdated"][2:])
    saved = parse_instant("2030-01-01T09:00:00Z")
    assert asked_from is not None and saved is not None and asked_from <= saved - PULL_OVERLAP
    checkpoint = parse_instant(run(s.transact(queue.get_checkpoint, "DocumentReference")))
    assert checkpoint == parse_instant("2030-01-01T09:30:00Z")
    assert run(s.open_note(first)).text == "Plan:\nlater"
    # Asked again (overlap), the version already applied is skipped, not counted again.
    assert run(SyncEngine(s).sync_once(server)).pulled == 0
    run(s.close())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    junk=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
        max_leaves=30,
    ),
    where=st.sampled_from(["resource", "meta", "content", "subject", "id", "body"]),
)
def test_fuzzed_pulled_resources_never_crash_or_stop_the_pull(
    tmp_path_factory: pytest.TempPathFactory, junk: Any, where: str
) -> None:
    """The pull path with hostile resources (the push is idle: everything is synced)."""
    from app.errors import ConsoleError

    if "pull" not in _FUZZ_STORE:
        _FUZZ_STORE["pull"] = _synced_store(tmp_path_factory)  # type: ignore[assignment]
    s, server, (first, second), refs = _FUZZ_STORE["pull"]  # type: ignore[misc]
    good_text = f"Plan:\nfuzz good {uuid_hex()}"
    subject = {"reference": f"Patient/{refs['patient'].server_id}"}
    bad: Any = _doc(
        refs[first].server_id,
        "Plan:\nfuzz bad",
        "2030-01-01T00:00:00Z",
        version=uuid_hex(),
        subject=subject,
    )
    if where == "resource":
        bad = junk
    elif where == "id":
        bad["id"] = junk
    else:
        bad[where] = junk
    server.found = [
        bad,
        _doc(
            refs[second].server_id,
            good_text,
            "2030-01-01T00:00:01Z",
            version=uuid_hex(),
            subject=subject,
        ),
    ]
    with contextlib.suppress(ConsoleError):  # a clear error is allowed, a crash is not
        run(SyncEngine(s).sync_once(server))
    assert run(s.open_note(second)).text == good_text, "the good resource was applied"


def uuid_hex() -> str:
    import uuid

    return uuid.uuid4().hex


def test_an_unusable_existing_copy_holds_that_record_only(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A conditional create answered 200 whose existing copy is malformed: that record
    waits in the sync details (refused, with the rule); the sync itself does not fail."""

    class Existing(ScriptedServer):
        async def transaction(self, bundle: dict[str, Any], *, prefer: str = "") -> dict[str, Any]:
            entries = []
            for e in bundle["entry"]:
                self.next_id += 1
                rtype = e["request"]["url"]
                resource: dict[str, Any] = {"resourceType": rtype, "id": f"x{self.next_id}"}
                if rtype == "DocumentReference":
                    resource = _doc(f"x{self.next_id}", "Plan:\ntheirs", "2030-01-01T00:00:00Z")
                    resource["meta"] = ["not", "an", "object"]
                    status = "200"
                else:
                    resource["meta"] = {"versionId": "1", "lastUpdated": "2030-01-01T00:00:00Z"}
                    status = "201"
                entries.append(
                    {
                        "response": {"status": status, "location": f"{rtype}/x{self.next_id}"},
                        "resource": resource,
                    }
                )
            return {"resourceType": "Bundle", "entry": entries}

    async def scenario() -> None:
        s = await open_test_store(tmp_path_factory.mktemp("sync-existing"))
        patient = await s.add_patient(Patient(new_id(), "Exist", "Ing", "1990-01-01"))
        enc = await s.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        note = await s.create_note(enc.id, "Plan:\nmine")
        report = await SyncEngine(s).sync_once(Existing())
        assert report.failed == 1 and report.acknowledged == 2
        [(kind, entity_id, reason, _n)] = await s.transact(queue.failures)
        assert (kind, entity_id) == ("note", note.id) and "meta" in reason
        await s.close()

    run(scenario())
