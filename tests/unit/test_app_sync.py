"""The sync use case (app/sync.py) against in-memory fakes of its ports.

No store, no server, no Qt: :class:`ScriptedEngine` plays a failure schedule
(aiortc's ``DummyConnection(loss_pattern=...)`` habit), :class:`FakeQueue` is an
outbox in a dict. The real adapters are exercised in tests/unit/test_sync_loop.py
and tests/integration/test_sync_*.py. Timings are tens of milliseconds; every
wait is for a condition, with a generous timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from app.errors import (
    InputRejectedError,
    RecordNotFoundError,
    StoreLockedError,
    SyncAuthError,
    SyncRetryableError,
)
from app.events import ConsoleEvents
from app.logging_setup import ScrubbingFormatter
from app.sync import (
    Conflict,
    ConflictResolved,
    Progress,
    Resolution,
    SyncCounts,
    SyncOverview,
    SyncRoundResult,
    SyncService,
    SyncState,
    SyncStatus,
)

PATIENT_TEXT = "Mrs Quill, chest pain since Tuesday"


# --- fakes ------------------------------------------------------------------------------


class ScriptedEngine:
    """Each round takes the next step of the script: an exception to raise, a result to
    return, or a callable (awaited) to run; an empty script means "all sent"."""

    def __init__(self, *script: BaseException | SyncRoundResult | Callable[[], Any]) -> None:
        self.script = list(script)
        self.rounds = 0
        self.round_done = asyncio.Event()

    async def run_round(self, progress: Progress | None = None) -> SyncRoundResult:
        self.rounds += 1
        try:
            step = self.script.pop(0) if self.script else SyncRoundResult()
            if progress is not None:
                maybe = progress(1, 2)
                if maybe is not None:
                    await maybe
            if isinstance(step, BaseException):
                raise step
            if callable(step):
                await step()
                return SyncRoundResult()
            return step
        finally:
            self.round_done.set()


class FakeQueue:
    """The outbox and conflicts as plain data; ``counts_error`` makes the store fail."""

    def __init__(self, waiting: int = 3) -> None:
        self.waiting = waiting
        self.refused: dict[tuple[str, str], int] = {}
        self.open: dict[int, Conflict] = {}
        self.resolved: list[tuple[int, Resolution, str | None]] = []
        self.held: list[str] = []
        self.reads: list[int] = []
        self.counts_error: Exception | None = None

    def add_conflict(self, conflict_id: int, note_id: str = "n1") -> Conflict:
        conflict = Conflict(conflict_id, "note", note_id, "v2", "their text", "2026-01-01T00:00Z")
        self.open[conflict_id] = conflict
        return conflict

    async def counts(self) -> SyncCounts:
        if self.counts_error is not None:
            raise self.counts_error
        return SyncCounts(self.waiting, len(self.refused), len(self.open))

    async def overview(self) -> SyncOverview:
        counts = await self.counts()
        return SyncOverview(counts.waiting, counts.failed, counts.conflicts)

    async def conflicts(self, note_id: str | None = None) -> list[Conflict]:
        return [c for c in self.open.values() if note_id in (None, c.entity_id)]

    async def resolve_conflict(
        self, conflict_id: int, resolution: Resolution, merged_text: str | None = None
    ) -> Conflict:
        if conflict_id not in self.open:
            raise RecordNotFoundError(kind="conflict", record_id=str(conflict_id))
        self.resolved.append((conflict_id, resolution, merged_text))
        return self.open.pop(conflict_id)

    async def record_conflict_read(self, conflict_id: int) -> None:
        self.reads.append(conflict_id)

    async def hold_pulled_as_conflict(self, note_id: str) -> None:
        self.held.append(note_id)
        self.add_conflict(100 + len(self.held), note_id)

    async def retry(self, entity_type: str, entity_id: str) -> int:
        return 1 if self.refused.pop((entity_type, entity_id), None) is not None else 0


class FakeReachability:
    def __init__(self, up: bool = False) -> None:
        self.up = up
        self.probes = 0

    async def reachable(self, timeout_s: float) -> bool:
        self.probes += 1
        return self.up


def service(
    engine: ScriptedEngine | None = None, queue: FakeQueue | None = None, **options: Any
) -> SyncService:
    options = {
        "interval_s": 3600.0,
        "debounce_s": 0.02,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.02,
        **options,
    }
    return SyncService(queue or FakeQueue(), engine or ScriptedEngine(), **options)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


def states(sync: SyncService) -> list[SyncStatus]:
    seen: list[SyncStatus] = []
    sync.status_did_change.connect(seen.append)
    return seen


# --- the loop cannot die ----------------------------------------------------------------


def test_the_loop_survives_an_unexpected_exception_and_reports_it_scrubbed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before: an AttributeError (a server resource whose ``meta`` is not an object)
    escaped the loop, which caught only ConsoleError: background sync ended for the
    session and the status stayed at "Syncing…"."""
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        engine = ScriptedEngine(
            AttributeError(f"'str' object has no attribute 'get' {PATIENT_TEXT}")
        )
        sync = service(engine)
        seen = states(sync)
        await sync.start()
        await until(lambda: engine.rounds >= 2 and sync.status.state is SyncState.IDLE)
        assert sync.running
        [error] = [s for s in seen if s.state is SyncState.ERROR]
        assert "unexpected problem (AttributeError)" in error.message
        assert "try again" in error.message
        assert error.next_attempt_s is not None and error.next_attempt_s >= 0
        assert all(PATIENT_TEXT not in s.message for s in seen)
        assert sync.failures == 0  # the later success reset the backoff
        await sync.stop()

    asyncio.run(scenario())
    # The log keeps the type and the frames for support, never the exception's text.
    # (exc_text is cleared: logging caches the text pytest's own formatter made.)
    formatted = "\n".join(
        ScrubbingFormatter().format(logging.makeLogRecord({**r.__dict__, "exc_text": None}))
        for r in caplog.records
    )
    assert "AttributeError" in formatted and "Quill" not in formatted


@pytest.mark.parametrize(
    "failure",
    [
        KeyError("meta"),
        TypeError("unhashable"),
        RuntimeError("boom"),
        StoreLockedError(),
        SyncAuthError(reason="401"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_loop_survives_every_kind_of_failure_in_a_row(failure: Exception) -> None:
    async def scenario() -> None:
        engine = ScriptedEngine(failure, failure, failure)
        sync = service(engine)
        await sync.start()
        await until(lambda: engine.rounds >= 4 and sync.status.state is SyncState.IDLE)
        assert sync.running
        await sync.stop()

    asyncio.run(scenario())


def test_the_loop_survives_a_failing_store_and_a_failing_listener() -> None:
    async def scenario() -> None:
        queue = FakeQueue()
        queue.counts_error = StoreLockedError()  # the status still has to say something
        engine = ScriptedEngine(SyncRetryableError(reason="timeout"))
        sync = service(engine, queue)

        def broken_widget(_status: SyncStatus) -> None:
            raise RuntimeError("wrapped C/C++ object has been deleted")

        sync.status_did_change.connect(broken_widget)
        sync.sync_did_finish.connect(lambda _r: 1 / 0)
        await sync.start()
        await until(lambda: engine.rounds >= 2 and sync.status.state is SyncState.IDLE)
        queue.counts_error = None
        sync.request_sync()
        await until(lambda: engine.rounds >= 3 and sync.status.waiting == 3)
        assert sync.running
        await sync.stop()

    asyncio.run(scenario())


def test_stop_never_raises_and_abandons_a_round_that_ignores_cancellation() -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def stubborn() -> None:
            while not release.is_set():
                try:
                    await release.wait()
                except asyncio.CancelledError:
                    continue  # a badly behaved adapter swallows the cancellation

        engine = ScriptedEngine(stubborn)
        sync = service(engine, stop_timeout_s=0.05)
        await sync.stop()  # never started: nothing to do
        await sync.start()
        await until(lambda: engine.rounds == 1)
        await asyncio.wait_for(sync.stop(), 2)  # returns although the round goes on
        assert not sync.running
        await sync.stop()  # twice is fine
        # Started again (unlock), the new loop is not held up by the abandoned round.
        await sync.start()
        await until(lambda: engine.rounds == 2 and sync.status.state is SyncState.IDLE)
        await sync.stop()
        release.set()
        await asyncio.sleep(0)

    asyncio.run(scenario())


def test_stop_does_not_raise_what_a_dead_loop_died_of() -> None:
    """Before: stop() awaited the task, so a loop that had died re-raised its exception
    there, and the lock sequence stopped before it locked the store (issue: the lock
    fails open). The loop cannot die any more; should its task end with an error all
    the same (a BaseException no handler takes), stop() still returns quietly."""

    async def scenario() -> None:
        sync = service()

        async def died() -> None:
            raise AttributeError("'str' object has no attribute 'get'")

        sync._task = asyncio.get_running_loop().create_task(died())
        await asyncio.sleep(0)
        assert sync._task.done()
        await sync.stop()
        assert not sync.running

    asyncio.run(scenario())


def test_stop_cancels_callers_waiting_for_a_round() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        engine = ScriptedEngine(gate.wait)
        sync = service(engine)
        await sync.start()
        await until(lambda: engine.rounds == 1)
        waiting = asyncio.ensure_future(sync.sync_now())
        await asyncio.sleep(0)
        await sync.stop()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(scenario())


# --- backoff -----------------------------------------------------------------------------


def test_backoff_is_full_jitter_below_an_exponential_ceiling() -> None:
    ceilings: list[float] = []

    def at_ceiling(low: float, high: float) -> float:
        ceilings.append(high)
        return high

    sync = SyncService(
        FakeQueue(), ScriptedEngine(), backoff_base_s=1, backoff_max_s=60, jitter=at_ceiling
    )
    for failures in range(8):
        sync._failures = failures
        sync.backoff_s()
    assert ceilings == [1, 2, 4, 8, 16, 32, 60, 60]
    sync._failures = 10
    real = SyncService(FakeQueue(), ScriptedEngine(), backoff_base_s=1, backoff_max_s=60)
    real._failures = 10
    delays = {round(real.backoff_s(), 6) for _ in range(50)}
    assert all(0 <= d <= 60 for d in delays) and len(delays) > 1  # jittered
    # Retry-After is a floor, but a hostile one cannot park sync for days.
    assert real.backoff_s(retry_after_s=120) >= 120
    assert real.backoff_s(retry_after_s=10**9) <= 360


def test_retry_after_and_failures_drive_the_next_attempt_and_success_resets() -> None:
    async def scenario() -> None:
        engine = ScriptedEngine(
            SyncRetryableError(reason="busy", retry_after_s=0.2),
            SyncRetryableError(reason="busy"),
        )
        sync = service(engine, backoff_base_s=0.01, backoff_max_s=0.05)
        seen = states(sync)
        await sync.start()
        await until(lambda: any(s.state is SyncState.OFFLINE for s in seen))
        first = next(s for s in seen if s.state is SyncState.OFFLINE)
        assert first.next_attempt_s is not None and first.next_attempt_s >= 0.2
        assert sync.failures == 1
        await until(lambda: engine.rounds == 3 and sync.status.state is SyncState.IDLE)
        assert sync.failures == 0 and sync.status.next_attempt_s is None
        await sync.stop()

    asyncio.run(scenario())


def test_request_sync_skips_the_backoff() -> None:
    async def scenario() -> None:
        engine = ScriptedEngine(SyncAuthError(reason="401"))
        sync = service(engine, backoff_base_s=3600, backoff_max_s=3600)
        await sync.start()
        await until(lambda: sync.status.state is SyncState.ERROR)
        assert sync.failures == 1
        sync.request_sync()  # the user fixed the password and pressed Sync now
        assert sync.failures == 0
        await until(lambda: sync.status.state is SyncState.IDLE)
        await sync.stop()

    asyncio.run(scenario())


# --- nudges ----------------------------------------------------------------------------------


def test_a_burst_of_nudges_makes_one_round() -> None:
    async def scenario() -> None:
        engine = ScriptedEngine()
        sync = service(engine, debounce_s=0.05)
        await sync.start()
        await until(lambda: engine.rounds == 1 and sync.status.state is SyncState.IDLE)
        for _ in range(20):
            sync.nudge()
        await until(lambda: engine.rounds == 2)
        # Nothing more was asked for: no further round (the timer is an hour).
        await asyncio.sleep(0.2)
        assert engine.rounds == 2
        await sync.stop()

    asyncio.run(scenario())


def test_steady_nudges_cannot_postpone_sync_forever() -> None:
    async def scenario() -> None:
        engine = ScriptedEngine()
        sync = service(engine, debounce_s=0.1, debounce_max_s=0.2)
        await sync.start()
        await until(lambda: engine.rounds == 1 and sync.status.state is SyncState.IDLE)
        loop = asyncio.get_running_loop()
        end = loop.time() + 1.0
        while loop.time() < end:  # an autosave every 20 ms, each inside the debounce
            sync.nudge()
            await asyncio.sleep(0.02)
        assert engine.rounds >= 2  # the ceiling fired while the nudges went on
        await sync.stop()

    asyncio.run(scenario())


def test_nudges_follow_the_bus() -> None:
    async def scenario() -> None:
        engine = ScriptedEngine()
        events = ConsoleEvents()
        sync = service(engine)
        unfollow = sync.follow(events)
        await sync.start()
        await until(lambda: engine.rounds == 1 and sync.status.state is SyncState.IDLE)
        events.attachment_did_add.emit(object(), None)
        await until(lambda: engine.rounds == 2)
        events.note_did_save.emit(object(), None)
        await until(lambda: engine.rounds == 3)
        unfollow()
        events.note_did_save.emit(object(), None)
        await asyncio.sleep(0.1)
        assert engine.rounds == 3
        await sync.stop()

    asyncio.run(scenario())


def test_offline_a_nudge_waits_and_the_probe_brings_sync_back() -> None:
    async def scenario() -> None:
        engine = ScriptedEngine(SyncRetryableError(reason="connection refused"))
        reach = FakeReachability(up=False)
        sync = SyncService(
            FakeQueue(),
            engine,
            reach,
            backoff_base_s=3600,
            backoff_max_s=3600,
            probe_interval_s=0.01,
            debounce_s=0.01,
        )
        await sync.start()
        await until(lambda: sync.status.state is SyncState.OFFLINE and reach.probes >= 2)
        sync.nudge()  # offline: a save does not hammer a server that is down
        await asyncio.sleep(0.1)
        assert engine.rounds == 1
        reach.up = True  # the link is back: the probe, not the hour-long backoff, notices
        await until(lambda: sync.status.state is SyncState.IDLE)
        assert engine.rounds == 2 and sync.failures == 0
        await sync.stop()

    asyncio.run(scenario())


def test_a_failing_probe_does_not_end_the_wait() -> None:
    class BrokenProbe:
        calls = 0

        async def reachable(self, timeout_s: float) -> bool:
            self.calls += 1
            if self.calls < 3:
                raise OSError("no route")
            return True

    async def scenario() -> None:
        engine = ScriptedEngine(SyncRetryableError(reason="down"))
        sync = SyncService(
            FakeQueue(), engine, BrokenProbe(), backoff_base_s=3600, backoff_max_s=3600,
            probe_interval_s=0.01,
        )  # fmt: skip
        await sync.start()
        await until(lambda: engine.rounds == 2 and sync.status.state is SyncState.IDLE)
        await sync.stop()

    asyncio.run(scenario())


# --- status --------------------------------------------------------------------------------


def test_status_goes_syncing_then_online_with_counts_progress_and_last_success() -> None:
    async def scenario() -> None:
        queue = FakeQueue(waiting=4)
        finished: list[SyncRoundResult] = []

        async def drained() -> None:
            queue.waiting = 0

        engine = ScriptedEngine(drained)
        sync = service(engine, queue)
        sync.sync_did_finish.connect(finished.append)
        seen = states(sync)
        assert sync.status == SyncStatus(SyncState.IDLE)
        outcome = await sync.sync_now()
        assert outcome.ok and outcome.status is sync.status
        assert seen[0].state is SyncState.SYNCING and seen[0].waiting == 4
        assert any(s.progress_done == 1 and s.progress_total == 2 for s in seen)
        final = seen[-1]
        assert final.state is SyncState.IDLE and final.waiting == 0
        assert final.last_success is not None and final.progress_total == 0
        assert len(finished) == 1

    asyncio.run(scenario())


def test_status_says_what_went_wrong() -> None:
    async def scenario() -> None:
        engine = ScriptedEngine(
            SyncRetryableError(reason="timeout"),
            SyncAuthError(reason="401"),
            SyncRoundResult(sent=2, acknowledged=1, failed=1, reasons=("invalid",)),
        )
        sync = service(engine)
        offline = await sync.sync_now()
        assert offline.status.state is SyncState.OFFLINE and not offline.ok
        assert isinstance(offline.error, SyncRetryableError)
        assert offline.status.next_attempt_s is not None
        auth = await sync.sync_now()
        assert auth.status.state is SyncState.ERROR
        assert "credentials" in auth.status.message
        refused = await sync.sync_now()
        assert refused.status.state is SyncState.ERROR and not refused.ok
        assert refused.status.message == "The server refused 1 record(s)."
        assert refused.status.last_success is not None  # the round itself went through

    asyncio.run(scenario())


def test_without_a_record_store_nothing_runs() -> None:
    async def scenario() -> None:
        sync = SyncService(FakeQueue())
        assert not sync.enabled and sync.status.state is SyncState.DISABLED
        await sync.start()
        assert not sync.running
        sync.nudge()
        outcome = await sync.sync_now()
        assert outcome.result is None and outcome.status.state is SyncState.DISABLED
        await sync.stop()

    asyncio.run(scenario())


def test_sync_now_with_the_loop_running_waits_for_a_round_that_starts_after_it() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        queue = FakeQueue(waiting=1)

        async def slow() -> None:
            await gate.wait()

        async def drained() -> None:
            queue.waiting = 0

        engine = ScriptedEngine(slow, drained)
        sync = service(engine, queue)
        await sync.start()
        await until(lambda: engine.rounds == 1)
        asked = asyncio.ensure_future(sync.sync_now())  # asked while round 1 runs
        await asyncio.sleep(0.05)
        assert not asked.done()
        gate.set()
        outcome = await asyncio.wait_for(asked, 5)
        assert engine.rounds == 2  # its own round, not the one already under way
        assert outcome.ok and outcome.status.waiting == 0
        await sync.stop()

    asyncio.run(scenario())


# --- conflicts and refused records -----------------------------------------------------


@pytest.mark.parametrize(
    ("resolution", "merged"),
    [(Resolution.KEEP_MINE, None), (Resolution.KEEP_THEIRS, None), ("merge", "merged text")],
)
def test_resolving_a_conflict_applies_it_announces_it_and_sends_it(
    resolution: Resolution | str, merged: str | None
) -> None:
    async def scenario() -> None:
        queue = FakeQueue()
        queue.add_conflict(7, "note-1")
        engine = ScriptedEngine()
        sync = service(engine, queue, backoff_base_s=3600, backoff_max_s=3600)
        announced: list[ConflictResolved] = []
        sync.conflict_did_resolve.connect(announced.append)
        await sync.start()
        await until(lambda: engine.rounds == 1 and sync.status.conflicts == 1)
        sync._failures = 5  # even in a long backoff, a decision goes up right away
        done = await sync.resolve(7, resolution, merged)
        assert done == ConflictResolved(7, "note-1", Resolution(resolution))
        assert announced == [done]
        assert queue.resolved == [(7, Resolution(resolution), merged)]
        assert sync.status.conflicts == 0
        await until(lambda: engine.rounds == 2)
        assert await sync.conflicts() == []
        await sync.stop()

    asyncio.run(scenario())


def test_opening_a_conflict_is_an_audited_read() -> None:
    async def scenario() -> None:
        queue = FakeQueue()
        conflict = queue.add_conflict(3, "note-9")
        sync = service(ScriptedEngine(), queue)
        assert await sync.conflicts("note-9") == [conflict]
        assert queue.reads == []  # a lookup shows no text
        await sync.open_conflict(conflict)
        assert queue.reads == [3]

    asyncio.run(scenario())


def test_bad_resolutions_change_nothing() -> None:
    async def scenario() -> None:
        queue = FakeQueue()
        queue.add_conflict(1)
        sync = service(queue=queue)
        with pytest.raises(InputRejectedError):
            await sync.resolve(1, Resolution.MERGE)  # a merge needs its text
        with pytest.raises(ValueError, match="overwrite"):
            await sync.resolve(1, "overwrite")
        with pytest.raises(RecordNotFoundError):
            await sync.resolve(99, Resolution.KEEP_MINE)
        assert queue.resolved == [] and list(queue.open) == [1]

    asyncio.run(scenario())


def test_holding_a_pulled_text_makes_a_conflict_and_updates_the_count() -> None:
    async def scenario() -> None:
        queue = FakeQueue()
        sync = service(queue=queue)
        await sync.hold_pulled_as_conflict("note-9")
        assert queue.held == ["note-9"]
        assert [c.entity_id for c in await sync.conflicts("note-9")] == ["note-9"]
        assert sync.status.conflicts == 1

    asyncio.run(scenario())


def test_retry_requeues_a_refused_record_and_sends_it() -> None:
    async def scenario() -> None:
        queue = FakeQueue()
        queue.refused[("note", "n1")] = 3
        engine = ScriptedEngine()
        sync = service(engine, queue, backoff_base_s=3600, backoff_max_s=3600)
        await sync.start()
        await until(lambda: engine.rounds == 1 and sync.status.failed == 1)
        assert await sync.retry("note", "n1") == 1
        assert sync.status.failed == 0
        await until(lambda: engine.rounds == 2)
        assert await sync.retry("note", "n1") == 0  # nothing refused any more: no round
        await asyncio.sleep(0.1)
        assert engine.rounds == 2
        await sync.stop()

    asyncio.run(scenario())
