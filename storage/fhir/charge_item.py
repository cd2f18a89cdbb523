"""The accepted coding of a visit in FHIR R4: a ChargeItem draft and the coded Encounter.

``ChargeItem`` (status ``planned``: entered, not yet ready to bill; a billing system
or coder reviews it, moves it to ``billable`` and then ``billed``; the console never
does) names the CPT/HCPCS code, the patient, the Encounter (``context``), the date of
service and, because R4's ChargeItem has no elements for them, the modifiers and the
place of service as extensions (docs/coding.md lists them). The Encounter (class
``VR``) gets the code in ``type`` and the telehealth modality in ``serviceType``.
"""

from __future__ import annotations

from typing import Any, Final

from app.coding import ChargeDraft, Work
from app.errors import InputRejectedError
from storage.fhir.mapping import References, format_reference, local_identifier

CPT_SYSTEM: Final = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM: Final = "urn:oid:2.16.840.1.113883.6.285"  # HCPCS Level II (G2010)
POS_SYSTEM: Final = (
    "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
)
MODIFIER_URL: Final = "urn:clinician-console:fhir:extension:cpt-modifier"
POS_URL: Final = "urn:clinician-console:fhir:extension:place-of-service"
PAYER_URL: Final = "urn:clinician-console:fhir:extension:payer-rules"
CHARGE_STATUS: Final = "planned"
NPI_SYSTEM: Final = "http://hl7.org/fhir/sid/us-npi"

_POS_DISPLAY: Final = {
    "02": "Telehealth Provided Other than in Patient's Home",
    "10": "Telehealth Provided in Patient's Home",
}
_SERVICE_TEXT: Final = {
    "video": "Telehealth: synchronous audio-video",
    "audio": "Telehealth: synchronous audio-only",
}


def code_system(code: str) -> str:
    """CPT codes are five digits (or four and a letter); HCPCS Level II start with a letter."""
    return HCPCS_SYSTEM if code[:1].isalpha() else CPT_SYSTEM


def _coding(code: str) -> dict[str, Any]:
    return {"coding": [{"system": code_system(code), "code": code}], "text": code}


def charge_item_resource(
    d: ChargeDraft, patient_id: str, *, references: References
) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = [
        {
            "url": MODIFIER_URL,
            "valueCodeableConcept": {"coding": [{"system": CPT_SYSTEM, "code": m}], "text": m},
        }
        for m in d.modifiers
    ]
    if d.pos:
        pos: dict[str, Any] = {"system": POS_SYSTEM, "code": d.pos}
        if d.pos in _POS_DISPLAY:
            pos["display"] = _POS_DISPLAY[d.pos]
        extensions.append({"url": POS_URL, "valueCodeableConcept": {"coding": [pos]}})
    extensions.append({"url": PAYER_URL, "valueString": d.payer})
    resource: dict[str, Any] = {
        "resourceType": "ChargeItem",
        "id": d.id,
        "extension": extensions,
        "identifier": [local_identifier(d.id)],
        "status": CHARGE_STATUS,
        "code": _coding(d.code),
        "subject": {"reference": format_reference("Patient", patient_id, references)},
        "context": {"reference": format_reference("Encounter", d.encounter_id, references)},
        "occurrenceDateTime": d.service_date,
        "quantity": {"value": 1},
        "enteredDate": d.updated_at,
    }
    if d.performer is not None:
        actor: dict[str, Any] = {}
        if d.performer.reference:
            actor["reference"] = d.performer.reference
        elif d.performer.npi:
            actor["identifier"] = {"system": NPI_SYSTEM, "value": d.performer.npi}
        if d.performer.name:
            actor["display"] = d.performer.name
        if actor:
            actor["type"] = "Practitioner"
            resource["performer"] = [{"actor": actor}]
    if d.reasons:
        # The reasons a coder reads before billing: categories and counts, no patient data.
        resource["note"] = [{"text": "\n".join(d.reasons)}]
    return resource


def charge_item_to_fhir(
    d: ChargeDraft, patient_id: str, *, references: References
) -> dict[str, Any]:
    """The ChargeItem, validated against the R4B model."""
    import pydantic
    from fhir.resources.R4B.chargeitem import ChargeItem

    resource = charge_item_resource(d, patient_id, references=references)
    try:
        ChargeItem.model_validate(resource)
    except pydantic.ValidationError as exc:
        raise InputRejectedError(reason=f"charge item {d.id} is not a valid ChargeItem") from exc
    return resource


def add_encounter_coding(resource: dict[str, Any], charge: ChargeDraft) -> dict[str, Any]:
    """Put the accepted code and the modality on an Encounter resource (in place)."""
    resource["type"] = [_coding(charge.code)]
    if charge.work == Work.VISIT.value and charge.modality in _SERVICE_TEXT:
        resource["serviceType"] = {"text": _SERVICE_TEXT[charge.modality]}
    else:
        resource["serviceType"] = {"text": "Telehealth: store-and-forward"}
    return resource


def _first_code(value: object) -> str:
    if isinstance(value, list):
        value = value[0] if value else None
    codings = value.get("coding") if isinstance(value, dict) else None
    if isinstance(codings, list) and codings and isinstance(codings[0], dict):
        return str(codings[0].get("code", ""))
    return ""


def _extensions(resource: dict[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for ext in resource.get("extension") or []:
        if isinstance(ext, dict):
            value = ext.get("valueString") or _first_code(ext.get("valueCodeableConcept"))
            found.append((str(ext.get("url", "")), str(value)))
    return sorted(found)


def _projection(resource: dict[str, Any]) -> tuple[object, ...]:
    """What the console writes and another system would change (status, codes)."""
    kind = resource.get("resourceType")
    if kind == "ChargeItem":
        return (
            kind,
            resource.get("status"),
            _first_code(resource.get("code")),
            _extensions(resource),
            str(resource.get("occurrenceDateTime", ""))[:10],
        )
    if kind == "Encounter":
        klass = resource.get("class")
        service = resource.get("serviceType")
        return (
            kind,
            resource.get("status"),
            klass.get("code") if isinstance(klass, dict) else None,
            _first_code(resource.get("type")),
            service.get("text") if isinstance(service, dict) else None,
        )
    return (kind, id(resource))  # any other type: never taken as the same


def write_marker(resource: dict[str, Any]) -> str:
    """A marker of what a ChargeItem or Encounter write says (its projection), kept among
    the "sent" markers before the write goes out: a server copy with this marker is one
    of our own writes even when the record has changed here since."""
    import hashlib

    return "w:" + hashlib.sha256(repr(_projection(resource)).encode()).hexdigest()[:32]


def same_write(server: dict[str, Any], ours: dict[str, Any]) -> bool:
    """Whether the server's ChargeItem or Encounter already says what we are sending: a
    version conflict on such an update is then our own earlier write whose
    acknowledgement was lost, not someone else's change (billing moving the draft on,
    another system changing the visit)."""
    return _projection(server) == _projection(ours)
