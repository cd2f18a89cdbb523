"""ID token verification (storage/identity/oidc.py) without a provider: tokens signed here
with a key whose public half is the provider's JWKS. The real provider's tokens are
checked in tests/integration/test_oidc_signin.py; these try what a hostile or broken
provider (or a man in the middle of discovery) could send."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import IdTokenInvalidError
from storage.identity.oidc import OidcProvider, ProviderMetadata
from tests.conftest import run

ISSUER = "https://idp.example.org"
CLIENT = "clinician-console"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    public = key.public_key()
    algo = (
        jwt.algorithms.RSAAlgorithm
        if isinstance(key, rsa.RSAPrivateKey)
        else jwt.algorithms.ECAlgorithm
    )
    data: dict[str, Any] = json.loads(algo.to_jwk(public))
    data["kid"] = kid
    return data


def _provider(keys: list[dict[str, Any]]) -> OidcProvider:
    provider = OidcProvider(ISSUER, CLIENT)
    # The discovery document and key set as if fetched (no network in unit tests).
    provider._metadata = ProviderMetadata(
        ISSUER, f"{ISSUER}/auth", f"{ISSUER}/token", f"{ISSUER}/jwks"
    )
    provider._jwks = {"keys": keys}

    async def no_refetch(*, refetch: bool) -> dict[str, Any]:
        assert provider._jwks is not None
        return provider._jwks

    provider._keys = no_refetch  # type: ignore[method-assign]
    return provider


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "s1",
        "iat": now,
        "exp": now + 300,
        "nonce": "n1",
    } | over


def _sign(claims: dict[str, Any], key: Any = RSA_KEY, alg: str = "RS256", kid: str = "k1") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


PROVIDER = _provider([_jwk(RSA_KEY, "k1"), _jwk(EC_KEY, "k2")])


def test_a_good_token_verifies_with_rsa_and_ec_keys() -> None:
    assert run(PROVIDER.verify_id_token(_sign(_claims()), nonce="n1"))["sub"] == "s1"
    token = _sign(_claims(), EC_KEY, "ES256", "k2")
    assert run(PROVIDER.verify_id_token(token, nonce="n1"))["sub"] == "s1"


# Overrides, not claims: the claims are made when the test runs (made at collection, a
# token's five minutes ran out before a long suite reached it). "exp" is relative to now;
# None removes the claim.
@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"iss": "https://evil.example.org"}, "another provider"),
        ({"aud": "other-app"}, "another client"),
        ({"aud": [CLIENT, "other-app"]}, "another client"),  # no azp naming us
        ({"exp": -3600}, "expired"),
        ({"nonce": "replayed"}, "nonce"),
        ({"sub": None}, "MissingRequiredClaimError"),
    ],
)
def test_claims_that_do_not_fit_this_sign_in_are_refused(over: dict[str, Any], reason: str) -> None:
    claims = _claims()
    for key, value in over.items():
        if value is None:
            del claims[key]
        elif key == "exp":
            claims[key] = int(time.time()) + value
        else:
            claims[key] = value
    with pytest.raises(IdTokenInvalidError, match=reason):
        run(PROVIDER.verify_id_token(_sign(claims), nonce="n1"))


def test_several_audiences_with_azp_naming_us_is_accepted() -> None:
    token = _sign(_claims(aud=[CLIENT, "api"], azp=CLIENT))
    assert run(PROVIDER.verify_id_token(token, nonce="n1"))["azp"] == CLIENT


def test_algorithm_confusion_and_unknown_keys_are_refused() -> None:
    # HS256 keyed with the provider's public key (the classic RS/HS confusion), built by
    # hand: PyJWT itself refuses to sign HS256 with a PEM key.
    public_pem = RSA_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    body = b64(json.dumps(_claims()).encode())
    sig = b64(hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(IdTokenInvalidError, match="algorithm"):
        run(PROVIDER.verify_id_token(f"{head}.{body}.{sig}", nonce="n1"))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(IdTokenInvalidError, match="unknown key"):
        run(PROVIDER.verify_id_token(_sign(_claims(), other, kid="k9"), nonce="n1"))
    with pytest.raises(IdTokenInvalidError, match="signature"):
        run(PROVIDER.verify_id_token(_sign(_claims(), other, kid="k1"), nonce="n1"))
    # An RSA-signed token naming the EC key's kid: refused, not crashed.
    with pytest.raises(IdTokenInvalidError):
        run(PROVIDER.verify_id_token(_sign(_claims(), kid="k2"), nonce="n1"))


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300), st.lists(st.text(max_size=80), min_size=3, max_size=3).map(".".join)
    )
)
def test_garbage_is_refused_with_the_one_error(token: str) -> None:
    with pytest.raises(IdTokenInvalidError):
        run(PROVIDER.verify_id_token(token, nonce="n1"))
