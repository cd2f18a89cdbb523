"""Escalations on a real SQLCipher store on their way to the record store
(storage/coding_store.py, storage/fhir/escalation.py): queued in the transaction that
records them, the webhook's outcome queued apart, kept by retention until sent, never
sent for demo patients, shown in the sync details, and mapped with no free text."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from app.errors import InputRejectedError
from app.escalation import (
    EmergencyNumbers,
    Escalation,
    EscalationAction,
    EscalationService,
    OnCallNotifyError,
)
from app.notes_signing import Signer
from app.records import Encounter, Patient, new_id
from storage import migrations, repository
from storage.coding_store import StoreSafety, escalations
from storage.fhir.escalation import escalation_resource, notice_id, notice_resource
from storage.sync import queue
from storage.sync.adapter import StoreSyncQueue
from storage.sync.queue import RemoteRef
from tests.conftest import open_test_store

SECRET = "he said he took the whole bottle"


class _Webhook:
    def __init__(self, outcome: BaseException | None) -> None:
        self.outcome = outcome

    async def notify(self, payload: Mapping[str, Any]) -> None:
        if self.outcome is not None:
            raise self.outcome


async def _seed(store: Any, mrn: str = "", start: str = "2020-01-01T09:00:00+00:00") -> Encounter:
    patient = await store.add_patient(Patient(new_id(), "Escal", "Ezra", "1950-05-05", mrn=mrn))
    return await store.add_encounter(Encounter(new_id(), patient.id, start))


def _service(store: Any, outcome: BaseException | None = None, hook: bool = True) -> Any:
    return EscalationService(
        StoreSafety(store),
        EmergencyNumbers.shipped(),
        _Webhook(outcome) if hook else None,
        who=lambda: Signer("Practitioner/p9", "Dr Nine"),
    )


def _outbox(conn: Any) -> set[tuple[str, str]]:
    rows = conn.execute("SELECT entity_type, entity_id FROM outbox").fetchall()
    return {(str(r[0]), str(r[1])) for r in rows}


class _Killed(BaseException):
    """The process dying while the webhook is called (not a ConsoleError: nothing handles it)."""


def test_an_escalation_is_queued_when_recorded_and_its_outcome_apart(fresh_profile: Path) -> None:
    async def go() -> None:
        store = await open_test_store(fresh_profile)
        try:
            enc = await _seed(store)
            # The console dies while the webhook is being called: the escalation is
            # stored and queued; no outcome is claimed.
            with pytest.raises(_Killed):
                await _service(store, _Killed()).escalate(
                    enc.id, [EscalationAction.CALLED_EMERGENCY], location="US-WA"
                )
            [cut] = await store.transact(escalations, enc.id)
            assert cut.by_id == "Practitioner/p9" and cut.by_display == "Dr Nine"
            outbox = await store.transact(_outbox)
            assert ("escalation", cut.id) in outbox
            assert ("oncall_notice", cut.id) not in outbox

            failed = await _service(store, OnCallNotifyError(reason="HTTP 500")).escalate(
                enc.id, [EscalationAction.PATIENT_ADVISED], location="US-WA"
            )
            ok = await _service(store).escalate(enc.id, [EscalationAction.CALLED_BACK])
            none = await _service(store, hook=False).escalate(enc.id, [])
            outbox = await store.transact(_outbox)
            for result in (failed, ok):
                assert ("escalation", result.escalation.id) in outbox
                assert ("oncall_notice", result.escalation.id) in outbox
            assert ("escalation", none.escalation.id) in outbox
            assert ("oncall_notice", none.escalation.id) not in outbox
        finally:
            await store.close()

    asyncio.run(go())


def test_retention_keeps_a_visit_whose_escalation_waits(fresh_profile: Path) -> None:
    async def go() -> None:
        store = await open_test_store(fresh_profile)
        try:
            enc = await _seed(store)
            result = await _service(store).escalate(enc.id, [EscalationAction.CALLED_BACK])

            def synced_visit(conn: Any) -> None:
                for p in queue.pending(conn, 10):
                    queue.acknowledge(conn, p.item, RemoteRef(f"srv-{p.item.entity_id}", "1", ""))

            await store.transact(synced_visit)
            cutoff = "2021-01-01T00:00:00+00:00"
            assert await store.transact(repository.purge_synced, "test", cutoff) == 0

            def ack_escalation(conn: Any) -> None:
                for kind in ("escalation", "oncall_notice"):
                    row = conn.execute(
                        "SELECT seq, entity_type, entity_id, op, revision, attempts FROM outbox "
                        "WHERE entity_type = ?",
                        (kind,),
                    ).fetchone()
                    item = queue.OutboxItem(*row)
                    queue.acknowledge(conn, item, RemoteRef(f"srv-{kind}", "1", ""))

            await store.transact(ack_escalation)
            assert await store.transact(repository.purge_synced, "test", cutoff) == 1
            assert await store.transact(escalations, enc.id) == []
            left = await store.transact(
                lambda c: c.execute(
                    "SELECT count(*) FROM remote_refs WHERE entity_id = ?",
                    (result.escalation.id,),
                ).fetchone()[0]
            )
            assert left == 0
        finally:
            await store.close()

    asyncio.run(go())


def test_demo_escalations_are_never_sent(fresh_profile: Path) -> None:
    async def go() -> None:
        store = await open_test_store(fresh_profile)
        try:
            demo = await _seed(store, mrn="DEMO-0001")
            real = await _seed(store, mrn="MRN-1")
            kept = await _service(store).escalate(real.id, [EscalationAction.CALLED_BACK])
            await _service(store).escalate(demo.id, [EscalationAction.CALLED_BACK])
            await store.transact(queue.drop_demo_rows)
            kinds = {
                (k, i)
                for k, i in await store.transact(_outbox)
                if k in ("escalation", "oncall_notice")
            }
            assert kinds == {
                ("escalation", kept.escalation.id),
                ("oncall_notice", kept.escalation.id),
            }
        finally:
            await store.close()

    asyncio.run(go())


def test_a_refused_escalation_is_listed_in_the_sync_details(fresh_profile: Path) -> None:
    async def go() -> None:
        store = await open_test_store(fresh_profile)
        try:
            enc = await _seed(store)
            result = await _service(store, hook=False).escalate(
                enc.id, [EscalationAction.CALLED_BACK]
            )
            reason = "HTTP 422 (invalid): Communication.payload is required"

            def refuse(conn: Any) -> None:
                row = conn.execute(
                    "SELECT seq, entity_type, entity_id, op, revision, attempts FROM outbox "
                    "WHERE entity_type = 'escalation'"
                ).fetchone()
                queue.mark_failed(conn, queue.OutboxItem(*row), reason)

            await store.transact(refuse)
            overview = await StoreSyncQueue(store).overview()
            [failure] = [f for f in overview.failures if f.entity_type == "escalation"]
            assert failure.label == "Escalation · Escal, Ezra"
            assert failure.reason == reason and failure.entity_id == result.escalation.id
            assert await StoreSyncQueue(store).retry("escalation", result.escalation.id) == 1
        finally:
            await store.close()

    asyncio.run(go())


def _escalation(**changes: Any) -> Escalation:
    base = {
        "id": new_id(),
        "encounter_id": new_id(),
        "at": "2026-12-05T14:03:11Z",
        "actions": (EscalationAction.CALLED_EMERGENCY,),
        "number": "911",
        "jurisdiction": "US-WA",
        "note": SECRET,
        "by_id": "id:http://hl7.org/fhir/sid/us-npi|1234567893",
        "by_display": "Dr NPI",
    }
    return Escalation(**{**base, **changes})


def test_the_communications_carry_codes_and_ids_never_free_text() -> None:
    e = _escalation(notify_error="The on-call contact could not be notified (HTTP 500).")
    resource = escalation_resource(e, "p1", "e1")
    assert SECRET not in str(resource)
    assert resource["sender"] == {
        "identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"},
        "display": "Dr NPI",
    }
    assert resource["identifier"][0]["value"] == f"urn:uuid:{e.id}"
    notice = notice_resource(e, "p1", "e1", "c1")
    assert SECRET not in str(notice)
    assert notice["status"] == "not-done" and "HTTP 500" in notice["statusReason"]["text"]
    assert notice["identifier"][0]["value"] == f"urn:uuid:{notice_id(e.id)}"
    assert notice_id(e.id) == notice_id(e.id) != e.id


@pytest.mark.parametrize(
    ("number", "place"),
    [("911<script>", "US-WA"), ("911", "x" * 5000), ("", "Washington"), ("911\u202e", "US-WA\x00")],
)
def test_a_hostile_number_or_place_is_left_out_not_sent(number: str, place: str) -> None:
    resource = escalation_resource(_escalation(number=number, jurisdiction=place), "p1", "e1")
    text = str(resource)
    assert "script" not in text and "x" * 10 not in text and "Washington" not in text
    assert "unknown" in resource["payload"][0]["contentString"]


def test_an_escalation_without_recorder_or_actions_still_validates() -> None:
    resource = escalation_resource(_escalation(by_id="", by_display="", actions=()), "p", "e")
    assert "sender" not in resource and resource["payload"][1]["contentString"].startswith("No")
    with pytest.raises(InputRejectedError):
        escalation_resource(_escalation(at="yesterday"), "p", "e")


def test_escalations_recorded_before_the_migration_are_queued(fresh_profile: Path) -> None:
    from storage import database, keys
    from storage.store import DB_FILE
    from tests.conftest import TEST_PASSPHRASE
    from tests.unit import test_migrations

    # The version just before this migration (others may follow it).
    before = migrations.MIGRATIONS.index(migrations._sync_escalations)
    test_migrations._old_store(fresh_profile, before)
    key = keys.load_passphrase_key(keys.read_meta(fresh_profile), TEST_PASSPHRASE)  # type: ignore[arg-type]
    conn = database.connect(fresh_profile / DB_FILE, key, create=False)
    old_id, quiet_id = new_id(), new_id()
    with repository.transaction(conn):
        for escalation_id, notified in ((old_id, 1), (quiet_id, 0)):
            conn.execute(
                "INSERT INTO escalations(id, encounter_id, at, actions, notified) "
                "VALUES (?, ?, '2026-01-01T00:00:00Z', '[\"called_patient_back\"]', ?)",
                (escalation_id, test_migrations.ENC_ID, notified),
            )
    conn.close()

    async def check() -> None:
        store = await open_test_store(fresh_profile)
        try:
            assert store.status.schema_version == migrations.LATEST
            outbox = await store.transact(_outbox)
            assert {("escalation", old_id), ("oncall_notice", old_id)} <= outbox
            assert ("escalation", quiet_id) in outbox
            assert ("oncall_notice", quiet_id) not in outbox  # no outcome was known
            found = {e.id: e for e in await store.transact(escalations, test_migrations.ENC_ID)}
            assert found[old_id].by_id == "" and found[old_id].notified
        finally:
            await store.close()

    asyncio.run(check())


@pytest.mark.parametrize("kind", ["escalation", "oncall_notice"])
def test_ids_of_both_records_are_uuids(kind: str) -> None:
    from storage.sync.engine import local_uuid_of

    e = _escalation()
    resource = (
        escalation_resource(e, "p", "e")
        if kind == "escalation"
        else notice_resource(e, "p", "e", "c")
    )
    assert local_uuid_of(resource) in (e.id, notice_id(e.id))
