"""The e-consult pull asks about the requests held here in batches, against real FHIR
servers (SEKMET and Medplum): with 30 open requests a pass is a handful of searches (the
Tasks by ``_id``, the new consult notes by ``_id``, the Communications by ``based-on``),
not a Task read and a Communication search per request (60 requests on a rural link
every pass). What the searches bring is applied as the reads did: the answer closes its
request, a reply arrives once, and a Task gone from the server is quarantined while the
other requests carry on."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.econsult import ConsultAnswer, ConsultMessage, ConsultStatus, NewConsult
from app.records import new_id, utc_now
from storage.fhir import econsult as fx
from storage.fhir.client import FhirClient
from storage.sync import econsult as econsult_sync
from storage.sync import engine as sync_engine
from storage.sync.engine import SyncEngine, SyncReport
from tests.conftest import run
from tests.integration.test_econsult_sync import _practitioner, _referrer

pytestmark = pytest.mark.integration

OPEN_REQUESTS = 30


class CountingTransport(httpx.AsyncBaseTransport):
    """The real network transport, noting (method, path) of every exchange."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.seen: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _kinds(seen: list[tuple[str, str]], base_path: str) -> Counter[str]:
    """ "GET Task" for a search, "GET Task/<id>" for a read, and so on."""
    counts: Counter[str] = Counter()
    for method, path in seen:
        parts = path[len(base_path) :].strip("/").split("/")
        counts[f"{method} {parts[0]}" + ("/<id>" if len(parts) > 1 else "")] += 1
    return counts


async def _pull_pass(client: FhirClient, store: Any, transport: CountingTransport) -> SyncReport:
    """The e-consult pull of one sync pass (the requests held here; no owner)."""
    transport.seen.clear()
    report = SyncReport()
    await econsult_sync.pull(client, store, "", report)
    return report


def test_a_pull_pass_asks_in_batches_not_once_per_request(
    tmp_path: Path, fhir_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        transport = CountingTransport()
        async with FhirClient(fhir_server.base_url, timeout=60, transport=transport) as client:
            base_path = httpx.URL(client.base_url).path
            me = await _practitioner(client)
            store, referrer, first, _sha = await _referrer(tmp_path / "a", me)
            try:
                encounter = (await referrer.open(first)).encounter_id
                for i in range(OPEN_REQUESTS - 1):
                    await referrer.send(
                        NewConsult(encounter_id=encounter, question=f"Question {i}?", performer=me)
                    )
                report = await SyncEngine(store).sync_once(client)
                assert report.failed == 0, report.reasons
                held = await store.transact(econsult_sync._held)
                assert len(held) == OPEN_REQUESTS and all(h[4] for h in held)
                ids = [h[0] for h in held]
                server = {cid: await store.transact(econsult_sync._server, cid) for cid in ids}

                # Elsewhere, the specialist answers one request, asks about another, and a
                # third request's Task is deleted on the server.
                answered, asked, gone, later = ids[3], ids[7], ids[11], ids[-1]

                async def reply(consult_id: str, text: str) -> None:
                    s = server[consult_id]
                    message = ConsultMessage(new_id(), consult_id, "Dr Derm", text, utc_now())
                    resource = fx.communication(
                        message,
                        f"ServiceRequest/{s['sr']}",
                        f"Task/{s['task']}",
                        f"Patient/{s['patient']}",
                    )
                    await econsult_sync._create(client, resource, message.id)

                s = server[answered]
                note = ConsultAnswer(
                    new_id(), answered, "Dr Derm", "Contact dermatitis.", utc_now()
                )
                doc_id, _v = await econsult_sync._create(
                    client,
                    fx.consult_note(note, f"ServiceRequest/{s['sr']}", f"Patient/{s['patient']}"),
                    note.id,
                )
                await econsult_sync._task_to(
                    client, s["task"], ConsultStatus.COMPLETED, f"DocumentReference/{doc_id}"
                )
                await reply(asked, "Any fever?")
                async with httpx.AsyncClient() as raw:
                    deleted = await raw.delete(f"{client.base_url}/Task/{server[gone]['task']}")
                    assert deleted.status_code in (200, 204), deleted.status_code

                report = await _pull_pass(client, store, transport)
                kinds = _kinds(transport.seen, base_path)
                # One search for the 30 Tasks, one for the new consult note, one for the
                # Communications: no read per request (before: 60 requests).
                assert kinds == Counter(
                    {"GET Task": 1, "GET DocumentReference": 1, "GET Communication": 1}
                ), kinds
                assert report.quarantined == [
                    f"Task/{server[gone]['task']}: {econsult_sync.TASK_GONE}"
                ], report.quarantined
                done = await referrer.open(answered)
                assert done.status is ConsultStatus.COMPLETED
                assert done.answer is not None and done.answer.text == "Contact dermatitis."
                assert [m.text for m in (await referrer.open(asked)).messages] == ["Any fever?"]
                assert (await referrer.open(gone)).status is ConsultStatus.REQUESTED

                # Nothing new: two searches (the answered request is no longer asked about),
                # and nothing is applied twice.
                report = await _pull_pass(client, store, transport)
                assert _kinds(transport.seen, base_path) == Counter(
                    {"GET Task": 1, "GET Communication": 1}
                ), transport.seen
                assert report.pulled == 0
                assert len((await referrer.open(asked)).messages) == 1

                # In batches of 12 the 29 open requests take three of each search, and a
                # reply to a request of any batch arrives.
                monkeypatch.setattr(sync_engine, "PULL_IDS_PER_QUERY", 12)
                await reply(later, "Is it itchy?")
                report = await _pull_pass(client, store, transport)
                assert _kinds(transport.seen, base_path) == Counter(
                    {"GET Task": 3, "GET Communication": 3}
                ), transport.seen
                assert report.pulled == 1
                assert [m.text for m in (await referrer.open(later)).messages] == ["Is it itchy?"]
            finally:
                await store.close()

    run(scenario())
