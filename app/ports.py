"""Ports: what the use cases need from storage (STYLE.md §6, Protocols).

``storage.store.EncryptedStore`` implements :class:`RecordStore`. Every method
is a coroutine: the store runs SQL on its own worker thread so the GUI thread
never waits on disk.
"""

from __future__ import annotations

from typing import Any, Protocol

from app.records import (
    Attachment,
    AttachmentDeleted,
    AttachmentKind,
    AuditEntry,
    AuditReport,
    DocumentType,
    Encounter,
    EncounterSummary,
    ImportResult,
    Note,
    NoteType,
    NoteVersion,
    Patient,
    PatientDocuments,
    SaveResult,
    SearchHit,
    StoreStatus,
)


class RecordStore(Protocol):
    @property
    def status(self) -> StoreStatus: ...

    async def add_patient(self, patient: Patient) -> Patient: ...

    async def add_encounter(self, encounter: Encounter) -> Encounter: ...

    async def list_encounters(self, patient_id: str | None = None) -> list[EncounterSummary]: ...

    async def get_patient(self, patient_id: str) -> Patient: ...

    async def create_note(
        self, encounter_id: str, text: str, note_type: NoteType | DocumentType = NoteType.PROGRESS
    ) -> Note: ...

    async def documents_without_visit(self) -> list[PatientDocuments]:
        """Each patient's notes that have no visit (imported or pulled from elsewhere)."""
        ...

    async def open_note(self, note_id: str) -> Note:
        """Read a note for display; recorded in the audit log as a read."""
        ...

    async def save_note_text(self, note_id: str, text: str) -> SaveResult: ...

    async def note_history(self, note_id: str) -> list[NoteVersion]: ...

    async def restore_version(self, note_id: str, version: int) -> SaveResult: ...

    async def search_notes(self, query: str, limit: int = 50) -> list[SearchHit]: ...

    async def add_attachment(
        self,
        encounter_id: str,
        kind: AttachmentKind | str,
        content_type: str,
        data: bytes,
        title: str = "",
        metadata: dict[str, object] | None = None,
    ) -> Attachment:
        """Store a recording or still for an encounter (encrypted), queued for sync, audited.

        ``metadata`` keys: app.records.ATTACHMENT_METADATA_KEYS. Raises
        InputRejectedError for a bad kind, content type, bytes, title or metadata,
        or data over storage.repository.MAX_ATTACHMENT_BYTES (50 MB).
        """
        ...

    async def list_attachments(self, encounter_id: str) -> list[Attachment]:
        """The encounter's attachments, oldest first (metadata only, not audited)."""
        ...

    async def read_attachment(self, attachment_id: str) -> bytes:
        """The bytes for playback or display; recorded in the audit log as a read."""
        ...

    async def delete_attachment(self, attachment_id: str) -> AttachmentDeleted:
        """Delete one never synced; InputRejectedError once the record store has it."""
        ...

    async def export_bundle(self, *, include_attachments: bool = False) -> dict[str, Any]: ...

    async def import_bundle(self, bundle: dict[str, Any]) -> ImportResult: ...

    async def record_event(self, action: str, entity_type: str = "", entity_id: str = "") -> None:
        """Append a non-data event (sign-in, unlock, failed unlock) to the audit log."""
        ...

    async def audit_entries(self) -> list[AuditEntry]: ...

    async def verify_audit(self) -> AuditReport: ...

    async def outbox_size(self) -> int: ...

    async def lock(self) -> None:
        """Close the database and forget the key (idle logoff); data calls then raise."""
        ...

    async def unlock(self, passphrase: str | None = None) -> None:
        """Re-open after lock; passphrase-mode stores need the passphrase."""
        ...

    async def close(self) -> None: ...
