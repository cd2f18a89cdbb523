"""The composition root: importable without Qt, and a full GUI run end to end."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer

from app import soap
from app.records import KeySource
from tests.conftest import need
from tests.ui.conftest import PASSPHRASE, fresh_text, until
from ui.main_window import QtMainWindow

ROOT = Path(__file__).resolve().parents[2]

_BLOCK_QT = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'PySide6', 'shiboken6', 'qasync', 'ui'}:
            raise ImportError(f'blocked: {name}')
sys.meta_path.insert(0, Block())
import app.main
assert callable(app.main.run_gui)
print('ok')
"""


def test_app_main_imports_without_qt() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _BLOCK_QT], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def _run_gui_with_robot(
    robot: Callable[[QtMainWindow], Awaitable[None]], qapp, profile: Path, **kwargs
) -> int:
    """Run the real ``run_gui`` while ``robot`` drives its window.

    run_gui owns its loop (asyncio.Runner + qasync), so the robot is started
    from a Qt timer once that loop runs. It drives the *visible* window (earlier
    tests' windows may linger until collected) and, should it fail, closes the
    window so run_gui returns and the failure is reported instead of hanging.
    """
    tasks: list[asyncio.Task[None]] = []

    async def drive() -> None:
        def visible() -> list[QtMainWindow]:
            return [
                w for w in qapp.topLevelWidgets() if isinstance(w, QtMainWindow) and w.isVisible()
            ]

        await until(visible, timeout=10)
        win = visible()[0]
        try:
            await robot(win)
        finally:
            if win.isVisible():
                win.close()

    QTimer.singleShot(0, lambda: tasks.append(asyncio.ensure_future(drive())))
    from app.main import run_gui

    code = run_gui(profile, **kwargs)
    assert tasks and tasks[0].done()
    if tasks[0].exception() is not None:
        raise tasks[0].exception()
    return code


def test_run_gui_new_passphrase_store_demo_type_and_quit(tmp_path: Path, qapp, qtbot) -> None:
    profile = tmp_path / "profile"
    seen: dict[str, object] = {}

    async def robot(win: QtMainWindow) -> None:
        startup = win.startup
        await until(lambda: startup.page() == "passphrase", timeout=10)
        seen["confirm"] = startup.form.confirm.isVisible()  # a new store: repeat it
        qtbot.keyClicks(startup.form.field, PASSPHRASE)
        qtbot.keyClicks(startup.form.confirm, PASSPHRASE)
        qtbot.keyClick(startup.form.confirm, Qt.Key.Key_Return)
        await until(lambda: win.worklist is not None and win.worklist.summaries(), timeout=20)
        seen["visits"] = len(win.worklist.summaries())
        target = next(s for s in win.worklist.summaries() if s.note_id is None)
        win.worklist.select_encounter(target.encounter.id)
        await until(win.editor.is_draft)  # nothing stored until the first keystroke
        qtbot.keyClicks(win.editor.section("Plan"), "Typed just before quitting")
        await until(lambda: win.editor.note is not None)
        seen["note_id"] = win.editor.note.id
        seen["about"] = win.show_about().values["SQLCipher"]
        win.about_dialog.close()
        win.close()  # File > Quit does the same; autosave is flushed first

    code = _run_gui_with_robot(
        robot,
        qapp,
        profile,
        demo=True,
        policy_path=tmp_path / "no-policy.toml",
        key_source=KeySource.PASSPHRASE,
    )
    assert code == 0
    assert seen["confirm"] is True
    assert seen["visits"] == 6
    assert seen["about"] not in ("", "unknown")
    text = asyncio.run(fresh_text(profile, str(seen["note_id"])))
    assert soap.parse(text)["Plan"] == "Typed just before quitting"


def test_run_gui_damaged_store_keeps_error_screen_until_quit(
    profile: Path, tmp_path: Path, qapp, qtbot
) -> None:
    db = profile / "store.db"
    db.write_bytes(db.read_bytes()[:-1000])
    seen: dict[str, object] = {}

    async def robot(win: QtMainWindow) -> None:
        startup = win.startup
        await until(lambda: startup.page() == "passphrase", timeout=10)
        qtbot.keyClicks(startup.form.field, PASSPHRASE)
        qtbot.keyClick(startup.form.field, Qt.Key.Key_Return)
        await until(lambda: startup.page() == "error", timeout=10)
        for _ in range(20):  # the screen stays up: nobody closes it but the user
            await asyncio.sleep(0)
        seen["visible"] = win.isVisible()
        seen["message"] = startup.error_message.text()
        seen["status"] = win.status.store_label.text()
        qtbot.mouseClick(startup.quit_button, Qt.MouseButton.LeftButton)

    code = _run_gui_with_robot(
        robot, qapp, profile, demo=False, policy_path=tmp_path / "no-policy.toml"
    )
    assert code == 1
    assert seen["visible"] is True
    assert "damaged (the file is truncated)" in str(seen["message"])
    assert seen["status"] == "Records not opened"


@pytest.mark.keyring
def test_run_gui_keyring_store_chooses_a_pin_then_asks_it_at_every_start(
    tmp_path: Path, qapp, qtbot
) -> None:
    """The composition root end to end with the real keyring: a new keyring store makes
    the user choose a PIN; the next start asks for it before the store is opened, and
    a wrong one opens nothing."""
    from storage import keys

    need(keys.keyring_available(), "a Secret Service keyring on this session")
    from storage.credentials import FileCredentialStore

    profile = tmp_path / "profile"
    seen: dict[str, object] = {}

    async def first(win: QtMainWindow) -> None:
        startup = win.startup
        await until(lambda: startup.page() == "passphrase", timeout=20)
        seen["title"] = startup.form.title.text()
        qtbot.keyClicks(startup.form.field, "204817")
        qtbot.keyClicks(startup.form.confirm, "204817")
        qtbot.keyClick(startup.form.confirm, Qt.Key.Key_Return)
        await until(lambda: win.worklist is not None, timeout=20)
        win.close()

    policy = tmp_path / "no-policy.toml"
    kwargs = {"demo": False, "policy_path": policy, "key_source": KeySource.KEYRING}
    assert _run_gui_with_robot(first, qapp, profile, **kwargs) == 0
    assert seen["title"] == "Choose a PIN for this console"

    async def second(win: QtMainWindow) -> None:
        startup = win.startup
        await until(lambda: startup.page() == "passphrase", timeout=20)
        seen["asks"] = startup.form.message.text()
        qtbot.keyClicks(startup.form.field, "000001")
        qtbot.keyClick(startup.form.field, Qt.Key.Key_Return)
        await until(startup.form.error.isVisible, timeout=10)
        seen["console_before"] = win.worklist is not None
        qtbot.keyClicks(startup.form.field, "204817")
        qtbot.keyClick(startup.form.field, Qt.Key.Key_Return)
        await until(lambda: win.worklist is not None, timeout=20)
        win.close()

    meta = keys.read_meta(profile)
    try:
        assert _run_gui_with_robot(second, qapp, profile, **kwargs) == 0
        assert seen["asks"] == "Enter your PIN to open the console."
        assert seen["console_before"] is False
    finally:
        if meta is not None:
            FileCredentialStore(profile, meta.store_id, hashed=True).forget()
            keys.delete_keyring_key(meta)
