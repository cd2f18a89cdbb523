"""Records <-> FHIR R4 resources (storage.fhir.mapping): shapes, validation, inverses."""

from __future__ import annotations

import base64
import copy
import hashlib
from typing import Any

import pytest
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.encounter import Encounter as FhirEncounter
from fhir.resources.R4B.patient import Patient as FhirPatient
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.errors import ImportRejectedError, InputRejectedError
from app.records import Encounter, Note, NoteStatus, NoteType, Patient, new_id
from storage.fhir import mapping
from storage.fhir.mapping import (
    ReferenceStyle,
    encounter_from_fhir,
    encounter_to_fhir,
    normalize_time,
    note_from_document_reference,
    note_to_document_reference,
    patient_from_fhir,
    patient_to_fhir,
    validate_resource,
)

CANARY = "Zebediah"
T0 = "2024-03-01T09:30:00.125+00:00"
T1 = "2024-03-01T10:45:12.500+00:00"


def make_patient(**kw: Any) -> Patient:
    fields: dict[str, Any] = {
        "id": new_id(),
        "family_name": CANARY,
        "given_name": "Ann Marie",
        "birth_date": "1980-02-29",
        "gender": "female",
        "mrn": "MRN-0042",
        "updated_at": T0,
    }
    return Patient(**(fields | kw))


def make_encounter(patient_id: str, **kw: Any) -> Encounter:
    fields: dict[str, Any] = {
        "id": new_id(),
        "patient_id": patient_id,
        "start": T0,
        "status": "in-progress",
        "encounter_class": "VR",
        "reason": f"{CANARY} has a cough",
        "updated_at": T1,
    }
    return Encounter(**(fields | kw))


def make_note(encounter_id: str, **kw: Any) -> Note:
    fields: dict[str, Any] = {
        "id": new_id(),
        "encounter_id": encounter_id,
        "text": f"S: {CANARY} reports a cough.\nO: T 37.1 °C\n",
        "version": 4,
        "note_type": NoteType.PROGRESS,
        "status": NoteStatus.DRAFT,
        "created_at": T0,
        "updated_at": T1,
    }
    return Note(**(fields | kw))


def assert_no_canary(exc: BaseException) -> None:
    """Neither the error nor anything a traceback would print with it holds patient data."""
    seen: BaseException | None = exc
    while seen is not None:
        assert CANARY not in str(seen)
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)


# --- records -> FHIR ---------------------------------------------------------------


def test_patient_to_fhir_shape() -> None:
    p = make_patient()
    res = patient_to_fhir(p)
    FhirPatient.model_validate(res)
    assert res["resourceType"] == "Patient"
    assert res["id"] == p.id
    assert res["identifier"][0] == {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{p.id}"}
    assert res["identifier"][1]["value"] == "MRN-0042"
    assert res["identifier"][1]["type"]["coding"][0]["code"] == "MR"
    assert res["name"] == [{"use": "official", "family": CANARY, "given": ["Ann Marie"]}]
    assert res["gender"] == "female"
    assert res["birthDate"] == "1980-02-29"


def test_patient_to_fhir_leaves_out_empty_fields() -> None:
    # FHIR JSON forbids empty strings.
    res = patient_to_fhir(make_patient(family_name="", given_name="", birth_date="", mrn=""))
    assert "name" not in res
    assert "birthDate" not in res
    assert len(res["identifier"]) == 1
    assert res["gender"] == "female"


def test_encounter_to_fhir_shape() -> None:
    p = make_patient()
    e = make_encounter(p.id, encounter_class="AMB")
    res = encounter_to_fhir(e)
    FhirEncounter.model_validate(res)
    assert res["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{e.id}"}]
    assert res["class"]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    assert res["class"]["code"] == "AMB"
    assert res["subject"]["reference"] == f"urn:uuid:{p.id}"
    assert res["status"] == "in-progress"
    assert res["reasonCode"] == [{"text": e.reason}]
    assert normalize_time(res["period"]["start"]) == T0


def test_reference_styles() -> None:
    p = make_patient()
    e = make_encounter(p.id)
    n = make_note(e.id)
    rel = encounter_to_fhir(e, references=ReferenceStyle.RELATIVE)
    assert rel["subject"]["reference"] == f"Patient/{p.id}"
    doc = note_to_document_reference(n, p.id, references=ReferenceStyle.RELATIVE)
    assert doc["subject"]["reference"] == f"Patient/{p.id}"
    assert doc["context"]["encounter"][0]["reference"] == f"Encounter/{e.id}"
    # A sync module maps local ids to server ids with its own formatter.
    custom = encounter_to_fhir(e, references=lambda rtype, local: f"{rtype}/server-{local[:8]}")
    assert custom["subject"]["reference"] == f"Patient/server-{p.id[:8]}"


@pytest.mark.parametrize(
    ("status", "doc_status"), [(NoteStatus.DRAFT, "preliminary"), (NoteStatus.SIGNED, "final")]
)
def test_note_to_document_reference_shape(status: NoteStatus, doc_status: str) -> None:
    p = make_patient()
    e = make_encounter(p.id)
    n = make_note(e.id, status=status, note_type=NoteType.CONSULT)
    res = note_to_document_reference(n, p.id)
    DocumentReference.model_validate(res)
    assert res["status"] == "current"
    assert res["docStatus"] == doc_status
    assert res["type"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "11488-4",
        "display": "Consult note",
    }
    assert res["subject"]["reference"] == f"urn:uuid:{p.id}"
    assert res["context"]["encounter"][0]["reference"] == f"urn:uuid:{e.id}"
    assert normalize_time(res["date"]) == T1
    att = res["content"][0]["attachment"]
    raw = n.text.encode("utf-8")
    assert att["contentType"] == "text/plain; charset=utf-8"
    assert base64.b64decode(att["data"]) == raw
    assert att["hash"] == base64.b64encode(hashlib.sha1(raw).digest()).decode()
    assert att["size"] == len(raw)


def test_progress_note_loinc() -> None:
    n = make_note(new_id())
    res = note_to_document_reference(n, new_id())
    assert res["type"]["coding"][0]["code"] == "11506-3"


def test_empty_note_has_size_zero_and_no_data() -> None:
    p = make_patient()
    n = make_note(new_id(), text="")
    res = note_to_document_reference(n, p.id)
    att = res["content"][0]["attachment"]
    assert "data" not in att
    assert att["size"] == 0
    assert note_from_document_reference(res).text == ""


@pytest.mark.parametrize(
    ("record", "reason_part"),
    [
        (make_patient(gender="banana"), "Patient.gender"),
        (make_patient(birth_date="29/02/1980"), "Patient.birthDate is invalid"),
        (make_patient(id="patient-1"), "id is not a lowercase UUID"),
        (make_encounter(new_id(), status="done"), "Encounter.status"),
        (make_encounter(new_id(), encounter_class="XYZ"), "Encounter.class"),
        (make_encounter(new_id(), start="yesterday"), "Encounter.period.start is invalid"),
        (make_note(new_id(), text=f"{CANARY} \ud800"), "not valid Unicode"),
    ],
)
def test_export_rejects_unmappable_records(record: object, reason_part: str) -> None:
    with pytest.raises(InputRejectedError) as info:
        if isinstance(record, Patient):
            patient_to_fhir(record)
        elif isinstance(record, Encounter):
            encounter_to_fhir(record)
        else:
            assert isinstance(record, Note)
            note_to_document_reference(record, new_id())
    assert reason_part in str(info.value)
    assert not isinstance(info.value, ImportRejectedError)
    assert_no_canary(info.value)


def test_export_rejects_oversized_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapping, "MAX_NOTE_TEXT_BYTES", 16)
    with pytest.raises(InputRejectedError, match="over 16 bytes"):
        note_to_document_reference(make_note(new_id(), text="x" * 17), new_id())


# --- FHIR -> records ---------------------------------------------------------------


def test_inverses_round_trip() -> None:
    p = make_patient()
    e = make_encounter(p.id)
    n = make_note(e.id, status=NoteStatus.SIGNED)
    assert patient_from_fhir(patient_to_fhir(p)) == p
    assert encounter_from_fhir(encounter_to_fhir(e)) == e
    back = note_from_document_reference(note_to_document_reference(n, p.id))
    assert back.version == 0  # placeholder: the store assigns versions
    assert back == Note(**{**_fields(n), "version": 0, "patient_id": p.id})


def _fields(n: Note) -> dict[str, Any]:
    return {name: getattr(n, name) for name in n.__slots__}


def test_inverses_accept_relative_and_absolute_references() -> None:
    p = make_patient()
    e = make_encounter(p.id)
    res = encounter_to_fhir(e, references=ReferenceStyle.RELATIVE)
    assert encounter_from_fhir(res).patient_id == p.id
    res["subject"]["reference"] = f"https://fhir.example.org/fhir/Patient/{p.id}/_history/3"
    assert encounter_from_fhir(res).patient_id == p.id
    assert encounter_from_fhir(res, patient_id="given").patient_id == "given"


def test_patient_from_fhir_without_identifier_uses_id() -> None:
    res = {"resourceType": "Patient", "id": "123", "name": [{"given": ["A", "B"]}]}
    p = patient_from_fhir(res)
    assert (p.id, p.given_name, p.family_name, p.gender, p.birth_date) == (
        "123",
        "A B",
        "",
        "unknown",
        "",
    )


def test_patient_from_fhir_prefers_official_name() -> None:
    res = {
        "resourceType": "Patient",
        "id": "1",
        "name": [{"use": "nickname", "family": "Nick"}, {"use": "official", "family": "Real"}],
    }
    assert patient_from_fhir(res).family_name == "Real"


def test_encounter_from_fhir_normalises_partial_start() -> None:
    res = encounter_to_fhir(make_encounter(new_id()))
    res["period"]["start"] = "2024-05"
    assert encounter_from_fhir(res).start == "2024-05-01T00:00:00.000+00:00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024", "2024-01-01T00:00:00.000+00:00"),
        ("2024-05-06", "2024-05-06T00:00:00.000+00:00"),
        ("2024-05-06T10:00:00+02:00", "2024-05-06T08:00:00.000+00:00"),
        ("2024-05-06T10:00:00.123456Z", "2024-05-06T10:00:00.123+00:00"),
    ],
)
def test_normalize_time(value: str, expected: str) -> None:
    assert normalize_time(value) == expected


def _doc() -> dict[str, Any]:
    return note_to_document_reference(make_note(new_id()), new_id())


def _set(res: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    res = copy.deepcopy(res)
    node: Any = res
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return res


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("status", "superseded", "DocumentReference.status is not current"),
        ("docStatus", "entered-in-error", "DocumentReference.docStatus"),
        ("content.0.attachment.contentType", "text/html", "contentType is not supported"),
        ("content.0.attachment.contentType", "text/plain; charset=latin-1", "contentType"),
        ("content.0.attachment.data", "aGVs!bG8=", "data is not valid base64"),
        ("content.0.attachment.data", base64.b64encode(b"\xff\xfe").decode(), "not UTF-8"),
        ("content.0.attachment.hash", base64.b64encode(b"x" * 20).decode(), "hash does not match"),
        ("content.0.attachment.size", 1, "size does not match"),
        ("content.0.attachment.data", _DELETE, "data is missing"),
        (
            "context.encounter",
            [{"reference": "Encounter/a"}, {"reference": "Encounter/b"}],
            "context.encounter holds more than one reference",
        ),
        ("type.coding.0.display", "two\nlines", "DocumentReference.type is longer"),
        ("subject", _DELETE, "DocumentReference.subject is missing"),
        ("content.0.attachment." + CANARY, 1, "attachment has an unknown element"),
        ("content", [], "DocumentReference.content is missing"),
        # The models accept a null for a required element; it must read as missing.
        ("content.0.attachment", None, "DocumentReference.content[0].attachment is missing"),
    ],
)
def test_validate_document_reference_rejects(path: str, value: Any, reason: str) -> None:
    with pytest.raises(ImportRejectedError) as info:
        validate_resource(_set(_doc(), path, value))
    assert reason in info.value.reason
    assert_no_canary(info.value)


def test_url_only_attachment_is_not_supported_yet() -> None:
    res = _set(_doc(), "content.0.attachment.data", _DELETE)
    res["content"][0]["attachment"]["url"] = "https://example.org/note.txt"
    with pytest.raises(ImportRejectedError, match="only a url; notes by url are not supported yet"):
        validate_resource(res)


def test_validate_accepts_amended_and_missing_doc_status() -> None:
    assert (
        note_from_document_reference(_set(_doc(), "docStatus", "amended")).status
        is NoteStatus.SIGNED
    )
    assert (
        note_from_document_reference(_set(_doc(), "docStatus", _DELETE)).status is NoteStatus.DRAFT
    )
    # Not FHIR JSON, but seen in the wild: a null member reads as absent.
    assert note_from_document_reference(_set(_doc(), "docStatus", None)).status is NoteStatus.DRAFT


def test_validate_accepts_base64_with_line_breaks() -> None:
    text = "line one\nline two " * 20
    data = base64.encodebytes(text.encode()).decode()  # MIME style, newline every 76 chars
    res = _set(_doc(), "content.0.attachment.data", data)
    res["content"][0]["attachment"].pop("hash")
    res["content"][0]["attachment"].pop("size")
    assert note_from_document_reference(res).text == text


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        ({"resourceType": "Patient", "gender": "banana"}, "Patient.gender"),
        ({"resourceType": "Patient", CANARY: "x"}, "Patient has an unknown element"),
        ({"resourceType": "Patient", "birthDate": CANARY}, "Patient.birthDate is invalid"),
        ({"resourceType": "Patient", "contained": [{"resourceType": CANARY}]}, "Patient"),
        (["not", "an", "object"], "not a JSON object"),
        ({"resourceType": "Observation"}, "not a Patient, Encounter or DocumentReference"),
    ],
)
def test_validate_resource_rejects_without_values(resource: object, reason: str) -> None:
    with pytest.raises(ImportRejectedError) as info:
        validate_resource(resource)
    assert reason in info.value.reason
    assert_no_canary(info.value)


def test_encounter_class_must_be_act_code() -> None:
    res = encounter_to_fhir(make_encounter(new_id()))
    res["class"]["system"] = "http://example.org/classes"
    with pytest.raises(ImportRejectedError, match="v3-ActCode"):
        encounter_from_fhir(res)


def test_wrong_resource_for_inverse() -> None:
    with pytest.raises(ImportRejectedError, match="not of type Encounter"):
        encounter_from_fhir(patient_to_fhir(make_patient()))


# --- properties --------------------------------------------------------------------

LONG_TEXTS = [
    "a" * 200_000,
    "é🎉\u200d\ufeff\x00\r\n" * 25_000,
    "".join(chr(c) for c in range(0x20, 0xD7FF, 7)) * 20,
]


@settings(max_examples=150, deadline=None)
@given(st.text())
@example(LONG_TEXTS[0])
@example(LONG_TEXTS[1])
@example(LONG_TEXTS[2])
@example("")
def test_note_text_round_trips(text: str) -> None:
    note = make_note(new_id(), text=text)
    back = note_from_document_reference(note_to_document_reference(note, new_id()))
    assert back.text == text
