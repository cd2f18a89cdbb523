"""SQL for records, versions, search and the outbox, on one connection.

Every function here runs on the store's worker thread (see storage.worker).
Mutations run inside ``transaction(conn)`` together with their outbox row and
audit entry, so a record, its sync intent and its audit trail commit or roll
back as one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from app.errors import InputRejectedError, RecordNotFoundError, StoreDamagedError
from app.records import (
    Attachment,
    AttachmentKind,
    DocumentSummary,
    DocumentType,
    Encounter,
    EncounterSummary,
    Note,
    NoteStatus,
    NoteType,
    NoteVersion,
    Patient,
    PatientDocuments,
    SaveResult,
    SearchHit,
    check_attachment_content,
    check_attachment_metadata,
    new_id,
    utc_now,
)
from storage import audit

#: Largest attachment accepted, in bytes (a 10-minute 48 kHz 16-bit mono WAV is
#: ~58 MB; clips are seconds to a couple of minutes, stills a few MB).
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024
MAX_ATTACHMENT_TITLE_CHARS = 200
MAX_NOTE_CHARS = 2_000_000  # ~ a 1,000-page note; beyond it a paste is almost surely a mistake
_TOKEN = re.compile(r"\w+", re.UNICODE)


@contextmanager
def transaction(conn: Any) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# --- rows <-> records -----------------------------------------------------------

_PATIENT_COLS = "id, family_name, given_name, birth_date, gender, mrn, updated_at"
_ENCOUNTER_COLS = "id, patient_id, start, status, encounter_class, reason, updated_at"
_NOTE_COLS = (
    "id, encounter_id, text, version, type_system, type_code, type_display, status, "
    "created_at, updated_at, patient_id"
)


def _patient(row: Any) -> Patient:
    return Patient(*row)


def _encounter(row: Any) -> Encounter:
    return Encounter(*row)


def _note(row: Any) -> Note:
    return Note(
        id=row[0],
        encounter_id=row[1],
        text=row[2],
        version=int(row[3]),
        note_type=DocumentType(system=row[4], code=row[5], display=row[6]),
        status=NoteStatus(row[7]),
        created_at=row[8],
        updated_at=row[9],
        patient_id=row[10],
    )


# --- outbox -----------------------------------------------------------------------


def outbox_put(conn: Any, entity_type: str, entity_id: str, op: str) -> None:
    """One row per record: later changes bump the revision; an unsent create stays a create.

    A still received from the far end's cart during a visit is never queued, nor its
    annotations: the cart owns it and syncs it (docs/images.md, "During a visit")."""
    if entity_type in ("attachment", "annotation") and _is_received(conn, entity_id):
        return
    now = utc_now()
    conn.execute(
        "INSERT INTO outbox(entity_type, entity_id, op, revision, created_at, changed_at) "
        "VALUES (?, ?, ?, 1, ?, ?) "
        "ON CONFLICT(entity_type, entity_id) DO UPDATE SET revision = revision + 1, "
        "changed_at = excluded.changed_at, "
        "op = CASE WHEN outbox.op = 'create' THEN 'create' ELSE excluded.op END",
        (entity_type, entity_id, op, now, now),
    )


def _is_received(conn: Any, attachment_id: str) -> bool:
    row = conn.execute(
        "SELECT json_extract(metadata, '$.received') FROM attachments WHERE id = ?",
        (attachment_id,),
    ).fetchone()
    return row is not None and row[0] == 1


def outbox_size(conn: Any) -> int:
    return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


# --- patients and encounters ------------------------------------------------------


def insert_patient(conn: Any, actor: str, p: Patient, *, from_server: bool = False) -> Patient:
    """``from_server``: pulled from the record store, so there is nothing to send back."""
    conn.execute(
        f"INSERT INTO patients({_PATIENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (p.id, p.family_name, p.given_name, p.birth_date, p.gender, p.mrn, p.updated_at),
    )
    if not from_server:
        outbox_put(conn, "patient", p.id, "create")
    audit.append(conn, actor, "sync_pull" if from_server else "create", "patient", p.id)
    return p


def insert_encounter(
    conn: Any, actor: str, e: Encounter, *, from_server: bool = False
) -> Encounter:
    get_patient(conn, e.patient_id)
    conn.execute(
        f"INSERT INTO encounters({_ENCOUNTER_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (e.id, e.patient_id, e.start, e.status, e.encounter_class, e.reason, e.updated_at),
    )
    if not from_server:
        outbox_put(conn, "encounter", e.id, "create")
    audit.append(conn, actor, "sync_pull" if from_server else "create", "encounter", e.id)
    return e


def update_from_server(conn: Any, actor: str, record: Patient | Encounter) -> None:
    """Take demographics or visit details changed on the record store (no outbox row)."""
    if isinstance(record, Patient):
        conn.execute(
            "UPDATE patients SET family_name = ?, given_name = ?, birth_date = ?, gender = ?, "
            "updated_at = ? WHERE id = ?",
            (
                record.family_name,
                record.given_name,
                record.birth_date,
                record.gender,
                record.updated_at,
                record.id,
            ),
        )
        audit.append(conn, actor, "sync_pull", "patient", record.id)
    else:
        conn.execute(
            "UPDATE encounters SET start = ?, status = ?, encounter_class = ?, reason = ?, "
            "updated_at = ? WHERE id = ?",
            (
                record.start,
                record.status,
                record.encounter_class,
                record.reason,
                record.updated_at,
                record.id,
            ),
        )
        audit.append(conn, actor, "sync_pull", "encounter", record.id)


def get_patient(conn: Any, patient_id: str) -> Patient:
    row = conn.execute(
        f"SELECT {_PATIENT_COLS} FROM patients WHERE id = ?", (patient_id,)
    ).fetchone()
    if row is None:
        raise RecordNotFoundError(kind="patient", record_id=patient_id)
    return _patient(row)


def get_encounter(conn: Any, encounter_id: str) -> Encounter:
    row = conn.execute(
        f"SELECT {_ENCOUNTER_COLS} FROM encounters WHERE id = ?", (encounter_id,)
    ).fetchone()
    if row is None:
        raise RecordNotFoundError(kind="encounter", record_id=encounter_id)
    return _encounter(row)


def list_encounters(conn: Any, patient_id: str | None = None) -> list[EncounterSummary]:
    cols_e = ", ".join(f"e.{c.strip()}" for c in _ENCOUNTER_COLS.split(","))
    cols_p = ", ".join(f"p.{c.strip()}" for c in _PATIENT_COLS.split(","))
    sql = (
        f"SELECT {cols_e}, {cols_p}, "
        "(SELECT n.id FROM notes n WHERE n.encounter_id = e.id ORDER BY n.created_at LIMIT 1), "
        "(SELECT n.version FROM notes n WHERE n.encounter_id = e.id ORDER BY n.created_at LIMIT 1) "
        "FROM encounters e JOIN patients p ON p.id = e.patient_id"
    )
    params: tuple[str, ...] = ()
    if patient_id is not None:
        sql += " WHERE e.patient_id = ?"
        params = (patient_id,)
    sql += " ORDER BY e.start DESC"
    out: list[EncounterSummary] = []
    for row in conn.execute(sql, params):
        out.append(
            EncounterSummary(
                _encounter(row[0:7]),
                _patient(row[7:14]),
                row[14],
                None if row[15] is None else int(row[15]),
            )
        )
    return out


def all_records(conn: Any) -> tuple[list[Patient], list[Encounter], list[Note]]:
    patients = [
        _patient(r) for r in conn.execute(f"SELECT {_PATIENT_COLS} FROM patients ORDER BY id")
    ]
    encounters = [
        _encounter(r)
        for r in conn.execute(f"SELECT {_ENCOUNTER_COLS} FROM encounters ORDER BY start, id")
    ]
    notes = [
        _note(r) for r in conn.execute(f"SELECT {_NOTE_COLS} FROM notes ORDER BY created_at, id")
    ]
    return patients, encounters, notes


# --- notes ------------------------------------------------------------------------


def _check_text(text: str) -> None:
    if len(text) > MAX_NOTE_CHARS:
        raise InputRejectedError(reason=f"a note is limited to {MAX_NOTE_CHARS:,} characters")
    if "\x00" in text:
        raise InputRejectedError(reason="the note contains a NUL character")


def create_note(
    conn: Any,
    actor: str,
    encounter_id: str | None,
    text: str,
    note_type: NoteType | DocumentType,
    note_id: str | None = None,
    when: str | None = None,
    *,
    patient_id: str | None = None,
    from_server: bool = False,
) -> Note:
    """A new note under a visit, or (``encounter_id`` None) under ``patient_id`` alone.

    ``from_server``: pulled from the record store, so there is nothing to send back.
    """
    _check_text(text)
    if encounter_id is not None:
        owner = get_encounter(conn, encounter_id).patient_id
        if patient_id is not None and patient_id != owner:
            raise InputRejectedError(reason="the note's patient is not the patient of its visit")
    elif patient_id is None:
        raise InputRejectedError(reason="a note needs a visit or a patient")
    else:
        owner = get_patient(conn, patient_id).id
    kind = DocumentType.of(note_type)
    _check_document_type(kind)
    now = when or utc_now()
    note = Note(note_id or new_id(), encounter_id, text, 1, kind, NoteStatus.DRAFT, now, now, owner)
    conn.execute(
        f"INSERT INTO notes({_NOTE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            note.id,
            note.encounter_id,
            note.text,
            note.version,
            kind.system,
            kind.code,
            kind.display,
            note.status.value,
            note.created_at,
            note.updated_at,
            note.patient_id,
        ),
    )
    conn.execute(
        "INSERT INTO note_versions(note_id, version, text, saved_at, author) "
        "VALUES (?, ?, ?, ?, ?)",
        (note.id, 1, text, now, actor),
    )
    if not from_server:
        outbox_put(conn, "note", note.id, "create")
    audit.append(conn, actor, "sync_pull" if from_server else "create", "note", note.id)
    return note


#: Longest system URI, code and display name kept for a document type.
MAX_DOCUMENT_TYPE_CHARS = 1024


def _check_document_type(kind: DocumentType) -> None:
    for value in (kind.system, kind.code, kind.display):
        if len(value) > MAX_DOCUMENT_TYPE_CHARS or any(ord(c) < 32 for c in value):
            raise InputRejectedError(
                reason=f"a document type is one line of at most {MAX_DOCUMENT_TYPE_CHARS} "
                "characters per part"
            )


def documents_without_visit(conn: Any, patient_id: str | None = None) -> list[PatientDocuments]:
    """Notes kept under their patient with no visit, grouped per patient (by name)."""
    sql = (
        "SELECT n.id, n.type_system, n.type_code, n.type_display, n.status, n.version, "
        "n.created_at, n.updated_at, n.patient_id FROM notes n WHERE n.encounter_id IS NULL"
    )
    params: tuple[str, ...] = ()
    if patient_id is not None:
        sql += " AND n.patient_id = ?"
        params = (patient_id,)
    sql += " ORDER BY n.patient_id, n.updated_at DESC, n.id"
    grouped: dict[str, list[DocumentSummary]] = {}
    for row in conn.execute(sql, params):
        grouped.setdefault(str(row[8]), []).append(
            DocumentSummary(
                note_id=str(row[0]),
                document_type=DocumentType(system=row[1], code=row[2], display=row[3]),
                status=NoteStatus(row[4]),
                version=int(row[5]),
                created_at=str(row[6]),
                updated_at=str(row[7]),
            )
        )
    out = [PatientDocuments(get_patient(conn, pid), tuple(docs)) for pid, docs in grouped.items()]
    out.sort(key=lambda g: (g.patient.display_name.casefold(), g.patient.id))
    return out


def get_note(conn: Any, note_id: str) -> Note:
    row = conn.execute(f"SELECT {_NOTE_COLS} FROM notes WHERE id = ?", (note_id,)).fetchone()
    if row is None:
        raise RecordNotFoundError(kind="note", record_id=note_id)
    return _note(row)


def save_note_text(
    conn: Any, actor: str, note_id: str, text: str, action: str = "update", when: str | None = None
) -> SaveResult:
    _check_text(text)
    row = conn.execute(
        "SELECT text, version, status, updated_at FROM notes WHERE id = ?", (note_id,)
    ).fetchone()
    if row is None:
        raise RecordNotFoundError(kind="note", record_id=note_id)
    current_text, version, status, updated_at = str(row[0]), int(row[1]), str(row[2]), str(row[3])
    if text == current_text:
        return SaveResult(note_id, version, updated_at, changed=False)
    if status == NoteStatus.SIGNED.value:
        raise InputRejectedError(reason="a signed note cannot be changed; add an addendum")
    now = when or utc_now()
    version += 1
    conn.execute(
        "UPDATE notes SET text = ?, version = ?, updated_at = ? WHERE id = ?",
        (text, version, now, note_id),
    )
    conn.execute(
        "INSERT INTO note_versions(note_id, version, text, saved_at, author) "
        "VALUES (?, ?, ?, ?, ?)",
        (note_id, version, text, now, actor),
    )
    outbox_put(conn, "note", note_id, "update")
    audit.append(conn, actor, action, "note", note_id)
    return SaveResult(note_id, version, now, changed=True)


def note_history(conn: Any, note_id: str) -> list[NoteVersion]:
    get_note(conn, note_id)
    rows = conn.execute(
        "SELECT note_id, version, text, saved_at, author FROM note_versions "
        "WHERE note_id = ? ORDER BY version DESC",
        (note_id,),
    ).fetchall()
    return [NoteVersion(str(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]


def note_version_text(conn: Any, note_id: str, version: int) -> str:
    row = conn.execute(
        "SELECT text FROM note_versions WHERE note_id = ? AND version = ?", (note_id, version)
    ).fetchone()
    if row is None:
        raise RecordNotFoundError(kind="note version", record_id=f"{note_id}#{version}")
    return str(row[0])


# --- search -----------------------------------------------------------------------


def fts_query(user_text: str) -> str | None:
    """Turn what a user typed into a safe FTS5 query: every word, as a prefix, all required.

    Quoting each token means FTS5 syntax (AND, NEAR, ``*``, quotes, column
    filters) typed by a user is searched for as text, never parsed.
    """
    tokens = _TOKEN.findall(user_text)[:16]
    if not tokens:
        return None
    return " ".join('"' + token.replace('"', '""') + '"*' for token in tokens)


def search_notes(conn: Any, user_text: str, limit: int) -> list[SearchHit]:
    query = fts_query(user_text)
    if query is None:
        return []
    rows = conn.execute(
        "SELECT n.id, coalesce(n.encounter_id, ''), n.patient_id, p.family_name, "
        "p.given_name, snippet(notes_fts, 0, '[[', ']]', '…', 16), n.updated_at "
        "FROM notes_fts JOIN notes n ON n.rowid = notes_fts.rowid "
        "JOIN patients p ON p.id = n.patient_id "
        # Newest first, not by bm25 rank: ranking scores every match, and common
        # clinical words match most notes (p95 142 ms -> 7.5 ms over 100k notes,
        # docs/storage-tuning.md). Clinicians look for recent notes first anyway.
        "WHERE notes_fts MATCH ? ORDER BY notes_fts.rowid DESC LIMIT ?",
        (query, max(1, min(limit, 500))),
    ).fetchall()
    return [
        SearchHit(str(r[0]), str(r[1]), str(r[2]), f"{r[3]}, {r[4]}", str(r[5]), str(r[6]))
        for r in rows
    ]


# --- attachments ------------------------------------------------------------------

_ATTACHMENT_COLS = (
    "id, encounter_id, kind, content_type, title, created_at, size_bytes, sha256, metadata, "
    "observation_id"
)


def _attachment(row: Any) -> Attachment:
    return Attachment(
        id=str(row[0]),
        encounter_id=str(row[1]),
        kind=AttachmentKind(row[2]),
        content_type=str(row[3]),
        title=str(row[4]),
        created_at=str(row[5]),
        size_bytes=int(row[6]),
        sha256=str(row[7]),
        metadata=json.loads(row[8]),
        observation_id=str(row[9]),
    )


def check_attachment(
    kind: object, content_type: object, data: object, title: object, metadata: object
) -> tuple[AttachmentKind, str, bytes, str, dict[str, object]]:
    """Everything add_attachment checks before touching the database.

    Raises InputRejectedError whose reason names the problem, never a value.
    """
    try:
        checked_kind = AttachmentKind(str(kind))
    except ValueError:
        raise InputRejectedError(reason="an attachment kind must be audio or image") from None
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputRejectedError(reason="attachment data must be bytes")
    raw = bytes(data)
    if not raw:
        raise InputRejectedError(reason="the attachment is empty")
    if len(raw) > MAX_ATTACHMENT_BYTES:
        raise InputRejectedError(
            reason=f"an attachment is limited to {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB "
            f"({len(raw):,} bytes given)"
        )
    if not isinstance(content_type, str):
        raise InputRejectedError(reason="an attachment content type must be text")
    if not isinstance(title, str):
        raise InputRejectedError(reason="an attachment title must be text")
    if len(title) > MAX_ATTACHMENT_TITLE_CHARS or any(ord(c) < 32 for c in title):
        raise InputRejectedError(
            reason=f"an attachment title is one line of at most {MAX_ATTACHMENT_TITLE_CHARS} "
            "characters"
        )
    try:
        title.encode("utf-8")
    except UnicodeEncodeError:
        raise InputRejectedError(reason="the attachment title is not valid Unicode") from None
    try:
        normalised = check_attachment_content(checked_kind, content_type, raw)
        checked = check_attachment_metadata(checked_kind, metadata)
    except ValueError as exc:
        raise InputRejectedError(reason=str(exc)) from None
    return checked_kind, normalised, raw, title, checked


def add_attachment(
    conn: Any,
    actor: str,
    encounter_id: str,
    kind: object,
    content_type: object,
    data: object,
    title: object = "",
    metadata: object = None,
    *,
    attachment_id: str | None = None,
    when: str | None = None,
) -> Attachment:
    """Store one attachment with its outbox row and audit entry (caller's transaction)."""
    checked_kind, normalised, raw, checked_title, checked = check_attachment(
        kind, content_type, data, title, metadata
    )
    get_encounter(conn, encounter_id)
    attachment = Attachment(
        id=attachment_id or new_id(),
        encounter_id=encounter_id,
        kind=checked_kind,
        content_type=normalised,
        title=checked_title,
        created_at=when or utc_now(),
        size_bytes=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        metadata=checked,
        observation_id=new_id() if "heart_rate_bpm" in checked else "",
    )
    conn.execute(
        f"INSERT INTO attachments({_ATTACHMENT_COLS}, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            attachment.id,
            attachment.encounter_id,
            attachment.kind.value,
            attachment.content_type,
            attachment.title,
            attachment.created_at,
            attachment.size_bytes,
            attachment.sha256,
            json.dumps(checked, sort_keys=True, separators=(",", ":")),
            attachment.observation_id,
            raw,
        ),
    )
    outbox_put(conn, "attachment", attachment.id, "create")  # skipped for a received copy
    audit.append(conn, actor, "create", "attachment", attachment.id)
    return attachment


def get_attachment(conn: Any, attachment_id: str) -> Attachment:
    row = conn.execute(
        f"SELECT {_ATTACHMENT_COLS} FROM attachments WHERE id = ?", (attachment_id,)
    ).fetchone()
    if row is None:
        raise RecordNotFoundError(kind="attachment", record_id=attachment_id)
    return _attachment(row)


def list_attachments(conn: Any, encounter_id: str) -> list[Attachment]:
    get_encounter(conn, encounter_id)
    rows = conn.execute(
        f"SELECT {_ATTACHMENT_COLS} FROM attachments WHERE encounter_id = ? "
        "ORDER BY created_at, id",
        (encounter_id,),
    ).fetchall()
    return [_attachment(r) for r in rows]


def all_attachments(conn: Any) -> list[Attachment]:
    rows = conn.execute(
        f"SELECT {_ATTACHMENT_COLS} FROM attachments ORDER BY created_at, id"
    ).fetchall()
    return [_attachment(r) for r in rows]


def attachment_data(conn: Any, attachment_id: str) -> bytes:
    """The bytes, checked against the stored digest (no audit entry: callers audit reads)."""
    row = conn.execute(
        "SELECT data, sha256 FROM attachments WHERE id = ?", (attachment_id,)
    ).fetchone()
    if row is None:
        raise RecordNotFoundError(kind="attachment", record_id=attachment_id)
    data = bytes(row[0])
    if hashlib.sha256(data).hexdigest() != row[1]:
        raise StoreDamagedError(path="store.db", reason="an attachment does not match its digest")
    return data


def delete_attachment(conn: Any, actor: str, attachment_id: str) -> Attachment:
    """Remove an attachment the record store has never acknowledged (a mistaken recording).

    Once the server holds it, deleting here would only hide it locally, so it is
    refused; corrections then belong on the server (``entered-in-error``).
    """
    attachment = get_attachment(conn, attachment_id)
    synced = conn.execute(
        "SELECT 1 FROM remote_refs WHERE entity_type = 'attachment' AND entity_id = ?",
        (attachment_id,),
    ).fetchone()
    if synced is not None:
        raise InputRejectedError(
            reason="an attachment that has been synced to the record store cannot be deleted"
        )
    conn.execute("DELETE FROM attachments WHERE id = ?", (attachment_id,))
    conn.execute(
        "DELETE FROM outbox WHERE entity_type IN ('attachment', 'annotation') AND entity_id = ?",
        (attachment_id,),
    )
    audit.append(conn, actor, "delete", "attachment", attachment_id)
    return attachment


# --- local retention (sync) -----------------------------------------------------------------


def purge_synced(conn: Any, actor: str, before: str) -> int:
    """Remove visits that started before ``before`` (an ISO instant) from the local cache
    when everything of them is on the record store: the patient, the visit, each note and
    attachment acknowledged (a ``remote_refs`` row), nothing waiting in the outbox and no
    open conflict; an annotated still's latest layer acknowledged too (storage/sync/
    annotations.py), with no conflict on it. A lost or stolen
    cart then holds as little patient data as possible. Each removal is audited; a patient
    goes with its last visit. Returns visits removed."""
    rows = conn.execute(
        "SELECT e.id, e.patient_id FROM encounters e WHERE e.start < ? "
        "AND EXISTS (SELECT 1 FROM remote_refs r WHERE r.entity_type = 'encounter' "
        "AND r.entity_id = e.id) "
        "AND EXISTS (SELECT 1 FROM remote_refs r WHERE r.entity_type = 'patient' "
        "AND r.entity_id = e.patient_id) "
        "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE (o.entity_type = 'encounter' "
        "AND o.entity_id = e.id) OR (o.entity_type = 'patient' AND o.entity_id = e.patient_id) "
        "OR (o.entity_type IN ('note', 'provenance') AND o.entity_id IN "
        "(SELECT id FROM notes WHERE encounter_id = e.id)) "
        "OR (o.entity_type IN ('attachment', 'annotation') AND o.entity_id IN "
        "(SELECT id FROM attachments WHERE encounter_id = e.id)) "
        "OR (o.entity_type = 'charge_item' AND o.entity_id IN "
        "(SELECT id FROM charge_items WHERE encounter_id = e.id)) "
        "OR (o.entity_type = 'consent' AND o.entity_id IN "
        "(SELECT id FROM consents WHERE encounter_id = e.id)) "
        "OR (o.entity_type IN ('escalation', 'oncall_notice') AND o.entity_id IN "
        "(SELECT id FROM escalations WHERE encounter_id = e.id))) "
        "AND NOT EXISTS (SELECT 1 FROM notes n WHERE n.encounter_id = e.id AND NOT EXISTS "
        "(SELECT 1 FROM remote_refs r WHERE r.entity_type = 'note' AND r.entity_id = n.id)) "
        "AND NOT EXISTS (SELECT 1 FROM attachments t WHERE t.encounter_id = e.id AND NOT EXISTS "
        "(SELECT 1 FROM remote_refs r WHERE r.entity_type = 'attachment' "
        "AND r.entity_id = t.id)) "
        # An annotated still: its latest layer is on the record store too.
        "AND NOT EXISTS (SELECT 1 FROM annotation_versions v JOIN attachments t "
        "ON t.id = v.attachment_id WHERE t.encounter_id = e.id AND NOT EXISTS "
        "(SELECT 1 FROM remote_refs r WHERE r.entity_type = 'annotation' "
        "AND r.entity_id = v.attachment_id)) "
        "AND NOT EXISTS (SELECT 1 FROM conflicts c WHERE c.resolved_at IS NULL AND "
        "(c.entity_id = e.id OR c.entity_id IN (SELECT id FROM notes WHERE encounter_id = e.id) "
        "OR c.entity_id IN (SELECT id FROM attachments WHERE encounter_id = e.id)))",
        (before,),
    ).fetchall()
    for encounter_id, patient_id in rows:
        notes = [
            str(r[0])
            for r in conn.execute("SELECT id FROM notes WHERE encounter_id = ?", (encounter_id,))
        ]
        atts = conn.execute(
            "SELECT id, observation_id FROM attachments WHERE encounter_id = ?", (encounter_id,)
        ).fetchall()
        for note_id in notes:
            conn.execute("DELETE FROM note_versions WHERE note_id = ?", (note_id,))
            conn.execute("DELETE FROM note_signatures WHERE note_id = ?", (note_id,))
            conn.execute("DELETE FROM notes WHERE id = ?", (note_id,))
            conn.execute(
                "DELETE FROM remote_refs WHERE entity_type = 'note' AND entity_id = ?", (note_id,)
            )
        for att_id, observation_id in atts:
            conn.execute("DELETE FROM annotation_versions WHERE attachment_id = ?", (att_id,))
            conn.execute("DELETE FROM attachments WHERE id = ?", (att_id,))
            conn.execute(
                "DELETE FROM remote_refs WHERE (entity_type IN ('attachment', "
                "'attachment_binary', 'annotation') AND entity_id = ?) OR "
                "(entity_type = 'observation' AND entity_id = ?)",
                (att_id, observation_id),
            )
            conn.execute("DELETE FROM meta WHERE key = ?", (f"sent:annotation:{att_id}",))
        conn.execute(
            "DELETE FROM remote_refs WHERE entity_type IN ('escalation', 'oncall_notice') "
            "AND entity_id IN (SELECT id FROM escalations WHERE encounter_id = ?)",
            (encounter_id,),
        )
        conn.execute("DELETE FROM escalations WHERE encounter_id = ?", (encounter_id,))
        conn.execute("DELETE FROM safety_plans WHERE encounter_id = ?", (encounter_id,))
        conn.execute("DELETE FROM consents WHERE encounter_id = ?", (encounter_id,))
        conn.execute("DELETE FROM visit_context WHERE encounter_id = ?", (encounter_id,))
        conn.execute("DELETE FROM encounters WHERE id = ?", (encounter_id,))
        conn.execute(
            "DELETE FROM remote_refs WHERE entity_type IN ('encounter', 'appointment') "
            "AND entity_id = ?",
            (encounter_id,),
        )
        audit.append(conn, actor, "retention_purge", "encounter", str(encounter_id))
        # Documents without a visit stay, and keep their patient.
        left = conn.execute(
            "SELECT 1 FROM encounters WHERE patient_id = ? UNION ALL "
            "SELECT 1 FROM notes WHERE patient_id = ? LIMIT 1",
            (patient_id, patient_id),
        ).fetchone()
        if left is None:
            conn.execute("DELETE FROM patients WHERE id = ?", (patient_id,))
            conn.execute(
                "DELETE FROM remote_refs WHERE entity_type = 'patient' AND entity_id = ?",
                (patient_id,),
            )
            audit.append(conn, actor, "retention_purge", "patient", str(patient_id))
    return len(rows)
