"""How the STOW-RS sender reads a PACS's answers (storage/dicom/stow.py).

A real encrypted store; the PACS is an ``httpx.MockTransport`` here because these
answers (a 200 that does not confirm the instance, one that lists it as failed,
garbage JSON) are what a misbehaving PACS sends and Orthanc does not; the
well-behaved path runs against a real Orthanc in tests/integration/test_dicom_stow.py.
"""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.records import Encounter, Patient, new_id, utc_now
from storage.dicom.stow import StowSender, stored_uids, waiting
from storage.dicom.writer import instance_uid
from tests.conftest import open_test_store, run
from tests.unit.images_support import jpeg_bytes, photo


def _run(coro: Coroutine[Any, Any, None]) -> None:
    run(coro)  # type: ignore[no-untyped-call]


def _answer(uid: str, tag: str) -> dict[str, Any]:
    return {tag: {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [uid]}}]}}


@pytest.mark.parametrize(
    "reply",
    [None, [], "x", {"00081199": "x"}, {"00081199": {"Value": "x"}}, {"00081199": {"Value": [1]}}],
)
def test_garbage_answers_confirm_nothing(reply: Any) -> None:
    assert stored_uids(reply) == (set(), set())


@pytest.mark.parametrize(
    ("status", "body", "sent", "error"),
    [
        (200, {}, 0, "did not confirm"),
        (200, "OTHER", 0, "did not confirm"),  # confirms another instance only
        (409, "FAILED", 0, "refused the instance"),
        (400, None, 0, "HTTP 400"),
        (202, "STORED", 1, ""),
        (503, None, 0, None),  # away: no attempt counted, the row waits
    ],
)
def test_only_a_confirmed_instance_leaves_the_outbox(
    fresh_profile: Path, status: int, body: Any, sent: int, error: str | None
) -> None:
    async def scenario() -> None:
        from app.events import ConsoleEvents
        from app.images import ImagesService
        from app.services import AttachmentsService
        from media.images.inspector import QualityInspector

        store = await open_test_store(fresh_profile)
        try:
            patient = await store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01"))
            enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
            images = ImagesService(AttachmentsService(store, ConsoleEvents()), QualityInspector())
            added = await images.add(enc.id, jpeg_bytes(photo("astronaut.png")))
            uid = str(instance_uid(added.image_id))

            def handler(request: httpx.Request) -> httpx.Response:
                assert request.headers["content-type"].startswith("multipart/related")
                if body == "STORED":
                    return httpx.Response(status, json=_answer(uid, "00081199"))
                if body == "OTHER":
                    return httpx.Response(status, json=_answer("1.2.3", "00081199"))
                if body == "FAILED":
                    return httpx.Response(status, json=_answer(uid, "00081198"))
                if body is None:
                    return httpx.Response(status, content=b"<html>no</html>")
                return httpx.Response(status, json=body)

            sender = StowSender(
                store,
                "https://pacs.invalid/dicom-web/studies",
                client_factory=lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)),
            )
            report = await sender.push()
            assert report.sent == sent
            assert await store.transact(waiting) == 1 - sent
            rows = await store.transact(
                lambda conn: conn.execute(
                    "SELECT attempts, last_error FROM dicom_outbox"
                ).fetchall()
            )
            if error is None:
                assert rows == [(0, "")]
            elif error:
                assert rows[0][0] == 1 and error in rows[0][1]
        finally:
            await store.close()

    _run(scenario())


def test_the_migration_queues_stills_stored_before_it(fresh_profile: Path) -> None:
    """A console upgraded with stills already stored sends them to the PACS too (once);
    audio recordings are not DICOM stills, and a copy received from the far end's cart
    is the cart's to send: neither is queued. After the upgrade the trigger applies
    the same rule to new rows."""
    import hashlib

    from app.records import KeySource
    from storage import database, keys, migrations
    from storage.store import DB_FILE, EncryptedStore
    from tests.conftest import TEST_PASSPHRASE
    from tests.unit.test_migrations import ENC_ID, _old_store

    # The schema just before _V_DICOM, wherever the merge puts it in the tuple.
    probe_dir = fresh_profile.parent / "probe"
    _old_store(probe_dir, 0)
    probe_key = keys.load_passphrase_key(keys.read_meta(probe_dir), TEST_PASSPHRASE)  # type: ignore[arg-type]
    probe = database.connect(probe_dir / DB_FILE, probe_key, create=False)
    before = 0
    for version in range(1, migrations.LATEST + 1):
        migrations.migrate(probe, target=version)
        has = "SELECT 1 FROM sqlite_master WHERE name = 'dicom_outbox'"
        if probe.execute(has).fetchone():
            before = version - 1
            break
    probe.close()
    assert before > 0
    _old_store(fresh_profile, before)
    meta = keys.read_meta(fresh_profile)
    key = keys.load_passphrase_key(meta, TEST_PASSPHRASE)  # type: ignore[arg-type]
    conn = database.connect(fresh_profile / DB_FILE, key, create=False)
    data = jpeg_bytes(photo("astronaut.png"))
    digest = hashlib.sha256(data).hexdigest()
    with conn:
        for att_id, kind, metadata in (
            ("old-still", "image", "{}"),
            ("old-sound", "audio", "{}"),
            ("old-received", "image", '{"received": true}'),
        ):
            conn.execute(
                "INSERT INTO attachments(id, encounter_id, kind, content_type, created_at, "
                "size_bytes, sha256, metadata, data) VALUES (?, ?, ?, 'image/jpeg', ?, ?, ?, ?, ?)",
                (att_id, ENC_ID, kind, utc_now(), len(data), digest, metadata, data),
            )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()

    async def scenario() -> None:
        store = await EncryptedStore.open(
            fresh_profile, passphrase=TEST_PASSPHRASE, key_source=KeySource.PASSPHRASE
        )
        try:
            sql = "SELECT attachment_id FROM dicom_outbox"
            rows = await store.transact(lambda c: c.execute(sql).fetchall())
            assert [r[0] for r in rows] == ["old-still"]

            def insert_new(c: Any) -> None:
                for att_id, metadata in (
                    ("new-still", "{}"),
                    ("new-received", '{"received":true}'),
                ):
                    c.execute(
                        "INSERT INTO attachments(id, encounter_id, kind, content_type, "
                        "created_at, size_bytes, sha256, metadata, data) "
                        "VALUES (?, ?, 'image', 'image/jpeg', ?, ?, ?, ?, ?)",
                        (att_id, ENC_ID, utc_now(), len(data), digest, metadata, data),
                    )

            await store.transact(insert_new)
            rows = await store.transact(lambda c: c.execute(sql).fetchall())
            assert sorted(r[0] for r in rows) == ["new-still", "old-still"]
        finally:
            await store.close()

    _run(scenario())


def test_a_still_that_cannot_be_dicom_is_set_aside_and_does_not_hold_back_others(
    fresh_profile: Path,
) -> None:
    """A progressive JPEG has no DICOM transfer syntax and is never re-encoded: it is
    set aside for good (not retried each round) and the next still still goes."""
    import hashlib
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(photo("astronaut.png")).save(buf, "JPEG", quality=95, progressive=True)
    progressive, good = buf.getvalue(), jpeg_bytes(photo("astronaut.png"))
    seen: list[bytes] = []

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            patient = await store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01"))
            enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))

            def insert(c: Any) -> None:
                for att_id, data in (("a-progressive", progressive), ("b-good", good)):
                    c.execute(
                        "INSERT INTO attachments(id, encounter_id, kind, content_type, "
                        "created_at, size_bytes, sha256, data) "
                        "VALUES (?, ?, 'image', 'image/jpeg', ?, ?, ?, ?)",
                        (
                            att_id,
                            enc.id,
                            utc_now(),
                            len(data),
                            hashlib.sha256(data).hexdigest(),
                            data,
                        ),
                    )

            await store.transact(insert)
            uid = str(instance_uid("b-good"))

            def handler(request: httpx.Request) -> httpx.Response:
                seen.append(request.content)
                return httpx.Response(200, json=_answer(uid, "00081199"))

            sender = StowSender(
                store,
                "https://pacs.invalid/dicom-web/studies",
                client_factory=lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)),
            )
            report = await sender.push()
            assert (report.sent, report.failed) == (1, 0)
            assert await store.transact(waiting) == 0
            sql = "SELECT attachment_id, last_error FROM dicom_outbox"
            rows = await store.transact(lambda c: c.execute(sql).fetchall())
            assert [(r[0], r[1].split(":")[0]) for r in rows] == [("a-progressive", "unsupported")]
            assert (await sender.push()).sent == 0  # not retried
            assert len(seen) == 1
        finally:
            await store.close()

    _run(scenario())
