"""The session use case: lock, unlock, idle, suspend and quit as one sequence each.

STYLE.md §2b: one function owns the order of the steps and what happens when any
of them fails, and the step that protects data sits in a ``finally``:

- :meth:`Session.lock` holds every live call (microphone muted, remote audio
  paused), flushes autosave and stops sync, each in its own ``try``; then, in a
  ``finally``, locks the store (key and connection dropped) whatever failed
  before. Locking never depends on sync having stopped cleanly.
- :meth:`Session.unlock` always verifies the credential first (app/credentials.py),
  then unlocks the store, then restarts what lock stopped.

The widget (ui/main_window.py) renders ``session_will_lock`` (covers the window
and every dialog at once, before any await) and ``session_did_unlock``; it never
orders these steps itself. Ports are Protocols: the store (app.ports.RecordStore),
sync (app/sync.py's SyncService: only ``start``/``stop`` are needed), autosave,
and the visits (app.visit.Visit: ``privacy_hold`` and ``is_live``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from psygnal import Signal

from app.credentials import CredentialKind, Credentials
from app.errors import CredentialFileError, StoreLockedError
from app.records import KeySource, StoreState, StoreStatus

log = logging.getLogger(__name__)


class LockReason(StrEnum):
    USER = "user"  # File > Lock now
    IDLE = "idle"  # no input for the policy's idle time
    SUSPEND = "suspend"  # the machine is going to sleep
    OS_LOCK = "os-lock"  # the OS session was locked (screen saver, Super+L)
    SWITCH = "switch"  # "Switch clinician": the next person signs in (app/identity.py)


class UnlockCredential(Protocol):
    """What unlock verifies: app.credentials.Credentials (the console PIN) or
    app.identity.IdentityCredential (a clinician sign-in since the lock)."""

    @property
    def kind(self) -> CredentialKind | None: ...

    def wait_s(self) -> float: ...

    async def verify(
        self, secret: str | None, *, by_store: Callable[[str], Awaitable[None]] | None = None
    ) -> None: ...


class LockableStore(Protocol):
    @property
    def status(self) -> StoreStatus: ...

    async def lock(self) -> None: ...

    async def unlock(self, passphrase: str | None = None) -> None: ...


class SyncControl(Protocol):
    """What lock/unlock need from sync (app/sync.py's SyncService has more)."""

    def start(self) -> Awaitable[None] | None: ...

    async def stop(self) -> None: ...


class AutosaveControl(Protocol):
    async def flush(self) -> bool:
        """Write what is typed; False when it could not (kept for a retry)."""
        ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...


class HeldVisit(Protocol):
    """app.visit.Visit as the session sees it (the visit helper implements it)."""

    @property
    def is_live(self) -> bool: ...

    async def privacy_hold(self, on: bool) -> None: ...


@dataclass(frozen=True)
class LockResult:
    reason: LockReason
    locked: bool  # False: it was already locked, nothing was done
    failed_steps: tuple[str, ...] = ()  # "privacy_hold", "autosave", "sync" (logged by type)


#: How long lock waits for each step before giving up on it and locking anyway.
STEP_TIMEOUT_S = 10.0


class Session:
    """The session of one profile's open store (one per window)."""

    session_will_lock = Signal(LockReason)  # cover the screen now (emitted before any await)
    session_did_lock = Signal(LockResult)
    session_did_unlock = Signal()

    def __init__(
        self,
        store: LockableStore,
        credentials: Credentials | UnlockCredential,
        *,
        visits: Callable[[], Iterable[HeldVisit]] = tuple,
        step_timeout_s: float = STEP_TIMEOUT_S,
    ) -> None:
        self._store = store
        self.credentials = credentials
        self._visits = visits
        self._autosave: AutosaveControl | None = None
        self._sync: SyncControl | None = None
        self._step_timeout_s = step_timeout_s
        self._locked = False
        self._lock_done: asyncio.Event | None = None
        self._held: list[HeldVisit] = []

    # -- wiring (the window binds what it builds) ---------------------------------
    def set_autosave(self, autosave: AutosaveControl | None) -> None:
        self._autosave = autosave

    def set_sync(self, sync: SyncControl | None) -> None:
        self._sync = sync

    def set_visits(self, visits: Callable[[], Iterable[HeldVisit]]) -> None:
        self._visits = visits

    # -- state ---------------------------------------------------------------------
    @property
    def locked(self) -> bool:
        return self._locked

    async def lock_finished(self) -> None:
        """Return once a lock sequence under way has ended and announced it (at once
        when none is): its handlers must not outlive what they update."""
        if self._lock_done is not None:
            await self._lock_done.wait()

    @property
    def credential_kind(self) -> CredentialKind | None:
        return self.credentials.kind

    def any_visit_live(self) -> bool:
        """Whether a call is connecting, waiting, in progress or reconnecting: the idle
        timer runs whenever this is False (an ended visit window does not count)."""
        try:
            return any(visit.is_live for visit in self._visits())
        except Exception:  # a broken visit must not keep the console from idling out
            log.warning("Visit state unreadable; treating it as not live", exc_info=True)
            return False

    # -- lock --------------------------------------------------------------------
    async def lock(self, reason: LockReason) -> LockResult:
        """Lock the session: after this returns *or raises*, the store's key and
        connection are gone (``store.lock()`` runs in the ``finally``)."""
        if self._locked:
            return LockResult(reason, locked=False)
        self._locked = True  # from here on unlock() waits for this sequence to finish
        done = self._lock_done = asyncio.Event()
        failed: list[str] = []
        try:
            self.session_will_lock.emit(reason)
            # Most urgent first: the microphone and the patient's voice, then the text.
            await self._step("privacy_hold", self._hold_visits, failed)
            await self._step("autosave", self._flush_autosave, failed)
            await self._step("sync", self._stop_sync, failed)
        finally:
            try:
                await self._store.lock()  # always, whatever failed above
            finally:
                result = LockResult(reason, locked=True, failed_steps=tuple(failed))
                done.set()
                self.session_did_lock.emit(result)
        return result

    async def _step(self, name: str, fn: Callable[[], Awaitable[None]], failed: list[str]) -> None:
        try:
            await asyncio.wait_for(fn(), self._step_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure (a timeout too): lock anyway; type only logged
            failed.append(name)
            log.warning("Lock step %s failed (%s); locking anyway", name, type(exc).__name__)

    async def _hold_visits(self) -> None:
        errors: list[BaseException] = []
        self._held = []
        for visit in list(self._visits()):
            try:
                await visit.privacy_hold(True)
                self._held.append(visit)
            except Exception as exc:  # hold the others anyway
                errors.append(exc)
        if errors:
            raise errors[0]

    async def _flush_autosave(self) -> None:
        autosave = self._autosave
        if autosave is None:
            return
        try:
            if not await autosave.flush():
                raise OSError("autosave could not write")  # the text stays in the editor
        finally:
            autosave.pause()  # a locked store cannot take saves either way

    async def _stop_sync(self) -> None:
        if self._sync is not None:
            await self._sync.stop()

    # -- unlock ------------------------------------------------------------------
    async def unlock(self, secret: str | None) -> None:
        """Verify the credential, then unlock the store and restart what lock stopped.

        Raises WrongCredentialError / UnlockThrottledError (the lock screen shows
        them) and leaves everything locked. Never returns without a verified
        credential while locked.
        """
        if not self._locked:
            return
        if self._lock_done is not None:
            await self._lock_done.wait()  # the store must be locked before it is unlocked
        creds = self.credentials
        if creds.kind is CredentialKind.STORE_PASSPHRASE:
            if self._store.status.key_source is not KeySource.PASSPHRASE:
                # A keyring store opens without its passphrase: that would be no check.
                raise CredentialFileError(reason="it does not match the store's key mode")
            await creds.verify(secret, by_store=self._store.unlock)
        else:
            await creds.verify(secret)
            await self._store.unlock(None)
        if not self._store_unlocked():
            raise StoreLockedError()
        self._locked = False
        await self._resume()
        self.session_did_unlock.emit()

    def _store_unlocked(self) -> bool:
        return self._store.status.state is StoreState.UNLOCKED

    async def _resume(self) -> None:
        """Best effort: the console is usable again even if sync or a visit cannot resume."""
        if self._autosave is not None:
            self._autosave.resume()
        if self._sync is not None:
            try:
                started = self._sync.start()
                if inspect.isawaitable(started):
                    await started
            except Exception as exc:
                log.warning("Sync did not restart after unlock (%s)", type(exc).__name__)
        held, self._held = self._held, []
        for visit in held:
            try:
                await visit.privacy_hold(False)
            except Exception as exc:
                log.warning("Visit did not resume after unlock (%s)", type(exc).__name__)

    # -- quit ----------------------------------------------------------------------
    async def quit(self) -> bool:
        """Flush autosave, then stop sync, before the store closes; True when nothing
        typed is unsaved. The composition root closes the store afterwards."""
        saved = True
        if self._autosave is not None:
            saved = await self._autosave.flush()
        if saved and self._sync is not None:
            # Not when the text could not be saved: the window then stays open (the user
            # may free disk space) and sync should keep running meanwhile.
            try:
                await self._sync.stop()
            except Exception as exc:  # quitting goes on; the exit stack closes the store
                log.warning("Sync did not stop cleanly at quit (%s)", type(exc).__name__)
        return saved
