"""Background sync on the event loop: when to sync, backoff, and the status the UI shows.

Runs on start, shortly after each save (debounced), on a timer, on "Sync now",
and sooner when the network comes back (any successful sync resets backoff).
Failures back off exponentially with full jitter; a server's ``Retry-After``
is honoured as a floor. Never blocks the loop: HTTP is async, SQL runs on the
store's worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from psygnal import Signal

from app.errors import ConsoleError, SyncAuthError, SyncError, SyncRetryableError
from app.records import utc_now
from app.settings import RecordStoreSettings
from storage.sync.engine import SyncEngine, SyncReport

log = logging.getLogger(__name__)


class SyncState(StrEnum):
    DISABLED = "disabled"  # no record store configured
    IDLE = "online"
    SYNCING = "syncing"
    OFFLINE = "offline"  # the server could not be reached; retrying
    ERROR = "error"  # auth, TLS or rejected records: needs someone to act


@dataclass(frozen=True)
class SyncStatus:
    state: SyncState
    waiting: int = 0
    failed: int = 0
    conflicts: int = 0
    last_success: str | None = None
    message: str = ""  # safe user text (ConsoleError.user_message), never patient data
    progress_done: int = 0
    progress_total: int = 0
    next_attempt_s: float | None = None


@contextlib.asynccontextmanager
async def open_client(settings: RecordStoreSettings) -> AsyncIterator[Any]:
    """A FHIR client for the configured record store, secrets from the OS keyring."""
    from storage import secrets
    from storage.fhir.auth import auth_from_settings
    from storage.fhir.client import FhirClient

    auth = auth_from_settings(settings, secrets.get_secret)
    async with FhirClient(settings.url, auth=auth, ca_file=settings.ca_file or None) as client:
        yield client


class SyncService:
    status_did_change = Signal(object)  # SyncStatus
    sync_did_finish = Signal(object)  # SyncReport

    def __init__(
        self,
        store: Any,
        settings: RecordStoreSettings,
        *,
        interval_s: float = 300.0,
        debounce_s: float = 2.0,
        backoff_base_s: float = 2.0,
        backoff_max_s: float = 600.0,
        probe_interval_s: float = 15.0,
        client_factory: Callable[[RecordStoreSettings], AbstractAsyncContextManager[Any]]
        | None = None,
    ) -> None:
        self.client_factory = client_factory or open_client
        self.store = store
        self.settings = settings
        self.engine = SyncEngine(
            store,
            practitioner=settings.practitioner,
            patient_identifier_system=settings.patient_identifier_system,
            retention_days=settings.retention_days,
        )
        self.interval_s = interval_s
        self.debounce_s = debounce_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.probe_interval_s = probe_interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._debounce: asyncio.TimerHandle | None = None
        self.status = SyncStatus(SyncState.IDLE if settings.url else SyncState.DISABLED)

    # --- control ---------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None and self.settings.url:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sync")

    async def stop(self) -> None:
        if self._debounce is not None:
            self._debounce.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def sync_now(self) -> None:
        self._failures = 0  # the user asked: try now, not after the backoff
        self._wake.set()

    def note_saved(self) -> None:
        """Debounced: a burst of autosaves triggers one sync."""
        if self._debounce is not None:
            self._debounce.cancel()
        loop = asyncio.get_running_loop()
        self._debounce = loop.call_later(self.debounce_s, self._wake.set)

    def network_came_back(self) -> None:
        self.sync_now()

    # --- the loop --------------------------------------------------------------------

    def _publish(self, **changes: Any) -> None:
        self.status = replace(self.status, **changes)
        self.status_did_change.emit(self.status)

    def backoff_s(self, retry_after_s: float | None = None) -> float:
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2 ** min(self._failures, 20)))
        delay = random.uniform(0, ceiling)  # noqa: S311 (jitter, not cryptography)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.backoff_max_s * 6))
        return delay

    async def _run(self) -> None:
        delay = 0.0
        while True:
            probe = None
            if self.status.state is SyncState.OFFLINE and delay > self.probe_interval_s:
                # While offline, a cheap TCP probe notices the link coming back long
                # before the backoff (up to ten minutes) would try again.
                probe = asyncio.get_running_loop().create_task(self._probe_until_reachable())
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
            finally:  # also when stop() cancels us: never leave a probe behind
                if probe is not None:
                    probe.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await probe
            self._wake.clear()
            try:
                delay = await self.run_once()
            except ConsoleError as exc:
                # The store itself failed (locked, disk full): keep the loop alive and
                # try again later rather than ending background sync for the session.
                log.warning("sync could not read the store (%s)", type(exc).__name__)
                self._failures += 1
                delay = self.backoff_s()

    async def _probe_until_reachable(self) -> None:
        host, port = _host_port(self.settings.url)
        while True:
            await asyncio.sleep(self.probe_interval_s)
            try:
                _reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), timeout=self.probe_interval_s
                )
            except (OSError, TimeoutError):
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            log.info("the record store is reachable again; syncing")
            self.network_came_back()
            return

    async def run_once(self) -> float:
        """One attempt; returns how long to wait before the next one."""
        waiting = await self.store.transact(_waiting)
        self._publish(state=SyncState.SYNCING, **waiting, next_attempt_s=None)

        async def progress(done: int, total: int) -> None:
            self._publish(progress_done=done, progress_total=total)

        try:
            async with self.client_factory(self.settings) as client:
                report: SyncReport = await self.engine.sync_once(client, progress)
        except SyncRetryableError as exc:
            self._failures += 1
            delay = self.backoff_s(exc.retry_after_s)
            await self._publish_after_failure(SyncState.OFFLINE, exc, delay)
            return delay
        except (SyncAuthError, SyncError, ConsoleError) as exc:
            self._failures += 1
            delay = self.backoff_s()
            await self._publish_after_failure(SyncState.ERROR, exc, delay)
            return delay
        self._failures = 0
        waiting = await self.store.transact(_waiting)
        state = SyncState.ERROR if report.failed else SyncState.IDLE
        message = f"The server refused {report.failed} record(s)." if report.failed else ""
        self._publish(
            state=state,
            last_success=utc_now(),
            message=message,
            progress_done=0,
            progress_total=0,
            **waiting,
        )
        self.sync_did_finish.emit(report)
        return self.interval_s

    async def _publish_after_failure(
        self, state: SyncState, exc: ConsoleError, delay: float
    ) -> None:
        log.warning("sync failed (%s); next attempt in %.0f s", type(exc).__name__, delay)
        waiting = await self.store.transact(_waiting)
        self._publish(
            state=state,
            message=exc.user_message(),
            next_attempt_s=delay,
            progress_done=0,
            progress_total=0,
            **waiting,
        )


def _host_port(url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "localhost", parts.port or (443 if parts.scheme == "https" else 80)


def _waiting(conn: Any) -> dict[str, int]:
    from storage.sync import queue

    return queue.waiting(conn)
