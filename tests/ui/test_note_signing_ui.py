"""Signing in the editor: Sign note, read-only once signed, addenda, worklist badges.

Real widgets over a real store; the signing key lives in MemoryKeys (the real JWS
code with a dict for a keyring; the OS keyring is tested in
tests/integration/test_note_cli_keyring.py).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from PySide6.QtCore import Qt

from app.notes_signing import NoteFlag
from app.records import NoteStatus
from storage.sync import queue
from tests.signing_support import signing
from tests.ui.conftest import Aio
from ui.note_signing import QtSignBar, install_signing
from ui.worklist import FLAG_ROLE, SUMMARY_ROLE

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _save(aio: Aio, widget, name: str) -> Path:
    aio.run(asyncio.sleep(0.05))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert widget.grab().save(str(path), "PNG")
    return path


def _setup(aio: Aio, make_console, overdue_after: timedelta = timedelta(hours=24)):
    console = make_console()
    use = signing(console.store)
    use.events = console.events
    bar = install_signing(console.window, use, overdue_after)
    summary = next(s for s in console.window.worklist.summaries() if s.note_id is not None)
    editor = console.window.editor
    assert console.window.worklist.select_encounter(summary.encounter.id)
    aio.wait_until(lambda: editor.note is not None and editor.summary == summary)
    aio.wait_until(bar.isVisible)
    return console, use, bar, summary, editor


def _flag(console, note_id: str):
    worklist = console.window.worklist
    for row in range(worklist.list.count()):
        item = worklist.list.item(row)
        if item.data(SUMMARY_ROLE).note_id == note_id:
            return item.data(FLAG_ROLE)
    return None


def test_sign_makes_the_note_read_only_and_the_badge_signed(aio: Aio, make_console, qtbot) -> None:
    console, _use, bar, summary, editor = _setup(aio, make_console)
    assert isinstance(bar, QtSignBar)
    assert bar.sign_button.isVisible() and not bar.addendum_button.isVisible()
    aio.wait_until(lambda: _flag(console, summary.note_id) == NoteFlag.UNSIGNED)
    # Typed and not yet saved: signing saves it first and signs exactly that.
    plan = editor.section("Plan")
    plan.setFocus()
    qtbot.keyClicks(plan, " Review in two weeks.")
    on_screen = editor.text()
    _save(aio, console.window, "note_sign_draft.png")
    qtbot.mouseClick(bar.sign_button, Qt.MouseButton.LeftButton)
    aio.wait_until(bar.addendum_button.isVisible)
    note = aio.run(console.store.open_note(summary.note_id))
    assert note.status is NoteStatus.SIGNED and note.text == on_screen
    assert plan.isReadOnly() and editor.section("Subjective").isReadOnly()
    assert "Signed by" in bar.state_label.text()
    aio.wait_until(lambda: _flag(console, summary.note_id) == NoteFlag.SIGNED)
    outbox = aio.run(
        console.store.transact(
            lambda c: [r[0] for r in c.execute("SELECT entity_type FROM outbox")]
        )
    )
    assert "provenance" in outbox
    _save(aio, console.window, "note_signed.png")


def test_add_addendum_from_the_editor(aio: Aio, make_console, qtbot) -> None:
    console, use, bar, summary, _editor = _setup(aio, make_console)
    qtbot.mouseClick(bar.sign_button, Qt.MouseButton.LeftButton)
    aio.wait_until(bar.addendum_button.isVisible)
    qtbot.mouseClick(bar.addendum_button, Qt.MouseButton.LeftButton)
    dialog = bar.dialog
    assert dialog is not None
    aio.wait_until(dialog.isVisible)
    assert not dialog.sign_button.isEnabled()
    qtbot.keyClicks(dialog.text_edit, "Addendum: lab results normal.")
    _save(aio, dialog, "note_addendum_dialog.png")
    qtbot.mouseClick(dialog.sign_button, Qt.MouseButton.LeftButton)
    aio.wait_until(bar.addenda_view.isVisible)
    assert "lab results normal" in bar.addenda_view.toPlainText()
    assert aio.run(use.verify(summary.note_id)).all_ok
    _save(aio, console.window, "note_with_addendum.png")


def test_a_signed_note_changed_on_the_server_is_answered_by_an_addendum(
    aio: Aio, make_console, qtbot
) -> None:
    console, use, bar, summary, _editor = _setup(aio, make_console)
    aio.run(use.sign(summary.note_id))
    aio.run(
        console.store.transact(
            queue.record_conflict, "t", "note", summary.note_id, "v7", "changed elsewhere"
        )
    )
    bar.show_for(console.window.editor.note)
    aio.wait_until(lambda: "record store" in bar.state_label.text())
    qtbot.mouseClick(bar.addendum_button, Qt.MouseButton.LeftButton)
    dialog = bar.dialog
    assert dialog is not None
    aio.wait_until(dialog.isVisible)
    server_view = dialog.findChild(type(dialog.text_edit), "serverText")
    assert server_view is not None and server_view.toPlainText() == "changed elsewhere"
    qtbot.keyClicks(dialog.text_edit, "Addendum: reviewed the change.")
    qtbot.mouseClick(dialog.sign_button, Qt.MouseButton.LeftButton)
    aio.wait_until(bar.addenda_view.isVisible)
    assert aio.run(console.store.transact(queue.open_conflicts, summary.note_id)) == []


def test_overdue_unsigned_notes_are_flagged(aio: Aio, make_console) -> None:
    console, _use, _bar, summary, _editor = _setup(aio, make_console, timedelta(0))
    aio.wait_until(lambda: _flag(console, summary.note_id) == NoteFlag.OVERDUE)
    worklist = console.window.worklist
    row = worklist.row_of(summary.encounter.id)
    spoken = worklist.list.item(row).data(Qt.ItemDataRole.AccessibleTextRole)
    assert spoken.endswith("Not signed — overdue")
    _save(aio, console.window.worklist, "worklist_overdue_unsigned.png")


def test_locking_hides_the_addendum_dialog_and_its_text(aio: Aio, make_console, qtbot) -> None:
    from app.session import LockReason
    from tests.ui.conftest import PASSPHRASE

    console, _use, bar, _summary, _editor = _setup(aio, make_console)
    qtbot.mouseClick(bar.sign_button, Qt.MouseButton.LeftButton)
    aio.wait_until(bar.addendum_button.isVisible)
    qtbot.mouseClick(bar.addendum_button, Qt.MouseButton.LeftButton)
    dialog = bar.dialog
    assert dialog is not None
    aio.wait_until(dialog.isVisible)
    qtbot.keyClicks(dialog.text_edit, "half-written addendum")
    aio.run(console.window.lock(LockReason.USER))
    assert not dialog.isVisible(), "no patient text on screen while locked"
    assert aio.run(console.window.unlock(PASSPHRASE))
    aio.wait_until(dialog.isVisible)
    assert dialog.text() == "half-written addendum", "the draft comes back at unlock"


def test_an_imported_signature_that_does_not_verify_is_never_shown_as_valid(
    aio: Aio, make_console
) -> None:
    from app.notes_signing import NoteSignature
    from app.records import new_id, utc_now
    from storage import signatures

    console, use, bar, summary, editor = _setup(aio, make_console)
    flagged = NoteSignature(
        note_id=summary.note_id,
        provenance_id=new_id(),
        signer_id="os-user:elsewhere",
        signer_display="Dr Elsewhere",
        signed_at=utc_now(),
        jws="e30..AAAA",
        key_id="k",
        public_jwk={},
        content_sha256="0" * 64,
        import_problem="the signature does not match the note",
    )
    assert aio.run(console.store.transact(signatures.import_signature, "t", flagged)) is None
    bar.show_for(editor.note)
    aio.wait_until(lambda: "does NOT" in bar.state_label.text())
    assert "Dr Elsewhere" in bar.state_label.text()
    assert not bar.state_label.text().startswith("Signed by")
    assert not aio.run(use.verify(summary.note_id)).ok
    # The worklist badge says so too (refreshed as after any signing).
    bar.did_sign.emit(summary.note_id)
    aio.wait_until(lambda: _flag(console, summary.note_id) == NoteFlag.NOT_VERIFIED)
    _save(aio, console.window, "note_imported_signature_not_verified.png")
