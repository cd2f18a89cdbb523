"""The session use case (app/session.py) against in-memory fakes of its ports.

Fakes with a failure schedule (STYLE.md §7): each earlier lock step fails in turn, and
the invariant holds every time: the store is locked, and unlock verifies a credential.
The real store, keyring and widgets are exercised in tests/ui/test_lock_session.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from app.credentials import (
    CredentialKind,
    CredentialRecord,
    Credentials,
    MemoryCredentialFile,
    ScryptParams,
)
from app.errors import (
    StoreLockedError,
    UnlockThrottledError,
    WrongCredentialError,
    WrongPassphraseError,
)
from app.records import KeySource, StoreState, StoreStatus
from app.session import LockReason, Session

CHEAP = ScryptParams(n=2**4)  # unit tests: the logic, not the cost
PIN = "204817"


class BoomError(RuntimeError):
    pass


@dataclass
class FakeStore:
    passphrase: str | None = None  # passphrase mode when set
    state: StoreState = StoreState.UNLOCKED
    calls: list[str] = field(default_factory=list)
    fail_lock: bool = False

    @property
    def status(self) -> StoreStatus:
        source = KeySource.PASSPHRASE if self.passphrase else KeySource.KEYRING
        return StoreStatus(self.state, source, "", 1, "store.db")

    async def lock(self) -> None:
        self.calls.append("store.lock")
        self.state = StoreState.LOCKED  # dropped even when it then reports a failure
        if self.fail_lock:
            raise BoomError("audit entry not written")

    async def unlock(self, passphrase: str | None = None) -> None:
        self.calls.append("store.unlock")
        if self.passphrase is not None and passphrase != self.passphrase:
            raise WrongPassphraseError()
        self.state = StoreState.UNLOCKED


@dataclass
class FakeSync:
    calls: list[str]
    fail_stop: BaseException | None = None
    hang: bool = False

    async def start(self) -> None:
        self.calls.append("sync.start")

    async def stop(self) -> None:
        self.calls.append("sync.stop")
        if self.hang:
            await asyncio.Event().wait()
        if self.fail_stop is not None:
            raise self.fail_stop


@dataclass
class FakeAutosave:
    calls: list[str]
    fail: bool = False
    unsaved_ok: bool = True

    async def flush(self) -> bool:
        self.calls.append("autosave.flush")
        if self.fail:
            raise BoomError("disk")
        return self.unsaved_ok

    def pause(self) -> None:
        self.calls.append("autosave.pause")

    def resume(self) -> None:
        self.calls.append("autosave.resume")


@dataclass
class FakeVisit:
    calls: list[str]
    is_live: bool = True
    fail: bool = False
    held: bool = False

    async def privacy_hold(self, on: bool) -> None:
        self.calls.append(f"visit.hold({on})")
        if self.fail:
            raise BoomError("media")
        self.held = on


def make(
    *,
    kind: CredentialKind = CredentialKind.PIN,
    store: FakeStore | None = None,
    sync: FakeSync | None = None,
    autosave: FakeAutosave | None = None,
    visits: list[FakeVisit] | None = None,
    now: list[float] | None = None,
) -> tuple[Session, FakeStore, list[str]]:
    store = store or FakeStore()
    calls = store.calls
    clock = now or [1_000_000.0]
    if kind is CredentialKind.PIN:
        creds = Credentials(MemoryCredentialFile(), params=CHEAP, clock=lambda: clock[0])
        asyncio.run(creds.choose(CredentialKind.PIN, PIN))
    else:
        creds = Credentials(MemoryCredentialFile(), default_kind=kind, clock=lambda: clock[0])
    session = Session(store, creds, visits=lambda: visits or [], step_timeout_s=0.2)
    session.set_sync(sync or FakeSync(calls))
    session.set_autosave(autosave or FakeAutosave(calls))
    return session, store, calls


def test_lock_runs_every_step_then_locks_the_store() -> None:
    store = FakeStore()
    visit = FakeVisit(store.calls)
    session, store, calls = make(store=store, visits=[visit])
    covered: list[LockReason] = []
    session.session_will_lock.connect(covered.append)
    result = asyncio.run(session.lock(LockReason.IDLE))
    assert covered == [LockReason.IDLE]
    assert calls == [
        "visit.hold(True)",
        "autosave.flush",
        "autosave.pause",
        "sync.stop",
        "store.lock",
    ]
    assert result.locked and result.failed_steps == ()
    assert store.state is StoreState.LOCKED and session.locked and visit.held


@pytest.mark.parametrize(
    ("failing", "expected_failed"),
    [
        ("visit", ("privacy_hold",)),
        ("autosave", ("autosave",)),
        ("autosave_unsaved", ("autosave",)),
        ("sync", ("sync",)),
        ("sync_hangs", ("sync",)),
        ("sync_dead", ("sync",)),
    ],
)
def test_any_earlier_step_failing_still_locks_the_store(
    failing: str, expected_failed: tuple[str, ...]
) -> None:
    store = FakeStore()
    calls = store.calls
    sync = FakeSync(
        calls,
        fail_stop={"sync": BoomError("x"), "sync_dead": KeyError("meta")}.get(failing),
        hang=failing == "sync_hangs",
    )
    autosave = FakeAutosave(calls, fail=failing == "autosave")
    autosave.unsaved_ok = failing != "autosave_unsaved"
    visit = FakeVisit(calls, fail=failing == "visit")
    session, store, _ = make(store=store, sync=sync, autosave=autosave, visits=[visit])
    result = asyncio.run(session.lock(LockReason.USER))
    assert result.failed_steps == expected_failed
    assert calls[-1] == "store.lock"
    assert store.state is StoreState.LOCKED
    # Every other step still ran.
    assert "sync.stop" in calls and "autosave.flush" in calls and "visit.hold(True)" in calls


def test_store_lock_failing_still_reports_locked_and_unlock_needs_the_pin() -> None:
    store = FakeStore(fail_lock=True)
    session, store, _ = make(store=store)
    with pytest.raises(BoomError):
        asyncio.run(session.lock(LockReason.USER))
    assert session.locked and store.state is StoreState.LOCKED
    with pytest.raises(WrongCredentialError):
        asyncio.run(session.unlock("000000"))
    assert session.locked


def test_unlock_always_verifies_the_credential_even_if_the_store_is_still_open() -> None:
    # The old failure: locking stopped early, the store stayed open, and unlock
    # returned at once for an open store whatever was typed.
    store = FakeStore()
    session, store, calls = make(store=store)
    asyncio.run(session.lock(LockReason.USER))
    store.state = StoreState.UNLOCKED  # as if a buggy store had not locked
    for wrong in (None, "", "123456"):
        with pytest.raises(WrongCredentialError):
            asyncio.run(session.unlock(wrong))
        assert session.locked
    assert "store.unlock" not in calls
    asyncio.run(session.unlock(PIN))
    assert not session.locked
    assert calls[-3:] == ["store.unlock", "autosave.resume", "sync.start"]


def test_keyring_mode_one_click_does_not_unlock() -> None:
    session, store, _ = make()
    asyncio.run(session.lock(LockReason.USER))
    with pytest.raises(WrongCredentialError):
        asyncio.run(session.unlock(None))
    assert store.state is StoreState.LOCKED and session.locked


def test_passphrase_mode_the_store_passphrase_is_the_credential() -> None:
    store = FakeStore(passphrase="store-secret")
    session, store, _calls = make(kind=CredentialKind.STORE_PASSPHRASE, store=store)
    asyncio.run(session.lock(LockReason.USER))
    with pytest.raises(WrongPassphraseError):
        asyncio.run(session.unlock("nope-nope"))
    assert session.locked and session.credentials.failures == 1
    asyncio.run(session.unlock("store-secret"))
    assert not session.locked and store.state is StoreState.UNLOCKED


def test_failures_grow_a_delay_and_the_delay_is_enforced() -> None:
    now = [1_000_000.0]
    session, _store, _ = make(now=now)
    asyncio.run(session.lock(LockReason.USER))
    for _ in range(3):
        with pytest.raises(WrongCredentialError):
            asyncio.run(session.unlock("111112"))
    assert session.credentials.wait_s() == 5.0
    with pytest.raises(UnlockThrottledError) as err:
        asyncio.run(session.unlock(PIN))  # even the right PIN waits
    assert err.value.params["wait_s"] == 5
    now[0] += 5.0
    with pytest.raises(WrongCredentialError):
        asyncio.run(session.unlock("111112"))
    assert session.credentials.wait_s() == 10.0
    now[0] += 10.0
    asyncio.run(session.unlock(PIN))
    assert not session.locked and session.credentials.failures == 0


def test_unlock_during_a_lock_waits_for_the_store_to_be_locked() -> None:
    store = FakeStore()
    calls = store.calls

    class SlowSync(FakeSync):
        gate: asyncio.Event

        async def stop(self) -> None:
            calls.append("sync.stop")
            await self.gate.wait()

    sync = SlowSync(calls)
    session, store, _ = make(store=store, sync=sync)
    session._step_timeout_s = 5

    async def scenario() -> None:
        sync.gate = asyncio.Event()
        locking = asyncio.ensure_future(session.lock(LockReason.USER))
        await asyncio.sleep(0)
        unlocking = asyncio.ensure_future(session.unlock(PIN))
        await asyncio.sleep(0.01)
        assert not unlocking.done() and "store.unlock" not in calls
        sync.gate.set()
        await locking
        await unlocking

    asyncio.run(scenario())
    assert calls.index("store.lock") < calls.index("store.unlock")


def test_lock_finished_waits_for_the_lock_sequence_and_its_announcement() -> None:
    store = FakeStore()
    calls = store.calls

    class SlowSync(FakeSync):
        gate: asyncio.Event

        async def stop(self) -> None:
            calls.append("sync.stop")
            await self.gate.wait()

    sync = SlowSync(calls)
    session, store, _ = make(store=store, sync=sync)
    session._step_timeout_s = 5
    announced: list[LockReason] = []
    session.session_did_lock.connect(lambda result: announced.append(result.reason))

    async def scenario() -> None:
        await session.lock_finished()  # no lock yet: returns at once
        sync.gate = asyncio.Event()
        locking = asyncio.ensure_future(session.lock(LockReason.IDLE))
        await asyncio.sleep(0)
        waiting = asyncio.ensure_future(session.lock_finished())
        await asyncio.sleep(0.01)
        assert session.locked and not waiting.done() and announced == []
        sync.gate.set()
        await waiting
        assert announced == [LockReason.IDLE] and store.state is StoreState.LOCKED
        await locking
        await session.lock_finished()  # ended: returns at once

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_unlock_resumes_held_visits_and_failures_there_do_not_relock() -> None:
    store = FakeStore()
    live, broken = FakeVisit(store.calls), FakeVisit(store.calls)
    session, store, _calls = make(store=store, visits=[live, broken])
    asyncio.run(session.lock(LockReason.SUSPEND))
    assert live.held and broken.held
    broken.fail = True
    asyncio.run(session.unlock(PIN))
    assert not session.locked and not live.held


def test_demo_profile_needs_no_credential() -> None:
    session, _store, _ = make(kind=CredentialKind.NONE)
    asyncio.run(session.lock(LockReason.USER))
    asyncio.run(session.unlock(None))
    assert not session.locked


def test_idle_runs_whenever_no_visit_is_live() -> None:
    store = FakeStore()
    ended = FakeVisit(store.calls, is_live=False)
    visits = [ended]
    session, _, _ = make(store=store, visits=visits)
    assert not session.any_visit_live()  # an ended visit's window does not stop the idle lock
    visits.append(FakeVisit(store.calls, is_live=True))
    assert session.any_visit_live()


def test_unlock_that_leaves_the_store_locked_is_refused() -> None:
    store = FakeStore()
    session, store, _ = make(store=store)
    asyncio.run(session.lock(LockReason.USER))

    async def no_op_unlock(passphrase: str | None = None) -> None:
        return None

    store.unlock = no_op_unlock  # type: ignore[method-assign]
    with pytest.raises(StoreLockedError):
        asyncio.run(session.unlock(PIN))
    assert session.locked


def test_credential_record_repr_has_no_hash() -> None:
    record = CredentialRecord(CredentialKind.PIN, salt=b"s" * 16, digest=b"\x01" * 32)
    assert "01" not in repr(record) and "sss" not in repr(record)


def test_a_store_passphrase_credential_on_a_keyring_store_is_refused() -> None:
    from app.errors import CredentialFileError

    session, store, _ = make(kind=CredentialKind.STORE_PASSPHRASE)  # keyring-mode fake
    asyncio.run(session.lock(LockReason.USER))
    with pytest.raises(CredentialFileError):
        asyncio.run(session.unlock("anything at all"))
    assert session.locked and store.state is StoreState.LOCKED


def test_quit_flushes_then_stops_sync_and_keeps_sync_when_text_is_unsaved() -> None:
    session, _store, calls = make()
    assert asyncio.run(session.quit())
    assert calls == ["autosave.flush", "sync.stop"]
    store = FakeStore()
    autosave = FakeAutosave(store.calls, unsaved_ok=False)
    session, _store, calls = make(store=store, autosave=autosave)
    assert not asyncio.run(session.quit())
    assert calls == ["autosave.flush"]  # the window stays open; sync keeps running
