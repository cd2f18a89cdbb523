"""Startup errors, passphrase prompts, the lock screen and the error presenter."""

from __future__ import annotations

import logging
import shutil
import sys
import threading
import warnings
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.errors import (
    KeyringUnavailableError,
    PassphraseRequiredError,
    StoreLockedError,
    WrongPassphraseError,
)
from app.events import ConsoleEvents
from app.records import KeySource, StoreState
from storage import database, keys
from storage.store import DB_FILE, EncryptedStore
from tests.ui.conftest import PASSPHRASE, Aio, fresh_text, until
from ui.errors import GENERIC_MESSAGE, ExceptionHandler
from ui.main_window import QtMainWindow
from ui.ops import run_op
from ui.startup import what_to_do


def _opener(profile: Path):
    async def open_store(source: KeySource | None, passphrase: str | None) -> EncryptedStore:
        return await EncryptedStore.open(profile, key_source=source, passphrase=passphrase)

    return open_store


@pytest.fixture
def window(qtbot) -> QtMainWindow:
    win = QtMainWindow(ConsoleEvents())
    qtbot.addWidget(win)
    win.resize(1100, 700)
    win.show()
    return win


# -- startup error screen -------------------------------------------------------
def _damage(profile: Path) -> None:
    db = profile / DB_FILE
    data = bytearray(db.read_bytes())
    data[4096 : 4096 + 64] = b"\xa5" * 64  # a page's ciphertext: its HMAC no longer matches
    data[:16] = b"\x00" * 16  # and the salt, so the key derivation is wrong too
    db.write_bytes(bytes(data))


def _truncate(profile: Path) -> None:
    db = profile / DB_FILE
    db.write_bytes(db.read_bytes()[:-1000])


def _too_new(profile: Path) -> None:
    meta = keys.read_meta(profile)
    key = keys.load_passphrase_key(meta, PASSPHRASE)
    conn = database.connect(profile / DB_FILE, key, create=False)
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()


def _missing(profile: Path) -> None:
    (profile / DB_FILE).unlink()


@pytest.mark.parametrize(
    ("breaker", "expected"),
    [
        (_damage, "is damaged"),
        (_truncate, "the file is truncated"),
        (_too_new, "written by a newer Clinician Console"),
        (_missing, "is missing although this profile had one"),
    ],
)
def test_store_failure_shows_error_screen_with_quit(
    aio: Aio, window, profile: Path, qtbot, breaker, expected
) -> None:
    breaker(profile)
    before = sorted(p.name for p in profile.iterdir())
    startup = window.startup

    async def scenario() -> EncryptedStore | None:
        task = aio.loop.create_task(startup.obtain_store(_opener(profile)))
        # Some failures show only once the key is known: answer the prompt if asked.
        await until(lambda: startup.page() != "loading" or task.done(), timeout=10)
        if startup.page() == "passphrase":
            qtbot.keyClicks(startup.form.field, PASSPHRASE)
            qtbot.keyClick(startup.form.field, Qt.Key.Key_Return)
        return await task

    assert aio.run(scenario()) is None
    assert startup.page() == "error"
    assert expected in window.startup.error_message.text()
    assert window.startup.error_advice.text() == what_to_do(window.startup.error)
    assert window.startup.error_message.isVisible() and window.startup.quit_button.isVisible()
    assert sorted(p.name for p in profile.iterdir()) == before  # nothing was created or fixed
    qtbot.mouseClick(window.startup.quit_button, Qt.MouseButton.LeftButton)
    aio.wait_until(lambda: not window.isVisible())


def test_passphrase_prompt_rejects_wrong_then_opens(aio: Aio, window, profile, qtbot) -> None:
    startup = window.startup

    async def scenario() -> EncryptedStore | None:
        task = aio.loop.create_task(startup.obtain_store(_opener(profile)))
        await until(lambda: startup.page() == "passphrase")
        assert startup.form.message.text() == PassphraseRequiredError().user_message()
        assert not startup.form.confirm.isVisible()  # an existing store: no "repeat"
        qtbot.keyClicks(startup.form.field, "not-the-pass")
        qtbot.keyClick(startup.form.field, Qt.Key.Key_Return)
        await until(startup.form.error.isVisible, timeout=10)
        assert startup.form.error.text() == WrongPassphraseError().user_message()
        assert startup.form.field.text() == ""
        qtbot.keyClicks(startup.form.field, PASSPHRASE)
        qtbot.mouseClick(startup.form.submit_button, Qt.MouseButton.LeftButton)
        return await task

    store = aio.run(scenario())
    assert store is not None
    try:
        assert store.status.state is StoreState.UNLOCKED
        assert store.status.key_source is KeySource.PASSPHRASE
    finally:
        aio.run(store.close())


def test_no_keyring_offers_passphrase_mode_for_a_new_store(
    aio: Aio, window, tmp_path: Path, qtbot
) -> None:
    profile = tmp_path / "fresh"
    calls: list[KeySource | None] = []
    real = _opener(profile)

    async def no_keyring(source: KeySource | None, passphrase: str | None) -> EncryptedStore:
        # Stands in for a machine without a Secret Service: the real store is
        # only asked once the UI has switched to passphrase mode.
        calls.append(source)
        if source is not KeySource.PASSPHRASE:
            raise KeyringUnavailableError(backend="fail.Keyring")
        return await real(source, passphrase)

    startup = window.startup

    async def scenario() -> EncryptedStore | None:
        task = aio.loop.create_task(startup.obtain_store(no_keyring, new_store=True))
        await until(lambda: startup.page() == "passphrase")
        assert "No OS keyring is available (fail.Keyring)" in startup.form.message.text()
        assert startup.form.confirm.isVisible()
        qtbot.keyClicks(startup.form.field, PASSPHRASE)
        qtbot.keyClicks(startup.form.confirm, "different")
        qtbot.keyClick(startup.form.confirm, Qt.Key.Key_Return)
        assert startup.form.error.text() == "The two passphrases differ."
        startup.form.confirm.clear()
        qtbot.keyClicks(startup.form.confirm, PASSPHRASE)
        qtbot.keyClick(startup.form.confirm, Qt.Key.Key_Return)
        return await task

    store = aio.run(scenario())
    assert store is not None
    try:
        assert calls == [None, KeySource.PASSPHRASE]
        assert store.status.key_source is KeySource.PASSPHRASE
    finally:
        aio.run(store.close())


def test_quitting_at_the_prompt_returns_none(aio: Aio, window, profile, qtbot) -> None:
    startup = window.startup

    async def scenario() -> EncryptedStore | None:
        task = aio.loop.create_task(startup.obtain_store(_opener(profile)))
        await until(lambda: startup.page() == "passphrase")
        qtbot.mouseClick(startup.form.quit_button, Qt.MouseButton.LeftButton)
        return await task

    assert aio.run(scenario()) is None
    assert startup.error is None
    aio.wait_until(lambda: not window.isVisible())


# -- lock screen --------------------------------------------------------------------
def test_idle_lock_covers_window_flushes_and_unlocks(aio: Aio, make_console, qtbot) -> None:
    # The short timeout starts once the text is typed: started with the console, it
    # could run out on a loaded machine before the note had opened.
    console = make_console(idle_lock_ms=600_000, debounce_ms=60_000)
    window = console.window
    summary = window.worklist.summaries()[0]
    window.worklist.select_encounter(summary.encounter.id)
    aio.wait_until(lambda: window.editor.note is not None)
    qtbot.keyClicks(window.editor.section("Plan"), "Typed before the lock")
    assert window.autosaver.has_unsaved and not window.locked
    window.set_idle_lock_ms(300)

    aio.wait_until(lambda: window.locked and console.store.status.state is StoreState.LOCKED)
    lock = window.lock_screen
    assert lock.isVisible()
    assert lock.geometry() == window.centralWidget().rect()
    assert not window.editor.isEnabled()
    assert lock.form.field.isVisible()  # passphrase mode asks for it
    assert window.status.store_label.text() == "Locked"
    with pytest.raises(StoreLockedError):
        aio.run(console.store.list_encounters())
    # Flushed before locking: the typed text is on disk.
    assert "Typed before the lock" in aio.run(fresh_text(console.profile, window.editor.note.id))

    qtbot.keyClicks(lock.form.field, "wrong-passphrase")
    qtbot.keyClick(lock.form.field, Qt.Key.Key_Return)
    aio.wait_until(lock.form.error.isVisible, timeout=10)
    assert lock.form.error.text() == WrongPassphraseError().user_message()
    assert window.locked

    qtbot.keyClicks(lock.form.field, PASSPHRASE)
    qtbot.keyClick(lock.form.field, Qt.Key.Key_Return)
    aio.wait_until(lambda: not window.locked, timeout=10)
    assert not lock.isVisible() and window.editor.isEnabled()
    assert window.status.store_label.text() == "Records open"
    assert "Typed before the lock" in window.editor.text()
    # Autosave works again after unlocking.
    qtbot.keyClicks(window.editor.section("Plan"), " and after")
    aio.run(window.autosaver.flush())
    assert "and after" in aio.run(fresh_text(console.profile, window.editor.note.id))


def test_lock_now_menu_action(aio: Aio, make_console) -> None:
    console = make_console()
    console.window.lock_action.trigger()
    aio.wait_until(lambda: console.store.status.state is StoreState.LOCKED)
    assert "You locked the console." in console.window.lock_screen.form.message.text()


@pytest.mark.keyring
def test_keyring_store_asks_for_the_pin_at_start_and_at_unlock(
    aio: Aio, tmp_path: Path, qtbot
) -> None:
    """The keyring alone never opens the console: the first run chooses a PIN, every
    start and every unlock asks for it (replaces a test that asserted one click on
    Unlock opened a locked keyring console)."""
    if not keys.keyring_available():
        pytest.skip("no Secret Service keyring on this session (run under dbus-run-session)")
    from app.credentials import CredentialKind, Credentials, ScryptParams
    from app.errors import WrongCredentialError
    from app.services import NotesService
    from app.session import LockReason, Session
    from storage.credentials import FileCredentialStore

    cheap = ScryptParams(n=2**12)
    profile = tmp_path / "kr"
    store = aio.run(EncryptedStore.open(profile, key_source=KeySource.KEYRING))
    meta = keys.read_meta(profile)
    unlock_file = FileCredentialStore(profile, store.store_id, hashed=True)
    try:
        events = ConsoleEvents()
        window = QtMainWindow(events)
        qtbot.addWidget(window)
        window.show()
        startup = window.startup
        creds = Credentials(unlock_file, params=cheap)
        assert creds.needs_setup

        async def first_run() -> bool:
            task = aio.loop.create_task(startup.choose_credential(creds))
            await until(lambda: startup.page() == "passphrase")
            assert startup.form.confirm.isVisible()
            qtbot.keyClicks(startup.form.field, "12345")  # too short
            qtbot.keyClicks(startup.form.confirm, "12345")
            qtbot.keyClick(startup.form.confirm, Qt.Key.Key_Return)
            await until(startup.form.error.isVisible, timeout=10)
            assert "at least 6 digits" in startup.form.error.text()
            qtbot.keyClicks(startup.form.field, "204817")
            qtbot.keyClicks(startup.form.confirm, "204817")
            qtbot.keyClick(startup.form.confirm, Qt.Key.Key_Return)
            return await task

        assert aio.run(first_run())
        assert creds.kind is CredentialKind.PIN
        session = Session(store, creds)
        aio.run(window.attach(NotesService(store, events), store, session=session))
        assert window.status.key_label.text() == "Protected by this computer's keychain"
        assert window.status.key_label.toolTip().startswith("Keyring: ")  # IT's detail
        aio.run(window.lock(LockReason.USER))
        form = window.lock_screen.form
        assert form.field.isVisible() and form.field.placeholderText() == "PIN"
        # One click on Unlock with nothing typed opens nothing.
        qtbot.mouseClick(form.submit_button, Qt.MouseButton.LeftButton)
        assert form.error.text() == "Enter the PIN."
        assert window.locked and store.status.state is StoreState.LOCKED
        qtbot.keyClicks(form.field, "999999")
        qtbot.keyClick(form.field, Qt.Key.Key_Return)
        aio.wait_until(form.error.isVisible, timeout=10)
        aio.wait_until(lambda: form.error.text() == WrongCredentialError(what="PIN").user_message())
        assert window.locked and store.status.state is StoreState.LOCKED
        qtbot.keyClicks(form.field, "204817")
        qtbot.keyClick(form.field, Qt.Key.Key_Return)
        aio.wait_until(lambda: not window.locked, timeout=10)
        assert store.status.state is StoreState.UNLOCKED
        aio.run(store.close())

        # The next start asks again, before the store is opened.
        again = QtMainWindow(ConsoleEvents())
        qtbot.addWidget(again)
        again.show()
        restarted = Credentials(unlock_file, params=cheap)
        assert not restarted.needs_setup

        async def next_start() -> bool:
            task = aio.loop.create_task(again.startup.ask_credential(restarted))
            await until(lambda: again.startup.page() == "passphrase")
            qtbot.keyClicks(again.startup.form.field, "111111")
            qtbot.keyClick(again.startup.form.field, Qt.Key.Key_Return)
            await until(again.startup.form.error.isVisible, timeout=10)
            qtbot.keyClicks(again.startup.form.field, "204817")
            qtbot.keyClick(again.startup.form.field, Qt.Key.Key_Return)
            return await task

        assert aio.run(next_start())

        keys.delete_keyring_key(meta)  # the key vanishes from the keyring
        other = QtMainWindow(ConsoleEvents())
        qtbot.addWidget(other)
        other.show()
        assert aio.run(other.startup.obtain_store(_opener(profile))) is None
        assert "missing from the OS keyring" in other.startup.error_message.text()
    finally:
        aio.run(store.close())
        keys.delete_keyring_key(meta)
        unlock_file.forget()
        shutil.rmtree(profile, ignore_errors=True)


# -- errors: presenter and the global handler ------------------------------------------
def test_run_op_routes_errors_to_the_presenter_and_ignores_cancellation(aio: Aio, window) -> None:
    async def fails() -> None:
        raise WrongPassphraseError()

    async def forever() -> None:
        await until(lambda: False, timeout=60)

    task = run_op(window.startup, fails())
    aio.run(until(task.done))
    assert window.notice.isVisible()
    assert window.notice.text == WrongPassphraseError().user_message()

    window.notice.hide()
    task = run_op(window, forever())
    aio.run(until(lambda: True))
    task.cancel()
    aio.run(until(task.done))
    assert not window.notice.isVisible()


def test_exception_handler_scrubs_and_notifies(
    aio: Aio, window, caplog: pytest.LogCaptureFixture
) -> None:
    # Built at run time so the traceback's source lines cannot contain it.
    secret = "".join(["Oka", "for, Ada", "eze"])
    handler = ExceptionHandler(lambda: window.presenter)
    handler.install()
    try:
        with caplog.at_level(logging.WARNING):
            try:
                raise KeyError(secret)
            except KeyError:
                sys.excepthook(*sys.exc_info())
            assert window.notice.text == GENERIC_MESSAGE.format(kind="KeyError")

            window.notice.hide()
            thread = threading.Thread(target=lambda: 1 / 0, name="worker-x")
            thread.start()
            thread.join()
            aio.wait_until(window.notice.isVisible)  # queued across threads

            warnings.warn(f"patient {secret!r} looked odd", UserWarning, stacklevel=1)

            window.notice.hide()
            handler.on_loop_exception(aio.loop, {"message": "x", "exception": OSError(secret)})
            assert window.notice.text == GENERIC_MESSAGE.format(kind="OSError")
    finally:
        handler.uninstall()
    assert sys.excepthook is not handler._on_exception
    logged = caplog.text
    for kind in ("KeyError", "ZeroDivisionError", "UserWarning", "OSError"):
        assert kind in logged
    assert "Okafor" not in logged and "Adaeze" not in logged
    assert "Okafor" not in window.notice.text
