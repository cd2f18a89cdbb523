"""kill -9 while e-consults are sent, asked about and answered, then one clean sync: every
request is on the server as exactly one ServiceRequest and one Task, every message as one
Communication, every answer as one consult note that the Task names as its output.

Real SQLCipher store, both FHIR test servers, real SIGKILL. The seed is printed so a
failure can be replayed (KILL9_ECONSULT_SEED).
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

from storage.fhir.client import FhirClient
from storage.sync import econsult as econsult_sync
from storage.sync.engine import SyncEngine, local_uuid_of
from tests.conftest import open_test_store, run
from tests.integration.test_econsult_sync import _practitioner

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CYCLES = int(os.environ.get("KILL9_ECONSULT_CYCLES", "12"))
CHILD = Path(__file__).with_name("econsult_sync_child.py")


async def _prepare(profile: Path, base_url: str) -> str:
    store = await open_test_store(profile)
    await store.close()
    async with FhirClient(base_url, timeout=30) as client:
        return await _practitioner(client)


async def _counts(client: FhirClient, rtype: str) -> tuple[Counter[str], dict[str, Any]]:
    counts: Counter[str] = Counter()
    last: dict[str, Any] = {}
    async for item in client.search(rtype, {"_count": "500"}):
        uuid = local_uuid_of(item)
        if uuid:
            counts[uuid] += 1
            last[uuid] = item
    return counts, last


async def _verify(profile: Path, base_url: str) -> tuple[int, int, int]:
    store = await open_test_store(profile)
    try:
        async with FhirClient(base_url, timeout=30) as client:
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.transact(econsult_sync.waiting) == 0

            def local(conn: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
                consults = conn.execute("SELECT id, task_id FROM econsults").fetchall()
                messages = conn.execute("SELECT id, kind FROM econsult_messages").fetchall()
                return (
                    [(str(r[0]), str(r[1])) for r in consults],
                    [(str(r[0]), str(r[1])) for r in messages],
                )

            consults, messages = await store.transact(local)
            requests, _ = await _counts(client, "ServiceRequest")
            tasks, task_of = await _counts(client, "Task")
            comms, _ = await _counts(client, "Communication")
            docs, doc_of = await _counts(client, "DocumentReference")
            for consult_id, task_id in consults:
                assert requests[consult_id] == 1, f"ServiceRequest x{requests[consult_id]}"
                assert tasks[task_id] == 1, f"Task x{tasks[task_id]}"
            answers = 0
            for message_id, kind in messages:
                if kind == "message":
                    assert comms[message_id] == 1, f"Communication x{comms[message_id]}"
                else:
                    answers += 1
                    assert docs[message_id] == 1, f"consult note x{docs[message_id]}"
            for task_id, task in ((t, task_of[t]) for _c, t in consults):
                if task["status"] == "completed":
                    ref = task["output"][0]["valueReference"]["reference"]
                    assert any(ref.endswith(d["id"]) for d in doc_of.values()), task_id
            return len(consults), len(messages) - answers, answers
    finally:
        await store.close()


def test_kill_minus_9_while_econsults_sync(fresh_profile: Path, fresh_fhir_server: Any) -> None:
    seed = int(os.environ.get("KILL9_ECONSULT_SEED", random.SystemRandom().randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"kill -9 e-consult test seed {seed}")
    performer = run(_prepare(fresh_profile, fresh_fhir_server.base_url))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    for cycle in range(CYCLES):
        child = subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                str(fresh_profile),
                fresh_fhir_server.base_url,
                performer,
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
        threading.Event().wait(rng.uniform(0.2, 1.5))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    consults, messages, answers = run(_verify(fresh_profile, fresh_fhir_server.base_url))
    assert consults > 0
    print(
        f"{CYCLES} kills; {consults} requests, {messages} messages, {answers} answers "
        "on the server exactly once"
    )
