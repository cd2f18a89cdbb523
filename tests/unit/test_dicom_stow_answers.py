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
