"""SQL for a still's annotation layers (table ``annotation_versions``, migration _V_ANNOTATIONS).

Functions take a connection and run on the store's worker thread inside the caller's
transaction (``EncryptedStore.transact``). Versions are append-only: a save inserts
version ``base + 1`` after checking that ``base`` is still the latest, and appends an
audit entry (action ``annotate``, entity ``attachment``, id ``<attachment id>@v<n>``)
and an outbox row (entity ``annotation``: the latest layer is synced as a
DocumentReference, storage/sync/annotations.py) in the same transaction, so either all
are written or none. The still's own row (its bytes) is never touched.
"""

from __future__ import annotations

import json
from typing import Any

from app.annotations import AnnotationLayer, Shape, ShapeKind
from app.errors import AnnotationConflictError, RecordNotFoundError, StoreDamagedError
from app.records import Attachment, utc_now
from storage import audit, repository


def _shapes_json(shapes: tuple[Shape, ...]) -> str:
    return json.dumps(
        [
            {"kind": s.kind.value, "points": [[x, y] for x, y in s.points], "text": s.text}
            for s in shapes
        ],
        separators=(",", ":"),
    )


def _shapes(text: str) -> tuple[Shape, ...]:
    """The stored shapes; a row edited outside the console is reported as damage, not as
    a TypeError in the viewer."""
    try:
        return tuple(
            Shape(
                ShapeKind(item["kind"]),
                tuple((float(x), float(y)) for x, y in item["points"]),
                str(item.get("text", "")),
            )
            for item in json.loads(text)
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise StoreDamagedError(
            path="annotation_versions", reason="unreadable annotations"
        ) from None


def _layer(attachment_id: str, row: Any) -> AnnotationLayer:
    return AnnotationLayer(
        attachment_id, int(row[0]), _shapes(str(row[1])), str(row[2]), str(row[3])
    )


def latest(conn: Any, attachment_id: str) -> AnnotationLayer:
    """The newest version, or version 0 with no shapes when none was saved."""
    repository.get_attachment(conn, attachment_id)  # RecordNotFoundError when gone
    row = conn.execute(
        "SELECT version, shapes, saved_at, saved_by FROM annotation_versions "
        "WHERE attachment_id = ? ORDER BY version DESC LIMIT 1",
        (attachment_id,),
    ).fetchone()
    return AnnotationLayer(attachment_id, 0, ()) if row is None else _layer(attachment_id, row)


def version(conn: Any, attachment_id: str, number: int) -> AnnotationLayer:
    row = conn.execute(
        "SELECT version, shapes, saved_at, saved_by FROM annotation_versions "
        "WHERE attachment_id = ? AND version = ?",
        (attachment_id, number),
    ).fetchone()
    if row is None:
        raise RecordNotFoundError(kind="annotation version", record_id=f"{attachment_id}@v{number}")
    return _layer(attachment_id, row)


def versions(conn: Any, attachment_id: str) -> list[AnnotationLayer]:
    rows = conn.execute(
        "SELECT version, shapes, saved_at, saved_by FROM annotation_versions "
        "WHERE attachment_id = ? ORDER BY version",
        (attachment_id,),
    ).fetchall()
    return [_layer(attachment_id, r) for r in rows]


def save(
    conn: Any, actor: str, attachment_id: str, base_version: int, shapes: tuple[Shape, ...]
) -> AnnotationLayer:
    """Insert version ``base_version + 1``; AnnotationConflictError when ``base_version``
    is not the latest any more (nothing written)."""
    found = latest(conn, attachment_id).version
    if found != base_version:
        raise AnnotationConflictError(found=found)
    layer = AnnotationLayer(attachment_id, base_version + 1, shapes, utc_now(), actor)
    conn.execute(
        "INSERT INTO annotation_versions(attachment_id, version, shapes, saved_at, saved_by) "
        "VALUES (?, ?, ?, ?, ?)",
        (attachment_id, layer.version, _shapes_json(shapes), layer.saved_at, actor),
    )
    audit.append(conn, actor, "annotate", "attachment", f"{attachment_id}@v{layer.version}")
    # The latest layer goes to the record store (storage/sync/annotations.py); a copy of
    # the cart's still received during a visit is not (the cart owns the still).
    repository.outbox_put(conn, "annotation", attachment_id, "update" if base_version else "create")
    return layer


def related_stills(conn: Any, attachment_id: str) -> list[Attachment]:
    """Other stills of the still's patient, any visit, same body site when it has one
    (and same laterality when both say), oldest capture first."""
    still = repository.get_attachment(conn, attachment_id)
    patient_id = repository.get_encounter(conn, still.encounter_id).patient_id
    rows = conn.execute(
        f"SELECT {_COLS} FROM attachments a JOIN encounters e ON e.id = a.encounter_id "
        "WHERE e.patient_id = ? AND a.kind = 'image' AND a.id != ?",
        (patient_id, attachment_id),
    ).fetchall()
    site = still.metadata.get("body_site")
    side = still.metadata.get("laterality")
    found: list[Attachment] = []
    for row in rows:
        other = repository._attachment(row)
        if site is not None and other.metadata.get("body_site") != site:
            continue
        other_side = other.metadata.get("laterality")
        if side is not None and other_side is not None and other_side != side:
            continue
        found.append(other)
    found.sort(key=lambda a: (str(a.metadata.get("captured_at", a.created_at)), a.id))
    return found


_COLS = ", ".join(f"a.{c.strip()}" for c in repository._ATTACHMENT_COLS.split(","))


class StoreAnnotations:
    """``app.annotations.AnnotationStore`` over an ``EncryptedStore``."""

    def __init__(self, store: Any) -> None:
        self._store = store

    async def latest(self, attachment_id: str) -> AnnotationLayer:
        found: AnnotationLayer = await self._store.transact(latest, attachment_id)
        return found

    async def version(self, attachment_id: str, number: int) -> AnnotationLayer:
        found: AnnotationLayer = await self._store.transact(version, attachment_id, number)
        return found

    async def versions(self, attachment_id: str) -> list[AnnotationLayer]:
        found: list[AnnotationLayer] = await self._store.transact(versions, attachment_id)
        return found

    async def save(
        self, attachment_id: str, base_version: int, shapes: tuple[Shape, ...]
    ) -> AnnotationLayer:
        saved: AnnotationLayer = await self._store.transact(
            save, self._store.actor, attachment_id, base_version, shapes
        )
        return saved

    async def still(self, attachment_id: str) -> Attachment:
        found: Attachment = await self._store.transact(repository.get_attachment, attachment_id)
        return found

    async def related_stills(self, attachment_id: str) -> list[Attachment]:
        found: list[Attachment] = await self._store.transact(related_stills, attachment_id)
        return found


__all__ = ["StoreAnnotations", "latest", "related_stills", "save", "version", "versions"]
