"""OpenID Connect for a native app (app.identity.IdentityProvider over httpx + PyJWT).

- Discovery: ``<issuer>/.well-known/openid-configuration``; the document's ``issuer``
  must equal the configured one exactly (OpenID Connect Discovery 1.0 §4.3).
- Authorization code flow with PKCE S256 (RFC 7636) through the system browser, back
  to a loopback redirect ``http://127.0.0.1:<port>/callback`` on an ephemeral port
  (RFC 8252 §7.3; the provider must allow any port for loopback, as §7.3 requires).
  ``state`` guards the redirect; a request with another state (another local program)
  is answered 400 and ignored, so it can neither complete nor cancel the sign-in.
- The ID token is verified against the provider's JWKS: signature (asymmetric
  algorithms only), ``iss``, ``aud`` (and ``azp`` when several), ``exp``/``iat``, and
  the ``nonce`` this sign-in sent. An unknown ``kid`` refetches the JWKS once (key
  rotation). Nothing from an unverified token is used.
- Refresh (rotated refresh tokens are returned to the caller, which saves them before
  use) and revocation (RFC 7009, best effort).

No token, code or claim value is logged; errors carry error codes and exception types.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import secrets
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt

from app.errors import (
    IdentityConfigError,
    IdentityError,
    IdentityUnreachableError,
    IdTokenInvalidError,
    SignInCancelledError,
    SignInRefusedError,
    SignInRequiredError,
)
from app.identity import OpenBrowser, TokenGrant

log = logging.getLogger(__name__)

#: Asymmetric signatures only: "none" and HMAC (keyed with the public client's id
#: or an empty secret) would let anyone mint an ID token.
ALLOWED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "EdDSA",
)
CLOCK_SKEW_S = 120
HTTP_TIMEOUT_S = 15.0
CALLBACK_PATH = "/callback"
_MAX_REQUEST_BYTES = 16 * 1024
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC"}

_DONE_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Clinician Console</title></head>"
    "<body><p>You are signed in. You can close this tab and return to the Clinician "
    "Console.</p></body></html>"
)
_ERROR_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Clinician Console</title></head>"
    "<body><p>Sign-in did not complete. Return to the Clinician Console and try again.</p>"
    "</body></html>"
)


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    revocation_endpoint: str = ""
    end_session_endpoint: str = ""


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) per RFC 7636 §4.1-4.2."""
    verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class LoopbackRedirect:
    """A one-shot HTTP listener on 127.0.0.1 for the authorization response."""

    def __init__(self, state: str, port: int = 0) -> None:
        if not state:
            raise ValueError("a state is required")
        self._port = port
        self._server: asyncio.Server | None = None
        self._result: asyncio.Future[dict[str, str]] | None = None
        self._state = state  # known before the browser opens: it may come back at once

    @property
    def redirect_uri(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}{CALLBACK_PATH}"

    async def __aenter__(self) -> LoopbackRedirect:
        self._result = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self._port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)

    async def wait(self, timeout_s: float) -> dict[str, str]:
        """The query parameters of the redirect that carries our ``state``."""
        assert self._result is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._result), timeout_s)
        except TimeoutError as exc:
            raise SignInCancelledError(reason="the browser did not come back in time") from exc

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
            if len(head) > _MAX_REQUEST_BYTES:
                raise ValueError("request too large")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            parts = urlsplit(target)
            if method != "GET" or parts.path != CALLBACK_PATH:
                await _respond(writer, 404, "Not found")
                return
            params = {k: v[0] for k, v in parse_qs(parts.query).items() if v}
            done = self._result
            if (
                done is None
                or done.done()
                or not secrets.compare_digest(
                    params.get("state", "").encode(), self._state.encode()
                )
            ):
                await _respond(writer, 400, _ERROR_PAGE, html=True)
                return
            ok = "code" in params and "error" not in params
            await _respond(writer, 200, _DONE_PAGE if ok else _ERROR_PAGE, html=True)
            done.set_result(params)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            with contextlib.suppress(Exception):
                await _respond(writer, 400, "Bad request")
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
                await writer.wait_closed()


async def _respond(
    writer: asyncio.StreamWriter, status: int, body: str, *, html: bool = False
) -> None:
    payload = body.encode("utf-8")
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
    kind = "text/html; charset=utf-8" if html else "text/plain; charset=utf-8"
    writer.write(
        (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(payload)}\r\nCache-Control: no-store\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1")
        + payload
    )
    await writer.drain()


class OidcProvider:
    """app.identity.IdentityProvider for one issuer and one (public) client."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        *,
        scopes: tuple[str, ...] = ("openid", "profile", "offline_access"),
        client_secret: str = "",
        verify: ssl.SSLContext | bool = True,
        browser_timeout_s: float = 300.0,
        redirect_port: int = 0,
        clock: Any = time.time,
    ) -> None:
        if not issuer or not client_id:
            raise IdentityConfigError(reason="[identity] issuer and client_id are both needed")
        if "openid" not in scopes:
            scopes = ("openid", *scopes)
        self._issuer = issuer.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret  # some providers (Google) give desktop apps one
        self._scopes = scopes
        self._verify = verify
        self._browser_timeout_s = browser_timeout_s
        self._redirect_port = redirect_port
        self._clock = clock
        self._metadata: ProviderMetadata | None = None
        self._jwks: dict[str, Any] | None = None

    @property
    def issuer(self) -> str:
        return self._issuer

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=HTTP_TIMEOUT_S,
            verify=self._verify,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._client() as http:
                response = await http.get(url)
        except httpx.TransportError as exc:
            raise IdentityUnreachableError(reason=type(exc).__name__) from exc
        if response.status_code != 200:
            # 5xx, or a redirect (a captive portal, a proxy's login page): not the
            # provider. 4xx: the provider answered, so this is no offline situation.
            if response.status_code >= 500 or 300 <= response.status_code < 400:
                raise IdentityUnreachableError(reason=f"HTTP {response.status_code}")
            raise IdentityConfigError(reason=f"the provider answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise IdentityConfigError(reason="the provider's answer is not JSON") from exc
        if not isinstance(data, dict):
            raise IdentityConfigError(reason="the provider's answer is not a JSON object")
        return data

    async def metadata(self) -> ProviderMetadata:
        if self._metadata is not None:
            return self._metadata
        data = await self._get_json(f"{self._issuer}/.well-known/openid-configuration")
        if str(data.get("issuer", "")).rstrip("/") != self._issuer:
            raise IdentityConfigError(reason="the discovery document names another issuer")
        try:
            meta = ProviderMetadata(
                issuer=str(data["issuer"]),
                authorization_endpoint=str(data["authorization_endpoint"]),
                token_endpoint=str(data["token_endpoint"]),
                jwks_uri=str(data["jwks_uri"]),
                revocation_endpoint=str(data.get("revocation_endpoint", "")),
                end_session_endpoint=str(data.get("end_session_endpoint", "")),
            )
        except KeyError as exc:
            raise IdentityConfigError(reason=f"the discovery document lacks {exc.args[0]}") from exc
        methods = data.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise IdentityConfigError(reason="the provider does not support PKCE S256")
        self._metadata = meta
        return meta

    async def reachable(self) -> bool:
        try:
            self._metadata = None  # a fresh request, not the cached document
            await self.metadata()
        except IdentityUnreachableError:
            return False
        except IdentityConfigError:
            return True  # it answered: not an offline situation
        return True

    # -- sign-in ------------------------------------------------------------------------
    async def authorize(self, open_browser: OpenBrowser, *, login_hint: str = "") -> TokenGrant:
        # Discovery afresh at every sign-in: an unreachable provider is found here, at
        # once (the offline PIN is then offered), not after the browser timed out.
        self._metadata = None
        meta = await self.metadata()
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        async with LoopbackRedirect(state, self._redirect_port) as redirect:
            params = {
                "response_type": "code",
                "client_id": self._client_id,
                "redirect_uri": redirect.redirect_uri,
                "scope": " ".join(self._scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
            if login_hint:
                params["login_hint"] = login_hint
            sep = "&" if "?" in meta.authorization_endpoint else "?"
            await open_browser(meta.authorization_endpoint + sep + urlencode(params))
            answer = await redirect.wait(self._browser_timeout_s)
            redirect_uri = redirect.redirect_uri
        if "error" in answer:
            code = answer["error"]
            if code == "access_denied":
                raise SignInCancelledError(reason="access was denied at the sign-in page")
            raise SignInRefusedError(reason=_safe_code(code))
        if answer.get("iss") and answer["iss"].rstrip("/") != self._issuer:
            # RFC 9207: a response from another provider (mix-up attack).
            raise SignInRefusedError(reason="the answer came from another issuer")
        grant = await self._token_request(
            meta,
            {
                "grant_type": "authorization_code",
                "code": answer.get("code", ""),
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
            refused=SignInRefusedError,
        )
        claims = await self.verify_id_token(str(grant.get("id_token", "")), nonce=nonce)
        return self._grant(grant, claims)

    async def refresh(self, refresh_token: str, *, subject: str) -> TokenGrant:
        meta = await self.metadata()
        grant = await self._token_request(
            meta,
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            refused=SignInRequiredError,
        )
        claims: Mapping[str, Any] = {}
        if grant.get("id_token"):
            claims = await self.verify_id_token(str(grant["id_token"]), nonce=None)
            if claims.get("sub") != subject:
                raise IdTokenInvalidError(reason="the refreshed token names another person")
        return self._grant(grant, claims)

    async def revoke(self, refresh_token: str) -> None:
        meta = await self.metadata()
        if not meta.revocation_endpoint:
            return
        data = {"token": refresh_token, "token_type_hint": "refresh_token", **self._client_auth()}
        try:
            async with self._client() as http:
                await http.post(meta.revocation_endpoint, data=data)
        except httpx.TransportError as exc:
            raise IdentityUnreachableError(reason=type(exc).__name__) from exc

    def _client_auth(self) -> dict[str, str]:
        auth = {"client_id": self._client_id}
        if self._client_secret:
            auth["client_secret"] = self._client_secret
        return auth

    async def _token_request(
        self, meta: ProviderMetadata, form: dict[str, str], *, refused: type[IdentityError]
    ) -> dict[str, Any]:
        try:
            async with self._client() as http:
                response = await http.post(
                    meta.token_endpoint, data={**form, **self._client_auth()}
                )
        except httpx.TransportError as exc:
            raise IdentityUnreachableError(reason=type(exc).__name__) from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code >= 500:
            raise IdentityUnreachableError(reason=f"HTTP {response.status_code}")
        if response.status_code != 200 or "access_token" not in body:
            raise refused(reason=_safe_code(str(body.get("error", f"HTTP {response.status_code}"))))
        return body

    def _grant(self, body: Mapping[str, Any], claims: Mapping[str, Any]) -> TokenGrant:
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        return TokenGrant(
            access_token=str(body["access_token"]),
            refresh_token=str(body.get("refresh_token", "")),
            id_token=str(body.get("id_token", "")),
            expires_at=self._clock() + lifetime,
            claims=dict(claims),
        )

    # -- ID token ---------------------------------------------------------------------
    async def _keys(self, *, refetch: bool) -> dict[str, Any]:
        if self._jwks is None or refetch:
            meta = await self.metadata()
            self._jwks = await self._get_json(meta.jwks_uri)
        return self._jwks

    async def verify_id_token(self, token: str, *, nonce: str | None) -> dict[str, Any]:
        """The verified claims, or IdTokenInvalidError (the reason names the check)."""
        if not token:
            raise IdTokenInvalidError(reason="no ID token was returned")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise IdTokenInvalidError(reason="malformed token") from exc
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise IdTokenInvalidError(reason=f"algorithm {_safe_code(str(alg))} not accepted")
        key = await self._signing_key(header.get("kid"), str(alg))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[str(alg)],
                audience=self._client_id,
                issuer=self._issuer,
                leeway=CLOCK_SKEW_S,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise IdTokenInvalidError(reason="expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise IdTokenInvalidError(reason="issued for another client") from exc
        except jwt.InvalidIssuerError as exc:
            raise IdTokenInvalidError(reason="issued by another provider") from exc
        except jwt.InvalidSignatureError as exc:
            raise IdTokenInvalidError(reason="bad signature") from exc
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise IdTokenInvalidError(reason=type(exc).__name__) from exc
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self._client_id:
            raise IdTokenInvalidError(reason="issued for another client")
        if nonce is not None and not secrets.compare_digest(
            str(claims.get("nonce", "")).encode(), nonce.encode()
        ):
            raise IdTokenInvalidError(reason="nonce does not match this sign-in")
        return claims

    async def _signing_key(self, kid: Any, alg: str) -> Any:
        for refetch in (False, True):
            jwks = await self._keys(refetch=refetch)
            try:
                keyset = jwt.PyJWKSet.from_dict(jwks)
            except jwt.PyJWTError as exc:
                raise IdTokenInvalidError(reason="the provider's key set is unusable") from exc
            family = _KEY_TYPES.get(alg[:2], "OKP")
            candidates = [k for k in keyset.keys if kid is None or k.key_id == kid]
            if kid is None and len(candidates) > 1:
                candidates = [k for k in candidates if k.key_type == family]
            if len(candidates) == 1:
                if candidates[0].key_type != family:
                    # A token whose alg does not fit the named key (RS256 over an EC key):
                    # PyJWT would raise TypeError; it is simply not a valid token.
                    raise IdTokenInvalidError(reason="the key does not fit the algorithm")
                return candidates[0].key
            if len(candidates) > 1:
                raise IdTokenInvalidError(reason="the token names no key")
        raise IdTokenInvalidError(reason="signed with an unknown key")


def _safe_code(code: str) -> str:
    """An OAuth error code as shown to the user: its own charset only (RFC 6749 §5.2)."""
    cleaned = "".join(c for c in code[:60] if c.isalnum() or c in "_- ")
    return cleaned or "unknown"
