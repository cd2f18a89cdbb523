"""The coding suggestion beside the note: code, modifiers, place of service, and why.

``QtCodingPanel(service, encounter_id, date_of_service)`` renders
:class:`app.coding.CodingService`: the clinician sets what the visit was (new or
established patient, video or audio-only, at home or not, total minutes, optionally
the level of medical decision making, the payer), the suggestion updates as they
type, and "Accept for billing" keeps it as the encounter's ChargeItem draft (sync
sends it; billing reviews it; nothing is submitted). The panel never reaches the
store: the service's port does.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.coding import (
    MAX_MINUTES,
    REASONS,
    ChargeDraft,
    CodingService,
    CodingSuggestion,
    Mdm,
    Modality,
    PatientSetting,
    PatientStatus,
    Reason,
    VisitFacts,
    Work,
)
from app.errors import ConsoleError
from ui.i18n import QT_TRANSLATE_NOOP
from ui.ops import run_op

# The words app.coding puts into the reasons' placeholders (a closed set), marked so
# they are translated with the template; other values (codes, dates, payers) stay as is.
REASON_WORDS = frozenset(
    {
        QT_TRANSLATE_NOOP("CodingReasons", "new"),
        QT_TRANSLATE_NOOP("CodingReasons", "established"),
        QT_TRANSLATE_NOOP("CodingReasons", "Straightforward"),
        QT_TRANSLATE_NOOP("CodingReasons", "Low"),
        QT_TRANSLATE_NOOP("CodingReasons", "Moderate"),
        QT_TRANSLATE_NOOP("CodingReasons", "High"),
        QT_TRANSLATE_NOOP("CodingReasons", "at home"),
        QT_TRANSLATE_NOOP("CodingReasons", "not at home (a facility)"),
        QT_TRANSLATE_NOOP("CodingReasons", "audio-video"),
        QT_TRANSLATE_NOOP("CodingReasons", "audio-only"),
        QT_TRANSLATE_NOOP("CodingReasons", "31 min or more"),
        QT_TRANSLATE_NOOP("CodingReasons", "payer table"),
    }
)


def reason_text(reason: Reason) -> str:
    """A reason in the user's language (the template is the translation source)."""
    template = QCoreApplication.translate("CodingReasons", REASONS[reason.key])
    params = {
        name: QCoreApplication.translate("CodingReasons", value) if value in REASON_WORDS else value
        for name, value in reason.params.items()
    }
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return str(reason)


class QtCodingPanel(QWidget):
    accepted = Signal(object)  # the saved ChargeDraft

    def __init__(
        self,
        service: CodingService,
        encounter_id: str,
        date_of_service: date,
        parent: QWidget | None = None,
        *,
        payer: str = "",
        show_title: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("codingPanel")
        self.setAccessibleName(self.tr("Coding suggestion"))
        self._service = service
        self._encounter_id = encounter_id
        self._date = date_of_service
        self.suggestion: CodingSuggestion | None = None
        self.error = ""

        title = QLabel(self.tr("Coding suggestion"))
        title.setObjectName("panelTitle")
        title.setVisible(show_title)
        form = QFormLayout()
        self.work = self._combo(
            [
                (Work.VISIT.value, self.tr("Visit")),
                (Work.ECONSULT_VERBAL.value, self.tr("E-consult: discussion and report")),
                (Work.ECONSULT_WRITTEN.value, self.tr("E-consult: written report only")),
                (Work.ECONSULT_REQUESTING.value, self.tr("E-consult: requesting clinician")),
                (Work.IMAGE_REVIEW.value, self.tr("Review of images the patient sent")),
            ],
            self.tr("Kind of work"),
        )
        self.patient = self._combo(
            [
                (PatientStatus.ESTABLISHED.value, self.tr("Established")),
                (PatientStatus.NEW.value, self.tr("New")),
            ],
            self.tr("Patient"),
        )
        self.modality = self._combo(
            [
                (Modality.VIDEO.value, self.tr("Video")),
                (Modality.AUDIO.value, self.tr("Audio only")),
            ],
            self.tr("Modality"),
        )
        self.location = self._combo(
            [
                (PatientSetting.HOME.value, self.tr("At home")),
                (PatientSetting.FACILITY.value, self.tr("At a facility")),
            ],
            self.tr("Patient location"),
        )
        self.minutes = QSpinBox()
        self.minutes.setRange(0, MAX_MINUTES)
        self.minutes.setSuffix(self.tr(" min"))
        self.minutes.setAccessibleName(self.tr("Total minutes on the date of service"))
        self.mdm = self._combo(
            [("", self.tr("Not picked"))]
            + [
                (m.value, t)
                for m, t in (
                    (Mdm.STRAIGHTFORWARD, self.tr("Straightforward")),
                    (Mdm.LOW, self.tr("Low")),
                    (Mdm.MODERATE, self.tr("Moderate")),
                    (Mdm.HIGH, self.tr("High")),
                )
            ],
            self.tr("Medical decision making"),
        )
        self.payer = self._combo([(p, p) for p in service.table.payers], self.tr("Payer rules"))
        if payer:
            index = self.payer.findData(payer)
            if index >= 0:
                self.payer.setCurrentIndex(index)
        form.addRow(self.tr("Work"), self.work)
        form.addRow(self.tr("Patient"), self.patient)
        form.addRow(self.tr("Modality"), self.modality)
        form.addRow(self.tr("Patient is"), self.location)
        form.addRow(self.tr("Total time"), self.minutes)
        form.addRow(self.tr("Decision making"), self.mdm)
        form.addRow(self.tr("Payer"), self.payer)

        self.code_label = QLabel()
        self.code_label.setObjectName("codingCode")
        self.code_label.setAccessibleName(self.tr("Suggested code"))
        self.code_label.setStyleSheet("font-size: 18pt; font-weight: 600;")
        self.detail_label = QLabel()
        self.detail_label.setAccessibleName(self.tr("Modifiers and place of service"))
        self.reasons_label = QLabel()
        self.reasons_label.setWordWrap(True)
        self.reasons_label.setTextFormat(Qt.TextFormat.PlainText)
        self.reasons_label.setAccessibleName(self.tr("Reasons"))
        self.accept_button = QPushButton(self.tr("Accept for billing"))
        self.accept_button.setAccessibleName(self.tr("Accept the suggestion for billing"))
        self.accept_button.clicked.connect(self._on_accept)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setAccessibleName(self.tr("Coding status"))

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(form)
        layout.addWidget(self.code_label)
        layout.addWidget(self.detail_label)
        layout.addWidget(self.reasons_label)
        row = QHBoxLayout()
        row.addWidget(self.accept_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self.status_label)
        layout.addStretch(1)

        for combo in (self.work, self.patient, self.modality, self.location, self.mdm, self.payer):
            combo.currentIndexChanged.connect(self.refresh)
        self.minutes.valueChanged.connect(self.refresh)
        self.refresh()

    def _combo(self, items: list[tuple[str, str]], accessible: str) -> QComboBox:
        combo = QComboBox()
        combo.setAccessibleName(accessible)
        for value, text in items:
            combo.addItem(text, value)
        return combo

    def facts(self) -> VisitFacts:
        mdm = self.mdm.currentData()
        return VisitFacts(
            minutes=self.minutes.value(),
            patient=PatientStatus(self.patient.currentData()),
            modality=Modality(self.modality.currentData()),
            location=PatientSetting(self.location.currentData()),
            mdm=Mdm(mdm) if mdm else None,
            payer=str(self.payer.currentData() or ""),
            date_of_service=self._date,
            work=Work(self.work.currentData()),
        )

    def set_visit(
        self,
        *,
        minutes: int | None = None,
        modality: Modality | None = None,
        location: PatientSetting | None = None,
    ) -> None:
        """Fill what the visit itself knows (its length, modality, stated location)."""
        if minutes is not None:
            self.minutes.setValue(max(0, min(MAX_MINUTES, minutes)))
        if modality is not None:
            self.modality.setCurrentIndex(self.modality.findData(modality.value))
        if location is not None:
            self.location.setCurrentIndex(self.location.findData(location.value))

    def refresh(self) -> None:
        facts = self.facts()
        visit = facts.work is Work.VISIT
        for widget in (self.modality, self.location, self.mdm, self.payer):
            widget.setEnabled(visit)
        try:
            self.suggestion = self._service.suggest(facts)
            self.error = ""
        except ConsoleError as exc:
            self.suggestion = None
            self.error = str(exc)
        self._render()

    def _render(self) -> None:
        s = self.suggestion
        if s is None:
            self.code_label.setText(self.tr("No suggestion"))
            self.detail_label.setText("")
            self.reasons_label.setText(self.error)
            self.accept_button.setEnabled(False)
            return
        if s.codes:
            modifiers = "".join(f"-{m}" for m in s.modifiers)
            self.code_label.setText(f"{s.codes[0]}{modifiers}")
        else:
            self.code_label.setText(self.tr("No code"))
        if s.pos:
            self.detail_label.setText(self.tr("Place of service {pos}").format(pos=s.pos))
        else:
            self.detail_label.setText(self.tr("No telehealth place of service"))
        self.reasons_label.setText("\n".join(f"• {reason_text(r)}" for r in s.reasons))
        self.accept_button.setEnabled(len(s.codes) == 1)

    def _on_accept(self) -> None:
        if self.suggestion is None or not self.suggestion.codes:
            return
        facts = self.facts()
        suggestion = self.suggestion
        self.accept_button.setEnabled(False)
        run_op(
            self,
            self._service.accept(self._encounter_id, facts, suggestion),
            context="coding",
            on_done=self._on_accepted,
            on_error=self._on_failed,
        )

    def _on_accepted(self, draft: ChargeDraft) -> None:
        if not isValid(self):  # closed while the operation ran
            return
        modifiers = "".join(f"-{m}" for m in draft.modifiers)
        self.status_label.setText(
            self.tr(
                "Accepted {code} for billing review; it goes to the record store as a draft."
            ).format(code=f"{draft.code}{modifiers}")
        )
        self.accept_button.setEnabled(True)
        self.accepted.emit(draft)

    def _on_failed(self, exc: BaseException) -> None:
        if not isValid(self):  # closed while the operation ran
            return
        self.status_label.setText(
            str(exc) if isinstance(exc, ConsoleError) else self.tr("Could not keep the coding.")
        )
        self.accept_button.setEnabled(True)
