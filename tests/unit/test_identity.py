"""app/identity.py without servers: profile precedence, the unlock credential, and the
failure paths of refresh and switching (fakes with a failure schedule; the real
provider runs in tests/integration/test_oidc_signin.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from app.credentials import ScryptParams
from app.errors import (
    IdentityUnreachableError,
    SignInRequiredError,
    StoreLockedError,
)
from app.identity import (
    ConfiguredClinician,
    CurrentClinician,
    Identity,
    IdentityCredential,
    Licence,
    OfflineRecord,
    PractitionerInfo,
    ProfileSource,
    StaticClinician,
    TokenGrant,
    resolve_profile,
    switch_clinician,
    valid_jurisdiction,
)
from app.session import LockReason
from tests.conftest import run

CONF = ConfiguredClinician(
    policy_name="Policy Name",
    policy_npi="111",
    policy_licenses=("US-NV",),
    settings_name="Settings Name",
    settings_npi="222",
    settings_licenses=("US-AZ",),
)


def test_profile_parts_come_from_the_first_source_that_has_them() -> None:
    token_only_name = resolve_profile(subject="s", claims={"name": "Token Name"}, configured=CONF)
    assert token_only_name.name == "Token Name"
    assert token_only_name.name_source is ProfileSource.TOKEN
    # No licences in the token: the policy's, never the settings' (the policy wins).
    assert token_only_name.licensed_in() == ("US-NV",)
    assert token_only_name.licence_source is ProfileSource.POLICY
    assert token_only_name.identifier == "111"

    practitioner = PractitionerInfo(
        reference="Practitioner/p1",
        name="Store Name",
        identifier="333",
        identifier_system="http://hl7.org/fhir/sid/us-npi",
        licences=(Licence("US-CA", "A123", "2027-01-31"),),
    )
    from_store = resolve_profile(subject="s", claims={}, practitioner=practitioner, configured=CONF)
    assert (from_store.name, from_store.identifier, from_store.licensed_in()) == (
        "Store Name",
        "333",
        ("US-CA",),
    )
    assert from_store.practitioner == "Practitioner/p1"
    assert from_store.licence_source is ProfileSource.RECORD_STORE

    only_settings = resolve_profile(
        configured=ConfiguredClinician(settings_name="S", settings_licenses=("us-wa", "nonsense"))
    )
    assert only_settings.licensed_in() == ("US-WA",)
    assert only_settings.name_source is ProfileSource.SETTINGS


def test_token_licences_may_be_objects_and_bad_codes_are_dropped() -> None:
    who = resolve_profile(
        subject="s",
        claims={
            "licenses": [{"jurisdiction": "US-CA", "number": "A1"}, "US-OR", "California", 7],
            "fhirUser": "https://fhir.example.org/fhir/Practitioner/abc",
        },
    )
    assert who.licences == (Licence("US-CA", "A1"), Licence("US-OR"))
    assert who.practitioner == "Practitioner/abc"


@pytest.mark.parametrize(
    ("code", "ok"),
    [("US-CA", True), ("GB", True), ("ES-M", True), ("USA", False), ("U1-CA", False), ("", False)],
)
def test_jurisdictions_are_iso_3166_shaped(code: str, ok: bool) -> None:
    assert valid_jurisdiction(code) is ok


def test_without_identity_provider_the_clinician_comes_from_policy_and_os_account() -> None:
    port: CurrentClinician = StaticClinician(CONF, actor="nurse01")
    who = port.current_clinician()
    assert who is not None
    assert (who.name, who.licensed_in(), who.audit_actor) == ("Policy Name", ("US-NV",), "nurse01")


# -- fakes -------------------------------------------------------------------------
class FakeProvider:
    issuer = "https://idp.example.org"

    def __init__(self) -> None:
        self.refresh_error: Exception | None = None
        self.revoke_error: Exception | None = None
        self.revoked: list[str] = []
        self.online = True
        self.n = 0

    def _grant(self, sub: str) -> TokenGrant:
        self.n += 1
        claims = {"sub": sub, "name": "Dr A", "preferred_username": "a"}
        return TokenGrant(f"at{self.n}", f"rt{self.n}", "id", 1000.0 + self.n, claims)

    async def authorize(self, open_browser: Any, *, login_hint: str = "") -> TokenGrant:
        await open_browser("https://idp.example.org/authorize")
        return self._grant("sub-a")

    async def refresh(self, refresh_token: str, *, subject: str) -> TokenGrant:
        if self.refresh_error is not None:
            raise self.refresh_error
        grant = self._grant(subject)
        return TokenGrant(grant.access_token, grant.refresh_token, "", grant.expires_at, {})

    async def revoke(self, refresh_token: str) -> None:
        if self.revoke_error is not None:
            raise self.revoke_error
        self.revoked.append(refresh_token)

    async def reachable(self) -> bool:
        return self.online


class FakeVault:
    def __init__(self) -> None:
        self.grants: dict[str, TokenGrant] = {}
        self.fail_save = False

    def load(self, subject: str) -> TokenGrant | None:
        return self.grants.get(subject)

    def save(self, subject: str, grant: TokenGrant) -> None:
        if self.fail_save:
            raise OSError("keyring write failed")
        self.grants[subject] = grant

    def forget(self, subject: str) -> None:
        self.grants.pop(subject, None)


class FakeRecords:
    def __init__(self) -> None:
        self.records: dict[str, OfflineRecord] = {}

    def load(self, login: str) -> OfflineRecord | None:
        return self.records.get(login)

    def save(self, record: OfflineRecord) -> None:
        self.records[record.login] = record

    def logins(self) -> list[str]:
        return list(self.records)


async def _browser(url: str) -> None:
    return None


def _identity() -> tuple[Identity, FakeProvider, FakeVault]:
    provider, vault = FakeProvider(), FakeVault()
    identity = Identity(
        provider, vault, FakeRecords(), clock=lambda: 1000.0, pin_params=ScryptParams(n=2**10)
    )
    return identity, provider, vault


def test_offline_refresh_changes_nothing_and_refused_refresh_forgets() -> None:
    identity, provider, vault = _identity()

    async def scenario() -> None:
        await identity.sign_in(_browser)
        provider.refresh_error = IdentityUnreachableError(reason="offline")
        with pytest.raises(IdentityUnreachableError):
            await identity.refresh(force=True)
        assert identity.access_token == "at1" and vault.load("sub-a") is not None
        provider.refresh_error = SignInRequiredError(reason="invalid_grant")
        with pytest.raises(SignInRequiredError):
            await identity.refresh(force=True)
        assert identity.access_token == "" and vault.load("sub-a") is None

    run(scenario())


def test_a_failed_keyring_write_after_rotation_keeps_the_new_tokens_in_memory() -> None:
    identity, _provider, vault = _identity()

    async def scenario() -> None:
        await identity.sign_in(_browser)
        vault.fail_save = True
        with pytest.raises(OSError):
            await identity.refresh(force=True)
        # The provider rotated: the old refresh token is spent, the new one is used.
        assert identity.access_token == "at2"

    run(scenario())


def test_sign_in_that_cannot_keep_its_tokens_signs_nobody_in() -> None:
    identity, _provider, vault = _identity()
    vault.fail_save = True

    async def scenario() -> None:
        with pytest.raises(OSError):
            await identity.sign_in(_browser)

    run(scenario())
    assert identity.current_clinician() is None
    assert not identity.take_fresh_sign_in()


def test_unlock_credential_is_one_sign_in_per_lock() -> None:
    identity, _provider, _vault = _identity()
    credential = IdentityCredential(identity)

    async def scenario() -> None:
        with pytest.raises(SignInRequiredError):
            await credential.verify(None)
        await identity.sign_in(_browser)
        await credential.verify(None)
        with pytest.raises(SignInRequiredError):
            await credential.verify(None)  # spent
        await identity.sign_in(_browser)
        identity.mark_locked()  # a lock after the sign-in spends it too
        with pytest.raises(SignInRequiredError):
            await credential.verify(None)

    run(scenario())


class LockingSession:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.reasons: list[Any] = []

    async def lock(self, reason: Any) -> None:
        self.reasons.append(reason)
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize("lock_error", [None, StoreLockedError()])
@pytest.mark.parametrize("revoke_error", [None, IdentityUnreachableError(reason="offline")])
def test_switch_clinician_always_signs_out_and_forgets_tokens(
    lock_error: Exception | None, revoke_error: Exception | None
) -> None:
    identity, provider, vault = _identity()
    provider.revoke_error = revoke_error
    session = LockingSession(lock_error)
    left: list[Mapping[str, Any]] = []
    identity.clinician_did_sign_out.connect(lambda who: left.append(who.to_json()))

    async def scenario() -> None:
        await identity.sign_in(_browser)
        if lock_error is None:
            await switch_clinician(session, identity, LockReason.SWITCH)
        else:
            with pytest.raises(type(lock_error)):
                await switch_clinician(session, identity, LockReason.SWITCH)

    run(scenario())
    assert session.reasons == [LockReason.SWITCH]
    assert identity.current_clinician() is None
    assert vault.grants == {}
    assert [who["subject"] for who in left] == ["sub-a"]
    assert provider.revoked == ([] if revoke_error else ["rt1"])


class BrokenDirectory:
    async def find(self, *, subject: str, identifier: str, fhir_user: str) -> Any:
        raise OSError("record store down")


def test_a_failing_record_store_does_not_stop_sign_in() -> None:
    provider, vault = FakeProvider(), FakeVault()
    identity = Identity(
        provider, vault, FakeRecords(), directory=BrokenDirectory(), configured=CONF
    )

    async def scenario() -> None:
        result = await identity.sign_in(_browser)
        assert result.clinician.name == "Dr A"  # from the token
        assert result.clinician.licensed_in() == ("US-NV",)  # from the policy

    run(scenario())


def test_hostile_claims_make_a_single_line_bounded_audit_actor() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    @given(st.text(max_size=400), st.text(max_size=400))
    def check(login: str, subject: str) -> None:
        who = resolve_profile(subject=subject, claims={"preferred_username": login})
        actor = who.audit_actor
        assert actor and actor.isprintable() and len(actor) <= 2 * 120 + 3
        assert "\x1f" not in actor and "\n" not in actor

    check()
    many = resolve_profile(subject="s", claims={"licenses": [f"US-{i:03d}" for i in range(999)]})
    assert len(many.licences) == 100
    same = resolve_profile(
        subject="s", claims={"licenses": ["US-CA", "us-ca", {"jurisdiction": "US-CA"}]}
    )
    assert same.licences == (Licence("US-CA"),)


def test_only_clinicians_with_an_offline_pin_are_offered_offline() -> None:
    identity, _provider, _vault = _identity()

    async def scenario() -> None:
        await identity.sign_in(_browser)
        assert identity.known_logins() == []  # signed in, but no offline PIN yet
        await identity.choose_offline_pin("583920")
        assert identity.known_logins() == ["a"]

    run(scenario())
