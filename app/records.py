"""Domain records: plain frozen dataclasses, no I/O.

Ids are client-side UUIDs (strings) created when a record is first made, so a
record keeps one identity locally and on the FHIR server (DESIGN.md §4).
Times are timezone-aware UTC ISO-8601 strings, as FHIR ``instant``.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from app.image_metadata import IMAGE_METADATA_KEYS, check_scale
from app.image_metadata import check_value as check_image_value


def new_id() -> str:
    """A time-ordered UUIDv7 (RFC 9562).

    Ordered ids keep each commit's index writes on a few adjacent pages; random
    UUIDv4s scattered them over the whole file, and SQLCipher pays an encrypt
    and HMAC for every page touched (bulk insert ratio 1.82 -> 1.14, see
    docs/storage-tuning.md). The id reveals its creation time, which the
    record stores anyway. Python 3.11 has no uuid.uuid7, hence by hand.
    """
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class NoteType(StrEnum):
    """The kinds of note this console writes, with the LOINC code each maps to in FHIR.

    A note carries a :class:`DocumentType`; notes from other systems keep theirs
    (any LOINC document type, or another system's code), so this enum names only
    what the console itself creates.
    """

    PROGRESS = "progress"
    CONSULT = "consult"

    @property
    def loinc(self) -> str:
        return {"progress": "11506-3", "consult": "11488-4"}[self.value]

    @property
    def display(self) -> str:
        return {"progress": "Progress note", "consult": "Consult note"}[self.value]

    @property
    def document_type(self) -> DocumentType:
        return DocumentType(self.loinc, LOINC_SYSTEM, self.display)


LOINC_SYSTEM = "http://loinc.org"

#: Display names for LOINC document codes a Bundle may send without one.
KNOWN_DOCUMENT_DISPLAYS: dict[tuple[str, str], str] = {
    (LOINC_SYSTEM, "11506-3"): "Progress note",
    (LOINC_SYSTEM, "11488-4"): "Consult note",
    (LOINC_SYSTEM, "34117-2"): "History and physical note",
    (LOINC_SYSTEM, "51847-2"): "Evaluation + Plan note",
    (LOINC_SYSTEM, "18842-5"): "Discharge summary",
    (LOINC_SYSTEM, "57133-1"): "Referral note",
    (LOINC_SYSTEM, "11504-8"): "Surgical operation note",
    (LOINC_SYSTEM, "28570-0"): "Procedure note",
    (LOINC_SYSTEM, "34109-9"): "Note",
    (LOINC_SYSTEM, "34746-8"): "Nurse note",
}


@dataclass(frozen=True, slots=True)
class DocumentType:
    """What kind of document a note is: one coding (``system`` + ``code``) and its name.

    Open on purpose: a note imported or pulled from another system keeps the type
    it came with (any LOINC document type, a local code system, or only a text
    name, then ``system`` and ``code`` are empty), and sync sends it back unchanged.
    """

    code: str
    system: str = LOINC_SYSTEM
    display: str = ""

    @property
    def label(self) -> str:
        """The name to show: the display, else a known name for the code, else the code."""
        return (
            self.display
            or KNOWN_DOCUMENT_DISPLAYS.get((self.system, self.code), "")
            or self.code
            or "Document"
        )

    @property
    def loinc(self) -> str | None:
        return self.code if self.system == LOINC_SYSTEM and self.code else None

    @staticmethod
    def of(kind: NoteType | DocumentType) -> DocumentType:
        return kind.document_type if isinstance(kind, NoteType) else kind


class NoteStatus(StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"


# Passphrase mode: shorter ones are refused when a store is created.
MIN_PASSPHRASE_LENGTH = 8


class KeySource(StrEnum):
    KEYRING = "keyring"
    PASSPHRASE = "passphrase"


class StoreState(StrEnum):
    CLOSED = "closed"
    UNLOCKED = "unlocked"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class Patient:
    id: str
    family_name: str
    given_name: str
    birth_date: str  # ISO date, YYYY-MM-DD
    gender: str = "unknown"  # FHIR administrative-gender code
    mrn: str = ""
    updated_at: str = field(default_factory=utc_now)

    @property
    def display_name(self) -> str:
        return f"{self.family_name}, {self.given_name}".strip(", ")


@dataclass(frozen=True, slots=True)
class Encounter:
    id: str
    patient_id: str
    start: str  # ISO datetime
    status: str = "planned"  # FHIR encounter-status
    encounter_class: str = "VR"  # v3 ActCode: VR virtual, AMB ambulatory
    reason: str = ""
    updated_at: str = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True)
class Note:
    """A note: under a visit (``encounter_id``), or under its patient alone.

    ``encounter_id`` is ``None`` for a document without a visit (imported or pulled
    from another system: a referral letter, an outside discharge summary).
    ``patient_id`` is always set by the store; a record built for a visit may leave
    it empty. ``note_type`` also accepts a :class:`NoteType` and keeps it as its
    :class:`DocumentType`.
    """

    id: str
    encounter_id: str | None
    text: str
    version: int
    note_type: DocumentType = field(default_factory=lambda: NoteType.PROGRESS.document_type)
    status: NoteStatus = NoteStatus.DRAFT
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)
    patient_id: str = ""

    def __post_init__(self) -> None:
        kind: object = self.note_type
        if isinstance(kind, NoteType):
            object.__setattr__(self, "note_type", kind.document_type)


@dataclass(frozen=True, slots=True)
class NoteVersion:
    note_id: str
    version: int
    text: str
    saved_at: str
    author: str = ""  # who saved it (the store's actor: the OS user until sign-in); "" if older


@dataclass(frozen=True, slots=True)
class EncounterSummary:
    """One worklist row: the encounter with its patient and note state."""

    encounter: Encounter
    patient: Patient
    note_id: str | None
    note_version: int | None


@dataclass(frozen=True, slots=True)
class SearchHit:
    note_id: str
    encounter_id: str  # "" for a document without a visit
    patient_id: str
    patient_display: str
    snippet: str  # matched text with the hit wrapped in [[ ]]
    updated_at: str


@dataclass(frozen=True, slots=True)
class DocumentSummary:
    """A note kept under its patient without a visit, as the worklist lists it."""

    note_id: str
    document_type: DocumentType
    status: NoteStatus
    version: int
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class PatientDocuments:
    """One worklist group: a patient's documents without a visit, newest first."""

    patient: Patient
    documents: tuple[DocumentSummary, ...]


@dataclass(frozen=True, slots=True)
class SaveResult:
    """What a save changed (STYLE.md §2: operations return what changed)."""

    note_id: str
    version: int
    saved_at: str
    changed: bool


@dataclass(frozen=True, slots=True)
class ImportResult:
    patients_created: int = 0
    encounters_created: int = 0
    notes_created: int = 0
    notes_updated: int = 0
    unchanged: int = 0
    #: Note signatures taken from Provenance entries (those among them that did not
    #: verify against the imported text are also counted in ``signatures_not_verified``).
    signatures_imported: int = 0
    signatures_not_verified: int = 0
    consents_created: int = 0
    #: Entries not taken, one value-free reason each ("entry 7: ...").
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    ts: str
    actor: str
    action: str
    entity_type: str
    entity_id: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    entries: int
    ok: bool
    first_bad_seq: int | None = None
    problem: str = ""


@dataclass(frozen=True, slots=True)
class StoreStatus:
    state: StoreState
    key_source: KeySource | None
    keyring_backend: str
    schema_version: int | None
    path: str


# --- attachments (stethoscope recordings, exam-camera stills) --------------------------


class AttachmentKind(StrEnum):
    AUDIO = "audio"
    IMAGE = "image"


class AuscultationSite(StrEnum):
    """Where a stethoscope recording was taken (``metadata["auscultation_site"]``)."""

    AORTIC = "aortic"
    PULMONIC = "pulmonic"
    TRICUSPID = "tricuspid"
    MITRAL = "mitral"
    LUNG = "lung"  # a lung field, side not recorded
    LUNG_LEFT = "lung_left"
    LUNG_RIGHT = "lung_right"
    LUNG_LEFT_UPPER = "lung_left_upper"
    LUNG_LEFT_LOWER = "lung_left_lower"
    LUNG_RIGHT_UPPER = "lung_right_upper"
    LUNG_RIGHT_MIDDLE = "lung_right_middle"
    LUNG_RIGHT_LOWER = "lung_right_lower"


class StethoscopeFilter(StrEnum):
    """The filter a recording was made or listened with (``metadata["filter"]``)."""

    BELL = "bell"
    DIAPHRAGM = "diaphragm"
    LUNG = "lung"
    WIDE = "wide"


#: Content types the store accepts per kind (the bytes must match, see
#: :func:`check_attachment_content`).
ATTACHMENT_CONTENT_TYPES: dict[AttachmentKind, frozenset[str]] = {
    AttachmentKind.AUDIO: frozenset({"audio/wav", "audio/x-wav", "audio/flac", "audio/ogg"}),
    AttachmentKind.IMAGE: frozenset({"image/jpeg", "image/png"}),
}
# Leading bytes of each format (WAV is RIFF....WAVE, checked apart).
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "audio/flac": (b"fLaC",),
    "audio/ogg": (b"OggS",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}

# metadata key -> (kinds it applies to, type). Values are checked in
# check_attachment_metadata; anything else is refused so that what syncs to
# FHIR is always something the mapping understands.
_AUDIO = frozenset({AttachmentKind.AUDIO})
_IMAGE = frozenset({AttachmentKind.IMAGE})
_BOTH = _AUDIO | _IMAGE
ATTACHMENT_METADATA_KEYS: dict[str, frozenset[AttachmentKind]] = {
    "auscultation_site": _AUDIO,
    "filter": _AUDIO,
    "sample_rate_hz": _AUDIO,
    "heart_rate_bpm": _AUDIO,
    "heart_rate_confidence": _AUDIO,
    "duration_s": _BOTH,  # images: always absent in practice, harmless
    "width_px": _IMAGE,
    "height_px": _IMAGE,
    # Stills: site, laterality, view, who/when, scale, quality verdict (app/image_metadata.py).
    **dict.fromkeys(IMAGE_METADATA_KEYS, _IMAGE),
}
MAX_HEART_RATE_BPM = 400.0
MAX_DURATION_S = 24 * 3600.0
MAX_SAMPLE_RATE_HZ = 384_000
MAX_IMAGE_SIDE_PX = 100_000
_SITES = frozenset(s.value for s in AuscultationSite)
_FILTERS = frozenset(f.value for f in StethoscopeFilter)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A recording or still attached to an encounter: metadata only, never the bytes.

    ``metadata`` holds the checked keys of :data:`ATTACHMENT_METADATA_KEYS`
    (e.g. ``auscultation_site``, ``filter``, ``duration_s``, ``sample_rate_hz``,
    ``heart_rate_bpm``, ``heart_rate_confidence``; ``width_px``/``height_px``).
    ``observation_id`` is the local id of the heart-rate Observation made from
    it ("" when the metadata has no heart rate).
    """

    id: str
    encounter_id: str
    kind: AttachmentKind
    content_type: str
    title: str
    created_at: str
    size_bytes: int
    sha256: str  # hex digest of the bytes
    metadata: dict[str, object] = field(default_factory=dict)
    observation_id: str = ""

    @property
    def heart_rate_bpm(self) -> float | None:
        value = self.metadata.get("heart_rate_bpm")
        return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True, slots=True)
class AttachmentDeleted:
    """What :meth:`RecordStore.delete_attachment` changed."""

    attachment_id: str
    encounter_id: str


def check_attachment_content(kind: AttachmentKind, content_type: str, data: bytes) -> str:
    """The normalised content type, or a value-free ``ValueError`` reason."""
    normalised = content_type.split(";", 1)[0].strip().lower()
    if normalised not in ATTACHMENT_CONTENT_TYPES[kind]:
        allowed = ", ".join(sorted(ATTACHMENT_CONTENT_TYPES[kind]))
        raise ValueError(f"an {kind.value} attachment must be one of {allowed}")
    if normalised in ("audio/wav", "audio/x-wav"):
        ok = data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    else:
        ok = data.startswith(_MAGIC[normalised])
    if not ok:
        raise ValueError(f"the data is not {normalised} (its first bytes do not match)")
    return normalised


def check_attachment_metadata(kind: AttachmentKind, metadata: object) -> dict[str, object]:
    """A checked copy of ``metadata`` (JSON-safe, known keys, values in range).

    Raises ``ValueError`` whose text names keys only, never a value. A
    ``heart_rate_bpm`` of ``None`` (not a usable heart sound) is dropped along
    with its confidence.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValueError("attachment metadata must be a JSON object")
    out: dict[str, object] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or key not in ATTACHMENT_METADATA_KEYS:
            shown = key if isinstance(key, str) and key.isidentifier() and len(key) < 40 else "?"
            raise ValueError(f"attachment metadata key {shown!r} is not supported")
        if kind not in ATTACHMENT_METADATA_KEYS[key]:
            raise ValueError(f"attachment metadata {key!r} does not apply to {kind.value}")
        if value is None:
            continue
        out[key] = _check_metadata_value(key, value)
    if "heart_rate_bpm" not in out:
        out.pop("heart_rate_confidence", None)
    if kind is AttachmentKind.IMAGE:
        out.update(check_scale(out))  # both points and the distance, mm/px derived
    return out


def _number(key: str, value: object, low: float, high: float, *, integer: bool = False) -> float:
    # bool is an int subclass: True is not a sample rate.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"attachment metadata {key!r} must be a number")
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise ValueError(f"attachment metadata {key!r} must be a whole number")
    number = float(value)
    if not (low <= number <= high):  # also refuses NaN
        raise ValueError(f"attachment metadata {key!r} is out of range ({low:g}..{high:g})")
    return number


def _check_metadata_value(key: str, value: object) -> object:
    if key in IMAGE_METADATA_KEYS:
        return check_image_value(key, value)
    if key == "auscultation_site":
        if not isinstance(value, str) or value not in _SITES:
            raise ValueError(f"attachment metadata {key!r} is not a known auscultation site")
        return str(value)
    if key == "filter":
        if not isinstance(value, str) or value not in _FILTERS:
            raise ValueError(f"attachment metadata {key!r} is not a known stethoscope filter")
        return str(value)
    if key == "sample_rate_hz":
        return int(_number(key, value, 1, MAX_SAMPLE_RATE_HZ, integer=True))
    if key in ("width_px", "height_px"):
        return int(_number(key, value, 1, MAX_IMAGE_SIDE_PX, integer=True))
    if key == "heart_rate_bpm":
        number = _number(key, value, 1.0, MAX_HEART_RATE_BPM)
        return round(number, 1)
    if key == "heart_rate_confidence":
        return round(_number(key, value, 0.0, 1.0), 3)
    assert key == "duration_s"
    number = _number(key, value, 0.0, MAX_DURATION_S)
    if number == 0.0:
        raise ValueError(f"attachment metadata {key!r} must be above zero")
    return round(number, 3)
