"""kill -9 while autosaving, 100 times: every save that returned survives, and the store opens.

Real SQLCipher file, real keyring key, real SIGKILL at random moments
(random.Random with a printed seed, so a failure can be replayed).
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.records import Encounter, Patient, new_id, utc_now
from storage import keys
from storage.store import EncryptedStore
from tests.conftest import run

pytestmark = [pytest.mark.integration, pytest.mark.keyring, pytest.mark.slow]

CYCLES = int(os.environ.get("KILL9_CYCLES", "100"))
CHILD = Path(__file__).with_name("autosave_child.py")


async def _prepare(profile: Path) -> None:
    store = await EncryptedStore.open(profile)
    patient = await store.add_patient(Patient(new_id(), "Kestrel", "Ambrose", "1966-06-06"))
    await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
    await store.close()


async def _verify(profile: Path, reported: list[tuple[str, int, str]]) -> int:
    store = await EncryptedStore.open(profile, actor="verifier")
    try:
        assert await store.integrity_problems() == []
        assert (await store.verify_audit()).ok
        latest: dict[str, int] = {}
        for note_id, version, digest in reported:
            history = {v.version: v.text for v in await store.note_history(note_id)}
            assert version in history, f"save {note_id}#{version} returned but is gone"
            assert hashlib.sha256(history[version].encode()).hexdigest() == digest
            latest[note_id] = max(latest.get(note_id, 0), version)
        for note_id, version in latest.items():
            note = await store.open_note(note_id)
            assert note.version >= version
            history = await store.note_history(note_id)
            assert history[0].text == note.text  # the note row and its newest version agree
        return len(reported)
    finally:
        await store.close()


def test_kill_minus_9_loses_no_returned_save(fresh_profile: Path, real_keyring: str) -> None:
    seed = int(os.environ.get("KILL9_SEED", random.SystemRandom().randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"kill -9 test seed {seed}")
    run(_prepare(fresh_profile))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    total_saves = 0
    for cycle in range(CYCLES):
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(fresh_profile), str(rng.randrange(1 << 30))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None
        ready = child.stdout.readline()
        assert ready.strip() == "ready", f"cycle {cycle}: child failed: {child.stderr.read()}"
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(child.stdout), daemon=True)  # type: ignore[arg-type]
        reader.start()
        # Kill at a random moment: the event is never set, so this is a random delay
        # before SIGKILL, not a synchronisation point.
        threading.Event().wait(rng.uniform(0.0, 0.4))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        reader.join(timeout=30)
        reported = []
        for line in lines:
            parts = line.split()
            if len(parts) == 4 and parts[0] == "saved":  # a half-printed last line is ignored
                reported.append((parts[1], int(parts[2]), parts[3]))
        total_saves += run(_verify(fresh_profile, reported))
    print(f"{CYCLES} kills, {total_saves} returned saves verified")
    assert total_saves > CYCLES, "the child should have saved several times per cycle on average"
    meta = keys.read_meta(fresh_profile)
    assert meta is not None
    keys.delete_keyring_key(meta)
