"""Signing a note and adding addenda: the failure paths first (STYLE.md §2b).

Real SQLCipher stores (passphrase mode); the keyring is MemoryKeys (tests/signing_support.py:
the real JWS code over a dict instead of the OS keyring, which
tests/integration/test_note_cli_keyring.py exercises).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from app.errors import (
    InputRejectedError,
    NoteChangedError,
    SigningError,
    SigningKeyError,
    StoreError,
)
from app.notes_signing import SignedContent, canonical_json
from app.records import Encounter, NoteStatus, Patient, new_id, utc_now
from storage import audit, signatures
from storage.store import EncryptedStore
from storage.sync import queue
from tests.conftest import open_test_store, run
from tests.signing_support import MemoryKeys, signing


async def _seed(store: EncryptedStore, text: str = "Plan:\nrest") -> str:
    patient = await store.add_patient(Patient(new_id(), "Sign", "Ed", "1960-06-06"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
    note_id: str = (await store.create_note(enc.id, text)).id
    return note_id


def _outbox(conn: Any) -> list[tuple[str, str]]:
    return [(str(r[0]), str(r[1])) for r in conn.execute("SELECT entity_type, op FROM outbox")]


async def _assert_untouched_draft(store: EncryptedStore, note_id: str, text: str) -> None:
    note = await store.open_note(note_id)
    assert note.status is NoteStatus.DRAFT and note.text == text
    assert await store.transact(signatures.get_signature, note_id) is None
    assert ("provenance", "create") not in await store.transact(_outbox)
    # Still an editable draft.
    assert (await store.save_note_text(note_id, text + "\nmore")).changed


# --- canonical form ------------------------------------------------------------------


def test_canonical_json_is_jcs_with_nfc_text() -> None:
    composed = SignedContent("n", "p", "e", "11506-3", "caf\u00e9")
    decomposed = SignedContent("n", "p", "e", "11506-3", "cafe\u0301")
    assert canonical_json(composed) == canonical_json(decomposed)
    assert canonical_json(composed) == (
        '{"appends":null,"canonical":1,"encounter":"e","note":"n","patient":"p",'
        '"text":"caf\u00e9","type":{"code":"11506-3","system":"http://loinc.org"}}'
    ).encode("utf-8")
    assert canonical_json(SignedContent("n", "p2", "e", "11506-3", "café")) != canonical_json(
        composed
    ), "the patient is part of what is signed"


# --- sign: every step failing leaves the draft as it was ------------------------------------


def test_keyring_failure_signs_nothing(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)
        keys = MemoryKeys()
        keys.fail = True
        with pytest.raises(SigningKeyError):
            await signing(store, keys).sign(note_id)
        await _assert_untouched_draft(store, note_id, "Plan:\nrest")
        keys.fail = False
        assert (await signing(store, keys).sign(note_id)).status == "signed"
        await store.close()

    run(scenario())


def test_a_store_failure_inside_the_commit_rolls_everything_back(
    fresh_profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last step of the commit (the audit entry) fails: the status change, the
    signature and both outbox rows written before it in the same transaction are gone."""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)
        real = audit.append

        def failing(conn: Any, actor: str, action: str, *args: Any, **kw: Any) -> Any:
            if action == "sign":
                raise OSError("simulated: disk gone at the last step")
            return real(conn, actor, action, *args, **kw)

        monkeypatch.setattr(signatures.audit, "append", failing)
        with pytest.raises(StoreError):  # the store translates the OSError
            await signing(store).sign(note_id)
        monkeypatch.setattr(signatures.audit, "append", real)
        await _assert_untouched_draft(store, note_id, "Plan:\nrest")
        await store.close()

    run(scenario())


def test_an_edit_while_signing_is_refused_and_kept(fresh_profile: Path) -> None:
    """The autosave lands between reading the note and committing the signature: what
    was signed is no longer the note, so nothing is signed and the edit stays."""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)

        class EditingKeys(MemoryKeys):
            async def sign(self, signer: Any, signed_at: str, payload: bytes) -> Any:
                await store.save_note_text(note_id, "Plan:\nrest\nlate words")
                return await super().sign(signer, signed_at, payload)

        with pytest.raises(NoteChangedError):
            await signing(store, EditingKeys()).sign(note_id)
        note = await store.open_note(note_id)
        assert note.status is NoteStatus.DRAFT and note.text.endswith("late words")
        assert await store.transact(signatures.get_signature, note_id) is None
        await store.close()

    run(scenario())


def test_what_was_on_screen_must_be_what_is_signed(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)
        with pytest.raises(NoteChangedError):
            await signing(store).sign(note_id, seen_text="Plan:\nrest and unsaved words")
        await _assert_untouched_draft(store, note_id, "Plan:\nrest")
        await store.close()

    run(scenario())


def test_a_note_in_conflict_is_not_signed(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)
        await store.transact(queue.record_conflict, "t", "note", note_id, "v9", "theirs")
        with pytest.raises(NoteChangedError):
            await signing(store).sign(note_id)
        assert (await store.open_note(note_id)).status is NoteStatus.DRAFT
        await store.close()

    run(scenario())


_CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from storage import signatures
    from tests.conftest import open_test_store
    from tests.signing_support import signing

    profile, note_id, where = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    real_append = signatures.audit.append
    real_commit = signatures.StoreSignatures.commit_signature

    def dying_append(conn, actor, action, *args, **kw):
        if action == "sign":
            os._exit(9)  # killed inside the commit's transaction, before COMMIT
        return real_append(conn, actor, action, *args, **kw)

    async def dying_after(self, signature, expected_version):
        await real_commit(self, signature, expected_version)
        os._exit(9)  # killed right after the commit, before anything else

    if where == "inside":
        signatures.audit.append = dying_append
    else:
        signatures.StoreSignatures.commit_signature = dying_after

    async def main():
        store = await open_test_store(profile)
        await signing(store).sign(note_id)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("where", ["inside", "after"])
def test_killed_while_signing(fresh_profile: Path, where: str) -> None:
    """kill -9 of the process inside the commit (the note stays a draft, nothing half
    done) or right after it (signed, note and Provenance queued, signature verifies)."""
    note_id = run(_seed_closed(fresh_profile))
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(fresh_profile), note_id, where],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 9, child.stderr

    async def check() -> None:
        store = await open_test_store(fresh_profile)
        if where == "inside":
            await _assert_untouched_draft(store, note_id, "Plan:\nrest")
        else:
            note = await store.open_note(note_id)
            assert note.status is NoteStatus.SIGNED
            outbox = await store.transact(_outbox)
            assert ("provenance", "create") in outbox
            assert any(kind == "note" for kind, _op in outbox)
            # The child's key is gone with its process; the signature still verifies
            # (its public key travels with it).
            assert (await signing(store).verify(note_id)).ok
        assert (await store.verify_audit()).ok
        await store.close()

    run(check())


async def _seed_closed(profile: Path) -> str:
    store = await open_test_store(profile)
    note_id = await _seed(store)
    await store.close()
    return note_id


# --- a signed note stays as signed ---------------------------------------------------------


def test_a_signed_note_is_never_edited(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)
        await signing(store).sign(note_id)
        with pytest.raises(InputRejectedError):
            await store.save_note_text(note_id, "Plan:\nchanged after signing")
        with pytest.raises(InputRejectedError):
            await store.save_note_text(note_id, "")

        def raw_edit(conn: Any) -> None:
            conn.execute("UPDATE notes SET text = 'x' WHERE id = ?", (note_id,))

        # The schema refuses it too, whatever code path tries (a trigger).
        with pytest.raises(StoreError, match="IntegrityError"):
            await store.transact(raw_edit)
        # A pulled server change is a conflict, not an overwrite (even with nothing unsent).
        await store.transact(lambda c: c.execute("DELETE FROM outbox"))
        result = await store.transact(
            queue.apply_pulled_note, "t", note_id, "srv-1", "v2", "Plan:\nedited elsewhere"
        )
        assert result == "conflict"
        assert (await store.open_note(note_id)).text == "Plan:\nrest"
        await store.close()

    run(scenario())


def test_verify_detects_a_changed_signature_or_text(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)
        keys = MemoryKeys()
        use = signing(store, keys)
        await use.sign(note_id)
        assert (await use.verify(note_id)).ok

        def swap_text(conn: Any) -> None:
            conn.execute("DROP TRIGGER signed_note_text_frozen")
            conn.execute("UPDATE notes SET text = 'Plan:\nrest!' WHERE id = ?", (note_id,))

        await store.transact(swap_text)
        bad = await use.verify(note_id)
        assert not bad.ok and "does not match" in bad.reason
        await store.close()

    run(scenario())


def test_a_signature_made_with_another_key_in_the_header_fails(fresh_profile: Path) -> None:
    """Someone re-signs changed words with their own key and puts it in the header: the
    signature is then valid for that key, but not the key recorded at signing."""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)
        use = signing(store)
        await use.sign(note_id)
        sig = await store.transact(signatures.get_signature, note_id)
        material = await store.transact(signatures.signing_material, note_id)
        content = SignedContent(
            note_id, material.patient_id, material.note.encounter_id, "11506-3", "Plan:\nrest"
        )
        forged_jws, _kid, _jwk = await MemoryKeys().sign(
            use.signer(), sig.signed_at, canonical_json(content)
        )
        from app.notes_signing import verify_signature

        forged = type(sig)(**{**_asdict(sig), "jws": forged_jws})
        result = verify_signature(MemoryKeys(), forged, content)
        assert not result.ok and "key" in result.reason
        await store.close()

    run(scenario())


def _asdict(sig: Any) -> dict[str, Any]:
    return {name: getattr(sig, name) for name in sig.__slots__}


# --- addenda ----------------------------------------------------------------------------------


def test_addenda_rules(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)
        use = signing(store)
        with pytest.raises(SigningError):
            await use.add_addendum(note_id, "too early: the note is a draft")
        await use.sign(note_id)
        with pytest.raises(InputRejectedError):
            await use.add_addendum(note_id, "   ")
        added = await use.add_addendum(note_id, "Addendum: labs normal.")
        assert added.appends == note_id and added.status == "signed"
        with pytest.raises(SigningError):
            await use.add_addendum(added.note_id, "an addendum to an addendum")
        addendum = await store.open_note(added.note_id)
        assert addendum.status is NoteStatus.SIGNED
        with pytest.raises(InputRejectedError):
            await store.save_note_text(added.note_id, "changed")
        result = await use.verify(note_id)
        assert result.all_ok and [a.note_id for a in result.addenda] == [added.note_id]
        assert json.dumps(result.as_dict())  # JSON-safe for the CLI
        await store.close()

    run(scenario())


def test_an_addendum_failing_inside_its_commit_leaves_nothing_and_the_conflict_open(
    fresh_profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resolution of a signed note's conflict fails at its very last step (its audit
    entry): no addendum note, no signature, no outbox rows, and the conflict is still
    open for the next try."""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)
        use = signing(store)
        await use.sign(note_id)
        await store.transact(lambda c: c.execute("DELETE FROM outbox"))
        await store.transact(queue.record_conflict, "t", "note", note_id, "v3", "theirs")
        [conflict] = await store.transact(queue.open_conflicts, note_id)
        real = audit.append

        def failing(conn: Any, actor: str, action: str, *args: Any, **kw: Any) -> Any:
            if action == "conflict_addendum":
                raise OSError("simulated: disk gone at the last step")
            return real(conn, actor, action, *args, **kw)

        monkeypatch.setattr(queue.audit, "append", failing)
        with pytest.raises(StoreError):
            await use.add_addendum(note_id, "Addendum: reviewed", resolves_conflict=conflict.id)
        monkeypatch.setattr(queue.audit, "append", real)
        assert await store.transact(signatures.addenda, note_id) == []
        assert await store.transact(_outbox) == []
        assert [c.id for c in await store.transact(queue.open_conflicts, note_id)] == [conflict.id]
        notes = await store.transact(
            lambda c: c.execute("SELECT count(*) FROM notes").fetchone()[0]
        )
        assert notes == 1
        # The next try goes through.
        added = await use.add_addendum(note_id, "Addendum: reviewed", resolves_conflict=conflict.id)
        assert await store.transact(signatures.addenda, note_id) == [added.note_id]
        assert await store.transact(queue.open_conflicts, note_id) == []
        await store.close()

    run(scenario())
