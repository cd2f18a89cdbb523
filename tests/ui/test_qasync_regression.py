"""Guards the PySide6 6.11 pin (DESIGN.md §3) and ui.event_loop's fix to qasync.

PySide6 6.12.0 on CPython 3.11 drops a reference to ``None`` on every void Qt
call; under qasync that reaches ``Fatal Python error: none_dealloc`` within a
few thousand timer cycles. Lift the pin only when this passes on the newer release.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel

from tests.ui.conftest import Aio, until
from ui.gc_guard import GuiThreadCollector

CYCLES = 20_000


def test_qasync_survives_20000_timer_cycles(aio: Aio, qtbot) -> None:
    label = QLabel("tick")
    qtbot.addWidget(label)
    none_refs_before = sys.getrefcount(None)

    async def cycles() -> int:
        loop = asyncio.get_running_loop()
        done = 0
        for i in range(CYCLES):
            await asyncio.sleep(0)
            fired = loop.create_future()

            def on_timer(fut: asyncio.Future[None] = fired) -> None:
                # Void Qt calls: each returns None through shiboken.
                label.update()
                label.setToolTip("")
                label.adjustSize()
                fut.set_result(None)

            QTimer.singleShot(0, on_timer)
            await fired
            done += 1
            if i % 1000 == 0:
                label.setText(str(i))
        return done

    assert aio.run(cycles(), timeout=120) == CYCLES
    # A leak of one None reference per call would show up as ~-60,000 here
    # long before the interpreter aborts; allow for unrelated churn.
    assert sys.getrefcount(None) > none_refs_before - 1000


def test_a_task_stepped_between_two_runs_still_finds_its_loop(aio: Aio) -> None:
    """qasync 0.28 processes Qt events once more after ``run_until_complete`` has
    cleared the running loop; a background task stepped in that pass used to fail
    with "no running event loop" (a note's signature state failed so in CI).
    ui.event_loop runs every callback as the loop."""
    seen: list[asyncio.AbstractEventLoop] = []

    async def background() -> None:
        for _ in range(50):
            await asyncio.sleep(0)
            seen.append(asyncio.get_running_loop())

    tasks: list[asyncio.Task[None]] = []

    async def start() -> None:
        tasks.append(asyncio.ensure_future(background()))
        await asyncio.sleep(0)

    for _ in range(3):
        aio.run(start())
    aio.run(until(lambda: len(seen) == 150))
    assert all(loop is aio.loop for loop in seen)
    assert all(t.done() and t.exception() is None for t in tasks)


def test_a_callback_run_by_a_bare_process_events_finds_its_loop(aio: Aio) -> None:
    # A nested Qt loop or a plain processEvents() runs the loop's timers too.
    seen: list[asyncio.AbstractEventLoop] = []
    aio.loop.call_soon(lambda: seen.append(asyncio.get_running_loop()))
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        QApplication.processEvents()
    assert seen == [aio.loop]
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()  # and nothing is left set once it has run


def test_a_widget_in_a_cycle_is_never_freed_on_a_worker_thread(
    qapp: QApplication, _collect_on_the_gui_thread: GuiThreadCollector
) -> None:
    """A collection a worker thread triggers used to free widgets there; Qt then kept
    their timers and fired one at freed memory (a segfault, seen in the UI suite)."""
    destroyed_on: list[int] = []
    label = QLabel("in a cycle")
    holder: dict[str, object] = {"label": label}
    holder["self"] = holder  # a cycle: only the collector frees it
    label.destroyed.connect(
        lambda: destroyed_on.append(threading.get_ident()), Qt.ConnectionType.DirectConnection
    )
    del label, holder

    def allocate() -> None:
        # Far past the collector's thresholds: automatic collection would run here.
        junk = [[i] for i in range(200_000)]
        del junk

    worker = threading.Thread(target=allocate)
    worker.start()
    worker.join()
    assert destroyed_on == []  # not freed on the worker
    gc.collect()  # as the collector's timer does on this thread once a threshold is passed
    assert destroyed_on == [threading.get_ident()]
