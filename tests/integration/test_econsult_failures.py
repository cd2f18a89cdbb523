"""E-consult rows that cannot go, seen by the user, against real FHIR servers (SEKMET and
Medplum): a request whose still was deleted before it synced is held with what to do
(it waited forever, unseen), and a row the record store refused is held, listed in the
sync details with its reason and sent again only on Retry, exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.econsult import ConsultStatus
from storage.fhir import econsult as fx
from storage.fhir.client import FhirClient
from storage.sync import econsult as econsult_sync
from storage.sync.adapter import ECONSULT, sync_service
from storage.sync.engine import SyncEngine
from tests.conftest import run
from tests.integration.test_econsult_sync import _by_identifier, _practitioner, _referrer

pytestmark = pytest.mark.integration


async def _outbox(store: Any) -> list[tuple[str, str]]:
    rows = await store.transact(
        lambda conn: conn.execute(
            "SELECT entity_type, last_error FROM econsult_outbox ORDER BY seq"
        ).fetchall()
    )
    return [(str(r[0]), str(r[1])) for r in rows]


def test_a_request_whose_still_was_deleted_fails_clearly(tmp_path: Path, fhir_server: Any) -> None:
    async def scenario() -> None:
        async with FhirClient(fhir_server.base_url, timeout=60) as client:
            me = await _practitioner(client)
            store, referrer, consult_id, _sha = await _referrer(tmp_path / "a", me)
            try:
                [still] = (await referrer.open(consult_id)).stills
                await store.delete_attachment(still.attachment_id)  # before any sync
                report = await SyncEngine(store).sync_once(client)
                assert report.failed == 1, report.reasons
                assert any(econsult_sync.STILL_DELETED in r for r in report.reasons)
                overview = await sync_service(store, None).overview()
                [shown] = [f for f in overview.failures if f.entity_type == ECONSULT]
                assert shown.label.startswith("E-consult request · Lens, Ada")
                assert shown.reason == econsult_sync.STILL_DELETED
                assert overview.failed >= 1
                # Held: later passes do not try it again, and nothing reached the server.
                again = await SyncEngine(store).sync_once(client)
                assert again.failed == 0 and again.sent == 0, again.reasons
                assert await _by_identifier(client, "ServiceRequest", consult_id) == []
                # What the text says to do: cancelling a request that never went is local.
                await referrer.cancel(consult_id)
                assert await _outbox(store) == []
                assert (await referrer.open(consult_id)).status is ConsultStatus.CANCELLED
                overview = await sync_service(store, None).overview()
                assert not [f for f in overview.failures if f.entity_type == ECONSULT]
                await SyncEngine(store).sync_once(client)
                assert await _by_identifier(client, "ServiceRequest", consult_id) == []
            finally:
                await store.close()

    run(scenario())


def test_a_refused_request_waits_for_retry_and_goes_once(
    tmp_path: Path, fhir_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server refuses the ServiceRequest (here: one without its required intent and
    with an element R4 does not have, as a mapping bug would send): held with the
    server's reason, not resent every pass; after the fix, Retry sends it and the
    server holds one request."""
    real = fx.service_request

    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        resource = real(*args, **kwargs)
        resource.pop("intent", None)
        resource["notAnR4Element"] = True
        return resource

    async def scenario() -> None:
        async with FhirClient(fhir_server.base_url, timeout=60) as client:
            me = await _practitioner(client)
            store, _referrer_service, consult_id, _sha = await _referrer(tmp_path / "a", me)
            try:
                monkeypatch.setattr(fx, "service_request", broken)
                report = await SyncEngine(store).sync_once(client)
                assert report.failed == 1, report.reasons
                [(kind, reason)] = await _outbox(store)
                assert kind == "request" and reason.startswith(econsult_sync.REFUSED)
                again = await SyncEngine(store).sync_once(client)
                assert again.failed == 0, again.reasons  # held, not sent again
                service = sync_service(store, None)
                overview = await service.overview()
                [shown] = [f for f in overview.failures if f.entity_type == ECONSULT]
                assert shown.label.startswith("E-consult request · Lens, Ada")
                assert "refused" in shown.reason and shown.attempts == 1
                monkeypatch.setattr(fx, "service_request", real)
                assert await service.retry(shown.entity_type, shown.entity_id) == 1
                fixed = await SyncEngine(store).sync_once(client)
                assert fixed.failed == 0, fixed.reasons
                assert await _outbox(store) == []
                assert len(await _by_identifier(client, "ServiceRequest", consult_id)) == 1
                assert not (await service.overview()).failures
            finally:
                await store.close()

    run(scenario())
