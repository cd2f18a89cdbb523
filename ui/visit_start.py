"""The start-of-visit dialog: where the patient is, identity, consent, template.

Shown before a visit's media starts (:func:`with_visit_start` wraps the window's visit
factory). What it collects goes to ``app.visit_start.VisitStart.begin``; cancelling it
starts nothing.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QRegularExpression
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.records import Attachment
from app.templates import HeaderParticipant, Template
from app.visit_start import (
    ConsentAnswer,
    ConsentDecision,
    ConsentMethod,
    LocationKind,
    VisitStart,
    VisitStartForm,
    follow_visit,
)


class QtVisitStartDialog(QDialog):
    """Location, identity, consent to the visit and to recording, and the template."""

    def __init__(
        self,
        available: dict[str, Template],
        *,
        require_consent: bool = True,
        clinician: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("visitStartDialog")
        self.setWindowTitle(self.tr("Start of visit"))
        self._require_consent = require_consent
        self._clinician = clinician
        layout = QVBoxLayout(self)
        intro = QLabel(
            self.tr(
                "Ask the patient before the visit starts. Their answers go into the note "
                "and the record."
            ),
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        layout.addLayout(form)

        self.location_edit = QLineEdit(self)
        self.location_edit.setObjectName("statedLocation")
        self.location_edit.setPlaceholderText(self.tr("e.g. US-WA, CA-ON, GB"))
        self.location_edit.setAccessibleName(self.tr("Where the patient is now"))
        self.location_edit.setValidator(
            QRegularExpressionValidator(QRegularExpression(r"[A-Za-z]{2}(-[A-Za-z0-9]{0,3})?"))
        )
        form.addRow(self.tr("Where the patient is now (country-region):"), self.location_edit)
        self.home = QRadioButton(self.tr("At home"), self)
        self.facility = QRadioButton(self.tr("At a clinic or facility"), self)
        self.home.setChecked(True)
        where = QHBoxLayout()
        where.addWidget(self.home)
        where.addWidget(self.facility)
        form.addRow(self.tr("Setting:"), where)

        self.identity = QComboBox(self)
        self.identity.setObjectName("identityMethod")
        self.identity.setEditable(True)
        self.identity.setAccessibleName(self.tr("How identity was verified"))
        self.identity.addItems(
            [
                self.tr("Name and date of birth confirmed"),
                self.tr("Photo ID shown on camera"),
                self.tr("Known to the clinician"),
                self.tr("Confirmed by the nurse at the cart"),
            ]
        )
        form.addRow(self.tr("Identity verified by:"), self.identity)

        self.telehealth = self._decision_row(
            form, self.tr("Consent to this telehealth visit:"), "telehealthConsent", asked=True
        )
        self.recording = self._decision_row(
            form, self.tr("Consent to recording (stethoscope, stills):"), "recordingConsent"
        )
        self.method = QComboBox(self)
        self.method.setObjectName("consentMethod")
        self.method.setAccessibleName(self.tr("How consent was given"))
        self.method.addItem(self.tr("Verbal"), ConsentMethod.VERBAL)
        self.method.addItem(self.tr("Written"), ConsentMethod.WRITTEN)
        form.addRow(self.tr("Consent given:"), self.method)

        self.template = QComboBox(self)
        self.template.setObjectName("templateChoice")
        self.template.setAccessibleName(self.tr("Note template"))
        self.template.addItem(self.tr("No template (keep the note as it is)"), "")
        for template in sorted(available.values(), key=lambda t: t.name):
            self.template.addItem(template.name, template.id)
        form.addRow(self.tr("Note template:"), self.template)

        self.problem = QLabel(self)
        self.problem.setObjectName("visitStartProblem")
        self.problem.setWordWrap(True)
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(self)
        self.start_button = buttons.addButton(
            self.tr("Start visit"), QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.start_button.setObjectName("startVisitButton")
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.result_form: VisitStartForm | None = None

    def _decision_row(
        self, form: QFormLayout, label: str, name: str, *, asked: bool = False
    ) -> QButtonGroup:
        row = QHBoxLayout()
        group = QButtonGroup(self)
        choices = [(self.tr("Given"), "permit"), (self.tr("Declined"), "deny")]
        if not asked:
            choices.append((self.tr("Not asked"), ""))
        for index, (text, value) in enumerate(choices):
            button = QRadioButton(text, self)
            button.setObjectName(f"{name}_{value or 'none'}")
            button.setProperty("decision", value)
            group.addButton(button, index)
            row.addWidget(button)
        group.buttons()[-1 if not asked else 0].setChecked(not asked)
        form.addRow(label, row)
        return group

    def _decision(self, group: QButtonGroup) -> str | None:
        checked = group.checkedButton()
        return None if checked is None else str(checked.property("decision"))

    def _on_accept(self) -> None:
        location = self.location_edit.text().strip().upper()
        telehealth = self._decision(self.telehealth)
        if not location or not self.location_edit.hasAcceptableInput() or len(location) < 2:
            return self._show_problem(self.tr("Enter where the patient is, e.g. US-WA."))
        if telehealth is None:
            return self._show_problem(self.tr("Ask for and record consent to the visit."))
        if self._require_consent and telehealth != "permit":
            return self._show_problem(
                self.tr("Your organisation requires consent before a telehealth visit.")
            )
        method = ConsentMethod(self.method.currentData())
        recording = self._decision(self.recording)
        participants = (HeaderParticipant(self._clinician, "clinician"),) if self._clinician else ()
        self.result_form = VisitStartForm(
            stated_location=location,
            location_kind=LocationKind.HOME if self.home.isChecked() else LocationKind.FACILITY,
            identity_method=self.identity.currentText(),
            telehealth=ConsentAnswer(ConsentDecision(telehealth), method),
            recording=ConsentAnswer(ConsentDecision(recording), method) if recording else None,
            template_id=str(self.template.currentData() or ""),
            participants=participants,
        )
        self.accept()
        return None

    def _show_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()


async def ask(dialog: QtVisitStartDialog) -> VisitStartForm | None:
    """Show the dialog (window-modal) and wait for the answer without blocking the loop."""
    done: asyncio.Future[VisitStartForm | None] = asyncio.get_running_loop().create_future()

    def finished(_code: int) -> None:
        if not done.done():
            done.set_result(dialog.result_form)

    dialog.finished.connect(finished)
    dialog.open()
    return await done


def with_visit_start(
    window: Any,
    use: VisitStart,
    factory: Callable[[str], Any],
    attachments: Callable[[str], Awaitable[list[Attachment]]],
    *,
    clinician: str | Callable[[], str] = "",
) -> Callable[[str], Awaitable[Any]]:
    """``factory`` (encounter id -> Visit) preceded by the start-of-visit dialog and
    :meth:`VisitStart.begin`, followed by :func:`follow_visit` (the header at the end)."""

    async def start(encounter_id: str) -> Any:
        # Who starts it now: on a shared cart the clinician may have switched since.
        name = clinician() if callable(clinician) else clinician
        dialog = QtVisitStartDialog(
            use.templates, require_consent=use.require_consent, clinician=name, parent=window
        )
        window.visit_start_dialog = dialog  # tests and screenshots find it here
        form = await ask(dialog)
        dialog.deleteLater()
        if form is None:
            raise asyncio.CancelledError  # nothing started (run_op ignores cancellations)
        started = await use.begin(encounter_id, form)

        def written(note: Any) -> None:
            # An open editor takes the new header, so its next autosave keeps it.
            editor = getattr(window, "editor", None)
            if editor is not None:
                editor.set_header(note.id, note.text)

        written(started.note)
        made = factory(encounter_id)
        visit = await made if inspect.isawaitable(made) else made
        follow_visit(use, visit, started, attachments, asyncio.ensure_future, written)
        return visit

    return start
