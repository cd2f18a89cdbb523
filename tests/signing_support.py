"""Signing helpers shared by the unit and integration tests of notes signing.

``MemoryKeys`` is KeyringSigningKeys with its keyring replaced by a dict: the JWS,
header and verification code are the real ones. It stands in for the OS keyring
where a test is about the store and the record store, not the keyring (which
tests/integration/test_signing_keyring.py exercises for real).
"""

from __future__ import annotations

from typing import Any

from joserfc.jwk import ECKey

from app.errors import SigningKeyError
from app.notes_signing import NoteSigning, Signer
from storage.signatures import StoreSignatures
from storage.signing import KeyringSigningKeys

SIGNER = Signer("os-user:dr-test", "Dr Test")


class MemoryKeys(KeyringSigningKeys):
    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, ECKey] = {}
        self.fail = False

    def _key_for(self, signer_id: str) -> ECKey:
        if self.fail:
            raise SigningKeyError(reason="the system keyring is not available")
        return self.keys.setdefault(signer_id, ECKey.generate_key("P-256", private=True))


def signing(store: Any, keys: MemoryKeys | None = None, signer: Signer = SIGNER) -> NoteSigning:
    return NoteSigning(StoreSignatures(store), keys or MemoryKeys(), lambda: signer)
