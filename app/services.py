"""Use cases: async methods over the ports that return what changed.

The UI calls these (through ``ui.ops.run_op``); they call the store and emit
change events on the bus so every view refreshes what changed.
"""

from __future__ import annotations

from typing import Any

from app import soap
from app.errors import ConsoleError
from app.events import ConsoleEvents
from app.ports import RecordStore
from app.records import (
    Attachment,
    AttachmentDeleted,
    AttachmentKind,
    EncounterSummary,
    ImportResult,
    Note,
    NoteType,
    NoteVersion,
    PatientDocuments,
    SaveResult,
    SearchHit,
)


class NotesService:
    def __init__(self, store: RecordStore, events: ConsoleEvents) -> None:
        self.store = store
        self.events = events

    async def worklist(self) -> list[EncounterSummary]:
        return await self.store.list_encounters()

    async def documents_without_visit(self) -> list[PatientDocuments]:
        """The worklist's "Documents without a visit" groups, one per patient."""
        return await self.store.documents_without_visit()

    async def open_or_create_note(
        self, encounter_id: str, note_id: str | None, source: object = None
    ) -> Note:
        if note_id is not None:
            return await self.store.open_note(note_id)
        note = await self.store.create_note(encounter_id, soap.template(), NoteType.PROGRESS)
        self.events.note_did_create.emit(note, source)
        return note

    async def create_note(self, encounter_id: str, text: str, source: object = None) -> Note:
        """Create the encounter's note with its first text (the first keystroke, or the
        start of a visit): opening an encounter alone never writes a version."""
        note = await self.store.create_note(encounter_id, text, NoteType.PROGRESS)
        self.events.note_did_create.emit(note, source)
        return note

    async def save(self, note_id: str, text: str, source: object = None) -> SaveResult:
        try:
            result = await self.store.save_note_text(note_id, text)
        except ConsoleError as exc:
            self.events.save_did_fail.emit(note_id, exc)
            raise
        if result.changed:
            self.events.note_did_save.emit(result, source)
        return result

    async def history(self, note_id: str) -> list[NoteVersion]:
        return await self.store.note_history(note_id)

    async def restore(self, note_id: str, version: int, source: object = None) -> SaveResult:
        result = await self.store.restore_version(note_id, version)
        self.events.note_did_restore.emit(result, source)
        return result

    async def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        if not query.strip():
            return []
        return await self.store.search_notes(query, limit)

    async def import_bundle(self, bundle: dict[str, Any]) -> ImportResult:
        result = await self.store.import_bundle(bundle)
        self.events.records_did_import.emit(result)
        return result


class AttachmentsService:
    """Recordings and stills of an encounter: the one path for adding them.

    The plugin host's ``encounter.attach`` (plugins/_providers.py) and the UI both
    come through here, so every attachment is announced on the bus
    (``ConsoleEvents.attachment_did_add(Attachment, source)``,
    ``attachment_did_delete(AttachmentDeleted, source)``) and, through
    :meth:`app.sync.SyncService.follow`, nudges sync exactly like a note save.
    """

    def __init__(self, store: RecordStore, events: ConsoleEvents) -> None:
        self.store = store
        self.events = events

    async def attach(
        self,
        encounter_id: str,
        kind: AttachmentKind | str,
        content_type: str,
        data: bytes,
        title: str = "",
        metadata: dict[str, object] | None = None,
        source: object = None,
    ) -> Attachment:
        attachment = await self.store.add_attachment(
            encounter_id, kind, content_type, data, title, metadata
        )
        self.events.attachment_did_add.emit(attachment, source)
        return attachment

    async def for_encounter(self, encounter_id: str) -> list[Attachment]:
        return await self.store.list_attachments(encounter_id)

    async def read(self, attachment_id: str) -> bytes:
        return await self.store.read_attachment(attachment_id)

    async def delete(self, attachment_id: str, source: object = None) -> AttachmentDeleted:
        deleted = await self.store.delete_attachment(attachment_id)
        self.events.attachment_did_delete.emit(deleted, source)
        return deleted
