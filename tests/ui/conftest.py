"""Fixtures for widget tests: a session QApplication, a fresh qasync loop per test,
and real encrypted stores (SQLCipher files in temp profiles, passphrase-keyed so
the tests do not depend on the OS keyring).
"""

from __future__ import annotations

import os

# Before any Qt import: widget tests never need a display (screenshots use
# grab(), which renders the same offscreen; see test_screenshots.py).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import asyncio
import gc
import shutil
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtWidgets import QApplication

from app.credentials import CredentialKind, Credentials, MemoryCredentialFile
from app.demo import seed_demo
from app.events import ConsoleEvents
from app.records import KeySource
from app.services import NotesService
from app.session import Session
from storage.store import EncryptedStore
from ui import theme
from ui.event_loop import ConsoleEventLoop
from ui.gc_guard import GuiThreadCollector
from ui.main_window import QtMainWindow

PASSPHRASE = "test-pass"
T = TypeVar("T")


@pytest.fixture(scope="session")
def qapp_args() -> list[str]:
    return ["clinician-console-tests"]


@pytest.fixture(scope="session", autouse=True)
def _themed(qapp: QApplication) -> None:
    # Tests run against the real style sheet so a broken selector shows up here.
    theme.apply(qapp)
    # As in app.main: closing a window must not end the event loop mid-test.
    qapp.setQuitOnLastWindowClosed(False)


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread(qapp: QApplication) -> Iterator[GuiThreadCollector]:
    # As in app.main: a cycle holding a widget is never freed on a worker thread.
    collector = GuiThreadCollector()
    yield collector
    collector.stop()
    collector.deleteLater()


class Aio:
    """Drive coroutines on the per-test qasync loop (STYLE.md §3)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def wait_until(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:
        self.run(until(predicate, timeout), timeout + 1)


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> float:
    """Wait for a condition while the loop runs (qtbot.waitUntil cannot be used
    inside a coroutine: its nested Qt loop would step other asyncio tasks while
    this one is mid-step). Returns the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    loop = ConsoleEventLoop(qapp)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)
        # Collect the closed loop's QObjects here, on the GUI thread: left to the
        # cyclic GC they may be freed on the store's worker thread, and Qt warns
        # (or worse) when a QObject with timers dies on another thread.
        gc.collect()


@pytest.fixture
def aio(loop: asyncio.AbstractEventLoop) -> Aio:
    return Aio(loop)


async def open_store(profile: Path, cls: type[EncryptedStore] = EncryptedStore) -> EncryptedStore:
    return await cls.open(profile, key_source=KeySource.PASSPHRASE, passphrase=PASSPHRASE)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded store per session; tests get copies (the KDF makes creation slow-ish)."""
    profile = tmp_path_factory.mktemp("demo-template")

    async def build() -> None:
        store = await open_store(profile)
        try:
            # A fixed day keeps the screenshots and "Today" labels stable.
            await seed_demo(store, today=datetime.now(UTC))
        finally:
            await store.close()

    asyncio.run(build())
    return profile


@pytest.fixture
def profile(demo_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "profile"
    shutil.copytree(demo_template, target)
    return target


def passphrase_session(store: EncryptedStore, clock: Callable[[], float] = time.time) -> Session:
    """The session of a passphrase-mode test store: its passphrase (PASSPHRASE) is the
    credential the lock screen asks for (app/credentials.py). ``clock`` times the
    wait after wrong attempts."""
    credentials = Credentials(
        MemoryCredentialFile(), default_kind=CredentialKind.STORE_PASSPHRASE, clock=clock
    )
    return Session(store, credentials)


@dataclass
class Console:
    window: QtMainWindow
    store: EncryptedStore
    notes: NotesService
    events: ConsoleEvents
    profile: Path
    session: Session


ConsoleFactory = Callable[..., Awaitable[Console]]


@pytest.fixture
def make_console(profile: Path, qtbot: Any, aio: Aio) -> Iterator[Callable[..., Console]]:
    """Open the profile's real store and attach a main window to it."""
    made: list[Console] = []

    def factory(
        store_cls: type[EncryptedStore] = EncryptedStore,
        *,
        clock: Callable[[], float] = time.time,
        **window_kwargs: Any,
    ) -> Console:
        events = ConsoleEvents()
        store = aio.run(open_store(profile, store_cls))
        window_kwargs.setdefault("retry_ms", 60_000)  # tests trigger retries themselves
        window = QtMainWindow(events, **window_kwargs)
        session = passphrase_session(store, clock)
        qtbot.addWidget(window, before_close_func=lambda w: _settle(aio, w, session))
        window.resize(1280, 800)
        window.show()
        notes = NotesService(store, events)
        aio.run(window.attach(notes, store, session=session))
        console = Console(window, store, notes, events, profile, session)
        made.append(console)
        return console

    yield factory
    for console in made:
        if console.window.autosaver is not None:
            console.window.autosaver.pause()
        aio.run(console.store.close())


def _settle(aio: Aio, window: QtMainWindow, session: Session) -> None:
    """End what the console is doing before its window goes: run by pytest-qt before
    it closes and deletes the window. A test may end while a lock it started (an idle
    lock) is under way, a round its "Sync now" click started still runs, or with sync
    attached; and pytest-qt's close() starts the console's quit (flush, stop sync),
    which needs the loop. Left to run in the fixtures' teardown, while it closes the
    store, they updated the deleted window ("Lock failed", "a sync listener failed",
    "Quit failed" logged) and wrote to a closing store."""
    aio.run(session.lock_finished())
    if window.sync is not None:
        aio.run(window.sync.stop())
    leftover = [t for t in asyncio.all_tasks(aio.loop) if not t.done()]
    for task in leftover:
        task.cancel()
    if leftover:
        aio.run(asyncio.gather(*leftover, return_exceptions=True))
    window.close()  # the console's own quit, while the loop runs
    closing = window._closing
    if closing is not None and not closing.done():
        aio.run(asyncio.wait({closing}, timeout=10))


async def fresh_text(profile: Path, note_id: str) -> str:
    """Read a note back through a *separate* store connection: what is on disk."""
    store = await open_store(profile)
    try:
        return (await store.open_note(note_id)).text
    finally:
        await store.close()
