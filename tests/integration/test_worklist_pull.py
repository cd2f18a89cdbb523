"""Today's worklist comes from the record store: Encounters and Appointments for the clinician."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.records import KeySource
from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync.engine import SyncEngine
from tests.conftest import TEST_PASSPHRASE, run

pytestmark = pytest.mark.integration


def _post(base: str, resource: dict[str, Any]) -> str:
    reply = httpx.post(f"{base}/{resource['resourceType']}", json=resource, timeout=10)
    reply.raise_for_status()
    return str(reply.json()["id"])


def test_worklist_is_pulled_once_and_notes_link_to_server_records(
    fresh_profile: Path, sekmet: Any
) -> None:
    base = sekmet.base_url
    now = datetime.now(UTC).replace(microsecond=0)
    practitioner = "Practitioner/" + _post(
        base, {"resourceType": "Practitioner", "name": [{"family": "Worklist"}]}
    )
    patient = _post(
        base,
        {
            "resourceType": "Patient",
            "gender": "female",
            "birthDate": "1955-05-05",
            "name": [{"family": "Farquhar", "given": ["Isolde"]}],
        },
    )
    encounter = _post(
        base,
        {
            "resourceType": "Encounter",
            "status": "planned",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
            "subject": {"reference": f"Patient/{patient}"},
            "participant": [{"individual": {"reference": practitioner}}],
            "period": {"start": now.isoformat()},
            "reasonCode": [{"text": "Breathlessness review"}],
        },
    )
    _post(
        base,
        {
            "resourceType": "Appointment",
            "status": "booked",
            "start": now.replace(hour=(now.hour + 1) % 24).isoformat(),
            "end": now.replace(hour=(now.hour + 1) % 24, minute=30).isoformat(),
            "description": "Video follow-up",
            "participant": [
                {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
                {"actor": {"reference": practitioner}, "status": "accepted"},
            ],
        },
    )

    async def scenario() -> None:
        store = await EncryptedStore.open(
            fresh_profile, key_source=KeySource.PASSPHRASE, passphrase=TEST_PASSPHRASE
        )
        engine = SyncEngine(store, practitioner=practitioner)
        async with FhirClient(base) as client:
            first = await engine.sync_once(client)
            assert first.pulled == 2
            visits = await store.list_encounters()
            assert sorted(v.encounter.reason for v in visits) == [
                "Breathlessness review",
                "Video follow-up",
            ]
            assert {v.patient.display_name for v in visits} == {"Farquhar, Isolde"}
            assert len({v.patient.id for v in visits}) == 1  # one patient, not two
            assert (await engine.sync_once(client)).pulled == 0  # nothing twice
            assert await store.outbox_size() == 0  # pulled records are not sent back

            visit = next(v for v in visits if v.encounter.reason == "Breathlessness review")
            note = await store.create_note(visit.encounter.id, "Plan:\nspirometry")
            assert (await engine.sync_once(client)).acknowledged == 1
            docs = [
                r
                async for r in client.search("DocumentReference", {"subject": f"Patient/{patient}"})
            ]
            assert len(docs) == 1
            assert docs[0]["context"]["encounter"][0]["reference"].endswith(
                f"Encounter/{encounter}"
            )
            patients = [r async for r in client.search("Patient", {"family": "Farquhar"})]
            assert len(patients) == 1, "the note must not create a second patient"
            assert note.id in str(docs[0]["identifier"])
        await store.close()

    run(scenario())
