"""FHIR Bundles shaped the way other systems write them (for the import interop tests).

Synthea's transaction Bundles: ``urn:uuid`` fullUrls, ``POST`` requests, US Core
extensions on the Patient, an ambulatory Encounter, clinical notes as
DocumentReferences typed 34117-2 (History and physical note) or 51847-2
(Evaluation + Plan note) with ``context.encounter``. Other systems send
documents with no encounter (a referral letter, a discharge summary from
elsewhere), several content entries (a PDF by url beside a text rendition), a
type given only as text, or a type from another code system.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

LOINC = "http://loinc.org"
HP_NOTE = ("34117-2", "History and physical note")
EVAL_PLAN = ("51847-2", "Evaluation + Plan note")
DISCHARGE = ("18842-5", "Discharge summary")
REFERRAL = ("57133-1", "Referral note")


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _entry(resource: dict[str, Any], full_url: str) -> dict[str, Any]:
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


def document(
    patient_url: str,
    text: str,
    loinc: tuple[str, str] | None,
    *,
    encounter_url: str | None = None,
    content: list[dict[str, Any]] | None = None,
    type_: dict[str, Any] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": patient_url},
        "date": "2024-05-02T10:15:00-04:00",
        "author": [{"reference": "urn:uuid:" + str(uuid.uuid4()), "display": "Dr. Elsewhere"}],
        "content": content
        or [
            {
                "attachment": {"contentType": "text/plain; charset=utf-8", "data": b64(text)},
                "format": {
                    "system": "http://ihe.net/fhir/ValueSet/IHE.FormatCode.codesystem",
                    "code": "urn:ihe:iti:xds:2017:mimeTypeSufficient",
                    "display": "mimeType Sufficient",
                },
            }
        ],
    }
    if type_ is not None:
        doc["type"] = type_
    elif loinc is not None:
        doc["type"] = {"coding": [{"system": LOINC, "code": loinc[0], "display": loinc[1]}]}
    doc["category"] = [
        {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                    "code": "clinical-note",
                    "display": "Clinical Note",
                }
            ]
        }
    ]
    if encounter_url is not None:
        doc["context"] = {
            "encounter": [{"reference": encounter_url}],
            "period": {"start": "2024-05-02T10:00:00-04:00", "end": "2024-05-02T10:15:00-04:00"},
        }
    return doc


def synthea_style_bundle(family: str = "Quigley") -> tuple[dict[str, Any], dict[str, str]]:
    """A transaction Bundle with one patient, one visit and five documents:

    ``hp``: 34117-2 in the visit (Synthea's shape); ``plan``: 51847-2 with no visit;
    ``referral``: 57133-1 with no visit, a PDF by url first and a text rendition
    second; ``text_only``: a type given as text alone, no visit; ``local``: a
    type from a local code system, no visit. Returns the Bundle and each
    document's fullUrl by key.
    """
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    encounter_url = f"urn:uuid:{uuid.uuid4()}"
    patient = {
        "resourceType": "Patient",
        "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
        "extension": [
            {
                "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
                "valueCode": "F",
            },
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
                "valueString": "Ankunding",
            },
        ],
        "identifier": [
            {"system": "https://github.com/synthetichealth/synthea", "value": str(uuid.uuid4())},
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "code": "MR",
                            "display": "Medical Record Number",
                        }
                    ],
                    "text": "Medical Record Number",
                },
                "system": "http://hospital.smarthealthit.org",
                "value": str(uuid.uuid4()),
            },
        ],
        "name": [{"use": "official", "family": family, "given": ["Rosalind"], "prefix": ["Ms."]}],
        "telecom": [{"system": "phone", "value": "555-0100", "use": "home"}],
        "gender": "female",
        "birthDate": "1961-07-14",
        "address": [{"line": ["1 Main St"], "city": "Springfield", "country": "US"}],
    }
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [
            {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "185345009",
                        "display": "Encounter for symptom",
                    }
                ],
                "text": "Encounter for symptom",
            }
        ],
        "subject": {"reference": patient_url, "display": f"Ms. Rosalind {family}"},
        "period": {"start": "2024-05-02T10:00:00-04:00", "end": "2024-05-02T10:15:00-04:00"},
    }
    docs = {
        "hp": document(
            patient_url, "Chief complaint: cough.", HP_NOTE, encounter_url=encounter_url
        ),
        "plan": document(patient_url, "Plan: follow up in 2 weeks.", EVAL_PLAN),
        "referral": document(
            patient_url,
            "",
            REFERRAL,
            content=[
                {"attachment": {"contentType": "application/pdf", "url": "Binary/letter-1"}},
                {
                    "attachment": {
                        "contentType": "text/plain",
                        "data": b64("Referred for spirometry."),
                    }
                },
            ],
        ),
        "text_only": document(
            patient_url, "Outside discharge summary.", None, type_={"text": "Discharge letter"}
        ),
        "local": document(
            patient_url,
            "Nurse telephone note.",
            None,
            type_={
                "coding": [
                    {"system": "urn:oid:2.16.840.1.113883.3.9999", "code": "TEL", "display": "Tel"}
                ]
            },
        ),
    }
    urls = {key: f"urn:uuid:{uuid.uuid4()}" for key in docs}
    entries = [_entry(patient, patient_url), _entry(encounter, encounter_url)]
    entries += [_entry(docs[key], urls[key]) for key in docs]
    urls["patient"] = patient_url
    urls["encounter"] = encounter_url
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}, urls
