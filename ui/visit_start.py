"""The start-of-visit dialog: where the patient is, identity, consent, template.

Shown before a visit's media starts (:func:`with_visit_start` wraps the window's visit
factory). What it collects goes to ``app.visit_start.VisitStart.begin``; cancelling it
starts nothing.

Where the patient says they are may also come from their page (app/patient_location.py):
it pre-fills the location, marked "stated by the patient on their page", and the
clinician confirms it. The page sends it once the patient is admitted, so during a visit
it opens :class:`QtPatientLocationDialog` (confirm or keep what was recorded); a later
start-of-visit dialog for the same encounter is pre-filled with it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QRegularExpression
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

from app.patient_location import PatientStatedLocation, StatedSetting, shipped_places
from app.records import Attachment
from app.templates import HeaderParticipant, Template
from app.visit_start import (
    FROM_PATIENT_PAGE,
    ConsentAnswer,
    ConsentDecision,
    ConsentMethod,
    LocationKind,
    VisitStart,
    VisitStartForm,
    follow_visit,
)
from ui.i18n import current_language
from ui.ops import run_op


def _location_edit(parent: QWidget) -> QLineEdit:
    edit = QLineEdit(parent)
    edit.setObjectName("statedLocation")
    edit.setPlaceholderText(
        QCoreApplication.translate("QtVisitStartDialog", "e.g. US-WA, CA-ON, GB")
    )
    edit.setAccessibleName(
        QCoreApplication.translate("QtVisitStartDialog", "Where the patient is now")
    )
    edit.setValidator(
        QRegularExpressionValidator(QRegularExpression(r"[A-Za-z]{2}(-[A-Za-z0-9]{0,3})?"))
    )
    return edit


def _stated_label(parent: QWidget, stated: PatientStatedLocation) -> QLabel:
    """The patient's statement, marked as theirs (names and codes from the page's list)."""
    setting = {
        StatedSetting.HOME: QCoreApplication.translate("QtVisitStartDialog", "at home"),
        StatedSetting.FACILITY: QCoreApplication.translate(
            "QtVisitStartDialog", "at a clinic, hospital or care home"
        ),
        StatedSetting.ELSEWHERE: QCoreApplication.translate("QtVisitStartDialog", "somewhere else"),
        StatedSetting.NOT_SAID: QCoreApplication.translate(
            "QtVisitStartDialog", "setting not said"
        ),
    }[stated.setting]
    label = QLabel(
        QCoreApplication.translate(
            "QtVisitStartDialog",
            "Stated by the patient on their page: {place}, {setting}. Confirm it with the "
            "patient: it is recorded only when you do.",
        ).format(place=shipped_places().describe(stated, current_language()), setting=setting),
        parent,
    )
    label.setObjectName("patientStatedLocation")
    label.setWordWrap(True)
    return label


def _prefill(
    edit: QLineEdit, home: QRadioButton, facility: QRadioButton, stated: PatientStatedLocation
) -> None:
    edit.setText(stated.code)
    for button in (home, facility):  # "elsewhere" or not said: the clinician chooses
        button.setAutoExclusive(False)
        button.setChecked(False)
        button.setAutoExclusive(True)
    if stated.setting is StatedSetting.HOME:
        home.setChecked(True)
    elif stated.setting is StatedSetting.FACILITY:
        facility.setChecked(True)


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

        self.location_edit = _location_edit(self)
        self._form = form
        self._stated: PatientStatedLocation | None = None
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

    def offer_patient_statement(self, stated: PatientStatedLocation) -> None:
        """Pre-fill the location with what the patient stated on their page, marked."""
        self._stated = stated
        _prefill(self.location_edit, self.home, self.facility, stated)
        self._form.insertRow(0, _stated_label(self, stated))

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
        if not (self.home.isChecked() or self.facility.isChecked()):
            return self._show_problem(
                self.tr("Ask whether the patient is at home or at a facility.")
            )
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
            location_source=(
                FROM_PATIENT_PAGE
                if self._stated is not None and self._stated.code == location
                else ""
            ),
        )
        self.accept()
        return None

    def _show_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()


class QtPatientLocationDialog(QDialog):
    """During the visit: the location the patient stated on their page, to confirm
    (perhaps corrected) or to leave aside, keeping what was recorded at the start."""

    def __init__(
        self, stated: PatientStatedLocation, recorded: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("patientLocationDialog")
        self.setWindowTitle(self.tr("Where the patient is"))
        layout = QVBoxLayout(self)
        layout.addWidget(_stated_label(self, stated))
        kept = QLabel(
            self.tr("Recorded at the start of the visit: {place}").format(place=recorded), self
        )
        kept.setObjectName("recordedLocation")
        kept.setWordWrap(True)
        layout.addWidget(kept)
        form = QFormLayout()
        layout.addLayout(form)
        self.location_edit = _location_edit(self)
        form.addRow(self.tr("Where the patient is now (country-region):"), self.location_edit)
        self.home = QRadioButton(self.tr("At home"), self)
        self.facility = QRadioButton(self.tr("At a clinic or facility"), self)
        where = QHBoxLayout()
        where.addWidget(self.home)
        where.addWidget(self.facility)
        form.addRow(self.tr("Setting:"), where)
        _prefill(self.location_edit, self.home, self.facility, stated)
        self.problem = QLabel(self)
        self.problem.setObjectName("patientLocationProblem")
        self.problem.setWordWrap(True)
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(self)
        self.confirm_button = buttons.addButton(
            self.tr("Record this location"), QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.confirm_button.setObjectName("confirmLocationButton")
        self.keep_button = buttons.addButton(
            self.tr("Keep what was recorded"), QDialogButtonBox.ButtonRole.RejectRole
        )
        self.keep_button.setObjectName("keepLocationButton")
        buttons.accepted.connect(self._on_accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.result_location: tuple[str, LocationKind] | None = None

    def _on_accept(self) -> None:
        location = self.location_edit.text().strip().upper()
        if not location or not self.location_edit.hasAcceptableInput() or len(location) < 2:
            self.problem.setText(self.tr("Enter where the patient is, e.g. US-WA."))
            self.problem.show()
            self.adjustSize()  # room for the message: the fields keep their height
            return
        if not (self.home.isChecked() or self.facility.isChecked()):
            self.problem.setText(self.tr("Ask whether the patient is at home or at a facility."))
            self.problem.show()
            self.adjustSize()  # room for the message: the fields keep their height
            return
        kind = LocationKind.HOME if self.home.isChecked() else LocationKind.FACILITY
        self.result_location = (location, kind)
        self.accept()


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
        stated = use.patient_statements.get(encounter_id)
        if stated is not None:  # said on the patient's page earlier in this run
            dialog.offer_patient_statement(stated)
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
        log = follow_visit(use, visit, started, attachments, asyncio.ensure_future, written)

        async def confirm(stated: PatientStatedLocation) -> None:
            begun = log.started or started
            kind = begun.context.location_kind.value
            recorded = f"{begun.context.stated_location} ({kind})"
            old = getattr(window, "patient_location_dialog", None)
            if old is not None:
                old.reject()  # a newer statement replaces the one not yet answered
            dialog = QtPatientLocationDialog(stated, recorded, parent=window)
            window.patient_location_dialog = dialog  # tests find it here
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def finished(_code: int) -> None:
                if not done.done():
                    done.set_result(None)

            dialog.finished.connect(finished)
            dialog.open()
            await done
            if window.patient_location_dialog is dialog:
                window.patient_location_dialog = None
            dialog.deleteLater()
            if dialog.result_location is None:
                return  # kept what was recorded: the statement stays a statement
            code, where = dialog.result_location
            log.started = await use.confirm_location(begun, code, where)
            written(log.started.note)

        def on_stated(stated: PatientStatedLocation) -> None:
            use.patient_statements[encounter_id] = stated
            run_op(window, confirm(stated), busy=False, context="Patient's location")

        signal = getattr(visit, "patient_stated_location", None)
        if signal is not None:
            signal.connect(on_stated)
            if getattr(visit, "patient_location", None) is not None:
                on_stated(visit.patient_location)  # arrived while the window opened
        return visit

    return start
