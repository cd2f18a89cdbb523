"""The encrypted store's everyday behaviour on real SQLCipher files (passphrase mode)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import soap
from app.errors import InputRejectedError, StoreLockedError
from app.records import Encounter, NoteType, Patient, StoreState, new_id, utc_now
from storage import repository
from storage.store import EncryptedStore
from tests.conftest import TEST_PASSPHRASE, open_test_store, run

_open = open_test_store


async def _encounter(store: EncryptedStore) -> Encounter:
    patient = await store.add_patient(Patient(new_id(), "Quirke", "Ottoline", "1970-05-05"))
    return await store.add_encounter(Encounter(new_id(), patient.id, utc_now(), reason="Check"))


def test_file_is_encrypted_and_not_readable_as_sqlite(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        await store.create_note(enc.id, "Subjective:\nXylophonist cramp\n")
        await store.close()

    run(scenario())
    db = fresh_profile / "store.db"
    assert b"SQLite format 3" not in db.read_bytes()[:16]
    assert b"Xylophonist" not in db.read_bytes()
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(db).execute("SELECT * FROM sqlite_master").fetchall()
    assert (db.stat().st_mode & 0o777) == 0o600


def test_save_keeps_every_version_and_restore_makes_a_new_one(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        note = await store.create_note(enc.id, soap.template())
        first = await store.save_note_text(note.id, "v2 text")
        again = await store.save_note_text(note.id, "v2 text")
        second = await store.save_note_text(note.id, "v3 text")
        assert (first.version, first.changed) == (2, True)
        assert (again.version, again.changed) == (2, False)
        assert second.version == 3
        history = await store.note_history(note.id)
        assert [v.version for v in history] == [3, 2, 1]
        restored = await store.restore_version(note.id, 2)
        assert restored.version == 4
        reopened = await store.open_note(note.id)
        assert reopened.text == "v2 text"
        actions = [e.action for e in await store.audit_entries()]
        assert actions.count("update") == 2 and "restore" in actions and "read" in actions
        await store.close()

    run(scenario())


def test_every_change_writes_its_outbox_row_in_the_same_transaction(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        assert await store.outbox_size() == 2  # patient + encounter
        note = await store.create_note(enc.id, "a")
        for i in range(5):
            await store.save_note_text(note.id, f"text {i}")
        # One row per record, coalesced: five saves of an unsent note are still one create.
        assert await store.outbox_size() == 3
        await store.close()

    run(scenario())

    # A failing mutation rolls back its outbox row too.
    async def failing() -> None:
        store = await _open(fresh_profile)
        before = await store.outbox_size()
        with pytest.raises(InputRejectedError):
            await store.create_note((await store.list_encounters())[0].encounter.id, "bad\x00")
        assert await store.outbox_size() == before
        await store.close()

    run(failing())


def test_search_finds_prefixes_and_treats_fts_syntax_as_text(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        note = await store.create_note(enc.id, "Assessment:\nPneumonia, right lower lobe\n")
        hits = await store.search_notes("pneumo")
        assert [h.note_id for h in hits] == [note.id]
        assert "[[Pneumonia]]" in hits[0].snippet
        assert hits[0].patient_display == "Quirke, Ottoline"
        assert await store.search_notes("lower pneu") != []
        assert await store.search_notes("pneumonia absent") == []
        for hostile in ['"', "NEAR(", "text:*", "a OR", "*", "(((", "AND AND", "-", "^x"]:
            await store.search_notes(hostile)  # never a syntax error
        await store.save_note_text(note.id, "Assessment:\nBronchitis\n")
        assert await store.search_notes("pneumonia") == []
        assert len(await store.search_notes("bronch")) == 1
        await store.close()

    run(scenario())


def test_fts_query_quotes_every_token() -> None:
    assert repository.fts_query('chest "pain') == '"chest"* "pain"*'
    assert repository.fts_query("  ") is None
    assert repository.fts_query("***") is None


def test_locked_store_refuses_data_calls_and_unlocks(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await _open(fresh_profile)
        await _encounter(store)
        await store.lock()
        assert store.status.state is StoreState.LOCKED
        with pytest.raises(StoreLockedError):
            await store.list_encounters()
        await store.unlock(TEST_PASSPHRASE)
        assert len(await store.list_encounters()) == 1
        await store.close()

    run(scenario())


def test_signed_note_is_immutable(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        note = await store.create_note(enc.id, "final words")

        def sign(conn: object) -> None:
            with repository.transaction(conn):
                conn.execute("UPDATE notes SET status = 'signed' WHERE id = ?", (note.id,))  # type: ignore[attr-defined]

        await store._run(sign)
        with pytest.raises(InputRejectedError):
            await store.save_note_text(note.id, "changed")
        await store.close()

    run(scenario())


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EncryptedStore]:
    """One store for all property examples: the passphrase KDF costs ~0.4 s per open."""
    store = run(_open(tmp_path_factory.mktemp("roundtrip")))
    yield store
    run(store.close())


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
        max_size=3000,
    )
)
def test_note_text_round_trips_any_unicode(shared_store: EncryptedStore, text: str) -> None:
    async def scenario() -> None:
        store = shared_store
        encounters = await store.list_encounters()
        enc = encounters[0].encounter if encounters else await _encounter(store)
        note = await store.create_note(enc.id, text, NoteType.CONSULT)
        assert (await store.open_note(note.id)).text == text
        await store.save_note_text(note.id, text + "!")
        assert (await store.open_note(note.id)).text == text + "!"
        await store.search_notes(text[:40])  # arbitrary user input never breaks search

    run(scenario())


def test_very_long_note_round_trips(fresh_profile: Path) -> None:
    long_text = ("Plan:\n" + "Ωmega café 🫀 line\n" * 60_000)[: repository.MAX_NOTE_CHARS]

    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        note = await store.create_note(enc.id, long_text)
        await store.close()
        store = await _open(fresh_profile)
        assert (await store.open_note(note.id)).text == long_text
        with pytest.raises(InputRejectedError):
            await store.save_note_text(note.id, "x" * (repository.MAX_NOTE_CHARS + 1))
        await store.close()

    run(scenario())
