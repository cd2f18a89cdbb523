"""Clinician sign-in against a REAL OpenID provider (npm oidc-provider, started here).

Real parts: the provider (Node, tests/integration/oidc/server.mjs), the console's
loopback redirect listener, PKCE, ID token verification against the provider's JWKS,
the OS keyring (Secret Service on a private D-Bus session) for tokens and offline
records, and an encrypted store for the audit actor. The only stand-in is the system
browser: :class:`FormBrowser` fills in the provider's HTML forms over HTTP, as a
person would in a browser, and follows the redirect back to the console.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.credentials import ScryptParams
from app.errors import (
    IdTokenInvalidError,
    OfflineEntryRefusedError,
    SignInCancelledError,
    SignInRequiredError,
    StoreLockedError,
    WrongOfflinePinError,
)
from app.identity import (
    ConfiguredClinician,
    Identity,
    IdentityCredential,
    IdentityPolicy,
    SignInMode,
    bind_session,
    switch_clinician,
)
from app.session import LockReason, Session
from storage.identity.oidc import OidcProvider
from storage.identity.vault import KeyringOfflineRecords, KeyringTokenVault
from storage.store import EncryptedStore
from tests.conftest import run
from tests.integration.oidc_provider import (
    CLIENT_ID,
    FormBrowser,
    OidcProviderUnavailableError,
    OidcTestProvider,
    account,
    ensure_oidc_install,
    native_client,
)

pytestmark = [pytest.mark.integration, pytest.mark.keyring]

ALICE = account(
    "alice",
    "alice-pw-1",
    "sub-alice-7f3",
    name="Dr Alice Ames",
    npi="1234567893",
    licenses=["US-CA", "US-OR"],
)
BOB = account("bob", "bob-pw-2", "sub-bob-11a", name="Dr Bob Baker", licenses=["US-WA"])
FAST_PIN = ScryptParams(n=2**10)  # the tests check the flow, not scrypt's cost


@pytest.fixture(scope="module")
def oidc_install() -> Path:
    try:
        return ensure_oidc_install()
    except OidcProviderUnavailableError as exc:
        pytest.fail(f"the OpenID test provider is not available: {exc}", pytrace=False)


@pytest.fixture
def idp_factory(oidc_install: Path, tmp_path: Path) -> Iterator[Callable[..., OidcTestProvider]]:
    started: list[OidcTestProvider] = []

    def start(**kwargs: Any) -> OidcTestProvider:
        kwargs.setdefault("accounts", {"alice": ALICE, "bob": BOB})
        idp = OidcTestProvider(oidc_install, tmp_path / f"idp{len(started)}", **kwargs)
        started.append(idp)
        try:
            idp.start()
        except OidcProviderUnavailableError as exc:
            pytest.fail(str(exc), pytrace=False)
        return idp

    yield start
    for idp in started:
        idp.stop()


@pytest.fixture
def idp(idp_factory: Callable[..., OidcTestProvider]) -> OidcTestProvider:
    return idp_factory()


def _identity(
    idp: OidcTestProvider,
    *,
    client_id: str = CLIENT_ID,
    clock: Callable[[], float] | None = None,
    policy: IdentityPolicy | None = None,
    timeout_s: float = 20.0,
) -> tuple[Identity, OidcProvider, KeyringTokenVault, KeyringOfflineRecords]:
    provider = OidcProvider(
        idp.issuer,
        client_id,
        scopes=("openid", "profile", "offline_access", "clinician"),
        browser_timeout_s=timeout_s,
    )
    vault = KeyringTokenVault(idp.issuer)
    records = KeyringOfflineRecords(idp.issuer)
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    identity = Identity(
        provider,
        vault,
        records,
        policy=policy or IdentityPolicy(offline_days=3),
        configured=ConfiguredClinician(policy_licenses=("US-NV",)),
        pin_params=FAST_PIN,
        **extra,
    )
    return identity, provider, vault, records


def _claims(jwt_token: str) -> dict[str, Any]:
    payload = jwt_token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_sign_in_with_pkce_through_the_browser_and_loopback(
    idp: OidcTestProvider, real_keyring: str
) -> None:
    identity, _provider, vault, _records = _identity(idp)
    browser = FormBrowser("alice", "alice-pw-1")

    async def scenario() -> None:
        try:
            result = await identity.sign_in(browser)
        finally:
            await browser.aclose()
        assert result.mode is SignInMode.ONLINE
        assert result.needs_offline_pin
        who = identity.current_clinician()
        assert who is not None
        assert (who.name, who.identifier, who.licensed_in()) == (
            "Dr Alice Ames",
            "1234567893",
            ("US-CA", "US-OR"),  # the token's licences win over the policy's US-NV
        )
        assert who.audit_actor == "alice [sub-alice-7f3]"
        stored = vault.load("sub-alice-7f3")
        assert stored is not None and stored.refresh_token and stored.access_token
        assert _claims(stored.id_token)["sub"] == "sub-alice-7f3"

    run(scenario())
    query = parse_qs(urlsplit(browser.opened[0]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    redirect = urlsplit(query["redirect_uri"][0])
    assert (redirect.scheme, redirect.hostname, redirect.path) == ("http", "127.0.0.1", "/callback")
    assert redirect.port and redirect.port > 0
    # The person saw the provider's own login page, then was sent back to the console.
    assert browser.pages[-1][0].startswith(f"http://127.0.0.1:{redirect.port}/callback")
    assert browser.pages[-1][1] == 200


def test_a_wrong_password_signs_nobody_in(idp: OidcTestProvider, real_keyring: str) -> None:
    identity, _provider, vault, _records = _identity(idp, timeout_s=2.0)
    browser = FormBrowser("alice", "not-her-password")

    async def scenario() -> None:
        try:
            with pytest.raises(SignInCancelledError):
                await identity.sign_in(browser)
        finally:
            await browser.aclose()

    run(scenario())
    assert any(status == 401 for _url, status in browser.pages)
    assert identity.current_clinician() is None
    assert vault.load("sub-alice-7f3") is None


def test_denied_consent_is_a_cancelled_sign_in(idp: OidcTestProvider, real_keyring: str) -> None:
    identity, _provider, _vault, _records = _identity(idp)
    browser = FormBrowser("bob", "bob-pw-2", consent=False)

    async def scenario() -> None:
        try:
            with pytest.raises(SignInCancelledError):
                await identity.sign_in(browser)
        finally:
            await browser.aclose()

    run(scenario())
    assert identity.current_clinician() is None


def test_a_forged_redirect_with_another_state_is_ignored(
    idp: OidcTestProvider, real_keyring: str
) -> None:
    """Another local program that finds the loopback port cannot finish the sign-in
    with its own code, nor cancel it: it gets 400 and the real redirect still works."""
    identity, _provider, _vault, _records = _identity(idp)
    browser = FormBrowser("alice", "alice-pw-1")
    forged: list[int] = []

    async def hostile_then_real(url: str) -> None:
        redirect_uri = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        async with httpx.AsyncClient() as http:
            reply = await http.get(redirect_uri, params={"code": "attacker", "state": "guess"})
            forged.append(reply.status_code)
            reply = await http.get(redirect_uri, params={"error": "access_denied", "state": "x"})
            forged.append(reply.status_code)
        await browser(url)

    async def scenario() -> None:
        try:
            await identity.sign_in(hostile_then_real)
        finally:
            await browser.aclose()

    run(scenario())
    assert forged == [400, 400]
    who = identity.current_clinician()
    assert who is not None and who.subject == "sub-alice-7f3"


def test_refresh_rotates_the_refresh_token_and_keeps_the_new_one(
    idp: OidcTestProvider, real_keyring: str
) -> None:
    identity, provider, vault, _records = _identity(idp)
    browser = FormBrowser("alice", "alice-pw-1")

    async def scenario() -> None:
        try:
            await identity.sign_in(browser)
        finally:
            await browser.aclose()
        before = vault.load("sub-alice-7f3")
        assert before is not None
        assert await identity.refresh() is False  # not due yet: nothing sent
        assert await identity.refresh(force=True) is True
        after = vault.load("sub-alice-7f3")
        assert after is not None
        assert after.refresh_token != before.refresh_token
        assert after.access_token == identity.access_token != before.access_token
        # The spent refresh token is refused by the provider (rotation): keeping the
        # old one after a refresh would end the clinician's session at the next refresh.
        with pytest.raises(SignInRequiredError):
            await provider.refresh(before.refresh_token, subject="sub-alice-7f3")

    run(scenario())


def test_a_refused_refresh_forgets_the_tokens(
    idp_factory: Callable[..., OidcTestProvider], real_keyring: str
) -> None:
    idp = idp_factory(ttl={"RefreshToken": 1})
    identity, _provider, vault, _records = _identity(idp)
    browser = FormBrowser("bob", "bob-pw-2")

    async def scenario() -> None:
        try:
            await identity.sign_in(browser)
        finally:
            await browser.aclose()
        # Wait (a condition, with a deadline) until the provider refuses the token.
        for _ in range(100):
            try:
                await identity.refresh(force=True)
            except SignInRequiredError:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the refresh token never expired")

    run(scenario())
    assert vault.load("sub-bob-11a") is None
    assert identity.access_token == ""


def test_an_id_token_is_checked_for_client_nonce_and_signature(
    idp_factory: Callable[..., OidcTestProvider], real_keyring: str
) -> None:
    idp = idp_factory(clients=[native_client(), native_client("other-app")])
    other, other_provider, other_vault, _ = _identity(idp, client_id="other-app")
    _identity_ours, ours, _vault, _records = _identity(idp)
    browser = FormBrowser("alice", "alice-pw-1")

    async def scenario() -> None:
        try:
            await other.sign_in(browser)
        finally:
            await browser.aclose()
        grant = other_vault.load("sub-alice-7f3")
        assert grant is not None
        nonce = str(_claims(grant.id_token)["nonce"])
        # Its own client accepts it with the nonce it sent ...
        await other_provider.verify_id_token(grant.id_token, nonce=nonce)
        # ... ours does not: it was issued for another client.
        with pytest.raises(IdTokenInvalidError, match="another client"):
            await ours.verify_id_token(grant.id_token, nonce=nonce)
        with pytest.raises(IdTokenInvalidError, match="nonce"):
            await other_provider.verify_id_token(grant.id_token, nonce="another-sign-in")
        header, payload, signature = grant.id_token.split(".")
        claims = _claims(grant.id_token) | {"sub": "sub-bob-11a"}
        forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
        forged = ".".join((header, forged_payload.decode(), signature))
        with pytest.raises(IdTokenInvalidError, match="signature"):
            await other_provider.verify_id_token(forged, nonce=nonce)
        unsigned = ".".join(
            (base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode(), payload, "")
        )
        with pytest.raises(IdTokenInvalidError, match="algorithm"):
            await other_provider.verify_id_token(unsigned, nonce=nonce)

    run(scenario())


class _RecordingSession:
    def __init__(self, fail: bool = False) -> None:
        self.locks: list[Any] = []
        self.fail = fail

    async def lock(self, reason: Any) -> None:
        self.locks.append(reason)
        if self.fail:
            raise RuntimeError("lock step failed")


def test_switch_clinician_locks_then_forgets_and_revokes_the_tokens(
    idp: OidcTestProvider, real_keyring: str
) -> None:
    identity, provider, vault, _records = _identity(idp)
    browser = FormBrowser("alice", "alice-pw-1")
    session = _RecordingSession(fail=True)  # even a failing lock sequence signs her out

    async def scenario() -> None:
        try:
            await identity.sign_in(browser)
        finally:
            await browser.aclose()
        grant = vault.load("sub-alice-7f3")
        assert grant is not None
        with pytest.raises(RuntimeError):
            await switch_clinician(session, identity, LockReason.SWITCH)
        assert session.locks == [LockReason.SWITCH]
        assert identity.current_clinician() is None
        assert vault.load("sub-alice-7f3") is None
        with pytest.raises(SignInRequiredError):  # revoked at the provider too
            await provider.refresh(grant.refresh_token, subject="sub-alice-7f3")
        # The next person signs in on the same console.
        bob = FormBrowser("bob", "bob-pw-2")
        try:
            await identity.sign_in(bob)
        finally:
            await bob.aclose()
        who = identity.current_clinician()
        assert who is not None and who.name == "Dr Bob Baker"

    run(scenario())


def test_offline_reentry_with_the_clinicians_own_pin_while_the_provider_is_down(
    idp: OidcTestProvider, real_keyring: str
) -> None:
    now = [1_800_000_000.0]
    identity, _provider, _vault, records = _identity(idp, clock=lambda: now[0])
    browser = FormBrowser("alice", "alice-pw-1")

    async def scenario() -> None:
        try:
            await identity.sign_in(browser)
        finally:
            await browser.aclose()
        await identity.choose_offline_pin("482916")
        await identity.sign_out()
        # Online, the PIN is not a way in: the clinician signs in with the provider.
        with pytest.raises(OfflineEntryRefusedError, match="reachable"):
            await identity.enter_offline("alice", "482916")
        idp.stop()
        with pytest.raises(WrongOfflinePinError):
            await identity.enter_offline("alice", "111111")
        record = records.load("alice")
        assert record is not None and record.pin is not None and record.pin.failures == 1
        with pytest.raises(OfflineEntryRefusedError, match="no offline PIN"):
            await identity.enter_offline("bob", "482916")
        now[0] += 2 * 86_400  # two days later, still within the policy's three
        result = await identity.enter_offline("ALICE", "482916")
        assert result.mode is SignInMode.OFFLINE
        who = identity.current_clinician()
        assert who is not None and who.name == "Dr Alice Ames"
        assert who.licensed_in() == ("US-CA", "US-OR")
        await identity.sign_out()
        now[0] += 2 * 86_400  # four days after the last online sign-in: over
        with pytest.raises(OfflineEntryRefusedError, match="period"):
            await identity.enter_offline("alice", "482916")
        now[0] = 1_800_000_000.0 - 3600  # a clock set back before the sign-in
        with pytest.raises(OfflineEntryRefusedError, match="period"):
            await identity.enter_offline("alice", "482916")

    run(scenario())
    assert identity.known_logins() == ["alice"]


def test_offline_reentry_is_off_when_the_policy_says_zero_days(
    idp: OidcTestProvider, real_keyring: str
) -> None:
    identity, _provider, _vault, _records = _identity(idp, policy=IdentityPolicy(offline_days=0))
    browser = FormBrowser("alice", "alice-pw-1")

    async def scenario() -> None:
        try:
            await identity.sign_in(browser)
        finally:
            await browser.aclose()
        await identity.choose_offline_pin("482916")
        await identity.sign_out()
        idp.stop()
        with pytest.raises(OfflineEntryRefusedError, match="organisation"):
            await identity.enter_offline("alice", "482916")

    run(scenario())


def test_unlock_needs_a_sign_in_and_the_audit_names_the_clinician(
    idp: OidcTestProvider, real_keyring: str, fresh_profile: Path
) -> None:
    identity, _provider, _vault, _records = _identity(idp)

    async def scenario() -> None:
        store = await EncryptedStore.open(fresh_profile)
        identity.clinician_did_sign_in.connect(
            lambda result: store.set_actor(result.clinician.audit_actor)
        )
        session = Session(store, IdentityCredential(identity))
        bind_session(session, identity, store.record_event)
        try:
            await session.lock(LockReason.USER)
            with pytest.raises(SignInRequiredError):
                await session.unlock(None)  # nobody signed in: stays locked
            assert session.locked
            with pytest.raises(StoreLockedError):
                await store.audit_entries()
            browser = FormBrowser("bob", "bob-pw-2")
            try:
                await identity.sign_in(browser)
            finally:
                await browser.aclose()
            await session.unlock(None)
            assert not session.locked
            for _ in range(200):  # the sign-in's own entry is written just after the unlock
                entries = await store.audit_entries()
                if entries[-1].action == "sign_in_online":
                    break
                await asyncio.sleep(0.01)
            assert [(e.action, e.actor) for e in entries[-2:]] == [
                ("unlock", "bob [sub-bob-11a]"),
                ("sign_in_online", "bob [sub-bob-11a]"),
            ]
            assert entries[-1].entity_id == "sub-bob-11a"
            # One sign-in opens the console once: the next lock needs another.
            await switch_clinician(session, identity, LockReason.SWITCH)
            with pytest.raises(SignInRequiredError):
                await session.unlock(None)
        finally:
            await store.close()

    run(scenario())
