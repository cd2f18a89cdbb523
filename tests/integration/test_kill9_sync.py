"""kill -9 during sync at random points, then one clean sync: no duplicate, nothing missing.

Real SQLCipher store (keyring key), real SEKMET server, real SIGKILL. The seed
is printed so a failure can be replayed (KILL9_SYNC_SEED).
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
from storage import keys
from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync import queue
from storage.sync.engine import SyncEngine
from tests.conftest import run

pytestmark = [pytest.mark.integration, pytest.mark.keyring, pytest.mark.slow]

CYCLES = int(os.environ.get("KILL9_SYNC_CYCLES", "100"))
CHILD = Path(__file__).with_name("sync_child.py")


async def _prepare(profile: Path) -> None:
    store = await EncryptedStore.open(profile)
    patient = await store.add_patient(Patient(new_id(), "Plover", "Agatha", "1959-09-09"))
    await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
    await store.close()


async def _edit_several(profile: Path, rng: random.Random) -> int:
    """Between two kills, the clinician edits several notes (the child is dead)."""
    store = await EncryptedStore.open(profile, actor="kill-editor")
    _, _, notes = await store.transact(
        lambda conn: __import__("storage.repository", fromlist=["all_records"]).all_records(conn)
    )
    chosen = rng.sample(list(notes), min(len(notes), rng.randint(2, 4)))
    for note in chosen:
        await store.save_note_text(note.id, f"Plan:\nedited between kills {rng.random()}")
    await store.close()
    return len(chosen)


async def _final_state(
    profile: Path, base_url: str
) -> tuple[dict[str, str], Counter[str], dict[str, str], dict[str, int]]:
    store = await EncryptedStore.open(profile, actor="verifier")
    async with FhirClient(base_url, timeout=30) as client:
        report = await SyncEngine(store).sync_once(client)
        assert report.failed == 0, report.reasons
        counts: Counter[str] = Counter()
        server_text: dict[str, str] = {}
        async for resource in client.search("DocumentReference", {"_count": "200"}):
            from storage.sync.engine import local_uuid_of, note_text_of

            local = local_uuid_of(resource)
            if local:
                counts[local] += 1
                server_text[local] = note_text_of(resource) or ""
    _, _, notes = await store.transact(
        lambda conn: __import__("storage.repository", fromlist=["all_records"]).all_records(conn)
    )
    local_text = {n.id: n.text for n in notes}
    waiting = await store.transact(queue.waiting)
    await store.close()
    return local_text, counts, server_text, waiting


def test_kill_minus_9_during_sync(fresh_profile: Path, real_keyring: str, sekmet: Any) -> None:
    seed = int(os.environ.get("KILL9_SYNC_SEED", random.SystemRandom().randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"kill -9 sync test seed {seed}")
    run(_prepare(fresh_profile))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    for cycle in range(CYCLES):
        child = subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                str(fresh_profile),
                sekmet.base_url,
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
        threading.Event().wait(rng.uniform(0.0, 0.8))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    local_text, counts, server_text, waiting = run(_final_state(fresh_profile, sekmet.base_url))
    assert local_text, "the child wrote notes"
    duplicates = {k: v for k, v in counts.items() if v > 1}
    missing = [k for k in local_text if counts[k] == 0]
    assert duplicates == {}, f"{len(duplicates)} notes duplicated on the server"
    assert missing == [], f"{len(missing)} notes never reached the server"
    assert waiting == {"waiting": 0, "failed": 0, "conflicts": 0}
    stale = [k for k, text in local_text.items() if server_text[k] != text]
    assert stale == [], f"{len(stale)} notes differ between console and server"
    print(f"{CYCLES} kills; {len(local_text)} notes on the server exactly once")
    meta = keys.read_meta(fresh_profile)
    assert meta is not None
    keys.delete_keyring_key(meta)


EDIT_CYCLES = int(os.environ.get("KILL9_SYNC_EDIT_CYCLES", "25"))


def test_kill_minus_9_with_edits_between_kills(
    fresh_profile: Path, real_keyring: str, fhir_server: Any
) -> None:
    """SIGKILL at random points of a sync, and several notes edited while the console is
    down: every note on the server exactly once, with the console's latest text (a lost
    acknowledgement followed by an edit must not lose the edit), on both servers."""
    seed = int(os.environ.get("KILL9_SYNC_SEED", random.SystemRandom().randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"kill -9 sync (edits between kills) seed {seed}")
    run(_prepare(fresh_profile))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    edited = 0
    for cycle in range(EDIT_CYCLES):
        child = subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                str(fresh_profile),
                fhir_server.base_url,
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
        threading.Event().wait(rng.uniform(0.0, 0.8))  # a random kill point, not a sync
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        edited += run(_edit_several(fresh_profile, rng))
    local_text, counts, server_text, waiting = run(
        _final_state(fresh_profile, fhir_server.base_url)
    )
    assert local_text and edited
    duplicates = {k: v for k, v in counts.items() if v > 1}
    missing = [k for k in local_text if counts[k] == 0]
    assert duplicates == {}, f"{len(duplicates)} notes duplicated on the server"
    assert missing == [], f"{len(missing)} notes never reached the server"
    assert waiting == {"waiting": 0, "failed": 0, "conflicts": 0}
    lost = [k for k, text in local_text.items() if server_text[k] != text]
    assert lost == [], f"{len(lost)} edits never reached the server"
    print(f"{EDIT_CYCLES} kills, {edited} edits between them; {len(local_text)} notes exactly once")
    meta = keys.read_meta(fresh_profile)
    assert meta is not None
    keys.delete_keyring_key(meta)
