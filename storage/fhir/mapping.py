"""Domain records <-> FHIR R4 resources (DESIGN.md §4), as plain JSON dicts.

Outgoing resources are built as dicts, validated with the ``fhir.resources``
R4B models and returned as their JSON dump. Incoming resources go through
:func:`validate_resource`, which runs the same models plus the checks the
models leave out (code values, strict base64, the text encoding), and the
``*_from_fhir`` functions turn the result into records.

Every error text names resource types, element paths and local ids only, never
an element's value: values may be patient data (DESIGN.md §7).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import pydantic
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.encounter import Encounter as FhirEncounter
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.resource import Resource

from app.errors import ImportRejectedError, InputRejectedError
from app.records import Encounter, Note, NoteStatus, NoteType, Patient

IDENTIFIER_SYSTEM: Final = "urn:ietf:rfc:3986"
LOINC_SYSTEM: Final = "http://loinc.org"
ACT_CODE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
IDENTIFIER_TYPE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
NOTE_CONTENT_TYPE: Final = "text/plain; charset=utf-8"

#: Largest note text, in UTF-8 bytes, that is exported or imported.
MAX_NOTE_TEXT_BYTES: Final = 10 * 1024 * 1024

ADMINISTRATIVE_GENDERS: Final = frozenset({"male", "female", "other", "unknown"})
ENCOUNTER_STATUSES: Final = frozenset(
    {
        "planned",
        "arrived",
        "triaged",
        "in-progress",
        "onleave",
        "finished",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)
# The v3 ActEncounterCode value set that R4B binds Encounter.class to (extensible).
ENCOUNTER_CLASSES: Final[Mapping[str, str]] = {
    "AMB": "ambulatory",
    "VR": "virtual",
    "EMER": "emergency",
    "FLD": "field",
    "HH": "home health",
    "IMP": "inpatient encounter",
    "ACUTE": "inpatient acute",
    "NONAC": "inpatient non-acute",
    "OBSENC": "observation encounter",
    "PRENC": "pre-admission",
    "SS": "short stay",
}
NOTE_TYPES_BY_LOINC: Final[Mapping[str, NoteType]] = {t.loinc: t for t in NoteType}
_DOC_STATUS_BY_NOTE_STATUS: Final[Mapping[NoteStatus, str]] = {
    NoteStatus.DRAFT: "preliminary",
    NoteStatus.SIGNED: "final",
}
# "amended" is a final document that was changed after signing: still signed.
_NOTE_STATUS_BY_DOC_STATUS: Final[Mapping[str, NoteStatus]] = {
    "preliminary": NoteStatus.DRAFT,
    "final": NoteStatus.SIGNED,
    "amended": NoteStatus.SIGNED,
}

SUPPORTED_RESOURCE_TYPES: Final = ("Patient", "Encounter", "DocumentReference")
_MODELS: Final[Mapping[str, type[Resource]]] = {
    "Patient": FhirPatient,
    "Encounter": FhirEncounter,
    "DocumentReference": DocumentReference,
}

_UUID_RE: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_FHIR_ID_RE: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# "Patient/abc", "Patient/abc/_history/2" and absolute forms ending like that.
_REST_REF_RE: Final = re.compile(
    r"(?:.*/)?(?P<type>[A-Z][A-Za-z]{1,63})/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/[A-Za-z0-9\-.]{1,64})?"
)
# Path segments we are willing to print: element names defined by the models.
_ELEMENT_NAME_RE: Final = re.compile(r"_?[A-Za-z][A-Za-z0-9_]{0,63}")
_BASE64_WHITESPACE_RE: Final = re.compile(r"[ \t\r\n]+")


class ReferenceStyle(StrEnum):
    """How outgoing references name their target."""

    #: ``urn:uuid:<id>``: inside a Bundle whose entries have ``fullUrl: urn:uuid:<id>``.
    URN_UUID = "urn_uuid"
    #: ``Patient/<id>``: relative REST references, for a server that knows the ids.
    RELATIVE = "relative"


#: ``(resource_type, local_id) -> reference`` for callers (sync) that map local
#: ids to server ids themselves.
ReferenceFormatter = Callable[[str, str], str]
References = ReferenceStyle | ReferenceFormatter


@dataclass(frozen=True, slots=True)
class ValidatedResource:
    """A resource that passed :func:`validate_resource`.

    ``data`` is the model's JSON dump (times and base64 normalised); ``note_text``
    is the decoded attachment of a DocumentReference, else ``None``.
    """

    resource_type: str
    data: dict[str, Any]
    note_text: str | None = None


# --- helpers shared by both directions -------------------------------------------------


def format_reference(resource_type: str, local_id: str, references: References) -> str:
    if isinstance(references, ReferenceStyle):
        if references is ReferenceStyle.URN_UUID:
            return f"urn:uuid:{local_id}"
        return f"{resource_type}/{local_id}"
    return references(resource_type, local_id)


def local_identifier(local_id: str) -> dict[str, str]:
    """The identifier that carries a record's identity to every server."""
    return {"system": IDENTIFIER_SYSTEM, "value": f"urn:uuid:{local_id}"}


def canonical_uuid(value: str) -> str | None:
    """``value`` as a lowercase hyphenated UUID, or ``None`` if it is not one."""
    if not _UUID_RE.fullmatch(value):
        return None
    return value.lower()


def _reject(reason: str) -> ImportRejectedError:
    return ImportRejectedError(reason=reason)


def describe_validation_error(exc: pydantic.ValidationError, resource_type: str) -> str:
    """Summarise a model error as ``Type.path is invalid`` without any input value.

    pydantic's own text quotes the input, so only ``loc`` and ``type`` are used.
    For an unknown element the last ``loc`` item is the key from the file, which
    is dropped for the same reason.
    """
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if not errors:
        return f"{resource_type} is invalid"
    first = errors[0]
    loc = list(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden" and loc:
        loc.pop()
    path = resource_type + _render_path(loc)
    if kind == "extra_forbidden":
        text = f"{path} has an unknown element"
    elif kind == "missing" or kind.endswith(".missing"):
        text = f"{path} is missing"
    else:
        text = f"{path} is invalid"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problems)"
    return text


def _render_path(loc: list[int | str]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item != "root" and _ELEMENT_NAME_RE.fullmatch(item):
            parts.append(f".{item}")
        # Anything else is a pydantic union tag such as "function-after[...]": noise.
    return "".join(parts)


def _validate_model(model: type[Resource], resource: Mapping[str, Any]) -> dict[str, Any]:
    """Model-validate and dump; raises ImportRejectedError with a value-free reason."""
    name = model.get_resource_type()
    try:
        return model.model_validate(dict(resource)).model_dump(mode="json", exclude_none=True)
    except pydantic.ValidationError as exc:
        raise _reject(describe_validation_error(exc, name)) from None
    except Exception:
        # fhir.resources lets KeyError escape for an unknown contained resourceType
        # (and may do similar elsewhere). Its text can quote the input, so it is
        # neither shown nor chained.
        raise _reject(f"{name} could not be validated") from None


def _export_validated(model: type[Resource], resource: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        return _validate_model(model, resource)
    except ImportRejectedError as exc:
        raise InputRejectedError(reason=f"{what} cannot be exported: {exc.reason}") from None


def _check_export_id(kind: str, local_id: str) -> None:
    # The identifier is urn:uuid:<id>, so the id must be a canonical UUID.
    if canonical_uuid(local_id) != local_id:
        raise InputRejectedError(reason=f"a {kind} id is not a lowercase UUID")


def normalize_time(value: str) -> str:
    """A FHIR date/dateTime/instant as this console's UTC millisecond string.

    Partial dates become midnight UTC on the first day they cover; times without
    a zone (invalid FHIR, refused by the models) are read as UTC.
    """
    if len(value) == 4:
        value += "-01-01"
    elif len(value) == 7:
        value += "-01"
    if len(value) == 10:
        value += "T00:00:00+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="milliseconds")


def _import_time(value: str, path: str) -> str:
    try:
        return normalize_time(value)
    except (ValueError, OverflowError):
        # Model-valid but not representable, e.g. year 1 with a positive offset.
        raise _reject(f"{path} is not a usable time") from None


def _time_or_now(value: object, path: str) -> str:
    if isinstance(value, str):
        return _import_time(value, path)
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _codings(concept: object) -> list[Mapping[str, Any]]:
    if not isinstance(concept, Mapping):
        return []
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return []
    return [c for c in codings if isinstance(c, Mapping)]


def _reference_of(element: object) -> str | None:
    if isinstance(element, Mapping):
        ref = element.get("reference")
        if isinstance(ref, str):
            return ref
    return None


def local_id_from_reference(reference: str, resource_type: str) -> str | None:
    """The target id of ``urn:uuid:<id>`` or ``[base/]Type/<id>[/_history/v]``."""
    if reference[:9].lower() == "urn:uuid:":
        return canonical_uuid(reference[9:])
    match = _REST_REF_RE.fullmatch(reference)
    if match and match["type"] == resource_type:
        return match["id"]
    return None


def identifier_uuid(resource: Mapping[str, Any]) -> str | None:
    """The local id carried by a ``urn:ietf:rfc:3986`` ``urn:uuid:`` identifier.

    Raises ImportRejectedError if such an identifier is not a UUID, or if the
    resource carries two different ones (its identity would be ambiguous).
    """
    found: str | None = None
    identifiers = resource.get("identifier")
    for i, ident in enumerate(identifiers if isinstance(identifiers, list) else []):
        if not isinstance(ident, Mapping) or ident.get("system") != IDENTIFIER_SYSTEM:
            continue
        value = ident.get("value")
        if not isinstance(value, str) or value[:9].lower() != "urn:uuid:":
            continue  # an RFC 3986 URI that is not a urn:uuid names no local record
        local = canonical_uuid(value[9:])
        if local is None:
            raise _reject(f"identifier[{i}] is a urn:uuid that is not a UUID")
        if found is not None and found != local:
            raise _reject("the resource has two different urn:uuid identifiers")
        found = local
    return found


def default_local_id(resource: Mapping[str, Any]) -> str:
    """Local id for a lone resource: its urn:uuid identifier, else its ``id``."""
    local = identifier_uuid(resource)
    if local is not None:
        return local
    rid = resource.get("id")
    if isinstance(rid, str):
        return rid
    raise _reject("the resource has neither a urn:uuid identifier nor an id")


# --- records -> FHIR -----------------------------------------------------------------


def patient_to_fhir(p: Patient) -> dict[str, Any]:
    _check_export_id("patient", p.id)
    identifiers: list[dict[str, Any]] = [local_identifier(p.id)]
    if p.mrn:
        identifiers.append(
            {
                "use": "usual",
                "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "MR"}]},
                "value": p.mrn,
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": p.id,
        "meta": {"lastUpdated": p.updated_at},
        "identifier": identifiers,
    }
    # FHIR forbids empty strings, so empty record fields are left out.
    name: dict[str, Any] = {}
    if p.family_name:
        name["family"] = p.family_name
    if p.given_name:
        name["given"] = [p.given_name]
    if name:
        resource["name"] = [{"use": "official", **name}]
    if p.gender not in ADMINISTRATIVE_GENDERS:
        raise InputRejectedError(
            reason=f"patient {p.id} cannot be exported: Patient.gender is not an "
            "administrative-gender code"
        )
    resource["gender"] = p.gender
    if p.birth_date:
        resource["birthDate"] = p.birth_date
    return _export_validated(FhirPatient, resource, f"patient {p.id}")


def encounter_to_fhir(
    e: Encounter, *, references: References = ReferenceStyle.URN_UUID
) -> dict[str, Any]:
    _check_export_id("encounter", e.id)
    what = f"encounter {e.id}"
    if e.status not in ENCOUNTER_STATUSES:
        raise InputRejectedError(
            reason=f"{what} cannot be exported: Encounter.status is not an encounter-status code"
        )
    if e.encounter_class not in ENCOUNTER_CLASSES:
        raise InputRejectedError(
            reason=f"{what} cannot be exported: Encounter.class is not a v3-ActCode encounter class"
        )
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": e.id,
        "meta": {"lastUpdated": e.updated_at},
        "identifier": [local_identifier(e.id)],
        "status": e.status,
        "class": {
            "system": ACT_CODE_SYSTEM,
            "code": e.encounter_class,
            "display": ENCOUNTER_CLASSES[e.encounter_class],
        },
        "subject": {
            "reference": format_reference("Patient", e.patient_id, references),
            "type": "Patient",
        },
        "period": {"start": e.start},
    }
    if e.reason:
        resource["reasonCode"] = [{"text": e.reason}]
    return _export_validated(FhirEncounter, resource, what)


def note_to_document_reference(
    n: Note, patient_id: str, *, references: References = ReferenceStyle.URN_UUID
) -> dict[str, Any]:
    _check_export_id("note", n.id)
    what = f"note {n.id}"
    try:
        raw = n.text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputRejectedError(
            reason=f"{what} cannot be exported: its text is not valid Unicode"
        ) from None
    if len(raw) > MAX_NOTE_TEXT_BYTES:
        raise InputRejectedError(
            reason=f"{what} cannot be exported: its text is over {MAX_NOTE_TEXT_BYTES} bytes"
        )
    attachment: dict[str, Any] = {
        "contentType": NOTE_CONTENT_TYPE,
        # SHA-1 because R4 defines Attachment.hash as one; it is an integrity check here.
        "hash": base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii"),  # noqa: S324
        "size": len(raw),
        "creation": n.created_at,
    }
    # Empty strings are invalid FHIR JSON: an empty note is size 0 with no data.
    if raw:
        attachment["data"] = base64.b64encode(raw).decode("ascii")
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": n.id,
        "meta": {"lastUpdated": n.updated_at},
        "identifier": [local_identifier(n.id)],
        "status": "current",
        "docStatus": _DOC_STATUS_BY_NOTE_STATUS[n.status],
        "type": {
            "coding": [
                {"system": LOINC_SYSTEM, "code": n.note_type.loinc, "display": n.note_type.display}
            ],
            "text": n.note_type.display,
        },
        "subject": {
            "reference": format_reference("Patient", patient_id, references),
            "type": "Patient",
        },
        "date": n.updated_at,
        "content": [{"attachment": attachment}],
        "context": {
            "encounter": [
                {
                    "reference": format_reference("Encounter", n.encounter_id, references),
                    "type": "Encounter",
                }
            ]
        },
    }
    return _export_validated(DocumentReference, resource, what)


# --- FHIR -> records -----------------------------------------------------------------


def validate_resource(resource: object) -> ValidatedResource:
    """Check an incoming Patient, Encounter or DocumentReference.

    Runs the R4B model and then what the models do not check: code values the
    records depend on, strict base64 and UTF-8 for note text, hash and size.
    Raises ImportRejectedError whose reason names a path, never a value.
    """
    if not isinstance(resource, Mapping):
        raise _reject("the resource is not a JSON object")
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or resource_type not in _MODELS:
        raise _reject("the resource is not a Patient, Encounter or DocumentReference")
    data = _validate_model(_MODELS[resource_type], resource)
    if resource_type == "Patient":
        gender = data.get("gender")
        if gender is not None and gender not in ADMINISTRATIVE_GENDERS:
            raise _reject("Patient.gender is not an administrative-gender code")
        return ValidatedResource(resource_type, data)
    if resource_type == "Encounter":
        _check_encounter(data)
        return ValidatedResource(resource_type, data)
    text = _check_document_reference(data, resource)
    return ValidatedResource(resource_type, data, text)


def _check_encounter(data: Mapping[str, Any]) -> None:
    if data.get("status") not in ENCOUNTER_STATUSES:
        raise _reject("Encounter.status is not an encounter-status code")
    cls = data.get("class")
    if (
        not isinstance(cls, Mapping)
        or cls.get("system") != ACT_CODE_SYSTEM
        or cls.get("code") not in ENCOUNTER_CLASSES
    ):
        raise _reject("Encounter.class is not a v3-ActCode encounter class")
    period = data.get("period")
    if not isinstance(period, Mapping) or "start" not in period:
        # The console orders its worklist by start; a visit without one cannot be shown.
        raise _reject("Encounter.period.start is missing")


def _check_document_reference(data: Mapping[str, Any], raw_resource: Mapping[str, Any]) -> str:
    if data.get("status") != "current":
        raise _reject("DocumentReference.status is not current (superseded notes are not imported)")
    doc_status = data.get("docStatus")
    if doc_status is not None and doc_status not in _NOTE_STATUS_BY_DOC_STATUS:
        raise _reject("DocumentReference.docStatus is not preliminary, final or amended")
    if _note_type(data) is None:
        raise _reject("DocumentReference.type has no supported LOINC note code (11506-3, 11488-4)")
    if _reference_of(data.get("subject")) is None:
        raise _reject("DocumentReference.subject is missing")
    context = data.get("context")
    encounters = context.get("encounter") if isinstance(context, Mapping) else None
    if not isinstance(encounters, list) or len(encounters) != 1:
        raise _reject("DocumentReference.context.encounter must hold exactly one reference")
    if _reference_of(encounters[0]) is None:
        raise _reject("DocumentReference.context.encounter[0].reference is missing")
    content = data.get("content")
    if not isinstance(content, list) or not content:
        raise _reject("DocumentReference.content is missing")
    return _attachment_text(content[0].get("attachment"), raw_resource)


def _note_type(data: Mapping[str, Any]) -> NoteType | None:
    for coding in _codings(data.get("type")):
        code = coding.get("code")
        if coding.get("system") == LOINC_SYSTEM and isinstance(code, str):
            note_type = NOTE_TYPES_BY_LOINC.get(code)
            if note_type is not None:
                return note_type
    return None


def _attachment_text(attachment: object, raw_resource: Mapping[str, Any]) -> str:
    where = "DocumentReference.content[0].attachment"
    if not isinstance(attachment, Mapping):
        raise _reject(f"{where} is missing")
    content_type = attachment.get("contentType")
    if content_type is not None and not _is_utf8_text_plain(str(content_type)):
        raise _reject(f"{where}.contentType is not supported (text/plain in UTF-8 only)")
    # The models decode base64 leniently (they skip stray characters), so the
    # original string is decoded here, strictly.
    encoded = _raw_attachment_data(raw_resource)
    size = attachment.get("size")
    if encoded is None and "data" in attachment:
        raise _reject(f"{where}.data is not valid base64")
    if encoded is None:
        if "url" in attachment:
            raise _reject(f"{where} has only a url; notes by url are not supported yet")
        if size == 0:
            encoded = ""  # how an empty note is exported: size 0 and no data
        else:
            raise _reject(f"{where}.data is missing")
    compact = _BASE64_WHITESPACE_RE.sub("", encoded)
    if len(compact) > (MAX_NOTE_TEXT_BYTES + 2) // 3 * 4:
        raise _reject(f"{where}.data is over the {MAX_NOTE_TEXT_BYTES}-byte note limit")
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise _reject(f"{where}.data is not valid base64") from None
    if len(raw) > MAX_NOTE_TEXT_BYTES:
        raise _reject(f"{where}.data is over the {MAX_NOTE_TEXT_BYTES}-byte note limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _reject(f"{where}.data is not UTF-8 text") from None
    if size is not None and size != len(raw):
        raise _reject(f"{where}.size does not match the data")
    expected_hash = attachment.get("hash")
    if expected_hash is not None:
        digest = hashlib.sha1(raw).digest()  # noqa: S324 - R4 defines the hash as SHA-1
        try:
            given = base64.b64decode(_BASE64_WHITESPACE_RE.sub("", str(expected_hash)))
        except (binascii.Error, ValueError):
            given = b""
        if given != digest:
            raise _reject(f"{where}.hash does not match the data")
    return text


def _raw_attachment_data(raw_resource: Mapping[str, Any]) -> str | None:
    # Called only after model validation, so the shape is known to be right.
    content = raw_resource.get("content")
    if not isinstance(content, list) or not content or not isinstance(content[0], Mapping):
        return None
    attachment = content[0].get("attachment")
    if not isinstance(attachment, Mapping):
        return None
    data = attachment.get("data")
    return data if isinstance(data, str) else None


def _is_utf8_text_plain(content_type: str) -> bool:
    media_type, *params = (part.strip().lower() for part in content_type.split(";"))
    if media_type != "text/plain":
        return False
    for param in params:
        key, _, value = param.partition("=")
        if key.strip() == "charset" and value.strip().strip('"') not in {"utf-8", "utf8"}:
            return False
    return True


def _as_validated(
    resource: Mapping[str, Any] | ValidatedResource, expected: str
) -> ValidatedResource:
    valid = resource if isinstance(resource, ValidatedResource) else validate_resource(resource)
    if valid.resource_type != expected:
        raise _reject(f"the resource is not of type {expected}")
    return valid


def patient_from_fhir(
    resource: Mapping[str, Any] | ValidatedResource, *, local_id: str | None = None
) -> Patient:
    """A Patient record; ``local_id`` defaults to the urn:uuid identifier, else ``id``."""
    data = _as_validated(resource, "Patient").data
    family = given = ""
    names = [n for n in data.get("name", []) if isinstance(n, Mapping)]
    # Prefer the official name, as the console writes it; else the first.
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if name is not None:
        family = str(name.get("family", ""))
        given = " ".join(str(g) for g in name.get("given", []))
    mrn = ""
    for ident in data.get("identifier", []):
        if any(
            c.get("system") == IDENTIFIER_TYPE_SYSTEM and c.get("code") == "MR"
            for c in _codings(ident.get("type"))
        ) and isinstance(ident.get("value"), str):
            mrn = ident["value"]
            break
    return Patient(
        id=local_id if local_id is not None else default_local_id(data),
        family_name=family,
        given_name=given,
        birth_date=str(data.get("birthDate", "")),
        gender=str(data.get("gender", "unknown")),
        mrn=mrn,
        updated_at=_time_or_now(
            data.get("meta", {}).get("lastUpdated"), "Patient.meta.lastUpdated"
        ),
    )


def encounter_from_fhir(
    resource: Mapping[str, Any] | ValidatedResource,
    *,
    patient_id: str | None = None,
    local_id: str | None = None,
) -> Encounter:
    """An Encounter record; ``patient_id`` defaults to the id in ``subject``."""
    data = _as_validated(resource, "Encounter").data
    if patient_id is None:
        ref = _reference_of(data.get("subject"))
        patient_id = local_id_from_reference(ref, "Patient") if ref is not None else None
        if patient_id is None:
            raise _reject("Encounter.subject is not a Patient reference")
    reason = ""
    for concept in data.get("reasonCode", []):
        text = concept.get("text") if isinstance(concept, Mapping) else None
        if not isinstance(text, str):
            text = next((c.get("display") for c in _codings(concept) if c.get("display")), None)
        if isinstance(text, str):
            reason = text
            break
    return Encounter(
        id=local_id if local_id is not None else default_local_id(data),
        patient_id=patient_id,
        start=_import_time(str(data["period"]["start"]), "Encounter.period.start"),
        status=str(data["status"]),
        encounter_class=str(data["class"]["code"]),
        reason=reason,
        updated_at=_time_or_now(
            data.get("meta", {}).get("lastUpdated"), "Encounter.meta.lastUpdated"
        ),
    )


def note_from_document_reference(
    resource: Mapping[str, Any] | ValidatedResource,
    *,
    encounter_id: str | None = None,
    local_id: str | None = None,
) -> Note:
    """A Note record with ``version=0``: the store assigns real versions."""
    valid = _as_validated(resource, "DocumentReference")
    data = valid.data
    if encounter_id is None:
        ref = _reference_of(data["context"]["encounter"][0])
        encounter_id = local_id_from_reference(ref, "Encounter") if ref is not None else None
        if encounter_id is None:
            raise _reject("DocumentReference.context.encounter is not an Encounter reference")
    note_type = _note_type(data)
    assert note_type is not None  # validate_resource rejects notes without one
    attachment = data["content"][0]["attachment"]
    updated = _time_or_now(
        data.get("date", data.get("meta", {}).get("lastUpdated")), "DocumentReference.date"
    )
    creation = attachment.get("creation")
    return Note(
        id=local_id if local_id is not None else default_local_id(data),
        encounter_id=encounter_id,
        text=valid.note_text or "",
        version=0,
        note_type=note_type,
        status=_NOTE_STATUS_BY_DOC_STATUS[str(data.get("docStatus", "preliminary"))],
        created_at=(
            _import_time(creation, "DocumentReference.content[0].attachment.creation")
            if isinstance(creation, str)
            else updated
        ),
        updated_at=updated,
    )


__all__ = [
    "ACT_CODE_SYSTEM",
    "IDENTIFIER_SYSTEM",
    "LOINC_SYSTEM",
    "MAX_NOTE_TEXT_BYTES",
    "NOTE_CONTENT_TYPE",
    "SUPPORTED_RESOURCE_TYPES",
    "ReferenceFormatter",
    "ReferenceStyle",
    "References",
    "ValidatedResource",
    "canonical_uuid",
    "default_local_id",
    "describe_validation_error",
    "encounter_from_fhir",
    "encounter_to_fhir",
    "format_reference",
    "identifier_uuid",
    "local_id_from_reference",
    "local_identifier",
    "normalize_time",
    "note_from_document_reference",
    "note_to_document_reference",
    "patient_from_fhir",
    "patient_to_fhir",
    "validate_resource",
]
