"""The profile's unlock file: app.credentials.CredentialFile on disk (``unlock.json``).

Holds the console credential's scrypt hash (keyring mode) or only the failure
counter (passphrase mode, where the store passphrase is the credential). Written
atomically, owner-only (0600).

In keyring mode the file is authenticated: an HMAC-SHA256 over its content with a
random key kept in the OS keyring beside the store key (``unlock-mac:<store id>``).
A file that was edited (failure count reset, another hash put in), swapped for a
passphrase-mode file, or deleted while the keyring still holds its MAC key is
reported as CredentialFileError and the console does not open; it is never taken as
"first run, choose a new PIN". What this does not stop is someone who can read the
keyring as the user: docs/storage.md, "Threat model".
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from app.credentials import CredentialKind, CredentialRecord, ScryptParams
from app.errors import CredentialFileError, KeyringUnavailableError
from storage import keys

CREDENTIAL_FILE = "unlock.json"
_FORMAT = 1


class FileCredentialStore:
    """``hashed=True``: keyring mode (a PIN or passphrase hash, MACed); ``False``:
    passphrase mode (failure counter only; the store checks the passphrase itself)."""

    def __init__(self, profile: Path, store_id: str, *, hashed: bool) -> None:
        self.path = profile / CREDENTIAL_FILE
        self._store_id = store_id
        self._hashed = hashed

    @property
    def _mac_username(self) -> str:
        return f"unlock-mac:{self._store_id}"

    # -- the port ------------------------------------------------------------------
    def load(self) -> CredentialRecord | None:
        if not self.path.exists():
            if self._hashed and self._mac_key(create=False) is not None:
                # A credential was set for this store: its file cannot just vanish.
                raise CredentialFileError(reason="the file is missing")
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != _FORMAT:
                raise ValueError("unknown format")
            record = _record_from(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CredentialFileError(reason="it cannot be read") from exc
        if self._hashed:
            if record.kind not in (CredentialKind.PIN, CredentialKind.PASSPHRASE):
                raise CredentialFileError(reason="it is not a keyring-mode file")
            key = self._mac_key(create=False)
            mac = data.get("mac")
            if key is None or not isinstance(mac, str):
                raise CredentialFileError(reason="its check is missing")
            if not hmac.compare_digest(_mac(key, data), mac):
                raise CredentialFileError(reason="its check does not match")
        elif record.kind is not CredentialKind.STORE_PASSPHRASE:
            raise CredentialFileError(reason="it is not a passphrase-mode file")
        return record

    def save(self, record: CredentialRecord) -> None:
        data = _data_from(record)
        if self._hashed:
            key = self._mac_key(create=True)
            assert key is not None
            data["mac"] = _mac(key, data)
        _write_private(self.path, json.dumps(data, sort_keys=True).encode("utf-8"))

    # -- the MAC key -----------------------------------------------------------------
    def _mac_key(self, *, create: bool) -> bytes | None:
        backend = keys.usable_keyring()  # KeyringUnavailableError: keyring mode needs it
        service = keys.KEYRING_SERVICE
        stored = keys.keyring_call(backend.get_password, service, self._mac_username)
        if stored is None and create:
            stored = secrets.token_hex(32)
            keys.keyring_call(backend.set_password, service, self._mac_username, stored)
            if keys.keyring_call(backend.get_password, service, self._mac_username) != stored:
                raise KeyringUnavailableError(backend=keys.keyring_backend_name())
        if stored is None:
            return None
        try:
            return bytes.fromhex(stored)
        except ValueError as exc:
            raise CredentialFileError(reason="its keyring entry is damaged") from exc

    def forget(self) -> None:
        """Remove the file and its keyring entry (tests; a profile being deleted)."""
        self.path.unlink(missing_ok=True)
        with contextlib.suppress(Exception):
            backend = keys.usable_keyring()
            backend.delete_password(keys.KEYRING_SERVICE, self._mac_username)


def _data_from(record: CredentialRecord) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "kind": record.kind.value,
        "salt": record.salt.hex(),
        "digest": record.digest.hex(),
        "scrypt": {
            "n": record.params.n,
            "r": record.params.r,
            "p": record.params.p,
            "dklen": record.params.dklen,
        },
        "failures": record.failures,
        "last_failure_at": record.last_failure_at,
    }


def _record_from(data: dict[str, Any]) -> CredentialRecord:
    scrypt = data["scrypt"]
    params = ScryptParams(
        n=int(scrypt["n"]), r=int(scrypt["r"]), p=int(scrypt["p"]), dklen=int(scrypt["dklen"])
    )
    if params.n < 2 or params.n & (params.n - 1) or not 1 <= params.r <= 64:
        raise ValueError("bad scrypt parameters")
    failures = int(data["failures"])
    if failures < 0:
        raise ValueError("negative failure count")
    return CredentialRecord(
        kind=CredentialKind(data["kind"]),
        salt=bytes.fromhex(data["salt"]),
        digest=bytes.fromhex(data["digest"]),
        params=params,
        failures=failures,
        last_failure_at=float(data["last_failure_at"]),
    )


def _mac(key: bytes, data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "mac"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hmac.new(key, b"clinician-console unlock v1\0" + canonical, hashlib.sha256).hexdigest()


def _write_private(path: Path, payload: bytes) -> None:
    """Write atomically (temp file, fsync, rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)  # an existing temp file keeps its old mode through O_CREAT
    os.replace(tmp, path)
