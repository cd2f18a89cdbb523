"""A still taken at the cart during a visit syncs once, from the cart that owns it; the
copy the clinician's console received over the visit is stored marked ``received`` and
is never queued for sync, whatever asks for it (real SQLCipher stores, real SEKMET)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from app.events import ConsoleEvents
from app.images import ImagesService, StillMetadata
from app.records import Encounter, Patient, new_id, utc_now
from app.services import AttachmentsService
from media.images.inspector import QualityInspector
from storage import repository
from storage.fhir.client import FhirClient
from storage.sync.engine import SyncEngine
from tests.conftest import open_test_store, run
from tests.unit.images_support import at_megapixels, jpeg_bytes, photo

pytestmark = pytest.mark.integration

IDENT = "urn:ietf:rfc:3986|urn:uuid:"


async def _console(profile: Path) -> tuple[Any, ImagesService, str]:
    store = await open_test_store(profile)
    patient = await store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now(), reason="rash"))
    images = ImagesService(AttachmentsService(store, ConsoleEvents()), QualityInspector())
    return store, images, enc.id


async def _attachment_rows(store: Any) -> list[str]:
    def op(conn: Any) -> list[str]:
        rows = conn.execute("SELECT entity_id FROM outbox WHERE entity_type = 'attachment'")
        return [str(r[0]) for r in rows.fetchall()]

    result: list[str] = await store._run(op)
    return result


def test_the_received_copy_is_never_synced_the_carts_still_once(
    tmp_path: Path, sekmet: Any
) -> None:
    data = jpeg_bytes(at_megapixels(photo("retina.jpg"), 1.0))

    async def scenario() -> None:
        cart_store, cart_images, cart_enc = await _console(tmp_path / "cart")
        clin_store, clin_images, clin_enc = await _console(tmp_path / "clinician")
        owned = await cart_images.add(
            cart_enc, data, metadata=StillMetadata(body_site="5665001", view="fundus")
        )
        received = await clin_images.add(
            clin_enc,
            data,
            metadata={
                "body_site": "5665001",
                "view": "fundus",
                "received": True,
                "remote_image_id": owned.image_id,
            },
        )
        assert received.sha256 == owned.sha256 == hashlib.sha256(data).hexdigest()
        assert await _attachment_rows(cart_store) == [owned.image_id]
        assert await _attachment_rows(clin_store) == []  # never queued

        # Nothing that queues records again (a conflict's re-queue, a resync) queues it.
        def requeue(conn: Any) -> None:
            with repository.transaction(conn):
                repository.outbox_put(conn, "attachment", received.image_id, "update")

        await clin_store._run(requeue)
        assert await _attachment_rows(clin_store) == []
        stored = await clin_store.get_attachment(received.image_id)
        assert stored.metadata["received"] is True
        assert stored.metadata["remote_image_id"] == owned.image_id
        assert await clin_store.read_attachment(received.image_id) == data

        async with FhirClient(sekmet.base_url, timeout=60) as client:
            for store in (cart_store, clin_store):
                report = await SyncEngine(store).sync_once(client)
                assert report.failed == 0, report.reasons
                assert await store.outbox_size() == 0
            media = [
                r async for r in client.search("Media", {"identifier": IDENT + owned.image_id})
            ]
            assert len(media) == 1
            copies = [
                r async for r in client.search("Media", {"identifier": IDENT + received.image_id})
            ]
            assert copies == []
        await cart_store.close()
        await clin_store.close()

    run(scenario())
