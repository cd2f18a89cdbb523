"""FHIR Bundle export and import (storage.fhir.bundle): round trip, rejections, fuzzing."""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import ImportRejectedError, InputRejectedError
from app.records import Encounter, Note, NoteStatus, NoteType, Patient, new_id
from storage.fhir import bundle as bundle_mod
from storage.fhir import mapping
from storage.fhir.bundle import (
    ParsedImport,
    build_export_bundle,
    load_bundle_bytes,
    load_bundle_file,
    parse_import_bundle,
)

CANARY = "Zebediah"
T0 = "2024-03-01T09:30:00.125+00:00"
T1 = "2024-03-01T10:45:12.500+00:00"


def assert_no_canary(exc: BaseException) -> None:
    seen: BaseException | None = exc
    while seen is not None:
        assert CANARY not in str(seen)
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)


def reject(data: object) -> str:
    """Parse ``data`` expecting rejection; return the reason after checking it leaks nothing."""
    with pytest.raises(ImportRejectedError) as info:
        parse_import_bundle(data)
    assert_no_canary(info.value)
    return info.value.reason


def records() -> tuple[list[Patient], list[Encounter], list[Note]]:
    p1 = Patient(new_id(), CANARY, "Ann", "1980-02-29", "female", "MRN-1", T0)
    p2 = Patient(new_id(), "Okafor", "", "", "unknown", "", T1)
    e1 = Encounter(new_id(), p1.id, T0, "finished", "VR", f"{CANARY}'s cough", T1)
    e2 = Encounter(new_id(), p2.id, T1, "planned", "AMB", "", T0)
    notes = [
        Note(
            new_id(),
            e1.id,
            f"S: {CANARY} coughs 🎉",
            0,
            NoteType.PROGRESS,
            NoteStatus.SIGNED,
            T0,
            T1,
            p1.id,
        ),
        Note(new_id(), e1.id, "", 0, NoteType.CONSULT, NoteStatus.DRAFT, T1, T1, p1.id),
        Note(
            new_id(),
            e2.id,
            "line\r\nnext\x00",
            0,
            NoteType.CONSULT,
            NoteStatus.DRAFT,
            T0,
            T0,
            p2.id,
        ),
    ]
    return [p1, p2], [e1, e2], notes


def export_json() -> dict[str, Any]:
    """An exported Bundle as a fresh JSON dict (what a file would hold)."""
    return json.loads(json.dumps(build_export_bundle(*records())))


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def hand_bundle(
    patient_ref: str,
    encounter_ref: str,
    *,
    patient_entry: dict[str, Any] | None = None,
    encounter_entry: dict[str, Any] | None = None,
    bundle_type: str = "collection",
) -> dict[str, Any]:
    """A Bundle written the way another system would: server ids, no urn:uuid identifiers."""
    patient = {"resourceType": "Patient", "id": "pat1", "name": [{"family": CANARY}]}
    encounter = {
        "resourceType": "Encounter",
        "id": "enc1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": patient_ref},
        "period": {"start": "2024-01-02T03:04:05Z"},
    }
    doc = {
        "resourceType": "DocumentReference",
        "id": "doc1",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
        "subject": {"reference": patient_ref},
        "context": {"encounter": [{"reference": encounter_ref}]},
        "content": [{"attachment": {"contentType": "text/plain", "data": b64(f"{CANARY} ok")}}],
    }
    entries = [
        {**(patient_entry or {}), "resource": patient},
        {**(encounter_entry or {}), "resource": encounter},
        {"resource": doc},
    ]
    if bundle_type != "collection":
        for entry in entries:
            rtype = entry["resource"]["resourceType"]
            entry["request"] = {"method": "POST", "url": rtype}
    return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}


# --- round trip --------------------------------------------------------------------


def test_round_trip_through_bytes() -> None:
    patients, encounters, notes = records()
    exported = build_export_bundle(patients, encounters, notes)
    Bundle.model_validate(exported)
    assert exported["type"] == "collection"
    assert "timestamp" in exported
    assert [e["fullUrl"] for e in exported["entry"]] == [
        f"urn:uuid:{r.id}" for r in [*patients, *encounters, *notes]
    ]
    raw = json.dumps(exported, ensure_ascii=False).encode("utf-8")
    parsed = parse_import_bundle(load_bundle_bytes(raw))
    assert parsed == ParsedImport(tuple(patients), tuple(encounters), tuple(notes))


def test_round_trip_through_file(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(build_export_bundle(*records())), encoding="utf-8")
    parsed = parse_import_bundle(load_bundle_file(path))
    assert [p.family_name for p in parsed.patients] == [CANARY, "Okafor"]


def test_export_refuses_records_outside_the_export() -> None:
    patients, encounters, notes = records()
    with pytest.raises(InputRejectedError, match="not exported"):
        build_export_bundle(patients[:1], encounters, notes)
    with pytest.raises(InputRejectedError, match="not exported"):
        build_export_bundle(patients, encounters[:1], notes)
    with pytest.raises(InputRejectedError, match="twice"):
        build_export_bundle(patients + patients[:1], encounters, notes)


def test_empty_bundle_is_accepted() -> None:
    assert parse_import_bundle({"resourceType": "Bundle", "type": "collection"}) == ParsedImport(
        (), (), ()
    )


# --- references and bundle types that are accepted ---------------------------------


def test_relative_id_references() -> None:
    parsed = parse_import_bundle(hand_bundle("Patient/pat1", "Encounter/enc1"))
    (patient,) = parsed.patients
    (encounter,) = parsed.encounters
    (note,) = parsed.notes
    assert encounter.patient_id == patient.id
    assert note.encounter_id == encounter.id
    assert note.text == f"{CANARY} ok"
    assert note.status is NoteStatus.DRAFT  # no docStatus: never claim a signature
    # No identifier and no fullUrl: ids derived from the file, so the same file
    # maps to the same records and a changed file to new ones.
    assert uuid.UUID(patient.id).version == 5
    data = hand_bundle("Patient/pat1", "Encounter/enc1")
    assert parse_import_bundle(data).patients[0].id == patient.id
    data["entry"][0]["resource"]["name"][0]["family"] = "Other"
    assert parse_import_bundle(data).patients[0].id != patient.id


def test_relative_reference_against_full_url_tail() -> None:
    base = "https://fhir.example.org/fhir"
    data = hand_bundle(
        "Patient/123",
        f"{base}/Encounter/77/_history/2",
        patient_entry={"fullUrl": f"{base}/Patient/123"},
        encounter_entry={"fullUrl": f"{base}/Encounter/77"},
    )
    data["entry"][0]["resource"]["id"] = "123"
    data["entry"][1]["resource"]["id"] = "77"
    parsed = parse_import_bundle(data)
    # Absolute fullUrls give stable ids, so importing the same export twice matches.
    assert parsed.patients[0].id == str(uuid.uuid5(uuid.NAMESPACE_URL, f"{base}/Patient/123"))
    again = parse_import_bundle(data)
    assert [r.id for r in again.patients + again.encounters] == [
        r.id for r in parsed.patients + parsed.encounters
    ]


def test_absolute_references_matching_full_url() -> None:
    base = "https://fhir.example.org/fhir"
    data = hand_bundle(
        f"{base}/Patient/pat1",
        f"{base}/Encounter/enc1",
        patient_entry={"fullUrl": f"{base}/Patient/pat1"},
        encounter_entry={"fullUrl": f"{base}/Encounter/enc1"},
    )
    parsed = parse_import_bundle(data)
    assert parsed.notes[0].encounter_id == parsed.encounters[0].id


def test_absolute_reference_to_another_server_does_not_resolve() -> None:
    data = hand_bundle("Patient/pat1", "https://other.example.org/fhir/Encounter/enc1")
    assert reject(data) == "entry 2: DocumentReference.context.encounter does not resolve"


def test_urn_uuid_full_urls_and_identifiers_give_local_ids() -> None:
    pid, eid = str(uuid.uuid4()), str(uuid.uuid4())
    data = hand_bundle(
        f"urn:uuid:{pid.upper()}",
        f"urn:uuid:{eid}",
        patient_entry={"fullUrl": f"urn:uuid:{pid}"},
        encounter_entry={"fullUrl": f"urn:uuid:{eid}"},
    )
    did = str(uuid.uuid4())
    data["entry"][2]["resource"]["identifier"] = [
        {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{did}"}
    ]
    parsed = parse_import_bundle(data)
    assert (parsed.patients[0].id, parsed.encounters[0].id, parsed.notes[0].id) == (pid, eid, did)


@pytest.mark.parametrize("bundle_type", ["batch", "transaction"])
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_batch_and_transaction_accepted(bundle_type: str, method: str) -> None:
    data = hand_bundle("Patient/pat1", "Encounter/enc1", bundle_type=bundle_type)
    for entry in data["entry"]:
        entry["request"]["method"] = method
    parsed = parse_import_bundle(data)
    assert (len(parsed.patients), len(parsed.encounters), len(parsed.notes)) == (1, 1, 1)


def test_utf8_bom_is_accepted() -> None:
    raw = b"\xef\xbb\xbf" + json.dumps({"resourceType": "Bundle", "type": "collection"}).encode()
    assert load_bundle_bytes(raw)["type"] == "collection"


# --- rejections: the file ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"resourceType": "Bundle", ', "the file is not valid JSON (line 1, column 28)"),
        (b"\xff\xfe{\x00}\x00", "the file is not UTF-8 text"),
        (f'{{"name": "{CANARY}\xe9"}}'.encode("latin-1"), "the file is not UTF-8 text"),
        (b"[1, 2]", "the top level of the file is not a JSON object"),
        (b'"Bundle"', "the top level of the file is not a JSON object"),
        (b'{"a": NaN}', "a number is out of range"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "a number is out of range"),
        (f'{{"family": "{CANARY}", "family": "x"}}'.encode(), "same key twice"),
    ],
)
def test_load_rejects_bad_files(raw: bytes, reason: str) -> None:
    with pytest.raises(ImportRejectedError) as info:
        load_bundle_bytes(raw)
    assert reason in info.value.reason
    assert_no_canary(info.value)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"a":' * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"entry": ' + b"[" * 65 + b"]" * 65 + b"}",
    ],
)
def test_load_rejects_deep_nesting_quickly(raw: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(ImportRejectedError, match="nested deeper than 64 levels"):
        load_bundle_bytes(raw)
    assert time.perf_counter() - started < 1.0


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    raw = json.dumps({"resourceType": "Bundle", "type": "collection", "x": "[" * 1000}).encode()
    assert load_bundle_bytes(raw)["x"] == "[" * 1000


def test_load_rejects_oversize(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bundle_mod, "MAX_BUNDLE_BYTES", 1024)
    raw = json.dumps({"resourceType": "Bundle", "note": "x" * 1024}).encode()
    with pytest.raises(ImportRejectedError, match="larger than"):
        load_bundle_bytes(raw)
    path = tmp_path / "big.json"
    path.write_bytes(raw)
    with pytest.raises(ImportRejectedError, match="larger than"):
        load_bundle_file(path)


def test_load_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ImportRejectedError, match="could not be read"):
        load_bundle_file(tmp_path / "missing.json")
    with pytest.raises(ImportRejectedError, match="could not be read"):
        load_bundle_file(tmp_path)


# --- rejections: the Bundle --------------------------------------------------------


def test_rejects_wrong_resource_type() -> None:
    assert reject({"resourceType": "Patient", "name": [{"family": CANARY}]}) == (
        "the file holds a resource of type Patient, not a Bundle"
    )
    assert reject({"resourceType": CANARY}) == "it is not a FHIR Bundle"


@pytest.mark.parametrize("bundle_type", ["searchset", "history", "document"])
def test_rejects_unsupported_bundle_types(bundle_type: str) -> None:
    data = export_json()
    data["type"] = bundle_type
    assert reject(data) == (
        f"Bundle.type {bundle_type} is not supported (collection, batch or transaction only)"
    )


def test_rejects_unknown_bundle_type_without_echoing_it() -> None:
    data = export_json()
    data["type"] = CANARY
    assert reject(data) == "Bundle.type is not supported (collection, batch or transaction only)"


def test_rejects_unsupported_resource_type_with_index() -> None:
    data = export_json()
    data["entry"].insert(
        2,
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": CANARY}}},
    )
    assert reject(data) == (
        "entry 2: resource type Observation is not supported "
        "(Patient, Encounter, DocumentReference, Provenance and Consent only)"
    )


def test_rejects_unknown_resource_type_without_echoing_it() -> None:
    data = export_json()
    data["entry"][0]["resource"]["resourceType"] = CANARY
    assert reject(data) == "entry 0: resourceType is missing or not a FHIR resource type"


def test_rejects_invalid_gender() -> None:
    data = export_json()
    data["entry"][0]["resource"]["gender"] = "banana"
    assert reject(data) == "entry 0: Patient.gender is not an administrative-gender code"


def test_rejects_invalid_field_naming_path_not_value() -> None:
    data = export_json()
    data["entry"][1]["resource"]["birthDate"] = f"born {CANARY}"
    assert reject(data) == "entry 1: Patient.birthDate is invalid"
    data = export_json()
    data["entry"][0]["resource"]["name"][0]["given"] = CANARY  # should be a list
    assert reject(data) == "entry 0: Patient.name[0].given is invalid"
    data = export_json()
    data["entry"][0]["resource"]["name"][0][CANARY] = "x"
    assert reject(data) == "entry 0: Patient.name[0] has an unknown element"


def test_rejects_invalid_entry_shell() -> None:
    data = export_json()
    data["entry"][0]["fullUrl"] = 5
    assert reject(data).startswith("Bundle.entry[0].fullUrl is invalid")
    data = export_json()
    data["entry"][0] = [CANARY]
    assert reject(data) == "entry 0 is not a JSON object"
    data = export_json()
    del data["entry"][0]["resource"]
    assert reject(data) == "entry 0: the entry has no resource"


def test_rejects_dangling_references() -> None:
    data = export_json()
    del data["entry"][2]  # the first encounter; the notes now at 3 and 4 point to it
    assert reject(data) == "entry 3: DocumentReference.context.encounter does not resolve"
    data = export_json()
    del data["entry"][0]
    assert reject(data) == "entry 1: Encounter.subject does not resolve"
    data = export_json()
    del data["entry"][2]["resource"]["subject"]
    assert reject(data) == "entry 2: Encounter.subject has no reference"


def test_rejects_reference_to_wrong_type() -> None:
    data = export_json()
    encounter_url = data["entry"][2]["fullUrl"]
    data["entry"][3]["resource"]["subject"]["reference"] = encounter_url
    assert reject(data) == "entry 3: Encounter.subject does not point to an entry of type Patient"


def test_rejects_note_whose_subject_differs_from_its_encounter() -> None:
    data = export_json()
    data["entry"][4]["resource"]["subject"]["reference"] = data["entry"][1]["fullUrl"]
    assert reject(data) == "entry 4: DocumentReference.subject is not the patient of its encounter"


def test_rejects_duplicate_ids() -> None:
    data = export_json()
    data["entry"].append(copy.deepcopy(data["entry"][0]))
    data["entry"][-1]["fullUrl"] = f"urn:uuid:{uuid.uuid4()}"
    assert reject(data) == "entries 0 and 7 have the same id"
    data = export_json()
    data["entry"].append(copy.deepcopy(data["entry"][0]))
    data["entry"][-1]["resource"]["identifier"][0]["value"] = f"urn:uuid:{uuid.uuid4()}"
    assert reject(data) == "entries 0 and 7 have the same fullUrl"


def test_rejects_duplicate_resource_ids() -> None:
    data = hand_bundle("Patient/pat1", "Encounter/enc1")
    data["entry"].append(copy.deepcopy(data["entry"][0]))
    assert reject(data) == "entries 0 and 3 have the same Patient id"


def test_rejects_ambiguous_relative_reference() -> None:
    data = hand_bundle(
        "Patient/9",
        "Encounter/enc1",
        patient_entry={"fullUrl": "https://a.example.org/Patient/9"},
    )
    del data["entry"][0]["resource"]["id"]
    twin = copy.deepcopy(data["entry"][0])
    twin["fullUrl"] = "https://b.example.org/Patient/9"
    data["entry"].append(twin)
    assert reject(data) == "entry 1: Encounter.subject is ambiguous (two entries match it)"


def test_rejects_bad_base64_and_non_utf8() -> None:
    data = export_json()
    data["entry"][4]["resource"]["content"][0]["attachment"]["data"] = "@@" + b64(CANARY)
    assert reject(data) == (
        "entry 4: DocumentReference.content[0].attachment.data is not valid base64"
    )
    data = export_json()
    att = data["entry"][4]["resource"]["content"][0]["attachment"]
    raw = f"{CANARY} caf\xe9".encode("latin-1")
    att.update(
        data=base64.b64encode(raw).decode(),
        size=len(raw),
        hash=base64.b64encode(hashlib.sha1(raw).digest()).decode(),
    )
    assert reject(data) == "entry 4: DocumentReference.content[0].attachment.data is not UTF-8 text"


def test_rejects_url_only_attachment() -> None:
    data = export_json()
    att = data["entry"][4]["resource"]["content"][0]["attachment"]
    del att["data"]
    att["url"] = "https://example.org/notes/1.txt"
    assert "notes by url are not supported yet" in reject(data)


def test_rejects_oversize_note(monkeypatch: pytest.MonkeyPatch) -> None:
    data = export_json()
    monkeypatch.setattr(mapping, "MAX_NOTE_TEXT_BYTES", 8)
    assert reject(data) == (
        "entry 4: DocumentReference.content[0].attachment.data is over the 8-byte note limit"
    )


def test_rejects_too_many_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_mod, "MAX_ENTRIES", 3)
    assert reject(export_json()) == "the Bundle has more than 3 entries"


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH", CANARY])
def test_rejects_other_request_methods(method: str) -> None:
    data = hand_bundle("Patient/pat1", "Encounter/enc1", bundle_type="transaction")
    data["entry"][1]["request"]["method"] = method
    reason = reject(data)
    # An unknown code is refused by the model; a known one by us. Neither is echoed.
    assert reason in {
        "entry 1: request.method is not POST or PUT",
        "Bundle.entry[1].request.method is invalid",
    }


def test_rejects_batch_entry_without_request() -> None:
    data = hand_bundle("Patient/pat1", "Encounter/enc1", bundle_type="batch")
    del data["entry"][0]["request"]
    assert reject(data) == "entry 0: request is missing (required in a batch Bundle)"


def test_rejects_non_json_values_handed_in_directly() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100_000):
        node["a"] = {}
        node = node["a"]
    assert reject(deep) == "the JSON is nested deeper than 64 levels"
    cyclic: dict[str, Any] = {"resourceType": "Bundle"}
    cyclic["self"] = cyclic
    assert reject(cyclic) == "the JSON is nested deeper than 64 levels"
    data = export_json()
    data["entry"][0]["resource"]["name"][0]["family"] = f"{CANARY}\ud800"
    assert reject(data) == "entry 0: a string is not valid Unicode (lone surrogate)"
    data = export_json()
    data["entry"][1]["resource"]["extra"] = float("nan")
    assert reject(data) == "entry 1: a number is not finite"
    data = export_json()
    data["entry"][1]["resource"]["extra"] = {CANARY}
    assert reject(data) == "entry 1: a value is not JSON data"


# --- properties --------------------------------------------------------------------

_FHIR_WORDS = st.sampled_from(
    [
        "resourceType",
        "Bundle",
        "collection",
        "batch",
        "entry",
        "resource",
        "fullUrl",
        "request",
        "method",
        "POST",
        "Patient",
        "Encounter",
        "DocumentReference",
        "reference",
        "subject",
        "urn:uuid:" + str(uuid.UUID(int=1)),
        "Patient/1",
        "",
    ]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | _FHIR_WORDS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(_FHIR_WORDS | st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_parser_only_rejects_arbitrary_json(value: object) -> None:
    try:
        result = parse_import_bundle(value)
    except ImportRejectedError:
        return
    assert isinstance(result, ParsedImport)


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {"resourceType": st.just("Bundle"), "type": st.just("collection")},
        optional={"entry": st.lists(JSON_VALUES, max_size=3)},
    )
)
def test_parser_only_rejects_arbitrary_entries(value: dict[str, Any]) -> None:
    with contextlib.suppress(ImportRejectedError):
        parse_import_bundle(value)


_BASE = export_json()


def _positions(node: object, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    children: list[tuple[Any, object]] = []
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    for key, child in children:
        found.append((*path, key))
        found.extend(_positions(child, (*path, key)))
    return found


@st.composite
def mutated_bundles(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(_BASE)
    for _ in range(draw(st.integers(1, 4))):
        positions = _positions(data)
        if not positions:
            break
        path = draw(st.sampled_from(positions))
        parent: Any = data
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["drop", "null", "replace"]))
        if action == "drop":
            del parent[path[-1]]
        else:
            parent[path[-1]] = None if action == "null" else draw(JSON_VALUES)
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_bundles())
def test_parser_only_rejects_mutated_bundles(data: dict[str, Any]) -> None:
    try:
        parse_import_bundle(data)
    except ImportRejectedError as exc:
        assert_no_canary(exc)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_loader_only_rejects_arbitrary_bytes(raw: bytes) -> None:
    with contextlib.suppress(ImportRejectedError):
        load_bundle_bytes(raw)


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_note_text_round_trips_through_a_bundle(text: str) -> None:
    patients, encounters, notes = records()
    notes[0] = Note(**{**{f: getattr(notes[0], f) for f in notes[0].__slots__}, "text": text})
    raw = json.dumps(build_export_bundle(patients, encounters, notes)).encode()
    parsed = parse_import_bundle(load_bundle_bytes(raw))
    assert parsed.notes[0].text == text
