"""Schema migrations from every earlier version to the newest, on real SQLCipher files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.errors import AuditRollbackError
from app.records import KeySource, utc_now
from storage import audit, database, keys, migrations, repository
from storage.store import DB_FILE, EncryptedStore
from tests.conftest import TEST_PASSPHRASE, file_digests, run

NOTE_ID = "11111111-1111-4111-8111-111111111111"
ENC_ID = "22222222-2222-4222-8222-222222222222"
PAT_ID = "33333333-3333-4333-8333-333333333333"


def _old_store(profile: Path, version: int) -> Any:
    """A store as a console at schema ``version`` left it."""
    profile.mkdir(parents=True)
    # store.json as those consoles wrote it: format 1, no MAC, the PBKDF2 output as check.
    salt = b"0123456789abcdef"
    keys.write_meta(
        profile,
        keys.StoreMeta(
            store_id="store-under-test",
            key_source=KeySource.PASSPHRASE,
            key_check=keys.passphrase_check(TEST_PASSPHRASE, salt, 256_000),
            check_salt=salt.hex(),
            check_iterations=256_000,
            format=1,
        ),
    )
    key = keys.load_passphrase_key(keys.read_meta(profile), TEST_PASSPHRASE)  # type: ignore[arg-type]
    conn = database.connect(profile / DB_FILE, key, create=True)
    migrations.migrate(conn, target=version)
    if version >= 1:
        _seed(conn, version)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _has_column(conn: Any, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def _seed(conn: Any, version: int) -> None:
    """Data as that version wrote it (column lists named, so later columns take defaults)."""
    now = utc_now()
    with repository.transaction(conn):
        conn.execute(
            "INSERT INTO patients(id, family_name, given_name, birth_date, gender, mrn, "
            "updated_at) VALUES (?, 'Ashdown', 'Perpetua', '1950-01-01', 'female', 'M1', ?)",
            (PAT_ID, now),
        )
        conn.execute(
            "INSERT INTO encounters(id, patient_id, start, status, encounter_class, reason, "
            "updated_at) VALUES (?, ?, ?, 'finished', 'VR', 'Review', ?)",
            (ENC_ID, PAT_ID, now, now),
        )
        # From the import migration on, every note names its patient.
        with_patient = _has_column(conn, "notes", "patient_id")
        conn.execute(
            "INSERT INTO notes(id, encounter_id, "
            + ("patient_id, " if with_patient else "")
            + "text, version, status, created_at, updated_at) VALUES (?, ?, "
            + ("?, " if with_patient else "")
            + "'Plan:\nnebuliser twice daily', 2, 'draft', ?, ?)",
            (NOTE_ID, ENC_ID, *((PAT_ID,) if with_patient else ()), now, now),
        )
        for number, text in ((1, "Plan:\n"), (2, "Plan:\nnebuliser twice daily")):
            conn.execute(
                "INSERT INTO note_versions(note_id, version, text, saved_at) VALUES (?, ?, ?, ?)",
                (NOTE_ID, number, text, now),
            )
        changes = (
            ("patient", PAT_ID, "create"),
            ("note", NOTE_ID, "create"),
            ("note", NOTE_ID, "update"),
            ("note", NOTE_ID, "update"),
        )
        if version < 3:
            for entity, entity_id, op in changes:
                conn.execute(
                    "INSERT INTO outbox(entity_type, entity_id, op, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (entity, entity_id, op, now),
                )
        else:
            for entity, entity_id, op in changes:
                repository.outbox_put(conn, entity, entity_id, op)
        prev = audit.GENESIS
        for seq, action in enumerate(("create", "create", "create", "update"), start=1):
            digest = audit.entry_hash(seq, now, "old-console", action, "note", NOTE_ID, prev)
            conn.execute(
                "INSERT INTO audit_log VALUES (?, ?, 'old-console', ?, 'note', ?, ?, ?)",
                (seq, now, action, NOTE_ID, prev, digest),
            )
            prev = digest
        if version >= 3:
            conn.execute("INSERT INTO meta(key, value) VALUES ('audit_head', ?)", (f"4:{prev}",))


@pytest.mark.parametrize("start", range(migrations.LATEST))
def test_migrates_from_every_earlier_version(fresh_profile: Path, start: int) -> None:
    _old_store(fresh_profile, start)

    async def scenario() -> None:
        store = await EncryptedStore.open(
            fresh_profile, passphrase=TEST_PASSPHRASE, key_source=KeySource.PASSPHRASE
        )
        try:
            assert store.status.schema_version == migrations.LATEST
            report = await store.verify_audit()
            assert report.ok, report
            if start >= 1:
                note = await store.open_note(NOTE_ID)
                assert note.text.endswith("nebuliser twice daily") and note.version == 2
                assert (note.note_type.code, note.note_type.label) == ("11506-3", "Progress note")
                assert note.patient_id == PAT_ID and note.encounter_id == ENC_ID
                assert [h.note_id for h in await store.search_notes("nebul")] == [NOTE_ID]
                assert [v.version for v in await store.note_history(NOTE_ID)] == [2, 1]
                # Old per-change outbox rows coalesce to one per record, keeping "create".
                rows = await store._run(
                    lambda c: c.execute(
                        "SELECT entity_type, op, revision FROM outbox ORDER BY seq"
                    ).fetchall()
                )
                assert [tuple(r) for r in rows] == [("patient", "create", 1), ("note", "create", 3)]
                saved = await store.save_note_text(NOTE_ID, "Plan:\nstop nebuliser")
                assert saved.version == 3
                assert (await store.verify_audit()).ok
            else:
                assert await store.list_encounters() == []
        finally:
            await store.close()

    run(scenario())
    if start >= 1:
        assert (fresh_profile / f"{DB_FILE}.v{start}.bak").exists()


def test_fresh_and_migrated_schemas_have_the_same_shape(tmp_path: Path) -> None:
    def shape(profile: Path) -> dict[str, list[str]]:
        meta = keys.read_meta(profile)
        assert meta is not None
        conn = database.connect(
            profile / DB_FILE, keys.load_passphrase_key(meta, TEST_PASSPHRASE), create=False
        )
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'index', 'trigger') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        out = {t: [str(c[1:3]) for c in conn.execute(f"PRAGMA table_info('{t}')")] for t in tables}
        conn.close()
        return out

    fresh = tmp_path / "fresh"
    run(
        _close(
            EncryptedStore.open(fresh, passphrase=TEST_PASSPHRASE, key_source=KeySource.PASSPHRASE)
        )
    )
    old = tmp_path / "old"
    _old_store(old, 1)
    run(
        _close(
            EncryptedStore.open(old, passphrase=TEST_PASSPHRASE, key_source=KeySource.PASSPHRASE)
        )
    )
    assert shape(fresh) == shape(old)


async def _close(opening: Any) -> None:
    store = await opening
    await store.close()


def test_keying_an_old_chain_is_audited_and_keeps_earlier_tampering_visible(
    fresh_profile: Path,
) -> None:
    _old_store(fresh_profile, 4)
    meta = keys.read_meta(fresh_profile)
    assert meta is not None
    conn = database.connect(
        fresh_profile / DB_FILE, keys.load_passphrase_key(meta, TEST_PASSPHRASE), create=False
    )
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET action = 'read' WHERE seq = 2")  # before the upgrade
    conn.close()

    async def scenario() -> None:
        store = await EncryptedStore.open(fresh_profile, passphrase=TEST_PASSPHRASE)
        try:
            entries = await store.audit_entries()
            rekey = [e for e in entries if e.action == "audit_rekey"]
            assert len(rekey) == 1 and "did not verify" in rekey[0].entity_id
            report = await store.verify_audit()
            assert not report.ok and report.first_bad_seq == 2
            assert "first keyed" in report.problem
        finally:
            await store.close()

    run(scenario())


def test_putting_back_the_pre_upgrade_backup_is_detected(fresh_profile: Path) -> None:
    """The store.db.vN.bak beside the store is an older copy: restoring it is a rollback."""
    _old_store(fresh_profile, 4)

    async def use() -> None:
        store = await EncryptedStore.open(fresh_profile, passphrase=TEST_PASSPHRASE)
        rekey = [e.entity_id for e in await store.audit_entries() if e.action == "audit_rekey"]
        assert rekey and "verified" in rekey[0] and "did not" not in rekey[0]
        await store.open_note(NOTE_ID)
        await store.save_note_text(NOTE_ID, "Plan:\nafter the upgrade")
        await store.close()

    run(use())
    backup = fresh_profile / f"{DB_FILE}.v4.bak"
    (fresh_profile / DB_FILE).unlink()
    backup.rename(fresh_profile / DB_FILE)
    before = file_digests(fresh_profile)
    with pytest.raises(AuditRollbackError):
        run(EncryptedStore.open(fresh_profile, passphrase=TEST_PASSPHRASE))
    assert file_digests(fresh_profile) == before  # refused before migrating or re-keying
