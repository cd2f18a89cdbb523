"""kill -9 while signed notes, addenda, their Provenances and consents sync, at random
points, on both servers; then one clean sync: each exactly once, each signature verifies.

Real SQLCipher store (passphrase mode), real servers, real SIGKILL. The seed is printed
so a failure can be replayed (KILL9_SIGN_SEED); KILL9_SIGN_CYCLES sets the kills.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from app.records import Encounter, Patient, new_id, utc_now
from storage.fhir.client import FhirClient
from storage.fhir.provenance import verify_from_fhir
from storage.sync.engine import SyncEngine, local_uuid_of
from tests.conftest import open_test_store, run
from tests.signing_support import MemoryKeys, signing

pytestmark = [pytest.mark.integration]

CYCLES = int(os.environ.get("KILL9_SIGN_CYCLES", "6"))
_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from storage.fhir.client import FhirClient
    from storage.sync.engine import SyncEngine
    from tests.conftest import open_test_store

    async def main():
        store = await open_test_store(Path(sys.argv[1]))
        print("open", flush=True)
        async with FhirClient(sys.argv[2], timeout=30) as client:
            while True:
                await SyncEngine(store, batch_size=3).sync_once(client)

    asyncio.run(main())
    """
)


async def _prepare(profile: Path, keys: MemoryKeys) -> list[str]:
    store = await open_test_store(profile)
    patient = await store.add_patient(Patient(new_id(), "Kill", "Sig", "1949-04-04"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
    use = signing(store, keys)
    ids: list[str] = []
    for i in range(6):
        note = await store.create_note(enc.id, f"Plan:\nnote {i}")
        await use.sign(note.id)
        ids.append(note.id)
        if i % 2 == 0:
            ids.append((await use.add_addendum(note.id, f"Addendum {i}")).note_id)
    await store.close()
    return ids


async def _sign_more(profile: Path, keys: MemoryKeys, rng: random.Random) -> list[str]:
    """Between kills the clinician signs another note and an addendum (the child is dead)."""
    store = await open_test_store(profile)
    enc = (await store.list_encounters())[0].encounter.id
    use = signing(store, keys)
    note = await store.create_note(enc, f"Plan:\nbetween kills {rng.random()}")
    await use.sign(note.id)
    added = await use.add_addendum(note.id, "Addendum between kills")
    await store.close()
    return [note.id, added.note_id]


def test_kill9_while_signatures_sync(fresh_profile: Path, fhir_server: Any) -> None:
    seed = int(os.environ.get("KILL9_SIGN_SEED", random.randrange(1 << 30)))
    print(f"KILL9_SIGN_SEED={seed}")
    rng = random.Random(seed)
    keys = MemoryKeys()
    ids = run(_prepare(fresh_profile, keys))
    kills = 0
    for _cycle in range(CYCLES):
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(fresh_profile), fhir_server.base_url],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "open"  # the store is open: sync runs
        try:
            child.wait(timeout=rng.uniform(0.05, 1.5))
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait(timeout=30)
        ids += run(_sign_more(fresh_profile, keys, rng))

    async def verify() -> None:
        store = await open_test_store(fresh_profile)
        async with FhirClient(fhir_server.base_url, timeout=60) as client:
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.outbox_size() == 0
            docs: Counter[str] = Counter()
            server_ids: dict[str, str] = {}
            async for doc in client.search("DocumentReference", {"_count": "200"}):
                local = local_uuid_of(doc)
                if local in ids:
                    docs[local] += 1
                    server_ids[local] = doc["id"]
                    assert doc["docStatus"] == "final"
            assert {i: docs[i] for i in ids if docs[i] != 1} == {}
            for note_id in ids:
                provs = []
                async for prov in client.search(
                    "Provenance", {"target": f"DocumentReference/{server_ids[note_id]}"}
                ):
                    provs.append(prov)
                assert len(provs) == 1, (note_id, len(provs))
                assert (await verify_from_fhir(client, keys, server_ids[note_id])).ok
        await store.close()

    run(verify())
    print(f"{kills} kills; {len(ids)} signed notes and addenda on the server exactly once")
