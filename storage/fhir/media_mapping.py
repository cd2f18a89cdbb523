"""Attachments (stethoscope recordings, exam-camera stills) as FHIR R4 resources.

One attachment becomes (DESIGN.md §4, docs/fhir.md "Attachments"):

- a ``Binary`` holding the bytes as JSON base64 ``data`` (raw uploads are refused
  by some servers, SEKMET among them). Binary has no ``identifier``, so it cannot
  be created conditionally; its id is instead fixed by the console
  (:func:`binary_id`, a UUID5 of the attachment's id) and sync writes it with
  ``PUT Binary/<id>`` (update-as-create), which a retry cannot duplicate;
- a ``Media`` (status ``completed``, ``type`` from the media-type code system,
  subject, encounter, ``createdDateTime``, ``bodySite`` for the auscultation site,
  ``content`` = contentType, url of the Binary, size, SHA-1 hash, title), carrying
  the attachment's ``urn:uuid`` identifier;
- when the metadata holds a heart rate, an ``Observation`` (vital signs, LOINC
  8867-4, ``/min``) derived from the Media, with the estimate's confidence in a note.

Every resource is validated with its ``fhir.resources`` R4B model. Error texts
name ids and element paths only.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from fhir.resources.R4B.binary import Binary
from fhir.resources.R4B.media import Media
from fhir.resources.R4B.observation import Observation

from app.errors import InputRejectedError
from app.records import Attachment, AttachmentKind, AuscultationSite, StethoscopeFilter
from storage.fhir.mapping import (
    LOINC_SYSTEM,
    References,
    ReferenceStyle,
    canonical_uuid,
    export_validated,
    format_reference,
    local_identifier,
)
from storage.fhir.still_mapping import still_elements, still_notes

MEDIA_TYPE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/media-type"
OBSERVATION_CATEGORY_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
SNOMED_SYSTEM: Final = "http://snomed.info/sct"
UCUM_SYSTEM: Final = "http://unitsofmeasure.org"
HEART_RATE_LOINC: Final = "8867-4"
HEART_RATE_METHOD: Final = "auscultation (phonocardiogram envelope autocorrelation)"

_MEDIA_TYPE_DISPLAY: Final[Mapping[AttachmentKind, str]] = {
    AttachmentKind.AUDIO: "Audio",
    AttachmentKind.IMAGE: "Image",
}
_DEVICE_NAME: Final[Mapping[AttachmentKind, str]] = {
    AttachmentKind.AUDIO: "Digital stethoscope",
    AttachmentKind.IMAGE: "Exam camera",
}

# Auscultation sites -> SNOMED CT body structures. The cardiac areas are named
# after the valve heard best there, so they carry the valve structure concept
# (the codes DICOM CID 3701 "Cardiac Valve/Tract" uses) with the area as text;
# lung fields carry the lung (side) concept with the field as text.
_VALVES: Final = {
    AuscultationSite.AORTIC: ("34202007", "Aortic valve structure", "aortic area"),
    AuscultationSite.PULMONIC: ("39057004", "Pulmonary valve structure", "pulmonic area"),
    AuscultationSite.TRICUSPID: ("46030003", "Tricuspid valve structure", "tricuspid area"),
    AuscultationSite.MITRAL: ("91134007", "Mitral valve structure", "mitral area"),
}
_LUNG: Final = ("39607008", "Lung structure")
_LEFT_LUNG: Final = ("44029006", "Left lung structure")
_RIGHT_LUNG: Final = ("3341006", "Right lung structure")
_LUNG_FIELDS: Final = {
    AuscultationSite.LUNG: (_LUNG, "lung field"),
    AuscultationSite.LUNG_LEFT: (_LEFT_LUNG, "left lung field"),
    AuscultationSite.LUNG_RIGHT: (_RIGHT_LUNG, "right lung field"),
    AuscultationSite.LUNG_LEFT_UPPER: (_LEFT_LUNG, "left upper lung field"),
    AuscultationSite.LUNG_LEFT_LOWER: (_LEFT_LUNG, "left lower lung field"),
    AuscultationSite.LUNG_RIGHT_UPPER: (_RIGHT_LUNG, "right upper lung field"),
    AuscultationSite.LUNG_RIGHT_MIDDLE: (_RIGHT_LUNG, "right middle lung field"),
    AuscultationSite.LUNG_RIGHT_LOWER: (_RIGHT_LUNG, "right lower lung field"),
}
_FILTER_TEXT: Final[Mapping[StethoscopeFilter, str]] = {
    StethoscopeFilter.BELL: "bell",
    StethoscopeFilter.DIAPHRAGM: "diaphragm",
    StethoscopeFilter.LUNG: "lung",
    StethoscopeFilter.WIDE: "wide",
}
# Validating a Binary's base64 through the model costs as much as the bytes are
# long; the data is made by base64.b64encode, so a stand-in is validated instead.
_PLACEHOLDER_DATA: Final = "AA=="


@dataclass(frozen=True, slots=True)
class AttachmentResources:
    """The resources for one attachment, each validated (JSON dicts)."""

    binary: dict[str, Any]
    media: dict[str, Any]
    observation: dict[str, Any] | None


def binary_id(attachment_id: str) -> str:
    """The Binary's id: fixed by the attachment's id, so every upload targets one resource."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:uuid:{attachment_id}/Binary"))


def body_site(site: str) -> dict[str, Any]:
    """Media.bodySite for an auscultation site."""
    parsed = AuscultationSite(site)
    if parsed in _VALVES:
        code, display, text = _VALVES[parsed]
    else:
        (code, display), text = _LUNG_FIELDS[parsed]
    return {"coding": [{"system": SNOMED_SYSTEM, "code": code, "display": display}], "text": text}


def _check(att: Attachment) -> None:
    if canonical_uuid(att.id) != att.id:
        raise InputRejectedError(reason="an attachment id is not a lowercase UUID")
    if att.observation_id and canonical_uuid(att.observation_id) != att.observation_id:
        raise InputRejectedError(reason=f"attachment {att.id}'s observation id is not a UUID")


def binary_resource(
    att: Attachment,
    data: bytes,
    patient_id: str,
    *,
    references: References = ReferenceStyle.URN_UUID,
) -> dict[str, Any]:
    """The Binary (JSON, base64 data), its access tied to the patient via securityContext."""
    _check(att)
    if len(data) != att.size_bytes or hashlib.sha256(data).hexdigest() != att.sha256:
        raise InputRejectedError(reason=f"attachment {att.id}'s bytes do not match its digest")
    resource: dict[str, Any] = {
        "resourceType": "Binary",
        "id": binary_id(att.id),
        "contentType": att.content_type,
        "securityContext": {
            "reference": format_reference("Patient", patient_id, references),
            "type": "Patient",
        },
        "data": _PLACEHOLDER_DATA,
    }
    export_validated(Binary, resource, f"attachment {att.id}")
    resource["data"] = base64.b64encode(data).decode("ascii")
    return resource


def media_resource(
    att: Attachment,
    data: bytes,
    patient_id: str,
    *,
    references: References = ReferenceStyle.URN_UUID,
) -> dict[str, Any]:
    """The Media for ``att``, validated; ``content.url`` names the Binary per ``references``."""
    _check(att)
    display = _MEDIA_TYPE_DISPLAY[att.kind]
    # SHA-1 because R4 defines Attachment.hash as one; it is an integrity check here.
    sha1 = base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")  # noqa: S324
    content: dict[str, Any] = {
        "contentType": att.content_type,
        "url": format_reference("Binary", binary_id(att.id), references),
        "size": att.size_bytes,
        "hash": sha1,
        "creation": att.created_at,
    }
    if att.title:
        content["title"] = att.title
    resource: dict[str, Any] = {
        "resourceType": "Media",
        "id": att.id,
        "identifier": [local_identifier(att.id)],
        "status": "completed",
        "type": {
            "coding": [{"system": MEDIA_TYPE_SYSTEM, "code": att.kind.value, "display": display}],
            "text": display,
        },
        "subject": {
            "reference": format_reference("Patient", patient_id, references),
            "type": "Patient",
        },
        "encounter": {
            "reference": format_reference("Encounter", att.encounter_id, references),
            "type": "Encounter",
        },
        "createdDateTime": att.created_at,
        "issued": att.created_at,
        "deviceName": _DEVICE_NAME[att.kind],
        "content": content,
    }
    meta = att.metadata
    site = meta.get("auscultation_site")
    if isinstance(site, str):
        resource["bodySite"] = body_site(site)
    if att.kind is AttachmentKind.IMAGE:
        still_elements(resource, meta)
    sizes = (("width_px", "width"), ("height_px", "height"), ("duration_s", "duration"))
    for key, element in sizes:
        value = meta.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            resource[element] = value
    notes: list[str] = list(still_notes(meta)) if att.kind is AttachmentKind.IMAGE else []
    filt = meta.get("filter")
    if isinstance(filt, str):
        notes.append(f"Stethoscope filter: {_FILTER_TEXT[StethoscopeFilter(filt)]}")
    rate = meta.get("sample_rate_hz")
    if isinstance(rate, int) and not isinstance(rate, bool):
        notes.append(f"Sample rate: {rate} Hz")
    if notes:
        resource["note"] = [{"text": "; ".join(notes)}]
    return export_validated(Media, resource, f"attachment {att.id}")


def heart_rate_observation(
    att: Attachment,
    patient_id: str,
    *,
    references: References = ReferenceStyle.URN_UUID,
) -> dict[str, Any] | None:
    """The heart-rate Observation derived from a recording, or None when it has no estimate."""
    _check(att)
    bpm = att.heart_rate_bpm
    if bpm is None or not att.observation_id:
        return None
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": att.observation_id,
        "identifier": [local_identifier(att.observation_id)],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": OBSERVATION_CATEGORY_SYSTEM,
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ],
                "text": "Vital Signs",
            }
        ],
        "code": {
            "coding": [{"system": LOINC_SYSTEM, "code": HEART_RATE_LOINC, "display": "Heart rate"}],
            "text": "Heart rate",
        },
        "subject": {
            "reference": format_reference("Patient", patient_id, references),
            "type": "Patient",
        },
        "encounter": {
            "reference": format_reference("Encounter", att.encounter_id, references),
            "type": "Encounter",
        },
        "effectiveDateTime": att.created_at,
        "issued": att.created_at,
        "valueQuantity": {
            "value": bpm,
            "unit": "beats/minute",
            "system": UCUM_SYSTEM,
            "code": "/min",
        },
        "method": {"text": HEART_RATE_METHOD},
        "derivedFrom": [
            {"reference": format_reference("Media", att.id, references), "type": "Media"}
        ],
    }
    confidence = att.metadata.get("heart_rate_confidence")
    if isinstance(confidence, (int, float)) and not isinstance(confidence, bool):
        resource["note"] = [
            {"text": f"Automated estimate; confidence {float(confidence):.2f} (0 to 1)"}
        ]
    else:
        resource["note"] = [{"text": "Automated estimate"}]
    return export_validated(Observation, resource, f"attachment {att.id}")


def attachment_resources(
    att: Attachment,
    data: bytes,
    patient_id: str,
    *,
    references: References = ReferenceStyle.URN_UUID,
) -> AttachmentResources:
    """Binary + Media (+ Observation) for one attachment and its bytes."""
    return AttachmentResources(
        binary=binary_resource(att, data, patient_id, references=references),
        media=media_resource(att, data, patient_id, references=references),
        observation=heart_rate_observation(att, patient_id, references=references),
    )


__all__ = [
    "HEART_RATE_LOINC",
    "MEDIA_TYPE_SYSTEM",
    "AttachmentResources",
    "attachment_resources",
    "binary_id",
    "binary_resource",
    "body_site",
    "heart_rate_observation",
    "media_resource",
]
