"""The unlock file on disk (storage/credentials.py) with the real OS keyring
(gnome-keyring on a private D-Bus session, scripts/with-services): owner-only,
authenticated, and never taken as "first run" once a credential was set."""

from __future__ import annotations

import asyncio
import json
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.credentials import CredentialKind, Credentials, ScryptParams
from app.errors import CredentialFileError, WrongCredentialError
from storage.credentials import CREDENTIAL_FILE, FileCredentialStore

pytestmark = pytest.mark.keyring
CHEAP = ScryptParams(n=2**10)


@pytest.fixture
def unlock_file(tmp_path: Path, real_keyring: str) -> Iterator[FileCredentialStore]:
    store = FileCredentialStore(tmp_path / "profile", f"test-{uuid.uuid4()}", hashed=True)
    yield store
    store.forget()


def _set_pin(file: FileCredentialStore, pin: str = "204817") -> Credentials:
    creds = Credentials(file, params=CHEAP)
    asyncio.run(creds.choose(CredentialKind.PIN, pin))
    return creds


def test_written_owner_only_without_the_pin(unlock_file: FileCredentialStore) -> None:
    _set_pin(unlock_file)
    path = unlock_file.path
    assert path.name == CREDENTIAL_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "204817" not in text
    record = unlock_file.load()
    assert record is not None and record.kind is CredentialKind.PIN
    asyncio.run(Credentials(unlock_file, params=CHEAP).verify("204817"))


def test_an_edited_failure_count_is_detected(unlock_file: FileCredentialStore) -> None:
    creds = _set_pin(unlock_file)
    for _ in range(3):
        with pytest.raises(WrongCredentialError):
            asyncio.run(creds.verify("999999"))
    data = json.loads(unlock_file.path.read_text())
    assert data["failures"] == 3
    data["failures"] = 0  # reset the delay by hand
    unlock_file.path.write_text(json.dumps(data))
    with pytest.raises(CredentialFileError):
        unlock_file.load()


def test_a_swapped_hash_is_detected(unlock_file: FileCredentialStore, tmp_path: Path) -> None:
    _set_pin(unlock_file)
    other = FileCredentialStore(tmp_path / "other", f"test-{uuid.uuid4()}", hashed=True)
    try:
        _set_pin(other, "777123")  # a hash the attacker knows the PIN of
        unlock_file.path.write_bytes(other.path.read_bytes())
        with pytest.raises(CredentialFileError):
            unlock_file.load()
    finally:
        other.forget()


def test_a_deleted_file_is_not_a_first_run(unlock_file: FileCredentialStore) -> None:
    _set_pin(unlock_file)
    unlock_file.path.unlink()
    with pytest.raises(CredentialFileError) as err:
        Credentials(unlock_file, params=CHEAP)
    assert "missing" in str(err.value)


def test_a_passphrase_mode_file_cannot_stand_in_for_a_pin(
    unlock_file: FileCredentialStore, tmp_path: Path
) -> None:
    _set_pin(unlock_file)
    plain = FileCredentialStore(tmp_path / "plain", "x", hashed=False)
    creds = Credentials(plain, default_kind=CredentialKind.STORE_PASSPHRASE)

    async def wrong(_secret: str) -> None:
        from app.errors import WrongPassphraseError

        raise WrongPassphraseError()

    from app.errors import WrongPassphraseError

    with pytest.raises(WrongPassphraseError):
        asyncio.run(creds.verify("guess-one", by_store=wrong))
    unlock_file.path.write_bytes(plain.path.read_bytes())
    with pytest.raises(CredentialFileError):
        unlock_file.load()


def test_a_never_set_profile_is_a_first_run(unlock_file: FileCredentialStore) -> None:
    creds = Credentials(unlock_file, params=CHEAP)
    assert creds.needs_setup
