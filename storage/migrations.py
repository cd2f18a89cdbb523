"""Versioned schema migrations, kept in ``PRAGMA user_version``.

Each migration moves the schema from version ``n - 1`` to ``n`` inside one
transaction; a store from a newer console (``user_version`` above
:data:`LATEST`) is refused, never "migrated down". Migrations are append-only:
a released one is never edited, only followed by a new one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from app.errors import SchemaTooNewError

Connection = Any  # a sqlcipher3 or sqlite3 connection; both speak DB-API 2

_V1 = """
CREATE TABLE patients (
    id TEXT PRIMARY KEY,
    family_name TEXT NOT NULL,
    given_name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    gender TEXT NOT NULL,
    mrn TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
CREATE TABLE encounters (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    start TEXT NOT NULL,
    status TEXT NOT NULL,
    encounter_class TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
CREATE INDEX encounters_by_start ON encounters(start);
CREATE TABLE notes (
    id TEXT PRIMARY KEY,
    encounter_id TEXT NOT NULL REFERENCES encounters(id),
    text TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX notes_by_encounter ON notes(encounter_id);
CREATE TABLE note_versions (
    note_id TEXT NOT NULL REFERENCES notes(id),
    version INTEGER NOT NULL,
    text TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    PRIMARY KEY (note_id, version)
) WITHOUT ROWID;
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    op TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""

# v2: full-text search (FTS5, external content so note text is stored once)
# and append-only enforcement of the audit log at the SQL level.
_V2 = """
CREATE VIRTUAL TABLE notes_fts USING fts5(
    text, content='notes', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
);
INSERT INTO notes_fts(rowid, text) SELECT rowid, text FROM notes;
CREATE TRIGGER notes_fts_insert AFTER INSERT ON notes BEGIN
    INSERT INTO notes_fts(rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER notes_fts_delete AFTER DELETE ON notes BEGIN
    INSERT INTO notes_fts(notes_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER notes_fts_update AFTER UPDATE OF text ON notes BEGIN
    INSERT INTO notes_fts(notes_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO notes_fts(rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
"""

# v3: note types (LOINC mapping), one coalesced outbox row per record with a
# revision counter (sync acknowledges a row only if it did not change while
# in flight), and a key-value table holding the audit chain's head so a
# deleted tail of the log is detected too.
_V3 = """
ALTER TABLE notes ADD COLUMN note_type TEXT NOT NULL DEFAULT 'progress';
CREATE TABLE outbox_v3 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    op TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    UNIQUE (entity_type, entity_id)
);
INSERT INTO outbox_v3(entity_type, entity_id, op, revision, created_at, changed_at)
    SELECT entity_type, entity_id,
           CASE WHEN SUM(op = 'create') > 0 THEN 'create' ELSE 'update' END,
           COUNT(*), MIN(created_at), MAX(created_at)
    FROM outbox GROUP BY entity_type, entity_id ORDER BY MIN(seq);
DROP TABLE outbox;
ALTER TABLE outbox_v3 RENAME TO outbox;
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta(key, value)
    SELECT 'audit_head', seq || ':' || hash FROM audit_log ORDER BY seq DESC LIMIT 1;
"""


# v4: sync state. ``remote_refs`` maps a local record to the server's id and
# the last version we know the server holds (opaque, compared for equality);
# ``conflicts`` keeps the server's side of every unresolved conflict, so
# nothing is decided silently; outbox rows remember why they last failed.
_V4 = """
CREATE TABLE remote_refs (
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    server_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    content_hash TEXT NOT NULL DEFAULT '',
    synced_at TEXT NOT NULL,
    PRIMARY KEY (entity_type, entity_id)
) WITHOUT ROWID;
CREATE INDEX remote_refs_by_server_id ON remote_refs(entity_type, server_id);
CREATE TABLE conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    server_version_id TEXT NOT NULL,
    server_text TEXT NOT NULL,
    detected_at TEXT NOT NULL,
    resolved_at TEXT,
    resolution TEXT,
    UNIQUE (entity_type, entity_id, server_version_id)
);
ALTER TABLE outbox ADD COLUMN failed_revision INTEGER NOT NULL DEFAULT 0;
"""


# v5: attachments (stethoscope recordings, exam-camera stills) with their bytes
# in the encrypted store. ``data`` is the last column so that reading the
# metadata of a row never reads its overflow pages. ``observation_id`` is the
# local id of the heart-rate Observation made from a recording ('' if none).
# Sync state lives in the existing outbox and remote_refs tables.
_V5 = """
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    encounter_id TEXT NOT NULL REFERENCES encounters(id),
    kind TEXT NOT NULL CHECK (kind IN ('audio', 'image')),
    content_type TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    observation_id TEXT NOT NULL DEFAULT '',
    data BLOB NOT NULL
);
CREATE INDEX attachments_by_encounter ON attachments(encounter_id, created_at);
"""


# coding: the accepted coding of a visit (one ChargeItem draft per encounter, synced
# through the outbox as entity 'charge_item'), the emergency plan confirmed at visit
# start, and escalations (local only; audited, and their text goes into the note).
_V_CODING = """
CREATE TABLE charge_items (
    id TEXT PRIMARY KEY,
    encounter_id TEXT NOT NULL UNIQUE REFERENCES encounters(id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    modifiers TEXT NOT NULL DEFAULT '[]',
    pos TEXT NOT NULL DEFAULT '',
    service_date TEXT NOT NULL,
    payer TEXT NOT NULL,
    work TEXT NOT NULL,
    modality TEXT NOT NULL DEFAULT '',
    reasons TEXT NOT NULL DEFAULT '[]',
    performer TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE safety_plans (
    encounter_id TEXT PRIMARY KEY REFERENCES encounters(id) ON DELETE CASCADE,
    location TEXT NOT NULL,
    address TEXT NOT NULL,
    callback_number TEXT NOT NULL,
    contact_name TEXT NOT NULL DEFAULT '',
    contact_number TEXT NOT NULL DEFAULT '',
    confirmed_at TEXT NOT NULL
);
CREATE TABLE escalations (
    id TEXT PRIMARY KEY,
    encounter_id TEXT NOT NULL REFERENCES encounters(id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    actions TEXT NOT NULL DEFAULT '[]',
    number TEXT NOT NULL DEFAULT '',
    jurisdiction TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    notified INTEGER NOT NULL DEFAULT 0,
    notify_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX escalations_by_encounter ON escalations(encounter_id, at);
"""


# import (issue 14): a note may have no visit (a document from another system kept
# under its patient) and any document type. ``notes.encounter_id`` becomes nullable,
# ``notes.patient_id`` names the patient of every note, and the closed ``note_type``
# ('progress' | 'consult') becomes an open coding (system, code, display).
_V_IMPORT = """
ALTER TABLE notes ADD COLUMN patient_id TEXT NOT NULL DEFAULT '';
ALTER TABLE notes ADD COLUMN type_system TEXT NOT NULL DEFAULT 'http://loinc.org';
ALTER TABLE notes ADD COLUMN type_code TEXT NOT NULL DEFAULT '11506-3';
ALTER TABLE notes ADD COLUMN type_display TEXT NOT NULL DEFAULT 'Progress note';
UPDATE notes SET patient_id =
    (SELECT e.patient_id FROM encounters e WHERE e.id = notes.encounter_id);
UPDATE notes SET type_code = '11488-4', type_display = 'Consult note' WHERE note_type = 'consult';
ALTER TABLE notes DROP COLUMN note_type;
CREATE INDEX notes_by_patient ON notes(patient_id, encounter_id);
"""

# annotations (viewer): a still's annotation layer, stored apart from its pixels, one
# row per saved version (append-only; the latest is the highest version). ``shapes``
# is JSON: [{"kind", "points": [[x, y], ...], "text"}] in the still's own pixels.
_V_ANNOTATIONS = """
CREATE TABLE annotation_versions (
    attachment_id TEXT NOT NULL REFERENCES attachments(id) ON DELETE CASCADE,
    version INTEGER NOT NULL CHECK (version >= 1),
    shapes TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    PRIMARY KEY (attachment_id, version)
) WITHOUT ROWID;
"""

_ENCOUNTER_NOT_NULL = re.compile(
    r"encounter_id\s+TEXT\s+NOT\s+NULL\s+REFERENCES\s+encounters\s*\(\s*id\s*\)", re.IGNORECASE
)
_PATIENT_ID_DEFAULT = re.compile(r"patient_id\s+TEXT\s+NOT\s+NULL\s+DEFAULT\s+''", re.IGNORECASE)


def _migrate_import(conn: Connection) -> None:
    """Apply _V_IMPORT, then drop NOT NULL from ``notes.encounter_id`` and make
    ``notes.patient_id`` a foreign key, by editing the stored CREATE statement.

    SQLite cannot drop NOT NULL with ALTER TABLE, and rebuilding the table would need
    foreign keys off (note_versions refers to notes), which cannot change inside the
    migration's transaction. Removing a NOT NULL and adding a foreign key change no
    stored row, so the documented ``writable_schema`` procedure applies
    (https://sqlite.org/lang_altertable.html#otheralter). DROP COLUMN above rewrote
    every row, so no row relies on the patient_id default that goes away.
    """
    _script(_V_IMPORT)(conn)
    create = str(
        conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'notes'"
        ).fetchone()[0]
    )
    edited, found = _ENCOUNTER_NOT_NULL.subn("encounter_id TEXT REFERENCES encounters(id)", create)
    edited, found_p = _PATIENT_ID_DEFAULT.subn(
        "patient_id TEXT NOT NULL REFERENCES patients(id)", edited
    )
    if (found, found_p) != (1, 1):
        raise RuntimeError("the notes table does not have the shape this migration expects")
    orphans = conn.execute(
        "SELECT count(*) FROM notes WHERE patient_id NOT IN (SELECT id FROM patients)"
    ).fetchone()[0]
    if orphans:
        raise RuntimeError("a note's visit names no patient; the store needs repair first")
    version = int(conn.execute("PRAGMA schema_version").fetchone()[0])
    conn.execute("PRAGMA writable_schema = ON")
    try:
        conn.execute(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'notes'", (edited,)
        )
        conn.execute(f"PRAGMA schema_version = {version + 1}")
    finally:
        conn.execute("PRAGMA writable_schema = OFF")


# notes: signatures of notes and addenda (app/notes_signing.py). One row per signed
# note, never updated; ``appends`` names the note an addendum appends to. No foreign
# keys: retention (repository.purge_synced) removes notes and their signatures together.
# A signed note's text can no longer change, whatever code path tries (defence in depth
# beside repository.save_note_text's own check).
_V_NOTES = """
CREATE TABLE note_signatures (
    note_id TEXT PRIMARY KEY,
    provenance_id TEXT NOT NULL UNIQUE,
    signer_id TEXT NOT NULL,
    signer_display TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    jws TEXT NOT NULL,
    key_id TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    appends TEXT
) WITHOUT ROWID;
CREATE INDEX note_signatures_by_appends ON note_signatures(appends);
CREATE TRIGGER note_signatures_no_update BEFORE UPDATE ON note_signatures BEGIN
    SELECT RAISE(ABORT, 'a note signature is never changed');
END;
CREATE TRIGGER signed_note_text_frozen BEFORE UPDATE OF text ON notes
WHEN EXISTS (SELECT 1 FROM note_signatures s WHERE s.note_id = old.id) BEGIN
    SELECT RAISE(ABORT, 'a signed note is never edited');
END;
CREATE TABLE consents (
    id TEXT PRIMARY KEY,
    encounter_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    decision TEXT NOT NULL,
    method TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX consents_by_encounter ON consents(encounter_id, recorded_at);
CREATE TABLE visit_context (
    encounter_id TEXT PRIMARY KEY,
    stated_location TEXT NOT NULL,
    location_kind TEXT NOT NULL,
    identity_method TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    started_at TEXT NOT NULL DEFAULT '',
    ended_at TEXT NOT NULL DEFAULT '',
    modality TEXT NOT NULL DEFAULT '',
    participants TEXT NOT NULL DEFAULT '[]'
) WITHOUT ROWID;
"""


#: E-consult (app/econsult.py): requests with their Task, messages, answers, the stills
#: sent or pulled with them, and their own outbox (storage/sync/econsult.py), kept apart
#: from ``outbox`` so the record sync never meets a kind it does not know.
_V_ECONSULT = """
CREATE TABLE econsults (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL UNIQUE,
    origin TEXT NOT NULL CHECK (origin IN ('sent', 'pulled')),
    question TEXT NOT NULL,
    urgency TEXT NOT NULL,
    performer TEXT NOT NULL,
    requester TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    due TEXT NOT NULL DEFAULT '',
    patient_id TEXT NOT NULL DEFAULT '',
    encounter_id TEXT NOT NULL DEFAULT '',
    note_id TEXT NOT NULL DEFAULT '',
    patient_display TEXT NOT NULL DEFAULT '',
    patient_server_id TEXT NOT NULL DEFAULT '',
    sr_server_id TEXT NOT NULL DEFAULT '',
    task_server_id TEXT NOT NULL DEFAULT '',
    task_version TEXT NOT NULL DEFAULT ''
);
CREATE INDEX econsults_performer ON econsults(performer, status);
CREATE TABLE econsult_stills (
    econsult_id TEXT NOT NULL REFERENCES econsults(id) ON DELETE CASCADE,
    attachment_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    body_site TEXT NOT NULL DEFAULT '',
    data BLOB,
    PRIMARY KEY (econsult_id, attachment_id)
);
CREATE TABLE econsult_messages (
    id TEXT PRIMARY KEY,
    econsult_id TEXT NOT NULL REFERENCES econsults(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('message', 'answer')),
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    server_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX econsult_messages_by_consult ON econsult_messages(econsult_id, sent_at);
CREATE TABLE econsult_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_type TEXT NOT NULL CHECK (entity_type IN ('request', 'message', 'answer', 'status')),
    entity_id TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    UNIQUE (entity_type, entity_id)
);
"""


def _script(sql: str) -> Callable[[Connection], None]:
    def apply(conn: Connection) -> None:
        for statement in _split(sql):
            conn.execute(statement)

    return apply


def _split(sql: str) -> list[str]:
    """Split a script on ';' outside trigger bodies (executescript would commit)."""
    statements: list[str] = []
    current: list[str] = []
    depth = 0
    for line in sql.strip().splitlines():
        stripped = line.strip().upper()
        if stripped.startswith("CREATE TRIGGER"):
            depth += 1
        current.append(line)
        if stripped == "END;":
            depth -= 1
        if depth == 0 and line.rstrip().endswith(";"):
            statements.append("\n".join(current))
            current = []
    if current and "".join(current).strip():
        statements.append("\n".join(current))
    return statements


# Desktop (issue 15): who saved each note version, shown in the note's history.
_V_DESKTOP = """
ALTER TABLE note_versions ADD COLUMN author TEXT NOT NULL DEFAULT '';
"""


# dicom: stills waiting to go to the PACS over DICOMweb STOW-RS (storage/dicom/stow.py).
# A trigger queues every image in the transaction that stores it (so a crash cannot
# lose the row), existing images are queued once, and deleting a still drops its
# row. Sent only while a PACS is configured; a row leaves once the PACS stored it.
# A copy received from the far end's cart during a visit (metadata "received") is
# not queued: the cart owns the still and sends it.
_V_DICOM = """
CREATE TABLE dicom_outbox (
    attachment_id TEXT PRIMARY KEY,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
INSERT INTO dicom_outbox(attachment_id, created_at)
    SELECT id, created_at FROM attachments
    WHERE kind = 'image' AND coalesce(json_extract(metadata, '$.received'), 0) = 0;
CREATE TRIGGER dicom_outbox_queue AFTER INSERT ON attachments
WHEN NEW.kind = 'image' AND coalesce(json_extract(NEW.metadata, '$.received'), 0) = 0
BEGIN
    INSERT OR IGNORE INTO dicom_outbox(attachment_id, created_at) VALUES (NEW.id, NEW.created_at);
END;
CREATE TRIGGER dicom_outbox_forget AFTER DELETE ON attachments
BEGIN
    DELETE FROM dicom_outbox WHERE attachment_id = OLD.id;
END;
"""

# annotation sync: a still's latest annotation layer goes to the record store through
# the outbox (entity 'annotation', id = the still; storage/sync/annotations.py). Layers
# saved before this version are queued once; copies received from a cart are not (the
# cart owns the still).
_V_ANNOTATION_SYNC = """
INSERT OR IGNORE INTO outbox(entity_type, entity_id, op, revision, created_at, changed_at)
    SELECT 'annotation', v.attachment_id, 'create', 1, MIN(v.saved_at), MAX(v.saved_at)
    FROM annotation_versions v JOIN attachments a ON a.id = v.attachment_id
    WHERE json_extract(a.metadata, '$.received') IS NOT 1
    GROUP BY v.attachment_id ORDER BY MIN(v.saved_at);
"""


def _queue_annotation_layers(conn: Connection) -> None:
    """_V_ANNOTATION_SYNC (named, so a test can find its place in MIGRATIONS)."""
    _script(_V_ANNOTATION_SYNC)(conn)


# escalation (issue 13): each escalation reaches the record store as a FHIR
# Communication, and its on-call webhook outcome as a second one (storage/fhir/
# escalation.py), through the outbox as 'escalation' and 'oncall_notice'. Who recorded
# it is kept (a signer id, app.notes_signing.Signer); escalations recorded before this
# version are queued once, as are their known outcomes.
_V_ESCALATION_SYNC = """
ALTER TABLE escalations ADD COLUMN by_id TEXT NOT NULL DEFAULT '';
ALTER TABLE escalations ADD COLUMN by_display TEXT NOT NULL DEFAULT '';
INSERT OR IGNORE INTO outbox(entity_type, entity_id, op, revision, created_at, changed_at)
    SELECT 'escalation', id, 'create', 1, at, at FROM escalations;
INSERT OR IGNORE INTO outbox(entity_type, entity_id, op, revision, created_at, changed_at)
    SELECT 'oncall_notice', id, 'create', 1, at, at FROM escalations
    WHERE notified = 1 OR notify_error != '';
"""


def _sync_escalations(conn: Connection) -> None:
    """_V_ESCALATION_SYNC (named, so a test can find its place in MIGRATIONS)."""
    _script(_V_ESCALATION_SYNC)(conn)


# export: a signature that came in an imported Bundle (storage/fhir/bundle.py) and did
# not verify against the imported text keeps the reason here; NULL for a signature made
# here or one that verified. Such a signature is kept, shown as not verified, never sent.
_V_IMPORTED_SIGNATURES = """
ALTER TABLE note_signatures ADD COLUMN import_problem TEXT;
"""

MIGRATIONS: Sequence[Callable[[Connection], None]] = (
    _script(_V1),
    _script(_V2),
    _script(_V3),
    _script(_V4),
    _script(_V5),
    _migrate_import,
    _script(_V_CODING),
    _script(_V_NOTES),
    _script(_V_DESKTOP),
    _script(_V_DICOM),
    _script(_V_ANNOTATIONS),
    _script(_V_ECONSULT),
    _queue_annotation_layers,
    _sync_escalations,
    _script(_V_IMPORTED_SIGNATURES),
)
LATEST = len(MIGRATIONS)


def schema_version(conn: Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: Connection, target: int = LATEST) -> int:
    """Bring the schema to ``target``; returns the version found before migrating."""
    found = schema_version(conn)
    if found > LATEST:
        raise SchemaTooNewError(found=found, known=LATEST)
    for version in range(found + 1, target + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version - 1](conn)
            conn.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return found
