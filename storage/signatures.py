"""Note signatures in the store: SQL (on the worker thread) and the SignatureStore adapter.

Every write here runs in the caller's transaction together with its outbox rows and
audit entry, so a signature, the note becoming final and their sync intent commit
or roll back as one (a crash leaves either a draft or a signed note, never between).
"""

from __future__ import annotations

import json
from typing import Any

from app.errors import InputRejectedError, NoteChangedError, RecordNotFoundError
from app.notes_signing import NoteSignature, SigningMaterial
from app.records import Note, NoteStatus
from storage import audit, repository

_COLS = (
    "note_id, provenance_id, signer_id, signer_display, signed_at, jws, key_id, public_jwk, "
    "content_sha256, appends, import_problem"
)


def _signature(row: Any) -> NoteSignature:
    return NoteSignature(
        note_id=str(row[0]),
        provenance_id=str(row[1]),
        signer_id=str(row[2]),
        signer_display=str(row[3]),
        signed_at=str(row[4]),
        jws=str(row[5]),
        key_id=str(row[6]),
        public_jwk=json.loads(row[7]),
        content_sha256=str(row[8]),
        appends=None if row[9] is None else str(row[9]),
        import_problem=None if row[10] is None else str(row[10]),
    )


def get_signature(conn: Any, note_id: str) -> NoteSignature | None:
    row = conn.execute(
        f"SELECT {_COLS} FROM note_signatures WHERE note_id = ?", (note_id,)
    ).fetchone()
    return None if row is None else _signature(row)


def signature_by_provenance(conn: Any, provenance_id: str) -> NoteSignature | None:
    row = conn.execute(
        f"SELECT {_COLS} FROM note_signatures WHERE provenance_id = ?", (provenance_id,)
    ).fetchone()
    return None if row is None else _signature(row)


def appends_of(conn: Any, note_id: str) -> str | None:
    row = conn.execute(
        "SELECT appends FROM note_signatures WHERE note_id = ?", (note_id,)
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def addenda(conn: Any, note_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT note_id FROM note_signatures WHERE appends = ? ORDER BY signed_at, note_id",
        (note_id,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def open_conflicts(conn: Any, note_id: str) -> tuple[int, ...]:
    rows = conn.execute(
        "SELECT id FROM conflicts WHERE entity_type = 'note' AND entity_id = ? "
        "AND resolved_at IS NULL ORDER BY id",
        (note_id,),
    ).fetchall()
    return tuple(int(r[0]) for r in rows)


def signing_material(conn: Any, note_id: str) -> SigningMaterial:
    note = repository.get_note(conn, note_id)
    patient_id = (
        note.patient_id or repository.get_encounter(conn, note.encounter_id or "").patient_id
    )
    return SigningMaterial(
        note, patient_id, get_signature(conn, note_id), open_conflicts(conn, note_id)
    )


def _insert(conn: Any, sig: NoteSignature) -> None:
    conn.execute(
        f"INSERT INTO note_signatures({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            sig.note_id,
            sig.provenance_id,
            sig.signer_id,
            sig.signer_display,
            sig.signed_at,
            sig.jws,
            sig.key_id,
            json.dumps(sig.public_jwk, sort_keys=True),
            sig.content_sha256,
            sig.appends,
            sig.import_problem,
        ),
    )


def commit_signature(conn: Any, actor: str, sig: NoteSignature, expected_version: int) -> None:
    """The note, still the draft that was signed, becomes final (caller's transaction)."""
    row = conn.execute("SELECT version, status FROM notes WHERE id = ?", (sig.note_id,)).fetchone()
    if row is None:
        raise RecordNotFoundError(kind="note", record_id=sig.note_id)
    if str(row[1]) != NoteStatus.DRAFT.value or get_signature(conn, sig.note_id) is not None:
        raise NoteChangedError(reason="it was signed meanwhile")
    if int(row[0]) != expected_version:
        raise NoteChangedError(reason="it was edited while it was being signed")
    if open_conflicts(conn, sig.note_id):
        raise NoteChangedError(reason="it has an unresolved sync conflict")
    conn.execute(
        "UPDATE notes SET status = ?, updated_at = ? WHERE id = ?",
        (NoteStatus.SIGNED.value, sig.signed_at, sig.note_id),
    )
    _insert(conn, sig)
    # The final DocumentReference first (an unsent create stays a create), then its
    # Provenance, which storage.fhir.provenance sends once the note is on the server.
    repository.outbox_put(conn, "note", sig.note_id, "update")
    repository.outbox_put(conn, "provenance", sig.note_id, "create")
    audit.append(conn, actor, "sign", "note", sig.note_id)


def commit_addendum(
    conn: Any, actor: str, addendum: Note, sig: NoteSignature, resolves_conflict: int | None
) -> None:
    """A signed addendum appended to a signed note (caller's transaction)."""
    assert sig.appends is not None and sig.note_id == addendum.id
    parent = repository.get_note(conn, sig.appends)
    if parent.status is not NoteStatus.SIGNED:
        raise InputRejectedError(reason="only a signed note takes addenda")
    repository.create_note(
        conn,
        actor,
        addendum.encounter_id,
        addendum.text,
        addendum.note_type,
        note_id=addendum.id,
        when=addendum.created_at,
        patient_id=parent.patient_id,
    )
    conn.execute(
        "UPDATE notes SET status = ?, updated_at = ? WHERE id = ?",
        (NoteStatus.SIGNED.value, sig.signed_at, addendum.id),
    )
    _insert(conn, sig)
    repository.outbox_put(conn, "provenance", addendum.id, "create")
    audit.append(conn, actor, "sign_addendum", "note", addendum.id)
    if resolves_conflict is not None:
        from storage.sync import queue

        if resolves_conflict not in open_conflicts(conn, parent.id):
            raise NoteChangedError(reason="the conflict is not open on this note")
        # The signed note goes back to the record store as it was signed (an update on
        # the server's version); the server's words stay in the conflict record, and the
        # addendum is the clinician's answer to them.
        queue.resolve_conflict(conn, actor, resolves_conflict, "addendum")


def all_signatures(conn: Any) -> list[NoteSignature]:
    """Every signature, notes before their addenda (export)."""
    rows = conn.execute(
        f"SELECT {_COLS} FROM note_signatures ORDER BY appends IS NOT NULL, signed_at, note_id"
    ).fetchall()
    return [_signature(r) for r in rows]


def import_signature(conn: Any, actor: str, sig: NoteSignature) -> str | None:
    """Keep a signature that came with an imported note (caller's transaction, after the
    note was imported): the note becomes signed and final, the Provenance is queued for
    the record store unless the signature did not verify (``import_problem``).

    Returns None when kept, "" when this very signature was already here (re-import),
    else why it was not kept (value-free)."""
    held = get_signature(conn, sig.note_id)
    if held is not None:
        if held.jws == sig.jws:
            return ""
        return f"note {sig.note_id}: already signed here by another signature; kept as it was"
    other = signature_by_provenance(conn, sig.provenance_id)
    if other is not None:
        return f"note {sig.note_id}: its Provenance id is already another note's here; not kept"
    conn.execute("UPDATE notes SET status = ? WHERE id = ?", (NoteStatus.SIGNED.value, sig.note_id))
    _insert(conn, sig)
    if sig.import_problem is None:
        repository.outbox_put(conn, "note", sig.note_id, "update")
        repository.outbox_put(conn, "provenance", sig.note_id, "create")
    audit.append(conn, actor, "import_signature", "note", sig.note_id)
    return None


def note_states(conn: Any, note_ids: list[str]) -> list[tuple[str, NoteStatus, str]]:
    out: list[tuple[str, NoteStatus, str]] = []
    for start in range(0, len(note_ids), 500):
        chunk = note_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT id, status, created_at FROM notes WHERE id IN ({marks})", chunk
        ).fetchall()
        out.extend((str(r[0]), NoteStatus(r[1]), str(r[2])) for r in rows)
    return out


def unverified(conn: Any, note_ids: list[str]) -> set[str]:
    out: set[str] = set()
    for start in range(0, len(note_ids), 500):
        chunk = note_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT note_id FROM note_signatures WHERE note_id IN ({marks}) "
            "AND import_problem IS NOT NULL",
            chunk,
        ).fetchall()
        out.update(str(r[0]) for r in rows)
    return out


def delete_for_notes(conn: Any, note_ids: list[str]) -> None:
    """Retention: signatures leave with their notes (repository.purge_synced)."""
    for note_id in note_ids:
        conn.execute("DELETE FROM note_signatures WHERE note_id = ?", (note_id,))


class StoreSignatures:
    """app.notes_signing.SignatureStore over storage.store.EncryptedStore."""

    def __init__(self, store: Any) -> None:
        self.store = store

    async def signing_material(self, note_id: str) -> SigningMaterial:
        result: SigningMaterial = await self.store.transact(signing_material, note_id)
        return result

    async def commit_signature(self, signature: NoteSignature, expected_version: int) -> None:
        await self.store.transact(commit_signature, self.store.actor, signature, expected_version)

    async def commit_addendum(
        self, addendum: Note, signature: NoteSignature, resolves_conflict: int | None
    ) -> None:
        await self.store.transact(
            commit_addendum, self.store.actor, addendum, signature, resolves_conflict
        )

    async def addenda(self, note_id: str) -> list[str]:
        result: list[str] = await self.store.transact(addenda, note_id)
        return result

    async def read_addendum(self, note_id: str) -> tuple[Note, NoteSignature]:
        note: Note = await self.store.open_note(note_id)  # audited as a read
        signature = await self.store.transact(get_signature, note_id)
        if signature is None:
            raise RecordNotFoundError(kind="note signature", record_id=note_id)
        return note, signature

    async def read_conflicts(self, note_id: str) -> list[tuple[int, str]]:
        return [(c.id, c.server_text) for c in await self.store.read_conflicts(note_id)]

    async def note_states(self, note_ids: list[str]) -> list[tuple[str, NoteStatus, str]]:
        result: list[tuple[str, NoteStatus, str]] = await self.store.transact(note_states, note_ids)
        return result

    async def unverified(self, note_ids: list[str]) -> set[str]:
        result: set[str] = await self.store.transact(unverified, note_ids)
        return result
