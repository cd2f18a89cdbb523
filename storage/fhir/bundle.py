"""FHIR R4 Bundle export and import (DESIGN.md §3 ``import``/``export``, §4, §7).

Export writes a ``collection`` Bundle whose entries have ``fullUrl:
urn:uuid:<id>`` and reference each other by those URNs.

Import is all or nothing: :func:`load_bundle_bytes` / :func:`load_bundle_file`
turn a file into a JSON object, :func:`parse_import_bundle` turns that into
records, and any problem raises :class:`~app.errors.ImportRejectedError` before
anything is written. Rejection reasons name entry indices (0-based, as in
``Bundle.entry[3]``), resource types and element paths only, never values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import pydantic
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent as FhirConsent
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.encounter import Encounter as FhirEncounter
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.provenance import Provenance as FhirProvenance
from fhir.resources.R4B.reference import Reference

from app.errors import ImportRejectedError, InputRejectedError
from app.notes_signing import NoteSignature, SignedContent, canonical_json, verify_signature
from app.records import Attachment, Encounter, Note, Patient, utc_now
from app.visit_start import ConsentRecord
from storage.fhir.mapping import (
    SUPPORTED_RESOURCE_TYPES,
    ValidatedResource,
    canonical_uuid,
    describe_validation_error,
    document_reference_resource,
    encounter_from_fhir,
    encounter_resource,
    encounter_to_fhir,
    identifier_uuid,
    note_from_document_reference,
    note_to_document_reference,
    patient_from_fhir,
    patient_resource,
    patient_to_fhir,
    validate_resource,
)
from storage.fhir.media_mapping import attachment_resources

#: Largest import file, in bytes.
MAX_BUNDLE_BYTES: Final = 64 * 1024 * 1024
#: Deepest JSON nesting accepted. FHIR resources rarely pass 12; nested
#: extensions add a few. Far below the interpreter's recursion limit.
MAX_JSON_DEPTH: Final = 64
#: Most entries in one Bundle.
MAX_ENTRIES: Final = 100_000

IMPORT_BUNDLE_TYPES: Final = frozenset({"collection", "batch", "transaction"})
_TRANSACTIONAL_TYPES: Final = frozenset({"batch", "transaction"})
_KNOWN_BUNDLE_TYPES: Final = frozenset(
    {
        "document",
        "message",
        "transaction",
        "transaction-response",
        "batch",
        "batch-response",
        "history",
        "searchset",
        "collection",
    }
)
_IMPORT_METHODS: Final = frozenset({"POST", "PUT"})

# One JSON string (skipped) or one bracket. Possessive quantifiers keep an
# unterminated string from backtracking.
_JSON_TOKEN_RE: Final = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"|[\[\]{}]', re.DOTALL)
_LONE_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")
_RESOURCE_TYPE_NAME_RE: Final = re.compile(r"[A-Z][A-Za-z]{1,63}")
_REST_TAIL_RE: Final = re.compile(
    r"(?:.*/)?(?P<type>[A-Z][A-Za-z]{1,63})/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?P<history>/_history/[A-Za-z0-9\-.]{1,64})?"
)


@dataclass(frozen=True, slots=True)
class ParsedImport:
    """The records of an accepted Bundle, each tuple in Bundle order."""

    patients: tuple[Patient, ...]
    encounters: tuple[Encounter, ...]
    notes: tuple[Note, ...]
    #: Each signed note's signature from its Provenance, verified against the imported
    #: text (``import_problem`` says why one did not verify).
    signatures: tuple[NoteSignature, ...] = ()
    #: The visits' consents from their Consent entries.
    consents: tuple[ConsentRecord, ...] = ()
    #: Provenance and Consent entries that could not be taken, one reason each
    #: ("entry 7: ..."), values never quoted; everything else in the file still imports.
    skipped: tuple[str, ...] = ()


def _reject(reason: str) -> ImportRejectedError:
    return ImportRejectedError(reason=reason)


# --- export --------------------------------------------------------------------------


def build_export_bundle(
    patients: Iterable[Patient],
    encounters: Iterable[Encounter],
    notes: Iterable[Note],
    *,
    timestamp: str | None = None,
    attachments: Iterable[tuple[Attachment, bytes]] = (),
    signatures: Iterable[NoteSignature] = (),
    consents: Iterable[ConsentRecord] = (),
) -> dict[str, Any]:
    """A validated ``collection`` Bundle: patients, then encounters, then notes, then
    each signed note's Provenance (an addendum's DocumentReference ``relatesTo``
    ``appends`` its note), then the visits' Consents, then each attachment's Binary,
    Media and heart-rate Observation. All references are ``urn:uuid:`` fullUrls.

    Raises InputRejectedError if a record cannot be expressed in FHIR or points
    at a record that is not part of the export.
    """
    from storage.fhir.consent import consent_resource
    from storage.fhir.provenance import provenance_resource

    patients, encounters, notes = list(patients), list(encounters), list(notes)
    attachment_list = list(attachments)
    signature_list, consent_list = list(signatures), list(consents)
    signature_of = {sig.note_id: sig for sig in signature_list}
    note_ids = {n.id for n in notes}
    seen: set[str] = set()
    for record_id in (
        [r.id for r in patients]
        + [r.id for r in encounters]
        + [r.id for r in notes]
        + [a.id for a, _ in attachment_list]
        + [sig.provenance_id for sig in signature_list]
        + [c.id for c in consent_list]
    ):
        if record_id in seen:
            raise InputRejectedError(reason=f"the export holds id {record_id} twice")
        seen.add(record_id)
    patient_ids = {p.id for p in patients}
    patient_of_encounter: dict[str, str] = {}
    for e in encounters:
        if e.patient_id not in patient_ids:
            raise InputRejectedError(
                reason=f"encounter {e.id} refers to patient {e.patient_id}, which is not exported"
            )
        patient_of_encounter[e.id] = e.patient_id
    # Built unvalidated and validated once as a Bundle: validating each resource
    # and then the Bundle would double the cost of a large export.
    resources: list[dict[str, Any]] = [patient_resource(p) for p in patients]
    resources += [encounter_resource(e) for e in encounters]
    note_patients: list[str] = []
    for n in notes:
        if n.encounter_id is None:
            # A document without a visit: kept under its patient.
            patient_id = n.patient_id if n.patient_id in patient_ids else None
            if patient_id is None:
                raise InputRejectedError(
                    reason=f"note {n.id} refers to patient {n.patient_id}, which is not exported"
                )
        else:
            patient_id = patient_of_encounter.get(n.encounter_id)
        if patient_id is None:
            raise InputRejectedError(
                reason=f"note {n.id} refers to encounter {n.encounter_id}, which is not exported"
            )
        note_patients.append(patient_id)
        resources.append(document_reference_resource(n, patient_id))
        signed = signature_of.get(n.id)
        appends = signed.appends if signed is not None else None
        if appends is not None:
            if appends not in note_ids:
                raise InputRejectedError(
                    reason=f"addendum {n.id} appends to note {appends}, which is not exported"
                )
            resources[-1]["relatesTo"] = [
                {
                    "code": "appends",
                    "target": {"reference": f"urn:uuid:{appends}", "type": "DocumentReference"},
                }
            ]
    for sig in signature_list:
        if sig.note_id not in note_ids:
            raise InputRejectedError(
                reason=f"the signature of note {sig.note_id} is exported without its note"
            )
        resources.append(provenance_resource(sig, "", target_reference=f"urn:uuid:{sig.note_id}"))
    for c in consent_list:
        patient_id = patient_of_encounter.get(c.encounter_id)
        if patient_id is None:
            raise InputRejectedError(
                reason=f"consent {c.id} refers to encounter {c.encounter_id}, which is not exported"
            )
        resources.append(consent_resource(c, patient_id, c.encounter_id, in_bundle=True))
    binaries: list[tuple[dict[str, Any], str]] = []
    for att, data in attachment_list:
        patient_id = patient_of_encounter.get(att.encounter_id)
        if patient_id is None:
            raise InputRejectedError(
                reason=f"attachment {att.id} refers to encounter {att.encounter_id}, "
                "which is not exported"
            )
        made = attachment_resources(att, data, patient_id)
        binaries.append((made.binary, made.binary["data"]))
        resources += [made.binary, made.media]
        if made.observation is not None:
            resources.append(made.observation)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": timestamp or utc_now(),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }
    # Binary data is validated as a stand-in (each was validated with one by
    # media_mapping): the model's base64 check over megabytes is slow.
    for binary, _ in binaries:
        binary["data"] = "AA=="
    try:
        Bundle.model_validate(bundle)
    except pydantic.ValidationError as exc:
        # Slow path: validate record by record so the reason names the record.
        for p in patients:
            patient_to_fhir(p)
        for e in encounters:
            encounter_to_fhir(e)
        for n, patient_id in zip(notes, note_patients, strict=True):
            note_to_document_reference(n, patient_id)
        raise InputRejectedError(
            reason=f"the export bundle is invalid: {describe_validation_error(exc, 'Bundle')}"
        ) from None
    finally:
        for binary, encoded in binaries:
            binary["data"] = encoded
    # The validated input, not the model's dump: same JSON, and dumping would
    # cost as much again as validating.
    return bundle


# --- loading a file ------------------------------------------------------------------


def load_bundle_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an import file, refusing it whole if it is too big or not a JSON object."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_BUNDLE_BYTES:
                raise _too_big()
            # Bounded read: a FIFO or a growing file reports no useful size.
            raw = f.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        raise _reject(f"the file could not be read ({exc.strerror or type(exc).__name__})") from exc
    return load_bundle_bytes(raw)


def _too_big() -> ImportRejectedError:
    return _reject(f"the file is larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB")


def load_bundle_bytes(raw: bytes) -> dict[str, Any]:
    """Decode UTF-8 JSON text into its top-level object."""
    if len(raw) > MAX_BUNDLE_BYTES:
        raise _too_big()
    try:
        # utf-8-sig: Windows editors prepend a BOM that RFC 8259 lets parsers ignore.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _reject("the file is not UTF-8 text") from None
    _check_text_depth(text)
    try:
        data = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except _DuplicateKeyError:
        raise _reject("a JSON object in the file has the same key twice") from None
    except json.JSONDecodeError as exc:
        raise _reject(
            f"the file is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        # Belt and braces: _check_text_depth should have caught this already.
        raise _reject(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:
        # NaN/Infinity, or an integer over Python's digit limit.
        raise _reject("the file is not valid JSON (a number is out of range)") from None
    if not isinstance(data, dict):
        raise _reject("the top level of the file is not a JSON object")
    return data


class _DuplicateKeyError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys; two readers could then disagree on
    # what a file says, so such files are refused.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKeyError
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def _check_text_depth(text: str) -> None:
    """Refuse deep nesting before json builds it (a ``[[[[...`` bomb stops here fast)."""
    depth = 0
    for match in _JSON_TOKEN_RE.finditer(text):
        char = text[match.start()]
        if char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise _reject(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
        elif char in "]}":
            depth -= 1


def _check_json_tree(data: object) -> None:
    """Iteratively check ``data`` is JSON: types, depth, finite floats, valid Unicode.

    Iterative so that a deep or cyclic structure handed in directly (not from
    :func:`load_bundle_bytes`) is refused instead of exhausting the stack.
    """
    # (node, depth, entry index or -1 outside Bundle.entry)
    stack: list[tuple[object, int, int]] = [(data, 1, -1)]
    while stack:
        node, depth, entry = stack.pop()
        where = f"entry {entry}: " if entry >= 0 else ""
        if isinstance(node, str):
            if _LONE_SURROGATE_RE.search(node):
                raise _reject(f"{where}a string is not valid Unicode (lone surrogate)")
        elif node is None or isinstance(node, (bool, int)):
            continue
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise _reject(f"{where}a number is not finite")
        elif isinstance(node, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise _reject(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(node, list):
                stack.extend((item, depth + 1, entry) for item in node)
                continue
            for key, value in node.items():
                if not isinstance(key, str):
                    raise _reject(f"{where}an object key is not a string")
                if _LONE_SURROGATE_RE.search(key):
                    raise _reject(f"{where}a string is not valid Unicode (lone surrogate)")
                if depth == 1 and key == "entry" and isinstance(value, list):
                    stack.extend((item, depth + 2, i) for i, item in enumerate(value))
                else:
                    stack.append((value, depth + 1, entry))
        else:
            raise _reject(f"{where}a value is not JSON data")


# --- parsing a Bundle ----------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    index: int
    valid: ValidatedResource
    local_id: str


@contextmanager
def _at_entry(index: int) -> Iterator[None]:
    try:
        yield
    except ImportRejectedError as exc:
        # The inner reason is complete and value-free; chaining would repeat it.
        raise _reject(f"entry {index}: {exc.reason}") from None


def _resource_type_label(value: object) -> str | None:
    """``value`` if it names a FHIR R4B resource type, else None (never echo data)."""
    if not isinstance(value, str) or not _RESOURCE_TYPE_NAME_RE.fullmatch(value):
        return None
    try:
        model = get_fhir_model_class(value)
    except Exception:
        return None
    return value if model.has_resource_base() else None


def _normalize_url(url: str) -> str:
    # urn:uuid is case-insensitive (RFC 4122); the rest is compared exactly.
    if url[:9].lower() == "urn:uuid:":
        return "urn:uuid:" + url[9:].lower()
    return url


def parse_import_bundle(data: object) -> ParsedImport:
    """Validate a Bundle and map it to records, or raise ImportRejectedError.

    Accepts ``collection``, ``batch`` and ``transaction`` Bundles of Patient,
    Encounter and DocumentReference (POST/PUT requests only in batch and
    transaction). Every reference must resolve inside the Bundle.

    A record's id is its ``urn:ietf:rfc:3986`` ``urn:uuid:`` identifier, else
    the UUID of a ``urn:uuid:`` fullUrl, else a UUID5 (URL namespace) of its other
    fullUrl (so re-importing the same server export maps to the same records),
    else a UUID5 of the file's digest and the entry index (see _FallbackIds).
    Times missing from the file (``meta.lastUpdated``) become the time of parsing.
    """
    _check_json_tree(data)
    if not isinstance(data, dict):
        raise _reject("the top level is not a JSON object")
    if data.get("resourceType") != "Bundle":
        label = _resource_type_label(data.get("resourceType"))
        raise _reject(
            f"the file holds a resource of type {label}, not a Bundle"
            if label
            else "it is not a FHIR Bundle"
        )
    bundle_type = data.get("type")
    if not isinstance(bundle_type, str) or bundle_type not in IMPORT_BUNDLE_TYPES:
        shown = (
            f" {bundle_type}"
            if isinstance(bundle_type, str) and bundle_type in _KNOWN_BUNDLE_TYPES
            else ""
        )
        raise _reject(
            f"Bundle.type{shown} is not supported (collection, batch or transaction only)"
        )
    raw_entries = data.get("entry", [])
    if not isinstance(raw_entries, list):
        raise _reject("Bundle.entry is not a list")
    if len(raw_entries) > MAX_ENTRIES:
        raise _reject(f"the Bundle has more than {MAX_ENTRIES} entries")
    for i, raw_entry in enumerate(raw_entries):
        if not isinstance(raw_entry, dict):
            raise _reject(f"entry {i} is not a JSON object")
    _validate_bundle_shell(data, raw_entries)

    transactional = bundle_type in _TRANSACTIONAL_TYPES
    entries: list[_Entry] = []
    by_local_id: dict[str, int] = {}
    by_full_url: dict[str, int] = {}
    by_resource_id: dict[tuple[str, str], int] = {}
    by_url_tail: dict[tuple[str, str], int | None] = {}  # None: two entries claim it
    fallback_ids = _FallbackIds(data)
    # Signatures and consents: read after the records they refer to, each on its own
    # (a bad one is skipped with its reason; the records never depend on them).
    side_entries: list[tuple[int, Mapping[str, Any]]] = []
    for i, raw_entry in enumerate(raw_entries):
        resource = raw_entry.get("resource")
        rtype = resource.get("resourceType") if isinstance(resource, Mapping) else None
        if isinstance(rtype, str) and rtype in _SIDE_TYPES:
            side_entries.append((i, raw_entry))
            continue
        with _at_entry(i):
            entry = _read_entry(i, raw_entry, transactional, bundle_type, fallback_ids)
        entries.append(entry)
        other = by_local_id.setdefault(entry.local_id, i)
        if other != i:
            raise _reject(f"entries {other} and {i} have the same id")
        full_url = raw_entry.get("fullUrl")
        if isinstance(full_url, str):
            other = by_full_url.setdefault(_normalize_url(full_url), i)
            if other != i:
                raise _reject(f"entries {other} and {i} have the same fullUrl")
        rtype = entry.valid.resource_type
        rid = entry.valid.model.id
        if rid is not None:
            other = by_resource_id.setdefault((rtype, rid), i)
            if other != i:
                raise _reject(f"entries {other} and {i} have the same {rtype} id")
        tail = _REST_TAIL_RE.fullmatch(full_url) if isinstance(full_url, str) else None
        if tail and tail["type"] == rtype:
            key = (rtype, tail["id"])
            # The same Type/id under two bases is only a problem for a reference using it.
            by_url_tail[key] = None if key in by_url_tail else i

    resolver = _Resolver(entries, by_full_url, by_resource_id, by_url_tail)
    patients: list[Patient] = []
    encounters: list[Encounter] = []
    notes: list[Note] = []
    patient_of_encounter: dict[str, str] = {}
    appends_of: dict[str, str] = {}
    for entry in entries:
        model = entry.valid.model
        with _at_entry(entry.index):
            if isinstance(model, FhirPatient):
                patients.append(patient_from_fhir(entry.valid, local_id=entry.local_id))
            elif isinstance(model, FhirEncounter):
                patient = resolver.resolve(model.subject, "Patient", "Encounter.subject")
                encounters.append(
                    encounter_from_fhir(
                        entry.valid, patient_id=patient.local_id, local_id=entry.local_id
                    )
                )
                patient_of_encounter[entry.local_id] = patient.local_id
    # Notes after all encounters: a note may come before its encounter in the Bundle.
    for entry in entries:
        model = entry.valid.model
        if not isinstance(model, DocumentReference):
            continue
        with _at_entry(entry.index):
            patient = resolver.resolve(model.subject, "Patient", "DocumentReference.subject")
            encounter_id: str | None = None
            context = model.context.encounter if model.context is not None else None
            if context:  # validated: at most one
                encounter = resolver.resolve(
                    context[0], "Encounter", "DocumentReference.context.encounter"
                )
                if patient_of_encounter[encounter.local_id] != patient.local_id:
                    raise _reject("DocumentReference.subject is not the patient of its encounter")
                encounter_id = encounter.local_id
            # Without an encounter the note is kept under its patient (issue 14).
            notes.append(
                note_from_document_reference(
                    entry.valid,
                    encounter_id=encounter_id,
                    local_id=entry.local_id,
                    patient_id=patient.local_id,
                )
            )
        for rel in model.relatesTo or []:
            if rel.code != "appends":
                continue
            try:  # an addendum's note; one outside the Bundle only fails its verification
                target = resolver.resolve(
                    rel.target, "DocumentReference", "DocumentReference.relatesTo"
                )
            except ImportRejectedError:
                continue
            appends_of[entry.local_id] = target.local_id
    side = _SideEntries(
        resolver,
        {n.id: n for n in notes},
        appends_of,
        patient_of_encounter,
        transactional,
        bundle_type,
        fallback_ids,
    )
    for i, raw_entry in side_entries:
        try:
            side.read(i, raw_entry)
        except ImportRejectedError as exc:
            side.skipped.append(f"entry {i}: {exc.reason}")
        except (TypeError, ValueError, KeyError, AttributeError):
            # Shapes the models let through that the mapping did not expect: this entry
            # only, never the records.
            kind = raw_entry["resource"]["resourceType"]
            side.skipped.append(f"entry {i}: the {kind} could not be read")
    return ParsedImport(
        tuple(patients),
        tuple(encounters),
        tuple(notes),
        tuple(side.signatures),
        tuple(side.consents),
        tuple(side.skipped),
    )


_SIDE_TYPES: Final = frozenset({"Provenance", "Consent"})


class _SideEntries:
    """Provenance (a note's signature) and Consent (a visit's consent) entries."""

    def __init__(
        self,
        resolver: _Resolver,
        notes: dict[str, Note],
        appends_of: dict[str, str],
        patient_of_encounter: dict[str, str],
        transactional: bool,
        bundle_type: str,
        fallback_ids: _FallbackIds,
    ) -> None:
        from storage.signing import KeyringSigningKeys

        self.resolver = resolver
        self.notes = notes
        self.appends_of = appends_of
        self.patient_of_encounter = patient_of_encounter
        self.transactional = transactional
        self.bundle_type = bundle_type
        self.fallback_ids = fallback_ids
        # Verification needs no keyring: the public key travels in the JWS header.
        self.keys = KeyringSigningKeys()
        self.signatures: list[NoteSignature] = []
        self.consents: list[ConsentRecord] = []
        self.skipped: list[str] = []
        self._signed_by_entry: dict[str, int] = {}
        self._consent_ids: set[str] = set()
        self._provenance_ids: set[str] = set()

    def read(self, index: int, raw_entry: Mapping[str, Any]) -> None:
        if self.transactional:
            request = raw_entry.get("request")
            if not isinstance(request, Mapping):
                raise _reject(f"request is missing (required in a {self.bundle_type} Bundle)")
            if request.get("method") not in _IMPORT_METHODS:
                raise _reject("request.method is not POST or PUT")
        resource = dict(raw_entry["resource"])
        full_url = raw_entry.get("fullUrl")
        if resource["resourceType"] == "Provenance":
            self._provenance(index, resource, full_url)
        else:
            self._consent(index, resource, full_url)

    def _local_id(
        self, index: int, full_url: object, resource_id: object, found: str | None
    ) -> str:
        if found is not None:
            return found
        if isinstance(full_url, str) and full_url[:9].lower() == "urn:uuid:":
            local = canonical_uuid(full_url[9:])
            if local is None:
                raise _reject("fullUrl is a urn:uuid that is not a UUID")
            return local
        if isinstance(resource_id, str) and canonical_uuid(resource_id):
            return resource_id.lower()
        if isinstance(full_url, str):
            return str(uuid.uuid5(uuid.NAMESPACE_URL, full_url))
        return self.fallback_ids(index)

    def _provenance(self, index: int, resource: dict[str, Any], full_url: object) -> None:
        from storage.fhir.provenance import signature_from_fhir

        model = _validated(FhirProvenance, resource, "Provenance")
        assert isinstance(model, FhirProvenance)
        note: Note | None = None
        first_error: ImportRejectedError | None = None
        for t, target in enumerate(model.target or []):
            try:
                entry = self.resolver.resolve(
                    target, "DocumentReference", f"Provenance.target[{t}]"
                )
            except ImportRejectedError as exc:
                first_error = first_error or exc
                continue
            if note is not None:
                raise _reject("Provenance.target names more than one note")
            note = self.notes[entry.local_id]
        if note is None:
            raise first_error or _reject("Provenance.target is missing")
        provenance_id = self._local_id(index, full_url, model.id, None)
        if provenance_id in self._provenance_ids:
            raise _reject("another Provenance entry has the same id")
        other = self._signed_by_entry.get(note.id)
        if other is not None:
            raise _reject(f"entry {other} already signs the same note")
        appends = self.appends_of.get(note.id)
        sig = signature_from_fhir(resource, provenance_id, note.id, appends)
        content = SignedContent(
            note.id,
            note.patient_id,
            note.encounter_id,
            note.note_type.code,
            note.text,
            appends,
            note.note_type.system,
        )
        payload = canonical_json(content)
        checked = verify_signature(self.keys, sig, content)
        problem = None if checked.ok else (checked.reason or "the signature does not verify")
        self.signatures.append(
            dataclasses.replace(
                sig,
                content_sha256=hashlib.sha256(payload).hexdigest(),
                import_problem=problem,
            )
        )
        self._signed_by_entry[note.id] = index
        self._provenance_ids.add(provenance_id)

    def _consent(self, index: int, resource: dict[str, Any], full_url: object) -> None:
        from storage.fhir.consent import consent_from_fhir

        model = _validated(FhirConsent, resource, "Consent")
        assert isinstance(model, FhirConsent)
        if model.patient is None:
            raise _reject("Consent.patient is missing (a consent without its patient)")
        patient = self.resolver.resolve(model.patient, "Patient", "Consent.patient")
        encounter_id: str | None = None
        for item in (model.provision.data or []) if model.provision is not None else []:
            try:
                entry = self.resolver.resolve(
                    item.reference, "Encounter", "Consent.provision.data.reference"
                )
            except ImportRejectedError:
                continue
            encounter_id = entry.local_id
            break
        if encounter_id is None:
            raise _reject("Consent.provision.data names no visit in the Bundle")
        if self.patient_of_encounter[encounter_id] != patient.local_id:
            raise _reject("Consent.patient is not the patient of its visit")
        consent_id = self._local_id(index, full_url, model.id, identifier_uuid(model.identifier))
        if consent_id in self._consent_ids:
            raise _reject("another Consent entry has the same identifier")
        self.consents.append(consent_from_fhir(resource, consent_id, encounter_id))
        self._consent_ids.add(consent_id)


def _validated(model_class: Any, resource: dict[str, Any], name: str) -> Any:
    try:
        return model_class.model_validate(resource)
    except pydantic.ValidationError as exc:
        raise _reject(describe_validation_error(exc, name)) from None
    except Exception:
        raise _reject(f"the {name} could not be validated") from None


def _validate_bundle_shell(data: dict[str, Any], raw_entries: list[dict[str, Any]]) -> None:
    # Resources are validated one by one later (with their entry index in the
    # reason, and without fhir.resources' KeyError on unknown types), so the
    # Bundle model sees every entry without its resource.
    shell = dict(data)
    if "entry" in shell:
        shell["entry"] = [{k: v for k, v in e.items() if k != "resource"} for e in raw_entries]
    try:
        Bundle.model_validate(shell)
    except pydantic.ValidationError as exc:
        raise _reject(describe_validation_error(exc, "Bundle")) from None
    except Exception:
        raise _reject("the Bundle could not be validated") from None


class _FallbackIds:
    """Ids for entries with no identity of their own, the same for the same file.

    Derived from a digest of the whole Bundle and the entry index: re-importing a
    file creates no duplicates, while two different files can never merge
    records by accident (as ids from ``Patient/1`` alone could).
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self._namespace: uuid.UUID | None = None

    def __call__(self, index: int) -> str:
        if self._namespace is None:
            # Safe to serialise: _check_json_tree passed (str keys, finite numbers,
            # no lone surrogates, bounded depth).
            canonical = json.dumps(
                self._data, sort_keys=True, ensure_ascii=False, separators=(",", ":")
            )
            digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
            self._namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:sha256:{digest}")
        return str(uuid.uuid5(self._namespace, str(index)))


def _read_entry(
    index: int,
    raw_entry: Mapping[str, Any],
    transactional: bool,
    bundle_type: str,
    fallback_ids: _FallbackIds,
) -> _Entry:
    if transactional:
        request = raw_entry.get("request")
        if not isinstance(request, Mapping):
            raise _reject(f"request is missing (required in a {bundle_type} Bundle)")
        method = request.get("method")
        if not isinstance(method, str) or method not in _IMPORT_METHODS:
            raise _reject("request.method is not POST or PUT")
    resource = raw_entry.get("resource")
    if resource is None:
        raise _reject("the entry has no resource")
    if not isinstance(resource, Mapping):
        raise _reject("resource is not a JSON object")
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or rtype not in SUPPORTED_RESOURCE_TYPES:
        label = _resource_type_label(rtype)
        if label is None:
            raise _reject("resourceType is missing or not a FHIR resource type")
        raise _reject(
            f"resource type {label} is not supported "
            "(Patient, Encounter, DocumentReference, Provenance and Consent only)"
        )
    valid = validate_resource(resource)
    local_id = identifier_uuid(valid.model.identifier)
    full_url = raw_entry.get("fullUrl")
    if local_id is None and isinstance(full_url, str):
        if full_url[:9].lower() == "urn:uuid:":
            local_id = canonical_uuid(full_url[9:])
            if local_id is None:
                raise _reject("fullUrl is a urn:uuid that is not a UUID")
        else:
            local_id = str(uuid.uuid5(uuid.NAMESPACE_URL, full_url))
    return _Entry(index, valid, local_id or fallback_ids(index))


class _Resolver:
    def __init__(
        self,
        entries: list[_Entry],
        by_full_url: Mapping[str, int],
        by_resource_id: Mapping[tuple[str, str], int],
        by_url_tail: Mapping[tuple[str, str], int | None],
    ) -> None:
        self._entries = entries
        self._by_full_url = by_full_url
        self._by_resource_id = by_resource_id
        self._by_url_tail = by_url_tail

    def resolve(self, element: Reference | None, expected_type: str, path: str) -> _Entry:
        """The entry a Reference points to: by fullUrl, else by ``Type/id``."""
        ref = element.reference if element is not None else None
        if ref is None:
            raise _reject(f"{path} has no reference")
        target: int | None = self._by_full_url.get(_normalize_url(ref))
        tail = _REST_TAIL_RE.fullmatch(ref)
        if target is None and tail is not None:
            if tail["history"]:
                # A versioned reference names the same resource as its unversioned URL.
                target = self._by_full_url.get(ref[: tail.start("history")])
            is_relative = "://" not in ref and not ref.startswith("urn:")
            if target is None and is_relative:
                key = (tail["type"], tail["id"])
                target = self._by_resource_id.get(key)
                if target is None and key in self._by_url_tail:
                    target = self._by_url_tail[key]
                    if target is None:
                        raise _reject(f"{path} is ambiguous (two entries match it)")
        if target is None:
            raise _reject(f"{path} does not resolve")
        entry = self._entries[target]
        if entry.valid.resource_type != expected_type:
            raise _reject(f"{path} does not point to an entry of type {expected_type}")
        return entry


__all__ = [
    "IMPORT_BUNDLE_TYPES",
    "MAX_BUNDLE_BYTES",
    "MAX_ENTRIES",
    "MAX_JSON_DEPTH",
    "ParsedImport",
    "build_export_bundle",
    "load_bundle_bytes",
    "load_bundle_file",
    "parse_import_bundle",
]
