"""Every way opening or writing the store can fail: a clear error, and nothing overwritten.

Real SQCipher files throughout; the full-disk case uses a real, tiny tmpfs.
Keyring-specific failures (key missing, mismatch, no keyring) are in
tests/integration/test_keyring_store.py against the real Secret Service.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.errors import (
    DiskFullError,
    NotEncryptedEngineError,
    PassphraseRequiredError,
    SchemaTooNewError,
    StoreDamagedError,
    StoreMetadataDamagedError,
    StoreMissingError,
    WrongPassphraseError,
)
from app.records import Encounter, KeySource, Patient, new_id, utc_now
from storage import database, keys, migrations
from storage import store as store_module
from storage.store import EncryptedStore
from tests.conftest import TEST_PASSPHRASE, file_digests, run

CANARY = "Wilhelmina Featherstonehaugh"


async def _open(profile: Path, passphrase: str | None = TEST_PASSPHRASE) -> EncryptedStore:
    return await EncryptedStore.open(
        profile, key_source=KeySource.PASSPHRASE, passphrase=passphrase
    )


def _make_store(profile: Path, notes: int = 40) -> list[str]:
    async def scenario() -> list[str]:
        store = await _open(profile)
        patient = await store.add_patient(
            Patient(new_id(), "Featherstonehaugh", "Wilhelmina", "1961-02-03")
        )
        enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        ids = []
        for i in range(notes):
            note = await store.create_note(enc.id, f"Subjective:\n{CANARY} note {i} " + "x" * 3000)
            ids.append(note.id)
        await store.close()
        return ids

    return run(scenario())


def _assert_message_is_clean(exc: BaseException) -> None:
    text = str(exc)
    assert text and CANARY.split(maxsplit=1)[0] not in text and CANARY.split()[1] not in text


def test_wrong_passphrase(fresh_profile: Path) -> None:
    _make_store(fresh_profile, notes=1)
    before = file_digests(fresh_profile)
    with pytest.raises(WrongPassphraseError) as info:
        run(_open(fresh_profile, "not the passphrase"))
    _assert_message_is_clean(info.value)
    after = file_digests(fresh_profile)
    assert {k: v for k, v in after.items() if k in before} == before
    # The failed attempt is recorded in the audit log at the next successful unlock.

    async def audited() -> list[str]:
        store = await _open(fresh_profile)
        actions = [e.action for e in await store.audit_entries()]
        await store.close()
        return actions

    assert "unlock_failed" in run(audited())


def test_missing_passphrase_is_asked_for(fresh_profile: Path) -> None:
    _make_store(fresh_profile, notes=1)
    with pytest.raises(PassphraseRequiredError):
        run(EncryptedStore.open(fresh_profile))


def test_truncated_file(fresh_profile: Path) -> None:
    _make_store(fresh_profile)
    db = fresh_profile / "store.db"
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])  # whole pages: the schema now points past the end
    before = file_digests(fresh_profile)
    with pytest.raises(StoreDamagedError) as info:
        run(_open(fresh_profile))
    _assert_message_is_clean(info.value)
    assert file_digests(fresh_profile) == before


def test_file_cut_mid_page(fresh_profile: Path) -> None:
    _make_store(fresh_profile, notes=2)
    db = fresh_profile / "store.db"
    db.write_bytes(db.read_bytes()[:-1000])
    before = file_digests(fresh_profile)
    with pytest.raises(StoreDamagedError) as info:
        run(_open(fresh_profile))
    assert "truncated" in str(info.value)
    assert file_digests(fresh_profile) == before


def _flip(db: Path, offset: int) -> None:
    data = bytearray(db.read_bytes())
    for i in range(offset, offset + 32):
        data[i] ^= 0xFF
    db.write_bytes(bytes(data))


def test_damaged_header(fresh_profile: Path) -> None:
    _make_store(fresh_profile, notes=2)
    db = fresh_profile / "store.db"
    _flip(db, 200)  # inside page 1, past the salt: its HMAC no longer verifies
    before = file_digests(fresh_profile)
    with pytest.raises(StoreDamagedError) as info:
        run(_open(fresh_profile))
    _assert_message_is_clean(info.value)
    assert file_digests(fresh_profile) == before


def test_damaged_page_inside_the_file(fresh_profile: Path) -> None:
    _make_store(fresh_profile, notes=60)
    db = fresh_profile / "store.db"
    pages = db.stat().st_size // 4096
    for page in range(pages // 2, pages - 1):
        _flip(db, page * 4096 + 500)

    async def scenario() -> None:
        # Depending on which pages broke, opening fails, or the first read of them
        # does; either way it is a StoreDamagedError, never wrong data or a crash.
        with pytest.raises(StoreDamagedError):
            store = await _open(fresh_profile)
            try:
                assert await store.integrity_problems(), "broken HMACs must be reported"
                for summary in await store.list_encounters():
                    assert summary.note_id is not None
                await store.search_notes("note")
                await store.export_bundle()
            finally:
                await store.close()

    run(scenario())


def test_schema_from_a_newer_console(fresh_profile: Path) -> None:
    _make_store(fresh_profile, notes=1)
    import sqlcipher3

    conn = sqlcipher3.connect(str(fresh_profile / "store.db"))
    escaped = TEST_PASSPHRASE.replace("'", "''")
    conn.execute(f"PRAGMA key = '{escaped}'")
    conn.execute(f"PRAGMA user_version = {migrations.LATEST + 5}")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = file_digests(fresh_profile)
    with pytest.raises(SchemaTooNewError) as info:
        run(_open(fresh_profile))
    assert str(migrations.LATEST + 5) in str(info.value)
    assert file_digests(fresh_profile) == before


def test_database_file_gone_is_not_replaced_by_an_empty_store(fresh_profile: Path) -> None:
    _make_store(fresh_profile, notes=1)
    for suffix in ("", "-wal", "-shm"):
        (fresh_profile / f"store.db{suffix}").unlink(missing_ok=True)
    with pytest.raises(StoreMissingError):
        run(_open(fresh_profile))
    assert not (fresh_profile / "store.db").exists()


def test_metadata_gone_is_not_replaced_by_a_new_key(fresh_profile: Path) -> None:
    _make_store(fresh_profile, notes=1)
    (fresh_profile / "store.json").unlink()
    before = file_digests(fresh_profile)
    with pytest.raises(StoreDamagedError):
        run(_open(fresh_profile))
    assert file_digests(fresh_profile) == before


def _cli(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "--profile",
            str(profile),
            "--key-source",
            "passphrase",
            "--passphrase-stdin",
            *args,
        ],
        input=TEST_PASSPHRASE + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_edited_creation_state_never_discards_the_store(fresh_profile: Path) -> None:
    """One edited field in store.json used to make even `check --json` delete the store."""
    _make_store(fresh_profile, notes=3)
    meta_path = fresh_profile / "store.json"
    meta = json.loads(meta_path.read_text())
    meta["state"] = "creating"
    meta_path.write_text(json.dumps(meta))
    before = file_digests(fresh_profile)

    result = _cli(fresh_profile, "check", "--json")
    assert result.returncode != 0
    report = json.loads(result.stdout)
    assert report["store"]["error"] == "StoreMetadataDamagedError"
    assert file_digests(fresh_profile) == before  # nothing deleted, moved or rewritten

    with pytest.raises(StoreMetadataDamagedError) as info:
        run(_open(fresh_profile))
    assert "Nothing was deleted" in str(info.value)
    _assert_message_is_clean(info.value)
    assert file_digests(fresh_profile) == before


def test_unsealed_legacy_metadata_saying_creating_keeps_a_store_with_records(
    fresh_profile: Path,
) -> None:
    """A format-1 store.json (no MAC yet) claiming "creating": records exist, so it is damage."""
    _make_store(fresh_profile, notes=1)
    meta_path = fresh_profile / "store.json"
    meta = json.loads(meta_path.read_text())
    salt = bytes.fromhex(meta["check_salt"])
    # What an old console wrote: the PBKDF2 output itself as the check, no MAC.
    meta.update(
        format=1,
        mac="",
        state="creating",
        key_check=keys.passphrase_check(TEST_PASSPHRASE, salt, meta["check_iterations"]),
    )
    meta_path.write_text(json.dumps(meta))
    db_before = {k: v for k, v in file_digests(fresh_profile).items() if k.startswith("store.db")}
    with pytest.raises(StoreMetadataDamagedError, match="holds records"):
        run(_open(fresh_profile))
    after = file_digests(fresh_profile)
    assert {k: v for k, v in after.items() if k.startswith("store.db")} == db_before


def test_unsealed_metadata_put_back_over_an_upgraded_store_is_refused(
    fresh_profile: Path,
) -> None:
    """A format-1 store.json (no MAC) where the store itself was already upgraded."""
    _make_store(fresh_profile, notes=1)
    meta_path = fresh_profile / "store.json"
    meta = json.loads(meta_path.read_text())
    salt = bytes.fromhex(meta["check_salt"])
    meta.update(
        format=1,
        mac="",
        key_check=keys.passphrase_check(TEST_PASSPHRASE, salt, meta["check_iterations"]),
    )
    meta_path.write_text(json.dumps(meta))
    before = file_digests(fresh_profile)
    with pytest.raises(StoreMetadataDamagedError, match="older copy"):
        run(_open(fresh_profile))
    assert file_digests(fresh_profile) == before


@pytest.mark.parametrize("schema_reached", [None, 0, 2])
def test_interrupted_first_creation_resumes_without_deleting(
    fresh_profile: Path, schema_reached: int | None
) -> None:
    """The process died during the first run: creation continues with the same key and id."""
    fresh_profile.mkdir(parents=True)
    key, meta = keys.create_passphrase_key(new_id(), TEST_PASSPHRASE)
    keys.write_meta(fresh_profile, meta)  # state "creating", sealed
    if schema_reached is not None:
        conn = database.connect(fresh_profile / "store.db", key, create=True)
        migrations.migrate(conn, target=schema_reached)
        conn.close()

    async def scenario() -> None:
        store = await _open(fresh_profile)
        assert store.store_id == meta.store_id
        assert store.status.schema_version == migrations.LATEST
        assert await store.list_encounters() == []
        assert (await store.verify_audit()).ok
        await store.close()

    run(scenario())
    assert keys.read_meta(fresh_profile).state == "ready"  # type: ignore[union-attr]
    assert sorted(p.name for p in fresh_profile.iterdir() if ".bak" in p.name) == []


def test_store_code_has_no_path_to_deleting_a_key_or_the_database() -> None:
    source = Path(store_module.__file__).read_text(encoding="utf-8")
    assert "delete_keyring_key" not in source and "delete_password" not in source
    assert "_remove_partial_store" not in source
    assert ".unlink(" not in source.replace("(self.profile / PENDING_AUDIT_FILE).unlink(", "")


def test_plain_sqlite_engine_is_refused_before_anything_is_written(
    fresh_profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build linked against plain SQLite (here: the stdlib's real sqlite3) must refuse."""
    _make_store(fresh_profile, notes=1)
    before = file_digests(fresh_profile)
    monkeypatch.setattr(database, "_driver", lambda: sqlite3)
    with pytest.raises(NotEncryptedEngineError):
        run(_open(fresh_profile))
    assert file_digests(fresh_profile) == before
    other = fresh_profile.parent / "new-profile"
    with pytest.raises(NotEncryptedEngineError):
        run(_open(other))
    assert not (other / "store.db").exists()


def test_key_material_stays_out_of_repr(fresh_profile: Path) -> None:
    _make_store(fresh_profile, notes=0)
    meta = keys.read_meta(fresh_profile)
    assert meta is not None
    key = keys.load_passphrase_key(meta, TEST_PASSPHRASE)
    master = key.master.reveal().hex() if key.master else ""
    for text in (repr(key), str(key), repr(key.passphrase), repr(key.master), f"{key!r}"):
        assert TEST_PASSPHRASE not in text and (not master or master not in text)

    async def scenario() -> None:
        store = await _open(fresh_profile)
        dumped = repr(vars(store)) + repr(vars(store._anchor))
        assert TEST_PASSPHRASE not in dumped and master not in dumped
        await store.close()

    run(scenario())


def test_every_file_in_the_profile_is_owner_only(fresh_profile: Path) -> None:
    """Settings, logs, backups, pending audit records, exports: nothing readable by others."""
    old = os.umask(0o022)  # a typical login umask; the console must not depend on it
    try:
        assert _cli(fresh_profile, "demo").returncode == 0
        assert _cli(fresh_profile, "export", "--out", str(fresh_profile / "x.json")).returncode == 0
        wrong = subprocess.run(
            [
                sys.executable,
                "-m",
                "app.cli",
                "--profile",
                str(fresh_profile),
                "--passphrase-stdin",
                "check",
                "--json",
            ],
            input="wrong passphrase\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert wrong.returncode != 0
        assert (fresh_profile / "audit-pending.jsonl").exists()
        assert _cli(fresh_profile, "check", "--json").returncode == 0
    finally:
        os.umask(old)
    found = [p for p in fresh_profile.rglob("*")]
    assert any(p.name == "x.json" for p in found)
    loose = {
        str(p.relative_to(fresh_profile)): oct(p.stat().st_mode & 0o777)
        for p in found
        if p.stat().st_mode & 0o077
    }
    assert loose == {}


@contextlib.contextmanager
def _tiny_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() != 0,
    reason="mounting a tiny tmpfs needs root (CI runs as root)",
)
def test_full_disk_reports_and_keeps_saved_notes(tmp_path: Path) -> None:
    # Room for the schema (about forty tables and indexes), the big note with its
    # history and search index, and the WAL; the filler then takes the rest.
    with _tiny_tmpfs(tmp_path / "small", "4m") as mount:
        profile = mount / "profile"

        async def scenario() -> None:
            store = await _open(profile)
            patient = await store.add_patient(
                Patient(new_id(), "Featherstonehaugh", "W", "1961-02-03")
            )
            enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
            note = await store.create_note(enc.id, "saved before the disk filled")
            # Fill the disk to the last byte (unbuffered, so the error surfaces here).
            filler = mount / "filler"
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
            for chunk in (65536, 4096, 512, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * chunk)
            os.close(fd)
            big = "typed while full " * 20_000
            with pytest.raises(DiskFullError) as info:
                await store.save_note_text(note.id, big)
            assert "disk is full" in str(info.value)
            filler.unlink()
            # Space is back: the same save now succeeds and the earlier note was never lost.
            result = await store.save_note_text(note.id, big)
            assert result.changed
            await store.close()
            store = await _open(profile)
            assert (await store.open_note(note.id)).text == big
            history = await store.note_history(note.id)
            assert history[-1].text == "saved before the disk filled"
            assert await store.integrity_problems() == []
            await store.close()

        run(scenario())
