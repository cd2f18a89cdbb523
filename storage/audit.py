"""The append-only, hash-chained audit log.

Each entry's hash covers its own fields and the previous entry's hash, so an
edited entry breaks its own hash, a reordered or deleted one breaks the chain,
and a deleted tail no longer matches the head kept in ``meta``. Triggers make
the table append-only for ordinary SQL; the chain catches anyone who drops them.
Entries hold ids and actions, never note text or names.
"""

from __future__ import annotations

import hashlib
from typing import Any

from app.records import AuditEntry, AuditReport, utc_now

GENESIS = "0" * 64


def entry_hash(
    seq: int, ts: str, actor: str, action: str, entity_type: str, entity_id: str, prev_hash: str
) -> str:
    fields = (str(seq), ts, actor, action, entity_type, entity_id, prev_hash)
    # Unit separator: cannot occur in ids or action names, so field boundaries are unambiguous.
    return hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()


def append(
    conn: Any,
    actor: str,
    action: str,
    entity_type: str = "",
    entity_id: str = "",
    ts: str | None = None,
) -> AuditEntry:
    """Append inside the caller's transaction.

    The chain continues from the recorded head, not from the last row, so a
    deleted tail leaves a visible gap instead of being papered over.
    """
    head = conn.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()
    if head is not None:
        head_seq, _, prev = str(head[0]).partition(":")
        seq = int(head_seq) + 1
    else:
        row = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (int(row[0]) + 1, str(row[1])) if row else (1, GENESIS)
    when = ts or utc_now()
    digest = entry_hash(seq, when, actor, action, entity_type, entity_id, prev)
    conn.execute(
        "INSERT INTO audit_log(seq, ts, actor, action, entity_type, entity_id, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, when, actor, action, entity_type, entity_id, prev, digest),
    )
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('audit_head', ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (f"{seq}:{digest}",),
    )
    return AuditEntry(seq, when, actor, action, entity_type, entity_id, prev, digest)


def entries(conn: Any) -> list[AuditEntry]:
    rows = conn.execute(
        "SELECT seq, ts, actor, action, entity_type, entity_id, prev_hash, hash "
        "FROM audit_log ORDER BY seq"
    ).fetchall()
    return [AuditEntry(int(r[0]), *(str(v) for v in r[1:])) for r in rows]


def verify(conn: Any) -> AuditReport:
    """Walk the chain; report the first entry that does not verify."""
    count = 0
    expected_seq = 1
    prev = GENESIS
    for entry in entries(conn):
        count += 1
        if entry.seq != expected_seq:
            return AuditReport(count, False, expected_seq, "is missing (deleted)")
        if entry.prev_hash != prev:
            return AuditReport(
                count,
                False,
                entry.seq,
                "does not follow the previous entry "
                "(reordered, or an entry before it was replaced)",
            )
        recomputed = entry_hash(
            entry.seq,
            entry.ts,
            entry.actor,
            entry.action,
            entry.entity_type,
            entry.entity_id,
            entry.prev_hash,
        )
        if recomputed != entry.hash:
            return AuditReport(count, False, entry.seq, "was edited")
        prev = entry.hash
        expected_seq += 1
    head = conn.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()
    if head is not None:
        head_seq, _, head_hash = str(head[0]).partition(":")
        if int(head_seq) >= expected_seq:
            return AuditReport(
                count, False, expected_seq, "and later entries are missing (deleted)"
            )
        if int(head_seq) == expected_seq - 1 and head_hash != prev:
            return AuditReport(count, False, int(head_seq), "was replaced")
    return AuditReport(count, True)
