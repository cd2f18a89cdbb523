"""The hash-chained audit log detects edited, deleted and reordered entries."""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.errors import AuditRollbackError, StoreLockedError, StoreMetadataDamagedError
from app.records import Encounter, KeySource, Patient, StoreState, new_id, utc_now
from storage import audit, database, keys
from storage.store import DB_FILE, EncryptedStore
from tests.conftest import TEST_PASSPHRASE, file_digests, run


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
    conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
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


def test_recomputed_chain_is_detected(fresh_profile: Path) -> None:
    """Someone with the database key edits an entry and recomputes every link after it.

    With an unkeyed SHA-256 chain that rewrite verified; the chain's MAC key is
    not the database key, so neither a SHA-256 nor a guess keyed with the
    database key passes.
    """
    _store_with_history(fresh_profile)
    import hashlib
    import hmac

    def rewrite(conn: Any, link: Callable[..., str]) -> None:
        rows = conn.execute(
            "SELECT seq, ts, actor, action, entity_type, entity_id FROM audit_log ORDER BY seq"
        ).fetchall()
        prev = audit.GENESIS
        for seq, ts, actor, old_action, entity_type, entity_id in rows:
            action = "read" if seq == 5 else old_action
            digest = link(seq, ts, actor, action, entity_type, entity_id, prev)
            conn.execute(
                "UPDATE audit_log SET action = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (action, prev, digest, seq),
            )
            prev = digest
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"{rows[-1][0]}:{prev}",)
        )

    def with_db_key(*fields: Any) -> str:
        data = "\x1f".join(str(f) for f in fields).encode()
        return hmac.new(TEST_PASSPHRASE.encode(), data, hashlib.sha256).hexdigest()

    for link in (audit.entry_hash, with_db_key):
        _tamper(fresh_profile, lambda c, link=link: rewrite(c, link))  # type: ignore[misc]
        result = _cli_verify(fresh_profile)
        assert result.returncode != 0
        assert "entry 1 was edited" in result.stderr, result.stderr


def test_rows_past_the_recorded_head_are_checked(fresh_profile: Path) -> None:
    """Entries the head does not account for (the head put back to an earlier value)."""
    _store_with_history(fresh_profile)
    _tamper(
        fresh_profile,
        lambda c: c.execute(
            "UPDATE meta SET value = (SELECT seq || ':' || hash FROM audit_log WHERE seq = 6) "
            "WHERE key = 'audit_head'"
        ),
    )
    result = _cli_verify(fresh_profile)
    assert result.returncode != 0
    assert "entry 7 " in result.stderr and "past the recorded head" in result.stderr


def _cli(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--profile", str(profile), "--passphrase-stdin", *args],
        input=TEST_PASSPHRASE + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _open(profile: Path) -> EncryptedStore:
    return await EncryptedStore.open(profile, passphrase=TEST_PASSPHRASE)


def _add_notes(profile: Path, count: int) -> None:
    async def scenario() -> None:
        store = await _open(profile)
        enc = (await store.list_encounters())[0]
        for i in range(count):
            await store.create_note(enc.encounter.id, f"later {i}")
        await store.close()

    run(scenario())


def test_restored_older_file_is_detected_and_reanchoring_is_audited(
    fresh_profile: Path, tmp_path: Path
) -> None:
    _store_with_history(fresh_profile)
    older = tmp_path / "older.db"
    shutil.copyfile(fresh_profile / DB_FILE, older)  # closed store: WAL checkpointed
    _add_notes(fresh_profile, 3)
    shutil.copyfile(older, fresh_profile / DB_FILE)  # put the older copy back
    before = file_digests(fresh_profile)

    with pytest.raises(AuditRollbackError) as info:
        run(_open(fresh_profile))
    assert "reanchor --confirm" in str(info.value)
    assert file_digests(fresh_profile) == before
    check = _cli(fresh_profile, "check", "--json")
    assert check.returncode != 0 and "AuditRollbackError" in check.stdout
    verify = _cli(fresh_profile, "audit", "verify", "--json")
    assert verify.returncode != 0
    assert "recorded outside the store" in json.loads(verify.stdout)["problem"]
    assert _cli(fresh_profile, "audit", "verify").returncode != 0  # still: evidence kept

    reanchor = _cli(fresh_profile, "audit", "reanchor", "--confirm")
    assert reanchor.returncode == 0, reanchor.stderr

    async def after() -> None:
        store = await _open(fresh_profile)
        actions = [(e.action, e.actor) for e in await store.audit_entries()]
        assert ("audit_reanchor", getpass.getuser()) in actions
        assert (await store.verify_audit()).ok
        await store.close()

    run(after())


def test_removed_wal_is_detected(fresh_profile: Path, tmp_path: Path) -> None:
    """Committed work lives in store.db-wal until a checkpoint; deleting it rolls back."""
    _store_with_history(fresh_profile)
    copy = tmp_path / "copy"

    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = (await store.list_encounters())[0]
        for i in range(5):
            await store.create_note(enc.encounter.id, f"in the WAL {i}")
        await store._write_anchor()  # the periodic anchor (at most every 60 s)
        assert (fresh_profile / f"{DB_FILE}-wal").stat().st_size > 0
        # The profile as a crash would leave it, minus the WAL.
        shutil.copytree(fresh_profile, copy, ignore=shutil.ignore_patterns("*-wal", "*-shm"))
        await store.close()

    run(scenario())
    with pytest.raises(AuditRollbackError):
        run(_open(copy))


def test_entries_name_the_os_account_and_reads_are_audited(fresh_profile: Path) -> None:
    _store_with_history(fresh_profile)
    assert _cli(fresh_profile, "export", "--out", "-").returncode == 0

    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = (await store.list_encounters())[0]
        note_id = enc.note_id
        assert note_id is not None
        await store.note_history(note_id)
        await store.record_read("note", note_id)  # an opened search result
        await store._run(
            lambda c: c.execute(
                "INSERT INTO conflicts(entity_type, entity_id, server_version_id, server_text, "
                "detected_at) VALUES ('note', ?, '7', 'their text', ?)",
                (note_id, utc_now()),
            )
        )
        conflicts = await store.read_conflicts(note_id)
        entries = await store.audit_entries()
        await store.close()
        assert {e.actor for e in entries} == {getpass.getuser()}
        reads = [(e.action, e.entity_type, e.entity_id) for e in entries[-3:]]
        assert reads == [
            ("read_history", "note", note_id),
            ("read", "note", note_id),
            ("read", "conflict", str(conflicts[0].id)),
        ]

    run(scenario())


def test_forged_or_removed_anchor_file_is_reported(fresh_profile: Path) -> None:
    """Passphrase mode: the anchor file is MACed; removing it once anchored is a rollback too."""
    _store_with_history(fresh_profile)
    anchor = fresh_profile / "audit-anchor.json"
    data = json.loads(anchor.read_text())
    assert oct(anchor.stat().st_mode & 0o777) == "0o600"
    forged = dict(data, anchor="1:" + "0" * 64)
    anchor.write_text(json.dumps(forged))
    with pytest.raises(StoreMetadataDamagedError):
        run(_open(fresh_profile))
    anchor.unlink()
    with pytest.raises(AuditRollbackError):
        run(_open(fresh_profile))
    anchor.write_text(json.dumps(data))  # the real one back: opens again

    async def reopen() -> None:
        store = await _open(fresh_profile)
        assert (await store.verify_audit()).ok
        await store.close()

    run(reopen())


def test_lock_locks_even_when_the_anchor_cannot_be_written(fresh_profile: Path) -> None:
    _store_with_history(fresh_profile)

    async def scenario() -> None:
        store = await _open(fresh_profile)
        anchor = fresh_profile / "audit-anchor.json"
        anchor.unlink()
        anchor.mkdir()  # the atomic rename onto it now fails
        (anchor / "x").write_text("")
        await store.lock()
        assert store.status.state is StoreState.LOCKED
        with pytest.raises(StoreLockedError):
            await store.list_encounters()
        shutil.rmtree(anchor)
        await store.close()

    run(scenario())


def test_head_is_anchored_in_the_background_while_working(
    fresh_profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The periodic anchor (every 60 s; 0 here) follows saves without waiting inside them."""
    from storage import store as store_module

    _store_with_history(fresh_profile)
    monkeypatch.setattr(store_module, "ANCHOR_INTERVAL_S", 0.0)

    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = (await store.list_encounters())[0]
        note = await store.create_note(enc.encounter.id, "anchored soon")
        task = store._anchor_task
        assert task is not None
        await task  # the save returned before the anchor was written
        entries = await store.audit_entries()
        anchored = json.loads((fresh_profile / "audit-anchor.json").read_text())["anchor"]
        seq = int(anchored.split(":")[0])
        assert seq >= next(e.seq for e in entries if e.entity_id == note.id)
        await store.close()

    run(scenario())
