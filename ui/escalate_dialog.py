"""The emergency plan at visit start, and Escalate during the visit (docs/emergency.md).

- ``QtSafetyPlanDialog(service, encounter_id, location)``: the patient's physical
  address, a callback number and an emergency contact, confirmed at the start of the
  visit (the start-of-visit dialog may embed its :class:`QtSafetyPlanForm`).
- ``QtEscalateDialog(service, encounter_id, location, on_note_text)``: shows the plan
  with the emergency number for the patient's location, lets the clinician tick what
  was done, records it (stored and audited first) and notifies the on-call contact;
  "Add to note" hands the documented text to the note editor.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.errors import ConsoleError
from app.escalation import (
    EscalationAction,
    EscalationResult,
    EscalationService,
    SafetyPlan,
)
from ui.ops import run_op


class QtSafetyPlanForm(QWidget):
    """The fields of the emergency plan (no buttons: a dialog or the visit start embeds it)."""

    def __init__(self, plan: SafetyPlan | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.location = self._field(self.tr("Patient's location (ISO code, e.g. US-WA)"))
        self.address = self._field(self.tr("Physical address where the patient is now"))
        self.callback = self._field(self.tr("Callback number"))
        self.contact_name = self._field(self.tr("Emergency contact name"))
        self.contact_number = self._field(self.tr("Emergency contact number"))
        form = QFormLayout(self)
        form.addRow(self.tr("Location"), self.location)
        form.addRow(self.tr("Address"), self.address)
        form.addRow(self.tr("Callback number"), self.callback)
        form.addRow(self.tr("Emergency contact"), self.contact_name)
        form.addRow(self.tr("Contact's number"), self.contact_number)
        if plan is not None:
            self.location.setText(plan.location)
            self.address.setText(plan.address)
            self.callback.setText(plan.callback_number)
            self.contact_name.setText(plan.contact_name)
            self.contact_number.setText(plan.contact_number)

    def _field(self, accessible: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setAccessibleName(accessible)
        edit.setPlaceholderText(accessible)
        return edit

    def plan(self, encounter_id: str) -> SafetyPlan:
        return SafetyPlan(
            encounter_id=encounter_id,
            location=self.location.text().strip().upper(),
            address=self.address.text().strip(),
            callback_number=self.callback.text().strip(),
            contact_name=self.contact_name.text().strip(),
            contact_number=self.contact_number.text().strip(),
        )


class QtSafetyPlanDialog(QDialog):
    confirmed = Signal(object)  # the saved SafetyPlan

    def __init__(
        self,
        service: EscalationService,
        encounter_id: str,
        location: str = "",
        parent: QWidget | None = None,
        *,
        plan: SafetyPlan | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("safetyPlanDialog")
        self.setWindowTitle(self.tr("Emergency plan"))
        self._service = service
        self._encounter_id = encounter_id
        intro = QLabel(
            self.tr(
                "Confirm with the patient where they are now, a number to call them back "
                "on, and who to contact in an emergency."
            )
        )
        intro.setWordWrap(True)
        self.form = QtSafetyPlanForm(plan)
        if location and not self.form.location.text():
            self.form.location.setText(location)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setAccessibleName(self.tr("Problem"))
        buttons = QDialogButtonBox()
        self.confirm_button = buttons.addButton(
            self.tr("Confirm"), QDialogButtonBox.ButtonRole.AcceptRole
        )
        buttons.addButton(self.tr("Later"), QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self._on_confirm)
        buttons.rejected.connect(self.reject)
        self.setMinimumWidth(480)
        for edit in (self.form.location, self.form.address, self.form.callback):
            edit.textEdited.connect(lambda _text: self.error_label.clear())
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    def _on_confirm(self) -> None:
        self.confirm_button.setEnabled(False)
        run_op(
            self,
            self._service.confirm_plan(self.form.plan(self._encounter_id)),
            context="safety plan",
            on_done=self._on_saved,
            on_error=self._on_error,
        )

    def _on_saved(self, plan: SafetyPlan) -> None:
        if not isValid(self):  # closed while the operation ran
            return
        self.confirmed.emit(plan)
        self.accept()

    def _on_error(self, exc: BaseException) -> None:
        if not isValid(self):  # closed while the operation ran
            return
        self.confirm_button.setEnabled(True)
        self.error_label.setText(
            str(exc) if isinstance(exc, ConsoleError) else self.tr("Could not save the plan.")
        )


# QT_TRANSLATE_NOOP marks the texts for lupdate; they are translated where shown.
ACTION_LABELS: tuple[tuple[EscalationAction, object], ...] = (
    (
        EscalationAction.CALLED_EMERGENCY,
        QT_TRANSLATE_NOOP("QtEscalateDialog", "Called emergency services"),
    ),
    (
        EscalationAction.PATIENT_ADVISED,
        QT_TRANSLATE_NOOP("QtEscalateDialog", "Advised the patient to call emergency services"),
    ),
    (
        EscalationAction.CALLED_BACK,
        QT_TRANSLATE_NOOP("QtEscalateDialog", "Called the patient back"),
    ),
    (
        EscalationAction.CONTACTED_CONTACT,
        QT_TRANSLATE_NOOP("QtEscalateDialog", "Contacted the emergency contact"),
    ),
    (
        EscalationAction.STAYED_ON_LINE,
        QT_TRANSLATE_NOOP("QtEscalateDialog", "Stayed on the line until help arrived"),
    ),
)


class QtEscalateDialog(QDialog):
    escalated = Signal(object)  # the EscalationResult

    def __init__(
        self,
        service: EscalationService,
        encounter_id: str,
        location: str = "",
        on_note_text: Callable[[str], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("escalateDialog")
        self.setWindowTitle(self.tr("Escalate"))
        self.setMinimumWidth(520)
        self._service = service
        self._encounter_id = encounter_id
        self._location = location
        self._on_note_text = on_note_text
        self.outcome: EscalationResult | None = None

        self.number_label = QLabel(self.tr("Looking up the emergency number…"))
        self.number_label.setObjectName("emergencyNumber")
        self.number_label.setAccessibleName(self.tr("Emergency number"))
        # The number must stand out whatever the theme's base size.
        self.number_label.setStyleSheet("font-size: 18pt; font-weight: 600;")
        self.plan_label = QLabel()
        self.plan_label.setWordWrap(True)
        self.plan_label.setTextFormat(Qt.TextFormat.PlainText)
        self.plan_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plan_label.setAccessibleName(self.tr("Emergency plan"))
        self.action_boxes: dict[EscalationAction, QCheckBox] = {}
        layout = QVBoxLayout(self)
        layout.addWidget(self.number_label)
        layout.addWidget(self.plan_label)
        layout.addWidget(QLabel(self.tr("What was done:")))
        for action, text in ACTION_LABELS:
            label = QCoreApplication.translate("QtEscalateDialog", str(text))
            box = QCheckBox(label)
            box.setAccessibleName(label)
            self.action_boxes[action] = box
            layout.addWidget(box)
        self.note = QPlainTextEdit()
        self.note.setPlaceholderText(self.tr("What happened (goes into the record)"))
        self.note.setAccessibleName(self.tr("What happened"))
        self.note.setMaximumHeight(90)
        layout.addWidget(self.note)
        self.outcome_label = QLabel()
        self.outcome_label.setWordWrap(True)
        self.outcome_label.setAccessibleName(self.tr("Outcome"))
        layout.addWidget(self.outcome_label)
        notify = service.notifies
        self.record_button = QPushButton(
            self.tr("Record and notify on-call") if notify else self.tr("Record")
        )
        self.record_button.setAccessibleName(self.record_button.text())
        self.record_button.clicked.connect(self._on_record)
        self.note_button = QPushButton(self.tr("Add to note"))
        self.note_button.setAccessibleName(self.tr("Add to note"))
        self.note_button.setEnabled(False)
        self.note_button.setVisible(on_note_text is not None)
        self.note_button.clicked.connect(self._on_add_to_note)
        buttons = QDialogButtonBox()
        buttons.addButton(self.record_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.note_button, QDialogButtonBox.ButtonRole.ActionRole)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.setAccessibleName(self.tr("Close"))
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        run_op(
            self,
            service.prepare(encounter_id, location),
            busy=False,
            context="escalate",
            on_done=self._show_plan,
        )

    def _show_plan(self, prepared: EscalationResult) -> None:
        if not isValid(self):  # closed while the operation ran
            return
        number = prepared.number
        where = prepared.escalation.jurisdiction
        if number is not None:
            self.number_label.setText(
                self.tr("Emergency number: {number} ({where})").format(
                    number=number.number, where=where
                )
            )
        elif where:
            self.number_label.setText(
                self.tr("No emergency number is known for {where}: ask IT to add it.").format(
                    where=where
                )
            )
        else:
            self.number_label.setText(self.tr("The patient's location is not known."))
        plan = prepared.plan
        if plan is None:
            self.plan_label.setText(self.tr("No emergency plan was confirmed for this visit."))
            return
        lines = [
            self.tr("Address: {value}").format(value=plan.address),
            self.tr("Callback: {value}").format(value=plan.callback_number),
        ]
        if plan.contact_name or plan.contact_number:
            lines.append(
                self.tr("Emergency contact: {name} {number}").format(
                    name=plan.contact_name, number=plan.contact_number
                )
            )
        self.plan_label.setText("\n".join(lines))

    def chosen(self) -> list[EscalationAction]:
        return [action for action, box in self.action_boxes.items() if box.isChecked()]

    def _on_record(self) -> None:
        self.record_button.setEnabled(False)
        self.outcome_label.setText(self.tr("Recording…"))
        run_op(
            self,
            self._service.escalate(
                self._encounter_id,
                self.chosen(),
                note=self.note.toPlainText().strip(),
                location=self._location,
            ),
            context="escalate",
            on_done=self._on_recorded,
            on_error=self._on_error,
        )

    def _on_recorded(self, result: EscalationResult) -> None:
        if not isValid(self):  # closed while the operation ran
            return
        self.outcome = result
        esc = result.escalation
        if esc.notified:
            text = self.tr("Recorded at {at}. The on-call contact was notified.")
        elif esc.notify_error:
            text = self.tr(
                "Recorded at {at}. The on-call contact was NOT notified ({why}): call them."
            )
        else:
            text = self.tr("Recorded at {at}.")
        self.outcome_label.setText(text.format(at=esc.at, why=esc.notify_error))
        self.record_button.setEnabled(True)
        self.note_button.setEnabled(True)
        self.escalated.emit(result)

    def _on_error(self, exc: BaseException) -> None:
        if not isValid(self):  # closed while the operation ran
            return
        self.record_button.setEnabled(True)
        self.outcome_label.setText(
            str(exc) if isinstance(exc, ConsoleError) else self.tr("Could not record it.")
        )

    def _on_add_to_note(self) -> None:
        if self.outcome is not None and self._on_note_text is not None:
            self._on_note_text(self.outcome.escalation.note_text())
