"""The encrypted local record store: SQLCipher on a worker thread (app.ports.RecordStore).

Opening never creates a second store beside a broken one and never writes to
a store it could not verify: every failure mode raises a specific
:mod:`app.errors` type and leaves the files as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import (
    ConsoleError,
    KeyMissingError,
    KeyringUnavailableError,
    StoreDamagedError,
    StoreError,
    StoreLockedError,
    StoreMissingError,
    WrongPassphraseError,
)
from app.records import (
    Attachment,
    AttachmentDeleted,
    AttachmentKind,
    AuditEntry,
    AuditReport,
    Encounter,
    EncounterSummary,
    ImportResult,
    KeySource,
    Note,
    NoteType,
    NoteVersion,
    Patient,
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

DB_FILE = "store.db"
PENDING_AUDIT_FILE = "audit-pending.jsonl"


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

    # --- opening, locking ---------------------------------------------------------

    @classmethod
    async def open(
        cls,
        profile: Path,
        *,
        passphrase: str | None = None,
        key_source: KeySource | None = None,
        actor: str = "local-user",
        migrate: bool = True,
    ) -> EncryptedStore:
        worker = DatabaseWorker()
        try:
            meta, _key, conn, version = await worker.run(
                _open_on_worker, profile, passphrase, key_source, migrate
            )
        except BaseException:
            worker.shutdown()
            raise
        store = cls(profile, meta, worker, actor)
        store._conn, store._schema_version, store._state = conn, version, StoreState.UNLOCKED
        if meta.key_source is KeySource.KEYRING:
            store._keyring_backend = await worker.run(keys.keyring_backend_name)
        await store._run(store._audit_unlock, "sign_in")
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
        finally:
            await self._worker.run(self._close_conn)
            self._state = StoreState.LOCKED

    async def unlock(self, passphrase: str | None = None) -> None:
        if self._state is StoreState.UNLOCKED:
            return
        try:
            conn = await self._worker.run(_reopen_on_worker, self.profile, self._meta, passphrase)
        except (WrongPassphraseError, KeyMissingError):
            await self._worker.run(_note_failed_unlock, self.profile)
            raise
        self._conn, self._state = conn, StoreState.UNLOCKED
        await self._run(self._audit_unlock, "unlock")

    async def close(self) -> None:
        if self._state is StoreState.CLOSED:
            return
        if self._state is StoreState.UNLOCKED:
            with contextlib.suppress(ConsoleError):
                await self._worker.run(self._close_conn)
        self._state = StoreState.CLOSED
        self._worker.shutdown()

    def _close_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            self._conn = None

    def _audit_unlock(self, conn: Any, action: str) -> None:
        pending = _read_pending(self.profile)
        with repository.transaction(conn):
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

        return await self._worker.run(call)

    @property
    def actor(self) -> str:
        return self._actor

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
        self, encounter_id: str, text: str, note_type: NoteType = NoteType.PROGRESS
    ) -> Note:
        def op(conn: Any) -> Note:
            with repository.transaction(conn):
                return repository.create_note(conn, self._actor, encounter_id, text, note_type)

        result: Note = await self._run(op)
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
        result: list[NoteVersion] = await self._run(repository.note_history, note_id)
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

        ``include_attachments`` adds each attachment as Binary + Media (+ the
        heart-rate Observation); such a Bundle is for other systems: this
        console's import does not read Media yet (docs/fhir.md).
        """
        from storage.fhir.bundle import build_export_bundle

        def op(conn: Any) -> dict[str, Any]:
            with repository.transaction(conn):
                patients, encounters, notes = repository.all_records(conn)
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
            return build_export_bundle(patients, encounters, notes, attachments=attachments)

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
        result: AuditReport = await self._run(audit.verify)
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


def _open_on_worker(
    profile: Path, passphrase: str | None, key_source: KeySource | None, migrate: bool
) -> tuple[StoreMeta, StoreKey, Any, int]:
    db_path = profile / DB_FILE
    meta = keys.read_meta(profile)
    if meta is not None and meta.state == "creating":
        # Creation was interrupted before the store was ready: nothing could
        # have been written to it yet, so starting over loses nothing.
        _remove_partial_store(profile, meta)
        meta = None
    if meta is None:
        if db_path.exists():
            raise StoreDamagedError(path=DB_FILE, reason="its key metadata file is missing")
        return _create(profile, passphrase, key_source)
    if not db_path.exists():
        raise StoreMissingError(path=DB_FILE)
    try:
        key = _load_key(meta, db_path, passphrase)
    except (WrongPassphraseError, KeyMissingError):
        _note_failed_unlock(profile)
        raise
    conn = database.connect(db_path, key, create=False)
    try:
        found = database.guarded(db_path, lambda: migrations.schema_version(conn))
        if found > migrations.LATEST:
            migrations.migrate(conn)  # raises SchemaTooNewError, writes nothing
        if found < migrations.LATEST and migrate:
            _backup_before_migration(conn, db_path, found)
            database.guarded(db_path, lambda: migrations.migrate(conn))
        version = database.guarded(db_path, lambda: migrations.schema_version(conn))
    except BaseException:
        conn.close()
        raise
    return meta, key, conn, version


def _load_key(meta: StoreMeta, db_path: Path, passphrase: str | None) -> StoreKey:
    if meta.key_source is KeySource.KEYRING:
        return keys.load_keyring_key(meta, db_path)
    return keys.load_passphrase_key(meta, passphrase)


def _create(
    profile: Path, passphrase: str | None, key_source: KeySource | None
) -> tuple[StoreMeta, StoreKey, Any, int]:
    profile.mkdir(parents=True, exist_ok=True, mode=0o700)
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
    except BaseException:
        conn.close()
        raise
    ready = StoreMeta(**{**meta.__dict__, "state": "ready"})
    keys.write_meta(profile, ready)
    return ready, key, conn, migrations.LATEST


def _remove_partial_store(profile: Path, meta: StoreMeta) -> None:
    for suffix in ("", "-wal", "-shm"):
        (profile / (DB_FILE + suffix)).unlink(missing_ok=True)
    if meta.key_source is KeySource.KEYRING:
        with contextlib.suppress(KeyringUnavailableError):
            keys.delete_keyring_key(meta)


def _backup_before_migration(conn: Any, db_path: Path, found: int) -> None:
    """Keep the pre-migration file (still encrypted) so a failed upgrade can be undone."""
    database.guarded(db_path, lambda: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
    backup = db_path.with_name(f"{db_path.name}.v{found}.bak")
    if not backup.exists():
        tmp = backup.with_suffix(".tmp")
        shutil.copyfile(db_path, tmp)
        database.fsync_path(tmp)
        tmp.replace(backup)


def _reopen_on_worker(profile: Path, meta: StoreMeta, passphrase: str | None) -> Any:
    db_path = profile / DB_FILE
    if not db_path.exists():
        raise StoreMissingError(path=DB_FILE)
    key = _load_key(meta, db_path, passphrase)
    return database.connect(db_path, key, create=False)


def _note_failed_unlock(profile: Path) -> None:
    """A failed unlock cannot be written to a store we cannot open; queue it for the next unlock."""
    try:
        with (profile / PENDING_AUDIT_FILE).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"ts": utc_now(), "action": "unlock_failed"}) + "\n")
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
    created_p = created_e = created_n = updated_n = unchanged = 0
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
            )
            created_n += 1
            continue
        if existing.text == note.text:
            unchanged += 1
        else:
            repository.save_note_text(conn, actor, note.id, note.text, "import")
            updated_n += 1
    return ImportResult(created_p, created_e, created_n, updated_n, unchanged)
