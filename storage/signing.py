"""Per-clinician signing keys in the OS keyring, and detached JWS (ES256) over notes.

Each clinician has one P-256 key, made on their first signature and kept as a
private JWK in the OS keyring (service ``clinician-console``, user
``signing-key:<signer id>``), never in the store or a file. A signature is a JWS
(RFC 7515) in compact serialization with a *detached* payload (Appendix F:
``header..signature``): the payload is the note's canonical JSON, which any
verifier rebuilds from the note. The protected header carries the public key
(``jwk``) and its RFC 7638 thumbprint (``kid``), the signing time (``sigT``, as
in ETSI JAdES) and the signer, so a signature is checkable on its own.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from typing import TYPE_CHECKING, Any

from app.errors import ConsoleError, SigningError, SigningKeyError
from app.notes_signing import SIGNATURE_TYP, Signer
from storage import keys

if TYPE_CHECKING:
    from joserfc.jwk import ECKey
    from joserfc.jws import JWSRegistry

_KEY_PREFIX = "signing-key:"
ALGORITHM = "ES256"


def _check_signer(value: object) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(value.get(k), str) for k in ("id", "display")
    ):
        raise ValueError("signer must be {id, display}")


@functools.cache
def _registry() -> JWSRegistry:
    """Our two header parameters beside the registered ones (a registry refuses unknown
    names by default, which is what we want for anything else). Built on first use:
    joserfc and cryptography stay off the start-up path."""
    from joserfc.jws import JWSRegistry
    from joserfc.registry import HeaderParameter

    return JWSRegistry(
        header_registry={
            "sigT": HeaderParameter("signing time (ETSI JAdES), an ISO 8601 instant", "str"),
            "signer": HeaderParameter("who signed: {id, display}", _check_signer),
        },
        algorithms=[ALGORITHM],
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class KeyringSigningKeys:
    """app.notes_signing.SigningKeys over the OS keyring (keyring calls off the loop)."""

    def __init__(self, service: str = keys.KEYRING_SERVICE) -> None:
        self.service = service

    async def sign(
        self, signer: Signer, signed_at: str, payload: bytes
    ) -> tuple[str, str, dict[str, Any]]:
        key = await asyncio.get_running_loop().run_in_executor(None, self._key_for, signer.id)
        public = key.as_dict(private=False)
        kid = key.thumbprint()
        header = {
            "alg": ALGORITHM,
            "typ": SIGNATURE_TYP,
            "kid": kid,
            "jwk": public,
            "sigT": signed_at,
            "signer": {"id": signer.id, "display": signer.display},
        }
        from joserfc import jws

        compact = jws.serialize_compact(header, payload, key, registry=_registry())
        return jws.detach_content(compact), kid, public

    def verify(self, token: str, payload: bytes) -> dict[str, Any]:
        return verify_detached(token, payload)

    def public_key(self, signer_id: str) -> dict[str, Any] | None:
        """The signer's public JWK when this keyring holds their key."""
        stored = self._read(signer_id)
        return None if stored is None else _import(stored).as_dict(private=False)

    # --- keyring --------------------------------------------------------------------

    def _read(self, signer_id: str) -> str | None:
        try:
            backend = keys.usable_keyring()
            value = keys.keyring_call(backend.get_password, self.service, _KEY_PREFIX + signer_id)
        except ConsoleError as exc:
            raise SigningKeyError(reason="the system keyring is not available") from exc
        return None if value is None else str(value)

    def _key_for(self, signer_id: str) -> ECKey:
        from joserfc.jwk import ECKey

        stored = self._read(signer_id)
        if stored is not None:
            return _import(stored)
        key = ECKey.generate_key("P-256", private=True)
        value = json.dumps(key.as_dict(private=True), sort_keys=True)
        try:
            backend = keys.usable_keyring()
            keys.keyring_call(backend.set_password, self.service, _KEY_PREFIX + signer_id, value)
            # Read it back: a keyring that accepts a write and loses it must fail now,
            # before a signature is made with a key nobody will hold again.
            again = keys.keyring_call(backend.get_password, self.service, _KEY_PREFIX + signer_id)
        except ConsoleError as exc:
            raise SigningKeyError(reason="the system keyring is not available") from exc
        if again != value:
            raise SigningKeyError(reason="the system keyring did not keep the new key")
        return key


def _import(stored: str) -> ECKey:
    from joserfc.errors import JoseError
    from joserfc.jwk import ECKey

    try:
        key = ECKey.import_key(json.loads(stored))
    except (ValueError, TypeError, JoseError) as exc:
        raise SigningKeyError(reason="the signing key in the keyring is damaged") from exc
    if not key.is_private:
        raise SigningKeyError(reason="the signing key in the keyring is damaged")
    return key


def verify_detached(token: str, payload: bytes) -> dict[str, Any]:
    """The protected header when ``token`` (``header..signature``) signs ``payload`` with
    the P-256 key in its own ``jwk`` header, whose thumbprint is its ``kid``."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or parts[1] != "" or len(token) > 20_000:
        raise SigningError(reason="the signature is not a detached compact JWS")
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, TypeError) as exc:
        raise SigningError(reason="the signature header is unreadable") from exc
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
        raise SigningError(reason="the signature does not use ES256")
    from joserfc import jws
    from joserfc.errors import JoseError
    from joserfc.jwk import ECKey

    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or "d" in jwk:
        raise SigningError(reason="the signature carries no public key")
    try:
        key = ECKey.import_key(jwk)
        if key.thumbprint() != header.get("kid"):
            raise SigningError(reason="the key id is not the public key's thumbprint")
        jws.deserialize_compact(
            f"{parts[0]}.{_b64url(payload)}.{parts[2]}", key, registry=_registry()
        )
    except SigningError:
        raise
    except (JoseError, ValueError, TypeError) as exc:
        raise SigningError(reason="the signature does not match the note") from exc
    return header
