"""Domain records <-> FHIR R4 resources (DESIGN.md §4), as plain JSON dicts.

Outgoing resources are built as plain JSON dicts and validated with the
``fhir.resources`` R4B models. Incoming resources go through
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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Final, TypeVar

import pydantic
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.encounter import Encounter as FhirEncounter
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.resource import Resource

from app.errors import ImportRejectedError, InputRejectedError
from app.records import (
    KNOWN_DOCUMENT_DISPLAYS,
    DocumentType,
    Encounter,
    Note,
    NoteStatus,
    NoteType,
    Patient,
)

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


FhirModel = FhirPatient | FhirEncounter | DocumentReference
_M = TypeVar("_M", FhirPatient, FhirEncounter, DocumentReference)


@dataclass(frozen=True, slots=True)
class ValidatedResource:
    """A resource that passed :func:`validate_resource`.

    ``model`` is the R4B model instance; conversion reads it rather than a JSON
    dump, which would cost as much again as the validation. ``note_text`` is the
    strictly decoded attachment of a DocumentReference, else ``None``.
    """

    model: FhirModel
    note_text: str | None = None

    @property
    def resource_type(self) -> str:
        return self.model.get_resource_type()


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


def _validate_model(model: type[Resource], resource: Mapping[str, Any]) -> Resource:
    """Model-validate; raises ImportRejectedError with a value-free reason."""
    name = model.get_resource_type()
    try:
        return model.model_validate(dict(resource))
    except pydantic.ValidationError as exc:
        raise _reject(describe_validation_error(exc, name)) from None
    except Exception:
        # fhir.resources lets KeyError escape for an unknown contained resourceType
        # (and may do similar elsewhere). Its text can quote the input, so it is
        # neither shown nor chained.
        raise _reject(f"{name} could not be validated") from None


def _export_validated(model: type[Resource], resource: dict[str, Any], what: str) -> dict[str, Any]:
    """``resource`` itself once its model accepts it.

    The builders emit plain JSON types only, so the dict is already what the
    model's dump would be (up to time formatting), at no extra cost.
    """
    try:
        _validate_model(model, resource)
    except ImportRejectedError as exc:
        raise InputRejectedError(reason=f"{what} cannot be exported: {exc.reason}") from None
    return resource


def export_validated(model: type[Resource], resource: dict[str, Any], what: str) -> dict[str, Any]:
    """``resource`` once ``model`` accepts it, else InputRejectedError naming ``what``."""
    return _export_validated(model, resource, what)


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


def _import_time(value: object, path: str) -> str:
    """A model's date/dateTime/instant value as a console time string.

    The models type these as datetime, but give a date for ``YYYY-MM-DD`` and
    keep partial dates (``2024``, ``2024-05``) as strings.
    """
    try:
        if isinstance(value, datetime):
            aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            return aware.astimezone(UTC).isoformat(timespec="milliseconds")
        if isinstance(value, date):
            return normalize_time(value.isoformat())
        if isinstance(value, str):
            return normalize_time(value)
    except (ValueError, OverflowError):
        # Model-valid but not representable, e.g. year 1 with a positive offset.
        pass
    raise _reject(f"{path} is not a usable time")


def _time_or_now(value: object, path: str) -> str:
    if value is None:
        return datetime.now(UTC).isoformat(timespec="milliseconds")
    return _import_time(value, path)


def _date_text(value: object) -> str:
    """Patient.birthDate as given: YYYY-MM-DD, or a partial YYYY / YYYY-MM."""
    if isinstance(value, date):
        return value.isoformat()
    return value if isinstance(value, str) else ""


def _has_coding(concept: CodeableConcept | None, system: str, codes: Iterable[str]) -> str | None:
    """The first code of ``system`` in ``concept`` that is one of ``codes``."""
    wanted = set(codes)
    for coding in (concept.coding or []) if concept is not None else []:
        if coding.system == system and coding.code in wanted:
            return coding.code
    return None


def local_id_from_reference(reference: str, resource_type: str) -> str | None:
    """The target id of ``urn:uuid:<id>`` or ``[base/]Type/<id>[/_history/v]``."""
    if reference[:9].lower() == "urn:uuid:":
        return canonical_uuid(reference[9:])
    match = _REST_REF_RE.fullmatch(reference)
    if match and match["type"] == resource_type:
        return match["id"]
    return None


def identifier_uuid(identifiers: Iterable[Identifier] | None) -> str | None:
    """The local id carried by a ``urn:ietf:rfc:3986`` ``urn:uuid:`` identifier.

    Raises ImportRejectedError if such an identifier is not a UUID, or if the
    resource carries two different ones (its identity would be ambiguous).
    """
    found: str | None = None
    for i, ident in enumerate(identifiers or []):
        value = ident.value
        if ident.system != IDENTIFIER_SYSTEM or value is None or value[:9].lower() != "urn:uuid:":
            continue  # an RFC 3986 URI that is not a urn:uuid names no local record
        local = canonical_uuid(value[9:])
        if local is None:
            raise _reject(f"identifier[{i}] is a urn:uuid that is not a UUID")
        if found is not None and found != local:
            raise _reject("the resource has two different urn:uuid identifiers")
        found = local
    return found


def default_local_id(model: FhirModel) -> str:
    """Local id for a lone resource: its urn:uuid identifier, else its ``id``."""
    local = identifier_uuid(model.identifier)
    if local is not None:
        return local
    if model.id is not None:
        return model.id
    raise _reject("the resource has neither a urn:uuid identifier nor an id")


# --- records -> FHIR -----------------------------------------------------------------


def patient_to_fhir(p: Patient, mrn_system: str = "") -> dict[str, Any]:
    """The Patient resource for ``p``, validated; InputRejectedError if it cannot be one.

    ``mrn_system``: the MRN identifier system IT configures (sync matches patients by it).
    """
    return _export_validated(FhirPatient, patient_resource(p, mrn_system), f"patient {p.id}")


def patient_resource(p: Patient, mrn_system: str = "") -> dict[str, Any]:
    """Like :func:`patient_to_fhir` without the model validation (the caller validates)."""
    _check_export_id("patient", p.id)
    identifiers: list[dict[str, Any]] = [local_identifier(p.id)]
    if p.mrn:
        mrn: dict[str, Any] = {
            "use": "usual",
            "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "MR"}]},
        }
        if mrn_system:
            mrn["system"] = mrn_system
        mrn["value"] = p.mrn
        identifiers.append(mrn)
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
    return resource


def encounter_to_fhir(
    e: Encounter, *, references: References = ReferenceStyle.URN_UUID
) -> dict[str, Any]:
    """The Encounter resource for ``e``, validated, its subject written per ``references``."""
    resource = encounter_resource(e, references=references)
    return _export_validated(FhirEncounter, resource, f"encounter {e.id}")


def encounter_resource(
    e: Encounter, *, references: References = ReferenceStyle.URN_UUID
) -> dict[str, Any]:
    """Like :func:`encounter_to_fhir` without the model validation."""
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
    return resource


def note_to_document_reference(
    n: Note, patient_id: str, *, references: References = ReferenceStyle.URN_UUID
) -> dict[str, Any]:
    """The DocumentReference for ``n`` (text inline as base64), validated."""
    resource = document_reference_resource(n, patient_id, references=references)
    return _export_validated(DocumentReference, resource, f"note {n.id}")


def document_reference_resource(
    n: Note, patient_id: str, *, references: References = ReferenceStyle.URN_UUID
) -> dict[str, Any]:
    """Like :func:`note_to_document_reference` without the model validation."""
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
        "subject": {
            "reference": format_reference("Patient", patient_id, references),
            "type": "Patient",
        },
        "date": n.updated_at,
        "content": [{"attachment": attachment}],
    }
    document_type = _document_type_concept(n.note_type)
    if document_type:
        resource["type"] = document_type
    # A document without a visit (from another system) has no context.encounter.
    if n.encounter_id is not None:
        resource["context"] = {
            "encounter": [
                {
                    "reference": format_reference("Encounter", n.encounter_id, references),
                    "type": "Encounter",
                }
            ]
        }
    return resource


def _document_type_concept(kind: DocumentType) -> dict[str, Any]:
    """DocumentReference.type for a note's type, as it came (empty parts left out)."""
    coding: dict[str, str] = {}
    if kind.system:
        coding["system"] = kind.system
    if kind.code:
        coding["code"] = kind.code
    if kind.display:
        coding["display"] = kind.display
    concept: dict[str, Any] = {}
    if kind.code:
        concept["coding"] = [coding]
    if kind.display:
        concept["text"] = kind.display
    return concept


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
    # FHIR JSON has no null members, and the models let a null through even for a
    # required element (then typed as present): drop them, so "missing" is reported.
    resource = _without_nulls(resource, 1)
    model = _validate_model(_MODELS[resource_type], resource)
    if isinstance(model, FhirPatient):
        if model.gender is not None and model.gender not in ADMINISTRATIVE_GENDERS:
            raise _reject("Patient.gender is not an administrative-gender code")
        return ValidatedResource(model)
    if isinstance(model, FhirEncounter):
        _check_encounter(model)
        return ValidatedResource(model)
    assert isinstance(model, DocumentReference)
    return ValidatedResource(model, _check_document_reference(model, resource))


_MAX_RESOURCE_DEPTH: Final = 64


def _without_nulls(node: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """A copy of ``node`` without null object members (nulls in lists stay)."""
    if depth > _MAX_RESOURCE_DEPTH:
        raise _reject(f"the resource is nested deeper than {_MAX_RESOURCE_DEPTH} levels")
    result: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, Mapping):
            result[key] = _without_nulls(value, depth + 1)
        elif isinstance(value, list):
            result[key] = _list_without_nulls(value, depth + 1)
        elif value is not None:
            result[key] = value
    return result


def _list_without_nulls(items: list[Any], depth: int) -> list[Any]:
    if depth > _MAX_RESOURCE_DEPTH:
        raise _reject(f"the resource is nested deeper than {_MAX_RESOURCE_DEPTH} levels")
    return [
        _without_nulls(item, depth + 1)
        if isinstance(item, Mapping)
        else _list_without_nulls(item, depth + 1)
        if isinstance(item, list)
        else item
        for item in items
    ]


def _check_encounter(model: FhirEncounter) -> None:
    if model.status not in ENCOUNTER_STATUSES:
        raise _reject("Encounter.status is not an encounter-status code")
    cls = model.class_fhir
    if cls.system != ACT_CODE_SYSTEM or cls.code not in ENCOUNTER_CLASSES:
        raise _reject("Encounter.class is not a v3-ActCode encounter class")
    if model.period is None or model.period.start is None:
        # The console orders its worklist by start; a visit without one cannot be shown.
        raise _reject("Encounter.period.start is missing")


def _check_document_reference(model: DocumentReference, raw: Mapping[str, Any]) -> str:
    if model.status != "current":
        raise _reject("DocumentReference.status is not current (superseded notes are not imported)")
    if model.docStatus is not None and model.docStatus not in _NOTE_STATUS_BY_DOC_STATUS:
        raise _reject("DocumentReference.docStatus is not preliminary, final or amended")
    if model.subject is None or model.subject.reference is None:
        raise _reject("DocumentReference.subject is missing")
    # No encounter: a document kept under its patient (issue 14). Several: the console
    # files a note under one visit, and picking one would be a guess.
    encounters = model.context.encounter if model.context is not None else None
    if encounters is not None and len(encounters) > 1:
        raise _reject("DocumentReference.context.encounter holds more than one reference")
    if encounters and encounters[0].reference is None:
        raise _reject("DocumentReference.context.encounter[0].reference is missing")
    if not model.content:
        raise _reject("DocumentReference.content is missing")
    _check_document_type(document_type_of(model))
    return _attachment_text(model, raw)


MAX_DOCUMENT_TYPE_CHARS: Final = 1024


def _check_document_type(kind: DocumentType) -> None:
    for value in (kind.system, kind.code, kind.display):
        if len(value) > MAX_DOCUMENT_TYPE_CHARS or any(ord(c) < 32 for c in value):
            raise _reject(
                f"DocumentReference.type is longer than {MAX_DOCUMENT_TYPE_CHARS} characters "
                "or not one line"
            )


def document_type_of(model: DocumentReference) -> DocumentType:
    """The note type of a DocumentReference, kept as it came: its LOINC coding, else its
    first coding with a code, else its text alone (an empty type when it has none)."""
    concept = model.type
    codings = [c for c in (concept.coding or []) if c.code] if concept is not None else []
    chosen = next((c for c in codings if c.system == LOINC_SYSTEM), None) or next(
        iter(codings), None
    )
    text = (concept.text or "") if concept is not None else ""
    if chosen is None:
        return DocumentType(code="", system="", display=text)
    system, code = chosen.system or "", chosen.code or ""
    display = chosen.display or text or KNOWN_DOCUMENT_DISPLAYS.get((system, code), "")
    return DocumentType(code=code, system=system, display=display)


def _raw_attachment_data(raw: Mapping[str, Any], index: int) -> object:
    # Only called after model validation, so content[index].attachment exists.
    content = raw.get("content")
    item = content[index] if isinstance(content, list) and len(content) > index else None
    attachment = item.get("attachment") if isinstance(item, Mapping) else None
    return attachment.get("data") if isinstance(attachment, Mapping) else None


def _text_content_index(model: DocumentReference) -> int:
    """The content entry the console stores: the first text/plain (UTF-8) one with data.

    Other systems often send a document twice, e.g. a PDF by url and a text
    rendition; the console keeps the text. Without data, the first text/plain
    entry is still chosen, so that its own problem (a url only) is reported.
    """
    texts = [
        i
        for i, item in enumerate(model.content)
        if item.attachment.contentType is None or _is_utf8_text_plain(item.attachment.contentType)
    ]
    if not texts:
        raise _reject(
            "DocumentReference.content has no content the console can store: contentType "
            "is not supported (text/plain in UTF-8 only)"
        )
    with_data = [i for i in texts if model.content[i].attachment.data is not None]
    return with_data[0] if with_data else texts[0]


def _attachment_text(model: DocumentReference, raw: Mapping[str, Any]) -> str:
    index = _text_content_index(model)
    where = f"DocumentReference.content[{index}].attachment"
    attachment = model.content[index].attachment
    # The models decode base64 leniently (they skip stray characters), so the
    # string from the input is decoded here, strictly.
    encoded = _raw_attachment_data(raw, index)
    if encoded is None:
        if attachment.url is not None:
            raise _reject(f"{where} has only a url; notes by url are not supported yet")
        if attachment.size != 0:
            raise _reject(f"{where}.data is missing")
        encoded = ""  # how an empty note is exported: size 0 and no data
    if not isinstance(encoded, str):
        raise _reject(f"{where}.data is not valid base64")
    compact = _BASE64_WHITESPACE_RE.sub("", encoded)
    if len(compact) > (MAX_NOTE_TEXT_BYTES + 2) // 3 * 4:
        raise _reject(f"{where}.data is over the {MAX_NOTE_TEXT_BYTES}-byte note limit")
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise _reject(f"{where}.data is not valid base64") from None
    if len(data) > MAX_NOTE_TEXT_BYTES:
        raise _reject(f"{where}.data is over the {MAX_NOTE_TEXT_BYTES}-byte note limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _reject(f"{where}.data is not UTF-8 text") from None
    if attachment.size is not None and attachment.size != len(data):
        raise _reject(f"{where}.size does not match the data")
    # SHA-1 because R4 defines Attachment.hash as one; it is an integrity check here.
    digest = hashlib.sha1(data).digest()  # noqa: S324
    if attachment.hash is not None and attachment.hash != digest:
        raise _reject(f"{where}.hash does not match the data")
    return text


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
    resource: Mapping[str, Any] | ValidatedResource, model_type: type[_M]
) -> tuple[_M, ValidatedResource]:
    valid = resource if isinstance(resource, ValidatedResource) else validate_resource(resource)
    if not isinstance(valid.model, model_type):
        raise _reject(f"the resource is not of type {model_type.get_resource_type()}")
    return valid.model, valid


def patient_from_fhir(
    resource: Mapping[str, Any] | ValidatedResource, *, local_id: str | None = None
) -> Patient:
    """A Patient record; ``local_id`` defaults to the urn:uuid identifier, else ``id``."""
    model, _ = _as_validated(resource, FhirPatient)
    family = given = ""
    names = model.name or []
    # Prefer the official name, as the console writes it; else the first.
    name = next((n for n in names if n.use == "official"), names[0] if names else None)
    if name is not None:
        family = name.family or ""
        # A null in a primitive list only lines a value up with its extension.
        given = " ".join(g for g in name.given or [] if g is not None)
    mrn = next(
        (
            ident.value
            for ident in model.identifier or []
            if ident.value is not None and _has_coding(ident.type, IDENTIFIER_TYPE_SYSTEM, ["MR"])
        ),
        "",
    )
    return Patient(
        id=local_id if local_id is not None else default_local_id(model),
        family_name=family,
        given_name=given,
        birth_date=_date_text(model.birthDate),
        gender=model.gender or "unknown",
        mrn=mrn,
        updated_at=_time_or_now(
            model.meta.lastUpdated if model.meta else None, "Patient.meta.lastUpdated"
        ),
    )


def encounter_from_fhir(
    resource: Mapping[str, Any] | ValidatedResource,
    *,
    patient_id: str | None = None,
    local_id: str | None = None,
) -> Encounter:
    """An Encounter record; ``patient_id`` defaults to the id in ``subject``."""
    model, _ = _as_validated(resource, FhirEncounter)
    if patient_id is None:
        ref = model.subject.reference if model.subject is not None else None
        patient_id = local_id_from_reference(ref, "Patient") if ref is not None else None
        if patient_id is None:
            raise _reject("Encounter.subject is not a Patient reference")
    reason = ""
    for concept in model.reasonCode or []:
        text = concept.text or next((c.display for c in concept.coding or [] if c.display), None)
        if text:
            reason = text
            break
    assert model.period is not None  # validate_resource requires period.start
    return Encounter(
        id=local_id if local_id is not None else default_local_id(model),
        patient_id=patient_id,
        start=_import_time(model.period.start, "Encounter.period.start"),
        status=model.status or "unknown",
        encounter_class=model.class_fhir.code or "",
        reason=reason,
        updated_at=_time_or_now(
            model.meta.lastUpdated if model.meta else None, "Encounter.meta.lastUpdated"
        ),
    )


def note_from_document_reference(
    resource: Mapping[str, Any] | ValidatedResource,
    *,
    encounter_id: str | None = None,
    local_id: str | None = None,
    patient_id: str | None = None,
) -> Note:
    """A Note record with ``version=0``: the store assigns real versions.

    ``encounter_id`` and ``patient_id`` default to the ids in ``context.encounter``
    and ``subject``; a DocumentReference without ``context.encounter`` gives a note
    with no visit (``encounter_id`` None), kept under its patient.
    """
    model, valid = _as_validated(resource, DocumentReference)
    encounters = model.context.encounter if model.context is not None else None
    if encounter_id is None and encounters:
        ref = encounters[0].reference
        encounter_id = local_id_from_reference(ref, "Encounter") if ref is not None else None
        if encounter_id is None:
            raise _reject("DocumentReference.context.encounter is not an Encounter reference")
    if patient_id is None:
        ref = model.subject.reference if model.subject is not None else None
        patient_id = local_id_from_reference(ref, "Patient") if ref is not None else None
        if patient_id is None:
            raise _reject("DocumentReference.subject is not a Patient reference")
    last_updated = model.meta.lastUpdated if model.meta else None
    updated = _time_or_now(model.date or last_updated, "DocumentReference.date")
    index = _text_content_index(model)
    creation = model.content[index].attachment.creation
    return Note(
        id=local_id if local_id is not None else default_local_id(model),
        encounter_id=encounter_id,
        text=valid.note_text or "",
        version=0,
        note_type=document_type_of(model),
        status=_NOTE_STATUS_BY_DOC_STATUS[model.docStatus or "preliminary"],
        created_at=(
            _import_time(creation, f"DocumentReference.content[{index}].attachment.creation")
            if creation is not None
            else updated
        ),
        updated_at=updated,
        patient_id=patient_id,
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
    "document_reference_resource",
    "document_type_of",
    "encounter_from_fhir",
    "encounter_resource",
    "encounter_to_fhir",
    "export_validated",
    "format_reference",
    "identifier_uuid",
    "local_id_from_reference",
    "local_identifier",
    "normalize_time",
    "note_from_document_reference",
    "note_to_document_reference",
    "patient_from_fhir",
    "patient_resource",
    "patient_to_fhir",
    "validate_resource",
]
