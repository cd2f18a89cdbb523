"""The encrypted local record store: SQLCipher on a worker thread (app.ports.RecordStore).

Opening never creates a second store beside a broken one and never writes to
a store it could not verify: every failure mode raises a specific
:mod:`app.errors` type and leaves the files as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import (
    AuditRollbackError,
    ConsoleError,
    KeyMissingError,
    StoreDamagedError,
    StoreError,
    StoreLockedError,
    StoreMetadataDamagedError,
    StoreMissingError,
    WrongPassphraseError,
)
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
    KeySource,
    Note,
    NoteType,
    NoteVersion,
    Patient,
    PatientDocuments,
    SaveResult,
    SearchHit,
    StoreState,
    StoreStatus,
    new_id,
    utc_now,
)
from storage import audit, database, keys, migrations, repository
from storage.keys import StoreKey, StoreMeta
from storage.worker import DatabaseWorker

if TYPE_CHECKING:  # fhir.resources is slow to import; keep it off the start-up path
    from storage.fhir.bundle import ParsedImport

log = logging.getLogger(__name__)

DB_FILE = "store.db"
PENDING_AUDIT_FILE = "audit-pending.jsonl"
#: The chain head is anchored outside the database at lock, close, and at most
#: this often while writes happen (never inside a save: see _after_write).
ANCHOR_INTERVAL_S = 60.0
_USER_TABLES = ("patients", "encounters", "notes", "attachments")


def default_actor() -> str:
    """The OS account name: who the audit log names until clinician sign-in exists."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in the environment (some containers, services)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def store_exists(profile: Path) -> bool:
    """Whether this profile already has a store (so the UI asks to unlock, not to create)."""
    return (profile / keys.META_FILE).exists() or (profile / DB_FILE).exists()


class EncryptedStore:
    """Async facade; every method's SQL runs on the store's own worker thread."""

    def __init__(self, profile: Path, meta: StoreMeta, worker: DatabaseWorker, actor: str) -> None:
        self.profile = profile
        self.db_path = profile / DB_FILE
        self._meta = meta
        self._worker = worker
        self._actor = actor
        self._conn: Any = None
        self._schema_version: int | None = None
        self._state = StoreState.CLOSED
        self._keyring_backend = ""  # read once on the worker: the UI reads status often
        self._anchor: _Anchor | None = None
        self._anchoring = False  # an anchor write is under way: do not start another
        self._anchored_at = 0.0
        self._anchor_task: asyncio.Task[None] | None = None
        self._anchor_frozen = False
        self._anchored_once = False

    # --- opening, locking ---------------------------------------------------------

    @classmethod
    async def open(
        cls,
        profile: Path,
        *,
        passphrase: str | None = None,
        key_source: KeySource | None = None,
        actor: str | None = None,
        migrate: bool = True,
        on_rollback: str = "raise",
    ) -> EncryptedStore:
        """Open (or, for a new profile, create) the store.

        ``actor`` names the person in every audit entry (default: the OS
        account). ``on_rollback`` says what to do with a database older than
        the audit anchor kept outside it: ``"raise"`` (AuditRollbackError, the
        default), ``"report"`` (open, leave the anchor alone, so that
        ``verify_audit`` names what is missing: ``audit verify``), or
        ``"reanchor"`` (accept it, record an ``audit_reanchor`` entry and anchor
        the current head: only ``audit reanchor --confirm``).
        """
        if on_rollback not in ("raise", "report", "reanchor"):
            raise ValueError(on_rollback)
        who = actor or default_actor()
        worker = DatabaseWorker()
        try:
            opened = await worker.run(
                _open_on_worker,
                profile,
                passphrase,
                key_source,
                migrate,
                on_rollback != "raise",
                who,
            )
        except BaseException:
            worker.shutdown()
            raise
        store = cls(profile, opened.meta, worker, who)
        store._anchored_at = time.monotonic()  # anchored explicitly below
        store._conn, store._schema_version = opened.conn, opened.version
        store._anchor, store._state = opened.anchor, StoreState.UNLOCKED
        if opened.rollback is not None and on_rollback == "report":
            # Keep the evidence: the anchor stays where it was; verify reports it.
            store._anchor_frozen = True
        if opened.meta.key_source is KeySource.KEYRING:
            store._keyring_backend = await worker.run(keys.keyring_backend_name)
        reanchored = opened.rollback if on_rollback == "reanchor" else None
        await store._run(store._audit_unlock, "sign_in", reanchored)
        await store._write_anchor()
        return store

    @property
    def status(self) -> StoreStatus:
        return StoreStatus(
            state=self._state,
            key_source=self._meta.key_source,
            keyring_backend=self._keyring_backend,
            schema_version=self._schema_version,
            path=str(self.db_path),
        )

    @property
    def sqlcipher_version(self) -> str:
        return database.sqlcipher_version()

    @property
    def store_id(self) -> str:
        return self._meta.store_id

    async def lock(self) -> None:
        """Close the database and drop the key; data calls raise StoreLockedError until unlock.

        The store locks even when the audit entry cannot be written (full disk):
        an idle logoff that fails open would be worse than a missing "lock" entry.
        """
        if self._state is not StoreState.UNLOCKED:
            return
        try:
            await self._run(
                lambda conn: audit_and_commit(conn, self._actor, "lock", "store", self.store_id)
            )
            try:
                await self._write_anchor()
            except (ConsoleError, OSError) as exc:
                # Locking matters more than this anchor; the next unlock anchors again.
                log.warning("audit anchor not written at lock: %s", type(exc).__name__)
        finally:
            try:
                await self._worker.run(self._close_conn)
            finally:
                self._conn, self._anchor = None, None
                self._state = StoreState.LOCKED

    async def unlock(self, passphrase: str | None = None) -> None:
        if self._state is StoreState.UNLOCKED:
            return
        try:
            conn, anchor = await self._worker.run(
                _reopen_on_worker, self.profile, self._meta, passphrase
            )
        except (WrongPassphraseError, KeyMissingError):
            await self._worker.run(_note_failed_unlock, self.profile)
            raise
        self._conn, self._anchor, self._state = conn, anchor, StoreState.UNLOCKED
        await self._run(self._audit_unlock, "unlock", None)
        await self._write_anchor()

    async def close(self) -> None:
        if self._state is StoreState.CLOSED:
            return
        try:
            if self._state is StoreState.UNLOCKED:
                with contextlib.suppress(ConsoleError):
                    await self._write_anchor()
                with contextlib.suppress(ConsoleError):
                    await self._worker.run(self._close_conn)
        finally:
            self._conn, self._anchor = None, None
            self._state = StoreState.CLOSED
            self._worker.shutdown()

    # --- the audit anchor (outside the database) ----------------------------------

    async def _write_anchor(self) -> None:
        """Record the chain head outside the database (keyring entry or MACed file)."""
        task = self._anchor_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            with contextlib.suppress(Exception):
                await task
        anchor = self._anchor
        if anchor is None or self._anchor_frozen or self._state is not StoreState.UNLOCKED:
            return
        self._anchoring = True
        try:
            value: str = await self._run(audit.head)
            await asyncio.to_thread(anchor.write, value)
            self._anchored_at = time.monotonic()
            if not self._anchored_once:
                # From now on a missing anchor means the file went back (or was removed).
                await self._run(_mark_anchored)
                self._anchored_once = True
        finally:
            self._anchoring = False

    def _after_write(self) -> None:
        """At most every ANCHOR_INTERVAL_S, anchor in the background: never inside a save."""
        if self._anchoring or time.monotonic() - self._anchored_at < ANCHOR_INTERVAL_S:
            return
        if self._anchor_task is not None and not self._anchor_task.done():
            return
        self._anchored_at = time.monotonic()

        async def anchor_soon() -> None:
            with contextlib.suppress(ConsoleError, OSError):
                await self._write_anchor()

        self._anchor_task = asyncio.get_running_loop().create_task(anchor_soon())

    def _close_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            self._conn = None

    def _audit_unlock(self, conn: Any, action: str, rollback: AuditRollbackError | None) -> None:
        pending = _read_pending(self.profile)
        with repository.transaction(conn):
            if rollback is not None:
                # An explicit `audit reanchor --confirm`: the older file is accepted
                # and that decision is itself part of the trail.
                audit.append(
                    conn,
                    self._actor,
                    "audit_reanchor",
                    "audit_log",
                    f"anchored entry {rollback.params['seq']} {rollback.params['problem']}",
                )
            for ts in pending:
                audit.append(conn, self._actor, "unlock_failed", "store", self.store_id, ts=ts)
            audit.append(conn, self._actor, action, "store", self.store_id)
        if pending:
            (self.profile / PENDING_AUDIT_FILE).unlink(missing_ok=True)

    async def _run(self, fn: Any, *args: Any) -> Any:
        if self._state is not StoreState.UNLOCKED:
            raise StoreLockedError()

        def call() -> Any:
            if self._conn is None:
                raise StoreLockedError()
            return database.guarded(self.db_path, lambda: fn(self._conn, *args))

        result = await self._worker.run(call)
        self._after_write()
        return result

    @property
    def actor(self) -> str:
        return self._actor

    def set_actor(self, actor: str) -> None:
        """Who the following audit entries name (app/identity.py: the clinician who
        signed in, set before the unlock that follows the sign-in is recorded)."""
        if not actor or any(c in actor for c in "\x00\x1f\n\r"):
            raise ValueError("an audit actor is a non-empty single line")
        self._actor = actor

    async def transact(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(conn, *args)`` in one transaction on the worker (for storage.sync)."""

        def op(conn: Any) -> Any:
            with repository.transaction(conn):
                return fn(conn, *args)

        return await self._run(op)

    # --- records ------------------------------------------------------------------

    async def add_patient(self, patient: Patient) -> Patient:
        def op(conn: Any) -> Patient:
            with repository.transaction(conn):
                return repository.insert_patient(conn, self._actor, patient)

        result: Patient = await self._run(op)
        return result

    async def add_encounter(self, encounter: Encounter) -> Encounter:
        def op(conn: Any) -> Encounter:
            with repository.transaction(conn):
                return repository.insert_encounter(conn, self._actor, encounter)

        result: Encounter = await self._run(op)
        return result

    async def list_encounters(self, patient_id: str | None = None) -> list[EncounterSummary]:
        result: list[EncounterSummary] = await self._run(repository.list_encounters, patient_id)
        return result

    async def get_patient(self, patient_id: str) -> Patient:
        result: Patient = await self._run(repository.get_patient, patient_id)
        return result

    async def create_note(
        self, encounter_id: str, text: str, note_type: NoteType | DocumentType = NoteType.PROGRESS
    ) -> Note:
        def op(conn: Any) -> Note:
            with repository.transaction(conn):
                return repository.create_note(conn, self._actor, encounter_id, text, note_type)

        result: Note = await self._run(op)
        return result

    async def documents_without_visit(self) -> list[PatientDocuments]:
        """Each patient's notes that have no visit (imported or pulled documents)."""
        result: list[PatientDocuments] = await self._run(repository.documents_without_visit)
        return result

    async def open_note(self, note_id: str) -> Note:
        def op(conn: Any) -> Note:
            with repository.transaction(conn):
                note = repository.get_note(conn, note_id)
                audit.append(conn, self._actor, "read", "note", note_id)
                return note

        result: Note = await self._run(op)
        return result

    async def save_note_text(self, note_id: str, text: str) -> SaveResult:
        def op(conn: Any) -> SaveResult:
            with repository.transaction(conn):
                return repository.save_note_text(conn, self._actor, note_id, text)

        result: SaveResult = await self._run(op)
        return result

    async def note_history(self, note_id: str) -> list[NoteVersion]:
        """Every saved version (their texts): recorded in the audit log as a read of the history."""

        def op(conn: Any) -> list[NoteVersion]:
            with repository.transaction(conn):
                history = repository.note_history(conn, note_id)
                audit.append(conn, self._actor, "read_history", "note", note_id)
                return history

        result: list[NoteVersion] = await self._run(op)
        return result

    async def record_read(self, entity_type: str, entity_id: str) -> None:
        """Record that the user opened a record's content (an opened search result, a
        conflict's texts): once per opened item, never per keystroke."""
        await self._run(
            lambda conn: audit_and_commit(conn, self._actor, "read", entity_type, entity_id)
        )

    async def read_conflicts(self, note_id: str) -> list[Any]:
        """The open conflicts of a note with the server's text, audited as a read of each."""
        from storage.sync import queue

        def op(conn: Any) -> list[Any]:
            with repository.transaction(conn):
                found = queue.open_conflicts(conn, note_id)
                for conflict in found:
                    audit.append(conn, self._actor, "read", "conflict", str(conflict.id))
                return found

        result: list[Any] = await self._run(op)
        return result

    async def restore_version(self, note_id: str, version: int) -> SaveResult:
        def op(conn: Any) -> SaveResult:
            with repository.transaction(conn):
                text = repository.note_version_text(conn, note_id, version)
                return repository.save_note_text(conn, self._actor, note_id, text, "restore")

        result: SaveResult = await self._run(op)
        return result

    async def search_notes(self, query: str, limit: int = 50) -> list[SearchHit]:
        result: list[SearchHit] = await self._run(repository.search_notes, query, limit)
        return result

    # --- attachments ----------------------------------------------------------------

    async def add_attachment(
        self,
        encounter_id: str,
        kind: AttachmentKind | str,
        content_type: str,
        data: bytes,
        title: str = "",
        metadata: dict[str, object] | None = None,
    ) -> Attachment:
        """Store a recording or still for an encounter, queued for sync and audited.

        Raises InputRejectedError (bad kind, content type, bytes, title or
        metadata, over repository.MAX_ATTACHMENT_BYTES) before anything is written.
        """
        # Checked here, off the worker, so a 50 MB refusal does not hold the database.
        repository.check_attachment(kind, content_type, data, title, metadata)

        def op(conn: Any) -> Attachment:
            with repository.transaction(conn):
                return repository.add_attachment(
                    conn, self._actor, encounter_id, kind, content_type, data, title, metadata
                )

        result: Attachment = await self._run(op)
        return result

    async def list_attachments(self, encounter_id: str) -> list[Attachment]:
        result: list[Attachment] = await self._run(repository.list_attachments, encounter_id)
        return result

    async def get_attachment(self, attachment_id: str) -> Attachment:
        result: Attachment = await self._run(repository.get_attachment, attachment_id)
        return result

    async def read_attachment(self, attachment_id: str) -> bytes:
        """The bytes, for playback or display; recorded in the audit log as a read."""

        def op(conn: Any) -> bytes:
            with repository.transaction(conn):
                data = repository.attachment_data(conn, attachment_id)
                audit.append(conn, self._actor, "read", "attachment", attachment_id)
                return data

        result: bytes = await self._run(op)
        return result

    async def delete_attachment(self, attachment_id: str) -> AttachmentDeleted:
        """Delete an attachment that was never synced; InputRejectedError once it was."""

        def op(conn: Any) -> AttachmentDeleted:
            with repository.transaction(conn):
                gone = repository.delete_attachment(conn, self._actor, attachment_id)
                return AttachmentDeleted(gone.id, gone.encounter_id)

        result: AttachmentDeleted = await self._run(op)
        return result

    # --- import / export -------------------------------------------------------------

    async def export_bundle(self, *, include_attachments: bool = False) -> dict[str, Any]:
        """A FHIR collection Bundle of every record.

        Signed notes carry their Provenance, visits their Consents.
        ``include_attachments`` adds each attachment as Binary + Media (+ the
        heart-rate Observation); such a Bundle is for other systems: this
        console's import does not read Media yet (docs/fhir.md).
        """
        from storage import consents, signatures
        from storage.fhir.bundle import build_export_bundle

        def op(conn: Any) -> dict[str, Any]:
            with repository.transaction(conn):
                patients, encounters, notes = repository.all_records(conn)
                signed = signatures.all_signatures(conn)
                consent_records = consents.all_consents(conn)
                attachments: list[tuple[Attachment, bytes]] = []
                if include_attachments:
                    attachments = [
                        (a, repository.attachment_data(conn, a.id))
                        for a in repository.all_attachments(conn)
                    ]
                what = f"{len(notes)} notes"
                if include_attachments:
                    what += f", {len(attachments)} attachments"
                audit.append(conn, self._actor, "export", "bundle", what)
            return build_export_bundle(
                patients,
                encounters,
                notes,
                attachments=attachments,
                signatures=signed,
                consents=consent_records,
            )

        result: dict[str, Any] = await self._run(op)
        return result

    async def import_bundle(self, bundle: dict[str, Any]) -> ImportResult:
        from storage.fhir.bundle import parse_import_bundle

        # Parse and validate everything before the first write: a rejected file
        # changes nothing. Parsing is CPU-bound (seconds for 10k resources), so
        # it runs off the event loop and off the database thread.
        loop = asyncio.get_running_loop()
        parsed = await loop.run_in_executor(None, parse_import_bundle, bundle)
        return await self.import_parsed(parsed)

    async def import_parsed(self, parsed: ParsedImport) -> ImportResult:
        def op(conn: Any) -> ImportResult:
            with repository.transaction(conn):
                result = _apply_import(conn, self._actor, parsed)
                audit.append(conn, self._actor, "import", "bundle", new_id())
            return result

        result: ImportResult = await self._run(op)
        return result

    # --- audit, outbox, health ---------------------------------------------------------

    async def record_event(self, action: str, entity_type: str = "", entity_id: str = "") -> None:
        await self._run(
            lambda conn: audit_and_commit(conn, self._actor, action, entity_type, entity_id)
        )

    async def audit_entries(self) -> list[AuditEntry]:
        result: list[AuditEntry] = await self._run(audit.entries)
        return result

    async def verify_audit(self) -> AuditReport:
        """Every entry's MAC and link, rows past the recorded head, and the outside anchor."""
        anchor = self._anchor
        outside = None if anchor is None else await asyncio.to_thread(anchor.read)
        result: AuditReport = await self._run(audit.verify, outside)
        return result

    async def audit_entries_after(self, seq: int, limit: int = 100) -> list[AuditEntry]:
        """Entries after ``seq`` (for pushing them to the record store as AuditEvents)."""
        result: list[AuditEntry] = await self._run(audit.entries, seq, limit)
        return result

    async def outbox_size(self) -> int:
        result: int = await self._run(repository.outbox_size)
        return result

    async def integrity_problems(self) -> list[str]:
        result: list[str] = await self._run(database.integrity_check)
        return result

    async def counts(self) -> dict[str, int]:
        def op(conn: Any) -> dict[str, int]:
            return {
                table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in (
                    "patients",
                    "encounters",
                    "notes",
                    "note_versions",
                    "audit_log",
                    "outbox",
                )
            }

        result: dict[str, int] = await self._run(op)
        return result


def audit_and_commit(
    conn: Any, actor: str, action: str, entity_type: str = "", entity_id: str = ""
) -> None:
    with repository.transaction(conn):
        audit.append(conn, actor, action, entity_type, entity_id)


# --- worker-thread helpers -------------------------------------------------------------


class _Anchor:
    """Where the chain head lives outside the database, and how to read and write it.

    Keyring mode: an entry ``audit-anchor:<store id>`` beside the store key.
    Passphrase mode: ``audit-anchor.json`` in the profile, MACed with a key
    derived from the passphrase. Holds no database key (repr is redacted).
    """

    def __init__(self, profile: Path, meta: StoreMeta, key: StoreKey) -> None:
        self._profile = profile
        self._meta = meta
        # Only the derived anchor MAC key is kept (passphrase mode), never the store key.
        self._mac_key = (
            None if meta.key_source is KeySource.KEYRING else keys.Secret(keys.anchor_mac_key(key))
        )

    def __repr__(self) -> str:
        return f"_Anchor({self._meta.key_source.value}, <redacted>)"

    def read(self) -> str | None:
        if self._mac_key is None:
            return keys.read_keyring_anchor(self._meta)
        return keys.read_file_anchor(self._profile, self._meta, self._mac_key.reveal())

    def write(self, value: str) -> None:
        if self._mac_key is None:
            keys.write_keyring_anchor(self._meta, value)
        else:
            keys.write_file_anchor(self._profile, self._meta, self._mac_key.reveal(), value)


class _Opened:
    __slots__ = ("anchor", "conn", "meta", "rollback", "version")

    def __init__(
        self,
        meta: StoreMeta,
        conn: Any,
        version: int,
        anchor: _Anchor,
        rollback: AuditRollbackError | None,
    ) -> None:
        self.meta, self.conn, self.version = meta, conn, version
        self.anchor, self.rollback = anchor, rollback


def _open_on_worker(
    profile: Path,
    passphrase: str | None,
    key_source: KeySource | None,
    migrate: bool,
    accept_rollback: bool,
    actor: str,
) -> _Opened:
    database.require_sqlcipher()  # before any file is created, read or written
    db_path = profile / DB_FILE
    meta = keys.read_meta(profile)
    if meta is None:
        if db_path.exists():
            raise StoreDamagedError(path=DB_FILE, reason="its key metadata file is missing")
        return _create(profile, passphrase, key_source, actor)
    creating = meta.state == "creating"
    if not db_path.exists() and not creating:
        raise StoreMissingError(path=DB_FILE)
    try:
        key = _load_key(meta, db_path, passphrase)
    except (WrongPassphraseError, KeyMissingError):
        _note_failed_unlock(profile)
        raise
    if meta.format >= 2 and not keys.meta_is_authentic(meta, key):
        raise StoreMetadataDamagedError(
            path=keys.META_FILE, reason="it was changed by something other than the console"
        )
    conn = database.connect(db_path, key, create=creating and not db_path.exists())
    try:
        found = database.guarded(db_path, lambda: migrations.schema_version(conn))
        if creating:
            # The only case that may continue a creation: the first run died
            # before the store was ready. Nothing is removed; creation resumes
            # with the same key, and only if no record was ever written.
            if database.guarded(db_path, lambda: _has_user_rows(conn)):
                raise StoreMetadataDamagedError(
                    path=keys.META_FILE,
                    reason="it says the store is still being created, but the store holds records",
                )
        elif meta.format < 2 and database.guarded(
            db_path, lambda: _db_meta(conn, "meta_format")
        ) == str(keys.META_FORMAT):
            raise StoreMetadataDamagedError(
                path=keys.META_FILE, reason="it is an older copy than the store"
            )
        if found > migrations.LATEST:
            migrations.migrate(conn)  # raises SchemaTooNewError, writes nothing
        if not accept_rollback and meta.format >= 2 and found >= 1:
            # Before anything is written (migration, re-keying): a file older
            # than the anchor (e.g. store.db.vN.bak put back) is refused here.
            outside = _Anchor(profile, meta, key).read()
            if outside is not None:
                database.guarded(db_path, lambda: _check_anchor_reached(conn, outside))
        if found < migrations.LATEST and migrate:
            if found > 0 and not creating:
                _backup_before_migration(conn, db_path, found)
            database.guarded(db_path, lambda: migrations.migrate(conn))
        version = database.guarded(db_path, lambda: migrations.schema_version(conn))
        if meta.format < 2 or creating:
            meta, key = _upgrade_meta(profile, meta, key, passphrase)
        anchor = _Anchor(profile, meta, key)
        rollback = database.guarded(
            db_path, lambda: _attach_audit(conn, profile, meta, key, anchor, actor, accept_rollback)
        )
    except BaseException:
        conn.close()
        raise
    return _Opened(meta, conn, version, anchor, rollback)


def _mark_anchored(conn: Any) -> None:
    if _db_meta(conn, "audit_anchored") != "1":
        with repository.transaction(conn):
            _set_db_meta(conn, "audit_anchored", "1")


def _check_anchor_reached(conn: Any, anchor: str) -> None:
    seq_text = anchor.partition(":")[0]
    row = conn.execute("SELECT max(seq) FROM audit_log").fetchone()
    last = int(row[0]) if row and row[0] is not None else 0
    if seq_text.isdigit() and last < int(seq_text):
        raise AuditRollbackError(
            seq=int(seq_text), problem="is missing although it was recorded outside the store"
        )


def _db_meta(conn: Any, name: str) -> str | None:
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if has_meta is None:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def _has_user_rows(conn: Any) -> bool:
    tables = {
        str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    return any(
        conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
        for table in _USER_TABLES
        if table in tables
    )


def _upgrade_meta(
    profile: Path, meta: StoreMeta, key: StoreKey, passphrase: str | None
) -> tuple[StoreMeta, StoreKey]:
    """Write sealed (format 2), ready metadata; passphrase stores get a fresh salt."""
    ready = StoreMeta(**{**meta.__dict__, "state": "ready"})
    if meta.key_source is KeySource.PASSPHRASE and meta.format < 2:
        assert passphrase is not None  # load_passphrase_key checked it
        key, sealed = keys.rekey_passphrase_meta(ready, passphrase)
    else:
        sealed = keys.seal_meta(ready, key)
    keys.write_meta(profile, sealed)
    return sealed, key


def _audit_key(meta: StoreMeta, key: StoreKey, *, create: bool) -> bytes:
    if meta.key_source is KeySource.KEYRING:
        return keys.keyring_audit_key(meta, create=create)
    return keys.audit_mac_key_from_passphrase(key)


def _attach_audit(
    conn: Any,
    profile: Path,
    meta: StoreMeta,
    key: StoreKey,
    anchor: _Anchor,
    actor: str,
    accept_rollback: bool,
) -> AuditRollbackError | None:
    """Give the connection its audit key, key a legacy chain, and check the outside anchor.

    Returns the rollback that was accepted (``accept_rollback``), else None.
    """
    keyed = audit.is_keyed(conn)
    conn.audit_key = _audit_key(meta, key, create=not keyed)
    if not keyed:
        with repository.transaction(conn):
            audit.rechain(conn, actor)
            _set_db_meta(conn, "meta_format", str(keys.META_FORMAT))
    elif _db_meta(conn, "meta_format") != str(keys.META_FORMAT):
        with repository.transaction(conn):
            _set_db_meta(conn, "meta_format", str(keys.META_FORMAT))
    if _db_meta(conn, "store_id") != meta.store_id:
        # The AuditEvents pushed to the record store name the store they came from.
        with repository.transaction(conn):
            _set_db_meta(conn, "store_id", meta.store_id)
    outside = anchor.read()
    try:
        if outside is not None:
            audit.check_anchor(conn, outside)
        elif _db_meta(conn, "audit_anchored") == "1":
            raise AuditRollbackError(seq=0, problem="has no anchor outside the store any more")
    except AuditRollbackError as exc:
        if not accept_rollback:
            raise
        return exc
    return None


def _set_db_meta(conn: Any, name: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def _load_key(meta: StoreMeta, db_path: Path, passphrase: str | None) -> StoreKey:
    if meta.key_source is KeySource.KEYRING:
        return keys.load_keyring_key(meta, db_path)
    return keys.load_passphrase_key(meta, passphrase)


def _create(
    profile: Path, passphrase: str | None, key_source: KeySource | None, actor: str
) -> _Opened:
    profile.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        profile.chmod(0o700)
    store_id = new_id()
    source = key_source or (KeySource.PASSPHRASE if passphrase is not None else KeySource.KEYRING)
    if source is KeySource.KEYRING:
        key, meta = keys.create_keyring_key(store_id)
    else:
        key, meta = keys.create_passphrase_key(store_id, passphrase)
    keys.write_meta(profile, meta)
    db_path = profile / DB_FILE
    conn = database.connect(db_path, key, create=True)
    try:
        database.guarded(db_path, lambda: migrations.migrate(conn))
        conn.audit_key = _audit_key(meta, key, create=True)

        def keyed_from_the_start() -> None:
            with repository.transaction(conn):
                audit.mark_keyed(conn)
                _set_db_meta(conn, "meta_format", str(keys.META_FORMAT))
                _set_db_meta(conn, "store_id", meta.store_id)

        database.guarded(db_path, keyed_from_the_start)
        ready = keys.seal_meta(StoreMeta(**{**meta.__dict__, "state": "ready"}), key)
        keys.write_meta(profile, ready)
    except BaseException:
        conn.close()
        raise
    return _Opened(ready, conn, migrations.LATEST, _Anchor(profile, ready, key), None)


def _backup_before_migration(conn: Any, db_path: Path, found: int) -> None:
    """Keep the pre-migration file (still encrypted) so a failed upgrade can be undone."""
    database.guarded(db_path, lambda: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
    backup = db_path.with_name(f"{db_path.name}.v{found}.bak")
    if not backup.exists():
        tmp = backup.with_suffix(".tmp")
        # Owner-only from the first byte, like every file in the profile.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out, db_path.open("rb") as src:
            shutil.copyfileobj(src, out)
        database.fsync_path(tmp)
        tmp.replace(backup)


def _reopen_on_worker(
    profile: Path, meta: StoreMeta, passphrase: str | None
) -> tuple[Any, _Anchor]:
    db_path = profile / DB_FILE
    if not db_path.exists():
        raise StoreMissingError(path=DB_FILE)
    key = _load_key(meta, db_path, passphrase)
    conn = database.connect(db_path, key, create=False)
    try:
        anchor = _Anchor(profile, meta, key)
        conn.audit_key = _audit_key(meta, key, create=False)
        outside = anchor.read()
        if outside is not None:
            database.guarded(db_path, lambda: audit.check_anchor(conn, outside))
        elif database.guarded(db_path, lambda: _db_meta(conn, "audit_anchored")) == "1":
            raise AuditRollbackError(seq=0, problem="has no anchor outside the store any more")
    except BaseException:
        conn.close()
        raise
    return conn, anchor


def _note_failed_unlock(profile: Path) -> None:
    """A failed unlock cannot be written to a store we cannot open; queue it for the next unlock."""
    line = json.dumps({"ts": utc_now(), "action": "unlock_failed"}) + "\n"
    try:
        fd = os.open(profile / PENDING_AUDIT_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line)
    except OSError:
        pass  # a full or read-only disk must not turn a wrong passphrase into a crash


def _read_pending(profile: Path) -> list[str]:
    path = profile / PENDING_AUDIT_FILE
    if not path.exists():
        return []
    out: list[str] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            out.append(str(json.loads(line)["ts"]))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def _apply_import(conn: Any, actor: str, parsed: ParsedImport) -> ImportResult:
    from storage import consents, signatures

    created_p = created_e = created_n = updated_n = unchanged = 0
    text_kept: list[str] = []
    for patient in parsed.patients:
        try:
            repository.get_patient(conn, patient.id)
            unchanged += 1
        except StoreError:
            repository.insert_patient(conn, actor, patient)
            created_p += 1
    for encounter in parsed.encounters:
        try:
            repository.get_encounter(conn, encounter.id)
            unchanged += 1
        except StoreError:
            repository.insert_encounter(conn, actor, encounter)
            created_e += 1
    for note in parsed.notes:
        try:
            existing = repository.get_note(conn, note.id)
        except StoreError:
            repository.create_note(
                conn,
                actor,
                note.encounter_id,
                note.text,
                note.note_type,
                note_id=note.id,
                when=note.created_at,
                patient_id=note.patient_id or None,
            )
            created_n += 1
            continue
        if existing.text == note.text:
            unchanged += 1
        elif signatures.get_signature(conn, note.id) is not None:
            # Signed here: never edited (the file's words would need an addendum).
            text_kept.append(f"note {note.id}: signed here, its text in the file differs; kept")
        else:
            repository.save_note_text(conn, actor, note.id, note.text, "import")
            updated_n += 1
    skipped = list(parsed.skipped)
    signed = not_verified = 0
    for sig in parsed.signatures:
        outcome = signatures.import_signature(conn, actor, sig)
        if outcome is None:
            signed += 1
            not_verified += sig.import_problem is not None
        elif outcome:
            skipped.append(outcome)
    created_c = 0
    for consent in parsed.consents:
        if consents.import_consent(conn, actor, consent):
            created_c += 1
        else:
            unchanged += 1
    return ImportResult(
        created_p,
        created_e,
        created_n,
        updated_n,
        unchanged,
        signed,
        not_verified,
        created_c,
        tuple(skipped + text_kept),
    )
