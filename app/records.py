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
    """Note kinds, with the LOINC code each maps to in FHIR."""

    PROGRESS = "progress"
    CONSULT = "consult"

    @property
    def loinc(self) -> str:
        return {"progress": "11506-3", "consult": "11488-4"}[self.value]

    @property
    def display(self) -> str:
        return {"progress": "Progress note", "consult": "Consult note"}[self.value]


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
    id: str
    encounter_id: str
    text: str
    version: int
    note_type: NoteType = NoteType.PROGRESS
    status: NoteStatus = NoteStatus.DRAFT
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True)
class NoteVersion:
    note_id: str
    version: int
    text: str
    saved_at: str


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
    encounter_id: str
    patient_id: str
    patient_display: str
    snippet: str  # matched text with the hit wrapped in [[ ]]
    updated_at: str


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
