"""The coding area's SQL on a real SQLCipher store: one draft per encounter, queued with its
encounter in one transaction, and local retention that never drops a draft still waiting."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

from app.coding import (
    ChargeDraft,
    CodedEncounter,
    CodingService,
    PatientStatus,
    Performer,
    VisitFacts,
    load_table,
)
from app.records import Encounter, Patient, new_id
from storage import repository
from storage.coding_store import StoreCoding, charge_for
from storage.sync import queue
from storage.sync.queue import RemoteRef
from tests.conftest import open_test_store


async def _seed(store: Any, start: str = "2020-01-01T09:00:00+00:00") -> Encounter:
    patient = await store.add_patient(Patient(new_id(), "Store", "Sam", "1950-05-05"))
    return await store.add_encounter(Encounter(new_id(), patient.id, start))


async def _accept(store: Any, enc: Encounter, minutes: int) -> ChargeDraft:
    service = CodingService(
        load_table(), StoreCoding(store), Performer("Practitioner/p1", "1234567893", "Dr X")
    )
    facts = VisitFacts(minutes, PatientStatus.ESTABLISHED, date_of_service=date(2026, 1, 5))
    return await service.accept(enc.id, facts, service.suggest(facts))


def _outbox(conn: Any) -> set[tuple[str, str, str]]:
    rows = conn.execute("SELECT entity_type, entity_id, op FROM outbox").fetchall()
    return {(str(r[0]), str(r[1]), str(r[2])) for r in rows}


def test_one_draft_per_encounter_queued_with_its_encounter(fresh_profile: Path) -> None:
    async def go() -> None:
        store = await open_test_store(fresh_profile)
        try:
            enc = await _seed(store)
            first = await _accept(store, enc, 12)
            second = await _accept(store, enc, 25)
            assert second.id == first.id and second.code == "99213"
            assert second.created_at == first.created_at
            assert await store.transact(charge_for, enc.id) == second
            assert second.performer == Performer("Practitioner/p1", "1234567893", "Dr X")
            outbox = await store.transact(_outbox)
            assert ("charge_item", first.id, "create") in outbox
            assert ("encounter", enc.id, "create") in outbox
            [pending] = [
                p
                for p in await store.transact(queue.pending, 10)
                if p.item.entity_type == "encounter"
            ]
            assert isinstance(pending.record, CodedEncounter)
            assert pending.record.charge == second
            actions = [e.action for e in await store.audit_entries()]
            assert actions.count("coding_accept") == 2
        finally:
            await store.close()

    asyncio.run(go())


def _synced(conn: Any, enc: Encounter) -> None:
    """As if the patient and the visit had been acknowledged by the server."""
    for kind, local_id in (("patient", enc.patient_id), ("encounter", enc.id)):
        queue.set_remote_ref(conn, kind, local_id, RemoteRef(f"srv-{local_id}", "1", ""))
        conn.execute("DELETE FROM outbox WHERE entity_type = ? AND entity_id = ?", (kind, local_id))


def test_retention_keeps_a_visit_whose_draft_waits(fresh_profile: Path) -> None:
    async def go() -> None:
        store = await open_test_store(fresh_profile)
        try:
            enc = await _seed(store)
            draft = await _accept(store, enc, 45)
            await store.transact(_synced, enc)
            purged = await store.transact(
                repository.purge_synced, "test", "2021-01-01T00:00:00+00:00"
            )
            assert purged == 0
            assert await store.transact(charge_for, enc.id) == draft

            # Once the draft is acknowledged too, the visit leaves with its draft.
            def ack(conn: Any) -> None:
                [p] = [x for x in queue.pending(conn, 10) if x.item.entity_type == "charge_item"]
                queue.acknowledge(conn, p.item, RemoteRef("srv-charge", "1", ""))

            await store.transact(ack)
            purged = await store.transact(
                repository.purge_synced, "test", "2021-01-01T00:00:00+00:00"
            )
            assert purged == 1
            assert await store.transact(charge_for, enc.id) is None
            assert await store.transact(queue.pending, 10) == []
        finally:
            await store.close()

    asyncio.run(go())


def test_performer_is_whoever_is_signed_in_when_accepting(fresh_profile: Path) -> None:
    async def go() -> None:
        store = await open_test_store(fresh_profile)
        try:
            enc = await _seed(store)
            who: list[Performer | None] = [Performer(npi="1234567893", name="Dr A")]
            service = CodingService(load_table(), StoreCoding(store), lambda: who[0])
            facts = VisitFacts(20, PatientStatus.ESTABLISHED, date_of_service=date(2026, 1, 5))
            first = await service.accept(enc.id, facts, service.suggest(facts))
            assert first.performer == Performer(npi="1234567893", name="Dr A")
            who[0] = None  # switched clinician, nobody signed in yet
            second = await service.accept(enc.id, facts, service.suggest(facts))
            assert second.performer is None
            assert (await store.transact(charge_for, enc.id)).performer is None
        finally:
            await store.close()

    asyncio.run(go())
