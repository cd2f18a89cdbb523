"""Sealed waiting-room requests: only the host reads a waiting patient's name and token.

Janus tells everyone in a VideoRoom who else is there (``attendees``, ``joining``,
``listparticipants``), and the waiting room is a VideoRoom that everyone holding the
link may join. So a waiting patient's display must say nothing to the others. The
host makes a P-256 key pair per visit and puts the public key in the invite link's
fragment (``key=``, never sent to a web server); a patient (the page, with WebCrypto)
or a console seals ``{"t": token, "n": name}`` to it and joins the waiting room with
the sealed text as its display:

    display = "v1." + base64url(ephemeral public key (65 bytes, uncompressed)
                                 || AES-GCM nonce (12 bytes) || ciphertext+tag)
    key     = HKDF-SHA256(ECDH(ephemeral, host), salt = "", info = INFO, 32 bytes)
    aad     = "room:<main room number>"

This is ECIES as in SEC 1 §5.1 with HKDF and AES-256-GCM, the shape of RFC 9180
(HPKE) base mode without its labelled KDF, chosen because a browser does it with
WebCrypto alone (resources/web/patient/patient.js, ``sealRequest``) and Python with
``cryptography``. The room number in the AAD keeps a sealed request from being
replayed into another visit. The host's private key never leaves the host's memory
and dies with the visit.

What it does not hide: how many people wait and when they join (the count may show),
and the host's own watcher entry. Another link holder may copy a sealed display; the
host then sees the same name twice (the copy is ignored), and admitting it gives the
copier nothing: the token inside stays secret.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field

from app.errors import VisitError

PREFIX = "v1."
INFO = b"clinician-console waiting room v1"
TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_SEALED_CHARS = 1024  # a name of 64 characters seals to ~330: anything longer is junk
_POINT_BYTES = 65
_NONCE_BYTES = 12


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad(room: int) -> bytes:
    return f"room:{room}".encode("ascii")


def _derive(shared: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(shared)


@dataclass(frozen=True, slots=True)
class WaitingRequest:
    token: str = field(repr=False)  # the admission token: whoever holds it may enter
    name: str  # patient data: never log it


class HostKey:
    """The host's key pair for one visit; ``public`` goes into the invite link."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self._private = ec.generate_private_key(ec.SECP256R1())

    def __repr__(self) -> str:
        return "HostKey(<private>)"

    @property
    def public(self) -> str:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = self._private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return b64url(raw)

    def open(self, display: str, room: int) -> WaitingRequest | None:
        """A sealed display -> the request, or None for anything that does not open."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not display.startswith(PREFIX) or len(display) > MAX_SEALED_CHARS:
            return None
        try:
            blob = unb64url(display[len(PREFIX) :])
            point = blob[:_POINT_BYTES]
            nonce = blob[_POINT_BYTES : _POINT_BYTES + _NONCE_BYTES]
            sealed = blob[_POINT_BYTES + _NONCE_BYTES :]
            peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            key = _derive(self._private.exchange(ec.ECDH(), peer))
            plain = AESGCM(key).decrypt(nonce, sealed, _aad(room))
            fields = json.loads(plain)
        except (ValueError, InvalidTag, TypeError):
            return None
        if not isinstance(fields, dict):
            return None
        token, name = fields.get("t"), fields.get("n")
        if not isinstance(token, str) or not TOKEN_RE.match(token) or not isinstance(name, str):
            return None
        return WaitingRequest(token, " ".join(name.split())[:80])


def seal(host_public: str, room: int, token: str, name: str) -> str:
    """What a console joining through the waiting room uses as its display."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    try:
        host = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(host_public))
    except ValueError:
        raise VisitError(
            reason="the invite link's key is damaged: ask the host for a new invite link"
        ) from None
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    key = _derive(ephemeral.exchange(ec.ECDH(), host))
    nonce = os.urandom(_NONCE_BYTES)
    plain = json.dumps({"t": token, "n": name}, separators=(",", ":")).encode("utf-8")
    sealed = AESGCM(key).encrypt(nonce, plain, _aad(room))
    point = ephemeral.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return PREFIX + b64url(point + nonce + sealed)
