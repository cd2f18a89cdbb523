"""Annotations on a real SQLCipher store: versions kept apart from the still's bytes, each
audited, a stale save refused with nothing written; measurement in mm from the scale."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from app.annotations import (
    AnnotationsService,
    Shape,
    ShapeKind,
    check_shapes,
    measure,
    mm_per_px_of,
    polygon_area_px,
)
from app.errors import AnnotationConflictError, InputRejectedError
from app.records import Attachment, Encounter, Patient, new_id
from storage import audit
from storage.annotations import StoreAnnotations
from storage.migrations import LATEST
from tests.conftest import open_test_store


def _jpeg(width: int = 400, height: int = 300) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (180, 120, 90)).save(out, "JPEG", quality=90)
    return out.getvalue()


async def _still(store: Any, enc: Encounter, **meta: object) -> Attachment:
    metadata: dict[str, object] = {"width_px": 400, "height_px": 300, **meta}
    found: Attachment = await store.add_attachment(
        enc.id, "image", "image/jpeg", _jpeg(), "", metadata
    )
    return found


async def _seed(store: Any) -> tuple[Patient, Encounter]:
    patient = await store.add_patient(Patient(new_id(), "Review", "Rae", "1960-02-02"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, "2026-01-01T09:00:00+00:00"))
    return patient, enc


ARROW = Shape(ShapeKind.ARROW, ((10.0, 10.0), (100.0, 50.0)))
LABEL = Shape(ShapeKind.TEXT, ((20.0, 30.0),), "lesion border")
SQUARE = Shape(ShapeKind.OUTLINE, ((0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)))


def test_measure_in_mm_when_calibrated_and_px_otherwise() -> None:
    line = Shape(ShapeKind.LENGTH, ((0.0, 0.0), (30.0, 40.0)))
    got = measure(line, 0.1)
    assert got is not None and got.unit == "mm" and math.isclose(got.length, 5.0)
    square = measure(SQUARE, 0.1)
    assert square is not None and math.isclose(square.area or 0, 100.0)  # 10 mm x 10 mm
    assert math.isclose(square.length, 40.0)  # perimeter, closed
    plain = measure(SQUARE, None)
    assert plain is not None and plain.unit == "px" and math.isclose(plain.area or 0, 10_000.0)
    assert measure(LABEL, 0.1) is None
    # Drawing direction does not change the area.
    assert polygon_area_px(SQUARE.points[::-1]) == polygon_area_px(SQUARE.points)


@pytest.mark.parametrize(
    "shape",
    [
        Shape(ShapeKind.ARROW, ((0.0, 0.0),)),
        Shape(ShapeKind.OUTLINE, ((0.0, 0.0), (1.0, 1.0))),
        Shape(ShapeKind.LENGTH, ((0.0, 0.0), (401.0, 1.0))),
        Shape(ShapeKind.LENGTH, ((0.0, 0.0), (float("nan"), 1.0))),
        Shape(ShapeKind.LENGTH, ((-1.0, 0.0), (1.0, 1.0))),
        Shape(ShapeKind.TEXT, ((1.0, 1.0),), "  "),
        Shape(ShapeKind.TEXT, ((1.0, 1.0),), "x" * 201),
        Shape(ShapeKind.TEXT, ((1.0, 1.0),), "bell\x07"),
        Shape(ShapeKind.TEXT, ((1.0, 1.0),), "two\nlines"),
    ],
)
def test_hostile_shapes_are_refused(shape: Shape) -> None:
    with pytest.raises(InputRejectedError) as caught:
        check_shapes([shape], 400, 300)
    assert "x" * 201 not in str(caught.value)


def test_versions_apart_from_pixels_audited_and_stale_save_refused(fresh_profile: Path) -> None:
    async def go() -> None:
        store = await open_test_store(fresh_profile)
        try:
            assert (
                await store.transact(lambda c: int(c.execute("PRAGMA user_version").fetchone()[0]))
                == LATEST
            )
            _, enc = await _seed(store)
            still = await _still(store, enc, scale_points=[0, 0, 100, 0], scale_distance_mm=10)
            before = await store.read_attachment(still.id)
            service = AnnotationsService(StoreAnnotations(store))
            assert (await service.latest(still.id)).version == 0
            v1 = await service.save(still.id, 0, [ARROW, LABEL])
            v2 = await service.save(still.id, 1, [ARROW, LABEL, SQUARE])
            assert (v1.version, v2.version) == (1, 2)
            # A second reviewer who read version 1 cannot overwrite version 2.
            with pytest.raises(AnnotationConflictError) as caught:
                await service.save(still.id, 1, [ARROW])
            assert caught.value.params["found"] == 2
            latest = await service.latest(still.id)
            assert latest.shapes == (ARROW, LABEL, SQUARE)
            assert [v.version for v in await service.history(still.id)] == [1, 2]
            assert (await service.version(still.id, 1)).shapes == (ARROW, LABEL)
            # The still's bytes and digest are untouched.
            assert await store.read_attachment(still.id) == before
            entries = await store.transact(audit.entries)
            annotated = [e.entity_id for e in entries if e.action == "annotate"]
            assert annotated == [f"{still.id}@v1", f"{still.id}@v2"]
            assert all("lesion" not in e.entity_id for e in entries)
            assert mm_per_px_of(await store.get_attachment(still.id)) == pytest.approx(0.1)
            # A bad shape writes nothing (no version 3, no audit entry).
            with pytest.raises(InputRejectedError):
                await service.save(still.id, 2, [Shape(ShapeKind.ARROW, ((0.0, 0.0),))])
            assert (await service.latest(still.id)).version == 2
            assert len(await store.transact(audit.entries)) == len(entries)
        finally:
            await store.close()

    import asyncio

    asyncio.run(go())


def test_related_stills_same_patient_and_site_oldest_first(fresh_profile: Path) -> None:
    async def go() -> None:
        store = await open_test_store(fresh_profile)
        try:
            patient, enc = await _seed(store)
            earlier = await store.add_encounter(
                Encounter(new_id(), patient.id, "2025-06-01T09:00:00+00:00")
            )
            now = await _still(
                store,
                enc,
                body_site="14975008",
                laterality="left",
                captured_at="2026-01-01T09:05:00+00:00",
            )
            old = await _still(
                store,
                earlier,
                body_site="14975008",
                laterality="left",
                captured_at="2025-06-01T09:05:00+00:00",
            )
            await _still(store, earlier, body_site="14975008", laterality="right")
            await _still(store, enc, body_site="85562004")
            _, other_enc = await _seed(store)  # another patient, same site
            await _still(store, other_enc, body_site="14975008", laterality="left")
            service = AnnotationsService(StoreAnnotations(store))
            found = await service.compare_candidates(now.id)
            assert [a.id for a in found] == [old.id]
        finally:
            await store.close()

    import asyncio

    asyncio.run(go())


def _synced(conn: Any, enc: Encounter, still_id: str) -> None:
    """As if the patient, the visit and the still had been acknowledged by the server."""
    from storage.sync import queue
    from storage.sync.queue import RemoteRef

    for kind, local_id in (
        ("patient", enc.patient_id),
        ("encounter", enc.id),
        ("attachment", still_id),
    ):
        queue.set_remote_ref(conn, kind, local_id, RemoteRef(f"srv-{local_id}", "1", ""))
        conn.execute("DELETE FROM outbox WHERE entity_type = ? AND entity_id = ?", (kind, local_id))


def test_retention_purges_an_annotated_visit_only_once_its_annotations_are_synced(
    fresh_profile: Path,
) -> None:
    """Purging a synced visit whose annotations are not on the record store would lose the
    specialist's work: kept until the latest layer is acknowledged (and while a conflict
    on it is open), then purged like any other synced visit, annotations with it."""
    import asyncio

    from storage import repository
    from storage.sync import queue
    from storage.sync.queue import RemoteRef

    cutoff = "2027-01-01T00:00:00+00:00"

    async def go() -> None:
        store = await open_test_store(fresh_profile)
        try:
            _, enc = await _seed(store)  # the visit started 2026-01-01
            still = await _still(store, enc)
            await AnnotationsService(StoreAnnotations(store)).save(still.id, 0, [ARROW])
            await store.transact(_synced, enc, still.id)
            # The layer waits in the outbox: kept.
            assert await store.transact(repository.purge_synced, "test", cutoff) == 0
            assert (await AnnotationsService(StoreAnnotations(store)).latest(still.id)).version == 1

            def acknowledged_with_conflict(conn: Any) -> None:
                queue.set_remote_ref(conn, "annotation", still.id, RemoteRef("doc", "2", ""))
                conn.execute("DELETE FROM outbox WHERE entity_type = 'annotation'")
                queue.record_conflict(conn, "test", "annotation", still.id, "3", "{}")

            await store.transact(acknowledged_with_conflict)
            assert await store.transact(repository.purge_synced, "test", cutoff) == 0
            await store.transact(
                lambda c: c.execute("UPDATE conflicts SET resolved_at = 'x', resolution = 'y'")
            )
            # Acknowledged, nothing open: purged like any synced visit, layers with it.
            assert await store.transact(repository.purge_synced, "test", cutoff) == 1
            left = await store.transact(
                lambda c: c.execute(
                    "SELECT (SELECT count(*) FROM annotation_versions), (SELECT count(*) FROM "
                    "remote_refs WHERE entity_type = 'annotation'), (SELECT count(*) FROM "
                    "meta WHERE key LIKE 'sent:annotation:%')"
                ).fetchone()
            )
            assert tuple(left) == (0, 0, 0)
        finally:
            await store.close()

    asyncio.run(go())


def test_an_unsynced_still_deleted_by_mistake_takes_its_annotations_and_their_row(
    fresh_profile: Path,
) -> None:
    import asyncio

    async def go() -> None:
        store = await open_test_store(fresh_profile)
        try:
            _, enc = await _seed(store)
            other = await _still(store, enc)
            await AnnotationsService(StoreAnnotations(store)).save(other.id, 0, [ARROW])
            await store.delete_attachment(other.id)
            left = await store.transact(
                lambda c: c.execute(
                    "SELECT (SELECT count(*) FROM annotation_versions WHERE attachment_id = ?), "
                    "(SELECT count(*) FROM outbox WHERE entity_id = ?)",
                    (other.id, other.id),
                ).fetchone()
            )
            assert tuple(left) == (0, 0)
        finally:
            await store.close()

    asyncio.run(go())


def test_each_save_queues_the_still_once_and_a_received_copy_never(fresh_profile: Path) -> None:
    """The layer is queued in the save's own transaction (one row per still, its revision
    bumped); a copy received from the cart is the cart's still: never queued."""
    import asyncio

    async def go() -> None:
        store = await open_test_store(fresh_profile)
        try:
            _, enc = await _seed(store)
            still = await _still(store, enc)
            copy = await _still(store, enc, received=True, remote_image_id=new_id())
            service = AnnotationsService(StoreAnnotations(store))
            await service.save(still.id, 0, [ARROW])
            await service.save(still.id, 1, [ARROW, LABEL])
            await service.save(copy.id, 0, [ARROW])
            rows = await store.transact(
                lambda c: c.execute(
                    "SELECT entity_id, revision FROM outbox WHERE entity_type = 'annotation'"
                ).fetchall()
            )
            assert [tuple(r) for r in rows] == [(still.id, 2)]
        finally:
            await store.close()

    asyncio.run(go())


def test_the_migration_queues_layers_saved_before_it(fresh_profile: Path) -> None:
    """A console upgraded with annotated stills sends their layers (once each); a received
    copy's layer is not queued."""
    import asyncio

    from app.records import KeySource, utc_now
    from storage import database, keys, migrations
    from storage.store import DB_FILE, EncryptedStore
    from tests.conftest import TEST_PASSPHRASE
    from tests.unit.test_migrations import ENC_ID, _old_store

    before = migrations.MIGRATIONS.index(migrations._queue_annotation_layers)
    _old_store(fresh_profile, before)
    key = keys.load_passphrase_key(keys.read_meta(fresh_profile), TEST_PASSPHRASE)  # type: ignore[arg-type]
    conn = database.connect(fresh_profile / DB_FILE, key, create=False)
    with conn:
        for att_id, metadata, versions in (
            ("old-still", '{"width_px": 400, "height_px": 300}', 2),
            ("old-received", '{"received": true}', 1),
            ("plain-still", "{}", 0),
        ):
            conn.execute(
                "INSERT INTO attachments(id, encounter_id, kind, content_type, created_at, "
                "size_bytes, sha256, metadata, data) VALUES (?, ?, 'image', 'image/jpeg', ?, "
                "1, 'x', ?, x'00')",
                (att_id, ENC_ID, utc_now(), metadata),
            )
            for v in range(1, versions + 1):
                conn.execute(
                    "INSERT INTO annotation_versions VALUES (?, ?, '[]', ?, 'someone')",
                    (att_id, v, utc_now()),
                )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()

    async def go() -> None:
        store = await EncryptedStore.open(
            fresh_profile, passphrase=TEST_PASSPHRASE, key_source=KeySource.PASSPHRASE
        )
        try:
            rows = await store.transact(
                lambda c: c.execute(
                    "SELECT entity_id, op FROM outbox WHERE entity_type = 'annotation'"
                ).fetchall()
            )
            assert [tuple(r) for r in rows] == [("old-still", "create")]
        finally:
            await store.close()

    asyncio.run(go())


_anything = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.one_of(st.sampled_from(list(ShapeKind)), st.text(max_size=8)),
    points=st.lists(
        st.one_of(st.tuples(_anything, _anything), st.lists(_anything, max_size=3)),
        max_size=6,
    ),
    text=st.one_of(st.text(max_size=250), st.integers(), st.none()),
)
def test_any_shape_is_either_checked_or_refused_cleanly(kind: Any, points: Any, text: Any) -> None:
    """Hostile shapes (from a caller or an edited store) never raise anything but
    InputRejectedError, and what passes is inside the still and well formed."""
    try:
        [checked] = check_shapes([Shape(kind, tuple(points), text)], 400, 300)
    except InputRejectedError:
        return
    assert checked.kind in set(ShapeKind)
    for x, y in checked.points:
        assert 0.0 <= x <= 400 and 0.0 <= y <= 300
    assert isinstance(checked.text, str) and len(checked.text) <= 200


def test_an_edited_annotation_row_reads_as_damage(fresh_profile: Path) -> None:
    import asyncio

    from app.errors import StoreDamagedError

    async def go() -> None:
        store = await open_test_store(fresh_profile)
        try:
            _, enc = await _seed(store)
            still = await _still(store, enc)
            service = AnnotationsService(StoreAnnotations(store))
            await service.save(still.id, 0, [ARROW])
            for garbage in ('[{"kind": "arrow"}]', "not json", '[{"kind": "x", "points": []}]'):
                await store.transact(
                    lambda c, g=garbage: c.execute(
                        "UPDATE annotation_versions SET shapes = ?", (g,)
                    )
                )
                with pytest.raises(StoreDamagedError):
                    await service.latest(still.id)
        finally:
            await store.close()

    asyncio.run(go())
