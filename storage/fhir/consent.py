"""A visit's consent (to telehealth, to recording) as a FHIR R4 ``Consent``, sent once.

Each decision is its own Consent, created and never updated (a changed decision is a
new record). It carries our ``urn:uuid`` identifier, so it is a conditional create
(``If-None-Exist``) like every other record: a lost reply or a crash after sending
finds it on the next pass instead of making a second one. It is sent once its
patient and encounter are on the server; the encounter it belongs to is named in
``provision.data`` (R4 Consent has no encounter element).

Mapping (docs/notes.md): ``status`` active (given) or rejected (declined); ``scope``
treatment (telehealth) or patient-privacy (recording); ``category`` LOINC 59284-0
"Consent Document" plus a text naming what was consented to and how (verbal,
written); ``policyRule`` OPTIN; ``provision.type`` permit or deny; ``dateTime`` when it
was recorded; ``performer`` the patient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from fhir.resources.R4B.consent import Consent

from app.errors import (
    ImportRejectedError,
    SyncConflictError,
    SyncProtocolError,
    SyncRejectedError,
)
from app.visit_start import ConsentDecision, ConsentMethod, ConsentRecord, ConsentScope
from storage import consents, repository
from storage.fhir.mapping import (
    IDENTIFIER_SYSTEM,
    LOINC_SYSTEM,
    export_validated,
    local_identifier,
    normalize_time,
)
from storage.sync import queue
from storage.sync.queue import OutboxItem, RemoteRef

SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_SCOPE = {ConsentScope.TELEHEALTH: "treatment", ConsentScope.RECORDING: "patient-privacy"}
_WHAT = {
    ConsentScope.TELEHEALTH: "Consent to a telehealth visit",
    ConsentScope.RECORDING: "Consent to recording during a telehealth visit",
}


def consent_resource(
    c: ConsentRecord,
    patient_server_id: str,
    encounter_server_id: str,
    *,
    in_bundle: bool = False,
) -> dict[str, Any]:
    """The Consent for the server's Patient and Encounter ids, validated; ``in_bundle``:
    for an export Bundle instead (``urn:uuid:`` references to the local ids, and ``id``)."""
    permit = c.decision is ConsentDecision.PERMIT
    if in_bundle:
        patient_ref = f"urn:uuid:{patient_server_id}"
        encounter_ref = f"urn:uuid:{encounter_server_id}"
    else:
        patient_ref = f"Patient/{patient_server_id}"
        encounter_ref = f"Encounter/{encounter_server_id}"
    resource: dict[str, Any] = {"resourceType": "Consent"}
    if in_bundle:
        resource["id"] = c.id
    resource |= {
        "identifier": [local_identifier(c.id)],
        "status": "active" if permit else "rejected",
        "scope": {"coding": [{"system": SCOPE_SYSTEM, "code": _SCOPE[c.scope]}]},
        "category": [
            {
                "coding": [
                    {"system": LOINC_SYSTEM, "code": "59284-0", "display": "Consent Document"}
                ]
            },
            {"text": f"{_WHAT[c.scope]} ({c.method.value})"},
        ],
        "patient": {"reference": patient_ref, "type": "Patient"},
        "dateTime": c.recorded_at,
        "performer": [{"reference": patient_ref, "type": "Patient"}],
        "policyRule": {"coding": [{"system": ACT_CODE_SYSTEM, "code": "OPTIN"}]},
        "provision": {
            "type": "permit" if permit else "deny",
            "data": [
                {
                    "meaning": "related",
                    "reference": {"reference": encounter_ref, "type": "Encounter"},
                }
            ],
        },
    }
    return export_validated(Consent, resource, f"consent {c.id}")


_SCOPE_BY_CODE = {code: scope for scope, code in _SCOPE.items()}
_METHOD_RE = re.compile(r"\((verbal|written)\)\Z")
_DECISION_BY_STATUS = {"active": ConsentDecision.PERMIT, "rejected": ConsentDecision.DENY}
#: Who recorded an imported consent: the Consent does not say (R4 has no element for
#: the person who took it down); the audit log says who imported it.
IMPORTED_BY = "import"


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def consent_from_fhir(
    resource: dict[str, Any], consent_id: str, encounter_id: str
) -> ConsentRecord:
    """A visit consent from an imported Consent (the form :func:`consent_resource` writes;
    its patient and visit resolved by the caller). ImportRejectedError names the element,
    never a value."""
    scopes = _items(_obj(resource.get("scope")).get("coding"))
    scope = next(
        (
            _SCOPE_BY_CODE[c["code"]]
            for c in scopes
            if c.get("system") == SCOPE_SYSTEM and c.get("code") in _SCOPE_BY_CODE
        ),
        None,
    )
    if scope is None:
        raise ImportRejectedError(
            reason="Consent.scope is neither treatment (telehealth) nor patient-privacy (recording)"
        )
    decision = _DECISION_BY_STATUS.get(str(resource.get("status")))
    if decision is None:
        raise ImportRejectedError(reason="Consent.status is neither active nor rejected")
    provision = _obj(resource.get("provision"))
    expected = "permit" if decision is ConsentDecision.PERMIT else "deny"
    if provision.get("type", expected) != expected:
        raise ImportRejectedError(reason="Consent.provision.type contradicts Consent.status")
    method = None
    for category in _items(resource.get("category")):
        found = _METHOD_RE.search(str(category.get("text", "")))
        if found:
            method = ConsentMethod(found[1])
    if method is None:
        raise ImportRejectedError(
            reason="Consent.category does not say how it was given (verbal or written)"
        )
    when = resource.get("dateTime")
    if not isinstance(when, str):
        raise ImportRejectedError(reason="Consent.dateTime is missing")
    try:
        recorded_at = normalize_time(when)
    except ValueError:
        raise ImportRejectedError(reason="Consent.dateTime is invalid") from None
    return ConsentRecord(
        consent_id, encounter_id, scope, decision, method, IMPORTED_BY, recorded_at
    )


PARTICIPATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_PARTICIPATION = {"clinician": "PPRF", "interpreter": "TRANS"}


def decorate_encounter(resource: dict[str, Any], visit: Any) -> None:
    """The visit's facts on its Encounter: ``period.end``; ``participant`` (display only:
    the people are not records here), type PPRF for a clinician, TRANS for an interpreter,
    PART otherwise; the patient's stated location as ``location[0].location.display``
    (a Reference without a Location resource) with ``physicalType`` home or facility."""
    from storage.fhir.mapping import export_validated as validated
    from storage.sync.engine import parse_instant

    period = resource.setdefault("period", {})
    start, end = parse_instant(period.get("start")), parse_instant(visit.ended_at)
    # FHIR per-1: start <= end. A visit held before its scheduled time keeps the period
    # as scheduled rather than have the whole Encounter refused.
    if end is not None and (start is None or start <= end):
        period["end"] = visit.ended_at
    people = []
    for name, role in visit.participants:
        if role == "patient":
            continue  # the subject, not a participant
        code = next((c for key, c in _PARTICIPATION.items() if key in role), "PART")
        people.append(
            {
                "type": [
                    {"coding": [{"system": PARTICIPATION_SYSTEM, "code": code}], "text": role}
                ],
                "individual": {"display": name},
            }
        )
    if people:
        resource["participant"] = people
    if visit.stated_location:
        kind = "ho" if visit.location_kind == "home" else "bu"
        resource["location"] = [
            {
                "location": {
                    "display": f"Patient's stated location: {visit.stated_location} "
                    f"({visit.location_kind or 'not recorded'})"
                },
                "physicalType": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                            "code": kind,
                        }
                    ]
                },
            }
        ]
    from fhir.resources.R4B.encounter import Encounter as FhirEncounter

    validated(FhirEncounter, resource, "the visit's encounter")


class _Client(Protocol):
    async def transaction(self, bundle: dict[str, Any], *, prefer: str = ...) -> dict[str, Any]: ...


class _Store(Protocol):
    async def transact(self, fn: Any, *args: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Waiting:
    item: OutboxItem
    consent: ConsentRecord | None
    patient_server_id: str | None
    encounter_server_id: str | None


@dataclass
class ConsentPush:
    sent: int = 0
    acknowledged: int = 0
    waiting: int = 0
    failed: int = 0


def _pending(conn: Any) -> list[_Waiting]:
    rows = conn.execute(
        "SELECT seq, entity_type, entity_id, op, revision, attempts FROM outbox "
        "WHERE entity_type = 'consent' AND failed_revision != revision ORDER BY seq"
    ).fetchall()
    out: list[_Waiting] = []
    for row in rows:
        item = OutboxItem(
            int(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]), int(row[5])
        )
        consent = consents.get_consent(conn, item.entity_id)
        patient = encounter = None
        if consent is not None:
            enc = repository.get_encounter(conn, consent.encounter_id)
            pref = queue.remote_ref(conn, "patient", enc.patient_id)
            eref = queue.remote_ref(conn, "encounter", enc.id)
            patient = pref.server_id if pref is not None and pref.server_id else None
            encounter = eref.server_id if eref is not None and eref.server_id else None
        out.append(_Waiting(item, consent, patient, encounter))
    return out


async def push_consents(client: _Client, store: _Store, reasons: list[str]) -> ConsentPush:
    """Conditional creates of the consents whose patient and visit are on the server."""
    from storage.fhir.client import entry_result
    from storage.sync.engine import MINIMAL, full_url

    result = ConsentPush()
    for waiting in await store.transact(_pending):
        c = waiting.consent
        if c is None:
            continue
        if waiting.patient_server_id is None or waiting.encounter_server_id is None:
            result.waiting += 1
            continue
        resource = consent_resource(c, waiting.patient_server_id, waiting.encounter_server_id)
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": full_url("Consent", c.id),
                    "resource": resource,
                    "request": {
                        "method": "POST",
                        "url": "Consent",
                        "ifNoneExist": f"identifier={IDENTIFIER_SYSTEM}|urn:uuid:{c.id}",
                    },
                }
            ],
        }
        result.sent += 1
        try:
            response = await client.transaction(bundle, prefer=MINIMAL)
        except (SyncRejectedError, SyncConflictError) as exc:
            await store.transact(queue.mark_failed, waiting.item, str(exc))
            result.failed += 1
            reasons.append(str(exc))
            continue
        entries = response.get("entry") if isinstance(response, dict) else None
        if not isinstance(entries, list) or len(entries) != 1:
            raise SyncProtocolError(reason="transaction response entries do not match")
        written = entry_result(entries[0])
        if not written.id:
            raise SyncProtocolError(reason="the server's response named no stored resource")
        await store.transact(
            queue.acknowledge, waiting.item, RemoteRef(written.id, written.version_id or "", "")
        )
        result.acknowledged += 1
    return result
