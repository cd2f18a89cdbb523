"""Stills to a PACS over DICOMweb STOW-RS through ``dicom_outbox``, against a REAL Orthanc
with its DICOMweb plugin (tests/integration/orthanc.py) and a real encrypted store."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.encaps import generate_fragmented_frames

from app.records import Encounter, Patient, new_id, utc_now
from storage.dicom.stow import StowSender, multipart, waiting
from storage.dicom.writer import instance_uid
from tests.conftest import open_test_store, run
from tests.integration import orthanc
from tests.unit.images_support import at_megapixels, jpeg_bytes, photo

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not orthanc.available(), reason="orthanc and orthanc-dicomweb: scripts/setup --tests"
    ),
]


def _run(coro: Coroutine[Any, Any, None]) -> None:
    run(coro)  # type: ignore[no-untyped-call]


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[orthanc.OrthancServer]:
    with orthanc.orthanc_server(tmp_path / "pacs") as server:
        yield server


async def _seed(store: Any, stills: list[bytes]) -> tuple[str, list[str]]:
    from app.events import ConsoleEvents
    from app.images import ImagesService, StillMetadata
    from app.services import AttachmentsService
    from media.images.inspector import QualityInspector

    patient = await store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
    images = ImagesService(AttachmentsService(store, ConsoleEvents()), QualityInspector())
    ids = []
    for data in stills:
        added = await images.add(enc.id, data, metadata=StillMetadata(body_site="14975008"))
        ids.append(added.image_id)
    return enc.id, ids


def _stills() -> list[bytes]:
    return [jpeg_bytes(at_megapixels(photo("retina.jpg"), 1.0)), jpeg_bytes(photo("astronaut.png"))]


def test_stills_reach_orthanc_once_with_the_jpeg_unchanged(
    fresh_profile: Path, pacs: orthanc.OrthancServer
) -> None:
    stills = _stills()

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            _enc, ids = await _seed(store, stills)
            assert await store.transact(waiting) == 2  # queued with the still, same transaction
            report = await StowSender(store, pacs.stow_url).push()
            assert (report.sent, report.failed) == (2, 0), report.reasons
            assert await store.transact(waiting) == 0
            # A second pass sends nothing: the outbox is empty.
            assert (await StowSender(store, pacs.stow_url).push()).sent == 0
        finally:
            await store.close()
        held = pacs.instances()
        assert len(held) == 2
        uids = {pacs.instance_tags(i)["SOPInstanceUID"] for i in held}
        assert uids == {str(instance_uid(i)) for i in ids}
        for orthanc_id in held:
            ds = dcmread(io.BytesIO(pacs.instance_file(orthanc_id)))
            frame = b"".join(next(generate_fragmented_frames(ds.PixelData)))
            digests = {hashlib.sha256(s).hexdigest() for s in stills}
            assert hashlib.sha256(frame[: len(frame.rstrip(b"\x00"))]).hexdigest() in digests or (
                hashlib.sha256(frame).hexdigest() in digests
            )

    _run(scenario())


def test_a_lost_answer_and_a_retry_leave_one_copy_on_the_pacs(
    fresh_profile: Path, pacs: orthanc.OrthancServer
) -> None:
    """The PACS stored the still but the answer never arrived: the row stayed, the
    retry sends the same SOP Instance UID, the PACS still holds one instance."""
    import httpx

    from storage.dicom.stow import pending

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            await _seed(store, _stills()[:1])
            (item,) = await store.transact(pending, 10)
            body, content_type = multipart(item.dicom)
            async with httpx.AsyncClient() as client:  # the attempt whose answer was lost
                first = await client.post(
                    pacs.stow_url, content=body, headers={"Content-Type": content_type}
                )
            assert first.status_code == 200
            assert await store.transact(waiting) == 1
            report = await StowSender(store, pacs.stow_url).push()
            assert report.sent == 1, report.reasons
            assert await store.transact(waiting) == 0
        finally:
            await store.close()
        assert len(pacs.instances()) == 1

    _run(scenario())


def test_pacs_away_keeps_the_row_and_a_later_round_sends_it(
    fresh_profile: Path, tmp_path: Path
) -> None:
    from tests.integration.sekmet import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/dicom-web/studies"

    async def away() -> None:
        store = await open_test_store(fresh_profile)
        try:
            await _seed(store, _stills()[:1])
            report = await StowSender(store, url, timeout_s=5).push()
            assert report.sent == 0
            assert report.reasons == ["the PACS could not be reached"]
            assert await store.transact(waiting) == 1
        finally:
            await store.close()

    _run(away())
    with orthanc.orthanc_server(tmp_path / "pacs", port) as pacs:

        async def back() -> None:
            store = await open_test_store(fresh_profile)
            try:
                assert (await StowSender(store, pacs.stow_url).push()).sent == 1
                assert await store.transact(waiting) == 0
            finally:
                await store.close()

        _run(back())
        assert len(pacs.instances()) == 1


def test_a_deleted_still_leaves_the_outbox_and_a_refusal_is_recorded(
    fresh_profile: Path, pacs: orthanc.OrthancServer
) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            _enc, ids = await _seed(store, _stills())
            await store.delete_attachment(ids[0])
            assert await store.transact(waiting) == 1
            # A STOW URL the server does not serve: a 4xx is recorded on the row.
            bad = pacs.base + "/no-such-dicomweb/studies"
            report = await StowSender(store, bad).push()
            assert (report.sent, report.failed) == (0, 1)
            rows = await store.transact(
                lambda conn: conn.execute(
                    "SELECT attempts, last_error FROM dicom_outbox"
                ).fetchall()
            )
            assert rows[0][0] == 1 and "HTTP 404" in rows[0][1]
            assert (await StowSender(store, pacs.stow_url).push()).sent == 1
        finally:
            await store.close()
        assert len(pacs.instances()) == 1

    _run(scenario())


def test_the_sync_round_sends_stills_to_the_record_store_and_the_pacs(
    fresh_profile: Path, pacs: orthanc.OrthancServer, sekmet: Any
) -> None:
    """The hook in storage/sync/adapter.py: one round of the sync use case (as the
    GUI and ``clinician-console sync`` run it) pushes the FHIR outbox and the PACS's."""
    from app.settings import PacsSettings, RecordStoreSettings
    from storage.sync.adapter import sync_service

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            _enc, ids = await _seed(store, _stills()[:1])
            service = sync_service(
                store,
                RecordStoreSettings(url=sekmet.base_url),
                pacs=PacsSettings(stow_url=pacs.stow_url),
            )
            await service.sync_now()
            assert await store.outbox_size() == 0
            assert await store.transact(waiting) == 0
        finally:
            await store.close()
        (held,) = pacs.instances()
        assert pacs.instance_tags(held)["SOPInstanceUID"] == str(instance_uid(ids[0]))

    _run(scenario())
