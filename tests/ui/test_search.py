"""Full-text search panel against the real store's FTS index."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.ui.conftest import Aio
from ui.search import no_match_text, snippet_html


def test_query_shows_hits_with_snippet_and_click_opens_note(aio: Aio, make_console, qtbot) -> None:
    console = make_console()
    window = console.window
    search = window.search
    assert window.worklist.isVisible()
    qtbot.keyClicks(search.field, "amlodipine")
    aio.wait_until(search.hits, timeout=3)
    assert search.active and not window.worklist.isVisible()
    hits = search.hits()
    assert len(hits) == 1
    assert "[[" in hits[0].snippet and "amlodipine" in hits[0].snippet.lower()
    assert "<span" in snippet_html(hits[0])  # the hit is highlighted

    rect = search.results.visualItemRect(search.results.item(0))
    qtbot.mouseClick(search.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    editor = window.editor
    aio.wait_until(lambda: editor.note is not None and editor.note.id == hits[0].note_id)
    assert "amlodipine" in editor.text()
    assert editor.patient_label.text() == hits[0].patient_display

    search.field.clear()  # back to the worklist, with the opened visit selected
    assert window.worklist.isVisible() and not search.active
    assert window.worklist.current_summary().encounter.id == hits[0].encounter_id


def test_no_results_state(aio: Aio, make_console, qtbot) -> None:
    console = make_console()
    search = console.window.search
    qtbot.keyClicks(search.field, "zebrafish")
    qtbot.keyClick(search.field, Qt.Key.Key_Return)
    aio.wait_until(lambda: search.message_text() == no_match_text("zebrafish"), timeout=3)
    assert search.hits() == []
    assert search.message.isVisible()


def test_saved_text_is_searchable(aio: Aio, make_console, qtbot) -> None:
    console = make_console()
    window = console.window
    target = next(s for s in window.worklist.summaries() if s.note_id is None)
    window.worklist.select_encounter(target.encounter.id)
    aio.wait_until(window.editor.is_draft)
    qtbot.keyClicks(window.editor.section("Assessment"), "Suspected pertussis")
    aio.wait_until(lambda: window.editor.note is not None)
    aio.run(window.autosaver.flush())
    qtbot.keyClicks(window.search.field, "pertussis")
    aio.wait_until(window.search.hits, timeout=3)
    assert window.search.hits()[0].encounter_id == target.encounter.id


def test_one_box_finds_patients_by_name_and_mrn_and_note_text(
    aio: Aio, make_console, qtbot
) -> None:
    console = make_console()
    window = console.window
    summary = window.worklist.summaries()[0]
    patient = summary.patient
    qtbot.keyClicks(window.search.field, patient.family_name.lower())
    qtbot.keyClick(window.search.field, Qt.Key.Key_Return)
    aio.wait_until(window.search.hits, timeout=3)
    first = window.search.hits()[0]
    assert first.patient_id == patient.id and first.patient_display == patient.display_name
    window.search.hit_activated.emit(first)
    aio.wait_until(
        lambda: window.editor.summary is not None and window.editor.summary.patient.id == patient.id
    )
    if patient.mrn:
        window.search.field.clear()
        qtbot.keyClicks(window.search.field, patient.mrn)
        qtbot.keyClick(window.search.field, Qt.Key.Key_Return)
        aio.wait_until(lambda: any(h.patient_id == patient.id for h in window.search.hits()))
