"""The sync use case: when to sync, what the status says, conflicts and refused records.

:class:`SyncService` owns the background loop that keeps the local store and the
record store in step. It runs a round on start, shortly after each local change
(:meth:`SyncService.nudge`, debounced), on a timer, on "Sync now", and sooner
when the network comes back (a cheap reachability probe while offline).
Failures back off exponentially with full jitter; a server's ``Retry-After`` is
honoured as a floor.

**The loop cannot die.** Whatever a round raises (a ``ConsoleError`` the adapters
translated, or an unexpected ``AttributeError`` from a malformed resource) is
caught, reported in :attr:`SyncService.status` with a message built from the
exception *type* only (never its text: it may echo patient data), and retried
with backoff. Only cancellation (:meth:`SyncService.stop`) ends it.

Everything it touches is behind the ports below, which ``storage`` implements
(``storage/sync/adapter.py``); the tests drive it with in-memory fakes
(``tests/unit/test_app_sync.py``). Pure Python: no Qt, no I/O of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from psygnal import Signal

from app.errors import MESSAGES, ConsoleError, SyncInternalError, SyncRetryableError
from app.events import ConsoleEvents
from app.records import utc_now

log = logging.getLogger(__name__)

#: ``progress(done, total)`` while a round pushes records.
Progress = Callable[[int, int], Awaitable[None] | None]


# --- value types ----------------------------------------------------------------------


class SyncState(StrEnum):
    DISABLED = "disabled"  # no record store configured
    IDLE = "online"
    SYNCING = "syncing"
    OFFLINE = "offline"  # the server could not be reached; retrying
    ERROR = "error"  # auth, TLS, refused records or an unexpected failure; retrying


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """What the sync indicator shows; every field is safe to display and log."""

    state: SyncState
    waiting: int = 0  # outbox rows not yet acknowledged by the server
    failed: int = 0  # of those, refused by the server (need an edit or a Retry)
    conflicts: int = 0  # open conflicts the clinician must decide
    last_success: str | None = None  # ISO-8601 UTC instant of the last successful round
    message: str = ""  # safe user text (ConsoleError.user_message), never patient data
    # The same as an app message key and its params (the window shows it translated).
    message_key: str = ""
    message_params: tuple[tuple[str, Any], ...] = ()
    progress_done: int = 0
    progress_total: int = 0
    next_attempt_s: float | None = None  # seconds from publication until the next try


MESSAGES["sync.refused_count"] = "The server refused {count} record(s)."


def _message(what: ConsoleError | str, **params: Any) -> dict[str, Any]:
    """SyncStatus's message fields: the English text and its message key (a ConsoleError's,
    or ``what`` itself with ``params``; "" for none)."""
    if isinstance(what, ConsoleError):
        key, params = what.message_key, dict(what.params)
        text = what.user_message()
    else:
        key = what
        text = MESSAGES[key].format(**params) if key else ""
    return {"message": text, "message_key": key, "message_params": tuple(params.items())}


@dataclass(frozen=True, slots=True)
class SyncCounts:
    waiting: int = 0
    failed: int = 0
    conflicts: int = 0


@dataclass(frozen=True, slots=True)
class SyncRoundResult:
    """What one round did (``storage``'s engine report, as app/ sees it)."""

    sent: int = 0
    acknowledged: int = 0
    pulled: int = 0
    conflicts: int = 0
    failed: int = 0
    reasons: tuple[str, ...] = ()  # scrubbed server reasons for refused records
    #: Notes whose local text a pull replaced: an open editor must reload them.
    updated_note_ids: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "pulled": self.pulled,
            "conflicts": self.conflicts,
            "failed": self.failed,
        }


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """The result of :meth:`SyncService.sync_now`: a round's result or why it failed."""

    status: SyncStatus
    result: SyncRoundResult | None = None
    error: ConsoleError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None and self.result.failed == 0


class Resolution(StrEnum):
    KEEP_MINE = "keep_mine"  # send this console's text over the server's version
    KEEP_THEIRS = "keep_theirs"  # take the server's text; ours stays in History
    MERGE = "merge"  # save a merged text and send it over the server's version


@dataclass(frozen=True, slots=True)
class Conflict:
    """A record changed both here and on the server since this console last saw it."""

    id: int
    entity_type: str  # "note"
    entity_id: str
    server_version_id: str
    server_text: str
    detected_at: str


class RecordKind(StrEnum):
    """What a row of the sync details is, as a code: the window names it in the user's
    language (``ui.sync_details``), the command line and the log in English
    (:data:`RECORD_KIND_NAMES`). Carries no patient data."""

    PATIENT = "patient"
    VISIT = "encounter"
    NOTE = "note"
    SIGNATURE = "provenance"  # a note's or an addendum's signature (FHIR Provenance)
    ATTACHMENT = "attachment"
    CODING = "charge_item"
    ANNOTATIONS = "annotation"
    CONSENT = "consent"
    ESCALATION = "escalation"
    ONCALL_NOTICE = "oncall_notice"
    ECONSULT = "econsult"  # an e-consult row of a kind this version does not name
    ECONSULT_REQUEST = "econsult_request"
    ECONSULT_MESSAGE = "econsult_message"
    ECONSULT_ANSWER = "econsult_answer"
    ECONSULT_STATUS = "econsult_status"
    PACS_STILL = "pacs_still"
    PACS_SIGN_IN = "pacs_sign_in"
    SERVER_RECORD = "server_record"  # a server resource sync set aside (quarantined)
    OTHER = "other"  # an outbox kind this version does not name


#: The English name of each kind (command line, logs, :attr:`FailedRecord.label`).
RECORD_KIND_NAMES: dict[RecordKind, str] = {
    RecordKind.PATIENT: "Patient",
    RecordKind.VISIT: "Visit",
    RecordKind.NOTE: "Note",
    RecordKind.SIGNATURE: "Signature",
    RecordKind.ATTACHMENT: "Attachment",
    RecordKind.CODING: "Coding",
    RecordKind.ANNOTATIONS: "Annotations",
    RecordKind.CONSENT: "Consent",
    RecordKind.ESCALATION: "Escalation",
    RecordKind.ONCALL_NOTICE: "On-call notification",
    RecordKind.ECONSULT: "E-consult",
    RecordKind.ECONSULT_REQUEST: "E-consult request",
    RecordKind.ECONSULT_MESSAGE: "E-consult message",
    RecordKind.ECONSULT_ANSWER: "E-consult answer",
    RecordKind.ECONSULT_STATUS: "E-consult status",
    RecordKind.PACS_STILL: "PACS still",
    RecordKind.PACS_SIGN_IN: "PACS · sign-in",
    RecordKind.SERVER_RECORD: "Server record",
    RecordKind.OTHER: "Record",
}


class FailureNote(StrEnum):
    """What the console adds to a refused row's stored reason (``detail``), as a code."""

    NONE = ""  # the stored reason alone
    SET_ASIDE = "set_aside"  # a server resource set aside; detail: the rule it broke
    PACS_GAVE_UP = "pacs_gave_up"  # not sent again after ``attempts`` (Retry: 5 more)
    NOT_DICOM = "not_dicom"  # cannot be made into DICOM (detail: why); record store keeps it


def _row_label(kind: RecordKind, whose: str) -> str:
    name = RECORD_KIND_NAMES[kind]
    return f"{name} · {whose}" if whose else name


@dataclass(frozen=True, slots=True)
class FailedRecord:
    """An outbox record that did not go: refused by the server, or retried and failing.

    What it is comes as codes (``kind``, ``note``) and values no language changes
    (``whose``, ``detail``): the window words them in the user's language."""

    entity_type: str  # "patient" | "encounter" | "note" | "attachment" | "pacs" | "econsult"...
    entity_id: str  # for Retry; never shown (ids mean nothing to a clinician)
    kind: RecordKind
    #: Whose record: the patient's name as in the worklist, the server's "Type/id" for a
    #: resource set aside; "" when not known (or none: the PACS's sign-in).
    whose: str
    detail: str  # stored reason: server text the engine scrubbed, or the console's words
    attempts: int
    note: FailureNote = FailureNote.NONE

    @property
    def label(self) -> str:
        """In English: "Note · Smith, Anna"."""
        return _row_label(self.kind, self.whose)

    @property
    def reason(self) -> str:
        """In English: the stored reason with what the console adds to it."""
        if self.note is FailureNote.SET_ASIDE:
            return f"set aside: {self.detail}"
        if self.note is FailureNote.PACS_GAVE_UP:
            return f"{self.detail}; not sent again after {self.attempts} attempts (Retry: 5 more)"
        if self.note is FailureNote.NOT_DICOM:
            return (
                f"this still cannot be made into DICOM ({self.detail}); the record store keeps it"
            )
        return self.detail


@dataclass(frozen=True, slots=True)
class ConflictItem:
    conflict: Conflict
    kind: RecordKind
    whose: str  # the patient's name as in the worklist; "" when not known
    encounter_id: str | None  # where to open it, when known

    @property
    def label(self) -> str:
        """In English: "Annotations · Smith, Anna"."""
        return _row_label(self.kind, self.whose)


@dataclass(frozen=True, slots=True)
class SyncOverview:
    """Everything the sync details view lists."""

    waiting: int
    failed: int
    conflicts: int
    failures: tuple[FailedRecord, ...] = ()
    open_conflicts: tuple[ConflictItem, ...] = ()


@dataclass(frozen=True, slots=True)
class ConflictResolved:
    conflict_id: int
    note_id: str
    resolution: Resolution


# --- ports (storage implements them: storage/sync/adapter.py) -------------------------


class SyncEngine(Protocol):
    """One push-then-pull round against the record store."""

    async def run_round(self, progress: Progress | None = None) -> SyncRoundResult:
        """Raises SyncRetryableError (network, 5xx, 429: try later), SyncAuthError,
        other SyncErrors, StoreErrors; any other exception is a bug the loop survives."""
        ...


class SyncQueue(Protocol):
    """The sync side of the local store: typed operations, no SQL above storage."""

    async def counts(self) -> SyncCounts: ...

    async def overview(self) -> SyncOverview: ...

    async def conflicts(self, note_id: str | None = None) -> list[Conflict]: ...

    async def record_conflict_read(self, conflict_id: int) -> None:
        """Audit that the clinician was shown a conflict's texts (HIPAA: reads are audited)."""
        ...

    async def resolve_conflict(
        self, conflict_id: int, resolution: Resolution, merged_text: str | None = None
    ) -> Conflict:
        """Apply the clinician's choice (audited); returns the conflict it closed.
        RecordNotFoundError when it is not open any more."""
        ...

    async def hold_pulled_as_conflict(self, note_id: str) -> None:
        """Keep the note's current (pulled) text as the server side of a new conflict."""
        ...

    async def retry(self, entity_type: str, entity_id: str) -> int:
        """Queue a refused record again as it is; how many outbox rows it re-queued."""
        ...


class Reachability(Protocol):
    """A cheap check that the record store answers at all (a TCP connect, no request)."""

    async def reachable(self, timeout_s: float) -> bool: ...


# --- the use case ---------------------------------------------------------------------


class SyncService:
    """Background sync, its status, and the clinician's sync decisions.

    ``engine`` is ``None`` when no record store is configured: the status stays
    DISABLED and no round ever runs, but conflicts already in the store can
    still be listed and resolved.
    """

    status_did_change = Signal(object)  # SyncStatus
    sync_did_finish = Signal(object)  # SyncRoundResult, after every successful round
    conflict_did_resolve = Signal(object)  # ConflictResolved

    def __init__(
        self,
        queue: SyncQueue,
        engine: SyncEngine | None = None,
        reachability: Reachability | None = None,
        *,
        interval_s: float = 300.0,
        debounce_s: float = 2.0,
        debounce_max_s: float = 30.0,
        backoff_base_s: float = 2.0,
        backoff_max_s: float = 600.0,
        probe_interval_s: float = 15.0,
        stop_timeout_s: float = 5.0,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.queue = queue
        self.engine = engine
        self.reachability = reachability
        self.interval_s = interval_s
        self.debounce_s = debounce_s
        self.debounce_max_s = debounce_max_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.probe_interval_s = probe_interval_s
        self.stop_timeout_s = stop_timeout_s
        self._jitter = jitter
        self._wake = asyncio.Event()
        self._round_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._debounce: asyncio.TimerHandle | None = None
        self._debounce_first: float | None = None  # loop time of the first nudge in a burst
        self._next: list[asyncio.Future[SyncOutcome]] = []  # sync_now callers, next round
        self.status = SyncStatus(SyncState.DISABLED if engine is None else SyncState.IDLE)

    @property
    def enabled(self) -> bool:
        """Whether a record store is configured (else everything stays local)."""
        return self.engine is not None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def failures(self) -> int:
        """Consecutive failed rounds (drives the backoff)."""
        return self._failures

    # --- control ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background loop (a round runs right away). No-op when disabled or
        already running."""
        if self.engine is None or self.running:
            return
        self._wake.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sync")

    async def stop(self) -> None:
        """Stop the loop. Never raises: after it returns the loop is stopped, or abandoned
        (it did not end within ``stop_timeout_s``: it stays cancelled and is no longer
        tracked, so :meth:`start` makes a new one). Only a cancellation of the caller
        itself propagates."""
        self._cancel_debounce()
        task, self._task = self._task, None
        for waiter in self._next:
            if not waiter.done():
                waiter.cancel()
        self._next.clear()
        if task is None:
            return
        if not task.done():
            task.cancel()
            # asyncio.wait never raises the task's exception; only the caller's own
            # cancellation propagates, as it must.
            await asyncio.wait({task}, timeout=self.stop_timeout_s)
        if not task.done():
            log.warning("the sync loop did not stop within %.0f s; abandoned", self.stop_timeout_s)
            # It may still hold the round lock: a later start() must not wait for it.
            self._round_lock = asyncio.Lock()
        elif not task.cancelled() and task.exception() is not None:
            # Read here so it is reported once, by type, and never re-raised into the
            # caller (the lock sequence must go on to lock the store).
            log.error("the sync loop had ended (%s)", type(task.exception()).__name__)

    def nudge(self) -> None:
        """A local change happened: sync soon. Debounced, so a burst of autosaves makes
        one round; bounded by ``debounce_max_s`` so steady typing cannot postpone it
        forever. While offline it waits for the backoff or the probe instead."""
        if not self.running or self.status.state is SyncState.OFFLINE:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._debounce_first is None:
            self._debounce_first = now
        self._cancel_debounce(keep_first=True)
        at = min(now + self.debounce_s, self._debounce_first + self.debounce_max_s)
        self._debounce = loop.call_at(at, self._debounce_fired)

    def request_sync(self) -> None:
        """Sync as soon as possible, skipping the backoff (the user asked, or made a
        decision that must reach the server). Does not wait; see :meth:`sync_now`."""
        self._failures = 0
        self._cancel_debounce()
        self._wake.set()

    async def sync_now(self) -> SyncOutcome:
        """Run a round now and return how it went. Failures are in the outcome (and the
        status), not raised. With the loop running, the round runs on the loop (never
        two at once); otherwise (headless ``sync --once``, or stopped) it runs here."""
        if self.engine is None:
            return SyncOutcome(self.status)
        if self.running:
            waiter: asyncio.Future[SyncOutcome] = asyncio.get_running_loop().create_future()
            self._next.append(waiter)
            self.request_sync()
            return await waiter
        self._failures = 0
        outcome, _delay = await self._round_guarded()
        return outcome

    def follow(self, events: ConsoleEvents) -> Callable[[], None]:
        """Nudge on every local change the bus announces (notes, attachments, imports);
        returns the function that stops following."""
        signals = (
            events.note_did_save,
            events.note_did_restore,
            events.note_did_create,
            events.attachment_did_add,
            events.attachment_did_delete,
            events.records_did_import,
            events.note_did_sign,
            events.econsult_did_change,
        )

        def on_change(*_args: Any) -> None:
            self.nudge()

        for signal in signals:
            signal.connect(on_change)

        def unfollow() -> None:
            for signal in signals:
                with contextlib.suppress(Exception):  # already disconnected
                    signal.disconnect(on_change)

        return unfollow

    # --- conflicts and refused records --------------------------------------------------

    async def overview(self) -> SyncOverview:
        return await self.queue.overview()

    async def counts(self) -> SyncCounts:
        return await self.queue.counts()

    async def conflicts(self, note_id: str | None = None) -> list[Conflict]:
        return await self.queue.conflicts(note_id)

    async def open_conflict(self, conflict: Conflict) -> None:
        """The clinician is about to see both texts of ``conflict`` (the merge dialog):
        one audited read per opening, not per lookup (the banner looks up after every
        round and shows no text)."""
        await self.queue.record_conflict_read(conflict.id)

    async def resolve(
        self, conflict_id: int, resolution: Resolution | str, merged_text: str | None = None
    ) -> ConflictResolved:
        """Apply keep mine / keep theirs / merge; the choice goes to the server next."""
        choice = Resolution(resolution)  # ValueError for anything else: a caller's bug
        if choice is Resolution.MERGE and merged_text is None:
            from app.errors import InputRejectedError

            raise InputRejectedError(reason="a merge needs the merged text")
        conflict = await self.queue.resolve_conflict(conflict_id, choice, merged_text)
        resolved = ConflictResolved(conflict_id, conflict.entity_id, choice)
        self._emit(self.conflict_did_resolve, resolved)
        await self._refresh_counts()
        self.request_sync()
        return resolved

    async def hold_pulled_as_conflict(self, note_id: str) -> None:
        """A pull replaced a note the clinician is typing in: keep the pulled text as a
        conflict so the next autosave cannot write over it unseen."""
        await self.queue.hold_pulled_as_conflict(note_id)
        await self._refresh_counts()

    async def retry(self, entity_type: str, entity_id: str) -> int:
        """Send a refused record again as it is (the Retry action in the sync details)."""
        requeued = await self.queue.retry(entity_type, entity_id)
        await self._refresh_counts()
        if requeued:
            self.request_sync()
        return requeued

    # --- the loop --------------------------------------------------------------------

    def backoff_s(self, retry_after_s: float | None = None) -> float:
        """Full jitter (AWS architecture blog, "Exponential Backoff and Jitter"): a
        uniform delay below an exponentially growing ceiling, so consoles that lost
        the server together do not come back together; ``Retry-After`` is a floor."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2 ** min(self._failures, 20)))
        delay = self._jitter(0.0, ceiling)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.backoff_max_s * 6))
        return delay

    async def _run(self) -> None:
        delay = 0.0
        while True:
            try:
                await self._wait(delay)
                _outcome, delay = await self._round_guarded()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop cannot die; see the docstring
                # Only a failure outside a round gets here (a probe, a timer): same rule.
                self._failures += 1
                delay = self.backoff_s()
                log.error("sync loop step failed (%s); retrying", type(exc).__name__)
                self._publish(
                    state=SyncState.ERROR,
                    **_message(SyncInternalError(reason=type(exc).__name__)),
                    next_attempt_s=delay,
                )

    async def _wait(self, delay: float) -> None:
        probe = None
        if (
            self.reachability is not None
            and self.status.state is SyncState.OFFLINE
            and delay > self.probe_interval_s
        ):
            # While offline, a cheap TCP probe notices the link coming back long
            # before the backoff (up to ten minutes) would try again.
            probe = asyncio.get_running_loop().create_task(self._probe_until_reachable())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
        finally:  # also when stop() cancels us: never leave a probe behind
            if probe is not None:
                probe.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await probe
        self._wake.clear()

    async def _probe_until_reachable(self) -> None:
        assert self.reachability is not None
        while True:
            await asyncio.sleep(self.probe_interval_s)
            try:
                ok = await self.reachability.reachable(self.probe_interval_s)
            except Exception as exc:  # a broken probe must not end the wait
                log.debug("reachability probe failed (%s)", type(exc).__name__)
                continue
            if ok:
                log.info("the record store is reachable again; syncing")
                self.request_sync()
                return

    async def _round_guarded(self) -> tuple[SyncOutcome, float]:
        """One round; whatever happens, an outcome and the delay until the next one.

        The ``sync_now`` callers waiting when the round starts get its outcome; those
        who ask while it runs get the next round's (their change may be newer)."""
        async with self._round_lock:
            waiters, self._next = self._next, []
            try:
                outcome, delay = await self._round()
            except asyncio.CancelledError:
                for waiter in waiters:
                    waiter.cancel()
                raise
            except Exception as exc:  # the round's own guard failed: report
                outcome, delay = self._after_unexpected(exc)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(outcome)
            return outcome, delay

    async def _round(self) -> tuple[SyncOutcome, float]:
        assert self.engine is not None
        counts = await self._counts_or_last()
        self._publish(state=SyncState.SYNCING, next_attempt_s=None, **_fields(counts))

        async def progress(done: int, total: int) -> None:
            self._publish(progress_done=done, progress_total=total)

        try:
            result = await self.engine.run_round(progress)
        except asyncio.CancelledError:
            raise
        except SyncRetryableError as exc:
            self._failures += 1
            delay = self.backoff_s(exc.retry_after_s)
            return await self._after_failure(SyncState.OFFLINE, exc, delay), delay
        except ConsoleError as exc:  # auth, TLS, refused, store locked, disk full
            self._failures += 1
            delay = self.backoff_s()
            return await self._after_failure(SyncState.ERROR, exc, delay), delay
        except Exception as exc:  # a bug or a malformed resource: survive it
            return self._after_unexpected(exc, counts)
        self._failures = 0
        counts = await self._counts_or_last()
        refused = _message("sync.refused_count", count=result.failed) if result.failed else {}
        self._publish(
            state=SyncState.ERROR if result.failed else SyncState.IDLE,
            last_success=utc_now(),
            **(refused or _message("")),
            progress_done=0,
            progress_total=0,
            next_attempt_s=None,
            **_fields(counts),
        )
        self._emit(self.sync_did_finish, result)
        return SyncOutcome(self.status, result=result), self.interval_s

    def _after_unexpected(
        self, exc: BaseException, counts: SyncCounts | None = None
    ) -> tuple[SyncOutcome, float]:
        self._failures += 1
        delay = self.backoff_s()
        # The type and frames only: an exception's text may quote a server resource.
        log.log(
            self._failure_log_level(logging.ERROR),
            "sync round failed unexpectedly (%s); next attempt in %.0f s",
            type(exc).__name__,
            delay,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        error = SyncInternalError(reason=type(exc).__name__)
        fields = _fields(counts) if counts is not None else {}
        self._publish(
            state=SyncState.ERROR,
            **_message(error),
            next_attempt_s=delay,
            progress_done=0,
            progress_total=0,
            **fields,
        )
        return SyncOutcome(self.status, error=error), delay

    async def _after_failure(
        self, state: SyncState, exc: ConsoleError, delay: float
    ) -> SyncOutcome:
        log.log(
            self._failure_log_level(logging.WARNING),
            "sync failed (%s); next attempt in %.0f s",
            type(exc).__name__,
            delay,
        )
        counts = await self._counts_or_last()
        self._publish(
            state=state,
            **_message(exc),
            next_attempt_s=delay,
            progress_done=0,
            progress_total=0,
            **_fields(counts),
        )
        return SyncOutcome(self.status, error=exc)

    def _failure_log_level(self, background: int) -> int:
        # A caller running a round itself (``sync --once``) gets the error in the
        # outcome and reports it in one line; only the background loop speaks up.
        return background if self.running else logging.INFO

    async def _counts_or_last(self) -> SyncCounts:
        """The outbox counts; the last published ones when the store cannot answer
        (locked, disk full): the status must still say what happened."""
        try:
            return await self.queue.counts()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("sync counts unavailable (%s)", type(exc).__name__)
            s = self.status
            return SyncCounts(s.waiting, s.failed, s.conflicts)

    async def _refresh_counts(self) -> None:
        self._publish(**_fields(await self._counts_or_last()))

    def _publish(self, **changes: Any) -> None:
        if "message" in changes and "message_key" not in changes:
            # A plain message replaces the last one's key too (never a stale translation).
            changes.update(message_key="", message_params=())
        self.status = replace(self.status, **changes)
        self._emit(self.status_did_change, self.status)

    @staticmethod
    def _emit(signal: Any, *args: Any) -> None:
        # A listener's failure (a widget already gone) is the listener's problem: it
        # must not become a sync failure, let alone end the loop.
        try:
            signal.emit(*args)
        except Exception as exc:  # psygnal's EmitLoopError wraps the slot's
            log.error("a sync listener failed (%s)", type(exc).__name__)

    def _debounce_fired(self) -> None:
        self._debounce = None
        self._debounce_first = None
        self._wake.set()

    def _cancel_debounce(self, *, keep_first: bool = False) -> None:
        if self._debounce is not None:
            self._debounce.cancel()
            self._debounce = None
        if not keep_first:
            self._debounce_first = None


def _fields(counts: SyncCounts) -> dict[str, int]:
    return {"waiting": counts.waiting, "failed": counts.failed, "conflicts": counts.conflicts}


__all__ = [
    "RECORD_KIND_NAMES",
    "Conflict",
    "ConflictItem",
    "ConflictResolved",
    "FailedRecord",
    "FailureNote",
    "Progress",
    "Reachability",
    "RecordKind",
    "Resolution",
    "SyncCounts",
    "SyncEngine",
    "SyncOutcome",
    "SyncOverview",
    "SyncQueue",
    "SyncRoundResult",
    "SyncService",
    "SyncState",
    "SyncStatus",
]
