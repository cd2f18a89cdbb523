"""``note sign|addendum|verify`` end to end with the real OS keyring (Secret Service
under a private D-Bus session: run through scripts/with-services or scripts/test)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.records import Encounter, NoteStatus, Patient, new_id, utc_now
from storage import keys
from tests.conftest import TEST_PASSPHRASE, env_without_keyring, open_test_store, run

pytestmark = pytest.mark.integration


def cli(
    profile: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
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
        env=env,
    )


async def _seed(profile: Path, text: str = "Plan:\nrest") -> str:
    store = await open_test_store(profile)
    patient = await store.add_patient(Patient(new_id(), "Key", "Ring", "1980-01-01"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
    note_id: str = (await store.create_note(enc.id, text)).id
    await store.close()
    return note_id


async def _state(profile: Path, note_id: str) -> tuple[NoteStatus, list[str]]:
    store = await open_test_store(profile)
    note = await store.open_note(note_id)
    rows = await store.transact(
        lambda conn: [r[0] for r in conn.execute("SELECT entity_type FROM outbox ORDER BY seq")]
    )
    await store.close()
    return note.status, rows


def _cleanup_key(signer_id: str) -> None:
    import keyring

    with contextlib.suppress(Exception):  # not there: nothing to clean
        keyring.delete_password(keys.KEYRING_SERVICE, "signing-key:" + signer_id)


def test_sign_addendum_verify_with_the_keyring(
    fresh_profile: Path, tmp_path: Path, real_keyring: str
) -> None:
    note_id = run(_seed(fresh_profile))
    signed = cli(fresh_profile, "note", "sign", note_id, "--json")
    assert signed.returncode == 0, signed.stderr
    out: dict[str, Any] = json.loads(signed.stdout)
    assert out["note_id"] == note_id and out["status"] == "signed" and out["provenance_id"]
    signer = out["signer"]
    try:
        again = json.loads(cli(fresh_profile, "note", "sign", note_id, "--json").stdout)
        assert again["status"] == "already_signed"
        assert again["provenance_id"] == out["provenance_id"]
        text = tmp_path / "addendum.txt"
        text.write_text("Addendum: results reviewed — normal.\n", encoding="utf-8")
        added = cli(fresh_profile, "note", "addendum", note_id, "--text-file", str(text), "--json")
        assert added.returncode == 0, added.stderr
        add = json.loads(added.stdout)
        assert add["status"] == "signed" and add["appends"] == note_id
        verified = cli(fresh_profile, "note", "verify", note_id, "--json")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        report = json.loads(verified.stdout)
        assert report["all_ok"] and report["addenda"][0]["note_id"] == add["note_id"]
        # One key per clinician: both signatures carry the same key id.
        assert report["key_id"] == report["addenda"][0]["key_id"]
        import keyring

        stored = keyring.get_password(keys.KEYRING_SERVICE, "signing-key:" + signer)
        assert stored is not None and json.loads(stored)["kty"] == "EC"

        # The text changed behind the console's back (the trigger that forbids it
        # dropped first): verify says so and exits 1.
        async def tamper() -> None:
            store = await open_test_store(fresh_profile)

            def edit(conn: Any) -> None:
                conn.execute("DROP TRIGGER signed_note_text_frozen")
                conn.execute(
                    "UPDATE notes SET text = 'Plan:\nsomething else' WHERE id = ?", (note_id,)
                )

            await store.transact(edit)
            await store.close()

        run(tamper())
        bad = cli(fresh_profile, "note", "verify", note_id, "--json")
        assert bad.returncode == 1
        assert json.loads(bad.stdout)["ok"] is False
    finally:
        _cleanup_key(signer)


def test_without_a_keyring_nothing_is_signed(fresh_profile: Path) -> None:
    note_id = run(_seed(fresh_profile))
    result = cli(fresh_profile, "note", "sign", note_id, "--json", env=env_without_keyring())
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "keyring" in result.stderr and "Plan" not in result.stderr
    status, outbox = run(_state(fresh_profile, note_id))
    assert status is NoteStatus.DRAFT
    assert "provenance" not in outbox


def test_a_damaged_key_in_the_keyring_signs_nothing(fresh_profile: Path, real_keyring: str) -> None:
    import keyring

    from app.notes_signing import signer_from_settings

    note_id = run(_seed(fresh_profile))
    signer = signer_from_settings().id
    keyring.set_password(keys.KEYRING_SERVICE, "signing-key:" + signer, "{not a key")
    try:
        result = cli(fresh_profile, "note", "sign", note_id)
        assert result.returncode == 1 and "damaged" in result.stderr
        status, outbox = run(_state(fresh_profile, note_id))
        assert status is NoteStatus.DRAFT and "provenance" not in outbox
    finally:
        _cleanup_key(signer)
