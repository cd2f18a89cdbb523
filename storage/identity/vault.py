"""Clinician tokens and offline re-entry records in the OS keyring (app.identity ports).

Entries (service ``clinician-console``, like the store key):

- ``identity-tokens:<hash>``: one clinician's access, refresh and ID tokens
  (``<hash>`` = SHA-256 of issuer and subject, so the entry name gives nobody away);
- ``identity-offline:<hash of login>``: their offline record (the offline PIN's scrypt
  hash and failure count, the last online sign-in time, the profile shown offline);
- ``identity-offline-index``: the logins that have an offline record.

Nothing here is written to the profile directory: a copied profile carries no tokens.
What the keyring does not stop is someone who can read it as the same OS user (a
shared cart account): docs/identity.md, "Shared carts".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any

from app.credentials import CredentialKind, CredentialRecord, ScryptParams
from app.errors import CredentialFileError
from app.identity import Clinician, OfflineRecord, TokenGrant
from storage import keys

_TOKENS = "identity-tokens:"
_OFFLINE = "identity-offline:"
_INDEX = "identity-offline-index"


def _name(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:40]


class _Keyring:
    def __init__(self, service: str = keys.KEYRING_SERVICE) -> None:
        self._service = service

    def get(self, username: str) -> str | None:
        backend = keys.usable_keyring()
        value = keys.keyring_call(backend.get_password, self._service, username)
        return None if value is None else str(value)

    def set(self, username: str, value: str) -> None:
        backend = keys.usable_keyring()
        keys.keyring_call(backend.set_password, self._service, username, value)

    def delete(self, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        backend = keys.usable_keyring()
        with contextlib.suppress(PasswordDeleteError):  # already gone
            backend.delete_password(self._service, username)


class KeyringTokenVault:
    """app.identity.TokenVault."""

    def __init__(self, issuer: str, *, service: str = keys.KEYRING_SERVICE) -> None:
        self._issuer = issuer
        self._ring = _Keyring(service)

    def _user(self, subject: str) -> str:
        return _TOKENS + _name(self._issuer, subject)

    def load(self, subject: str) -> TokenGrant | None:
        raw = self._ring.get(self._user(subject))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return TokenGrant(
                access_token=str(data["access_token"]),
                refresh_token=str(data["refresh_token"]),
                id_token=str(data["id_token"]),
                expires_at=float(data["expires_at"]),
                claims=dict(data.get("claims", {})),
            )
        except (ValueError, KeyError, TypeError):
            return None  # a damaged entry is no sign-in: the clinician signs in again

    def save(self, subject: str, grant: TokenGrant) -> None:
        payload = {
            "access_token": grant.access_token,
            "refresh_token": grant.refresh_token,
            "id_token": grant.id_token,
            "expires_at": grant.expires_at,
            "claims": dict(grant.claims),
        }
        user = self._user(subject)
        self._ring.set(user, json.dumps(payload))
        if self._ring.get(user) is None:  # a keyring that drops writes must fail now
            raise CredentialFileError(reason="the keyring did not keep the sign-in")

    def forget(self, subject: str) -> None:
        self._ring.delete(self._user(subject))


class KeyringOfflineRecords:
    """app.identity.OfflineRecords."""

    def __init__(self, issuer: str, *, service: str = keys.KEYRING_SERVICE) -> None:
        self._issuer = issuer
        self._ring = _Keyring(service)

    def _user(self, login: str) -> str:
        return _OFFLINE + _name(self._issuer, login)

    def load(self, login: str) -> OfflineRecord | None:
        raw = self._ring.get(self._user(login))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            if data.get("login") != login:
                raise ValueError("entry for another login")
            return OfflineRecord(
                login=login,
                clinician=Clinician.from_json(data["clinician"]),
                online_at=float(data["online_at"]),
                pin=_pin_from(data["pin"]) if data.get("pin") else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            # Never "no record, choose a new PIN": that would reset the failure count.
            raise CredentialFileError(reason="the offline sign-in entry is damaged") from exc

    def save(self, record: OfflineRecord) -> None:
        data = {
            "login": record.login,
            "clinician": record.clinician.to_json(),
            "online_at": record.online_at,
            "pin": _pin_to(record.pin) if record.pin is not None else None,
        }
        self._ring.set(self._user(record.login), json.dumps(data, sort_keys=True))
        logins = self.logins()
        if record.login not in logins:
            self._ring.set(_INDEX + ":" + _name(self._issuer), json.dumps([*logins, record.login]))

    def logins(self) -> list[str]:
        raw = self._ring.get(_INDEX + ":" + _name(self._issuer))
        try:
            value = json.loads(raw) if raw else []
        except ValueError:
            return []
        return [str(v) for v in value] if isinstance(value, list) else []


def _pin_to(pin: CredentialRecord) -> dict[str, Any]:
    return {
        "kind": pin.kind.value,
        "salt": pin.salt.hex(),
        "digest": pin.digest.hex(),
        "scrypt": [pin.params.n, pin.params.r, pin.params.p, pin.params.dklen],
        "failures": pin.failures,
        "last_failure_at": pin.last_failure_at,
    }


def _pin_from(data: dict[str, Any]) -> CredentialRecord:
    n, r, p, dklen = (int(v) for v in data["scrypt"])
    if n < 2 or n & (n - 1) or not 1 <= r <= 64 or int(data["failures"]) < 0:
        raise ValueError("bad PIN record")
    return CredentialRecord(
        kind=CredentialKind(data["kind"]),
        salt=bytes.fromhex(data["salt"]),
        digest=bytes.fromhex(data["digest"]),
        params=ScryptParams(n=n, r=r, p=p, dklen=dklen),
        failures=int(data["failures"]),
        last_failure_at=float(data["last_failure_at"]),
    )
