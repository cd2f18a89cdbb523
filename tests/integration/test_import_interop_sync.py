"""Documents from other systems through sync, on both FHIR test servers (issue 14, interop).

A Synthea-style Bundle (tests/fhir_interop.py) with notes of other LOINC types,
a local code system, a type given only as text, and notes with no visit is
imported into a real SQLCipher store and synced to SEKMET and Medplum; another
system then edits one document on the server, the console edits another, and
each side must keep the document's type and its (absent) visit.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync import queue
from storage.sync.engine import SyncEngine
from tests.conftest import open_test_store, run
from tests.fhir_interop import b64, synthea_style_bundle

pytestmark = pytest.mark.integration


def _text(resource: dict[str, Any]) -> str:
    for item in resource["content"]:
        data = item["attachment"].get("data")
        if data:
            return base64.b64decode(data).decode("utf-8")
    return ""


def _codes(resource: dict[str, Any]) -> tuple[str, ...]:
    return tuple(c.get("code", "") for c in resource.get("type", {}).get("coding", []))


async def _documents(base_url: str) -> dict[str, dict[str, Any]]:
    """The server's DocumentReferences by their text."""
    async with FhirClient(base_url, timeout=10) as client:
        found = [r async for r in client.search("DocumentReference", {"_count": "100"})]
    return {_text(r): r for r in found}


async def _sync(store: EncryptedStore, base_url: str) -> Any:
    async with FhirClient(base_url, timeout=10) as client:
        return await SyncEngine(store).sync_once(client)


def test_documents_without_visit_and_other_types_sync_both_ways(
    fresh_profile: Path, fresh_fhir_server: Any
) -> None:
    base = fresh_fhir_server.base_url
    bundle, _urls = synthea_style_bundle("Interop")

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            imported = await store.import_bundle(bundle)
            assert imported.notes_created == 5
            first = await _sync(store, base)
            assert (first.acknowledged, first.failed, first.conflicts) == (7, 0, 0), first
            docs = await _documents(base)
            assert set(docs) == {
                "Chief complaint: cough.",
                "Plan: follow up in 2 weeks.",
                "Referred for spirometry.",
                "Outside discharge summary.",
                "Nurse telephone note.",
            }
            with_visit = docs.pop("Chief complaint: cough.")
            assert _codes(with_visit) == ("34117-2",)
            assert with_visit["context"]["encounter"][0]["reference"].startswith("Encounter/")
            for text, doc in docs.items():
                assert not doc.get("context", {}).get("encounter"), text
                assert doc["subject"]["reference"] == with_visit["subject"]["reference"]
            assert _codes(docs["Plan: follow up in 2 weeks."]) == ("51847-2",)
            assert docs["Plan: follow up in 2 weeks."]["type"]["coding"][0]["display"] == (
                "Evaluation + Plan note"
            )
            assert _codes(docs["Referred for spirometry."]) == ("57133-1",)
            assert docs["Outside discharge summary."]["type"] == {"text": "Discharge letter"}
            local = docs["Nurse telephone note."]["type"]["coding"][0]
            assert (local["system"], local["code"]) == ("urn:oid:2.16.840.1.113883.3.9999", "TEL")

            # Another system edits the 51847-2 document on the server.
            plan = docs["Plan: follow up in 2 weeks."]
            plan["content"] = [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "data": b64("Plan: follow up in 3 weeks."),
                    }
                }
            ]
            reply = httpx.put(f"{base}/DocumentReference/{plan['id']}", json=plan, timeout=10)
            assert reply.status_code in (200, 201), reply.text[:300]
            second = await _sync(store, base)
            assert second.pulled >= 1 and second.conflicts == 0, second
            (group,) = await store.documents_without_visit()
            by_code = {d.document_type.code: d for d in group.documents}
            pulled = await store.open_note(by_code["51847-2"].note_id)
            assert pulled.text == "Plan: follow up in 3 weeks."
            assert pulled.encounter_id is None
            assert pulled.note_type.label == "Evaluation + Plan note"

            # The console edits the locally coded document: it goes up with its type.
            tel = by_code["TEL"]
            await store.save_note_text(tel.note_id, "Nurse telephone note.\nCalled back.")
            third = await _sync(store, base)
            assert (third.acknowledged, third.failed, third.conflicts) == (1, 0, 0), third
            after = await _documents(base)
            edited = after["Nurse telephone note.\nCalled back."]
            assert _codes(edited) == ("TEL",) and not edited.get("context", {}).get("encounter")
            assert len(after) == 5, "nothing duplicated"
            assert (await _sync(store, base)).sent == 0
            assert await store.transact(queue.waiting) == {
                "waiting": 0,
                "failed": 0,
                "conflicts": 0,
            }
        finally:
            await store.close()

    run(scenario())


def _post(base: str, resource: dict[str, Any]) -> str:
    reply = httpx.post(f"{base}/{resource['resourceType']}", json=resource, timeout=10)
    assert reply.status_code in (200, 201), reply.text[:300]
    return str(reply.json()["id"])


def test_worklist_brings_the_patients_documents_without_visit(
    fresh_profile: Path, fresh_fhir_server: Any
) -> None:
    """Documents another system filed under today's patient arrive before the visit;
    one the console cannot keep is set aside, not the rest; a visit's note is not taken."""
    from datetime import UTC, datetime

    from tests.fhir_interop import EVAL_PLAN, REFERRAL, document

    base = fresh_fhir_server.base_url
    now = datetime.now(UTC).replace(microsecond=0)
    practitioner = "Practitioner/" + _post(
        base, {"resourceType": "Practitioner", "name": [{"family": "Interop"}]}
    )
    patient = _post(
        base,
        {
            "resourceType": "Patient",
            "gender": "male",
            "birthDate": "1949-09-09",
            "name": [{"family": "Worklistdocs", "given": ["Otto"]}],
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
        },
    )
    other = _post(
        base,
        {"resourceType": "Patient", "gender": "female", "name": [{"family": "Notours"}]},
    )
    patient_ref = f"Patient/{patient}"
    _post(base, document(patient_ref, "Referred by GP for dyspnoea.", REFERRAL))
    _post(
        base,
        document(
            patient_ref,
            "",
            REFERRAL,
            content=[{"attachment": {"contentType": "application/pdf", "data": b64("%PDF")}}],
        ),
    )
    _post(
        base,
        document(
            patient_ref,
            "An earlier visit's plan.",
            EVAL_PLAN,
            encounter_url=f"Encounter/{encounter}",
        ),
    )
    _post(base, document(f"Patient/{other}", "Someone else's letter.", REFERRAL))

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            engine = SyncEngine(store, practitioner=practitioner)
            async with FhirClient(base, timeout=10) as client:
                first = await engine.sync_once(client)
                (group,) = await store.documents_without_visit()
                assert group.patient.family_name == "Worklistdocs"
                (doc,) = group.documents
                assert doc.document_type.label == "Referral note"
                note = await store.open_note(doc.note_id)
                assert note.text == "Referred by GP for dyspnoea." and note.encounter_id is None
                assert first.pulled == 2  # the visit and the referral letter
                overview = await store.transact(queue.quarantined)
                assert len(overview) == 1 and "content the console can store" in overview[0][1]
                assert await store.outbox_size() == 0  # nothing pulled is sent back
                again = await engine.sync_once(client)
                assert again.pulled == 0 and again.sent == 0
                # Edited here, it goes back to the same server resource, still without a visit.
                await store.save_note_text(doc.note_id, note.text + "\nSpirometry booked.")
                third = await engine.sync_once(client)
                assert (third.acknowledged, third.failed, third.conflicts) == (1, 0, 0), third
            docs = await _documents(base)
            assert "Referred by GP for dyspnoea.\nSpirometry booked." in docs
            assert "Referred by GP for dyspnoea." not in docs
        finally:
            await store.close()

    run(scenario())
