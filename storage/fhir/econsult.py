"""E-consult records as FHIR R4 resources (HL7 Clinical Order Workflows), and back.

- the request: a ``ServiceRequest`` (intent order, priority = urgency, the question
  in ``note``, performer = the specialist or service, ``supportingInfo`` = the
  stills' ``Media`` and the visit's note) and a ``Task`` that fulfils it
  (``focus``/``basedOn`` = the ServiceRequest, ``owner`` = the specialist,
  ``status``, ``restriction.period.end`` = due);
- a question or reply: a ``Communication`` (``basedOn`` the ServiceRequest,
  ``partOf`` the Task, the text as ``payload.contentString``);
- the answer: a consult note ``DocumentReference`` (LOINC 11488-4, the text inline,
  ``context.related`` the ServiceRequest), which the Task names as its ``output``
  when it is completed.

Every resource carries ``identifier = urn:ietf:rfc:3986 | urn:uuid:<local id>`` so
its create is conditional (exactly once); pulled resources are read back only
through the checks here (``ParsedTask`` etc.), which raise ``ValueError`` with
the rule a malformed resource broke.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any, Final

from app.econsult import (
    CONSULT_NOTE_LOINC,
    ConsultAnswer,
    ConsultMessage,
    ConsultRequest,
    ConsultStatus,
    Urgency,
)

IDENTIFIER_SYSTEM: Final = "urn:ietf:rfc:3986"
LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
#: SNOMED CT 11429006 "Consultation" (procedure): what is asked for.
CONSULTATION: Final = {"system": SNOMED, "code": "11429006", "display": "Consultation"}
TASK_CODE: Final = {
    "system": "http://hl7.org/fhir/CodeSystem/task-code",
    "code": "fulfill",
    "display": "Fulfill the focal request",
}


def identifier(local_id: str) -> list[dict[str, str]]:
    return [{"system": IDENTIFIER_SYSTEM, "value": f"urn:uuid:{local_id}"}]


def if_none_exist(local_id: str) -> str:
    return f"identifier={IDENTIFIER_SYSTEM}|urn:uuid:{local_id}"


def service_request(
    consult: ConsultRequest,
    patient: str,
    encounter: str,
    supporting: list[str],
) -> dict[str, Any]:
    """``patient``/``encounter``/``supporting``: server references ("Patient/<id>")."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": identifier(consult.id),
        "status": "active",
        "intent": "order",
        "priority": consult.urgency.value,
        "category": [{"coding": [CONSULTATION]}],
        "code": {"coding": [CONSULTATION], "text": "E-consult"},
        "subject": {"reference": patient},
        "encounter": {"reference": encounter},
        "authoredOn": consult.created_at,
        "performer": [{"reference": consult.performer}],
        "note": [{"text": consult.question}],
    }
    if consult.requester:
        resource["requester"] = {"reference": consult.requester}
    if supporting:
        resource["supportingInfo"] = [{"reference": ref} for ref in supporting]
    return resource


def task(consult: ConsultRequest, service_request_ref: str, patient: str) -> dict[str, Any]:
    # Answered before the request went up: the Task starts open and the answer's own row
    # completes it with the note as output (a completed Task always names its note).
    status = (
        ConsultStatus.REQUESTED if consult.status is ConsultStatus.COMPLETED else consult.status
    )
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": identifier(consult.task_id),
        "basedOn": [{"reference": service_request_ref}],
        "focus": {"reference": service_request_ref},
        "for": {"reference": patient},
        "status": status.value,
        "intent": "order",
        "priority": consult.urgency.value,
        "code": {"coding": [TASK_CODE]},
        "authoredOn": consult.created_at,
        "lastModified": consult.created_at,
        "owner": {"reference": consult.performer},
    }
    if consult.requester:
        resource["requester"] = {"reference": consult.requester}
    if consult.due:
        resource["restriction"] = {"period": {"end": consult.due}}
    return resource


def communication(
    message: ConsultMessage, service_request_ref: str, task_ref: str, patient: str
) -> dict[str, Any]:
    return {
        "resourceType": "Communication",
        "identifier": identifier(message.id),
        "basedOn": [{"reference": service_request_ref}],
        "partOf": [{"reference": task_ref}],
        "status": "completed",
        "subject": {"reference": patient},
        "sent": message.sent_at,
        "sender": {"display": message.author},
        "payload": [{"contentString": message.text}],
    }


def consult_note(answer: ConsultAnswer, service_request_ref: str, patient: str) -> dict[str, Any]:
    data = answer.text.encode("utf-8")
    return {
        "resourceType": "DocumentReference",
        "identifier": identifier(answer.id),
        "status": "current",
        "docStatus": "final",
        "type": {
            "coding": [{"system": LOINC, "code": CONSULT_NOTE_LOINC, "display": "Consult note"}]
        },
        "subject": {"reference": patient},
        "date": answer.created_at,
        "author": [{"display": answer.author}],
        "description": "E-consult answer",
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(data).decode("ascii"),
                    "title": "Consult note",
                    "creation": answer.created_at,
                }
            }
        ],
        "context": {"related": [{"reference": service_request_ref}]},
    }


def task_with_status(
    current: dict[str, Any], status: ConsultStatus, when: str, output_ref: str = ""
) -> dict[str, Any]:
    """The server's Task with a new status (read-modify-write: other fields kept)."""
    updated = {k: v for k, v in current.items() if k not in ("meta", "text")}
    updated["status"] = status.value
    updated["lastModified"] = when
    if output_ref:
        updated["output"] = [
            {
                "type": {"coding": [{"system": LOINC, "code": CONSULT_NOTE_LOINC}]},
                "valueReference": {"reference": output_ref},
            }
        ]
    return updated


# --- reading pulled resources ----------------------------------------------------------


def local_uuid(resource: dict[str, Any]) -> str | None:
    """The ``urn:uuid`` a resource carries in our identifier system."""
    from storage.fhir.mapping import canonical_uuid

    for ident in resource.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") == IDENTIFIER_SYSTEM:
            value = ident.get("value")
            if isinstance(value, str) and value[:9].lower() == "urn:uuid:":
                return canonical_uuid(value[9:])
    return None


def reference_id(value: Any, resource_type: str) -> str:
    """``Type/<id>`` (relative or absolute) → id; ValueError otherwise."""
    from storage.fhir.mapping import local_id_from_reference

    if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
        raise ValueError(f"a {resource_type} reference is missing")
    ref: str = value["reference"]
    if ref[:9].lower() == "urn:uuid:":
        raise ValueError(f"a {resource_type} reference is not resolved")
    found = local_id_from_reference(ref, resource_type)
    if not found:
        raise ValueError(f"a reference is not to a {resource_type}")
    return found


@dataclass(frozen=True, slots=True)
class ParsedTask:
    server_id: str
    version: str
    task_id: str | None
    service_request_id: str
    status: ConsultStatus
    owner: str
    output_document: str  # DocumentReference id, "" when none


def parse_task(resource: dict[str, Any]) -> ParsedTask:
    rid = resource.get("id")
    meta = resource.get("meta")
    if not isinstance(rid, str) or not isinstance(meta, dict):
        raise ValueError("id or meta is missing")
    version = meta.get("versionId")
    if not isinstance(version, str):
        raise ValueError("meta.versionId is missing")
    try:
        status = ConsultStatus(str(resource.get("status")))
    except ValueError:
        # received, accepted, ready, on-hold ... : the specialist has not answered yet.
        status = (
            ConsultStatus.IN_PROGRESS
            if resource.get("status") in ("received", "accepted", "ready", "on-hold")
            else ConsultStatus.CANCELLED
        )
    owner = resource.get("owner")
    owner_ref = owner.get("reference") if isinstance(owner, dict) else None
    output_document = ""
    for out in resource.get("output") or []:
        if isinstance(out, dict) and isinstance(out.get("valueReference"), dict):
            try:
                output_document = reference_id(out["valueReference"], "DocumentReference")
            except ValueError:
                continue
    return ParsedTask(
        server_id=rid,
        version=version,
        task_id=local_uuid(resource),
        service_request_id=reference_id(resource.get("focus"), "ServiceRequest"),
        status=status,
        owner=owner_ref if isinstance(owner_ref, str) else "",
        output_document=output_document,
    )


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    server_id: str
    consult_id: str | None
    question: str
    urgency: Urgency
    performer: str
    requester: str
    created_at: str
    patient_id: str
    supporting: tuple[tuple[str, str], ...]  # (resourceType, id)


def parse_service_request(resource: dict[str, Any]) -> ParsedRequest:
    rid = resource.get("id")
    if not isinstance(rid, str):
        raise ValueError("id is missing")
    notes = resource.get("note") or []
    question = "\n".join(
        n["text"] for n in notes if isinstance(n, dict) and isinstance(n.get("text"), str)
    )
    if not question:
        raise ValueError("the question (note.text) is missing")
    try:
        urgency = Urgency(resource.get("priority", "routine"))
    except ValueError:
        urgency = Urgency.ROUTINE
    performers = resource.get("performer") or []
    performer = ""
    if performers and isinstance(performers[0], dict):
        value = performers[0].get("reference")
        performer = value if isinstance(value, str) else ""
    requester = resource.get("requester")
    requester_ref = requester.get("reference") if isinstance(requester, dict) else ""
    supporting: list[tuple[str, str]] = []
    for info in resource.get("supportingInfo") or []:
        ref = info.get("reference") if isinstance(info, dict) else None
        if not isinstance(ref, str):
            continue
        for rtype in ("Media", "DocumentReference"):
            try:
                supporting.append((rtype, reference_id(info, rtype)))
                break
            except ValueError:
                continue
    authored = resource.get("authoredOn")
    return ParsedRequest(
        server_id=rid,
        consult_id=local_uuid(resource),
        question=question,
        urgency=urgency,
        performer=performer,
        requester=requester_ref if isinstance(requester_ref, str) else "",
        created_at=authored if isinstance(authored, str) else "",
        patient_id=reference_id(resource.get("subject"), "Patient"),
        supporting=tuple(supporting),
    )


def patient_display(resource: dict[str, Any]) -> str:
    names = resource.get("name") or []
    if not names or not isinstance(names[0], dict):
        return ""
    name = names[0]
    given = " ".join(g for g in name.get("given") or [] if isinstance(g, str))
    family = name.get("family") if isinstance(name.get("family"), str) else ""
    birth = resource.get("birthDate")
    shown = ", ".join(part for part in (family, given) if part)
    return f"{shown} ({birth})" if isinstance(birth, str) and shown else shown


def media_binary(resource: dict[str, Any]) -> tuple[str, str, str, str]:
    """(Binary id, content type, SHA-1 base64 or "", body-site code or "") of a Media."""
    content = resource.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("url"), str):
        raise ValueError("Media.content.url is missing")
    parts = content["url"].rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] != "Binary" or not parts[-1]:
        raise ValueError("Media.content.url is not a Binary")
    ctype = content.get("contentType")
    sha1 = content.get("hash")
    site = ""
    body = resource.get("bodySite")
    if isinstance(body, dict):
        for coding in body.get("coding") or []:
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                site = coding["code"]
                break
    return (
        parts[-1],
        ctype if isinstance(ctype, str) else "application/octet-stream",
        sha1 if isinstance(sha1, str) else "",
        site,
    )


def binary_bytes(resource: dict[str, Any], sha1: str) -> bytes:
    """A Binary's bytes, checked against the Media's SHA-1 when it gave one."""
    data = resource.get("data")
    if not isinstance(data, str):
        raise ValueError("Binary.data is missing")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("Binary.data is not base64") from None
    if sha1:
        digest = base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii")  # noqa: S324
        if digest != sha1:
            raise ValueError("the Binary does not match the Media's hash")
    return raw


def document_text(resource: dict[str, Any]) -> str:
    try:
        data = resource["content"][0]["attachment"]["data"]
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (KeyError, IndexError, TypeError, binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("content[0].attachment.data is not UTF-8 text") from None


def communication_text(resource: dict[str, Any]) -> tuple[str, str, str]:
    """(text, author, sent) of a pulled Communication."""
    texts = [
        p["contentString"]
        for p in resource.get("payload") or []
        if isinstance(p, dict) and isinstance(p.get("contentString"), str)
    ]
    if not texts:
        raise ValueError("payload.contentString is missing")
    sender = resource.get("sender")
    author = sender.get("display") if isinstance(sender, dict) else ""
    sent = resource.get("sent")
    return (
        "\n".join(texts),
        author if isinstance(author, str) else "",
        sent if isinstance(sent, str) else "",
    )
