"""Push a still's latest annotation layer to the record store (docs/images.md, "Sync").

Outbox rows of entity ``annotation`` (entity id: the still's id) are written in the
same transaction as each saved version (storage/annotations.py), so a crash cannot
lose one. A pass sends, for each row whose still's ``Media`` the server already holds,
the DocumentReference of the **latest** version (storage/fhir/annotation_mapping.py):

- first time: a conditional create (``If-None-Exist`` on its identifier) in a
  transaction. ``201``: acknowledged. ``200``: it was there already; its shapes are
  compared: ours (a lost acknowledgement, a crash after sending) is adopted, anyone
  else's becomes a conflict;
- later versions: ``PUT`` with ``If-Match`` on the version last seen. 409/412: the
  server's copy is read; our own earlier write is adopted (and the newer version goes
  up against it), a colleague's version becomes a conflict and is never overwritten.

What was sent is noted (``queue.note_sent``, the shapes' digest) before the request
goes, so that after a kill -9 the console still knows its own writes. A row whose
conflict is open waits until the user decides (storage/sync/queue.resolve_conflict).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from app.annotations import AnnotationLayer, mm_per_px_of
from app.errors import (
    InputRejectedError,
    RecordNotFoundError,
    SyncConflictError,
    SyncProtocolError,
    SyncRejectedError,
)
from app.records import Attachment
from storage import annotations as layers
from storage import repository
from storage.fhir import annotation_mapping as am
from storage.sync import queue
from storage.sync.queue import OutboxItem, RemoteRef

log = logging.getLogger(__name__)

ENTITY = "annotation"
#: The server's shapes kept with a conflict, at most (500 shapes of a few points are
#: far less); a larger copy is kept as unreadable: "keep mine" still works, "take
#: theirs" says it cannot be read.
MAX_CONFLICT_BYTES = 1_000_000


class _Client(Protocol):
    async def transaction(self, bundle: dict[str, Any], *, prefer: str = ...) -> dict[str, Any]: ...

    async def batch(self, bundle: dict[str, Any], *, prefer: str = ...) -> dict[str, Any]: ...

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]: ...


class _Store(Protocol):
    async def transact(self, fn: Any, *args: Any) -> Any: ...

    @property
    def actor(self) -> str: ...


@dataclass(frozen=True, slots=True)
class _Waiting:
    item: OutboxItem
    still: Attachment | None  # None: the still left the store
    layer: AnnotationLayer | None
    patient: str | None  # server ids; None: not on the server yet
    encounter: str | None
    media: str | None
    remote: RemoteRef | None


@dataclass
class AnnotationPush:
    sent: int = 0
    acknowledged: int = 0
    waiting: int = 0
    failed: int = 0
    conflicts: int = 0
    retry: int = 0


def _server_id(conn: Any, kind: str, local_id: str) -> str | None:
    ref = queue.remote_ref(conn, kind, local_id)
    if ref is None or not ref.server_id:
        return None
    unsent = conn.execute(
        "SELECT 1 FROM outbox WHERE entity_type = ? AND entity_id = ? AND op = 'create'",
        (kind, local_id),
    ).fetchone()
    return None if unsent is not None else ref.server_id


def _pending(conn: Any) -> list[_Waiting]:
    rows = conn.execute(
        "SELECT o.seq, o.entity_type, o.entity_id, o.op, o.revision, o.attempts FROM outbox o "
        "WHERE o.entity_type = 'annotation' AND o.failed_revision != o.revision "
        "AND NOT EXISTS (SELECT 1 FROM conflicts c WHERE c.entity_type = o.entity_type "
        "AND c.entity_id = o.entity_id AND c.resolved_at IS NULL) ORDER BY o.seq"
    ).fetchall()
    out: list[_Waiting] = []
    for row in rows:
        item = OutboxItem(
            int(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]), int(row[5])
        )
        try:
            still = repository.get_attachment(conn, item.entity_id)
        except RecordNotFoundError:
            out.append(_Waiting(item, None, None, None, None, None, None))
            continue
        encounter = repository.get_encounter(conn, still.encounter_id)
        out.append(
            _Waiting(
                item,
                still,
                layers.latest(conn, still.id),
                _server_id(conn, "patient", encounter.patient_id),
                _server_id(conn, "encounter", encounter.id),
                _server_id(conn, "attachment", still.id),
                queue.remote_ref(conn, ENTITY, still.id),
            )
        )
    return out


def _drop(conn: Any, item: OutboxItem) -> None:
    conn.execute("DELETE FROM outbox WHERE seq = ?", (item.seq,))


def _conflict(
    conn: Any, actor: str, still_id: str, server_id: str, version: str, server: dict[str, Any]
) -> bool:
    """A colleague's version is on the server: remember it (the row then waits for the
    user's decision) and never send over it."""
    digest = am.digest_of(server) or ""
    queue.set_remote_ref(conn, ENTITY, still_id, RemoteRef(server_id, version, digest))
    raw = am.shapes_json_of(server) or b""
    if len(raw) > MAX_CONFLICT_BYTES:
        raw = b""
    return queue.record_conflict(
        conn, actor, ENTITY, still_id, version, raw.decode("utf-8", "replace")
    )


def _adopt(conn: Any, still_id: str, server_id: str, version: str, digest: str) -> None:
    """The server holds an earlier write of ours (its acknowledgement was lost): the
    newer version goes up against it."""
    queue.set_remote_ref(conn, ENTITY, still_id, RemoteRef(server_id, version, digest))
    conn.execute(
        "UPDATE outbox SET op = 'update' WHERE entity_type = ? AND entity_id = ?",
        (ENTITY, still_id),
    )


async def push_annotations(client: _Client, store: _Store, reasons: list[str]) -> AnnotationPush:
    """One pass over the annotation rows (see the module's docstring)."""
    result = AnnotationPush()
    for waiting in await store.transact(_pending):
        item, still, layer = waiting.item, waiting.still, waiting.layer
        if still is None or layer is None:  # deleted (never synced) or purged: nothing to send
            await store.transact(_drop, item)
            continue
        if waiting.patient is None or waiting.encounter is None or waiting.media is None:
            result.waiting += 1  # the still (or its visit) goes first
            continue
        try:
            await _push_one(client, store, waiting, result, reasons)
        except (SyncRejectedError, SyncConflictError, InputRejectedError) as exc:
            await store.transact(queue.mark_failed, item, str(exc))
            result.failed += 1
            reasons.append(str(exc))
    return result


async def _push_one(
    client: _Client,
    store: _Store,
    w: _Waiting,
    result: AnnotationPush,
    reasons: list[str],
) -> None:
    from storage.fhir.client import entry_result
    from storage.sync.engine import MINIMAL, _meta_of, full_url

    assert w.still is not None and w.layer is not None
    assert w.patient is not None and w.encounter is not None and w.media is not None
    still, layer, item = w.still, w.layer, w.item
    width, height = still.metadata.get("width_px"), still.metadata.get("height_px")
    if not isinstance(width, int) or not isinstance(height, int) or width < 1 or height < 1:
        raise InputRejectedError(reason="the still has no recorded size")
    data: bytes = await store.transact(repository.attachment_data, still.id)
    # Decoding and drawing take a moment on a large still: off the event loop.
    rendering = await asyncio.to_thread(am.render, data, layer, width, height)
    shapes_json = am.shapes_document(layer, still, mm_per_px_of(still))
    resource = am.annotation_resource(
        layer=layer,
        still=still,
        rendering=rendering,
        shapes_json=shapes_json,
        patient_server_id=w.patient,
        encounter_server_id=w.encounter,
        media_server_id=w.media,
    )
    digest = am.shapes_digest(layer.shapes)
    doc_id = am.document_id(still.id)
    await store.transact(queue.note_sent, ENTITY, still.id, digest)
    remote = w.remote
    for _attempt in range(2):  # a second go only after adopting our own earlier write
        result.sent += 1
        if remote is None:
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "fullUrl": full_url("DocumentReference", doc_id),
                        "resource": resource,
                        "request": {
                            "method": "POST",
                            "url": "DocumentReference",
                            "ifNoneExist": f"identifier={am.IDENTIFIER_SYSTEM}|urn:uuid:{doc_id}",
                        },
                    }
                ],
            }
            response = await client.transaction(bundle, prefer=MINIMAL)
        else:
            body = {**resource, "id": remote.server_id}
            request = {"method": "PUT", "url": f"DocumentReference/{remote.server_id}"}
            if remote.version_id:
                request["ifMatch"] = f'W/"{remote.version_id}"'
            bundle = {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [{"resource": body, "request": request}],
            }
            response = await client.batch(bundle, prefer=MINIMAL)
        entries = response.get("entry") if isinstance(response, dict) else None
        if not isinstance(entries, list) or len(entries) != 1:
            raise SyncProtocolError(reason="the response's entries do not match the request")
        written = entry_result(entries[0])
        status = written.status
        created_now = remote is None and status == 201
        updated_now = remote is not None and 200 <= status < 300
        if created_now or updated_now:
            if not written.id:
                raise SyncProtocolError(reason="the server's response named no stored resource")
            await store.transact(
                queue.acknowledge, item, RemoteRef(written.id, written.version_id or "", digest)
            )
            result.acknowledged += 1
            return
        if remote is None and status == 200 and written.id:
            server_id = written.id  # it existed already: whose is it?
        elif remote is not None and status in (409, 412):
            server_id = remote.server_id
        elif status in (408, 429) or status >= 500:
            await store.transact(queue.note_attempt, [item], "the server asked to retry later")
            result.retry += 1
            return
        else:
            raise SyncRejectedError(status=status, issue_code="refused", reason=f"HTTP {status}")
        current = await client.read("DocumentReference", server_id)
        version, _updated = _meta_of(current, f"DocumentReference/{server_id}")
        theirs = am.digest_of(current)
        if theirs == digest:  # our own write: its acknowledgement was lost
            await store.transact(queue.acknowledge, item, RemoteRef(server_id, version, digest))
            result.acknowledged += 1
            return
        sent = await store.transact(queue.sent_hashes, ENTITY, still.id)
        if theirs is not None and theirs in sent:
            await store.transact(_adopt, still.id, server_id, version, theirs)
            remote = RemoteRef(server_id, version, theirs)
            continue
        new = await store.transact(_conflict, store.actor, still.id, server_id, version, current)
        result.conflicts += int(new)
        reasons.append("a still's annotations were changed elsewhere")
        return


__all__ = ["ENTITY", "AnnotationPush", "push_annotations"]
