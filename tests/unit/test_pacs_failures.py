"""What the user sees of the PACS's refusals (storage/dicom/stow.py, the sync details'
use case) and how ``[pacs] auth`` turns into a header. A real encrypted store; the PACS
is an ``httpx.MockTransport`` for answers Orthanc does not give (a bearer token, five
refusals in a row); credentials against a real Orthanc: tests/integration/test_pacs_auth.py."""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.errors import PacsConfigError, PacsSecretMissingError
from app.events import ConsoleEvents
from app.records import Encounter, Patient, new_id, utc_now
from app.settings import PacsSettings
from storage.dicom.stow import (
    MAX_ATTEMPTS,
    StowSender,
    auth_headers,
    push_authenticated,
    waiting,
)
from storage.sync.adapter import PACS_STILL, sync_service
from tests.conftest import open_test_store, run
from tests.unit.images_support import jpeg_bytes, photo

URL = "https://pacs.invalid/dicom-web/studies"


def _run(coro: Coroutine[Any, Any, None]) -> None:
    run(coro)  # type: ignore[no-untyped-call]


async def _still(store: Any) -> str:
    from app.images import ImagesService
    from app.services import AttachmentsService
    from media.images.inspector import QualityInspector

    patient = await store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
    images = ImagesService(AttachmentsService(store, ConsoleEvents()), QualityInspector())
    added = await images.add(enc.id, jpeg_bytes(photo("astronaut.png")))
    return str(added.image_id)


def _factory(handler: Any) -> Any:
    return lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler))


def test_basic_and_bearer_headers() -> None:
    secrets = {"pacs": "s3cret:with colon"}
    basic = auth_headers(PacsSettings(auth="basic", username="console"), secrets.get)
    assert basic == {"Authorization": "Basic Y29uc29sZTpzM2NyZXQ6d2l0aCBjb2xvbg=="}
    token = {"pacs": "eyJhbGciOi.abc-_~+/=\n"}
    bearer = auth_headers(PacsSettings(auth="bearer"), token.get)
    assert bearer == {"Authorization": "Bearer eyJhbGciOi.abc-_~+/="}
    assert auth_headers(PacsSettings(), secrets.get) == {}


@pytest.mark.parametrize(
    ("settings", "secret", "error"),
    [
        (PacsSettings(auth="basic", username=""), "x", PacsConfigError),
        (PacsSettings(auth="basic", username="a:b"), "x", PacsConfigError),
        (PacsSettings(auth="basic", username="a"), None, PacsSecretMissingError),
        (PacsSettings(auth="bearer"), "", PacsSecretMissingError),
        # A token that would smuggle a second header line is refused, never sent.
        (PacsSettings(auth="bearer"), "zq-1\r\nX-Evil: 1", PacsConfigError),
        (PacsSettings(auth="bearer"), "zq-1 en", PacsConfigError),
    ],
)
def test_unusable_credentials_are_refused_before_sending(
    settings: PacsSettings, secret: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error) as raised:
        auth_headers(settings, {"pacs": secret}.get)
    assert "zq-1" not in str(raised.value) and "Evil" not in str(raised.value)
    assert "PACS" in str(raised.value)


def test_the_bearer_token_reaches_the_pacs(fresh_profile: Path) -> None:
    seen: list[str] = []

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            await _still(store)

            def handler(request: httpx.Request) -> httpx.Response:
                seen.append(request.headers.get("authorization", ""))
                return httpx.Response(401)

            report = await push_authenticated(
                store,
                PacsSettings(stow_url=URL, auth="bearer"),
                {"pacs": "tok-1"}.get,
                client_factory=_factory(handler),
            )
            assert report.failed == 1 and report.sent == 0
            assert "HTTP 401" in report.reasons[0] and "tok-1" not in report.reasons[0]
        finally:
            await store.close()

    _run(scenario())
    assert seen == ["Bearer tok-1"]


def test_a_still_past_the_attempt_limit_is_shown_and_retried(fresh_profile: Path) -> None:
    """Five refusals set a still aside: the sync details list it by patient with the
    PACS's reason, and Retry gives it five more attempts (audited)."""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            still_id = await _still(store)
            answers = iter([400] * MAX_ATTEMPTS + [200])

            def handler(request: httpx.Request) -> httpx.Response:
                return httpx.Response(next(answers), content=b"<html>no</html>")

            for _ in range(MAX_ATTEMPTS + 2):  # rounds after the limit send nothing
                await StowSender(store, URL, client_factory=_factory(handler)).push()
            assert next(answers) == 200  # exactly MAX_ATTEMPTS requests were made
            assert await store.transact(waiting) == 0
            service = sync_service(store, None)
            overview = await service.overview()
            [shown] = [f for f in overview.failures if f.entity_type == PACS_STILL]
            assert shown.label == "PACS still · Lens, Ada"
            assert shown.entity_id == still_id and shown.attempts == MAX_ATTEMPTS
            assert "HTTP 400" in shown.reason and "Retry" in shown.reason
            assert overview.failed == 1 and (await service.counts()).failed == 1
            assert await service.retry(shown.entity_type, shown.entity_id) == 1
            assert await store.transact(waiting) == 1
            assert not (await service.overview()).failures
            audited = await store.transact(
                lambda conn: conn.execute(
                    "SELECT count(*) FROM audit_log WHERE action = 'sync_retry' "
                    "AND entity_type = 'pacs'"
                ).fetchone()[0]
            )
            assert audited == 1
        finally:
            await store.close()

    _run(scenario())
