"""The coding dock, the Safety menu and the start-of-visit checks wired into the real main
window (a demo store in a temp profile, the composition root's builder, real dialogs)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from app.commands.coding import build_coding_services
from app.escalation import EscalationAction
from app.licensure import CANCEL, PROCEED
from storage.coding_store import charge_for
from tests.ui.conftest import Aio, until
from ui.coding_hooks import install_coding
from ui.escalate_dialog import QtEscalateDialog, QtSafetyPlanDialog
from ui.licensure_dialog import QtLicensureDialog

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _console(make_console: Any, licenses: str = '["US-CA"]') -> Any:
    console = make_console()
    (console.profile / "settings.toml").write_text(f"[clinician]\nlicenses = {licenses}\n")
    hooks = install_coding(
        console.window, build_coding_services(console.store, console.profile, None)
    )
    return console, hooks


def test_dock_follows_the_selected_encounter_and_accepts(aio: Aio, make_console: Any) -> None:
    console, hooks = _console(make_console)
    window = console.window
    summaries = window.worklist.summaries()
    window.worklist.select_encounter(summaries[0].encounter.id)
    aio.wait_until(lambda: hooks.dock.panel is not None)
    assert hooks.dock.encounter_id == summaries[0].encounter.id
    panel = hooks.dock.panel
    panel.minutes.setValue(41)
    assert panel.code_label.text() == "99215-95"
    accepted: list[Any] = []
    panel.accepted.connect(accepted.append)
    panel.accept_button.click()
    aio.wait_until(lambda: accepted)
    saved = aio.run(console.store.transact(charge_for, summaries[0].encounter.id))
    assert saved is not None and saved.code == "99215"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    window.resize(1600, 900)
    aio.run(until(lambda: True))
    assert window.grab().save(str(ARTIFACTS / "main_window_coding_dock.png"), "PNG")
    window.worklist.select_encounter(summaries[1].encounter.id)
    aio.wait_until(lambda: hooks.dock.encounter_id == summaries[1].encounter.id)
    assert hooks.dock.panel is not panel


def _start_checks(aio: Aio, hooks: Any, window: Any, encounter_id: str) -> asyncio.Task[bool]:
    return aio.loop.create_task(hooks.before_visit(window, encounter_id))


def test_visit_start_asks_the_plan_then_warns_out_of_state(aio: Aio, make_console: Any) -> None:
    console, hooks = _console(make_console)
    window = console.window
    encounter_id = window.worklist.summaries()[0].encounter.id
    task = _start_checks(aio, hooks, window, encounter_id)
    aio.wait_until(lambda: isinstance(hooks.dialog, QtSafetyPlanDialog))
    form = hooks.dialog.form
    form.location.setText("us-wa")
    form.address.setText("7 Pine St, Tacoma")
    form.callback.setText("+1 253 555 0107")
    hooks.dialog.confirm_button.click()
    aio.wait_until(lambda: isinstance(hooks.dialog, QtLicensureDialog))
    warning = hooks.dialog
    assert "US-WA" in warning.findChild(type(warning.error_label), "warningHeading").text()
    warning.proceed_button.click()
    aio.wait_until(task.done)
    assert task.result() is True
    actions = [(e.action, e.entity_id) for e in aio.run(console.store.audit_entries())]
    assert ("safety_plan_confirm", encounter_id) in actions
    assert (PROCEED, encounter_id) in actions
    # The plan is kept: the next start of this visit goes straight to the licence check.
    task = _start_checks(aio, hooks, window, encounter_id)
    aio.wait_until(
        lambda: hooks.dialog is not warning and isinstance(hooks.dialog, QtLicensureDialog)
    )
    hooks.dialog.stop_button.click()
    aio.wait_until(task.done)
    assert task.result() is False
    actions = [(e.action, e.entity_id) for e in aio.run(console.store.audit_entries())]
    assert (CANCEL, encounter_id) in actions


def test_licensed_location_starts_without_a_warning(aio: Aio, make_console: Any) -> None:
    console, hooks = _console(make_console, '["US-CA", "US-WA"]')
    window = console.window
    encounter_id = window.worklist.summaries()[0].encounter.id
    task = _start_checks(aio, hooks, window, encounter_id)
    aio.wait_until(lambda: isinstance(hooks.dialog, QtSafetyPlanDialog))
    hooks.dialog.form.location.setText("US-WA")
    hooks.dialog.form.address.setText("7 Pine St, Tacoma")
    hooks.dialog.form.callback.setText("+1 253 555 0107")
    hooks.dialog.confirm_button.click()
    aio.wait_until(task.done)
    assert task.result() is True
    assert not isinstance(hooks.dialog, QtLicensureDialog)


def test_escalate_from_the_safety_menu(aio: Aio, make_console: Any) -> None:
    console, hooks = _console(make_console)
    window = console.window
    with_note = next(s for s in window.worklist.summaries() if s.note_id is not None)
    window.worklist.select_encounter(with_note.encounter.id)
    aio.wait_until(lambda: window.editor.note is not None)
    assert hooks.escalate_action.shortcut().toString() == "Ctrl+Shift+E"
    hooks.escalate_action.trigger()
    dialog = hooks.dialog
    assert isinstance(dialog, QtEscalateDialog)
    aio.wait_until(lambda: "not known" in dialog.number_label.text())  # no plan yet
    dialog.action_boxes[EscalationAction.PATIENT_ADVISED].setChecked(True)
    done: list[Any] = []
    dialog.escalated.connect(done.append)
    dialog.record_button.click()
    aio.wait_until(lambda: done)
    assert dialog.record_button.text() == "Record"  # no on-call webhook configured
    dialog.note_button.click()
    # Into the open note (its Plan), where autosave keeps it with the rest.
    assert "Advised the patient to call emergency services" in window.editor.text()


def test_a_visit_window_gets_escalate_and_out_of_state_do_not_start_ends_it(
    aio: Aio, make_console: Any
) -> None:
    from app.visit import Visit

    console, hooks = _console(make_console)
    window = console.window
    encounter_id = window.worklist.summaries()[2].encounter.id
    visit_window = aio.run(window._open_visit(lambda: Visit(encounter_id=encounter_id)))
    assert visit_window is not None
    button = visit_window.escalate_button
    layout = visit_window.control_bar.layout()
    assert layout.indexOf(button) == layout.indexOf(visit_window.people_button) - 1
    # Opening the window asked for the emergency plan, then warns: not licensed in NV.
    aio.wait_until(lambda: isinstance(hooks.dialog, QtSafetyPlanDialog))
    hooks.dialog.form.location.setText("US-NV")
    hooks.dialog.form.address.setText("1 Desert Rd, Reno")
    hooks.dialog.form.callback.setText("+1 775 555 0100")
    hooks.dialog.confirm_button.click()
    aio.wait_until(lambda: isinstance(hooks.dialog, QtLicensureDialog))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert visit_window.grab().save(str(ARTIFACTS / "visit_window_escalate.png"), "PNG")
    hooks.dialog.stop_button.click()
    aio.wait_until(lambda: window.visit_window is None)
    actions = [(e.action, e.entity_id) for e in aio.run(console.store.audit_entries())]
    assert (CANCEL, encounter_id) in actions


def test_a_malformed_payer_table_leaves_escalate_working(aio: Aio, make_console: Any) -> None:
    console = make_console()
    (console.profile / "coding").mkdir()
    (console.profile / "coding" / "payers.toml").write_text("[[rule]]\npayer = 'x'\n")
    services = build_coding_services(console.store, console.profile, None)
    assert services.coding is None and "payers.toml" in services.coding_error
    hooks = install_coding(console.window, services)
    window = console.window
    window.worklist.select_encounter(window.worklist.summaries()[0].encounter.id)
    aio.wait_until(lambda: "unavailable" in hooks.dock.error_label.text())
    assert "payers.toml" in hooks.dock.error_label.text()
    assert hooks.dock.panel is None
    hooks.escalate_action.trigger()
    assert isinstance(hooks.dialog, QtEscalateDialog)


def test_closing_the_visit_window_during_the_checks_does_not_hang(
    aio: Aio, make_console: Any
) -> None:
    console, hooks = _console(make_console)
    window = console.window
    encounter_id = window.worklist.summaries()[0].encounter.id
    from PySide6.QtWidgets import QWidget

    parent = QWidget()
    parent.show()
    task = _start_checks(aio, hooks, parent, encounter_id)
    aio.wait_until(lambda: isinstance(hooks.dialog, QtSafetyPlanDialog))
    parent.deleteLater()  # the dialog goes with it
    aio.wait_until(task.done)
    assert task.result() is True  # no plan: nothing to check; the visit window is gone anyway


def test_locking_hides_the_coding_dock_and_safety_actions(aio: Aio, make_console: Any) -> None:
    from app.session import LockReason
    from tests.ui.conftest import PASSPHRASE

    console, hooks = _console(make_console)
    window = console.window
    window.worklist.select_encounter(window.worklist.summaries()[0].encounter.id)
    aio.wait_until(lambda: hooks.dock.panel is not None)
    assert hooks.dock.isVisible()
    aio.run(window.lock(LockReason.USER))
    assert not hooks.dock.isVisible()
    assert not hooks.escalate_action.isEnabled() and not hooks.plan_action.isEnabled()
    assert aio.run(window.unlock(PASSPHRASE))
    assert hooks.dock.isVisible() and hooks.escalate_action.isEnabled()


def test_builder_follows_the_signed_in_clinician(make_console: Any) -> None:
    """With the identity area's port (a stand-in of its shape here), licences come from the
    signed-in clinician's profile, the policy/settings list when nobody is signed in."""
    from dataclasses import dataclass, field

    @dataclass(frozen=True)
    class Licence:
        jurisdiction: str
        valid_until: str = ""

    @dataclass(frozen=True)
    class Profile:
        licences: tuple[Licence, ...] = (Licence("US-WA"),)
        practitioner: str = "Practitioner/abc"
        identifier: str = "1234567893"
        name: str = "Dr Signed In"

        def licensed_in(self) -> tuple[str, ...]:
            return tuple(x.jurisdiction for x in self.licences)

    @dataclass
    class Current:
        profile: Profile | None = field(default_factory=Profile)

        def current_clinician(self) -> Profile | None:
            return self.profile

    console = make_console()
    (console.profile / "settings.toml").write_text('[clinician]\nlicenses = ["US-CA"]\n')
    current = Current()
    services = build_coding_services(console.store, console.profile, None, current)
    assert services.licensure.check("US-WA").ok
    assert not services.licensure.check("US-CA").ok
    assert services.coding._current_performer().reference == "Practitioner/abc"
    # Who records an escalation (its Communication's sender) follows the same clinician.
    recorder = services.escalation._recorder()
    assert (recorder.id, recorder.display) == ("Practitioner/abc", "Dr Signed In")
    current.profile = None
    assert services.licensure.check("US-CA").ok
    assert services.escalation._recorder().id.startswith("os-user:")


def test_the_plan_starts_from_the_location_the_patient_stated(aio: Aio, make_console: Any) -> None:
    """The start-of-visit dialog already asked where the patient is: the emergency plan
    starts from that answer instead of asking the clinician a second time."""
    from app.main import stated_location_reader
    from app.records import utc_now
    from app.visit_start import LocationKind, VisitContext
    from storage.consents import record_visit_start

    console, hooks = _console(make_console)
    hooks.stated_location = stated_location_reader(console.store)
    encounter_id = console.window.worklist.summaries()[0].encounter.id
    context = VisitContext(encounter_id, "US-OR", LocationKind.HOME, "photo ID", "nurse", utc_now())
    aio.run(console.store.transact(record_visit_start, "nurse", context, []))
    task = _start_checks(aio, hooks, console.window, encounter_id)
    aio.wait_until(lambda: isinstance(hooks.dialog, QtSafetyPlanDialog))
    assert hooks.dialog.form.location.text() == "US-OR"
    hooks.dialog.reject()
    aio.wait_until(task.done)
    # A visit with no recorded start still gets an empty field to fill in.
    other = console.window.worklist.summaries()[1].encounter.id
    task = _start_checks(aio, hooks, console.window, other)
    aio.wait_until(
        lambda: isinstance(hooks.dialog, QtSafetyPlanDialog) and hooks.dialog.isVisible()
    )
    assert hooks.dialog.form.location.text() == ""
    hooks.dialog.reject()
    aio.wait_until(task.done)
