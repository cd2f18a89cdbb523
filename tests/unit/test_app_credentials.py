"""The credential policy (app/credentials.py) with an in-memory file and a fake clock."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from app.credentials import (
    FREE_ATTEMPTS,
    MAX_DELAY_S,
    CredentialKind,
    Credentials,
    MemoryCredentialFile,
    ScryptParams,
    check_new_secret,
    delay_after,
)
from app.errors import CredentialTooWeakError, UnlockThrottledError, WrongCredentialError

CHEAP = ScryptParams(n=2**4)


@pytest.mark.parametrize("pin", ["12345", "12a456", "１２３４５６", "000000", ""])
def test_weak_pins_are_refused(pin: str) -> None:
    with pytest.raises(CredentialTooWeakError):
        check_new_secret(CredentialKind.PIN, pin)


def test_good_secrets_are_accepted() -> None:
    check_new_secret(CredentialKind.PIN, "204817")
    check_new_secret(CredentialKind.PASSPHRASE, "long enough phrase")
    with pytest.raises(CredentialTooWeakError):
        check_new_secret(CredentialKind.PASSPHRASE, "short")


def test_only_a_salted_scrypt_hash_is_kept() -> None:
    file = MemoryCredentialFile()
    creds = Credentials(file, params=CHEAP)
    assert creds.needs_setup
    asyncio.run(creds.choose(CredentialKind.PIN, "204817"))
    record = file.record
    assert record is not None and record.kind is CredentialKind.PIN
    assert len(record.salt) == 16
    assert b"204817" not in record.digest
    expected = hashlib.scrypt(b"204817", salt=record.salt, n=2**4, r=8, p=1, dklen=32)
    assert record.digest == expected
    other = Credentials(MemoryCredentialFile(), params=CHEAP)
    asyncio.run(other.choose(CredentialKind.PIN, "204817"))
    assert other._record is not None and other._record.salt != record.salt  # random salt


def test_default_params_are_memory_hard() -> None:
    params = ScryptParams()
    assert params.n >= 2**15 and params.r >= 8  # >= 32 MiB per guess


def test_delay_schedule_grows_and_caps() -> None:
    assert [delay_after(n) for n in range(FREE_ATTEMPTS)] == [0.0] * FREE_ATTEMPTS
    delays = [delay_after(n) for n in range(FREE_ATTEMPTS, FREE_ATTEMPTS + 12)]
    assert delays == sorted(delays) and delays[0] == 5.0 and delays[-1] == MAX_DELAY_S


def test_the_failure_count_survives_a_restart_and_a_clock_set_back() -> None:
    now = [5_000.0]
    file = MemoryCredentialFile()
    creds = Credentials(file, params=CHEAP, clock=lambda: now[0])
    asyncio.run(creds.choose(CredentialKind.PIN, "204817"))
    for _ in range(4):
        now[0] += 60
        with pytest.raises(WrongCredentialError):
            asyncio.run(creds.verify("999999"))
    # A new process reads the same file: still throttled.
    restarted = Credentials(file, params=CHEAP, clock=lambda: now[0])
    assert restarted.failures == 4 and restarted.wait_s() == 10.0
    now[0] -= 3600  # the clock was set back an hour: still the full wait
    with pytest.raises(UnlockThrottledError):
        asyncio.run(restarted.verify("204817"))


def test_the_attempt_is_counted_before_the_check() -> None:
    file = MemoryCredentialFile()
    creds = Credentials(file, params=CHEAP)
    asyncio.run(creds.choose(CredentialKind.PIN, "204817"))
    seen: list[int] = []

    original = file.save

    def spy(record):  # type: ignore[no-untyped-def]
        seen.append(record.failures)
        original(record)

    file.save = spy  # type: ignore[method-assign]
    asyncio.run(creds.verify("204817"))
    assert seen == [1, 0]  # saved as a failure first, cleared after the match


def test_a_set_credential_cannot_be_replaced_by_choose() -> None:
    creds = Credentials(MemoryCredentialFile(), params=CHEAP)
    asyncio.run(creds.choose(CredentialKind.PIN, "204817"))
    with pytest.raises(ValueError):
        asyncio.run(creds.choose(CredentialKind.PIN, "777123"))
