"""The store's key in the real OS keyring (Secret Service on a D-Bus session; no mocks)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import keyring
import pytest

from app.errors import (
    AuditRollbackError,
    KeyMismatchError,
    KeyMissingError,
    KeyringUnavailableError,
    StoreMetadataDamagedError,
)
from app.records import Encounter, KeySource, Patient, StoreState, new_id, utc_now
from storage import keys
from storage.store import EncryptedStore
from tests.conftest import TEST_PASSPHRASE, env_without_keyring, file_digests, run

pytestmark = [pytest.mark.integration, pytest.mark.keyring]


def _cli(
    profile: Path, *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--profile", str(profile), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _meta(profile: Path) -> keys.StoreMeta:
    meta = keys.read_meta(profile)
    assert meta is not None
    return meta


def test_new_store_keeps_a_raw_256_bit_key_in_the_keyring(
    fresh_profile: Path, real_keyring: str
) -> None:
    async def scenario() -> None:
        store = await EncryptedStore.open(fresh_profile)
        assert store.status.key_source is KeySource.KEYRING
        assert store.status.state is StoreState.UNLOCKED
        assert "SecretService" in store.status.keyring_backend
        await store.close()
        # Reopening takes the key from the keyring: no prompt, no KDF.
        store = await EncryptedStore.open(fresh_profile)
        await store.lock()
        await store.unlock()
        await store.close()

    run(scenario())
    meta = _meta(fresh_profile)
    stored = keyring.get_password(meta.keyring_service, meta.keyring_username)
    assert stored is not None and len(bytes.fromhex(stored)) == 32
    assert stored not in (fresh_profile / "store.json").read_text()
    keys.delete_keyring_key(meta)


def test_key_missing_from_keyring(fresh_profile: Path, real_keyring: str) -> None:
    run(_create_and_close(fresh_profile))
    meta = _meta(fresh_profile)
    keyring.delete_password(meta.keyring_service, meta.keyring_username)
    before = file_digests(fresh_profile)
    with pytest.raises(KeyMissingError) as info:
        run(EncryptedStore.open(fresh_profile))
    assert "missing from the OS keyring" in str(info.value)
    after = file_digests(fresh_profile)
    assert {k: v for k, v in after.items() if k in before} == before
    # Still no key was invented: the store stays unopenable until the key is restored.
    assert keyring.get_password(meta.keyring_service, meta.keyring_username) is None


def test_wrong_key_in_keyring(fresh_profile: Path, real_keyring: str) -> None:
    run(_create_and_close(fresh_profile))
    meta = _meta(fresh_profile)
    keyring.set_password(meta.keyring_service, meta.keyring_username, "ab" * 32)
    before = file_digests(fresh_profile)
    with pytest.raises(KeyMismatchError):
        run(EncryptedStore.open(fresh_profile))
    assert {k: v for k, v in file_digests(fresh_profile).items() if k in before} == before
    keys.delete_keyring_key(meta)


def test_no_keyring_offers_passphrase_and_creates_nothing(fresh_profile: Path) -> None:
    env = env_without_keyring()
    result = _cli(fresh_profile, "demo", env=env)
    assert result.returncode != 0
    assert "No OS keyring is available" in result.stderr and "passphrase" in result.stderr
    assert not (fresh_profile / "store.db").exists()
    check = _cli(fresh_profile, "check", "--json", env=env)
    assert json.loads(check.stdout)["keyring"]["available"] is False
    # Passphrase mode works without any keyring.
    made = _cli(
        fresh_profile,
        "--key-source",
        "passphrase",
        "--passphrase-stdin",
        "demo",
        env=env,
        stdin=TEST_PASSPHRASE + "\n",
    )
    assert made.returncode == 0, made.stderr
    assert _meta(fresh_profile).key_source is KeySource.PASSPHRASE


def test_keyring_store_when_the_keyring_is_gone(fresh_profile: Path, real_keyring: str) -> None:
    run(_create_and_close(fresh_profile))
    before = file_digests(fresh_profile)
    result = _cli(fresh_profile, "audit", "verify", env=env_without_keyring())
    assert result.returncode != 0 and "No OS keyring" in result.stderr
    assert file_digests(fresh_profile) == before
    keys.delete_keyring_key(_meta(fresh_profile))


def test_plaintext_keyring_backends_are_not_installed() -> None:
    # keyrings.alt would silently become the backend and keep the key in a plain file.
    assert (
        importlib.util.find_spec("keyrings") is None
        or importlib.util.find_spec("keyrings.alt") is None
    )


def test_plaintext_backend_counts_as_no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    class PlaintextKeyring(keyring.backend.KeyringBackend):  # shaped like keyrings.alt's
        priority = 1  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str | None:
            return None

        def set_password(self, service: str, username: str, password: str) -> None:
            raise AssertionError("must never be written to")

        def delete_password(self, service: str, username: str) -> None:
            return None

    PlaintextKeyring.__module__ = "keyrings.alt.file"
    previous = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())
    try:
        with pytest.raises(KeyringUnavailableError):
            keys.create_keyring_key("x")
    finally:
        keyring.set_keyring(previous)


async def _create_and_close(profile: Path) -> None:
    store = await EncryptedStore.open(profile)
    await store.close()


async def _store_with_a_note(profile: Path) -> None:
    store = await EncryptedStore.open(profile)
    patient = await store.add_patient(Patient(new_id(), "Quill", "Orla", "1970-07-07"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
    await store.create_note(enc.id, "before the edit")
    await store.close()


def test_edited_creation_state_keeps_the_key_and_the_store(
    fresh_profile: Path, real_keyring: str
) -> None:
    """`state = "creating"` in store.json used to delete the database and its keyring key."""
    run(_store_with_a_note(fresh_profile))
    meta = _meta(fresh_profile)
    key_before = keyring.get_password(meta.keyring_service, meta.keyring_username)
    path = fresh_profile / "store.json"
    data = json.loads(path.read_text())
    data["state"] = "creating"
    path.write_text(json.dumps(data))
    before = file_digests(fresh_profile)
    check = _cli(fresh_profile, "check", "--json")
    assert check.returncode != 0
    assert json.loads(check.stdout)["store"]["error"] == "StoreMetadataDamagedError"
    with pytest.raises(StoreMetadataDamagedError):
        run(EncryptedStore.open(fresh_profile))
    assert file_digests(fresh_profile) == before
    assert keyring.get_password(meta.keyring_service, meta.keyring_username) == key_before
    keys.delete_keyring_key(meta)


def test_audit_key_and_anchor_live_in_the_keyring_and_catch_a_restored_copy(
    fresh_profile: Path, real_keyring: str, tmp_path: Path
) -> None:
    run(_store_with_a_note(fresh_profile))
    meta = _meta(fresh_profile)
    store_key = keyring.get_password(meta.keyring_service, meta.keyring_username)
    audit_key = keyring.get_password(meta.keyring_service, meta.audit_key_username)
    assert audit_key is not None and len(bytes.fromhex(audit_key)) == 32
    assert audit_key != store_key
    anchor = keyring.get_password(meta.keyring_service, meta.anchor_username)

    older = tmp_path / "older.db"
    shutil.copyfile(fresh_profile / "store.db", older)
    run(_store_with_a_note(fresh_profile))  # more work after the copy was taken
    assert keyring.get_password(meta.keyring_service, meta.anchor_username) != anchor
    shutil.copyfile(older, fresh_profile / "store.db")
    with pytest.raises(AuditRollbackError):
        run(EncryptedStore.open(fresh_profile))
    result = _cli(fresh_profile, "audit", "reanchor", "--confirm")
    assert result.returncode == 0, result.stderr
    verify = _cli(fresh_profile, "audit", "verify")
    assert verify.returncode == 0, verify.stderr
    keys.delete_keyring_key(meta)


def _secret_service_pid() -> int:
    """The process that owns org.freedesktop.secrets on this session bus."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    bus = DBusAddress(
        "/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus"
    )
    with open_dbus_connection(bus="SESSION") as conn:
        reply = conn.send_and_get_reply(
            new_method_call(bus, "GetConnectionUnixProcessID", "s", ("org.freedesktop.secrets",))
        )
    return int(reply.body[0])


def test_keyring_store_opens_while_the_keyring_daemon_restarts(
    fresh_profile: Path, real_keyring: str
) -> None:
    """gnome-keyring-daemon aborts on some clients' disconnects (an upstream bug); the
    desktop session restarts it. A store opened in that blink waits for the keyring to
    come back instead of telling the clinician there is no keyring. Kills only the
    daemon that scripts/with-services runs (and restarts) for the tests, never a
    developer's own."""
    import os
    import signal

    if "keyring" not in os.environ.get("CLINICIAN_CONSOLE_SERVICES", "").split():
        pytest.skip("the keyring daemon is not the tests' own (scripts/with-services)")
    run(_store_with_a_note(fresh_profile))
    pid = _secret_service_pid()
    os.kill(pid, signal.SIGABRT)

    async def reopen() -> int:
        store = await EncryptedStore.open(fresh_profile)
        try:
            return len(await store.list_encounters())
        finally:
            await store.close()

    assert run(reopen()) == 1
    assert _secret_service_pid() != pid  # it really was restarted in between
