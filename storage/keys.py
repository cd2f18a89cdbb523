"""Where the store's key comes from: the OS keyring (raw 256-bit key) or a passphrase.

The profile keeps a small, non-secret ``store.json`` beside the database that
says which key source the store uses and carries a *key check* (an HMAC of a
fixed label under the key, or a slow hash of the passphrase). The check lets
us tell "this key is not the store's key" from "the file is damaged" without
ever writing to the database.

We never fall back to a plaintext keyring: the ``keyrings.alt`` file backends
and keyring's ``fail``/``null`` backends count as "no keyring available".
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.errors import (
    KeyMismatchError,
    KeyMissingError,
    KeyringUnavailableError,
    PassphraseRequiredError,
    PassphraseTooShortError,
    StoreDamagedError,
    WrongPassphraseError,
)
from app.records import MIN_PASSPHRASE_LENGTH, KeySource, utc_now

KEYRING_SERVICE = "clinician-console"
META_FILE = "store.json"
_KEY_CHECK_LABEL = b"clinician-console store key check v1"
# Same strength as SQLCipher 4's own passphrase KDF (PBKDF2-HMAC-SHA512, 256,000
# iterations), so the check is no cheaper to attack than the database itself.
_PASSPHRASE_CHECK_ITERATIONS = 256_000


@dataclass(frozen=True)
class StoreMeta:
    store_id: str
    key_source: KeySource
    key_check: str  # hex
    check_salt: str = ""  # hex; passphrase mode only
    check_iterations: int = 0
    keyring_service: str = KEYRING_SERVICE
    state: str = "ready"  # "creating" until the database exists and is migrated
    created_at: str = field(default_factory=utc_now)
    format: int = 1

    @property
    def keyring_username(self) -> str:
        return f"store-key:{self.store_id}"


@dataclass(frozen=True)
class StoreKey:
    """The key material for one open: a raw key, or a passphrase for SQLCipher's KDF."""

    source: KeySource
    raw: bytes | None = None
    passphrase: str | None = None

    def pragma(self) -> str:
        if self.raw is not None:
            return f"PRAGMA key = \"x'{self.raw.hex()}'\""
        assert self.passphrase is not None
        escaped = self.passphrase.replace("'", "''")
        return f"PRAGMA key = '{escaped}'"


def read_meta(profile: Path) -> StoreMeta | None:
    path = profile / META_FILE
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        data["key_source"] = KeySource(data["key_source"])
        return StoreMeta(**data)
    except (ValueError, TypeError, KeyError) as exc:
        raise StoreDamagedError(path=META_FILE, reason="key metadata unreadable") from exc


def write_meta(profile: Path, meta: StoreMeta) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    path = profile / META_FILE
    tmp = path.with_suffix(".json.tmp")
    payload = asdict(meta)
    payload["key_source"] = meta.key_source.value
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(profile)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def raw_key_check(raw: bytes) -> str:
    return hmac.new(raw, _KEY_CHECK_LABEL, hashlib.sha256).hexdigest()


def passphrase_check(passphrase: str, salt: bytes, iterations: int) -> str:
    return hashlib.pbkdf2_hmac("sha512", passphrase.encode("utf-8"), salt, iterations).hex()


# --- the OS keyring -----------------------------------------------------------


def keyring_backend_name() -> str:
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception:  # keyring's own discovery failing means "none"
        return "none"
    return f"{type(backend).__module__}.{type(backend).__name__}".removeprefix("keyring.backends.")


def usable_keyring() -> Any:
    import keyring
    from keyring.backends import fail

    backend = keyring.get_keyring()
    module = type(backend).__module__
    if isinstance(backend, fail.Keyring) or module.startswith(
        ("keyrings.alt", "keyring.backends.null")
    ):
        raise KeyringUnavailableError(backend=keyring_backend_name())
    return backend


def keyring_available() -> bool:
    try:
        usable_keyring()
    except KeyringUnavailableError:
        return False
    return True


def keyring_call(fn: Any, *args: str) -> Any:
    from keyring.errors import KeyringError

    try:
        return fn(*args)
    except KeyringError as exc:
        raise KeyringUnavailableError(backend=keyring_backend_name()) from exc
    except Exception as exc:
        # D-Bus and platform errors surface as assorted types; none is "a key".
        raise KeyringUnavailableError(backend=keyring_backend_name()) from exc


def create_keyring_key(store_id: str) -> tuple[StoreKey, StoreMeta]:
    backend = usable_keyring()
    raw = secrets.token_bytes(32)
    meta = StoreMeta(
        store_id=store_id,
        key_source=KeySource.KEYRING,
        key_check=raw_key_check(raw),
        state="creating",
    )
    keyring_call(backend.set_password, meta.keyring_service, meta.keyring_username, raw.hex())
    # Read it back: a keyring that accepts a write and loses it must fail now,
    # not on the next start with an unreadable store.
    stored = keyring_call(backend.get_password, meta.keyring_service, meta.keyring_username)
    if stored != raw.hex():
        raise KeyringUnavailableError(backend=keyring_backend_name())
    return StoreKey(KeySource.KEYRING, raw=raw), meta


def load_keyring_key(meta: StoreMeta, db_path: Path) -> StoreKey:
    backend = usable_keyring()
    stored = keyring_call(backend.get_password, meta.keyring_service, meta.keyring_username)
    if stored is None:
        raise KeyMissingError(path=db_path.name)
    try:
        raw = bytes.fromhex(stored)
    except ValueError as exc:
        raise KeyMismatchError(path=db_path.name) from exc
    if len(raw) != 32 or not hmac.compare_digest(raw_key_check(raw), meta.key_check):
        raise KeyMismatchError(path=db_path.name)
    return StoreKey(KeySource.KEYRING, raw=raw)


def delete_keyring_key(meta: StoreMeta) -> None:
    backend = usable_keyring()
    from keyring.errors import PasswordDeleteError

    with contextlib.suppress(PasswordDeleteError):
        backend.delete_password(meta.keyring_service, meta.keyring_username)


# --- passphrase mode ----------------------------------------------------------


def create_passphrase_key(store_id: str, passphrase: str | None) -> tuple[StoreKey, StoreMeta]:
    if passphrase is None:
        raise PassphraseRequiredError()
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise PassphraseTooShortError(minimum=MIN_PASSPHRASE_LENGTH)
    salt = secrets.token_bytes(16)
    meta = StoreMeta(
        store_id=store_id,
        key_source=KeySource.PASSPHRASE,
        key_check=passphrase_check(passphrase, salt, _PASSPHRASE_CHECK_ITERATIONS),
        check_salt=salt.hex(),
        check_iterations=_PASSPHRASE_CHECK_ITERATIONS,
        state="creating",
    )
    return StoreKey(KeySource.PASSPHRASE, passphrase=passphrase), meta


def load_passphrase_key(meta: StoreMeta, passphrase: str | None) -> StoreKey:
    if passphrase is None:
        raise PassphraseRequiredError()
    check = passphrase_check(passphrase, bytes.fromhex(meta.check_salt), meta.check_iterations)
    if not hmac.compare_digest(check, meta.key_check):
        raise WrongPassphraseError()
    return StoreKey(KeySource.PASSPHRASE, passphrase=passphrase)
