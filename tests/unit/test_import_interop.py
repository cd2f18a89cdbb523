"""Bundles from other systems: notes with no visit and any document type (issue 14, interop).

Parsing and mapping run on the real fhir.resources models; the store tests use a
real SQLCipher file. The Bundles are shaped the way Synthea and other systems
write them (tests/fhir_interop.py).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from app.errors import ImportRejectedError, InputRejectedError
from app.records import (
    DocumentType,
    Encounter,
    Note,
    NoteStatus,
    NoteType,
    Patient,
    new_id,
)
from storage.fhir import mapping
from storage.fhir.bundle import build_export_bundle, parse_import_bundle
from storage.sync import queue
from tests.conftest import open_test_store, run
from tests.fhir_interop import EVAL_PLAN, HP_NOTE, LOINC, REFERRAL, b64, synthea_style_bundle


def _by_text(notes: tuple[Note, ...] | list[Note]) -> dict[str, Note]:
    return {n.text: n for n in notes}


def test_synthea_style_bundle_imports_every_document() -> None:
    bundle, _urls = synthea_style_bundle()
    parsed = parse_import_bundle(bundle)
    (patient,) = parsed.patients
    (encounter,) = parsed.encounters
    notes = _by_text(parsed.notes)
    assert len(notes) == 5
    hp = notes["Chief complaint: cough."]
    assert hp.encounter_id == encounter.id and hp.patient_id == patient.id
    assert hp.note_type == DocumentType(HP_NOTE[0], LOINC, HP_NOTE[1])
    for text in (
        "Plan: follow up in 2 weeks.",
        "Referred for spirometry.",
        "Outside discharge summary.",
        "Nurse telephone note.",
    ):
        assert notes[text].encounter_id is None, text
        assert notes[text].patient_id == patient.id, text
    assert notes["Plan: follow up in 2 weeks."].note_type == DocumentType(
        EVAL_PLAN[0], LOINC, EVAL_PLAN[1]
    )
    # The text rendition beside a PDF by url is what the console keeps.
    assert notes["Referred for spirometry."].note_type.code == REFERRAL[0]
    text_only = notes["Outside discharge summary."].note_type
    assert (text_only.system, text_only.code, text_only.label) == ("", "", "Discharge letter")
    local = notes["Nurse telephone note."].note_type
    assert (local.system, local.code, local.display) == (
        "urn:oid:2.16.840.1.113883.3.9999",
        "TEL",
        "Tel",
    )


def test_a_known_type_without_display_is_shown_by_name() -> None:
    bundle, _ = synthea_style_bundle()
    doc = bundle["entry"][3]["resource"]
    doc["type"] = {"coding": [{"system": LOINC, "code": "11488-4"}]}
    parsed = parse_import_bundle(bundle)
    assert any(n.note_type.label == "Consult note" for n in parsed.notes)


def test_loinc_coding_is_preferred_over_other_codings() -> None:
    bundle, _ = synthea_style_bundle()
    doc = bundle["entry"][3]["resource"]
    doc["type"] = {
        "coding": [
            {"system": "http://snomed.info/sct", "code": "371531000", "display": "Report"},
            {"system": LOINC, "code": "18842-5", "display": "Discharge summary"},
        ]
    }
    parsed = parse_import_bundle(bundle)
    assert "18842-5" in {n.note_type.code for n in parsed.notes}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.pop("subject"), "DocumentReference.subject is missing"),
        (
            lambda d: d.__setitem__(
                "content", [{"attachment": {"contentType": "application/pdf", "data": b64("%")}}]
            ),
            "no content the console can store",
        ),
        (
            lambda d: d.__setitem__(
                "content", [{"attachment": {"contentType": "text/plain", "url": "Binary/x"}}]
            ),
            "has only a url",
        ),
        (
            lambda d: d["content"][0]["attachment"].__setitem__("data", b64("x")[:-1] + "!"),
            "attachment.data is",
        ),
    ],
)
def test_what_is_still_refused(change: Any, reason: str) -> None:
    bundle, _ = synthea_style_bundle()
    change(bundle["entry"][3]["resource"])  # the 51847-2 note without a visit
    with pytest.raises(ImportRejectedError) as info:
        parse_import_bundle(bundle)
    assert info.value.reason.startswith("entry 3: ")
    assert reason in info.value.reason


def test_a_note_without_visit_must_name_a_patient_in_the_bundle() -> None:
    bundle, _ = synthea_style_bundle()
    bundle["entry"][3]["resource"]["subject"]["reference"] = bundle["entry"][1]["fullUrl"]
    with pytest.raises(ImportRejectedError) as info:
        parse_import_bundle(bundle)
    assert info.value.reason == (
        "entry 3: DocumentReference.subject does not point to an entry of type Patient"
    )


def _records() -> tuple[list[Patient], list[Encounter], list[Note]]:
    p = Patient(new_id(), "Ngata", "Mere", "1970-01-01", "female")
    e = Encounter(new_id(), p.id, "2024-05-02T14:00:00.000+00:00", "finished", "VR", "Review")
    t = "2024-05-02T14:10:00.000+00:00"
    notes = [
        Note(new_id(), e.id, "in the visit", 0, NoteType.PROGRESS, NoteStatus.DRAFT, t, t, p.id),
        Note(
            new_id(),
            None,
            "no visit",
            0,
            DocumentType("18842-5", LOINC, "Discharge summary"),
            NoteStatus.SIGNED,
            t,
            t,
            patient_id=p.id,
        ),
        Note(
            new_id(),
            None,
            "typed as text",
            0,
            DocumentType("", "", "Letter"),
            NoteStatus.DRAFT,
            t,
            t,
            patient_id=p.id,
        ),
    ]
    return [p], [e], notes


def test_a_note_without_visit_exports_without_context_and_keeps_its_type() -> None:
    patients, _encounters, notes = _records()
    resource = mapping.note_to_document_reference(notes[1], patients[0].id)
    assert "context" not in resource
    assert resource["type"] == {
        "coding": [{"system": LOINC, "code": "18842-5", "display": "Discharge summary"}],
        "text": "Discharge summary",
    }
    assert mapping.note_to_document_reference(notes[2], patients[0].id)["type"] == {
        "text": "Letter"
    }


def test_export_and_import_round_trip_documents_without_visit() -> None:
    patients, encounters, notes = _records()
    exported = json.loads(json.dumps(build_export_bundle(patients, encounters, notes)))
    parsed = parse_import_bundle(exported)
    assert parsed.notes == tuple(notes)


def test_export_refuses_a_note_whose_patient_is_not_exported() -> None:
    _patients, _encounters, notes = _records()
    other = Patient(new_id(), "Other", "", "", "unknown")
    with pytest.raises(InputRejectedError):
        build_export_bundle([other], [], [notes[1]])


def test_store_keeps_documents_under_the_patient(fresh_profile: Path) -> None:
    bundle, _ = synthea_style_bundle()

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            result = await store.import_bundle(copy.deepcopy(bundle))
            assert (result.patients_created, result.encounters_created) == (1, 1)
            assert result.notes_created == 5
            visits = await store.list_encounters()
            assert len(visits) == 1 and visits[0].note_id is not None
            groups = await store.documents_without_visit()
            assert len(groups) == 1
            (group,) = groups
            assert group.patient.family_name == "Quigley"
            labels = sorted(d.document_type.label for d in group.documents)
            assert labels == [
                "Discharge letter",
                "Evaluation + Plan note",
                "Referral note",
                "Tel",
            ]
            doc = group.documents[0]
            note = await store.open_note(doc.note_id)
            assert note.encounter_id is None and note.patient_id == group.patient.id
            hits = await store.search_notes("spirometry")
            assert len(hits) == 1 and hits[0].encounter_id == ""
            assert hits[0].patient_id == group.patient.id
            # Each document goes to the record store like any note, its patient known.
            pending = await store.transact(queue.pending, 100)
            notes_pending = [p for p in pending if p.item.entity_type == "note"]
            assert len(notes_pending) == 5
            assert {p.patient_id for p in notes_pending} == {group.patient.id}
            again = await store.import_bundle(copy.deepcopy(bundle))
            assert again.notes_created == 0 and again.unchanged == 7
            saved = await store.save_note_text(doc.note_id, note.text + "\nSeen.")
            assert saved.changed
            exported = await store.export_bundle()
            assert (await store.verify_audit()).ok
        finally:
            await store.close()
        types = {
            tuple(c["code"] for c in r["resource"].get("type", {}).get("coding", []))
            for r in exported["entry"]
            if r["resource"]["resourceType"] == "DocumentReference"
        }
        assert types == {("34117-2",), ("51847-2",), ("57133-1",), (), ("TEL",)}
        without_context = [
            r
            for r in exported["entry"]
            if r["resource"]["resourceType"] == "DocumentReference"
            and "context" not in r["resource"]
        ]
        assert len(without_context) == 4

    run(scenario())


def test_create_note_without_visit_needs_an_existing_patient(fresh_profile: Path) -> None:
    from storage import repository

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            patient = await store.add_patient(Patient(new_id(), "Solo", "", "", "unknown"))
            made = await store.transact(
                lambda c: repository.create_note(
                    c, "t", None, "letter", NoteType.CONSULT, patient_id=patient.id
                )
            )
            assert made.patient_id == patient.id and made.note_type.code == "11488-4"
            with pytest.raises(Exception) as info:
                await store.transact(
                    lambda c: repository.create_note(
                        c, "t", None, "letter", NoteType.CONSULT, patient_id=new_id()
                    )
                )
            assert "not found" in str(info.value).lower() or "patient" in str(info.value)
            with pytest.raises(InputRejectedError):
                await store.transact(
                    lambda c: repository.create_note(c, "t", None, "letter", NoteType.CONSULT)
                )
        finally:
            await store.close()

    run(scenario())


def test_retention_keeps_documents_without_visit_and_their_patient(fresh_profile: Path) -> None:
    """A fully synced old visit leaves the local cache; the patient's document without a
    visit stays, and so does the patient it is filed under (a foreign key, and a
    clinician's letter, would otherwise be lost with the visit)."""
    from storage import repository
    from storage.sync.queue import RemoteRef, set_remote_ref

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            patient = await store.add_patient(Patient(new_id(), "Retained", "", "", "unknown"))
            visit = await store.add_encounter(
                Encounter(new_id(), patient.id, "2020-01-01T09:00:00.000+00:00", "finished")
            )
            note = await store.create_note(visit.id, "old visit")

            def file_letter_and_sync_all(conn: Any) -> str:
                letter = repository.create_note(
                    conn, "t", None, "letter", DocumentType("57133-1"), patient_id=patient.id
                )
                for kind, local in (
                    ("patient", patient.id),
                    ("encounter", visit.id),
                    ("note", note.id),
                    ("note", letter.id),
                ):
                    set_remote_ref(conn, kind, local, RemoteRef(f"s-{local}", "1", ""))
                conn.execute("DELETE FROM outbox")
                return letter.id

            letter_id = await store.transact(file_letter_and_sync_all)
            removed = await store.transact(
                repository.purge_synced, "t", "2021-01-01T00:00:00+00:00"
            )
            assert removed == 1
            assert await store.list_encounters() == []
            (group,) = await store.documents_without_visit()
            assert group.patient.id == patient.id
            assert [d.note_id for d in group.documents] == [letter_id]
            assert (await store.verify_audit()).ok
        finally:
            await store.close()

    run(scenario())
