"""The sync side of the store: outbox reads, acknowledgements, remote refs, conflicts.

Runs on the store's worker thread like storage.repository. An outbox row is
deleted only when the server acknowledged the revision that was sent; a row
that changed while its upload was in flight stays, as an update.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from app.coding import ChargeDraft
from app.records import Attachment, Encounter, Note, NoteStatus, Patient, utc_now
from storage import audit, coding_store, repository


@dataclass(frozen=True, slots=True)
class OutboxItem:
    seq: int
    entity_type: str  # "patient" | "encounter" | "note" | "attachment"
    entity_id: str
    op: str
    revision: int
    attempts: int


@dataclass(frozen=True, slots=True)
class RemoteRef:
    server_id: str
    version_id: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """One outbox item with the record it refers to, read in one transaction."""

    item: OutboxItem
    #: An Attachment is its metadata only: the engine reads the bytes when it sends it.
    record: Patient | Encounter | Note | Attachment | ChargeDraft
    patient_id: str  # the patient the record belongs to
    remote: RemoteRef | None
    #: A signed addendum: the local id of the note it appends to (``relatesTo``).
    appends: str | None = None
    #: An Encounter's visit facts (stated location, end, participants), if recorded.
    visit: Any = None


@dataclass(frozen=True, slots=True)
class Conflict:
    id: int
    entity_type: str
    entity_id: str
    server_version_id: str
    server_text: str
    detected_at: str


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: Appended to a note's text hash once it is signed: the server's copy is ours only when
#: it is final too (the same text still as a draft is not the signed note).
FINAL_MARK = ":final"


def record_hash(record: Patient | Encounter | Note | Attachment | ChargeDraft) -> str:
    if isinstance(record, Note):
        final = FINAL_MARK if record.status is NoteStatus.SIGNED else ""
        return text_hash(record.text) + final
    if isinstance(record, Attachment):
        return record.sha256
    return ""


def document_hash(resource: dict[str, Any], text: str) -> str:
    """The :func:`record_hash` a server's DocumentReference with ``text`` stands for."""
    return text_hash(text) + (FINAL_MARK if resource.get("docStatus") == "final" else "")


def pending(conn: Any, limit: int) -> list[PendingRecord]:
    """Outbox items, what others refer to first (patients, visits, notes, attachments), each
    kind in creation order; conflicted and failed-unchanged rows are skipped. Referenced
    records go first so that a Bundle never refers to a record a later Bundle creates."""
    rows = conn.execute(
        "SELECT o.seq, o.entity_type, o.entity_id, o.op, o.revision, o.attempts FROM outbox o "
        # Provenance (and Consent) rows are sent by their own modules (storage/fhir/).
        "WHERE o.entity_type IN ('patient', 'encounter', 'note', 'attachment', 'charge_item') "
        "AND o.failed_revision != o.revision AND NOT EXISTS (SELECT 1 FROM conflicts c "
        "WHERE c.entity_type = o.entity_type AND c.entity_id = o.entity_id "
        "AND c.resolved_at IS NULL) ORDER BY CASE o.entity_type WHEN 'patient' THEN 0 "
        "WHEN 'encounter' THEN 1 WHEN 'note' THEN 2 ELSE 3 END, o.seq LIMIT ?",
        (limit,),
    ).fetchall()
    out: list[PendingRecord] = []
    for row in rows:
        item = OutboxItem(
            int(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]), int(row[5])
        )
        record: Patient | Encounter | Note | Attachment | ChargeDraft
        if item.entity_type == "patient":
            record = repository.get_patient(conn, item.entity_id)
            patient_id = record.id
        elif item.entity_type == "encounter":
            record = coding_store.with_coding(conn, repository.get_encounter(conn, item.entity_id))
            patient_id = record.patient_id
        elif item.entity_type == "charge_item":
            record = coding_store.get_charge(conn, item.entity_id)
            patient_id = repository.get_encounter(conn, record.encounter_id).patient_id
        elif item.entity_type == "attachment":
            record = repository.get_attachment(conn, item.entity_id)
            patient_id = repository.get_encounter(conn, record.encounter_id).patient_id
        else:
            record = repository.get_note(conn, item.entity_id)
            patient_id = record.patient_id  # set for every stored note, visit or not
        appends = None
        if isinstance(record, Note) and record.status is NoteStatus.SIGNED:
            from storage import signatures

            appends = signatures.appends_of(conn, record.id)
        visit = None
        if isinstance(record, Encounter):
            from storage.consents import encounter_facts

            visit = encounter_facts(conn, record.id)
        out.append(
            PendingRecord(
                item,
                record,
                patient_id,
                remote_ref(conn, item.entity_type, item.entity_id),
                appends,
                visit,
            )
        )
    return out


def waiting(conn: Any) -> dict[str, int]:
    row = conn.execute("SELECT count(*), sum(failed_revision = revision) FROM outbox").fetchone()
    conflicts = conn.execute("SELECT count(*) FROM conflicts WHERE resolved_at IS NULL").fetchone()
    return {
        "waiting": int(row[0] or 0),
        "failed": int(row[1] or 0),
        "conflicts": int(conflicts[0] or 0),
    }


def remote_ref(conn: Any, entity_type: str, entity_id: str) -> RemoteRef | None:
    row = conn.execute(
        "SELECT server_id, version_id, content_hash FROM remote_refs "
        "WHERE entity_type = ? AND entity_id = ?",
        (entity_type, entity_id),
    ).fetchone()
    return None if row is None else RemoteRef(str(row[0]), str(row[1]), str(row[2]))


def local_id_for_server(conn: Any, entity_type: str, server_id: str) -> str | None:
    row = conn.execute(
        "SELECT entity_id FROM remote_refs WHERE entity_type = ? AND server_id = ?",
        (entity_type, server_id),
    ).fetchone()
    return None if row is None else str(row[0])


def set_remote_ref(conn: Any, entity_type: str, entity_id: str, ref: RemoteRef) -> None:
    conn.execute(
        "INSERT INTO remote_refs(entity_type, entity_id, server_id, version_id, content_hash, "
        "synced_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_type, entity_id) DO UPDATE SET "
        "server_id = excluded.server_id, version_id = excluded.version_id, "
        "content_hash = excluded.content_hash, synced_at = excluded.synced_at",
        (entity_type, entity_id, ref.server_id, ref.version_id, ref.content_hash, utc_now()),
    )


def acknowledge(conn: Any, item: OutboxItem, ref: RemoteRef) -> bool:
    """Record the server's copy; drop the outbox row unless it changed in flight.

    Returns True when the row was removed.
    """
    set_remote_ref(conn, item.entity_type, item.entity_id, ref)
    clear_sent(conn, item.entity_type, item.entity_id)
    deleted = conn.execute(
        "DELETE FROM outbox WHERE seq = ? AND revision = ?", (item.seq, item.revision)
    ).rowcount
    if not deleted:
        # Edited while the upload was in flight: the server has the record now,
        # so what is left to send is an update.
        conn.execute("UPDATE outbox SET op = 'update' WHERE seq = ?", (item.seq,))
    return bool(deleted)


def mark_failed(conn: Any, item: OutboxItem, reason: str) -> None:
    """The server refused this revision: keep it, say why, retry only once it changes."""
    conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?, failed_revision = ? "
        "WHERE seq = ? AND revision = ?",
        (reason[:500], item.revision, item.seq, item.revision),
    )


def note_attempt(conn: Any, items: list[OutboxItem], reason: str) -> None:
    for item in items:
        conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
            (reason[:500], item.seq),
        )


def failures(conn: Any) -> list[tuple[str, str, str, int]]:
    rows = conn.execute(
        "SELECT entity_type, entity_id, last_error, attempts FROM outbox "
        "WHERE last_error != '' ORDER BY seq"
    ).fetchall()
    return [(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]


# --- conflicts -----------------------------------------------------------------------------


def record_conflict(
    conn: Any,
    actor: str,
    entity_type: str,
    entity_id: str,
    server_version_id: str,
    server_text: str,
) -> bool:
    cur = conn.execute(
        "INSERT INTO conflicts(entity_type, entity_id, server_version_id, server_text, "
        "detected_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (entity_type, entity_id, server_version_id, server_text, utc_now()),
    )
    if cur.rowcount:
        audit.append(conn, actor, "sync_conflict", entity_type, entity_id)
    return bool(cur.rowcount)


def open_conflicts(conn: Any, entity_id: str | None = None) -> list[Conflict]:
    sql = (
        "SELECT id, entity_type, entity_id, server_version_id, server_text, detected_at "
        "FROM conflicts WHERE resolved_at IS NULL"
    )
    params: tuple[str, ...] = ()
    if entity_id is not None:
        sql += " AND entity_id = ?"
        params = (entity_id,)
    rows = conn.execute(sql + " ORDER BY id", params).fetchall()
    return [
        Conflict(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5])) for r in rows
    ]


def resolve_conflict(
    conn: Any, actor: str, conflict_id: int, resolution: str, merged_text: str | None = None
) -> None:
    """keep_mine | keep_theirs | merge; each leaves the record in step with the server's version."""
    row = conn.execute(
        "SELECT entity_type, entity_id, server_version_id, server_text FROM conflicts "
        "WHERE id = ? AND resolved_at IS NULL",
        (conflict_id,),
    ).fetchone()
    if row is None:
        from app.errors import RecordNotFoundError

        raise RecordNotFoundError(kind="conflict", record_id=str(conflict_id))
    entity_type, entity_id, server_version, server_text = (str(v) for v in row)
    ref = remote_ref(conn, entity_type, entity_id)
    server_id = ref.server_id if ref else ""
    if entity_type == "annotation":
        _resolve_annotation(
            conn, actor, entity_id, server_id, server_version, server_text, resolution
        )
    elif resolution == "keep_theirs":
        repository.save_note_text(conn, actor, entity_id, server_text, "resolve")
        set_remote_ref(
            conn,
            entity_type,
            entity_id,
            RemoteRef(server_id, server_version, text_hash(server_text)),
        )
        conn.execute(
            "DELETE FROM outbox WHERE entity_type = ? AND entity_id = ?", (entity_type, entity_id)
        )
    else:
        if resolution == "merge":
            if merged_text is None:
                from app.errors import InputRejectedError

                raise InputRejectedError(reason="a merge needs the merged text")
            repository.save_note_text(conn, actor, entity_id, merged_text, "resolve")
        # The next upload is an update against the server's version we have now seen.
        set_remote_ref(
            conn,
            entity_type,
            entity_id,
            RemoteRef(server_id, server_version, text_hash(server_text)),
        )
        repository.outbox_put(conn, entity_type, entity_id, "update")
        conn.execute(
            "UPDATE outbox SET op = 'update', failed_revision = 0 "
            "WHERE entity_type = ? AND entity_id = ?",
            (entity_type, entity_id),
        )
    conn.execute(
        "UPDATE conflicts SET resolved_at = ?, resolution = ? WHERE id = ?",
        (utc_now(), resolution, conflict_id),
    )
    # The server's version is now known and chosen from: nothing sent earlier counts
    # as "ours" any more.
    clear_sent(conn, entity_type, entity_id)
    audit.append(conn, actor, f"conflict_{resolution}", entity_type, entity_id)


def _resolve_annotation(
    conn: Any,
    actor: str,
    still_id: str,
    server_id: str,
    server_version: str,
    server_text: str,
    resolution: str,
) -> None:
    """A still's annotations changed on the server by a colleague (storage/sync/annotations.py).
    keep_theirs: their shapes become the newest local version (ours stay in the version
    history) and nothing is sent; keep_mine: ours go up over their version."""
    from app.annotations import check_shapes
    from app.errors import InputRejectedError
    from storage import annotations as layers
    from storage.fhir.annotation_mapping import parse_shapes, shapes_digest

    if resolution == "merge":
        raise InputRejectedError(reason="annotations are kept as one side or the other")
    theirs = parse_shapes(server_text.encode("utf-8"))
    if resolution == "keep_theirs":
        still = repository.get_attachment(conn, still_id)
        width, height = still.metadata.get("width_px"), still.metadata.get("height_px")
        if theirs is None or not isinstance(width, int) or not isinstance(height, int):
            raise InputRejectedError(reason="the record store's annotations cannot be read")
        checked = check_shapes(theirs, width, height)
        base = layers.latest(conn, still_id).version
        layers.save(conn, actor, still_id, base, checked)
        conn.execute(
            "DELETE FROM outbox WHERE entity_type = 'annotation' AND entity_id = ?", (still_id,)
        )
        ref = RemoteRef(server_id, server_version, shapes_digest(checked))
        set_remote_ref(conn, "annotation", still_id, ref)
        return
    digest = shapes_digest(theirs) if theirs is not None else ""
    set_remote_ref(conn, "annotation", still_id, RemoteRef(server_id, server_version, digest))
    repository.outbox_put(conn, "annotation", still_id, "update")
    conn.execute(
        "UPDATE outbox SET op = 'update', failed_revision = 0 "
        "WHERE entity_type = 'annotation' AND entity_id = ?",
        (still_id,),
    )


# --- pulled changes ----------------------------------------------------------------------


def apply_pulled_note(
    conn: Any,
    actor: str,
    note_id: str,
    server_id: str,
    version_id: str,
    text: str,
    *,
    final: bool | None = None,
) -> str:
    """A note changed on the server: 'unchanged' | 'updated' | 'conflict'. ``final``: the
    server's docStatus is final (None: not known)."""
    ref = remote_ref(conn, "note", note_id)
    if ref is not None and ref.version_id == version_id:
        return "unchanged"
    incoming = text_hash(text)
    local = repository.get_note(conn, note_id)
    if text_hash(local.text) == incoming:
        set_remote_ref(conn, "note", note_id, RemoteRef(server_id, version_id, incoming))
        if final is False and local.status is NoteStatus.SIGNED:
            # Same words, but no longer final on the server: the signed note goes back
            # up as signed (an update on the version just seen).
            repository.outbox_put(conn, "note", note_id, "update")
        return "unchanged"
    if is_signed(conn, note_id) and not is_own_text(conn, note_id, text):
        # A signed note is never written over: the change becomes a conflict, answered
        # with an addendum (app.notes_signing.NoteSigning.add_addendum).
        new = record_conflict(conn, actor, "note", note_id, version_id, text)
        return "conflict" if new else "unchanged"
    unsent = conn.execute(
        "SELECT 1 FROM outbox WHERE entity_type = 'note' AND entity_id = ?", (note_id,)
    ).fetchone()
    if unsent is not None and is_own_text(conn, note_id, text):
        adopt_server_version(conn, "note", note_id, server_id, version_id, text)
        return "unchanged"
    if unsent is not None:
        new = record_conflict(conn, actor, "note", note_id, version_id, text)
        return "conflict" if new else "unchanged"
    repository.save_note_text(conn, actor, note_id, text, "sync_pull")
    # A pulled change is already on the server: it must not echo back up.
    conn.execute("DELETE FROM outbox WHERE entity_type = 'note' AND entity_id = ?", (note_id,))
    set_remote_ref(conn, "note", note_id, RemoteRef(server_id, version_id, incoming))
    clear_sent(conn, "note", note_id)
    return "updated"


def is_own_text(conn: Any, note_id: str, text: str) -> bool:
    """Whether ``text`` is what this console sent for the note and has not seen acknowledged.

    Only such a text on the server is our own write (its acknowledgement was lost). Any
    other text, even one the note held earlier (a colleague restoring an old wording),
    is someone else's change.
    """
    sent = sent_hashes(conn, "note", note_id)
    digest = text_hash(text)
    return digest in sent or digest + FINAL_MARK in sent


def is_signed(conn: Any, note_id: str) -> bool:
    """Whether the note is signed here (app/notes_signing.py): its text is never written
    over by a pull; a server change to it becomes a conflict resolved with an addendum."""
    row = conn.execute("SELECT status FROM notes WHERE id = ?", (note_id,)).fetchone()
    return row is not None and str(row[0]) == NoteStatus.SIGNED.value


# --- what was sent and not yet acknowledged ---------------------------------------------
# ``meta`` key ``sent:<kind>:<id>``: the content hashes (notes) or ``rev:<n>`` markers
# (patients, visits) sent since the last acknowledgement, newest last. Written BEFORE the
# request goes out, so that after a crash the console still knows what the server may hold.
_SENT_KEEP = 20


def sent_hashes(conn: Any, entity_type: str, entity_id: str) -> list[str]:
    row = conn.execute(
        "SELECT value FROM meta WHERE key = ?", (f"sent:{entity_type}:{entity_id}",)
    ).fetchone()
    return [] if row is None else [h for h in str(row[0]).split(" ") if h]


def note_sent(conn: Any, entity_type: str, entity_id: str, marker: str) -> None:
    sent = [h for h in sent_hashes(conn, entity_type, entity_id) if h != marker]
    sent = [*sent, marker][-_SENT_KEEP:]
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
        "value = excluded.value",
        (f"sent:{entity_type}:{entity_id}", " ".join(sent)),
    )


def clear_sent(conn: Any, entity_type: str, entity_id: str) -> None:
    conn.execute("DELETE FROM meta WHERE key = ?", (f"sent:{entity_type}:{entity_id}",))


def sent_marker(
    item: OutboxItem, record: Patient | Encounter | Note | Attachment | ChargeDraft
) -> str:
    """What identifies the content sent: the text hash of a note, the revision otherwise."""
    return record_hash(record) if isinstance(record, Note) else f"rev:{item.revision}"


def retry_failed(conn: Any, actor: str, entity_type: str, entity_id: str) -> bool:
    """The user's "Retry" on a refused record: send it again at the next sync."""
    cur = conn.execute(
        "UPDATE outbox SET failed_revision = 0, last_error = '' "
        "WHERE entity_type = ? AND entity_id = ? AND last_error != ''",
        (entity_type, entity_id),
    )
    if cur.rowcount:
        audit.append(conn, actor, "sync_retry", entity_type, entity_id)
    return bool(cur.rowcount)


def needs_decision(conn: Any, item: OutboxItem, reason: str) -> None:
    """Held until the user decides (e.g. several server patients share its MRN)."""
    mark_failed(conn, item, f"needs a decision: {reason}")


# --- quarantined server resources --------------------------------------------------------


def quarantine(conn: Any, label: str, rule: str) -> None:
    """A server resource the console could not use: ``label`` ("Type/id"), ``rule`` broken."""
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
        "value = excluded.value",
        (f"quarantine:{label[:200]}", f"{utc_now()} {rule[:300]}"),
    )


def unquarantine(conn: Any, label: str) -> None:
    conn.execute("DELETE FROM meta WHERE key = ?", (f"quarantine:{label[:200]}",))


def quarantined(conn: Any) -> list[tuple[str, str]]:
    """(resource, rule) for each quarantined server resource, oldest first."""
    rows = conn.execute(
        "SELECT key, value FROM meta WHERE key LIKE 'quarantine:%' ORDER BY value"
    ).fetchall()
    return [(str(r[0])[11:], str(r[1]).partition(" ")[2]) for r in rows]


# --- demo records and appointment visits --------------------------------------------------

#: app/demo.py gives demo patients MRNs with this prefix; their records stay local.
DEMO_MRN_PREFIX = "DEMO-"


def drop_demo_rows(conn: Any) -> int:
    """Demo data is never sent to a record store: its outbox rows are dropped."""
    demo = "SELECT id FROM patients WHERE mrn LIKE 'DEMO-%'"
    visits = f"SELECT id FROM encounters WHERE patient_id IN ({demo})"
    cur = conn.execute(
        f"DELETE FROM outbox WHERE (entity_type = 'patient' AND entity_id IN ({demo})) "
        f"OR (entity_type = 'encounter' AND entity_id IN ({visits})) "
        f"OR (entity_type IN ('note', 'provenance') AND entity_id IN "
        f"(SELECT id FROM notes WHERE patient_id IN ({demo}))) "
        f"OR (entity_type IN ('attachment', 'annotation') AND entity_id IN "
        f"(SELECT id FROM attachments WHERE encounter_id IN ({visits}))) "
        f"OR (entity_type = 'consent' AND entity_id IN "
        f"(SELECT id FROM consents WHERE encounter_id IN ({visits}))) "
        f"OR (entity_type IN ('escalation', 'oncall_notice') AND entity_id IN "
        f"(SELECT id FROM escalations WHERE encounter_id IN ({visits})))"
    )
    return int(cur.rowcount or 0)


def queue_appointment_encounters(conn: Any) -> int:
    """A visit pulled from an Appointment has no Encounter on the server until it happens:
    once a note or attachment of it is queued, queue its Encounter (a conditional create,
    sent before them), so that they never refer to a record the server does not have."""
    rows = conn.execute(
        "SELECT DISTINCT e.id FROM encounters e "
        "JOIN remote_refs a ON a.entity_type = 'appointment' AND a.entity_id = e.id "
        "WHERE NOT EXISTS (SELECT 1 FROM remote_refs r WHERE r.entity_type = 'encounter' "
        "AND r.entity_id = e.id) "
        "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.entity_type = 'encounter' "
        "AND o.entity_id = e.id) "
        "AND (EXISTS (SELECT 1 FROM outbox o JOIN notes n ON o.entity_type = 'note' "
        "AND o.entity_id = n.id WHERE n.encounter_id = e.id) "
        "OR EXISTS (SELECT 1 FROM outbox o JOIN attachments t ON o.entity_type = 'attachment' "
        "AND o.entity_id = t.id WHERE t.encounter_id = e.id) "
        "OR EXISTS (SELECT 1 FROM outbox o JOIN escalations x ON o.entity_type = 'escalation' "
        "AND o.entity_id = x.id WHERE x.encounter_id = e.id) "
        "OR e.status IN ('arrived', 'in-progress', 'finished'))"
    ).fetchall()
    for row in rows:
        repository.outbox_put(conn, "encounter", str(row[0]), "create")
    return len(rows)


def held_server_ids(conn: Any, entity_type: str) -> list[str]:
    """Server ids of the records of one kind this console holds (what a pull asks about)."""
    rows = conn.execute(
        "SELECT server_id FROM remote_refs WHERE entity_type = ? AND server_id != '' "
        "ORDER BY server_id",
        (entity_type,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def adopt_server_version(
    conn: Any, entity_type: str, entity_id: str, server_id: str, version_id: str, text: str
) -> None:
    """The server holds one of our own earlier writes (its acknowledgement was lost):
    take its version as the base for the next If-Match, and keep our newer edit queued."""
    set_remote_ref(conn, entity_type, entity_id, RemoteRef(server_id, version_id, text_hash(text)))


def get_checkpoint(conn: Any, name: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (f"pull_since:{name}",)).fetchone()
    return None if row is None else str(row[0])


def set_checkpoint(conn: Any, name: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
        "value = excluded.value",
        (f"pull_since:{name}", value),
    )


def adopt_remote(conn: Any, entity_type: str, entity_id: str, ref: RemoteRef) -> None:
    """The server holds an earlier version of a record whose create we are still sending
    (acknowledgement lost, edited since): take its id and version, and keep the outbox
    row, now an update with ``If-Match`` on that version."""
    set_remote_ref(conn, entity_type, entity_id, ref)
    conn.execute(
        "UPDATE outbox SET op = 'update' WHERE entity_type = ? AND entity_id = ?",
        (entity_type, entity_id),
    )
