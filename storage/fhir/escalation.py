"""An escalation as FHIR R4 ``Communication`` resources, each sent once (docs/emergency.md).

Two records, each written once and never updated:

- **the escalation** (outbox ``escalation``): what was done, when, by whom, the
  emergency number shown and the place it was for. ``category`` alert, ``priority``
  stat, ``status`` completed, ``subject`` the Patient, ``encounter`` the Encounter,
  ``sent`` the time Record was pressed, ``sender`` the clinician (as on a note's
  Provenance), ``reasonCode`` "emergency escalation", ``payload`` the words a reader
  sees, and extensions with the same facts as codes (each action, the number, the
  ISO 3166 place).
- **the on-call notification** (outbox ``oncall_notice``, identifier derived from the
  escalation's id, :func:`notice_id`): written once the webhook answered or failed;
  ``category`` notification, ``partOf`` the escalation's Communication, ``status``
  completed (delivered) or not-done with ``statusReason`` (the status or kind of
  failure). An escalation with no webhook, or one whose console died before the
  webhook's answer, has none: no notification is claimed that was not made.

Both carry our ``urn:uuid`` identifier and go up as conditional creates (``If-None-
Exist``), so a lost reply or ``kill -9`` finds the record on the next pass instead of
making a second one; ``200`` (already there) and ``201`` are both an acknowledgement,
since nobody else writes these records. They wait for their Patient and Encounter on the
server; the notification waits for its escalation's Communication. **No free text** goes
up: the clinician's note, the plan's address and numbers stay in the encrypted store
(the text added to the visit note reaches the record store with the note).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from fhir.resources.R4B.communication import Communication

from app.errors import InputRejectedError, SyncConflictError, SyncProtocolError, SyncRejectedError
from app.escalation import ACTION_TEXT, Escalation
from storage import coding_store, repository
from storage.fhir.mapping import IDENTIFIER_SYSTEM, export_validated, local_identifier
from storage.sync import queue
from storage.sync.queue import OutboxItem, RemoteRef

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/communication-category"
ACTION_SYSTEM = "urn:clinician-console:escalation-action"
REASON_SYSTEM = "urn:clinician-console:escalation"
ACTION_EXTENSION = "urn:clinician-console:fhir:extension:escalation-action"
NUMBER_EXTENSION = "urn:clinician-console:fhir:extension:emergency-number"
PLACE_EXTENSION = "urn:clinician-console:fhir:extension:emergency-jurisdiction"
ISO_3166 = "urn:iso:std:iso:3166"
ISO_3166_2 = "urn:iso:std:iso:3166:-2"

_NOTICE_NS = uuid.UUID("1f7d3c52-2b0e-4f57-9a53-5e7b8f4a0c11")
_PLACE = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")
_NUMBER = re.compile(r"[0-9][0-9 +*#-]{0,19}")


def notice_id(escalation_id: str) -> str:
    """The on-call notification's record id: derived, so every retry names the same one."""
    return str(uuid.uuid5(_NOTICE_NS, f"oncall/{escalation_id}"))


def _sender(e: Escalation) -> dict[str, Any] | None:
    """The clinician as a note's Provenance names a signer (storage/fhir/provenance.py)."""
    from storage.fhir.provenance import OS_USER_SYSTEM

    if not e.by_id:
        return None  # recorded before the console kept who (schema before escalation sync)
    display = {"display": e.by_display} if e.by_display else {}
    if e.by_id.startswith("Practitioner/"):
        return {"reference": e.by_id, "type": "Practitioner", **display}
    if e.by_id.startswith("id:"):
        system, _, value = e.by_id.removeprefix("id:").partition("|")
        return {"identifier": {"system": system, "value": value}, **display}
    value = e.by_id.removeprefix("os-user:")
    return {"identifier": {"system": OS_USER_SYSTEM, "value": value}, **display}


def _place(e: Escalation) -> str:
    code = e.jurisdiction.strip().upper()
    return code if _PLACE.fullmatch(code) else ""


def _number(e: Escalation) -> str:
    return e.number.strip() if _NUMBER.fullmatch(e.number.strip()) else ""


def _common(e: Escalation, patient: str, encounter: str, category: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category}]}],
        "priority": "stat",
        "subject": {"reference": f"Patient/{patient}", "type": "Patient"},
        "encounter": {"reference": f"Encounter/{encounter}", "type": "Encounter"},
    }
    sender = _sender(e)
    if sender is not None:
        resource["sender"] = sender
    return resource


def escalation_resource(e: Escalation, patient: str, encounter: str) -> dict[str, Any]:
    """The escalation's Communication (``patient``/``encounter``: server ids)."""
    place, number = _place(e), _number(e)
    resource = _common(e, patient, encounter, "alert")
    resource["identifier"] = [local_identifier(e.id)]
    resource["status"] = "completed"
    resource["sent"] = e.at
    resource["reasonCode"] = [
        {
            "coding": [{"system": REASON_SYSTEM, "code": "emergency-escalation"}],
            "text": "Emergency escalation during a telehealth visit",
        }
    ]
    done = [ACTION_TEXT[a] for a in e.actions] or ["No action recorded"]
    resource["payload"] = [
        {
            "contentString": f"Emergency escalation at {e.at}: emergency number "
            f"{number or 'unknown'} for {place or 'an unknown place'}."
        },
        *({"contentString": f"{text}."} for text in done),
    ]
    extensions: list[dict[str, Any]] = [
        {
            "url": ACTION_EXTENSION,
            "valueCoding": {"system": ACTION_SYSTEM, "code": a.value, "display": ACTION_TEXT[a]},
        }
        for a in e.actions
    ]
    if number:
        extensions.append({"url": NUMBER_EXTENSION, "valueString": number})
    if place:
        system = ISO_3166_2 if "-" in place else ISO_3166
        place_coding = {"system": system, "code": place}
        extensions.append({"url": PLACE_EXTENSION, "valueCoding": place_coding})
    if extensions:
        resource["extension"] = extensions
    return export_validated(Communication, resource, f"escalation {e.id}")


def notice_resource(
    e: Escalation, patient: str, encounter: str, escalation_server_id: str
) -> dict[str, Any]:
    """The on-call notification's Communication, part of the escalation's."""
    resource = _common(e, patient, encounter, "notification")
    resource["identifier"] = [local_identifier(notice_id(e.id))]
    resource["partOf"] = [
        {"reference": f"Communication/{escalation_server_id}", "type": "Communication"}
    ]
    resource["recipient"] = [{"display": "On-call contact (webhook)"}]
    if e.notified:
        resource["status"] = "completed"
        words = "On-call contact notified through the webhook."
    else:
        # Our own message (a status or the kind of failure), never a payload or patient data.
        reason = e.notify_error.strip()[:200] or "not notified"
        resource["status"] = "not-done"
        resource["statusReason"] = {"text": reason}
        words = f"On-call contact NOT notified: {reason}"
    resource["payload"] = [{"contentString": words}]
    return export_validated(Communication, resource, f"on-call notification {e.id}")


# --- push ------------------------------------------------------------------------------


class _Client(Protocol):
    async def transaction(self, bundle: dict[str, Any], *, prefer: str = ...) -> dict[str, Any]: ...


class _Store(Protocol):
    async def transact(self, fn: Any, *args: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Waiting:
    item: OutboxItem
    escalation: Escalation | None
    patient_server_id: str | None
    encounter_server_id: str | None
    escalation_server_id: str | None  # for a notice: its escalation's Communication


@dataclass
class EscalationPush:
    sent: int = 0
    acknowledged: int = 0
    waiting: int = 0
    failed: int = 0


def _server_id(conn: Any, kind: str, local_id: str) -> str | None:
    ref = queue.remote_ref(conn, kind, local_id)
    return ref.server_id if ref is not None and ref.server_id else None


def _pending(conn: Any, kind: str) -> list[_Waiting]:
    rows = conn.execute(
        "SELECT seq, entity_type, entity_id, op, revision, attempts FROM outbox "
        "WHERE entity_type = ? AND failed_revision != revision ORDER BY seq",
        (kind,),
    ).fetchall()
    out: list[_Waiting] = []
    for row in rows:
        item = OutboxItem(
            int(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]), int(row[5])
        )
        e = coding_store.get_escalation(conn, item.entity_id)
        patient = encounter = parent = None
        if e is not None:
            enc = repository.get_encounter(conn, e.encounter_id)
            patient = _server_id(conn, "patient", enc.patient_id)
            encounter = _server_id(conn, "encounter", enc.id)
            parent = _server_id(conn, "escalation", e.id)
        out.append(_Waiting(item, e, patient, encounter, parent))
    return out


async def push_escalations(client: _Client, store: _Store, reasons: list[str]) -> EscalationPush:
    """Conditional creates of escalations, then of on-call outcomes, whose references are
    on the server (the outcomes after their escalations, in the same pass)."""
    result = EscalationPush()
    for kind in ("escalation", "oncall_notice"):
        for waiting in await store.transact(_pending, kind):
            e = waiting.escalation
            if e is None:  # its visit was removed: nothing left to send
                await store.transact(_drop, waiting.item)
                continue
            patient, encounter = waiting.patient_server_id, waiting.encounter_server_id
            if patient is None or encounter is None:
                result.waiting += 1
                continue
            try:
                if kind == "escalation":
                    resource, local_id = escalation_resource(e, patient, encounter), e.id
                elif waiting.escalation_server_id is None:
                    result.waiting += 1
                    continue
                else:
                    resource = notice_resource(e, patient, encounter, waiting.escalation_server_id)
                    local_id = notice_id(e.id)
            except InputRejectedError as exc:  # kept and shown, never dropped
                await store.transact(queue.mark_failed, waiting.item, str(exc))
                result.failed += 1
                reasons.append(str(exc))
                continue
            result.sent += 1
            if await _send(client, store, waiting.item, resource, local_id, reasons):
                result.acknowledged += 1
            else:
                result.failed += 1
    return result


def _drop(conn: Any, item: OutboxItem) -> None:
    conn.execute("DELETE FROM outbox WHERE seq = ? AND revision = ?", (item.seq, item.revision))


async def _send(
    client: _Client,
    store: _Store,
    item: OutboxItem,
    resource: dict[str, Any],
    local_id: str,
    reasons: list[str],
) -> bool:
    from storage.fhir.client import entry_result
    from storage.sync.engine import MINIMAL, full_url

    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                # Derived from, never equal to, the identifier value (Medplum rewrites
                # every string equal to a fullUrl).
                "fullUrl": full_url("Communication", local_id),
                "resource": resource,
                "request": {
                    "method": "POST",
                    "url": "Communication",
                    "ifNoneExist": f"identifier={IDENTIFIER_SYSTEM}|urn:uuid:{local_id}",
                },
            }
        ],
    }
    try:
        response = await client.transaction(bundle, prefer=MINIMAL)
    except (SyncRejectedError, SyncConflictError) as exc:
        await store.transact(queue.mark_failed, item, str(exc))
        reasons.append(str(exc))
        return False
    entries = response.get("entry") if isinstance(response, dict) else None
    if not isinstance(entries, list) or len(entries) != 1:
        raise SyncProtocolError(reason="transaction response entries do not match")
    written = entry_result(entries[0])
    if not written.id:
        raise SyncProtocolError(reason="the server's response named no stored resource")
    await store.transact(
        queue.acknowledge, item, RemoteRef(written.id, written.version_id or "", "")
    )
    return True
