"""Every way opening or writing the store can fail: a clear error, and nothing overwritten.

Real SQCipher files throughout; the full-disk case uses a real, tiny tmpfs.
Keyring-specific failures (key missing, mismatch, no keyring) are in
tests/integration/test_keyring_store.py against the real Secret Service.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.errors import (
    DiskFullError,
    PassphraseRequiredError,
    SchemaTooNewError,
    StoreDamagedError,
    StoreMissingError,
    WrongPassphraseError,
)
from app.records import Encounter, KeySource, Patient, new_id, utc_now
from storage import migrations
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


def test_interrupted_creation_starts_over(fresh_profile: Path) -> None:
    _make_store(fresh_profile, notes=0)
    meta_path = fresh_profile / "store.json"
    meta = json.loads(meta_path.read_text())
    meta["state"] = "creating"  # as if the process died before the store was ready
    meta_path.write_text(json.dumps(meta))

    async def scenario() -> None:
        store = await _open(fresh_profile)
        assert await store.list_encounters() == []
        assert store.store_id != meta["store_id"]
        await store.close()

    run(scenario())


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
    with _tiny_tmpfs(tmp_path / "small", "2m") as mount:
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
