"""Named secrets (record-store password, client secret) in the OS keyring, never in files."""

from __future__ import annotations

from app.errors import KeyringUnavailableError
from storage import keys

_SECRET_PREFIX = "secret:"


def set_secret(name: str, value: str) -> None:
    backend = keys.usable_keyring()
    keys.keyring_call(backend.set_password, keys.KEYRING_SERVICE, _SECRET_PREFIX + name, value)


def get_secret(name: str) -> str | None:
    try:
        backend = keys.usable_keyring()
    except KeyringUnavailableError:
        return None
    value = keys.keyring_call(backend.get_password, keys.KEYRING_SERVICE, _SECRET_PREFIX + name)
    return None if value is None else str(value)
