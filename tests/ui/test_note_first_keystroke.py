"""A note is created by the first keystroke, not by opening its encounter."""

from __future__ import annotations

from tests.ui.conftest import Aio


def _without_note(window):
    return next(s for s in window.worklist.summaries() if s.note_id is None)


def test_opening_an_encounter_writes_nothing(aio: Aio, make_console) -> None:
    console = make_console()
    window = console.window
    summary = _without_note(window)
    window.worklist.select_encounter(summary.encounter.id)
    aio.wait_until(window.editor.is_draft)
    assert window.editor.note is None
    assert not window.editor.history_button.isEnabled()
    other = next(s for s in window.worklist.summaries() if s.note_id is not None)
    window.worklist.select_encounter(other.encounter.id)
    aio.wait_until(lambda: window.editor.note is not None)
    rows = aio.run(console.notes.worklist())
    assert next(r for r in rows if r.encounter.id == summary.encounter.id).note_id is None


def test_the_first_keystroke_creates_the_note_with_that_text(aio: Aio, make_console, qtbot) -> None:
    console = make_console()
    window = console.window
    summary = _without_note(window)
    window.worklist.select_encounter(summary.encounter.id)
    aio.wait_until(window.editor.is_draft)
    qtbot.keyClicks(window.editor.section("Subjective"), "Cough 3 days")
    aio.wait_until(lambda: window.editor.note is not None)
    note_id = window.editor.note.id
    aio.run(window.autosaver.flush())
    versions = aio.run(console.notes.history(note_id))
    assert versions[0].text.startswith("Subjective:\nC")  # never an empty version
    assert all("Subjective:\n\n" not in v.text[:13] for v in versions)
    assert "Cough 3 days" in aio.run(console.notes.open_or_create_note("", note_id)).text
    # Re-selecting the encounter opens that note, never a second one.
    window.worklist.select_encounter(summary.encounter.id)
    aio.wait_until(lambda: window.editor.note is not None and not window.editor.is_loading())
    assert window.editor.note.id == note_id
