"""Pulling today's worklist: Encounters and Appointments for the signed-in practitioner.

Records made elsewhere arrive with the server's ids; the console gives them
local ids (their ``urn:uuid`` identifier when they carry one) and remembers the
mapping in ``remote_refs``. They are written without outbox rows: the server
already has them.

For the patients of the day, documents filed under the patient with no visit
(a referral letter, an outside discharge summary: DocumentReferences without
``context.encounter``) come too, checked by the same rules as an imported Bundle,
so the clinician sees them as "Documents without a visit" before the visit.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from app.errors import ConsoleError
from app.records import Encounter, Patient, new_id
from storage import repository
from storage.sync import queue
from storage.sync.queue import RemoteRef

log = logging.getLogger(__name__)


def _reference_id(reference: object, resource_type: str) -> str | None:
    from storage.fhir.mapping import local_id_from_reference

    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    return local_id_from_reference(reference["reference"], resource_type)


def day_bounds(day: datetime | None = None) -> tuple[str, str]:
    start = (
        (day or datetime.now(UTC))
        .astimezone(UTC)
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    return start.date().isoformat(), (start + timedelta(days=1)).date().isoformat()


async def pull_worklist(
    client: Any, store: Any, practitioner: str, day: datetime | None = None
) -> int:
    """Add today's visits for ``practitioner`` that this console does not hold, and their
    patients' documents without a visit; returns how many records were added."""
    start, end = day_bounds(day)
    added = 0
    patients: list[str] = []
    # Pairs, not a dict: "date" appears twice (a range).
    searches = (
        (
            "Encounter",
            [("participant", practitioner), ("date", f"ge{start}"), ("date", f"lt{end}")],
        ),
        ("Appointment", [("actor", practitioner), ("date", f"ge{start}"), ("date", f"lt{end}")]),
    )
    for resource_type, params in searches:
        async for resource in client.search(resource_type, params):
            if not isinstance(resource, dict) or resource.get("resourceType") != resource_type:
                continue
            patient = _patient_ref(resource) if resource.get("id") else None
            if patient and patient not in patients:
                patients.append(patient)
            try:
                added += await _adopt(client, store, resource)
            except ConsoleError as exc:  # one odd record must not hide the rest of the day
                log.warning("a worklist %s was skipped (%s)", resource_type, type(exc).__name__)
            except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
                # Malformed server data: set aside with the rule it broke, carry on.
                rid = resource.get("id")
                label = f"{resource_type}/{rid[:64] if isinstance(rid, str) else '?'}"
                rule = f"unexpected structure ({type(exc).__name__})"
                log.warning("a worklist %s was quarantined (%s)", resource_type, rule)
                await store.transact(queue.quarantine, label, rule)
    for patient_server_id in patients:
        added += await pull_documents_without_visit(client, store, patient_server_id)
    return added


#: Documents asked for per patient (newest first): a worklist, not an archive.
DOCUMENTS_PER_PATIENT = 50


async def pull_documents_without_visit(client: Any, store: Any, patient_server_id: str) -> int:
    """Adopt the patient's current DocumentReferences that have no ``context.encounter``
    and that this console does not hold yet; returns how many. A document the console
    cannot keep (no readable text, a content type it cannot store) is set aside with
    the rule it broke, and the others still come."""
    from storage.fhir import mapping
    from storage.sync.engine import local_uuid_of

    patient_id = await store.transact(queue.local_id_for_server, "patient", patient_server_id)
    if patient_id is None:
        return 0  # its visit was skipped: nothing to file the documents under
    params = {
        "subject": f"Patient/{patient_server_id}",
        "status": "current",
        "_sort": "-_lastUpdated",
        "_count": str(DOCUMENTS_PER_PATIENT),
    }
    added = 0
    seen = 0
    async for resource in client.search("DocumentReference", params):
        seen += 1
        if seen > DOCUMENTS_PER_PATIENT:
            break
        if not isinstance(resource, dict) or resource.get("resourceType") != "DocumentReference":
            continue
        context = resource.get("context")
        if isinstance(context, dict) and context.get("encounter"):
            continue  # a visit's note: it comes with its visit, not here
        rid = resource.get("id")
        if not isinstance(rid, str) or not rid:
            continue
        label = f"DocumentReference/{rid[:64]}"
        if await store.transact(queue.local_id_for_server, "note", rid) is not None:
            continue
        try:
            valid = mapping.validate_resource(resource)
            subject = _reference_id(resource.get("subject"), "Patient")
            if subject != patient_server_id:
                continue  # the server answered with another patient's document
            local = local_uuid_of(resource)
            note = mapping.note_from_document_reference(
                valid, local_id=local or new_id(), patient_id=patient_id
            )
        except ConsoleError as exc:
            # Value-free reason (ImportRejectedError names paths only).
            rule = getattr(exc, "reason", type(exc).__name__)
            log.warning("a document without a visit was set aside (%s)", type(exc).__name__)
            await store.transact(queue.quarantine, label, str(rule)[:300])
            continue
        meta = resource.get("meta")
        version = str(meta.get("versionId", "")) if isinstance(meta, dict) else ""
        added += await store.transact(_adopt_document, store.actor, note, rid, version)
    return added


def _adopt_document(conn: Any, actor: str, note: Any, server_id: str, version: str) -> int:
    from storage.sync.queue import text_hash

    try:
        repository.get_note(conn, note.id)
        return 0  # held already (its identifier names a note of ours)
    except ConsoleError:
        pass
    repository.create_note(
        conn,
        actor,
        None,
        note.text,
        note.note_type,
        note_id=note.id,
        when=note.created_at,
        patient_id=note.patient_id,
        from_server=True,
    )
    queue.set_remote_ref(conn, "note", note.id, RemoteRef(server_id, version, text_hash(note.text)))
    return 1


def _patient_ref(resource: dict[str, Any]) -> str | None:
    if resource["resourceType"] == "Encounter":
        return _reference_id(resource.get("subject"), "Patient")
    for participant in resource.get("participant") or []:
        if isinstance(participant, dict):
            found = _reference_id(participant.get("actor"), "Patient")
            if found:
                return found
    return None


async def _adopt(client: Any, store: Any, resource: dict[str, Any]) -> int:
    from storage.fhir import mapping
    from storage.sync.engine import local_uuid_of

    kind = "encounter" if resource["resourceType"] == "Encounter" else "appointment"
    server_id = str(resource.get("id", ""))
    patient_server_id = _patient_ref(resource)
    if not server_id or not patient_server_id:
        return 0
    held = await store.transact(queue.local_id_for_server, kind, server_id)
    local_uuid = local_uuid_of(resource)
    if held is not None or (local_uuid and await store.transact(_has_encounter, local_uuid)):
        return 0
    patient_id = await store.transact(queue.local_id_for_server, "patient", patient_server_id)
    patient: Patient | None = None
    patient_version = ""
    if patient_id is None:
        fetched = await client.read("Patient", patient_server_id)
        patient_version = str((fetched.get("meta") or {}).get("versionId", ""))
        patient = mapping.patient_from_fhir(fetched, local_id=local_uuid_of(fetched) or new_id())
        patient_id = patient.id
    if kind == "encounter":
        start = str((resource.get("period") or {}).get("start") or "")
        status = str(resource.get("status", "planned"))
        reason = _text_of(resource.get("reasonCode")) or _text_of(resource.get("type"))
        encounter_class = str((resource.get("class") or {}).get("code") or "VR")
    else:
        start = str(resource.get("start") or "")
        status = "planned"
        reason = str(resource.get("description") or "") or _text_of(resource.get("serviceType"))
        encounter_class = "VR"
    if not start:
        return 0
    encounter = Encounter(
        local_uuid if kind == "encounter" and local_uuid else new_id(),
        patient_id,
        start,
        status if status in mapping.ENCOUNTER_STATUSES else "planned",
        encounter_class[:8],
        reason[:200],
    )
    version = str((resource.get("meta") or {}).get("versionId", ""))

    def apply(conn: Any) -> int:
        if patient is not None:
            repository.insert_patient(conn, store.actor, patient, from_server=True)
            queue.set_remote_ref(
                conn, "patient", patient.id, RemoteRef(patient_server_id, patient_version, "")
            )
        repository.insert_encounter(conn, store.actor, encounter, from_server=True)
        # An appointment's visit is a local encounter mapped to the Appointment, so
        # the next pull recognises it; its own Encounter is created when it happens.
        queue.set_remote_ref(conn, kind, encounter.id, RemoteRef(server_id, version, ""))
        return 1

    result: int = await store.transact(apply)
    return result


def _has_encounter(conn: Any, encounter_id: str) -> bool:
    try:
        repository.get_encounter(conn, encounter_id)
    except ConsoleError:
        return False
    return True


def _text_of(concept: object) -> str:
    items = concept if isinstance(concept, list) else [concept]
    for item in items:
        if isinstance(item, dict):
            if item.get("text"):
                return str(item["text"])
            for coding in item.get("coding") or []:
                if isinstance(coding, dict) and coding.get("display"):
                    return str(coding["display"])
    return ""
