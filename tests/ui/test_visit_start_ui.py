"""The start-of-visit dialog and the visit factory it wraps (real widgets, real store)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.templates import SHIPPED_DIR, load_templates, split_header
from app.visit import Participant, ParticipantRole, Visit, VisitState
from app.visit_start import ConsentDecision, LocationKind, VisitStart
from storage.consents import StoreVisitStart, visit_facts
from tests.ui.conftest import Aio
from ui.visit_start import QtVisitStartDialog, with_visit_start

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _save(aio: Aio, widget: Any, name: str) -> None:
    aio.run(asyncio.sleep(0.05))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(ARTIFACTS / name), "PNG")


def test_the_dialog_refuses_a_missing_location_and_missing_consent(aio: Aio, qtbot) -> None:
    dialog = QtVisitStartDialog(load_templates([SHIPPED_DIR]), require_consent=True)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.result_form is None and dialog.problem.isVisible()
    qtbot.keyClicks(dialog.location_edit, "us-wa")
    dialog.findChild(type(dialog.home), "telehealthConsent_deny").setChecked(True)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.result_form is None and "requires consent" in dialog.problem.text()
    dialog.findChild(type(dialog.home), "telehealthConsent_permit").setChecked(True)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    form = dialog.result_form
    assert form is not None and form.stated_location == "US-WA"
    assert form.location_kind is LocationKind.HOME and form.recording is None


def test_starting_a_visit_asks_first_then_the_end_completes_the_header(
    aio: Aio, make_console, qtbot
) -> None:
    console = make_console()
    store = console.store
    use = VisitStart(
        StoreVisitStart(store), load_templates([SHIPPED_DIR]), actor="dr", events=console.events
    )
    made: list[Visit] = []

    def factory(encounter_id: str) -> Visit:
        visit = Visit(encounter_id=encounter_id)
        made.append(visit)
        return visit

    start = with_visit_start(
        console.window, use, factory, store.list_attachments, clinician="Dr Test"
    )
    summary = next(s for s in console.window.worklist.summaries() if s.note_id is None)
    task = asyncio.ensure_future(start(summary.encounter.id))
    aio.wait_until(lambda: getattr(console.window, "visit_start_dialog", None) is not None)
    dialog = console.window.visit_start_dialog
    aio.wait_until(dialog.isVisible)
    assert not made, "no media before the answers"
    qtbot.keyClicks(dialog.location_edit, "US-OR")
    dialog.facility.setChecked(True)
    dialog.findChild(type(dialog.home), "telehealthConsent_permit").setChecked(True)
    dialog.findChild(type(dialog.home), "recordingConsent_permit").setChecked(True)
    dialog.template.setCurrentIndex(dialog.template.findData("new-problem"))
    _save(aio, dialog, "visit_start_dialog.png")
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    visit = aio.run(task)
    assert made == [visit]
    context, consents = aio.run(store.transact(visit_facts, summary.encounter.id))
    assert context is not None and context.stated_location == "US-OR"
    assert [c.decision for c in consents] == [ConsentDecision.PERMIT, ConsentDecision.PERMIT]
    note = aio.run(StoreVisitStart(store).first_note(summary.encounter.id))
    assert note is not None and "Presenting complaint:" in note.text
    assert "Dr Test (clinician)" in split_header(note.text)[0]
    # The patient joins, the visit ends: the header gets the end and the people.
    visit.update_participants(
        (Participant("p", "Pat Patient", ParticipantRole.PATIENT, has_video=True),)
    )
    visit.update_state(VisitState.IN_CALL)
    visit.update_state(VisitState.ENDED, "hung up")

    async def header_when_ended() -> str:
        # Polls the store (a condition, not a fixed wait): the rewrite runs on the loop.
        for _ in range(200):
            n = await StoreVisitStart(store).first_note(summary.encounter.id)
            head = split_header(n.text)[0] if n is not None else ""
            if "Total:" in head:
                return head
            await asyncio.sleep(0.01)
        return ""

    header = aio.run(header_when_ended())
    assert "Total:" in header
    assert "Pat Patient (patient)" in header


def test_cancelling_the_dialog_starts_nothing(aio: Aio, make_console) -> None:
    console = make_console()
    use = VisitStart(StoreVisitStart(console.store), {}, actor="dr")
    made: list[str] = []
    start = with_visit_start(console.window, use, made.append, console.store.list_attachments)
    summary = console.window.worklist.summaries()[0]
    task = asyncio.ensure_future(start(summary.encounter.id))
    aio.wait_until(lambda: getattr(console.window, "visit_start_dialog", None) is not None)
    console.window.visit_start_dialog.reject()
    aio.wait_until(task.done)
    assert task.cancelled() and made == []
    assert aio.run(console.store.transact(visit_facts, summary.encounter.id)) == (None, [])


def test_the_editor_shows_the_header_and_keeps_it_when_sections_are_typed(
    aio: Aio, make_console, qtbot
) -> None:
    console = make_console()
    store = console.store
    use = VisitStart(
        StoreVisitStart(store), load_templates([SHIPPED_DIR]), actor="dr", events=console.events
    )
    summary = next(s for s in console.window.worklist.summaries() if s.note_id is None)
    from app.visit_start import ConsentAnswer, ConsentMethod, VisitStartForm

    started = aio.run(
        use.begin(
            summary.encounter.id,
            VisitStartForm(
                "US-WA",
                LocationKind.HOME,
                "Photo ID shown on camera",
                ConsentAnswer(ConsentDecision.PERMIT, ConsentMethod.VERBAL),
                template_id="follow-up",
            ),
        )
    )
    aio.run(console.window.worklist.reload())
    editor = console.window.editor
    assert console.window.worklist.select_encounter(summary.encounter.id)
    aio.wait_until(lambda: editor.note is not None and editor.note.id == started.note.id)
    assert editor.header_label.isVisible() and "US-WA (home)" in editor.header_label.text()
    assert editor.section("Plan").isVisible(), "the sections stay sections under the header"
    plan = editor.section("Plan")
    plan.setFocus()
    qtbot.keyClicks(plan, " Next review in 4 weeks.")
    assert aio.run(editor.flush())
    text = aio.run(store.open_note(started.note.id)).text
    header, _body = split_header(text)
    assert header == split_header(started.note.text)[0] and "Next review in 4 weeks." in text
    _save(aio, console.window, "note_with_telehealth_header.png")


def test_typing_during_the_visit_keeps_the_header_written_at_its_end(
    aio: Aio, make_console, qtbot
) -> None:
    """The clinician types while the visit ends: the end's header and the typing both
    survive the next autosave (the editor takes the new header)."""
    console = make_console()
    store = console.store
    use = VisitStart(StoreVisitStart(store), {}, actor="dr", events=console.events)
    made: list[Visit] = []

    def factory(encounter_id: str) -> Visit:
        made.append(Visit(encounter_id=encounter_id))
        return made[-1]

    start = with_visit_start(console.window, use, factory, store.list_attachments)
    summary = next(s for s in console.window.worklist.summaries() if s.note_id is not None)
    editor = console.window.editor
    assert console.window.worklist.select_encounter(summary.encounter.id)
    aio.wait_until(lambda: editor.note is not None and editor.note.id == summary.note_id)
    task = asyncio.ensure_future(start(summary.encounter.id))
    aio.wait_until(lambda: getattr(console.window, "visit_start_dialog", None) is not None)
    dialog = console.window.visit_start_dialog
    qtbot.keyClicks(dialog.location_edit, "US-WA")
    dialog.findChild(type(dialog.home), "telehealthConsent_permit").setChecked(True)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    visit = aio.run(task)
    assert "US-WA" in editor.header_label.text()
    plan = editor.section("Plan")
    plan.setFocus()
    qtbot.keyClicks(plan, " Typed during the visit.")
    visit.update_state(VisitState.ENDED, "hung up")
    aio.wait_until(lambda: "Total:" in editor.header_label.text())
    assert aio.run(editor.flush())
    text = aio.run(store.open_note(summary.note_id)).text
    assert "Total:" in split_header(text)[0] and "Typed during the visit." in text


def test_the_patients_stated_location_is_offered_to_confirm_never_taken_silently(
    aio: Aio, make_console, qtbot
) -> None:
    """The patient's page states US-WA during the visit: the console asks the clinician
    (marked as the patient's), records nothing until confirmed, then records it with its
    source; "elsewhere" leaves the setting for the clinician to choose; the next
    start-of-visit dialog of that encounter is pre-filled with it, marked."""
    from app.patient_location import PatientStatedLocation, StatedSetting
    from app.visit_start import FROM_PATIENT_PAGE

    console = make_console()
    store = console.store
    use = VisitStart(
        StoreVisitStart(store), load_templates([SHIPPED_DIR]), actor="dr", events=console.events
    )
    made: list[Visit] = []

    def factory(encounter_id: str) -> Visit:
        made.append(Visit(encounter_id=encounter_id))
        return made[-1]

    start = with_visit_start(console.window, use, factory, store.list_attachments)
    summary = next(s for s in console.window.worklist.summaries() if s.note_id is None)
    encounter_id = summary.encounter.id
    task = asyncio.ensure_future(start(encounter_id))
    aio.wait_until(lambda: getattr(console.window, "visit_start_dialog", None) is not None)
    dialog = console.window.visit_start_dialog
    aio.wait_until(dialog.isVisible)
    assert dialog.findChild(QLabel, "patientStatedLocation") is None
    qtbot.keyClicks(dialog.location_edit, "US-OR")
    dialog.findChild(type(dialog.home), "telehealthConsent_permit").setChecked(True)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    visit = aio.run(task)

    def recorded() -> tuple[str, str]:
        context, _ = aio.run(store.transact(visit_facts, encounter_id))
        assert context is not None
        return context.stated_location, context.location_kind.value

    def recorded_soon(expected: tuple[str, str]) -> None:
        async def poll() -> tuple[str, str]:
            for _ in range(500):  # a condition polled on the loop, not a fixed wait
                context, _ = await store.transact(visit_facts, encounter_id)
                if (context.stated_location, context.location_kind.value) == expected:
                    break
                await asyncio.sleep(0.01)
            return context.stated_location, context.location_kind.value

        assert aio.run(poll()) == expected

    # The page's statement arrives: a dialog, marked; nothing recorded yet.
    visit.update_patient_location(PatientStatedLocation("US", "US-WA", StatedSetting.ELSEWHERE))
    aio.wait_until(lambda: getattr(console.window, "patient_location_dialog", None) is not None)
    ask = console.window.patient_location_dialog
    aio.wait_until(ask.isVisible)
    marked = ask.findChild(QLabel, "patientStatedLocation")
    assert "Stated by the patient on their page" in marked.text()
    assert (
        "Washington, United States (US-WA)" in marked.text() and "somewhere else" in marked.text()
    )
    assert "US-OR (home)" in ask.findChild(QLabel, "recordedLocation").text()
    assert ask.location_edit.text() == "US-WA"
    assert recorded() == ("US-OR", "home"), "a statement is never recorded by itself"
    # "Elsewhere": the clinician must choose home or facility.
    qtbot.mouseClick(ask.confirm_button, Qt.MouseButton.LeftButton)
    assert ask.isVisible() and "home or at a facility" in ask.problem.text()
    _save(aio, ask, "patient_location_dialog.png")
    ask.facility.setChecked(True)
    qtbot.mouseClick(ask.confirm_button, Qt.MouseButton.LeftButton)
    recorded_soon(("US-WA", "facility"))

    async def header_with(text: str) -> str:
        # The location is recorded first, the note's header rewritten right after it.
        head = ""
        for _ in range(1000):
            n = await StoreVisitStart(store).first_note(encounter_id)
            head = split_header(n.text)[0] if n is not None else ""
            if text in head:
                break
            await asyncio.sleep(0.01)
        return head

    confirmed = f"US-WA (facility), {FROM_PATIENT_PAGE}"
    assert confirmed in aio.run(header_with(confirmed))
    entries = aio.run(
        store.transact(lambda c: c.execute("SELECT action FROM audit_log").fetchall())
    )
    assert ("visit_location_patient_page",) in [tuple(e) for e in entries]

    # The same statement again (the page repeats until answered): no second question.
    visit.update_patient_location(PatientStatedLocation("US", "US-WA", StatedSetting.ELSEWHERE))
    assert getattr(console.window, "patient_location_dialog", None) is None
    # A different one, declined: what was recorded stays.
    visit.update_patient_location(PatientStatedLocation("CA", "CA-ON", StatedSetting.HOME))
    aio.wait_until(lambda: getattr(console.window, "patient_location_dialog", None) is not None)
    ask = console.window.patient_location_dialog
    qtbot.mouseClick(ask.keep_button, Qt.MouseButton.LeftButton)
    aio.wait_until(lambda: console.window.patient_location_dialog is None)
    assert recorded() == ("US-WA", "facility")

    # The visit ends: the header keeps the confirmed location.
    visit.update_state(VisitState.IN_CALL)
    visit.update_state(VisitState.ENDED, "hung up")

    async def header_when_ended() -> str:
        for _ in range(1000):
            n = await StoreVisitStart(store).first_note(encounter_id)
            head = split_header(n.text)[0] if n is not None else ""
            if "Total:" in head:
                return head
            await asyncio.sleep(0.01)
        return ""

    assert f"US-WA (facility), {FROM_PATIENT_PAGE}" in aio.run(header_when_ended())

    # Started again (a rejoin): the dialog is pre-filled with the latest statement, marked.
    task = asyncio.ensure_future(start(encounter_id))
    aio.wait_until(lambda: console.window.visit_start_dialog is not dialog)
    dialog = console.window.visit_start_dialog
    aio.wait_until(dialog.isVisible)
    assert "Ontario" in dialog.findChild(QLabel, "patientStatedLocation").text()
    assert dialog.location_edit.text() == "CA-ON" and dialog.home.isChecked()
    dialog.findChild(type(dialog.home), "telehealthConsent_permit").setChecked(True)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    aio.run(task)
    assert recorded() == ("CA-ON", "home")
    note = aio.run(StoreVisitStart(store).first_note(encounter_id))
    assert note is not None and f"CA-ON (home), {FROM_PATIENT_PAGE}" in note.text
