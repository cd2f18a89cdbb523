"""Visit consents reach both FHIR servers as Consent, exactly once (lost reply included),
after their patient and visit, and validate there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.errors import StoreError
from app.records import Encounter, Patient, new_id, utc_now
from app.templates import SHIPPED_DIR, load_templates
from app.visit_start import (
    ConsentAnswer,
    ConsentDecision,
    ConsentMethod,
    LocationKind,
    VisitStart,
    VisitStartForm,
)
from storage.consents import StoreVisitStart
from storage.fhir.client import FhirClient
from storage.sync import queue
from storage.sync.engine import IDENTIFIER_SYSTEM, SyncEngine
from tests.conftest import open_test_store, run

pytestmark = pytest.mark.integration


async def _by_identifier(client: FhirClient, local_id: str) -> list[dict[str, Any]]:
    found = []
    params = {"identifier": f"{IDENTIFIER_SYSTEM}|urn:uuid:{local_id}"}
    async for resource in client.search("Consent", params):
        found.append(resource)
    return found


def test_consents_sync_once_even_when_the_reply_is_lost(
    fresh_profile: Path, fhir_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        patient = await store.add_patient(Patient(new_id(), "Consent", "Cleo", "1985-05-05"))
        enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        use = VisitStart(StoreVisitStart(store), load_templates([SHIPPED_DIR]), actor="dr")
        started = await use.begin(
            enc.id,
            VisitStartForm(
                "US-CA",
                LocationKind.FACILITY,
                "known to the nurse",
                ConsentAnswer(ConsentDecision.PERMIT, ConsentMethod.VERBAL),
                ConsentAnswer(ConsentDecision.DENY, ConsentMethod.WRITTEN),
                template_id="stethoscope-exam",
            ),
        )
        from dataclasses import replace

        from app.templates import HeaderParticipant

        end = replace(
            started.header,
            end=utc_now(),
            participants=(
                HeaderParticipant("Dr Test", "clinician"),
                HeaderParticipant("Ana", "guest (interpreter or family)"),
                HeaderParticipant("Cleo", "patient"),
            ),
        )
        assert await use.finish(enc.id, end) is not None
        real = queue.acknowledge

        def lost(conn: Any, item: Any, ref: Any) -> bool:
            if item.entity_type == "consent":
                raise ConnectionResetError("simulated: the Consent's reply was lost")
            return real(conn, item, ref)

        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            monkeypatch.setattr(queue, "acknowledge", lost)
            with pytest.raises(StoreError):
                await SyncEngine(store).sync_once(client)
            monkeypatch.setattr(queue, "acknowledge", real)
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.outbox_size() == 0
            [given] = await _by_identifier(client, started.consents[0].id)
            [declined] = await _by_identifier(client, started.consents[1].id)
            assert given["status"] == "active" and given["provision"]["type"] == "permit"
            assert declined["status"] == "rejected" and declined["provision"]["type"] == "deny"
            ref = await store.transact(queue.remote_ref, "encounter", enc.id)
            assert given["provision"]["data"][0]["reference"]["reference"].endswith(
                f"Encounter/{ref.server_id}"
            )
            assert (await SyncEngine(store).sync_once(client)).sent == 0
            # The visit's facts are on its Encounter: stated location, end, participants.
            encounter = await client.read("Encounter", ref.server_id)
            assert "US-CA (facility)" in encounter["location"][0]["location"]["display"]
            assert encounter["period"]["end"]
            people = {p["individual"]["display"] for p in encounter["participant"]}
            assert people == {"Dr Test", "Ana"}, "the patient is the subject, not a participant"
        await store.close()

    run(scenario())
