"""Screenshots of the main states, saved to tests/artifacts/ for people to look at.

Rendering uses ``QWidget.grab()``, which paints the same under the offscreen
platform and a real X server; to render under Xvfb instead, run
``xvfb-run -a env QT_QPA_PLATFORM=xcb .venv/bin/python -m pytest tests/ui/test_screenshots.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app.events import ConsoleEvents
from app.records import KeySource
from storage.store import DB_FILE, EncryptedStore
from tests.ui.conftest import PASSPHRASE, Aio, until
from ui.main_window import QtMainWindow

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _save(widget, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert widget.grab().save(str(path), "PNG")
    return path


def _assert_non_trivial(path: Path, min_colors: int = 16, min_width: int = 800) -> None:
    assert path.stat().st_size > 10_000, "suspiciously small PNG"
    image = QImage(str(path))
    assert image.width() >= min_width and image.height() >= 400
    colors: set[int] = set()
    for y in range(0, image.height(), 7):
        for x in range(0, image.width(), 7):
            colors.add(image.pixel(x, y))
    assert len(colors) >= min_colors, f"only {len(colors)} colours: a blank window?"


def test_main_window_with_open_note(aio: Aio, make_console) -> None:
    console = make_console()
    window = console.window
    with_note = next(s for s in window.worklist.summaries() if s.note_id is not None)
    window.worklist.select_encounter(with_note.encounter.id)
    aio.wait_until(lambda: window.editor.note is not None)
    aio.run(until(lambda: True))  # one more turn so layout and status settle
    path = _save(window, "main_window.png")
    _assert_non_trivial(path)


def test_empty_state(aio: Aio, make_console) -> None:
    console = make_console()
    assert console.window.editor.is_empty_state()
    _assert_non_trivial(_save(console.window, "empty_state.png"), min_colors=8)


def test_search_results(aio: Aio, make_console, qtbot) -> None:
    console = make_console()
    qtbot.keyClicks(console.window.search.field, "review")
    qtbot.keyClick(console.window.search.field, Qt.Key.Key_Return)
    aio.wait_until(lambda: console.window.search.hits() or console.window.search.message_text())
    if not console.window.search.hits():
        console.window.search.field.clear()
        qtbot.keyClicks(console.window.search.field, "daily")
        qtbot.keyClick(console.window.search.field, Qt.Key.Key_Return)
        aio.wait_until(console.window.search.hits)
    first = console.window.search.hits()[0]
    console.window.search.hit_activated.emit(first)
    aio.wait_until(lambda: console.window.editor.note is not None)
    _assert_non_trivial(_save(console.window, "search_results.png"))


def test_no_results_state(aio: Aio, make_console, qtbot) -> None:
    console = make_console()
    qtbot.keyClicks(console.window.search.field, "zebrafish")
    qtbot.keyClick(console.window.search.field, Qt.Key.Key_Return)
    aio.wait_until(
        lambda: console.window.search.message_text().startswith("No patients or notes match")
    )
    _assert_non_trivial(_save(console.window, "search_no_results.png"), min_colors=8)


@pytest.fixture
def bare_window(qtbot) -> QtMainWindow:
    window = QtMainWindow(ConsoleEvents())
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    return window


def test_error_screen(aio: Aio, bare_window, profile: Path) -> None:
    db = profile / DB_FILE
    db.write_bytes(db.read_bytes()[:-1000])

    async def opener(source: KeySource | None, passphrase: str | None) -> EncryptedStore:
        return await EncryptedStore.open(
            profile, key_source=KeySource.PASSPHRASE, passphrase=PASSPHRASE
        )

    assert aio.run(bare_window.startup.obtain_store(opener)) is None
    _assert_non_trivial(_save(bare_window, "error_screen.png"), min_colors=8)


def test_lock_and_passphrase_screens(aio: Aio, make_console, bare_window) -> None:
    console = make_console()
    window = console.window
    window.worklist.select_encounter(window.worklist.summaries()[0].encounter.id)
    aio.wait_until(lambda: window.editor.note is not None)
    aio.run(window.lock("The console locked itself after 10 minutes without input."))
    _assert_non_trivial(_save(window, "lock_screen.png"), min_colors=8)

    async def prompt() -> None:
        task = aio.loop.create_task(
            bare_window.startup.ask_passphrase(
                title="Unlock the record store",
                message="The record store is protected by a passphrase. Enter it to unlock.",
                error="The passphrase does not open the record store. Try again.",
            )
        )
        await until(lambda: bare_window.startup.page() == "passphrase")
        _assert_non_trivial(_save(bare_window, "passphrase_prompt.png"), min_colors=8)
        bare_window.startup.cancel()
        await task

    aio.run(prompt())


def test_history_dialog_and_save_failed(aio: Aio, make_console, qtbot) -> None:
    from app.errors import DiskFullError

    console = make_console()
    window = console.window
    window.worklist.select_encounter(window.worklist.summaries()[0].encounter.id)
    aio.wait_until(lambda: window.editor.note is not None)
    qtbot.keyClicks(window.editor.section("Plan"), "Review in clinic. ")
    aio.run(window.autosaver.flush())
    dialog = window.show_history(window.editor.note.id)
    aio.run(dialog.loaded)
    dialog.select_version(1)
    _assert_non_trivial(_save(dialog, "history_dialog.png"), min_colors=8, min_width=600)
    dialog.close()

    original = console.store.save_note_text

    async def disk_full(note_id: str, text: str):
        raise DiskFullError()

    console.store.save_note_text = disk_full  # the UI's reaction only; see test_autosave
    try:
        qtbot.keyClicks(window.editor.section("Plan"), "More text")
        aio.wait_until(lambda: window.status.save_label.text().startswith("Save failed"))
        _assert_non_trivial(_save(window, "save_failed.png"))
    finally:
        console.store.save_note_text = original


def test_about_dialog(aio: Aio, make_console) -> None:
    console = make_console(sqlcipher_version=lambda: "4.x (test)")
    dialog = console.window.show_about()
    assert dialog.values["SQLCipher"] == "4.x (test)"
    assert dialog.values["Store key"] == "passphrase"
    dialog.adjustSize()
    path = _save(dialog, "about_dialog.png")
    assert path.stat().st_size > 5_000
    dialog.close()
