"""kill -9 while coding is accepted, changed and synced, then one clean sync: every draft is
on the server exactly once with the code the console holds, and so is each Encounter's type.

Real SQLCipher store, both FHIR test servers, real SIGKILL. The seed is printed so a
failure can be replayed (KILL9_CODING_SEED).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from app.records import Encounter, Patient, new_id, utc_now
from storage.fhir.client import FhirClient
from storage.sync import queue
from storage.sync.engine import SyncEngine, local_uuid_of
from tests.conftest import open_test_store, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CYCLES = int(os.environ.get("KILL9_CODING_CYCLES", "15"))
CHILD = Path(__file__).with_name("coding_sync_child.py")


async def _prepare(profile: Path) -> None:
    store = await open_test_store(profile)
    patient = await store.add_patient(Patient(new_id(), "Kill", "First", "1960-01-01"))
    await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
    await store.close()


async def _verify(profile: Path, base_url: str) -> tuple[int, int]:
    store = await open_test_store(profile)
    try:
        async with FhirClient(base_url, timeout=30) as client:
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.transact(queue.waiting) == {
                "waiting": 0,
                "failed": 0,
                "conflicts": 0,
            }

            def drafts(conn: Any) -> list[tuple[str, str, str]]:
                rows = conn.execute("SELECT id, encounter_id, code FROM charge_items").fetchall()
                return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

            local = await store.transact(drafts)
            counts: Counter[str] = Counter()
            codes: dict[str, str] = {}
            async for item in client.search("ChargeItem", {"_count": "500"}):
                uuid = local_uuid_of(item)
                if uuid:
                    counts[uuid] += 1
                    codes[uuid] = item["code"]["coding"][0]["code"]
            for charge_id, encounter_id, code in local:
                assert counts[charge_id] == 1, f"ChargeItem {charge_id} x{counts[charge_id]}"
                assert codes[charge_id] == code
                ref = await store.transact(queue.remote_ref, "encounter", encounter_id)
                encounter = await client.read("Encounter", ref.server_id)
                assert encounter["type"][0]["coding"][0]["code"] == code
            return len(local), sum(counts.values())
    finally:
        await store.close()


def test_kill_minus_9_while_coding_syncs(fresh_profile: Path, fresh_fhir_server: Any) -> None:
    seed = int(os.environ.get("KILL9_CODING_SEED", random.SystemRandom().randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"kill -9 coding test seed {seed}")
    run(_prepare(fresh_profile))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    for cycle in range(CYCLES):
        child = subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                str(fresh_profile),
                fresh_fhir_server.base_url,
                str(rng.randrange(1 << 30)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", (
            f"cycle {cycle}: child failed: {child.stderr.read()}"
        )
        # A random delay before SIGKILL (not synchronisation: the event is never set).
        threading.Event().wait(rng.uniform(0.0, 1.0))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    drafts, on_server = run(_verify(fresh_profile, fresh_fhir_server.base_url))
    assert drafts > 0 and on_server == drafts
    print(f"{CYCLES} kills; {drafts} ChargeItem drafts on the server exactly once")
