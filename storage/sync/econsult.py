"""E-consult sync: push the e-consult outbox exactly once, pull requests and answers.

Called by the sync engine after the records (patients, visits, notes, stills) went
up, so the references a ServiceRequest makes (``Patient``, ``Encounter``, the
stills' ``Media``, the note's ``DocumentReference``) already have server ids; a
request whose records are not on the server yet waits for the next pass.

Push (rows of ``econsult_outbox``, deleted only when acknowledged):

- ``request``: the ServiceRequest, then the Task that fulfils it, each a conditional
  create (``ifNoneExist`` on its ``urn:uuid``) in its own transaction. The
  ServiceRequest's server id is kept between the two steps, and a repeat after a
  crash or a lost reply finds both instead of making second ones.
- ``message``: a Communication (conditional create).
- ``answer``: the consult-note DocumentReference (conditional create), then the Task
  read, completed with the note as ``output`` and written back with ``If-Match``; a
  Task already completed with that output is our own lost acknowledgement.
- ``status``: the Task's status (in-progress, cancelled), read-modify-write with
  ``If-Match``; a 409/412 is tried again next pass against the newer version.

A row the record store refused (a 4xx other than a conflict, a resource it cannot
take) or one that can never be sent (a still of the request was deleted before it
reached the record store) is held with ``last_error`` starting ``refused: `` and
listed in the sync details with its reason; only the user's Retry (:func:`retry`)
sends it again, as for the main outbox's refused rows. A 409/412 is tried again
next pass against the newer version; a row waiting for its records only waits.
Cancelling a request that never reached the record store drops its rows
(``storage/econsult.py``): nothing was sent, so there is nothing to cancel there.

Pull: Tasks owned by this console's practitioner (``Task?owner=``) that it does not
hold yet come with their ServiceRequest, the Patient's name, the stills' Media and
Binary (bytes checked against the Media's hash) and the note; for requests it holds,
the Task's status, the answer (the Task's ``output``) and new Communications, asked for
in batches (``Task?_id=a,b,...``, ``DocumentReference?_id=`` for answers not held yet,
``Communication?based-on=ServiceRequest/a,...``), never one read per request. A
Communication is created without touching the Task, so the messages are asked for
whatever the Task's version (docs/econsult.md). A malformed resource, or a Task gone
from the server, is quarantined (``queue.quarantine``) and the rest carries on.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from app.econsult import ConsultRequest, ConsultStatus, Origin
from app.errors import ConsoleError, SyncConflictError, SyncRejectedError, SyncRetryableError
from app.records import utc_now
from storage import econsult as db
from storage.fhir import econsult as fx
from storage.sync import queue

log = logging.getLogger(__name__)
_PULLED_NS = uuid.UUID("2f0f1b8e-4a55-4f33-9e5b-7c1d7f0e9a61")


class _WaitingError(Exception):
    """The records a row refers to are not on the server yet."""


#: ``last_error`` prefix of a row held until the user's Retry.
REFUSED = "refused: "
#: What the user reads for a request one of whose stills is gone.
STILL_DELETED = (
    "a still of this request was deleted before it reached the record store, so the "
    "request cannot be sent: cancel it and send a new request with the stills that remain"
)


class _UnsendableError(Exception):
    """The row can never be sent as it is (held; the text says what to do)."""


class _GoneError(Exception):
    """A resource asked for by id is not in the search result."""


class _ClosedElsewhereError(Exception):
    """The Task was completed or cancelled by someone else: the change is not sent."""

    def __init__(self, status: ConsultStatus) -> None:
        super().__init__(f"the request was already {status.value} elsewhere")
        self.status = status


# --- store side (worker thread) ----------------------------------------------------------


def _pending(conn: Any) -> list[tuple[int, str, str]]:
    order = "CASE entity_type WHEN 'request' THEN 0 WHEN 'status' THEN 1 ELSE 2 END"
    rows = conn.execute(
        f"SELECT seq, entity_type, entity_id FROM econsult_outbox WHERE last_error NOT LIKE ? "
        f"ORDER BY {order}, seq",
        (REFUSED + "%",),
    ).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def drop_demo_rows(conn: Any) -> int:
    """Demo data is never sent (storage.sync.queue.drop_demo_rows): nor are e-consults
    about demo patients, their messages or answers."""
    demo = (
        "SELECT id FROM econsults WHERE origin = 'sent' AND patient_id IN "
        "(SELECT id FROM patients WHERE mrn LIKE 'DEMO-%')"
    )
    cur = conn.execute(
        f"DELETE FROM econsult_outbox WHERE (entity_type IN ('request', 'status') "
        f"AND entity_id IN ({demo})) OR (entity_type IN ('message', 'answer') AND entity_id IN "
        f"(SELECT id FROM econsult_messages WHERE econsult_id IN ({demo})))"
    )
    return int(cur.rowcount or 0)


def waiting(conn: Any) -> int:
    return int(conn.execute("SELECT count(*) FROM econsult_outbox").fetchone()[0])


def refused(conn: Any) -> list[tuple[int, str, str, str, int]]:
    """(seq, kind, consult id, reason, attempts) of rows held until the user's Retry."""
    rows = conn.execute(
        "SELECT o.seq, o.entity_type, o.entity_id, o.last_error, o.attempts FROM econsult_outbox o "
        "WHERE o.last_error LIKE ? ORDER BY o.seq",
        (REFUSED + "%",),
    ).fetchall()
    out = []
    for seq, kind, entity_id, reason, attempts in rows:
        consult_id = str(entity_id)
        if kind in ("message", "answer"):
            found = conn.execute(
                "SELECT econsult_id FROM econsult_messages WHERE id = ?", (entity_id,)
            ).fetchone()
            consult_id = str(found[0]) if found is not None else ""
        out.append((int(seq), str(kind), consult_id, str(reason)[len(REFUSED) :], int(attempts)))
    return out


def retry(conn: Any, actor: str, seq: int) -> bool:
    """The user's Retry on a held row: sent again at the next pass."""
    cur = conn.execute(
        "UPDATE econsult_outbox SET last_error = '' WHERE seq = ? AND last_error LIKE ?",
        (seq, REFUSED + "%"),
    )
    if cur.rowcount:
        from storage import audit

        audit.append(conn, actor, "sync_retry", "econsult_outbox", str(seq))
    return bool(cur.rowcount)


def _cancelled_unsent(conn: Any, seq: int) -> bool:
    return conn.execute("SELECT 1 FROM econsult_outbox WHERE seq = ?", (seq,)).fetchone() is None


def _hold(conn: Any, seq: int, reason: str) -> None:
    _attempt(conn, seq, REFUSED + reason)


def _done(conn: Any, seq: int) -> None:
    conn.execute("DELETE FROM econsult_outbox WHERE seq = ?", (seq,))


def _attempt(conn: Any, seq: int, reason: str) -> None:
    conn.execute(
        "UPDATE econsult_outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
        (reason[:300], seq),
    )


def _server(conn: Any, consult_id: str) -> dict[str, str]:
    row = conn.execute(
        "SELECT sr_server_id, task_server_id, task_version, patient_server_id, origin, "
        "patient_id, encounter_id, note_id FROM econsults WHERE id = ?",
        (consult_id,),
    ).fetchone()
    keys = ("sr", "task", "task_version", "patient", "origin", "patient_id", "encounter_id")
    out = dict(zip(keys, (str(v) for v in row[:7]), strict=True))
    out["note_id"] = str(row[7])
    if out["origin"] == Origin.SENT.value and not out["patient"]:
        ref = queue.remote_ref(conn, "patient", out["patient_id"])
        out["patient"] = ref.server_id if ref is not None else ""
    return out


def _request_refs(conn: Any, consult_id: str) -> tuple[ConsultRequest, dict[str, str], list[str]]:
    consult = db.get_consult(conn, consult_id)
    server = _server(conn, consult_id)
    encounter = queue.remote_ref(conn, "encounter", consult.encounter_id)
    supporting: list[str] = []
    for still in consult.stills:
        ref = queue.remote_ref(conn, "attachment", still.attachment_id)
        if ref is None:
            gone = conn.execute(
                "SELECT 1 FROM attachments WHERE id = ?", (still.attachment_id,)
            ).fetchone()
            if gone is None:  # deleted before it synced: it never will; waiting is forever
                raise _UnsendableError(STILL_DELETED)
            raise _WaitingError("a still is not on the record store yet")
        supporting.append(f"Media/{ref.server_id}")
    if consult.note_id:
        note = queue.remote_ref(conn, "note", consult.note_id)
        if note is None:
            raise _WaitingError("the note is not on the record store yet")
        supporting.append(f"DocumentReference/{note.server_id}")
    if not server["patient"] or encounter is None:
        raise _WaitingError("the visit is not on the record store yet")
    server["encounter"] = encounter.server_id
    return consult, server, supporting


def _set(conn: Any, consult_id: str, values: dict[str, str]) -> None:
    for column, value in values.items():
        assert column in ("sr_server_id", "task_server_id", "task_version", "status")
        conn.execute(f"UPDATE econsults SET {column} = ? WHERE id = ?", (value, consult_id))


def _message(conn: Any, message_id: str) -> tuple[str, str, str, str, str]:
    row = conn.execute(
        "SELECT econsult_id, kind, author, text, sent_at FROM econsult_messages WHERE id = ?",
        (message_id,),
    ).fetchone()
    return str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4])


def _message_acked(conn: Any, seq: int, message_id: str, server_id: str) -> None:
    conn.execute("UPDATE econsult_messages SET server_id = ? WHERE id = ?", (server_id, message_id))
    _done(conn, seq)


def _superseded(
    conn: Any, actor: str, seq: int, kind: str, entity_id: str, status: ConsultStatus
) -> None:
    consult_id = entity_id if kind == "status" else _message(conn, entity_id)[0]
    conn.execute(
        "UPDATE econsults SET status = ?, updated_at = ? WHERE id = ?",
        (status.value, utc_now(), consult_id),
    )
    _done(conn, seq)
    from storage import audit

    audit.append(conn, actor, "sync_superseded", "econsult", consult_id)


def _local_pending(conn: Any, consult_id: str) -> bool:
    """A status change or an answer of this request waits to go up: a pulled status
    must not undo it."""
    row = conn.execute(
        "SELECT 1 FROM econsult_outbox o WHERE (o.entity_type = 'status' AND o.entity_id = ?) "
        "OR (o.entity_type = 'answer' AND o.entity_id IN "
        "(SELECT id FROM econsult_messages WHERE econsult_id = ?))",
        (consult_id, consult_id),
    ).fetchone()
    return row is not None


def _held(conn: Any) -> list[tuple[str, str, str, str, str, bool]]:
    """(consult id, origin, status, sr server id, task server id, has answer) of requests
    on the server that are still open here or wait for their answer."""
    rows = conn.execute(
        "SELECT c.id, c.origin, c.status, c.sr_server_id, c.task_server_id, EXISTS (SELECT 1 "
        "FROM econsult_messages m WHERE m.econsult_id = c.id AND m.kind = 'answer') "
        "FROM econsults c WHERE c.task_server_id != ''"
    ).fetchall()
    return [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), bool(r[5])) for r in rows]


def _consult_by_task(conn: Any, task_server_id: str, task_id: str | None) -> str | None:
    row = conn.execute(
        "SELECT id FROM econsults WHERE task_server_id = ? OR task_id = ?",
        (task_server_id, task_id or ""),
    ).fetchone()
    return None if row is None else str(row[0])


def _apply_status(
    conn: Any, actor: str, consult_id: str, status: ConsultStatus, version: str
) -> int:
    if _local_pending(conn, consult_id):
        return 0
    current = conn.execute("SELECT status FROM econsults WHERE id = ?", (consult_id,)).fetchone()
    _set(conn, consult_id, {"task_version": version})
    if current is None or current[0] == status.value:
        return 0
    conn.execute(
        "UPDATE econsults SET status = ?, updated_at = ? WHERE id = ?",
        (status.value, utc_now(), consult_id),
    )
    from storage import audit

    audit.append(conn, actor, "sync_pull", "econsult", consult_id)
    return 1


def _insert_pulled_message(
    conn: Any,
    actor: str,
    consult_id: str,
    message_id: str,
    kind: str,
    author: str,
    text: str,
    sent_at: str,
    server_id: str,
) -> int:
    if conn.execute(
        "SELECT 1 FROM econsult_messages WHERE id = ? OR (server_id = ? AND server_id != '')",
        (message_id, server_id),
    ).fetchone():
        return 0
    conn.execute(
        "INSERT INTO econsult_messages(id, econsult_id, kind, author, text, sent_at, server_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            message_id,
            consult_id,
            kind,
            author or "specialist",
            text,
            sent_at or utc_now(),
            server_id,
        ),
    )
    if kind == "answer":
        conn.execute(
            "UPDATE econsults SET status = 'completed', updated_at = ? WHERE id = ?",
            (utc_now(), consult_id),
        )
    from storage import audit

    audit.append(conn, actor, "sync_pull", f"econsult_{kind}", message_id)
    return 1


def _insert_pulled_consult(
    conn: Any,
    actor: str,
    request: fx.ParsedRequest,
    parsed_task: fx.ParsedTask,
    display: str,
    stills: list[tuple[str, str, str, str, bytes]],
) -> int:
    consult_id = request.consult_id or str(uuid.uuid5(_PULLED_NS, f"sr/{request.server_id}"))
    task_id = parsed_task.task_id or str(uuid.uuid5(_PULLED_NS, f"task/{parsed_task.server_id}"))
    if conn.execute(
        "SELECT 1 FROM econsults WHERE id = ? OR task_id = ?", (consult_id, task_id)
    ).fetchone():
        return 0  # held already (made here, or pulled before)
    now = utc_now()
    conn.execute(
        "INSERT INTO econsults(id, task_id, origin, question, urgency, performer, requester, "
        "status, created_at, updated_at, patient_display, patient_server_id, sr_server_id, "
        "task_server_id, task_version) VALUES (?, ?, 'pulled', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            consult_id,
            task_id,
            request.question,
            request.urgency.value,
            parsed_task.owner or request.performer,
            request.requester,
            parsed_task.status.value,
            request.created_at or now,
            now,
            display,
            request.patient_id,
            request.server_id,
            parsed_task.server_id,
            parsed_task.version,
        ),
    )
    for position, (server_id, ctype, sha256, site, data) in enumerate(stills):
        conn.execute(
            "INSERT INTO econsult_stills(econsult_id, attachment_id, position, content_type, "
            "sha256, title, body_site, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (consult_id, server_id, position, ctype, sha256, "", site, data),
        )
    from storage import audit

    audit.append(conn, actor, "sync_pull", "econsult", consult_id)
    return 1


# --- push --------------------------------------------------------------------------------


async def _create(client: Any, resource: dict[str, Any], local_id: str) -> tuple[str, str]:
    """One conditional create in a transaction; (server id, version)."""
    from storage.fhir.client import entry_result

    rtype = resource["resourceType"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": resource,
                "request": {
                    "method": "POST",
                    "url": rtype,
                    "ifNoneExist": fx.if_none_exist(local_id),
                },
            }
        ],
    }
    response = await client.transaction(bundle)
    entries = response.get("entry") if isinstance(response, dict) else None
    if not isinstance(entries, list) or len(entries) != 1:
        raise SyncRejectedError(status=0, reason="the transaction response has no entry")
    result = entry_result(entries[0])
    if not 200 <= result.status < 300 or not result.id:
        raise SyncRejectedError(status=result.status, reason=f"{rtype} was not stored")
    return result.id, result.version_id or ""


async def _task_to(
    client: Any, task_server_id: str, status: ConsultStatus, output_ref: str = ""
) -> str:
    """Set the Task's status (and output); its new version. A Task already there is our
    own lost acknowledgement; a Task closed otherwise refuses the change."""
    current = await client.read("Task", task_server_id)
    parsed = fx.parse_task(current)
    ours = not output_ref or (
        bool(parsed.output_document) and output_ref == f"DocumentReference/{parsed.output_document}"
    )
    if parsed.status == status and ours:
        return parsed.version
    if parsed.status.closed:
        raise _ClosedElsewhereError(parsed.status)
    updated = fx.task_with_status(current, status, utc_now(), output_ref)
    result = await client.update("Task", task_server_id, updated, if_match=parsed.version)
    return str(result.version_id or "")


async def _send(client: Any, store: Any, seq: int, kind: str, entity_id: str) -> None:
    if kind == "request":
        consult, server, supporting = await store.transact(_request_refs, entity_id)
        patient = f"Patient/{server['patient']}"
        sr = server["sr"]
        if not sr:
            resource = fx.service_request(
                consult, patient, f"Encounter/{server['encounter']}", supporting
            )
            sr, _version = await _create(client, resource, consult.id)
            await store.transact(_set, consult.id, {"sr_server_id": sr})
        if await store.transact(_cancelled_unsent, seq):
            # Cancelled here while its ServiceRequest was on the way (storage/econsult.py
            # dropped the row): no Task, so no specialist is ever asked.
            return
        task_id, version = await _create(
            client, fx.task(consult, f"ServiceRequest/{sr}", patient), consult.task_id
        )

        def acked(conn: Any) -> None:
            _set(conn, consult.id, {"task_server_id": task_id, "task_version": version})
            _done(conn, seq)

        await store.transact(acked)
        return
    if kind == "status":
        server = await store.transact(_server, entity_id)
        if not server["task"]:
            raise _WaitingError("the request is not on the record store yet")
        consult = await store.transact(db.get_consult, entity_id)
        version = await _task_to(client, server["task"], consult.status)

        def status_acked(conn: Any) -> None:
            _set(conn, entity_id, {"task_version": version})
            _done(conn, seq)

        await store.transact(status_acked)
        return
    consult_id, _kind, author, text, sent_at = await store.transact(_message, entity_id)
    server = await store.transact(_server, consult_id)
    if not server["sr"] or not server["task"] or not server["patient"]:
        raise _WaitingError("the request is not on the record store yet")
    patient = f"Patient/{server['patient']}"
    sr_ref = f"ServiceRequest/{server['sr']}"
    if kind == "message":
        from app.econsult import ConsultMessage

        message = ConsultMessage(entity_id, consult_id, author, text, sent_at)
        resource = fx.communication(message, sr_ref, f"Task/{server['task']}", patient)
        server_id, _v = await _create(client, resource, entity_id)
        await store.transact(_message_acked, seq, entity_id, server_id)
        return
    from app.econsult import ConsultAnswer

    answer = ConsultAnswer(entity_id, consult_id, author, text, sent_at)
    before = fx.parse_task(await client.read("Task", server["task"]))
    if before.status is ConsultStatus.CANCELLED:
        # Cancelled by the referrer: no consult note is made for a request nobody wants.
        raise _ClosedElsewhereError(before.status)
    doc_id, _v = await _create(client, fx.consult_note(answer, sr_ref, patient), entity_id)
    version = await _task_to(
        client, server["task"], ConsultStatus.COMPLETED, f"DocumentReference/{doc_id}"
    )

    def answer_acked(conn: Any) -> None:
        _set(conn, consult_id, {"task_version": version})
        _message_acked(conn, seq, entity_id, doc_id)

    await store.transact(answer_acked)


async def push(client: Any, store: Any, report: Any) -> None:
    """Send the e-consult outbox. A network or 5xx error stops the pass (the loop backs
    off); a refused row stays with its reason and is tried again next pass."""
    await store.transact(drop_demo_rows)
    rows: list[tuple[int, str, str]] = await store.transact(_pending)
    for seq, kind, entity_id in rows:
        report.sent += 1
        try:
            await _send(client, store, seq, kind, entity_id)
        except _WaitingError as exc:
            report.sent -= 1
            await store.transact(_attempt, seq, str(exc))
            continue
        except _UnsendableError as exc:
            report.sent -= 1
            report.failed += 1
            report.reasons.append(f"e-consult {kind}: {exc}"[:300])
            log.warning("e-consult %s row %s cannot be sent; held", kind, seq)
            await store.transact(_hold, seq, str(exc))
            continue
        except _ClosedElsewhereError as exc:
            # Not lost: the local record keeps it, shows the server's status, and the row
            # goes (nothing more can be sent for a closed request).
            report.reasons.append(f"e-consult {kind} not sent: {exc}")
            await store.transact(_superseded, store.actor, seq, kind, entity_id, exc.status)
            continue
        except SyncRetryableError as exc:
            report.retry += 1
            await store.transact(_attempt, seq, str(exc))
            return
        except SyncConflictError as exc:
            # 409/412 on the Task: someone changed it since we read it; next pass reads again.
            report.failed += 1
            reason = f"e-consult {kind}: {exc}"
            report.reasons.append(reason[:300])
            await store.transact(_attempt, seq, reason)
            continue
        except (SyncRejectedError, ValueError) as exc:
            # Refused as it is: sending the same again cannot help. Held, shown in the
            # sync details with the reason, sent again on the user's Retry.
            report.failed += 1
            reason = f"e-consult {kind}: {exc}"
            report.reasons.append(reason[:300])
            await store.transact(_hold, seq, str(exc))
            continue
        report.acknowledged += 1


# --- pull --------------------------------------------------------------------------------


async def _quarantine(store: Any, report: Any, label: str, rule: str) -> None:
    log.warning("a pulled e-consult resource was quarantined: %s", rule)
    await store.transact(queue.quarantine, label, rule)
    report.quarantined.append(f"{label}: {rule}")


async def _pull_new(client: Any, store: Any, parsed: fx.ParsedTask) -> int:
    """A Task assigned to us that we do not hold: its request, patient, stills, note."""
    request = fx.parse_service_request(
        await client.read("ServiceRequest", parsed.service_request_id)
    )
    display = fx.patient_display(await client.read("Patient", request.patient_id))
    stills: list[tuple[str, str, str, str, bytes]] = []
    for rtype, server_id in request.supporting:
        if rtype == "Media":
            media = await client.read("Media", server_id)
            binary_id, ctype, sha1, site = fx.media_binary(media)
            data = fx.binary_bytes(await client.read("Binary", binary_id), sha1)
            import hashlib

            stills.append((server_id, ctype, hashlib.sha256(data).hexdigest(), site, data))
        else:
            text = fx.document_text(await client.read("DocumentReference", server_id))
            raw = text.encode("utf-8")
            import hashlib

            stills.append((server_id, "text/plain", hashlib.sha256(raw).hexdigest(), "", raw))
    count: int = await store.transact(
        _insert_pulled_consult, store.actor, request, parsed, display, stills
    )
    return count


async def _insert_answer(store: Any, consult_id: str, doc: dict[str, Any]) -> int:
    text = fx.document_text(doc)
    answer_id = fx.local_uuid(doc) or str(uuid.uuid5(_PULLED_NS, f"doc/{doc['id']}"))
    author = ""
    authors = doc.get("author") or []
    if authors and isinstance(authors[0], dict):
        author = str(authors[0].get("display") or "")
    count: int = await store.transact(
        _insert_pulled_message,
        store.actor,
        consult_id,
        answer_id,
        "answer",
        author,
        text,
        str(doc.get("date") or ""),
        str(doc["id"]),
    )
    return count


async def _insert_message(store: Any, consult_id: str, comm: dict[str, Any]) -> int:
    text, author, sent = fx.communication_text(comm)
    message_id = fx.local_uuid(comm) or str(uuid.uuid5(_PULLED_NS, f"comm/{comm.get('id')}"))
    count: int = await store.transact(
        _insert_pulled_message,
        store.actor,
        consult_id,
        message_id,
        "message",
        author,
        text,
        sent,
        str(comm.get("id") or ""),
    )
    return count


async def pull(client: Any, store: Any, owner: str, report: Any) -> None:
    """New requests assigned to ``owner`` (a Practitioner reference; "" for none), then
    status, answers and messages of the requests held here."""
    if owner:
        await _pull_assigned(client, store, owner, report)
    await _pull_held(client, store, report)


async def _pull_assigned(client: Any, store: Any, owner: str, report: Any) -> None:
    """Tasks for ``owner`` changed since the last pass (all of them the first time: a
    request may have waited a week for this console). The checkpoint, per owner, moves
    only once every Task of the pass was applied or quarantined."""
    from storage.sync.engine import PULL_OVERLAP, format_instant, parse_instant

    name = f"econsult-Task:{owner}"
    saved = parse_instant(await store.transact(queue.get_checkpoint, name))
    params = {"owner": owner, "_count": "100", "_sort": "_lastUpdated"}
    if saved is not None:
        params["_lastUpdated"] = f"ge{format_instant(saved - PULL_OVERLAP)}"
    newest = saved
    async for resource in client.search("Task", params):
        meta = resource.get("meta") if isinstance(resource, dict) else None
        updated = parse_instant(meta.get("lastUpdated")) if isinstance(meta, dict) else None
        if updated is not None and (newest is None or updated > newest):
            newest = updated
        label = f"Task/{str(resource.get('id', ''))[:64]}" if isinstance(resource, dict) else "Task"
        try:
            if not isinstance(resource, dict) or resource.get("resourceType") != "Task":
                continue
            parsed = fx.parse_task(resource)
            held = await store.transact(_consult_by_task, parsed.server_id, parsed.task_id)
            if held is None and not parsed.status.closed:
                report.pulled += await _pull_new(client, store, parsed)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            await _quarantine(store, report, label, str(exc) or type(exc).__name__)
        except (SyncRejectedError, ConsoleError) as exc:
            if isinstance(exc, SyncRetryableError):
                raise
            await _quarantine(store, report, label, type(exc).__name__)
    if newest is not None and newest != saved:
        await store.transact(queue.set_checkpoint, name, format_instant(newest))


#: What a held request's quarantine says when its Task is not in the search result.
TASK_GONE = "the Task is no longer on the record store (deleted, or not visible to this console)"
#: ... and when the consult note its Task names as output is not.
ANSWER_GONE = "the consult note the Task names as its output is not on the record store"


def _held_task_applied(
    conn: Any, actor: str, consult_id: str, parsed: fx.ParsedTask
) -> tuple[int, bool]:
    """The pulled Task's status applied; (changes, whether its answer must be read):
    only an output this console does not hold yet is read."""
    changed = _apply_status(conn, actor, consult_id, parsed.status, parsed.version)
    if not parsed.output_document:
        return changed, False
    held = conn.execute(
        "SELECT 1 FROM econsult_messages WHERE econsult_id = ? AND kind = 'answer' "
        "AND server_id = ?",
        (consult_id, parsed.output_document),
    ).fetchone()
    return changed, held is None


async def _search_by(
    client: Any, rtype: str, param: str, values: list[str]
) -> list[dict[str, Any]]:
    """One search (``param=a,b,...``: FHIR R4 ORs comma-separated values), every page."""
    return [
        resource
        async for resource in client.search(rtype, {param: ",".join(values), "_count": "100"})
        if isinstance(resource, dict) and resource.get("resourceType") == rtype
    ]


async def _pull_held(client: Any, store: Any, report: Any) -> None:
    """Status, answer and messages of the requests held here that may still change,
    asked for in batches (storage.sync.engine.PULL_IDS_PER_QUERY requests per search)."""
    from storage.sync.engine import PULL_IDS_PER_QUERY

    open_requests: list[tuple[str, str, str]] = []
    for consult_id, _origin, status, sr_id, task_id, answered in await store.transact(_held):
        closed = ConsultStatus(status)
        if closed.closed and (answered or closed is ConsultStatus.CANCELLED):
            continue  # nothing more will come: not asked again every pass
        open_requests.append((consult_id, sr_id, task_id))
    for start in range(0, len(open_requests), PULL_IDS_PER_QUERY):
        await _pull_held_batch(
            client, store, report, open_requests[start : start + PULL_IDS_PER_QUERY]
        )


async def _pull_held_batch(
    client: Any, store: Any, report: Any, batch: list[tuple[str, str, str]]
) -> None:
    """One search for the batch's Tasks, one for the consult notes that are new here, one
    for their Communications. A request whose Task (or its note) is missing or malformed is
    quarantined and set aside for this pass, as a failed read of it was; the rest carries
    on."""
    label = {task_id: f"Task/{task_id[:64]}" for _c, _s, task_id in batch}
    set_aside: set[str] = set()

    async def quarantine(task_id: str, exc: BaseException | str) -> None:
        set_aside.add(task_id)
        if isinstance(exc, str):
            rule = exc
        elif isinstance(exc, ConsoleError):
            if isinstance(exc, SyncRetryableError):
                raise exc
            rule = type(exc).__name__
        else:
            rule = str(exc) or type(exc).__name__
        await _quarantine(store, report, label[task_id], rule)

    # The Tasks: status, and whether there is an answer not held here.
    tasks: dict[str, dict[str, Any]] = {}
    try:
        for resource in await _search_by(client, "Task", "_id", list(label)):
            tasks.setdefault(str(resource.get("id")), resource)
    except ConsoleError as exc:
        for task_id in label:
            await quarantine(task_id, exc)
        return
    answers: dict[str, tuple[str, str]] = {}  # note id -> (consult id, task id)
    for consult_id, _sr_id, task_id in batch:
        try:
            found = tasks.get(task_id)
            if found is None:
                raise _GoneError(TASK_GONE)
            parsed = fx.parse_task(found)
            changed, read_answer = await store.transact(
                _held_task_applied, store.actor, consult_id, parsed
            )
            report.pulled += changed
            if read_answer:
                answers[parsed.output_document] = (consult_id, task_id)
        except _GoneError as exc:
            await quarantine(task_id, str(exc))
        except (ValueError, KeyError, TypeError, AttributeError, ConsoleError) as exc:
            await quarantine(task_id, exc)

    # The answers (consult notes) the Tasks name and this console does not hold yet.
    if answers:
        docs: dict[str, dict[str, Any]] = {}
        try:
            for doc in await _search_by(client, "DocumentReference", "_id", list(answers)):
                docs.setdefault(str(doc.get("id")), doc)
        except ConsoleError as exc:
            for _consult_id, task_id in answers.values():
                await quarantine(task_id, exc)
            docs = {}
        for doc_id, (consult_id, task_id) in answers.items():
            if task_id in set_aside:
                continue
            try:
                note = docs.get(doc_id)
                if note is None:
                    raise _GoneError(ANSWER_GONE)
                report.pulled += await _insert_answer(store, consult_id, note)
            except _GoneError as exc:
                await quarantine(task_id, str(exc))
            except (ValueError, KeyError, TypeError, AttributeError, ConsoleError) as exc:
                await quarantine(task_id, exc)

    # Questions and replies: a Communication is made without touching the Task (its
    # version says nothing about them), so every open request is asked about, in one
    # search per batch (based-on=ServiceRequest/a,ServiceRequest/b,...).
    by_request: dict[str, list[tuple[str, str]]] = {}
    for consult_id, sr_id, task_id in batch:
        if task_id not in set_aside and sr_id:
            by_request.setdefault(sr_id, []).append((consult_id, task_id))
    if not by_request:
        return
    refs = [f"ServiceRequest/{sr_id}" for sr_id in by_request]
    try:
        comms = await _search_by(client, "Communication", "based-on", refs)
    except ConsoleError as exc:
        for held in by_request.values():
            for _consult_id, task_id in held:
                await quarantine(task_id, exc)
        return
    for comm in comms:
        for consult_id, task_id in _addressees(comm, by_request):
            if task_id in set_aside:
                continue
            try:
                report.pulled += await _insert_message(store, consult_id, comm)
            except (ValueError, KeyError, TypeError, AttributeError, ConsoleError) as exc:
                await quarantine(task_id, exc)


def _addressees(
    comm: dict[str, Any], by_request: dict[str, list[tuple[str, str]]]
) -> list[tuple[str, str]]:
    """(consult id, task id) of the held requests a Communication is based on."""
    found: list[tuple[str, str]] = []
    for based_on in comm.get("basedOn") or []:
        try:
            sr_id = fx.reference_id(based_on, "ServiceRequest")
        except ValueError:
            continue
        for held in by_request.get(sr_id, []):
            if held not in found:
                found.append(held)
    return found
