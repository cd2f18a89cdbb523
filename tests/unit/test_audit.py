"""The hash-chained audit log detects edited, deleted and reordered entries."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.records import Encounter, KeySource, Patient, new_id, utc_now
from storage import database, keys
from storage.store import DB_FILE, EncryptedStore
from tests.conftest import TEST_PASSPHRASE, run


def _store_with_history(profile: Path) -> None:
    async def scenario() -> None:
        store = await EncryptedStore.open(
            profile, key_source=KeySource.PASSPHRASE, passphrase=TEST_PASSPHRASE
        )
        patient = await store.add_patient(Patient(new_id(), "Rook", "Ignatius", "1944-04-04"))
        enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        note = await store.create_note(enc.id, "first")
        for i in range(4):
            await store.save_note_text(note.id, f"edit {i}")
        await store.open_note(note.id)
        await store.export_bundle()
        await store.close()

    run(scenario())


def _tamper(profile: Path, sql: Callable[[Any], None]) -> None:
    """What someone with the key and a SQL shell could do: drop the guards, then edit."""
    meta = keys.read_meta(profile)
    assert meta is not None
    conn = database.connect(
        profile / DB_FILE, keys.load_passphrase_key(meta, TEST_PASSPHRASE), create=False
    )
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    sql(conn)
    conn.close()


def _cli_verify(profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "--profile",
            str(profile),
            "--passphrase-stdin",
            "audit",
            "verify",
        ],
        input=TEST_PASSPHRASE + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_untouched_log_verifies(fresh_profile: Path) -> None:
    _store_with_history(fresh_profile)
    result = _cli_verify(fresh_profile)
    assert result.returncode == 0, result.stderr
    assert "verified" in result.stdout


def test_sql_guards_refuse_edits(fresh_profile: Path) -> None:
    _store_with_history(fresh_profile)

    async def scenario() -> None:
        store = await EncryptedStore.open(fresh_profile, passphrase=TEST_PASSPHRASE)
        with pytest.raises(Exception, match="append-only|StoreError|record store"):
            await store._run(lambda c: c.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 2"))
        with pytest.raises(Exception, match="append-only|StoreError|record store"):
            await store._run(lambda c: c.execute("DELETE FROM audit_log WHERE seq = 2"))
        await store.close()

    run(scenario())


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "problem"),
    [
        (lambda c: c.execute("UPDATE audit_log SET action = 'read' WHERE seq = 5"), 5, "edited"),
        (lambda c: c.execute("DELETE FROM audit_log WHERE seq = 4"), 4, "missing"),
        (
            lambda c: (
                c.execute("UPDATE audit_log SET seq = -1 WHERE seq = 6"),
                c.execute("UPDATE audit_log SET seq = 6 WHERE seq = 7"),
                c.execute("UPDATE audit_log SET seq = 7 WHERE seq = -1"),
            ),
            6,
            "does not follow",
        ),
        (lambda c: c.execute("DELETE FROM audit_log WHERE seq >= 9"), 9, "missing"),
    ],
    ids=["edited", "deleted", "reordered", "tail-deleted"],
)
def test_tampering_is_detected_and_named(
    fresh_profile: Path, tamper: Callable[[Any], None], bad_seq: int, problem: str
) -> None:
    _store_with_history(fresh_profile)
    _tamper(fresh_profile, tamper)
    result = _cli_verify(fresh_profile)
    assert result.returncode != 0
    assert f"entry {bad_seq} " in result.stderr and problem in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
