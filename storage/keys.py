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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from app.errors import (
    AuditKeyMissingError,
    KeyMismatchError,
    KeyMissingError,
    KeyringUnavailableError,
    PassphraseRequiredError,
    PassphraseTooShortError,
    StoreDamagedError,
    StoreMetadataDamagedError,
    WrongPassphraseError,
)
from app.records import MIN_PASSPHRASE_LENGTH, KeySource, utc_now

KEYRING_SERVICE = "clinician-console"
META_FILE = "store.json"
ANCHOR_FILE = "audit-anchor.json"
META_FORMAT = 2
_KEY_CHECK_LABEL = b"clinician-console store key check v1"
# Format 2 labels: every secret below is an HMAC of the store's master secret
# (the raw keyring key, or PBKDF2 of the passphrase) under its own label, so
# none of them reveals another and none is the database key itself.
_KEY_CHECK_V2_LABEL = b"clinician-console key check v2"
_META_MAC_LABEL = b"clinician-console store.json mac v1"
_AUDIT_MAC_LABEL = b"clinician-console audit chain mac v1"
_ANCHOR_MAC_LABEL = b"clinician-console audit anchor mac v1"
# Same strength as SQLCipher 4's own passphrase KDF (PBKDF2-HMAC-SHA512, 256,000
# iterations), so the check is no cheaper to attack than the database itself.
_PASSPHRASE_CHECK_ITERATIONS = 256_000


T = TypeVar("T", bytes, str)


class Secret(Generic[T]):
    """Key material whose ``repr``/``str`` never shows the value (logs, tracebacks, debuggers)."""

    __slots__ = ("_value",)
    _value: T

    def __init__(self, value: T) -> None:
        self._value = value

    def reveal(self) -> T:
        return self._value

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(
            _as_bytes(self._value), _as_bytes(other._value)
        )

    def __hash__(self) -> int:
        return id(self)

    def __reduce__(self) -> Any:
        raise TypeError("key material is not picklable")


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


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
    format: int = META_FORMAT
    # HMAC-SHA256 of every other field under a key derived from the store key
    # (format 2). Without the key nobody can make the console believe anything
    # about the store; a mismatch is "damaged metadata", never "start again".
    mac: str = ""

    @property
    def keyring_username(self) -> str:
        return f"store-key:{self.store_id}"

    @property
    def audit_key_username(self) -> str:
        return f"audit-key:{self.store_id}"

    @property
    def anchor_username(self) -> str:
        return f"audit-anchor:{self.store_id}"


@dataclass(frozen=True, repr=False)
class StoreKey:
    """The key material for one open: a raw key, or a passphrase for SQLCipher's KDF.

    ``master`` is the secret the other keys are derived from: the raw key in
    keyring mode, PBKDF2 of the passphrase in passphrase mode (format 2).
    """

    source: KeySource
    raw: Secret[bytes] | None = None
    passphrase: Secret[str] | None = None
    master: Secret[bytes] | None = None

    def __repr__(self) -> str:
        return f"StoreKey(source={self.source.value}, <redacted>)"

    def pragma(self) -> str:
        if self.raw is not None:
            return f"PRAGMA key = \"x'{self.raw.reveal().hex()}'\""
        assert self.passphrase is not None
        escaped = self.passphrase.reveal().replace("'", "''")
        return f"PRAGMA key = '{escaped}'"

    def derive(self, label: bytes) -> bytes:
        secret = self.master if self.master is not None else self.raw
        if secret is None:
            raise KeyMissingError(path="store.db")
        return hmac.new(secret.reveal(), label, hashlib.sha256).digest()


def meta_mac(meta: StoreMeta, key: StoreKey) -> str:
    payload = asdict(meta)
    payload.pop("mac", None)
    payload["key_source"] = meta.key_source.value
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hmac.new(key.derive(_META_MAC_LABEL), canonical, hashlib.sha256).hexdigest()


def seal_meta(meta: StoreMeta, key: StoreKey) -> StoreMeta:
    unsealed = replace(meta, mac="", format=META_FORMAT)
    return replace(unsealed, mac=meta_mac(unsealed, key))


def meta_is_authentic(meta: StoreMeta, key: StoreKey) -> bool:
    return bool(meta.mac) and hmac.compare_digest(meta_mac(meta, key), meta.mac)


def audit_mac_key_from_passphrase(key: StoreKey) -> bytes:
    return key.derive(_AUDIT_MAC_LABEL)


def anchor_mac_key(key: StoreKey) -> bytes:
    return key.derive(_ANCHOR_MAC_LABEL)


def read_meta(profile: Path) -> StoreMeta | None:
    path = profile / META_FILE
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        data["key_source"] = KeySource(data["key_source"])
        meta = StoreMeta(**data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise StoreDamagedError(path=META_FILE, reason="key metadata unreadable") from exc
    if meta.format > META_FORMAT:
        raise StoreMetadataDamagedError(
            path=META_FILE, reason=f"it is format {meta.format}, written by a newer console"
        )
    return meta


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

        from storage.keyring_choice import choose_backend

        choose_backend()
        backend = keyring.get_keyring()
    except Exception:  # keyring's own discovery failing means "none"
        return "none"
    return f"{type(backend).__module__}.{type(backend).__name__}".removeprefix("keyring.backends.")


def usable_keyring() -> Any:
    import keyring
    from keyring.backends import fail

    from storage.keyring_choice import choose_backend

    choose_backend()  # skips keyring's slow discovery where its answer is known
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


# How long a call waits for a Secret Service that has just left the session bus: the
# daemon can crash on another client's request (gnome-keyring aborts on a client that
# disconnects mid-request), and the session restarts it (systemd, D-Bus activation)
# within a second or so. Reading the store's key must not fail for that blink.
KEYRING_RESTART_WAIT_S = 3.0
_SERVICE_GONE = frozenset(
    {
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.NoReply",
    }
)


def _service_gone(exc: BaseException) -> bool:
    """Whether a keyring error says the keyring service is not on the bus (yet), as
    opposed to a refusal (locked, denied) that waiting would not change."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if type(cause).__name__ == "SecretServiceNotAvailableException":
            return True
        if getattr(cause, "name", None) in _SERVICE_GONE:  # jeepney's DBusErrorResponse
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def keyring_call(fn: Any, *args: str) -> Any:
    """``fn(*args)`` on the keyring backend; every failure is KeyringUnavailableError,
    after waiting up to KEYRING_RESTART_WAIT_S for a keyring service that is restarting."""
    import time

    from keyring.errors import KeyringError

    deadline = time.monotonic() + KEYRING_RESTART_WAIT_S
    pause = 0.05
    while True:
        try:
            return fn(*args)
        except (KeyringError, Exception) as exc:
            # D-Bus and platform errors surface as assorted types; none is "a key".
            if _service_gone(exc) and time.monotonic() + pause < deadline:
                time.sleep(pause)
                pause = min(pause * 2, 0.4)
                continue
            raise KeyringUnavailableError(backend=keyring_backend_name()) from exc


def _set_and_check(backend: Any, service: str, username: str, value: str) -> None:
    keyring_call(backend.set_password, service, username, value)
    # Read it back: a keyring that accepts a write and loses it must fail now,
    # not on the next start with an unreadable store.
    if keyring_call(backend.get_password, service, username) != value:
        raise KeyringUnavailableError(backend=keyring_backend_name())


def create_keyring_key(store_id: str) -> tuple[StoreKey, StoreMeta]:
    backend = usable_keyring()
    raw = secrets.token_bytes(32)
    meta = StoreMeta(
        store_id=store_id,
        key_source=KeySource.KEYRING,
        key_check=raw_key_check(raw),
        state="creating",
    )
    _set_and_check(backend, meta.keyring_service, meta.keyring_username, raw.hex())
    key = StoreKey(KeySource.KEYRING, raw=Secret(raw), master=Secret(raw))
    return key, seal_meta(meta, key)


def keyring_audit_key(meta: StoreMeta, *, create: bool) -> bytes:
    """The audit chain's MAC key: random, beside the store key, never the database key.

    ``create`` only when the store is new or its chain is being keyed for the
    first time; a missing key for a keyed chain is AuditKeyMissingError.
    """
    backend = usable_keyring()
    stored = keyring_call(backend.get_password, meta.keyring_service, meta.audit_key_username)
    if stored is None:
        if not create:
            raise AuditKeyMissingError(path="store.db")
        value = secrets.token_bytes(32)
        _set_and_check(backend, meta.keyring_service, meta.audit_key_username, value.hex())
        return value
    try:
        value = bytes.fromhex(stored)
    except ValueError as exc:
        raise AuditKeyMissingError(path="store.db") from exc
    if len(value) != 32:
        raise AuditKeyMissingError(path="store.db")
    return value


def read_keyring_anchor(meta: StoreMeta) -> str | None:
    backend = usable_keyring()
    value = keyring_call(backend.get_password, meta.keyring_service, meta.anchor_username)
    return None if value is None else str(value)


def write_keyring_anchor(meta: StoreMeta, value: str) -> None:
    backend = usable_keyring()
    keyring_call(backend.set_password, meta.keyring_service, meta.anchor_username, value)


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
    return StoreKey(KeySource.KEYRING, raw=Secret(raw), master=Secret(raw))


def delete_keyring_key(meta: StoreMeta) -> None:
    """For tests and IT's own cleanup only: the console itself never deletes a key.

    Nothing the console reads (metadata, files, flags) may make it discard a
    key; tests/unit/test_store_failures.py checks that storage/store.py never
    calls this.
    """
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
    meta = StoreMeta(
        store_id=store_id, key_source=KeySource.PASSPHRASE, key_check="", state="creating"
    )
    return rekey_passphrase_meta(meta, passphrase)


def rekey_passphrase_meta(meta: StoreMeta, passphrase: str) -> tuple[StoreKey, StoreMeta]:
    """A fresh salt, the format-2 check, and the sealed metadata for ``passphrase``.

    Also used to upgrade format-1 metadata, whose check *was* the PBKDF2
    output (public in the file, so it cannot serve as a secret).
    """
    salt = secrets.token_bytes(16)
    master = bytes.fromhex(passphrase_check(passphrase, salt, _PASSPHRASE_CHECK_ITERATIONS))
    key = StoreKey(KeySource.PASSPHRASE, passphrase=Secret(passphrase), master=Secret(master))
    unsealed = replace(
        meta,
        key_check=key.derive(_KEY_CHECK_V2_LABEL).hex(),
        check_salt=salt.hex(),
        check_iterations=_PASSPHRASE_CHECK_ITERATIONS,
    )
    return key, seal_meta(unsealed, key)


def load_passphrase_key(meta: StoreMeta, passphrase: str | None) -> StoreKey:
    if passphrase is None:
        raise PassphraseRequiredError()
    try:
        salt = bytes.fromhex(meta.check_salt)
    except ValueError as exc:
        raise StoreMetadataDamagedError(path=META_FILE, reason="its salt is unreadable") from exc
    if not 1_000 <= meta.check_iterations <= 10_000_000:
        raise StoreMetadataDamagedError(path=META_FILE, reason="its key check is implausible")
    master = bytes.fromhex(passphrase_check(passphrase, salt, meta.check_iterations))
    if meta.format < 2:
        check = master.hex()
        key = StoreKey(KeySource.PASSPHRASE, passphrase=Secret(passphrase))
    else:
        key = StoreKey(KeySource.PASSPHRASE, passphrase=Secret(passphrase), master=Secret(master))
        check = key.derive(_KEY_CHECK_V2_LABEL).hex()
    if not hmac.compare_digest(check, meta.key_check):
        raise WrongPassphraseError()
    return key


# --- the audit anchor in passphrase mode ---------------------------------------


def _anchor_payload(store_id: str, value: str) -> bytes:
    return f"{store_id}\x1f{value}".encode()


def read_file_anchor(profile: Path, meta: StoreMeta, mac_key: bytes) -> str | None:
    """The anchored ``seq:mac`` from the profile's anchor file; a forged file counts as damage."""
    path = profile / ANCHOR_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        value, mac = str(data["anchor"]), str(data["mac"])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise StoreMetadataDamagedError(path=ANCHOR_FILE, reason="it is unreadable") from exc
    expected = hmac.new(mac_key, _anchor_payload(meta.store_id, value), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac):
        raise StoreMetadataDamagedError(path=ANCHOR_FILE, reason="its check does not verify")
    return value


def write_file_anchor(profile: Path, meta: StoreMeta, mac_key: bytes, value: str) -> None:
    """``mac_key`` is :func:`anchor_mac_key` of the store key (passphrase mode)."""
    mac = hmac.new(mac_key, _anchor_payload(meta.store_id, value), hashlib.sha256).hexdigest()
    write_private_file(
        profile / ANCHOR_FILE, json.dumps({"format": 1, "anchor": value, "mac": mac}).encode()
    )


def write_private_file(path: Path, data: bytes) -> None:
    """Owner-only, atomic (temp file, fsync, rename, fsync the directory)."""
    # A unique temp name: two writers never share one.
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
