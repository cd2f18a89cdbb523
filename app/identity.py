"""Who is using the console (issue 13): clinician sign-in, offline re-entry, switching.

When IT configures an identity provider (``[identity] issuer``), a clinician signs in
with OpenID Connect (authorization code + PKCE through the system browser and a
loopback redirect, RFC 8252); otherwise the console PIN of app/credentials.py stays
the credential and the clinician's profile comes from policy or settings.

The port other areas read is small and lives in app/clinician.py (re-exported here):
:class:`ClinicianProfile` and :class:`CurrentClinician`. :class:`Identity` implements
``CurrentClinician`` with sign-in; the composition root hands it (or, without an
identity provider, a ``StaticClinician``) to the notes and coding use cases.

Ports this module needs (storage/identity/ implements them): :class:`IdentityProvider`
(the OpenID provider), :class:`TokenVault` (tokens in the OS keyring),
:class:`OfflineRecords` (per clinician offline PIN hash and last online sign-in) and,
optionally, :class:`PractitionerDirectory` (the record store's Practitioner and
PractitionerRole).

Sequences that guard access (STYLE.md §2b) are methods here, never in a widget:
:meth:`Identity.sign_in`, :meth:`Identity.enter_offline`, :meth:`Identity.refresh`
and :func:`switch_clinician` (the console is locked first, in a ``finally`` the
departing clinician's tokens are forgotten).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from psygnal import Signal

# The profile and the port other areas read live in app/clinician.py; re-exported here
# so ``from app.identity import CurrentClinician`` works too.
from app.clinician import (
    NPI_SYSTEM,
    Clinician,
    ClinicianProfile,
    ConfiguredClinician,
    CurrentClinician,
    Licence,
    PractitionerInfo,
    ProfileSource,
    StaticClinician,
    jurisdictions,
    resolve_profile,
    valid_jurisdiction,
)
from app.credentials import (
    CredentialKind,
    CredentialRecord,
    Credentials,
    ScryptParams,
)
from app.errors import (
    ConsoleError,
    IdentityError,
    OfflineEntryRefusedError,
    SignInRequiredError,
    WrongCredentialError,
    WrongOfflinePinError,
)

__all__ = [
    "NPI_SYSTEM",
    "Clinician",
    "ClinicianProfile",
    "ConfiguredClinician",
    "CurrentClinician",
    "Identity",
    "IdentityCredential",
    "IdentityPolicy",
    "IdentityProvider",
    "Licence",
    "OfflineRecord",
    "OfflineRecords",
    "OpenBrowser",
    "PractitionerDirectory",
    "PractitionerInfo",
    "ProfileSource",
    "SignInMode",
    "SignInResult",
    "StaticClinician",
    "TokenGrant",
    "TokenVault",
    "bind_session",
    "jurisdictions",
    "resolve_profile",
    "switch_clinician",
    "valid_jurisdiction",
]

log = logging.getLogger(__name__)

#: Refresh the access token this long before it expires.
REFRESH_MARGIN_S = 60.0


# -- ports: what storage/identity implements --------------------------------------
@dataclass(frozen=True)
class TokenGrant:
    """What a sign-in or refresh returned; ``claims`` come from a *verified* ID token."""

    access_token: str
    refresh_token: str
    id_token: str
    expires_at: float  # seconds since the epoch
    claims: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never tokens in logs or tracebacks
        return f"TokenGrant(sub={self.claims.get('sub')!r}, expires_at={self.expires_at:.0f})"


OpenBrowser = Callable[[str], Awaitable[None]]


class IdentityProvider(Protocol):
    @property
    def issuer(self) -> str: ...

    async def authorize(self, open_browser: OpenBrowser, *, login_hint: str = "") -> TokenGrant:
        """The whole browser sign-in; raises IdentityUnreachableError, SignInCancelledError,
        SignInRefusedError or IdTokenInvalidError."""
        ...

    async def refresh(self, refresh_token: str, *, subject: str) -> TokenGrant:
        """New tokens; SignInRequiredError when refused, IdentityUnreachableError offline."""
        ...

    async def revoke(self, refresh_token: str) -> None: ...

    async def reachable(self) -> bool: ...


class TokenVault(Protocol):
    """Tokens per clinician in the OS keyring."""

    def load(self, subject: str) -> TokenGrant | None: ...

    def save(self, subject: str, grant: TokenGrant) -> None: ...

    def forget(self, subject: str) -> None: ...


@dataclass(frozen=True)
class OfflineRecord:
    """One clinician's offline re-entry: the PIN's hash, their profile, the last online
    sign-in. Kept per login (what the clinician types on the offline screen)."""

    login: str
    clinician: Clinician
    online_at: float  # the last online sign-in, seconds since the epoch
    pin: CredentialRecord | None = None  # None until the clinician chose one

    def __repr__(self) -> str:
        return f"OfflineRecord(login={self.login!r}, online_at={self.online_at:.0f})"


class OfflineRecords(Protocol):
    def load(self, login: str) -> OfflineRecord | None: ...

    def save(self, record: OfflineRecord) -> None: ...

    def logins(self) -> list[str]: ...


class PractitionerDirectory(Protocol):
    async def find(
        self, *, subject: str, identifier: str, fhir_user: str
    ) -> PractitionerInfo | None:
        """The Practitioner (with its roles' licences), None when the store has none."""
        ...


@dataclass(frozen=True)
class IdentityPolicy:
    """``[identity]`` as the use case needs it."""

    offline_days: int = 3
    identifier_claim: str = "npi"
    identifier_system: str = NPI_SYSTEM
    licenses_claim: str = "licenses"


class SignInMode(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True)
class SignInResult:
    clinician: Clinician
    mode: SignInMode
    needs_offline_pin: bool  # online sign-in and no offline PIN yet: offer to choose one


def _login_key(login: str) -> str:
    return login.strip().casefold()


class _PinFile:
    """app.credentials.CredentialFile over one clinician's offline record, so the PIN
    is hashed, checked and throttled exactly like the console PIN."""

    def __init__(self, records: OfflineRecords, record: OfflineRecord) -> None:
        self._records = records
        self._record = record

    def load(self) -> CredentialRecord | None:
        return self._record.pin

    def save(self, pin: CredentialRecord) -> None:
        self._record = replace(self._record, pin=pin)
        self._records.save(self._record)


class Identity:
    """Clinician sign-in use case (implements :class:`CurrentClinician`)."""

    clinician_did_sign_in = Signal(object)  # SignInResult
    clinician_did_sign_out = Signal(object)  # the Clinician who left

    def __init__(
        self,
        provider: IdentityProvider,
        vault: TokenVault,
        offline: OfflineRecords,
        *,
        policy: IdentityPolicy | None = None,
        configured: ConfiguredClinician | None = None,
        directory: PractitionerDirectory | None = None,
        clock: Callable[[], float] = time.time,
        pin_params: ScryptParams | None = None,
    ) -> None:
        self._provider = provider
        self._vault = vault
        self._offline = offline
        self._policy = policy or IdentityPolicy()
        self._configured = configured or ConfiguredClinician()
        self._directory = directory
        self._clock = clock
        self._pin_params = pin_params
        self._current: Clinician | None = None
        self._grant: TokenGrant | None = None
        self._fresh = False  # a sign-in happened since the last lock (see IdentityCredential)
        self._refresh_lock = asyncio.Lock()

    # -- the port --------------------------------------------------------------------
    def current_clinician(self) -> Clinician | None:
        return self._current

    @property
    def access_token(self) -> str:
        """The signed-in clinician's access token ("" offline or signed out)."""
        return self._grant.access_token if self._grant is not None else ""

    def known_logins(self) -> list[str]:
        """Logins that may re-enter offline on this computer (the offline screen's list):
        those who chose an offline PIN here."""
        known: list[str] = []
        for login in self._offline.logins():
            try:
                record = self._offline.load(login)
            except ConsoleError:  # a damaged entry: not offered, reported when typed
                continue
            if record is not None and record.pin is not None:
                known.append(login)
        return known

    # -- online ------------------------------------------------------------------------
    async def sign_in(self, open_browser: OpenBrowser, *, login_hint: str = "") -> SignInResult:
        """Sign in through the system browser; the tokens are in the keyring before the
        clinician counts as signed in (a crash in between leaves nobody signed in)."""
        grant = await self._provider.authorize(open_browser, login_hint=login_hint)
        subject = str(grant.claims.get("sub", ""))
        if not subject:
            raise SignInRequiredError(reason="the ID token names no subject")
        clinician = await self._profile(subject, grant.claims)
        self._vault.save(subject, grant)
        previous = self._current
        if previous is not None and previous.subject != subject:
            await self._forget(previous)  # another person took over the locked console
        record = self._offline_record(clinician)
        self._offline.save(record)
        self._current, self._grant, self._fresh = clinician, grant, True
        result = SignInResult(clinician, SignInMode.ONLINE, needs_offline_pin=record.pin is None)
        log.info("Clinician signed in online")
        self.clinician_did_sign_in.emit(result)
        return result

    def _offline_record(self, clinician: Clinician) -> OfflineRecord:
        login = _login_key(clinician.login or clinician.subject)
        existing = self._offline.load(login)
        if existing is not None and existing.clinician.subject != clinician.subject:
            # The same login now belongs to another account at the provider: the old
            # PIN must not open the new person's session.
            existing = None
        pin = existing.pin if existing is not None else None
        return OfflineRecord(login=login, clinician=clinician, online_at=self._clock(), pin=pin)

    async def _profile(self, subject: str, claims: Mapping[str, Any]) -> Clinician:
        info: PractitionerInfo | None = None
        if self._directory is not None:
            try:
                info = await self._directory.find(
                    subject=subject,
                    identifier=str(claims.get(self._policy.identifier_claim) or ""),
                    fhir_user=str(claims.get("fhirUser") or ""),
                )
            except Exception as exc:  # the record store is optional for sign-in
                log.warning("Practitioner lookup failed (%s)", type(exc).__name__)
        return resolve_profile(
            subject=subject,
            issuer=self._provider.issuer,
            claims=claims,
            practitioner=info,
            configured=self._configured,
            identifier_claim=self._policy.identifier_claim,
            identifier_system=self._policy.identifier_system,
            licenses_claim=self._policy.licenses_claim,
        )

    async def choose_offline_pin(self, pin: str) -> None:
        """The signed-in clinician's own offline PIN (only after an online sign-in)."""
        clinician = self._current
        if clinician is None or self._grant is None:
            raise SignInRequiredError(reason="an offline PIN is chosen after signing in online")
        record = self._offline.load(_login_key(clinician.login or clinician.subject))
        if record is None or record.clinician.subject != clinician.subject:
            raise SignInRequiredError(reason="sign in online first")
        # A new PIN replaces the old one (they were just authenticated online).
        record = replace(record, pin=None)
        creds = Credentials(
            _PinFile(self._offline, record), params=self._pin_params, clock=self._clock
        )
        await creds.choose(CredentialKind.PIN, pin)

    async def refresh(self, *, force: bool = False) -> bool:
        """Refresh the access token while online (before it expires, or now with
        ``force``). True when new tokens were taken. Offline (IdentityUnreachableError)
        nothing changes; a refused refresh raises SignInRequiredError and forgets them."""
        async with self._refresh_lock:
            grant, clinician = self._grant, self._current
            if grant is None or clinician is None:
                raise SignInRequiredError(reason="nobody is signed in online")
            if not force and grant.expires_at - self._clock() > REFRESH_MARGIN_S:
                return False
            if not grant.refresh_token:
                raise SignInRequiredError(reason="the provider gave no refresh token")
            try:
                new = await self._provider.refresh(grant.refresh_token, subject=clinician.subject)
            except SignInRequiredError:
                self._vault.forget(clinician.subject)
                self._grant = None
                raise
            if not new.refresh_token:  # no rotation: the old one stays valid
                new = replace(new, refresh_token=grant.refresh_token)
            if not new.claims:
                new = replace(new, claims=grant.claims)
            # With rotation the old refresh token is spent now: keep the new one in
            # memory even if the keyring write fails (this session goes on; the next
            # start signs in again instead of using a spent token).
            self._grant = new
            self._vault.save(clinician.subject, new)
            return True

    # -- offline -------------------------------------------------------------------
    async def enter_offline(self, login: str, pin: str) -> SignInResult:
        """Re-enter with the offline PIN: only while the provider is unreachable, only
        for a clinician who signed in online here within the policy's period."""
        if self._policy.offline_days <= 0:
            raise OfflineEntryRefusedError(reason="your organisation does not allow it")
        if await self._provider.reachable():
            raise OfflineEntryRefusedError(
                reason="the sign-in service is reachable; sign in online"
            )
        record = self._offline.load(_login_key(login))
        if record is None or record.pin is None:
            raise OfflineEntryRefusedError(reason="no offline PIN was set for this user here")
        elapsed = self._clock() - record.online_at
        if elapsed < 0 or elapsed > self._policy.offline_days * 86_400:
            # A clock set back before the last online sign-in is not trusted either.
            raise OfflineEntryRefusedError(reason="the offline period is over; sign in online")
        creds = Credentials(_PinFile(self._offline, record), clock=self._clock)
        try:
            await creds.verify(pin)  # throttled; the attempt is saved before the check
        except WrongCredentialError as exc:
            raise WrongOfflinePinError() from exc
        previous = self._current
        if previous is not None and previous.subject != record.clinician.subject:
            await self._forget(previous)
        stored = self._vault.load(record.clinician.subject)
        self._current, self._grant, self._fresh = record.clinician, stored, True
        result = SignInResult(record.clinician, SignInMode.OFFLINE, needs_offline_pin=False)
        log.info("Clinician re-entered offline")
        self.clinician_did_sign_in.emit(result)
        return result

    # -- leaving ---------------------------------------------------------------------
    async def sign_out(self) -> None:
        """Forget the current clinician and their tokens (revoked when reachable). The
        offline record stays, so they can re-enter offline later within the period."""
        clinician = self._current
        self._current, self._grant, self._fresh = None, None, False
        if clinician is not None:
            try:
                self.clinician_did_sign_out.emit(clinician)  # the screen forgets them now
            finally:
                await self._forget(clinician)  # and their tokens, whatever a listener did

    async def _forget(self, clinician: Clinician) -> None:
        stored = self._vault.load(clinician.subject)
        try:
            if stored is not None and stored.refresh_token:
                await asyncio.wait_for(self._provider.revoke(stored.refresh_token), 10.0)
        except (IdentityError, TimeoutError) as exc:
            log.info("Refresh token not revoked (%s); forgotten locally", type(exc).__name__)
        finally:
            self._vault.forget(clinician.subject)  # always, whatever the provider said

    # -- unlocking (IdentityCredential) ---------------------------------------------
    def take_fresh_sign_in(self) -> bool:
        fresh, self._fresh = self._fresh, False
        return fresh and self._current is not None

    def mark_locked(self) -> None:
        self._fresh = False


class IdentityCredential:
    """What app.session.Session verifies at unlock when an identity provider is
    configured: a sign-in (online or offline) that happened after the lock. The
    secret itself is not used (the sign-in screen already checked it)."""

    kind = CredentialKind.SIGN_IN
    needs_setup = False

    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    def wait_s(self) -> float:
        return 0.0

    async def verify(
        self, secret: str | None, *, by_store: Callable[[str], Awaitable[None]] | None = None
    ) -> None:
        if not self._identity.take_fresh_sign_in():
            raise SignInRequiredError(reason="nobody signed in")


class LockingSession(Protocol):
    async def lock(self, reason: Any) -> Any: ...


class LockSignals(Protocol):
    @property
    def session_will_lock(self) -> Any: ...

    @property
    def session_did_unlock(self) -> Any: ...


def bind_session(
    session: LockSignals,
    identity: Identity,
    record_event: Callable[[str, str, str], Awaitable[None]] | None = None,
) -> None:
    """Every lock (idle, suspend, user) spends the current sign-in: unlocking after it
    needs a new one (app.session.Session emits ``session_will_lock`` before any await).

    With ``record_event`` (the store's), each unlock that a sign-in opened is audited as
    ``sign_in_online`` / ``sign_in_offline`` under the clinician's own name: an offline
    re-entry stays visible to whoever reviews the log.
    """
    session.session_will_lock.connect(lambda _reason: identity.mark_locked())
    if record_event is None:
        return
    pending: list[SignInResult] = []
    tasks: set[asyncio.Task[None]] = set()
    identity.clinician_did_sign_in.connect(pending.append)

    def on_unlock() -> None:
        if not pending:
            return
        result = pending.pop()
        pending.clear()
        action = f"sign_in_{result.mode.value}"
        task = asyncio.ensure_future(record_event(action, "clinician", result.clinician.subject))
        tasks.add(task)  # kept referenced until done
        task.add_done_callback(_audit_done(tasks))

    session.session_did_unlock.connect(on_unlock)


def _audit_done(tasks: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("Sign-in not audited (%s)", type(task.exception()).__name__)

    return done


async def switch_clinician(session: LockingSession, identity: Identity, reason: Any) -> None:
    """ "Switch clinician": lock the console (autosave, calls held, store locked), then
    forget the departing clinician whatever the lock reported; the next person signs in."""
    log.info("Switch clinician")
    try:
        await session.lock(reason)
    finally:
        identity.mark_locked()
        await identity.sign_out()
