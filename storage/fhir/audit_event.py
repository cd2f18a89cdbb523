"""Audit log entries as FHIR R4 ``AuditEvent`` resources, and pushing them exactly once.

The audit log is append-only and numbered, so it is its own outbox: ``meta``
keeps the highest entry the record store has acknowledged
(``audit_pushed_seq``), and each sync sends the entries after it, oldest
first, in transaction Bundles of conditional creates.

R4's AuditEvent has no ``identifier`` element, so the entry's stable UUID
(uuid5 of store id, sequence number and MAC: a different entry never reuses
one, even after a restore re-used a number) travels as a ``meta.tag`` in the
``urn:ietf:rfc:3986`` system, and the conditional create matches it with the
standard ``_tag`` search parameter every server has. A retry after a lost reply
finds the event instead of making a second one (``200`` instead of ``201``).

An entry names the person (``agent.who``), the action, the record by its
``urn:uuid`` identifier (never a name or text) and its place in the local
chain (``entity.detail``), so the server copy can be checked against the
local log. Events that reached the server are the final ones: everything
else lives on a machine whose account holder could, with enough effort,
change it (docs/storage.md, 'Audit log').
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from app.errors import ConsoleError, SyncProtocolError
from app.records import AuditEntry

IDENTIFIER_SYSTEM: Final = "urn:ietf:rfc:3986"
ACCOUNT_SYSTEM: Final = "urn:clinician-console:os-account"
ACTION_SYSTEM: Final = "urn:clinician-console:audit-action"
_DCM: Final = "http://dicom.nema.org/resources/ontology/DCM"
_NAMESPACE: Final = uuid.UUID("6f1c64d4-52b6-4b1e-9a35-6f8f1a2f0b7d")
PUSHED_KEY: Final = "audit_pushed_seq"
BATCH: Final = 100

# DICOM audit event types (DICOM PS3.16 CID 400), which FHIR's AuditEvent.type uses.
_TYPES: Final = {
    "auth": ("110114", "User Authentication"),
    "record": ("110110", "Patient Record"),
    "export": ("110106", "Export"),
    "import": ("110107", "Import"),
    "app": ("110100", "Application Activity"),
}
_AUTH_ACTIONS: Final = frozenset({"sign_in", "unlock", "lock", "unlock_failed", "sign_out"})
_APP_ACTIONS: Final = frozenset({"audit_rekey", "audit_reanchor"})


@dataclass(frozen=True)
class SyncAuditEvents:
    """One push of audit entries: how many were sent and acknowledged, and why it stopped."""

    sent: int
    acknowledged: int
    waiting_reason: str = ""


def event_uuid(store_id: str, entry: AuditEntry) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{store_id}|{entry.seq}|{entry.hash}"))


def _crud(action: str) -> str:
    if action == "create":
        return "C"
    if action.startswith("read"):
        return "R"
    if action == "delete":
        return "D"
    if action in ("update", "restore", "resolve", "import", "sync_pull") or action.startswith(
        "conflict_"
    ):
        return "U"
    return "E"


def _kind(action: str) -> str:
    if action in _AUTH_ACTIONS:
        return "auth"
    if action in _APP_ACTIONS:
        return "app"
    if action in ("export", "import"):
        return action
    return "record"


def _canonical_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def audit_event_resource(store_id: str, entry: AuditEntry) -> dict[str, Any]:
    """The AuditEvent for one entry (not yet validated: see :func:`audit_event`)."""
    code, display = _TYPES[_kind(entry.action)]
    tag = f"urn:uuid:{event_uuid(store_id, entry)}"
    entity: dict[str, Any] = {
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
            "code": "2",
            "display": "System Object",
        },
        "name": entry.entity_type or "console",
        "detail": [
            {"type": "chain-seq", "valueString": str(entry.seq)},
            {"type": "chain-mac", "valueString": entry.hash},
        ],
    }
    local = _canonical_uuid(entry.entity_id) if entry.entity_id else None
    if local is not None:
        entity["what"] = {"identifier": {"system": IDENTIFIER_SYSTEM, "value": f"urn:uuid:{local}"}}
    elif entry.entity_id:
        entity["description"] = entry.entity_id[:200]
    return {
        "resourceType": "AuditEvent",
        "meta": {"tag": [{"system": IDENTIFIER_SYSTEM, "code": tag}]},
        "type": {"system": _DCM, "code": code, "display": display},
        "subtype": [{"system": ACTION_SYSTEM, "code": entry.action}],
        "action": _crud(entry.action),
        "recorded": entry.ts,
        "outcome": "4" if entry.action == "unlock_failed" else "0",
        "agent": [
            {
                "who": {
                    "identifier": {"system": ACCOUNT_SYSTEM, "value": entry.actor},
                    "display": entry.actor,
                },
                "name": entry.actor,
                "requestor": True,
            }
        ],
        "source": {
            "site": store_id,
            "observer": {"display": f"Clinician Console {store_id}"},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
        "entity": [entity],
    }


def audit_event(store_id: str, entry: AuditEntry) -> dict[str, Any]:
    """The AuditEvent, validated against the R4B model (fhir.resources)."""
    from fhir.resources.R4B.auditevent import AuditEvent

    resource = audit_event_resource(store_id, entry)
    AuditEvent.model_validate(resource)
    return resource


def _bundle_entry(store_id: str, entry: AuditEntry) -> dict[str, Any]:
    tag = f"urn:uuid:{event_uuid(store_id, entry)}"
    return {
        "fullUrl": tag,
        "resource": audit_event(store_id, entry),
        "request": {
            "method": "POST",
            "url": "AuditEvent",
            "ifNoneExist": f"_tag={IDENTIFIER_SYSTEM}|{tag}",
        },
    }


# --- pushing through the sync engine (worker-thread helpers run via store.transact) ---


def pushed_seq(conn: Any) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (PUSHED_KEY,)).fetchone()
    return int(row[0]) if row is not None else 0


def _pending(conn: Any, limit: int) -> tuple[str, list[AuditEntry]]:
    from storage import audit

    row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
    store_id = str(row[0]) if row is not None else ""
    return store_id, audit.entries(conn, pushed_seq(conn), limit)


def _mark_pushed(conn: Any, seq: int) -> None:
    # Only forward: a slower, older push can never move the mark back.
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
        "value = CASE WHEN CAST(value AS INTEGER) < CAST(excluded.value AS INTEGER) "
        "THEN excluded.value ELSE value END",
        (PUSHED_KEY, str(seq)),
    )


def waiting(conn: Any) -> int:
    row = conn.execute("SELECT max(seq) FROM audit_log").fetchone()
    last = int(row[0]) if row and row[0] is not None else 0
    return max(0, last - pushed_seq(conn))


async def push_audit_events(client: Any, store: Any, max_rounds: int = 50) -> SyncAuditEvents:
    """Send audit entries the record store does not have yet; returns what was acknowledged.

    ``store`` is the sync engine's store (``transact``); ``client`` its FHIR
    transport. Stops at the first failure (the rest goes next time): entries
    stay in order and none is skipped.
    """
    sent = acknowledged = 0
    for _round in range(max_rounds):
        store_id, batch = await store.transact(_pending, BATCH)
        if not batch or not store_id:
            break
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [_bundle_entry(store_id, e) for e in batch],
        }
        sent += len(batch)
        try:
            response = await client.transaction(bundle, prefer="return=minimal")
        except ConsoleError as exc:
            return SyncAuditEvents(sent, acknowledged, waiting_reason=str(exc))
        results = response.get("entry")
        if not isinstance(results, list) or len(results) != len(batch):
            raise SyncProtocolError(reason="transaction response entries do not match the request")
        for result in results:
            status = str((result.get("response") or {}).get("status", ""))
            if not status.startswith(("200", "201")):
                raise SyncProtocolError(reason=f"an AuditEvent was answered {status[:3]}")
        await store.transact(_mark_pushed, batch[-1].seq)
        acknowledged += len(batch)
    return SyncAuditEvents(sent, acknowledged)
