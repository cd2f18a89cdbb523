"""Audit entries reach the real FHIR server (SEKMET) as AuditEvents, exactly once."""

from __future__ import annotations

import getpass
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from app.errors import SyncRetryableError
from app.records import Encounter, Patient, new_id, utc_now
from storage.fhir import audit_event
from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync.engine import SyncEngine
from tests.conftest import open_test_store, run
from tests.integration.sekmet import SekmetServer

pytestmark = pytest.mark.integration


async def _events(base_url: str) -> list[dict[str, Any]]:
    async with FhirClient(base_url) as client:
        return [r async for r in client.search("AuditEvent", {"_count": "500"})]


def _tags(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(
        tag["code"]
        for e in events
        for tag in e.get("meta", {}).get("tag", [])
        if tag.get("system") == audit_event.IDENTIFIER_SYSTEM
    )


async def _sync(store: EncryptedStore, base_url: str) -> Any:
    async with FhirClient(base_url, timeout=10) as client:
        return await SyncEngine(store).sync_once(client)


def test_audit_entries_reach_the_server_exactly_once(
    fresh_profile: Path, sekmet_factory: Any
) -> None:
    server: SekmetServer = sekmet_factory("audit-events")
    server.stop()

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        patient = await store.add_patient(Patient(new_id(), "Audit", "Trail", "1970-01-01"))
        enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        note = await store.create_note(enc.id, "Plan:\nrest")
        await store.open_note(note.id)
        await store.note_history(note.id)
        with pytest.raises(SyncRetryableError):
            await _sync(store, server.base_url)  # offline: nothing lost, nothing marked sent
        server.start()
        await _sync(store, server.base_url)
        entries = await store.audit_entries()
        events = await _events(server.base_url)
        tags = _tags(events)
        # Every entry up to the sync went, once; none twice.
        assert all(n == 1 for n in tags.values())
        sent = {f"urn:uuid:{audit_event.event_uuid(store.store_id, e)}" for e in entries}
        assert set(tags) <= sent and len(tags) >= len(entries) - 1
        by_action = {e["subtype"][0]["code"]: e for e in events}
        read = by_action["read_history"]
        assert read["action"] == "R"
        assert read["agent"][0]["who"]["identifier"]["value"] == getpass.getuser()
        assert read["entity"][0]["what"]["identifier"]["value"] == f"urn:uuid:{note.id}"
        assert "rest" not in str(events)  # ids and actions only, never note text

        # A lost acknowledgement: the events are on the server, the mark is not moved.
        await store.record_read("note", note.id)
        real_mark = audit_event._mark_pushed
        audit_event._mark_pushed = lambda conn, seq: None  # type: ignore[assignment]
        try:
            await _sync(store, server.base_url)
        finally:
            audit_event._mark_pushed = real_mark  # type: ignore[assignment]
        await _sync(store, server.base_url)
        again = _tags(await _events(server.base_url))
        assert all(n == 1 for n in again.values()), "a resend is not a duplicate"
        assert len(again) > len(tags)
        await store.close()

    run(scenario())
