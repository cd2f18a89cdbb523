"""E-consult records in the encrypted store (app.econsult.EconsultStore).

Runs on the store's worker thread like storage.repository. Every local write puts
the record, its ``econsult_outbox`` row and its audit entry in one transaction, so
a crash leaves either all three or none; storage/sync/econsult.py deletes an
outbox row only when the record store acknowledged it. Records pulled from the
record store (the specialist's side) are written without outbox rows.
"""

from __future__ import annotations

from typing import Any

from app.econsult import (
    ConsultAnswer,
    ConsultMessage,
    ConsultRequest,
    ConsultStatus,
    ConsultStill,
    NewConsult,
    Origin,
    Urgency,
)
from app.errors import InputRejectedError, RecordNotFoundError
from app.records import new_id, utc_now
from storage import audit, repository

_COLS = (
    "id, task_id, origin, question, urgency, performer, requester, status, created_at, due, "
    "patient_id, encounter_id, note_id, patient_display, sr_server_id"
)


def outbox_put(conn: Any, entity_type: str, entity_id: str) -> None:
    conn.execute(
        "INSERT INTO econsult_outbox(entity_type, entity_id) VALUES (?, ?) "
        "ON CONFLICT(entity_type, entity_id) DO NOTHING",
        (entity_type, entity_id),
    )


def create_consult(conn: Any, actor: str, new: NewConsult, requester: str) -> ConsultRequest:
    """A request on a visit this console holds, with stills of that visit (checked here,
    in the transaction that writes it)."""
    encounter = repository.get_encounter(conn, new.encounter_id)
    stills: list[tuple[str, str, str, str, str]] = []
    for attachment_id in new.still_ids:
        try:
            att = repository.get_attachment(conn, attachment_id)
        except RecordNotFoundError:
            raise InputRejectedError(reason="a selected still is not stored here") from None
        if att.encounter_id != encounter.id:
            raise InputRejectedError(reason="a selected still belongs to another visit")
        site = att.metadata.get("body_site")
        stills.append(
            (att.id, att.content_type, att.sha256, att.title, site if isinstance(site, str) else "")
        )
    if new.note_id:
        note = repository.get_note(conn, new.note_id)
        if note.patient_id != encounter.patient_id:
            raise InputRejectedError(reason="the note belongs to another patient")
    consult_id, task_id, now = new_id(), new_id(), utc_now()
    conn.execute(
        "INSERT INTO econsults(id, task_id, origin, question, urgency, performer, requester, "
        "status, created_at, updated_at, due, patient_id, encounter_id, note_id) "
        "VALUES (?, ?, 'sent', ?, ?, ?, ?, 'requested', ?, ?, ?, ?, ?, ?)",
        (
            consult_id,
            task_id,
            new.question,
            str(new.urgency),
            new.performer,
            requester,
            now,
            now,
            new.due,
            encounter.patient_id,
            encounter.id,
            new.note_id,
        ),
    )
    for position, still in enumerate(stills):
        conn.execute(
            "INSERT INTO econsult_stills(econsult_id, attachment_id, position, content_type, "
            "sha256, title, body_site) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (consult_id, *still[:1], position, *still[1:]),
        )
    outbox_put(conn, "request", consult_id)
    audit.append(conn, actor, "create", "econsult", consult_id)
    return get_consult(conn, consult_id)


def _row_to_consult(conn: Any, row: Any) -> ConsultRequest:
    consult_id = str(row[0])
    stills = tuple(
        ConsultStill(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]))
        for r in conn.execute(
            "SELECT attachment_id, content_type, sha256, title, body_site FROM econsult_stills "
            "WHERE econsult_id = ? ORDER BY position",
            (consult_id,),
        )
    )
    messages: list[ConsultMessage] = []
    answer: ConsultAnswer | None = None
    for m in conn.execute(
        "SELECT id, kind, author, text, sent_at, server_id FROM econsult_messages "
        "WHERE econsult_id = ? ORDER BY sent_at, rowid",
        (consult_id,),
    ):
        if m[1] == "answer":
            answer = ConsultAnswer(
                str(m[0]), consult_id, str(m[2]), str(m[3]), str(m[4]), bool(m[5])
            )
        else:
            messages.append(
                ConsultMessage(str(m[0]), consult_id, str(m[2]), str(m[3]), str(m[4]), bool(m[5]))
            )
    return ConsultRequest(
        id=consult_id,
        task_id=str(row[1]),
        origin=Origin(row[2]),
        question=str(row[3]),
        urgency=Urgency(row[4]),
        performer=str(row[5]),
        requester=str(row[6]),
        status=ConsultStatus(row[7]),
        created_at=str(row[8]),
        due=str(row[9]),
        patient_id=str(row[10]),
        encounter_id=str(row[11]),
        note_id=str(row[12]),
        patient_display=str(row[13]) or _patient_name(conn, str(row[10])),
        stills=stills,
        messages=tuple(messages),
        answer=answer,
        server_ref=f"ServiceRequest/{row[14]}" if row[14] else "",
    )


def _patient_name(conn: Any, patient_id: str) -> str:
    """The referrer's own patient, as the worklist names them."""
    if not patient_id:
        return ""
    try:
        return repository.get_patient(conn, patient_id).display_name
    except RecordNotFoundError:
        return ""


def get_consult(conn: Any, consult_id: str) -> ConsultRequest:
    row = conn.execute(f"SELECT {_COLS} FROM econsults WHERE id = ?", (consult_id,)).fetchone()
    if row is None:
        raise RecordNotFoundError(kind="econsult", record_id=consult_id)
    return _row_to_consult(conn, row)


def list_consults(
    conn: Any, performer: str | None = None, origin: str | None = None
) -> list[ConsultRequest]:
    where, args = [], []
    if performer is not None:
        where.append("performer = ?")
        args.append(performer)
    if origin is not None:
        where.append("origin = ?")
        args.append(origin)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"SELECT {_COLS} FROM econsults{clause} ORDER BY created_at, id", args
    ).fetchall()
    return [_row_to_consult(conn, r) for r in rows]


def add_message(conn: Any, actor: str, consult_id: str, author: str, text: str) -> ConsultMessage:
    get_consult(conn, consult_id)
    message = ConsultMessage(new_id(), consult_id, author, text, utc_now())
    conn.execute(
        "INSERT INTO econsult_messages(id, econsult_id, kind, author, text, sent_at) "
        "VALUES (?, ?, 'message', ?, ?, ?)",
        (message.id, consult_id, author, text, message.sent_at),
    )
    outbox_put(conn, "message", message.id)
    audit.append(conn, actor, "create", "econsult_message", message.id)
    return message


def set_status(conn: Any, actor: str, consult_id: str, status: ConsultStatus) -> ConsultRequest:
    get_consult(conn, consult_id)
    conn.execute(
        "UPDATE econsults SET status = ?, updated_at = ? WHERE id = ?",
        (status.value, utc_now(), consult_id),
    )
    if status is ConsultStatus.CANCELLED and _never_sent(conn, consult_id):
        # Nothing of it reached the record store: cancelling is local, and its rows go
        # (a status row would wait forever for a request that will not be sent).
        conn.execute(
            "DELETE FROM econsult_outbox WHERE (entity_type IN ('request', 'status') AND "
            "entity_id = ?) OR (entity_type IN ('message', 'answer') AND entity_id IN "
            "(SELECT id FROM econsult_messages WHERE econsult_id = ?))",
            (consult_id, consult_id),
        )
    else:
        outbox_put(conn, "status", consult_id)
    audit.append(conn, actor, "update", "econsult", consult_id)
    return get_consult(conn, consult_id)


def _never_sent(conn: Any, consult_id: str) -> bool:
    """A request made here whose ServiceRequest the record store never acknowledged."""
    row = conn.execute(
        "SELECT 1 FROM econsults c WHERE c.id = ? AND c.origin = 'sent' AND c.sr_server_id = '' "
        "AND c.task_server_id = '' AND EXISTS (SELECT 1 FROM econsult_outbox o "
        "WHERE o.entity_type = 'request' AND o.entity_id = c.id)",
        (consult_id,),
    ).fetchone()
    return row is not None


def add_answer(conn: Any, actor: str, consult_id: str, author: str, text: str) -> ConsultAnswer:
    consult = get_consult(conn, consult_id)
    if consult.answer is not None or consult.status.closed:
        raise InputRejectedError(reason="the request is already closed")
    answer = ConsultAnswer(new_id(), consult_id, author, text, utc_now())
    conn.execute(
        "INSERT INTO econsult_messages(id, econsult_id, kind, author, text, sent_at) "
        "VALUES (?, ?, 'answer', ?, ?, ?)",
        (answer.id, consult_id, author, text, answer.created_at),
    )
    conn.execute(
        "UPDATE econsults SET status = 'completed', updated_at = ? WHERE id = ?",
        (answer.created_at, consult_id),
    )
    # The answer's row sends the DocumentReference and then completes the Task.
    outbox_put(conn, "answer", answer.id)
    audit.append(conn, actor, "create", "econsult_answer", answer.id)
    return answer


def read_still(conn: Any, consult_id: str, attachment_id: str) -> bytes:
    row = conn.execute(
        "SELECT data FROM econsult_stills WHERE econsult_id = ? AND attachment_id = ?",
        (consult_id, attachment_id),
    ).fetchone()
    if row is None:
        raise RecordNotFoundError(kind="econsult_still", record_id=attachment_id)
    if row[0] is not None:
        return bytes(row[0])
    return repository.attachment_data(conn, attachment_id)


class StoreEconsult:
    """``app.econsult.EconsultStore`` over an ``EncryptedStore``."""

    def __init__(self, store: Any) -> None:
        self._store = store

    async def create_consult(self, new: NewConsult, requester: str) -> ConsultRequest:
        made: ConsultRequest = await self._store.transact(
            create_consult, self._store.actor, new, requester
        )
        return made

    async def get_consult(self, consult_id: str) -> ConsultRequest:
        found: ConsultRequest = await self._store.transact(get_consult, consult_id)
        return found

    async def list_consults(
        self, *, performer: str | None = None, origin: Origin | None = None
    ) -> list[ConsultRequest]:
        found: list[ConsultRequest] = await self._store.transact(
            list_consults, performer, origin.value if origin is not None else None
        )
        return found

    async def add_message(self, consult_id: str, author: str, text: str) -> ConsultMessage:
        made: ConsultMessage = await self._store.transact(
            add_message, self._store.actor, consult_id, author, text
        )
        return made

    async def set_status(self, consult_id: str, status: ConsultStatus) -> ConsultRequest:
        made: ConsultRequest = await self._store.transact(
            set_status, self._store.actor, consult_id, status
        )
        return made

    async def add_answer(self, consult_id: str, author: str, text: str) -> ConsultAnswer:
        made: ConsultAnswer = await self._store.transact(
            add_answer, self._store.actor, consult_id, author, text
        )
        return made

    async def read_still(self, consult_id: str, attachment_id: str) -> bytes:
        data: bytes = await self._store.transact(read_still, consult_id, attachment_id)
        return data


__all__ = ["StoreEconsult"]
