"""kill -9 while escalations are recorded, notified and synced, then one clean sync: every
escalation is on the server exactly once, and so is every recorded on-call outcome.

Real SQLCipher store, both FHIR test servers, real SIGKILL. The seed is printed so a
failure can be replayed (KILL9_ESCALATION_SEED).
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
from storage.fhir.escalation import notice_id
from storage.sync import queue
from storage.sync.engine import SyncEngine, local_uuid_of
from tests.conftest import open_test_store, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CYCLES = int(os.environ.get("KILL9_ESCALATION_CYCLES", "12"))
CHILD = Path(__file__).with_name("escalation_sync_child.py")


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

            def local(conn: Any) -> list[tuple[str, bool]]:
                rows = conn.execute(
                    "SELECT id, notified OR notify_error != '' FROM escalations"
                ).fetchall()
                return [(str(r[0]), bool(r[1])) for r in rows]

            escalations = await store.transact(local)
            counts: Counter[str] = Counter()
            async for item in client.search("Communication", {"_count": "500"}):
                uuid = local_uuid_of(item)
                if uuid:
                    counts[uuid] += 1
            notices = 0
            for escalation_id, outcome_known in escalations:
                assert counts[escalation_id] == 1, f"{escalation_id} x{counts[escalation_id]}"
                # An outcome recorded here is on the server once; one the kill cut off
                # before it was recorded is (truthfully) absent.
                assert counts[notice_id(escalation_id)] == int(outcome_known)
                notices += int(outcome_known)
            assert sum(counts.values()) == len(escalations) + notices, "nothing else, no extra"
            return len(escalations), notices
    finally:
        await store.close()


def test_kill_minus_9_while_escalations_sync(fresh_profile: Path, fresh_fhir_server: Any) -> None:
    seed = int(os.environ.get("KILL9_ESCALATION_SEED", random.SystemRandom().randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"kill -9 escalation test seed {seed}")
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
        threading.Event().wait(rng.uniform(0.0, 2.0))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    escalations, notices = run(_verify(fresh_profile, fresh_fhir_server.base_url))
    assert escalations > 0 and notices > 0
    print(f"{CYCLES} kills; {escalations} escalations, {notices} outcomes, each once")
