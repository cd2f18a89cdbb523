"""Visit-start facts in the store: stated location, identity check, consents.

Runs on the store's worker thread; :func:`record_visit_start` writes the context, the
consents with their outbox rows (synced as FHIR Consent by storage.fhir.consent) and
one audit entry in the caller's transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.errors import RecordNotFoundError
from app.records import Note
from app.templates import HeaderParticipant, Template
from app.visit_start import (
    ConsentDecision,
    ConsentMethod,
    ConsentRecord,
    ConsentScope,
    LocationKind,
    VisitContext,
)
from storage import audit, repository

_CONSENT_COLS = "id, encounter_id, scope, decision, method, recorded_by, recorded_at"


def _consent(row: Any) -> ConsentRecord:
    return ConsentRecord(
        str(row[0]),
        str(row[1]),
        ConsentScope(row[2]),
        ConsentDecision(row[3]),
        ConsentMethod(row[4]),
        str(row[5]),
        str(row[6]),
    )


def record_visit_start(
    conn: Any, actor: str, context: VisitContext, consents: list[ConsentRecord]
) -> None:
    repository.get_encounter(conn, context.encounter_id)
    conn.execute(
        "INSERT INTO visit_context(encounter_id, stated_location, location_kind, "
        "identity_method, recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(encounter_id) DO UPDATE SET stated_location = excluded.stated_location, "
        "location_kind = excluded.location_kind, identity_method = excluded.identity_method, "
        "recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at",
        (
            context.encounter_id,
            context.stated_location,
            context.location_kind.value,
            context.identity_method,
            context.recorded_by,
            context.recorded_at,
        ),
    )
    for consent in consents:
        conn.execute(
            f"INSERT INTO consents({_CONSENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                consent.id,
                consent.encounter_id,
                consent.scope.value,
                consent.decision.value,
                consent.method.value,
                consent.recorded_by,
                consent.recorded_at,
            ),
        )
        repository.outbox_put(conn, "consent", consent.id, "create")
    conn.execute(
        "UPDATE visit_context SET started_at = ? WHERE encounter_id = ? AND started_at = ''",
        (context.recorded_at, context.encounter_id),
    )
    # The Encounter goes up again with the stated location (storage/fhir/consent.py).
    repository.outbox_put(conn, "encounter", context.encounter_id, "update")
    audit.append(conn, actor, "visit_start", "encounter", context.encounter_id)


def record_stated_location(conn: Any, actor: str, context: VisitContext, source: str) -> None:
    """The location confirmed again during the visit (e.g. from the patient's page)."""
    found = conn.execute(
        "UPDATE visit_context SET stated_location = ?, location_kind = ?, recorded_by = ?, "
        "recorded_at = ? WHERE encounter_id = ?",
        (
            context.stated_location,
            context.location_kind.value,
            context.recorded_by,
            context.recorded_at,
            context.encounter_id,
        ),
    ).rowcount
    if not found:
        raise RecordNotFoundError(kind="visit start", record_id=context.encounter_id)
    # The Encounter goes up again with the new location (storage/fhir/consent.py).
    repository.outbox_put(conn, "encounter", context.encounter_id, "update")
    audit.append(conn, actor, f"visit_location_{source}", "encounter", context.encounter_id)


def record_visit_end(
    conn: Any,
    actor: str,
    encounter_id: str,
    ended_at: str,
    modality: str,
    participants: list[tuple[str, str]],
) -> None:
    cur = conn.execute(
        "UPDATE visit_context SET ended_at = ?, modality = ?, participants = ? "
        "WHERE encounter_id = ?",
        (ended_at, modality, json.dumps(participants), encounter_id),
    )
    if cur.rowcount:
        repository.outbox_put(conn, "encounter", encounter_id, "update")
        audit.append(conn, actor, "visit_end", "encounter", encounter_id)


@dataclass(frozen=True, slots=True)
class VisitFacts:
    """What the Encounter carries of a visit (storage/fhir/consent.py ``decorate_encounter``)."""

    stated_location: str
    location_kind: str
    ended_at: str
    modality: str
    participants: tuple[tuple[str, str], ...]


def encounter_facts(conn: Any, encounter_id: str) -> VisitFacts | None:
    row = conn.execute(
        "SELECT stated_location, location_kind, ended_at, modality, participants "
        "FROM visit_context WHERE encounter_id = ?",
        (encounter_id,),
    ).fetchone()
    if row is None:
        return None
    people = tuple((str(n), str(r)) for n, r in json.loads(row[4]))
    return VisitFacts(str(row[0]), str(row[1]), str(row[2]), str(row[3]), people)


def get_consent(conn: Any, consent_id: str) -> ConsentRecord | None:
    row = conn.execute(
        f"SELECT {_CONSENT_COLS} FROM consents WHERE id = ?", (consent_id,)
    ).fetchone()
    return None if row is None else _consent(row)


def visit_facts(conn: Any, encounter_id: str) -> tuple[VisitContext | None, list[ConsentRecord]]:
    row = conn.execute(
        "SELECT encounter_id, stated_location, location_kind, identity_method, recorded_by, "
        "recorded_at FROM visit_context WHERE encounter_id = ?",
        (encounter_id,),
    ).fetchone()
    context = (
        None
        if row is None
        else VisitContext(
            str(row[0]), str(row[1]), LocationKind(row[2]), str(row[3]), str(row[4]), str(row[5])
        )
    )
    rows = conn.execute(
        f"SELECT {_CONSENT_COLS} FROM consents WHERE encounter_id = ? ORDER BY recorded_at, rowid",
        (encounter_id,),
    ).fetchall()
    return context, [_consent(r) for r in rows]


def all_consents(conn: Any) -> list[ConsentRecord]:
    rows = conn.execute(
        f"SELECT {_CONSENT_COLS} FROM consents ORDER BY recorded_at, rowid"
    ).fetchall()
    return [_consent(r) for r in rows]


def import_consent(conn: Any, actor: str, consent: ConsentRecord) -> bool:
    """Keep a consent that came in an imported Bundle and queue it for the record store
    (whose conditional create by identifier finds one another console already sent);
    False when it is already here (re-import)."""
    if get_consent(conn, consent.id) is not None:
        return False
    repository.get_encounter(conn, consent.encounter_id)
    conn.execute(
        f"INSERT INTO consents({_CONSENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            consent.id,
            consent.encounter_id,
            consent.scope.value,
            consent.decision.value,
            consent.method.value,
            consent.recorded_by,
            consent.recorded_at,
        ),
    )
    repository.outbox_put(conn, "consent", consent.id, "create")
    audit.append(conn, actor, "import_consent", "encounter", consent.encounter_id)
    return True


def first_note(conn: Any, encounter_id: str) -> Note | None:
    row = conn.execute(
        "SELECT id FROM notes WHERE encounter_id = ? AND NOT EXISTS (SELECT 1 FROM "
        "note_signatures s WHERE s.note_id = notes.id AND s.appends IS NOT NULL) "
        "ORDER BY created_at LIMIT 1",
        (encounter_id,),
    ).fetchone()
    return None if row is None else repository.get_note(conn, str(row[0]))


class StoreVisitStart:
    """app.visit_start.VisitStartStore over storage.store.EncryptedStore."""

    def __init__(self, store: Any) -> None:
        self.store = store

    async def record_visit_start(
        self, context: VisitContext, consents: list[ConsentRecord]
    ) -> None:
        await self.store.transact(record_visit_start, self.store.actor, context, consents)

    async def visit_facts(
        self, encounter_id: str
    ) -> tuple[VisitContext | None, list[ConsentRecord]]:
        result: tuple[VisitContext | None, list[ConsentRecord]] = await self.store.transact(
            visit_facts, encounter_id
        )
        return result

    async def record_stated_location(self, context: VisitContext, source: str) -> None:
        await self.store.transact(record_stated_location, self.store.actor, context, source)

    async def record_visit_end(
        self,
        encounter_id: str,
        ended_at: str,
        modality: str,
        participants: tuple[HeaderParticipant, ...],
    ) -> None:
        people = [(p.name, p.role) for p in participants]
        await self.store.transact(
            record_visit_end, self.store.actor, encounter_id, ended_at, modality, people
        )

    async def first_note(self, encounter_id: str) -> Note | None:
        result: Note | None = await self.store.transact(first_note, encounter_id)
        return result

    async def create_note(self, encounter_id: str, text: str, template: Template | None) -> Note:
        from app.records import NoteType

        note_type = template.note_type if template is not None else NoteType.PROGRESS
        note: Note = await self.store.create_note(encounter_id, text, note_type)
        return note

    async def save_note_text(self, note_id: str, text: str) -> object:
        return await self.store.save_note_text(note_id, text)
