"""The link drops mid-transaction, the server restarts mid-sync: exactly once, nothing lost."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.errors import SyncError
from app.records import Encounter, Patient, new_id, utc_now
from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync import queue
from storage.sync.engine import SyncEngine, local_uuid_of
from tests.conftest import open_test_store, run
from tests.integration.cutting_proxy import CuttingProxy

pytestmark = pytest.mark.integration


async def _store_with_notes(
    profile: Path, count: int, tag: str
) -> tuple[EncryptedStore, list[str]]:
    store = await open_test_store(profile)
    patient = await store.add_patient(Patient(new_id(), f"Cut{tag}", "Link", "1975-05-05"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
    ids = [(await store.create_note(enc.id, f"Plan:\n{tag} {i}")).id for i in range(count)]
    return store, ids


async def _counts(base_url: str) -> Counter[str]:
    found: Counter[str] = Counter()
    async with FhirClient(base_url) as client:
        async for resource in client.search("DocumentReference", {"_count": "200"}):
            local = local_uuid_of(resource)
            if local:
                found[local] += 1
    return found


@pytest.mark.parametrize("direction", ["request", "response"])
def test_connection_cut_mid_transaction(fresh_profile: Path, sekmet: Any, direction: str) -> None:
    url = httpx.URL(sekmet.base_url)

    async def scenario() -> None:
        store, ids = await _store_with_notes(fresh_profile, 40, f"cut-{direction}")
        # Cut points from inside the headers to deep inside the body, several syncs each.
        for cut in (200, 3_000, 9_000, 20_000, 60_000):
            proxy = CuttingProxy(
                url.host,
                url.port or 80,
                cut_request_after=cut if direction == "request" else None,
                cut_response_after=cut if direction == "response" else None,
            )
            await proxy.start()
            via_proxy = str(url.copy_with(port=proxy.port))
            try:
                async with FhirClient(via_proxy, timeout=5) as client:
                    await SyncEngine(store, batch_size=10).sync_once(client)
            except SyncError:
                pass  # the cut surfaced as a retryable/protocol error: that is the point
            finally:
                await proxy.stop()
            # Add more work so every cut lands on a fresh transaction.
            enc_id = (await store.list_encounters())[0].encounter.id
            ids.append((await store.create_note(enc_id, f"Plan:\nafter cut {cut}")).id)
        async with FhirClient(sekmet.base_url) as client:
            report = await SyncEngine(store).sync_once(client)
        assert report.failed == 0
        counts = await _counts(sekmet.base_url)
        assert {i: counts[i] for i in ids if counts[i] != 1} == {}
        assert await store.transact(queue.waiting) == {"waiting": 0, "failed": 0, "conflicts": 0}
        await store.close()

    run(scenario())


def test_server_restart_mid_sync(fresh_profile: Path, sekmet_factory: Any) -> None:
    server = sekmet_factory("restart-mid-sync")

    async def scenario() -> None:
        store, ids = await _store_with_notes(fresh_profile, 120, "restart")
        engine = SyncEngine(store, batch_size=10)
        rounds = 0

        async def progress(done: int, total: int) -> None:
            nonlocal rounds
            rounds += 1
            if rounds == 3:
                server.kill()  # mid-sync, between two transactions, without warning

        with pytest.raises(SyncError):
            async with FhirClient(server.base_url, timeout=5) as client:
                await engine.sync_once(client, progress)
        left = (await store.transact(queue.waiting))["waiting"]
        assert 0 < left < 122, "some batches went, the rest waited"
        server.start()
        async with FhirClient(server.base_url) as client:
            report = await engine.sync_once(client)
        assert report.failed == 0
        counts = await _counts(server.base_url)
        assert sorted(counts.values()) == [1] * len(ids)
        assert set(counts) == set(ids)
        await store.close()

    run(scenario())
