"""Escalations reach both FHIR servers as Communications (docs/emergency.md): one for what
was done, one for the on-call notification's outcome, each exactly once (a lost reply
included), referring to the visit's Encounter and Patient, with no free text."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from app.errors import StoreError
from app.escalation import (
    EmergencyNumbers,
    EscalationAction,
    EscalationService,
    OnCallNotifyError,
    SafetyPlan,
)
from app.notes_signing import Signer
from app.records import Encounter, Patient, new_id, utc_now
from storage.coding_store import StoreSafety
from storage.fhir.client import FhirClient
from storage.fhir.escalation import ACTION_EXTENSION, PLACE_EXTENSION, notice_id
from storage.sync import queue
from storage.sync.engine import IDENTIFIER_SYSTEM, SyncEngine
from tests.conftest import open_test_store, run

pytestmark = pytest.mark.integration

SECRET = "pt-says-chest-pain-zz9"  # the clinician's free text: must never leave the store


class _Webhook:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    async def notify(self, payload: Mapping[str, Any]) -> None:
        if self.fail:
            raise OnCallNotifyError(reason="HTTP 503")


async def _by_identifier(client: FhirClient, local_id: str) -> list[dict[str, Any]]:
    params = {"identifier": f"{IDENTIFIER_SYSTEM}|urn:uuid:{local_id}"}
    return [r async for r in client.search("Communication", params)]


def test_escalations_sync_once_even_when_the_reply_is_lost(
    fresh_profile: Path, fhir_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        patient = await store.add_patient(Patient(new_id(), "Escalate", "Erin", "1971-07-07"))
        enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        safety = StoreSafety(store)
        doctor = Signer("os-user:drtest", "Dr Test")
        failing = EscalationService(
            safety, EmergencyNumbers.shipped(), _Webhook(True), who=lambda: doctor
        )
        await failing.confirm_plan(SafetyPlan(enc.id, "US-WA", "1 Main St", "555-0100"))
        first = (
            await failing.escalate(
                enc.id,
                [EscalationAction.CALLED_EMERGENCY, EscalationAction.STAYED_ON_LINE],
                note=SECRET,
            )
        ).escalation
        delivered = EscalationService(
            safety, EmergencyNumbers.shipped(), _Webhook(False), who=lambda: doctor
        )
        second = (
            await delivered.escalate(enc.id, [EscalationAction.PATIENT_ADVISED], note=SECRET)
        ).escalation
        quiet = EscalationService(safety, EmergencyNumbers.shipped(), who=lambda: doctor)
        third = (await quiet.escalate(enc.id, [EscalationAction.CALLED_BACK])).escalation

        real = queue.acknowledge

        def lost(conn: Any, item: Any, ref: Any) -> bool:
            if item.entity_type in ("escalation", "oncall_notice"):
                raise ConnectionResetError("simulated: the Communication's reply was lost")
            return real(conn, item, ref)

        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            monkeypatch.setattr(queue, "acknowledge", lost)
            with pytest.raises(StoreError):
                await SyncEngine(store).sync_once(client)
            monkeypatch.setattr(queue, "acknowledge", real)
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.outbox_size() == 0
            assert (await SyncEngine(store).sync_once(client)).sent == 0

            pref = await store.transact(queue.remote_ref, "patient", patient.id)
            eref = await store.transact(queue.remote_ref, "encounter", enc.id)
            records = {}
            for esc in (first, second, third):
                [found] = await _by_identifier(client, esc.id)
                records[esc.id] = found
                assert found["status"] == "completed"
                assert found["priority"] == "stat"
                assert found["subject"]["reference"].endswith(f"Patient/{pref.server_id}")
                assert found["encounter"]["reference"].endswith(f"Encounter/{eref.server_id}")
                assert found["sent"].startswith(esc.at[:16])
                assert found["sender"]["identifier"]["value"] == "drtest"
                assert found["sender"]["display"] == "Dr Test"
                assert SECRET not in str(found), "free text stays in the store"
                assert "1 Main St" not in str(found) and "555-0100" not in str(found)
            text = str(records[first.id]["payload"])
            assert "911" in text and "US-WA" in text
            assert "Called emergency services" in text and "Stayed on the line" in text
            extensions = records[first.id]["extension"]
            codes = {e["valueCoding"]["code"] for e in extensions if e["url"] == ACTION_EXTENSION}
            assert codes == {"called_emergency_services", "stayed_on_the_line"}
            [place] = [e["valueCoding"] for e in extensions if e["url"] == PLACE_EXTENSION]
            assert place == {"system": "urn:iso:std:iso:3166:-2", "code": "US-WA"}

            # The on-call notification: its outcome, part of its escalation.
            [failed] = await _by_identifier(client, notice_id(first.id))
            assert failed["status"] == "not-done"
            assert "HTTP 503" in failed["statusReason"]["text"]
            assert failed["partOf"][0]["reference"].endswith(
                f"Communication/{records[first.id]['id']}"
            )
            [ok] = await _by_identifier(client, notice_id(second.id))
            assert ok["status"] == "completed"
            assert ok["partOf"][0]["reference"].endswith(
                f"Communication/{records[second.id]['id']}"
            )
            assert SECRET not in str(failed) + str(ok)
            # No webhook configured: no notification was made, so none is recorded.
            assert await _by_identifier(client, notice_id(third.id)) == []
        await store.close()

    run(scenario())
