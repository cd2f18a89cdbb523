"""The append-only audit log, chained with a keyed MAC and anchored outside the database.

Each entry's MAC (HMAC-SHA256) covers its own fields and the previous entry's
MAC, under the *audit key*: a random key kept beside the store key in the OS
keyring (keyring mode) or derived from the passphrase under its own label
(passphrase mode); never the database key. So someone who holds the database
key and a SQL shell can still edit rows, but cannot recompute the chain.

The chain's head (``seq:mac``) is kept twice: in ``meta`` (so a deleted tail
is seen) and outside the database (the anchor, written by storage.store at
lock, close and at most every 60 s), so an older copy of the whole file, or a
removed WAL, is seen too (:func:`check_anchor`).

Stores written before the chain was keyed used a plain SHA-256 chain; the
first open after upgrading checks that chain, keys every row in one
transaction (:func:`rechain`) and appends an ``audit_rekey`` entry saying what
the old chain's check found and its old head. If the old chain did not
verify, :func:`verify` keeps reporting where it broke.

The MAC key travels on the connection (``conn.audit_key``, set by
storage.store), so the repository's ``append(conn, actor, ...)`` calls stay as
they were. Entries hold ids and actions, never note text or names.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from app.errors import AuditRollbackError, StoreError
from app.records import AuditEntry, AuditReport, utc_now

GENESIS = "0" * 64
MAC_FORMAT = "hmac-sha256-v1"
_FORMAT_KEY = "audit_format"
_LEGACY_KEY = "audit_legacy"  # '' when the pre-MAC chain verified, else "seq:problem"


def _fields(
    seq: int, ts: str, actor: str, action: str, entity_type: str, entity_id: str, prev: str
) -> bytes:
    # Unit separator: cannot occur in ids or action names, so field boundaries are unambiguous.
    return "\x1f".join((str(seq), ts, actor, action, entity_type, entity_id, prev)).encode("utf-8")


def entry_hash(
    seq: int, ts: str, actor: str, action: str, entity_type: str, entity_id: str, prev_hash: str
) -> str:
    """The legacy, unkeyed SHA-256 link (schema <= 5 stores; only read when re-keying)."""
    return hashlib.sha256(
        _fields(seq, ts, actor, action, entity_type, entity_id, prev_hash)
    ).hexdigest()


def entry_mac(
    key: bytes,
    seq: int,
    ts: str,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    prev: str,
) -> str:
    return hmac.new(
        key, _fields(seq, ts, actor, action, entity_type, entity_id, prev), hashlib.sha256
    ).hexdigest()


def _key(conn: Any) -> bytes:
    key = getattr(conn, "audit_key", None)
    if not key:
        # A connection opened outside storage.store (or before the key was
        # loaded) must not write unverifiable entries.
        raise StoreError(reason="the audit key is not loaded")
    return bytes(key)


def _meta(conn: Any, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _set_meta(conn: Any, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


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
    key = _key(conn)
    head = _meta(conn, "audit_head")
    row = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    if head is not None:
        head_seq, _, prev = head.partition(":")
        # Rows past the recorded head (put there outside the console) are
        # neither overwritten nor adopted: the new entry follows the head, so
        # verify() names them.
        seq = max(int(head_seq), int(row[0]) if row else 0) + 1
    else:
        seq, prev = (int(row[0]) + 1, str(row[1])) if row else (1, GENESIS)
    when = ts or utc_now()
    digest = entry_mac(key, seq, when, actor, action, entity_type, entity_id, prev)
    conn.execute(
        "INSERT INTO audit_log(seq, ts, actor, action, entity_type, entity_id, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, when, actor, action, entity_type, entity_id, prev, digest),
    )
    _set_meta(conn, "audit_head", f"{seq}:{digest}")
    return AuditEntry(seq, when, actor, action, entity_type, entity_id, prev, digest)


def entries(conn: Any, after_seq: int = 0, limit: int | None = None) -> list[AuditEntry]:
    sql = (
        "SELECT seq, ts, actor, action, entity_type, entity_id, prev_hash, hash "
        "FROM audit_log WHERE seq > ? ORDER BY seq"
    )
    params: tuple[int, ...] = (after_seq,)
    if limit is not None:
        sql += " LIMIT ?"
        params = (after_seq, limit)
    rows = conn.execute(sql, params).fetchall()
    return [AuditEntry(int(r[0]), *(str(v) for v in r[1:])) for r in rows]


def head(conn: Any) -> str:
    """``seq:mac`` of the recorded head ('0:GENESIS' for an empty log): what gets anchored."""
    return _meta(conn, "audit_head") or f"0:{GENESIS}"


def is_keyed(conn: Any) -> bool:
    return _meta(conn, _FORMAT_KEY) == MAC_FORMAT


def mark_keyed(conn: Any) -> None:
    """A new store: its chain is keyed from the first entry."""
    _set_meta(conn, _FORMAT_KEY, MAC_FORMAT)


def _walk(rows: list[AuditEntry], link: Any) -> tuple[int, str, AuditReport | None]:
    """Check seq order, links and each entry's own hash; returns (next seq, last hash, problem)."""
    expected_seq, prev, count = 1, GENESIS, len(rows)
    seen: dict[str, int] = {GENESIS: 0}
    for entry in rows:
        if entry.seq != expected_seq:
            return (
                expected_seq,
                prev,
                AuditReport(count, False, expected_seq, "is missing (deleted)"),
            )
        if entry.prev_hash != prev and entry.prev_hash in seen:
            # This entry follows an earlier head: the ones in between were
            # appended without moving the recorded head (outside the console).
            return (
                expected_seq,
                prev,
                AuditReport(
                    count,
                    False,
                    seen[entry.prev_hash] + 1,
                    "and later entries were added outside the console (past the recorded head)",
                ),
            )
        if entry.prev_hash != prev:
            return (
                expected_seq,
                prev,
                AuditReport(
                    count,
                    False,
                    entry.seq,
                    "does not follow the previous entry "
                    "(reordered, or an entry before it was replaced)",
                ),
            )
        recomputed = link(
            entry.seq,
            entry.ts,
            entry.actor,
            entry.action,
            entry.entity_type,
            entry.entity_id,
            entry.prev_hash,
        )
        if not hmac.compare_digest(recomputed, entry.hash):
            return expected_seq, prev, AuditReport(count, False, entry.seq, "was edited")
        prev = entry.hash
        seen[prev] = entry.seq
        expected_seq += 1
    return expected_seq, prev, None


def rechain(conn: Any, actor: str) -> None:
    """Key an existing (legacy SHA-256) chain with the audit key, in the caller's transaction.

    The old chain is checked first and its verdict kept in ``meta``, so a log
    that was already tampered with is not laundered by re-keying: verify()
    keeps naming the entry where the old chain broke. The re-keying itself is
    the ``audit_rekey`` entry that follows, naming the old head.
    """
    key = _key(conn)
    rows = entries(conn)
    _, legacy_prev, problem = _walk(rows, entry_hash)
    legacy_head = _meta(conn, "audit_head")
    if problem is None and legacy_head is not None:
        head_seq, _, head_hash = legacy_head.partition(":")
        if int(head_seq) != len(rows) or head_hash != legacy_prev:
            problem = AuditReport(len(rows), False, int(head_seq), "and later entries are missing")
    verdict = "" if problem is None else f"{problem.first_bad_seq}:{problem.problem}"
    conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    prev = GENESIS
    for entry in rows:
        digest = entry_mac(
            key,
            entry.seq,
            entry.ts,
            entry.actor,
            entry.action,
            entry.entity_type,
            entry.entity_id,
            prev,
        )
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, entry.seq)
        )
        prev = digest
    conn.execute(
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN "
        "SELECT RAISE(ABORT, 'audit log is append-only'); END"
    )
    last_seq = rows[-1].seq if rows else 0
    _set_meta(conn, "audit_head", f"{last_seq}:{prev}")
    _set_meta(conn, _FORMAT_KEY, MAC_FORMAT)
    _set_meta(conn, _LEGACY_KEY, verdict)
    old = (legacy_head or "0:").split(":")
    append(
        conn,
        actor,
        "audit_rekey",
        "audit_log",
        f"legacy head {old[0]}:{old[1][:16]} {'verified' if not verdict else 'did not verify'}",
    )


def verify(conn: Any, anchor: str | None = None) -> AuditReport:
    """Walk every row, including rows past the recorded head; report the first bad one.

    ``anchor`` is the ``seq:mac`` kept outside the database; the anchored
    entry must still be there, unchanged.
    """
    key = _key(conn)
    rows = entries(conn)
    count = len(rows)

    def link(*fields: Any) -> str:
        return entry_mac(key, *fields)

    expected_seq, prev, problem = _walk(rows, link)
    if problem is not None:
        return AuditReport(count, False, problem.first_bad_seq, problem.problem)
    legacy = _meta(conn, _LEGACY_KEY) or ""
    if legacy:
        bad_seq, _, what = legacy.partition(":")
        return AuditReport(
            count,
            False,
            int(bad_seq),
            f"{what} (found when the log was first keyed; see the audit_rekey entry)",
        )
    recorded = _meta(conn, "audit_head")
    if recorded is not None:
        head_seq, _, head_hash = recorded.partition(":")
        if int(head_seq) >= expected_seq:
            return AuditReport(
                count, False, expected_seq, "and later entries are missing (deleted)"
            )
        if int(head_seq) < expected_seq - 1:
            return AuditReport(
                count,
                False,
                int(head_seq) + 1,
                "and later entries were added outside the console (past the recorded head)",
            )
        if head_hash != prev:
            return AuditReport(count, False, int(head_seq), "was replaced")
    if anchor is not None:
        try:
            check_anchor(conn, anchor)
        except AuditRollbackError as exc:
            return AuditReport(count, False, int(exc.params["seq"]), str(exc.params["problem"]))
    return AuditReport(count, True)


def check_anchor(conn: Any, anchor: str) -> None:
    """Raise AuditRollbackError unless the anchored entry is still in the log, unchanged."""
    seq_text, _, mac = anchor.partition(":")
    try:
        seq = int(seq_text)
    except ValueError:
        raise AuditRollbackError(seq=0, problem="has an unreadable anchor") from None
    if seq == 0:
        return
    row = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (seq,)).fetchone()
    if row is None:
        raise AuditRollbackError(
            seq=seq, problem="is missing although it was recorded outside the store"
        )
    if not hmac.compare_digest(str(row[0]), mac):
        raise AuditRollbackError(
            seq=seq, problem="differs from the copy recorded outside the store"
        )
