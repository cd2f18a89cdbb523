"""Exam-camera stills (added through app/images.py) reach both FHIR test servers as
Media + Binary, bytes unchanged, exactly once, including stills over Medplum's 1 MB
JSON limit (the raw Binary upload fallback, storage/sync/raw_binary.py)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from app.errors import StoreError
from app.events import ConsoleEvents
from app.images import ImagesService, StillMetadata
from app.records import Encounter, Patient, new_id, utc_now
from app.services import AttachmentsService
from media.images.inspector import QualityInspector
from storage.fhir.client import FhirClient
from storage.sync import queue, raw_binary
from storage.sync.engine import SyncEngine
from tests.conftest import open_test_store, run
from tests.unit.images_support import at_megapixels, jpeg_bytes, photo

pytestmark = pytest.mark.integration

IDENT = "urn:ietf:rfc:3986|urn:uuid:"
#: Medplum's default ``maxJsonSize``: JSON bodies above it are answered 413.
MEDPLUM_MAX_JSON = 1024 * 1024


@pytest.fixture(scope="module")
def medplum_1mb(medplum_factory: Any) -> Any:
    """Medplum as its server ships: JSON bodies limited to 1 MiB."""
    return medplum_factory("json-1mb", max_json_bytes=MEDPLUM_MAX_JSON)


@pytest.fixture(params=["sekmet", "medplum"])
def still_server(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("sekmet" if request.param == "sekmet" else "medplum_1mb")


def _big_still() -> bytes:
    """A real photograph as a ~4.5 MP JPEG over 1 MB (quality 98 keeps the grain)."""
    import cv2

    rgb = cv2.resize(photo("motorcycle_left.png"), (2598, 1752), interpolation=cv2.INTER_CUBIC)
    data = jpeg_bytes(rgb, quality=98)
    assert len(data) > 1024 * 1024, len(data)
    return data


async def _setup(profile: Path) -> tuple[Any, ImagesService, str]:
    store = await open_test_store(profile)
    patient = await store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now(), reason="rash"))
    images = ImagesService(AttachmentsService(store, ConsoleEvents()), QualityInspector())
    return store, images, enc.id


async def _media(client: FhirClient, local_id: str) -> list[dict[str, Any]]:
    return [r async for r in client.search("Media", {"identifier": IDENT + local_id})]


async def _binary_bytes(client: FhirClient, media: dict[str, Any]) -> bytes:
    kind, binary_id = media["content"]["url"].split("/")[-2:]
    assert kind == "Binary"
    binary = await client.read("Binary", binary_id)
    return base64.b64decode(binary["data"])


@pytest.mark.parametrize("size", ["small", "over-1-MB"])
def test_a_still_syncs_as_media_and_binary_once_on_each_server(
    fresh_profile: Path, still_server: Any, size: str
) -> None:
    small = size == "small"
    data = jpeg_bytes(at_megapixels(photo("astronaut.png"), 1.0)) if small else _big_still()

    async def scenario() -> None:
        store, images, enc_id = await _setup(fresh_profile)
        added = await images.add(
            enc_id,
            data,
            metadata=StillMetadata(body_site="14975008", laterality="right", view="close-up"),
        )
        async with FhirClient(still_server.base_url, timeout=60) as client:
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.outbox_size() == 0
            [media] = await _media(client, added.image_id)
            assert media["bodySite"]["coding"][0]["code"] == "14975008"
            assert media["bodySite"]["text"] == "Forearm, right"
            assert media["content"]["contentType"] == "image/jpeg"
            stored = await _binary_bytes(client, media)
            assert hashlib.sha256(stored).hexdigest() == added.sha256  # bytes unchanged
            assert (await SyncEngine(store).sync_once(client)).sent == 0
            assert len(await _media(client, added.image_id)) == 1
        await store.close()

    run(scenario())


def test_a_raw_uploaded_binary_is_reused_after_a_lost_acknowledgement(
    fresh_profile: Path, medplum_1mb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Medplum refuses the JSON transaction (413); the bytes go raw; the Media's
    acknowledgement is lost; the next round reuses the raw Binary (one upload) and finds
    the Media (one Media)."""
    data = _big_still()
    uploads: list[str] = []
    real_upload = FhirClient.create_binary_raw

    async def counting(self: FhirClient, *args: Any, **kwargs: Any) -> Any:
        result = await real_upload(self, *args, **kwargs)
        uploads.append(str(result.id))
        return result

    monkeypatch.setattr(FhirClient, "create_binary_raw", counting)

    async def scenario() -> None:
        store, images, enc_id = await _setup(fresh_profile)
        added = await images.add(enc_id, data)
        real_ack = queue.acknowledge

        def lost(conn: Any, item: Any, ref: Any) -> bool:
            if item.entity_type == "attachment":
                raise ConnectionResetError("simulated: acknowledgement lost")
            return real_ack(conn, item, ref)

        async with FhirClient(medplum_1mb.base_url, timeout=60) as client:
            monkeypatch.setattr(queue, "acknowledge", lost)
            with pytest.raises(StoreError):
                await SyncEngine(store).sync_once(client)
            monkeypatch.setattr(queue, "acknowledge", real_ack)
            assert len(uploads) == 1
            recorded = await raw_binary.recorded(store, await _attachment(store, added.image_id))
            assert recorded == uploads[0]
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0 and await store.outbox_size() == 0
            assert len(uploads) == 1  # the Binary was not uploaded again
            [media] = await _media(client, added.image_id)
            assert media["content"]["url"].endswith(f"Binary/{uploads[0]}")
            assert hashlib.sha256(await _binary_bytes(client, media)).hexdigest() == added.sha256
        await store.close()

    run(scenario())


async def _attachment(store: Any, attachment_id: str) -> Any:
    from storage import repository

    return await store.transact(repository.get_attachment, attachment_id)


def test_the_medplum_wrapper_refuses_json_over_1_mib_like_medplum(medplum_1mb: Any) -> None:
    """The test server's own behaviour, so the fallback above is tested against a 413."""
    import httpx

    body = {"resourceType": "Binary", "contentType": "image/jpeg"}
    body["data"] = base64.b64encode(bytes(800_000)).decode()  # 1.07 MB of JSON
    reply = httpx.post(f"{medplum_1mb.base_url}/Binary", json=body, timeout=30)
    assert reply.status_code == 413
