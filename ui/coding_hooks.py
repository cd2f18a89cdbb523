"""Wires coding, the emergency plan, Escalate and the licensure warning into the console.

``install_coding(window, services)`` (called by the composition root once the store is
open) adds, without the main window knowing any of it:

- a "Coding" dock beside the note with the suggestion for the selected encounter
  (:class:`ui.coding_panel.QtCodingPanel`), its minutes filled from the call's length
  when a visit ends;
- a "Safety" menu: Coding suggestion (shows the dock), Emergency plan… and Escalate…
  (Ctrl+Shift+E, also inside the visit window);
- when a visit window opens, before the patient is admitted: the emergency plan
  (address, callback number, emergency contact, location) if none was confirmed,
  then the licensure check for the stated location; "Do not start" ends the visit.

:meth:`CodingHooks.before_visit` is the same sequence for a start-of-visit dialog to
call directly.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QLabel,
    QMenu,
    QToolButton,
    QWidget,
)

from app.coding import CodingService
from app.errors import ConsoleError
from app.escalation import EscalationService
from app.licensure import LicensureGate
from app.records import EncounterSummary
from ui.coding_panel import QtCodingPanel
from ui.escalate_dialog import QtEscalateDialog, QtSafetyPlanDialog
from ui.licensure_dialog import QtLicensureDialog
from ui.ops import run_op

log = logging.getLogger(__name__)


class CodingUi(Protocol):
    """What the composition root hands over (app.commands.coding.CodingServices)."""

    @property
    def coding(self) -> CodingService | None: ...

    @property
    def coding_error(self) -> str: ...

    @property
    def escalation(self) -> EscalationService: ...

    @property
    def licensure(self) -> LicensureGate: ...

    @property
    def payer(self) -> str: ...


async def _answer(dialog: QDialog) -> int:
    """Open ``dialog`` window-modal and wait for it to finish, without a nested loop."""
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def finished(code: int) -> None:
        if not done.done():
            done.set_result(code)

    dialog.finished.connect(finished)
    # Closed with its parent (the visit window went away): a "no", not a hang.
    dialog.destroyed.connect(lambda *_: finished(int(QDialog.DialogCode.Rejected)))
    dialog.open()
    return await done


def _service_date(summary: EncounterSummary) -> date:
    try:
        return datetime.fromisoformat(summary.encounter.start).date()
    except ValueError:
        return date.today()


class QtCodingDock(QDockWidget):
    def __init__(self, services: CodingUi, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("codingDock")
        self.setWindowTitle(self.tr("Coding"))
        self._services = services
        self.panel: QtCodingPanel | None = None
        self.encounter_id = ""
        empty = QLabel(self.tr("Select a visit to see its coding suggestion."))
        empty.setWordWrap(True)
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Wide enough for the panel's combo boxes, so the dock does not open as a
        # 100 px strip of one word per line before a visit is picked.
        empty.setMinimumWidth(260)
        self.error_label = empty
        self.setWidget(empty)

    def show_encounter(self, summary: EncounterSummary) -> None:
        if summary.encounter.id == self.encounter_id:
            return
        self.encounter_id = summary.encounter.id
        coding = self._services.coding
        if coding is None:  # the payer table is malformed: say so, nothing else breaks
            self.error_label.setText(
                self.tr("Coding suggestions are unavailable: {reason}").format(
                    reason=self._services.coding_error
                )
            )
            return
        panel = QtCodingPanel(
            coding,
            summary.encounter.id,
            _service_date(summary),
            payer=self._services.payer,
            show_title=False,  # the dock's title says it
        )
        old = self.widget()
        self.setWidget(panel)
        if old is not None:
            old.deleteLater()
        self.panel = panel


class CodingHooks(QObject):
    def __init__(self, window: Any, services: CodingUi) -> None:
        super().__init__(window)
        self._window = window
        self._services = services
        self.dock = QtCodingDock(services, window)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        # Before Help, which stays last.
        bar = window.menuBar()
        existing = bar.actions()
        menu = QMenu(self.tr("&Safety"), window)
        bar.insertMenu(existing[-1], menu) if existing else bar.addMenu(menu)
        self.coding_action = self.dock.toggleViewAction()
        self.coding_action.setText(self.tr("&Coding suggestion"))
        menu.addAction(self.coding_action)
        self.plan_action = QAction(self.tr("Emergency &plan…"), window)
        self.plan_action.setObjectName("emergencyPlanAction")
        self.plan_action.triggered.connect(self.show_plan)
        menu.addAction(self.plan_action)
        self.escalate_action = QAction(self.tr("&Escalate…"), window)
        self.escalate_action.setObjectName("escalateAction")
        self.escalate_action.setShortcut(QKeySequence("Ctrl+Shift+E"))
        self.escalate_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.escalate_action.setToolTip(
            self.tr("Emergency: the patient's address, callback and the emergency number")
        )
        self.escalate_action.triggered.connect(self.show_escalate)
        menu.addAction(self.escalate_action)
        self.dialog: QDialog | None = None  # the last dialog shown (tests look at it)
        # Where the patient said they are at the start of the visit (ISO 3166-2, "" if not
        # asked); the composition root wires it to the visit-start record so the plan
        # does not ask the clinician a second time.
        self.stated_location: Callable[[str], Awaitable[str]] | None = None
        window.worklist.encounter_selected.connect(self._on_encounter_selected)
        window.visit_window_opened.connect(self._on_visit_window_opened)
        # The lock screen covers the central widget only: the dock sits outside it.
        self._dock_was_visible = False
        session = getattr(window, "session", None)
        if session is not None:
            session.session_will_lock.connect(self._on_will_lock)
            session.session_did_unlock.connect(self._on_did_unlock)

    def _on_will_lock(self, _reason: object = None) -> None:
        self._dock_was_visible = self.dock.isVisible()
        self.dock.hide()
        for action in (self.coding_action, self.plan_action, self.escalate_action):
            action.setEnabled(False)

    def _on_did_unlock(self) -> None:
        for action in (self.coding_action, self.plan_action, self.escalate_action):
            action.setEnabled(True)
        if self._dock_was_visible:
            self.dock.show()

    # -- which encounter ---------------------------------------------------------------
    def current_encounter_id(self) -> str:
        visit_window = getattr(self._window, "visit_window", None)
        if visit_window is not None and visit_window.visit.encounter_id:
            return str(visit_window.visit.encounter_id)
        summary = self._window.worklist.current_summary()
        return summary.encounter.id if summary is not None else ""

    def _on_encounter_selected(self, summary: EncounterSummary) -> None:
        self.dock.show_encounter(summary)

    # -- dialogs -----------------------------------------------------------------------
    def _parent(self) -> QWidget:
        visit_window = getattr(self._window, "visit_window", None)
        return visit_window if visit_window is not None else self._window

    def show_plan(self) -> QtSafetyPlanDialog | None:
        encounter_id = self.current_encounter_id()
        if not encounter_id:
            return None
        dialog = QtSafetyPlanDialog(self._services.escalation, encounter_id, parent=self._parent())

        async def load() -> None:
            plan = await self._services.escalation.plan(encounter_id)
            if plan is not None:
                dialog.form.location.setText(plan.location)
                dialog.form.address.setText(plan.address)
                dialog.form.callback.setText(plan.callback_number)
                dialog.form.contact_name.setText(plan.contact_name)
                dialog.form.contact_number.setText(plan.contact_number)

        run_op(dialog, load(), busy=False, context="emergency plan")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.open()
        return dialog

    def show_escalate(self) -> QtEscalateDialog | None:
        encounter_id = self.current_encounter_id()
        if not encounter_id:
            return None
        dialog = QtEscalateDialog(
            self._services.escalation,
            encounter_id,
            on_note_text=self._add_to_note,
            parent=self._parent(),
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.open()
        return dialog

    def _add_to_note(self, text: str) -> None:
        """Append to the open note's plan when the editor has one, else the clipboard."""
        editor = getattr(self._window, "editor", None)
        target = None
        if editor is not None and getattr(editor, "note", None) is not None:
            # The Plan section of a SOAP note, or the free text of any other note.
            plan = getattr(editor, "sections", {}).get("Plan")
            free = getattr(editor, "free_text", None)
            target = plan if plan is not None and plan.isVisibleTo(editor) else free
        if target is not None and target.isEnabled() and not target.isReadOnly():
            target.appendPlainText(text)  # autosave keeps it like anything typed
            return
        QApplication.clipboard().setText(text)
        notice = getattr(self._window, "notice", None)
        if notice is not None:
            notice.show_message(self.tr("The escalation text is on the clipboard."), "info")

    # -- the visit ---------------------------------------------------------------------
    def _on_visit_window_opened(self, visit_window: Any) -> None:
        visit_window.addAction(self.escalate_action)
        self._add_escalate_button(visit_window)
        visit = visit_window.visit
        started: dict[str, datetime] = {}

        def on_state(state: object, _reason: str) -> None:
            if visit.started_at is not None:
                started["at"] = visit.started_at
            if str(getattr(state, "value", state)) == "ended" and "at" in started:
                seconds = (datetime.now(UTC) - started["at"]).total_seconds()
                if self.dock.panel is not None and self.dock.encounter_id == visit.encounter_id:
                    self.dock.panel.set_visit(minutes=math.ceil(max(0.0, seconds) / 60))

        visit.state_changed.connect(on_state)
        if visit.encounter_id:
            run_op(
                visit_window,
                self._check_visit(visit_window, str(visit.encounter_id)),
                busy=False,
                context="visit start",
            )

    def _add_escalate_button(self, visit_window: Any) -> None:
        """An Escalate button in the visit window's control bar, before People."""
        bar = getattr(visit_window, "control_bar", None)
        layout = bar.layout() if bar is not None else None
        if layout is None:
            return
        # A tool button like its neighbours, so the visit window's style applies to it.
        button = QToolButton(bar)
        button.setText(self.tr("Escalate"))
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setObjectName("escalateButton")
        button.setToolTip(self.escalate_action.toolTip() + " (Ctrl+Shift+E)")
        button.setAccessibleName(self.tr("Escalate: emergency number and plan"))
        button.clicked.connect(self.escalate_action.trigger)
        people = getattr(visit_window, "people_button", None)
        index = layout.indexOf(people) if people is not None else -1
        if index >= 0:
            layout.insertWidget(index, button)
        else:
            layout.addWidget(button)
        visit_window.escalate_button = button

    async def _check_visit(self, visit_window: Any, encounter_id: str) -> None:
        if not await self.before_visit(visit_window, encounter_id):
            end = getattr(self._window, "_end_visit", None)  # the main window's hang-up path
            if end is not None:
                await end()

    async def before_visit(self, parent: QWidget, encounter_id: str) -> bool:
        """Emergency plan (if none yet), then the licensure warning; False: do not start."""
        escalation = self._services.escalation
        plan = await escalation.plan(encounter_id)
        if plan is None:
            dialog = QtSafetyPlanDialog(escalation, encounter_id, parent=parent)
            if self.stated_location is not None and not dialog.form.location.text():
                dialog.form.location.setText(await self.stated_location(encounter_id))
            self.dialog = dialog
            await _answer(dialog)
            plan = await escalation.plan(encounter_id)
        if plan is None or not plan.location:
            # Not confirmed ("Later"): nothing to check against; Escalate will say so.
            return True
        try:
            result = self._services.licensure.check(plan.location)
        except ConsoleError as exc:
            log.warning("licensure check skipped: %s", type(exc).__name__)
            return True
        if result.ok:
            return True
        warning = QtLicensureDialog(self._services.licensure, encounter_id, result, parent)
        self.dialog = warning
        await _answer(warning)
        return warning.decision is True


def install_coding(window: Any, services: CodingUi) -> CodingHooks:
    hooks = CodingHooks(window, services)
    window.coding_hooks = hooks  # kept alive with the window
    return hooks
