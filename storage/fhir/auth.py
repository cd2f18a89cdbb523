"""How the console proves who it is to the record store (DESIGN.md §4, docs/record-store.md).

Three authenticators, chosen by ``[record_store] auth``:

- :class:`NoAuth` for an open server (tests, a server behind a trusted gateway);
- :class:`BasicAuth` (RFC 7617) with a user name from settings and the password
  from the OS keyring;
- :class:`SmartBackendAuth`, SMART Backend Services: the OAuth2
  ``client_credentials`` grant, the client authenticating either with a signed
  JWT assertion (``private_key_jwt``, RS384/ES384) or with a shared secret
  (``client_secret_basic``). The token endpoint comes from
  ``{base}/.well-known/smart-configuration`` (else the CapabilityStatement's
  ``oauth-uris``) unless given. The access token is cached and fetched again
  shortly before it expires, and once when the server answers 401 anyway
  (expired early, revoked): :class:`~storage.fhir.client.FhirClient` retries
  the request once with the new token and raises
  :class:`~app.errors.SyncAuthError` if that is refused too.

An authenticator never touches the network itself: it asks the client it
serves (:class:`AuthTransport`), so the token endpoint gets the same TLS
settings, timeouts, size cap and error translation as FHIR requests.

Secrets (password, client secret, private key, access token) are never logged,
never put in an exception text and never shown by ``repr``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import quote_plus, urlsplit

from app.errors import (
    SyncAuthError,
    SyncConfigError,
    SyncProtocolError,
    SyncSecretMissingError,
)

if TYPE_CHECKING:
    from app.settings import RecordStoreSettings

log = logging.getLogger(__name__)

#: The keyring entry (``clinician-console secret set record_store``).
SECRET_NAME: Final = "record_store"
#: SMART v1 wildcard scopes: read and write every type. Servers that grant less
#: return the granted subset, which is what the token then allows.
DEFAULT_SCOPE: Final = "system/*.read system/*.write"
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: SMART Backend Services: the assertion's ``exp`` is at most 5 minutes ahead.
#: Four leave room for a server clock that runs a little fast.
ASSERTION_LIFETIME_S: Final = 240
#: Refresh a token once less than this is left (or half its lifetime, if shorter).
REFRESH_MARGIN_S: Final = 60.0
#: A token without ``expires_in`` is assumed to live this long (SMART requires
#: the field; a 401 refreshes it anyway).
DEFAULT_TOKEN_LIFETIME_S: Final = 300.0
#: No token is trusted for longer than a day, whatever the server claims.
MAX_TOKEN_LIFETIME_S: Final = 86_400.0
# RFC 6749 access-token characters (VSCHAR), so a token can never smuggle
# whitespace or a line break into a header.
_TOKEN_RE: Final = re.compile(r"[\x20-\x7e]{1,16384}")
_OAUTH_ERROR_RE: Final = re.compile(r"[a-z_]{1,64}")


@dataclass(frozen=True, slots=True)
class JsonReply:
    """A reply from an auth-related endpoint: status, headers, and the JSON body or None."""

    status: int
    headers: Mapping[str, str]
    body: Any


class AuthTransport(Protocol):
    """What an authenticator needs from :class:`~storage.fhir.client.FhirClient`."""

    @property
    def base_url(self) -> str: ...

    async def fetch_json(
        self,
        method: str,
        url: str,
        *,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JsonReply:
        """Send without authentication; network failures, 5xx, 408 and 429 raise SyncError."""
        ...


class Authenticator(ABC):
    """Adds credentials to each request the client sends."""

    @abstractmethod
    async def headers(self, transport: AuthTransport) -> dict[str, str]:
        """The headers that authenticate the next request (may fetch a token)."""

    def retry_after_unauthorized(self, sent: Mapping[str, str]) -> bool:
        """A request sent with ``sent`` got 401: is one retry with fresh credentials worth it?"""
        return False

    def __repr__(self) -> str:
        # Never the credentials: a repr ends up in logs and tracebacks.
        return f"{type(self).__name__}()"


class NoAuth(Authenticator):
    async def headers(self, transport: AuthTransport) -> dict[str, str]:
        return {}


class BasicAuth(Authenticator):
    """HTTP Basic (RFC 7617, UTF-8). A 401 is final: the password will not change by retrying."""

    def __init__(self, username: str, password: str) -> None:
        if not username or ":" in username:
            raise SyncConfigError(reason="[record_store] username is empty or contains ':'")
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self.username = username
        self.__header = f"Basic {token}"

    async def headers(self, transport: AuthTransport) -> dict[str, str]:
        return {"Authorization": self.__header}

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r})"


@dataclass(frozen=True, slots=True)
class _Token:
    access_token: str
    refresh_at: float  # on the authenticator's clock
    lifetime_s: float
    scope: str

    def __repr__(self) -> str:
        return f"_Token(refresh_at={self.refresh_at}, lifetime_s={self.lifetime_s})"


class SmartBackendAuth(Authenticator):
    """SMART Backend Services (client credentials), ``private_key_jwt`` or ``client_secret_basic``.

    ``clock`` (monotonic seconds) decides when a token is due for refresh;
    ``wall_clock`` (Unix seconds) stamps the JWT assertion. Tests may pass both.
    """

    def __init__(
        self,
        client_id: str,
        *,
        private_key_pem: str | bytes | None = None,
        client_secret: str | None = None,
        token_url: str | None = None,
        scope: str = DEFAULT_SCOPE,
        kid: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not client_id:
            raise SyncConfigError(reason="[record_store] username (the SMART client id) is empty")
        if (private_key_pem is None) == (client_secret is None):
            raise SyncConfigError(
                reason="SMART backend auth needs exactly one of a private key or a client secret"
            )
        self.client_id = client_id
        self.scope = scope
        self._token_url = token_url or None
        self._clock = clock
        self._wall_clock = wall_clock
        self.__secret = client_secret
        self.__key: Any = None
        self._alg = ""
        self._kid = kid
        if private_key_pem is not None:
            self.__key, self._alg = _load_signing_key(private_key_pem)
            if self._kid is None:
                self._kid = _jwk_thumbprint(_public_jwk_members(self.__key))
        self.__token: _Token | None = None
        self._lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        #: How many tokens were requested (for status displays and tests).
        self.token_requests = 0

    @property
    def method(self) -> str:
        """The OAuth client authentication method in use."""
        return "private_key_jwt" if self.__key is not None else "client_secret_basic"

    def __repr__(self) -> str:
        return f"SmartBackendAuth(client_id={self.client_id!r}, method={self.method!r})"

    def invalidate(self) -> None:
        """Forget the cached token: the next request fetches a new one."""
        self.__token = None

    @property
    def has_token(self) -> bool:
        return self.__token is not None

    def _get_lock(self) -> asyncio.Lock:
        # One lock per event loop: concurrent requests share one token fetch,
        # and a lock made on another loop (tests run several) is never reused.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock[0] is not loop:
            self._lock = (loop, asyncio.Lock())
        return self._lock[1]

    async def headers(self, transport: AuthTransport) -> dict[str, str]:
        async with self._get_lock():
            token = self.__token
            if token is None or self._clock() >= token.refresh_at:
                token = await self._fetch_token(transport)
                self.__token = token
        return {"Authorization": f"Bearer {token.access_token}"}

    def retry_after_unauthorized(self, sent: Mapping[str, str]) -> bool:
        token = self.__token
        # Drop the token only if it is the one that was refused: a concurrent
        # request may already have fetched a fresh one.
        if token is not None and sent.get("Authorization") == f"Bearer {token.access_token}":
            self.__token = None
        log.info("record store refused the access token; fetching a new one")
        return True

    async def _fetch_token(self, transport: AuthTransport) -> _Token:
        token_url = await self._token_endpoint(transport)
        form = {"grant_type": "client_credentials", "scope": self.scope}
        headers = {"Accept": "application/json"}
        if self.__key is not None:
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = self._assertion(token_url)
        else:
            assert self.__secret is not None
            # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self.__secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        started = self._clock()
        self.token_requests += 1
        reply = await transport.fetch_json("POST", token_url, form=form, headers=headers)
        if reply.status != 200:
            raise SyncAuthError(status=reply.status, reason=_token_refusal(reply))
        body = reply.body
        if not isinstance(body, dict):
            raise SyncProtocolError(reason="the token endpoint did not return a JSON object")
        access = body.get("access_token")
        token_type = body.get("token_type")
        if not isinstance(access, str) or not _TOKEN_RE.fullmatch(access):
            raise SyncProtocolError(reason="the token endpoint returned no usable access_token")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise SyncProtocolError(reason="the token endpoint returned a token that is not bearer")
        lifetime = body.get("expires_in", DEFAULT_TOKEN_LIFETIME_S)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise SyncProtocolError(reason="the token endpoint returned an invalid expires_in")
        lifetime = min(float(lifetime), MAX_TOKEN_LIFETIME_S)
        margin = min(REFRESH_MARGIN_S, lifetime / 2)
        scope = body.get("scope")
        log.info("fetched a record-store access token (lifetime %.0f s)", lifetime)
        return _Token(
            access_token=access,
            refresh_at=started + lifetime - margin,
            lifetime_s=lifetime,
            scope=scope if isinstance(scope, str) else "",
        )

    async def _token_endpoint(self, transport: AuthTransport) -> str:
        if self._token_url is not None:
            return self._token_url
        base = transport.base_url.rstrip("/")
        url: Any = None
        reply = await transport.fetch_json(
            "GET", f"{base}/.well-known/smart-configuration", headers={"Accept": "application/json"}
        )
        if reply.status == 200 and isinstance(reply.body, dict):
            url = reply.body.get("token_endpoint")
        if not isinstance(url, str):
            # Older servers advertise the endpoint only in the CapabilityStatement.
            from storage.fhir.capabilities import parse_capabilities

            reply = await transport.fetch_json(
                "GET", f"{base}/metadata", headers={"Accept": "application/fhir+json"}
            )
            if reply.status == 200:
                caps = parse_capabilities(reply.body)
                url = caps.smart.token_url if caps.smart else None
        if not isinstance(url, str) or not url:
            raise SyncAuthError(reason="the server advertises no SMART token endpoint")
        _check_token_url(url, base)
        self._token_url = url
        return url

    def _assertion(self, token_url: str) -> str:
        import jwt

        now = int(self._wall_clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
            # Servers refuse a replayed jti; 192 random bits never repeat.
            "jti": secrets.token_urlsafe(24),
        }
        headers = {"kid": self._kid} if self._kid else None
        return jwt.encode(claims, self.__key, algorithm=self._alg, headers=headers)


def _token_refusal(reply: JsonReply) -> str:
    code = reply.body.get("error") if isinstance(reply.body, dict) else None
    if isinstance(code, str) and _OAUTH_ERROR_RE.fullmatch(code):
        # RFC 6749 §5.2 codes ("invalid_client", ...) are a fixed vocabulary;
        # error_description is free text and is not shown.
        return f"the token endpoint answered HTTP {reply.status}: {code}"
    return f"the token endpoint answered HTTP {reply.status}"


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def _check_token_url(url: str, base: str) -> None:
    """Secrets go to a token endpoint over HTTPS, or over the FHIR server's own origin."""
    try:
        target = _origin(url)
    except ValueError:
        raise SyncProtocolError(reason="the advertised token endpoint is not a URL") from None
    if target[0] == "https" and target[1]:
        return
    if target == _origin(base):
        return
    raise SyncProtocolError(
        reason="the advertised token endpoint is neither HTTPS nor on the FHIR server itself"
    )


def _load_signing_key(pem: str | bytes) -> tuple[Any, str]:
    """The private key and its JWS algorithm: RS384 for RSA, ES384 for EC P-384."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    data = _normalize_pem(pem.encode() if isinstance(pem, str) else pem)
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # The library's text is not chained: it may quote bytes of the key.
        raise SyncAuthError(
            reason="the record_store secret is not a readable PEM private key"
        ) from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise SyncAuthError(reason="the RSA private key is shorter than 2048 bits")
        return key, "RS384"
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        return key, "ES384"
    raise SyncAuthError(reason="the private key is neither RSA nor EC P-384 (RS384/ES384)")


_PEM_RE: Final = re.compile(
    rb"\s*(-----BEGIN [A-Z ]+-----)\s*([A-Za-z0-9+/=\s]+?)\s*(-----END [A-Z ]+-----)\s*"
)


def _normalize_pem(data: bytes) -> bytes:
    """A PEM block whose line breaks were flattened to spaces, restored.

    A key pasted into a one-line prompt loses its newlines; the base64 body is
    unambiguous without them, so the block is rebuilt rather than refused.
    """
    match = _PEM_RE.fullmatch(data)
    if match is None:
        return data
    body = re.sub(rb"\s+", b"", match.group(2))
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"\n".join([match.group(1), *lines, match.group(3)]) + b"\n"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _public_jwk_members(key: Any) -> dict[str, str]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    point = key.public_key().public_numbers()
    return {
        "crv": "P-384",
        "kty": "EC",
        "x": base64.urlsafe_b64encode(point.x.to_bytes(48, "big")).rstrip(b"=").decode("ascii"),
        "y": base64.urlsafe_b64encode(point.y.to_bytes(48, "big")).rstrip(b"=").decode("ascii"),
    }


def _jwk_thumbprint(members: Mapping[str, str]) -> str:
    """RFC 7638 SHA-256 thumbprint: the ``kid`` the console puts in its assertions."""
    canonical = json.dumps(dict(members), separators=(",", ":"), sort_keys=True).encode()
    digest = hashlib.sha256(canonical).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_jwk(private_key_pem: str | bytes) -> dict[str, str]:
    """The public JWK (with ``kid``, ``alg``) that IT registers with the authorization server."""
    key, alg = _load_signing_key(private_key_pem)
    members = _public_jwk_members(key)
    return {**members, "alg": alg, "use": "sig", "kid": _jwk_thumbprint(members)}


def _looks_like_private_key(secret: str) -> bool:
    return "-----BEGIN" in secret and "PRIVATE KEY-----" in secret


def auth_from_settings(
    settings: RecordStoreSettings,
    get_secret: Callable[[str], str | None],
    *,
    token_url: str | None = None,
    scope: str = DEFAULT_SCOPE,
) -> Authenticator:
    """The authenticator ``[record_store]`` asks for, its secret read from the keyring.

    ``get_secret`` is :func:`storage.secrets.get_secret`. For ``smart-backend``
    the secret is either a PEM private key (``private_key_jwt``) or a client
    secret (``client_secret_basic``); which one is told by its content.
    """
    mode = settings.auth
    if mode == "none":
        return NoAuth()
    if mode not in ("basic", "smart-backend"):
        raise SyncConfigError(reason="[record_store] auth must be none, basic or smart-backend")
    if not settings.username:
        what = "user name" if mode == "basic" else "SMART client id"
        raise SyncConfigError(reason=f"[record_store] username (the {what}) is empty")
    secret = get_secret(SECRET_NAME)
    if not secret:
        raise SyncSecretMissingError(auth=mode)
    if mode == "basic":
        return BasicAuth(settings.username, secret)
    if _looks_like_private_key(secret):
        return SmartBackendAuth(
            settings.username, private_key_pem=secret, token_url=token_url, scope=scope
        )
    return SmartBackendAuth(
        settings.username, client_secret=secret.strip(), token_url=token_url, scope=scope
    )
