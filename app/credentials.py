"""The console's own credential, until clinician sign-in exists (issue 10 §2).

What opens the console's windows is something the user *knows*, never the OS
keyring alone:

- **keyring mode** (the store key lives in the OS keyring): a PIN of at least
  :data:`MIN_PIN_DIGITS` digits or a passphrase of at least
  :data:`MIN_PASSPHRASE_LENGTH` characters, chosen at first run, kept only as a
  memory-hard scrypt hash (:class:`ScryptParams`) in the profile
  (``storage/credentials.py`` writes it, owner-only and MACed with a key kept in
  the keyring);
- **passphrase mode**: the store passphrase itself (SQLCipher checks it), so no
  second secret; only the failure counter is kept;
- **demo profile** (demo data only, no record store): no credential, and the
  screen says so.

It is asked at every start and every unlock. After :data:`FREE_ATTEMPTS`
failures each further attempt waits longer (:func:`delay_after`); the count is
saved *before* the secret is checked, so killing the process mid-check does not
buy a free guess, and restarting does not reset it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from app.errors import (
    CredentialTooWeakError,
    UnlockThrottledError,
    WrongCredentialError,
)
from app.records import MIN_PASSPHRASE_LENGTH

MIN_PIN_DIGITS = 6
FREE_ATTEMPTS = 3
MAX_DELAY_S = 300.0


class CredentialKind(StrEnum):
    PIN = "pin"
    PASSPHRASE = "passphrase"
    STORE_PASSPHRASE = "store-passphrase"  # passphrase mode: the store's own passphrase
    NONE = "none"  # a demo profile: nothing to protect
    SIGN_IN = "sign-in"  # clinician sign-in (app/identity.py): the identity provider checks

    @property
    def noun(self) -> str:
        if self is CredentialKind.SIGN_IN:
            return "sign-in"
        return "PIN" if self is CredentialKind.PIN else "passphrase"


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost (RFC 7914). The default, N=2^15, r=8, p=1, takes 32 MiB and about
    0.1 s here: OWASP's recommended minimum for password storage (N=2^17 needs 128 MiB,
    too much for a locked-down workstation on every unlock). Kept in the file, so a
    later release can raise it and old hashes still verify."""

    n: int = 2**15
    r: int = 8
    p: int = 1
    dklen: int = 32

    @property
    def maxmem(self) -> int:
        # OpenSSL needs 128 * N * r bytes plus slack; say so explicitly (its default is 32 MiB).
        return 128 * self.n * self.r * (self.p + 1) + 1024 * 1024


@dataclass(frozen=True)
class CredentialRecord:
    """What the profile's unlock file holds: never the secret, only its salted hash."""

    kind: CredentialKind
    salt: bytes = b""
    digest: bytes = b""
    params: ScryptParams = ScryptParams()
    failures: int = 0
    last_failure_at: float = 0.0  # seconds since the epoch (wall clock: survives restarts)

    def __repr__(self) -> str:  # no hash material in logs or tracebacks
        return f"CredentialRecord(kind={self.kind.value}, failures={self.failures})"


class CredentialFile(Protocol):
    """Port: where the record lives (storage/credentials.py; a dict in unit tests)."""

    def load(self) -> CredentialRecord | None:
        """The record, or None when none was ever set (first run). Raises
        CredentialFileError when it is damaged, edited, or missing although one was set."""
        ...

    def save(self, record: CredentialRecord) -> None: ...


def delay_after(failures: int) -> float:
    """Seconds to wait before the next attempt: 0 for the first FREE_ATTEMPTS failures,
    then 5, 10, 20, ... capped at MAX_DELAY_S."""
    if failures < FREE_ATTEMPTS:
        return 0.0
    return float(min(5.0 * 2.0 ** (failures - FREE_ATTEMPTS), MAX_DELAY_S))


def check_new_secret(kind: CredentialKind, secret: str) -> None:
    """Refuse a new PIN or passphrase that is too weak (CredentialTooWeakError)."""
    if kind is CredentialKind.PIN:
        if not (secret.isascii() and secret.isdigit()) or len(secret) < MIN_PIN_DIGITS:
            raise CredentialTooWeakError(reason=f"A PIN needs at least {MIN_PIN_DIGITS} digits.")
        if len(set(secret)) == 1:
            raise CredentialTooWeakError(reason="A PIN of one repeated digit is too easy to guess.")
    elif kind is CredentialKind.PASSPHRASE:
        if len(secret) < MIN_PASSPHRASE_LENGTH:
            raise CredentialTooWeakError(
                reason=f"A passphrase needs at least {MIN_PASSPHRASE_LENGTH} characters."
            )
    else:
        raise ValueError(f"no secret is chosen for {kind.value}")


def hash_secret(secret: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"),
        salt=salt,
        n=params.n,
        r=params.r,
        p=params.p,
        dklen=params.dklen,
        maxmem=params.maxmem,
    )


class Credentials:
    """Use case: set the credential at first run, verify it at start and unlock, throttle.

    ``file`` is the port; ``clock`` gives wall-clock seconds (tests pass a fake).
    """

    def __init__(
        self,
        file: CredentialFile,
        *,
        default_kind: CredentialKind | None = None,
        params: ScryptParams | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._file = file
        self._params = params or ScryptParams()
        self._clock = clock
        self._record = file.load()
        if self._record is None and default_kind in (
            CredentialKind.STORE_PASSPHRASE,
            CredentialKind.NONE,
        ):
            # Nothing to choose: the store passphrase (or nothing, in a demo) is the credential.
            self._record = CredentialRecord(kind=default_kind)

    @property
    def kind(self) -> CredentialKind | None:
        """What the lock screen asks for; None until one is chosen (needs_setup)."""
        return self._record.kind if self._record is not None else None

    @property
    def needs_setup(self) -> bool:
        return self._record is None

    @property
    def failures(self) -> int:
        return self._record.failures if self._record is not None else 0

    def wait_s(self) -> float:
        """Seconds before the next attempt is allowed (0: now)."""
        record = self._record
        if record is None or record.failures < FREE_ATTEMPTS:
            return 0.0
        # A clock set back must not shorten the wait: then count from "now".
        elapsed = max(0.0, self._clock() - record.last_failure_at)
        return max(0.0, delay_after(record.failures) - elapsed)

    async def choose(self, kind: CredentialKind, secret: str) -> None:
        """First run: keep the new PIN or passphrase as a salted scrypt hash."""
        if self._record is not None and self._record.kind in (
            CredentialKind.PIN,
            CredentialKind.PASSPHRASE,
        ):
            raise ValueError("a credential is already set")
        check_new_secret(kind, secret)
        salt = secrets.token_bytes(16)
        digest = await asyncio.to_thread(hash_secret, secret, salt, self._params)
        record = CredentialRecord(kind=kind, salt=salt, digest=digest, params=self._params)
        await asyncio.to_thread(self._file.save, record)
        self._record = record

    async def verify(
        self,
        secret: str | None,
        *,
        by_store: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """Raise unless ``secret`` is the credential; throttled, failures persisted.

        For STORE_PASSPHRASE the store checks it: ``by_store(secret)`` unlocks (or opens)
        the store and raises WrongPassphraseError for a wrong one, which is passed on.
        """
        record = self._record
        if record is None:
            raise WrongCredentialError(what="PIN")  # nothing set: nothing can match
        if record.kind is CredentialKind.NONE:
            return
        wait = self.wait_s()
        if wait > 0:
            raise UnlockThrottledError(wait_s=int(wait + 0.999))
        if not secret:
            raise WrongCredentialError(what=record.kind.noun)
        # Count the attempt before checking it: a process killed mid-check (or a
        # check that raises) still used up one try.
        pending = replace(record, failures=record.failures + 1, last_failure_at=self._clock())
        if record.kind is CredentialKind.STORE_PASSPHRASE:
            if by_store is None:
                raise ValueError("a store passphrase is verified by the store")
            await self._save(pending)
            await by_store(secret)  # WrongPassphraseError: the attempt stays counted
            await self._save(replace(record, failures=0, last_failure_at=0.0))
            return
        await self._save(pending)
        digest = await asyncio.to_thread(hash_secret, secret, record.salt, record.params)
        if not hmac.compare_digest(digest, record.digest):
            raise WrongCredentialError(what=record.kind.noun)
        await self._save(replace(record, failures=0, last_failure_at=0.0))

    async def _save(self, record: CredentialRecord) -> None:
        await asyncio.to_thread(self._file.save, record)
        self._record = record


class MemoryCredentialFile:
    """An in-memory CredentialFile (unit tests; a demo profile's throwaway state)."""

    def __init__(self, record: CredentialRecord | None = None) -> None:
        self.record = record
        self.saves = 0

    def load(self) -> CredentialRecord | None:
        return self.record

    def save(self, record: CredentialRecord) -> None:
        self.saves += 1
        self.record = record
