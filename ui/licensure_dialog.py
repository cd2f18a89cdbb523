"""The licensure warning before a visit proceeds (app/licensure.py).

``QtLicensureDialog(gate, encounter_id, result)`` says plainly where the patient is
and where the clinician is licensed; "Proceed anyway" and "Do not start" both audit
the decision (:meth:`app.licensure.LicensureGate.decide`) before ``decided(bool)``
is emitted, so the visit starts only once the decision is on record.
``needs_warning(gate, location)`` gives the result to show, or None when the
clinician is licensed there.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget
from shiboken6 import isValid

from app.errors import ConsoleError
from app.licensure import LicensureGate, LicensureResult
from ui.ops import run_op


def needs_warning(gate: LicensureGate, location: str) -> LicensureResult | None:
    result = gate.check(location)
    return None if result.ok else result


class QtLicensureDialog(QDialog):
    decided = Signal(bool)  # True: the clinician proceeds

    def __init__(
        self,
        gate: LicensureGate,
        encounter_id: str,
        result: LicensureResult,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("licensureDialog")
        self.setWindowTitle(self.tr("Licensure warning"))
        # A fixed width lets the wrapped labels' height follow (heightForWidth is not
        # honoured for a top-level window's free width).
        self.setFixedWidth(520)
        self._gate = gate
        self._encounter_id = encounter_id
        self._result = result
        self.decision: bool | None = None
        heading = QLabel(
            self.tr("You may not be licensed where this patient is ({where}).").format(
                where=result.patient_location
            )
        )
        heading.setObjectName("warningHeading")
        heading.setStyleSheet("font-weight: 600;")
        heading.setWordWrap(True)
        licensed = ", ".join(result.licensed_in) or self.tr("none configured")
        detail = QLabel(
            self.tr(
                "Your licences: {licensed}.\n{reason}.\n\nCheck the patient's location. "
                "If you go ahead, your decision is recorded in the audit log."
            ).format(licensed=licensed, reason=result.reason)
        )
        detail.setWordWrap(True)
        detail.setAccessibleName(self.tr("Licensure details"))
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        buttons = QDialogButtonBox()
        self.proceed_button = buttons.addButton(
            self.tr("Proceed anyway"), QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.stop_button = buttons.addButton(
            self.tr("Do not start"), QDialogButtonBox.ButtonRole.RejectRole
        )
        self.proceed_button.setAccessibleName(self.tr("Proceed anyway"))
        self.stop_button.setAccessibleName(self.tr("Do not start the visit"))
        self.proceed_button.setAutoDefault(False)
        self.proceed_button.clicked.connect(lambda: self._decide(True))
        self.stop_button.clicked.connect(lambda: self._decide(False))
        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QVBoxLayout.SizeConstraint.SetMinimumSize)
        layout.addWidget(heading)
        layout.addWidget(detail)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        # The safe answer is the default one (Enter); the button box would pick the
        # accept-role button otherwise.
        self.stop_button.setDefault(True)
        for label in self.findChildren(QLabel):
            if label.wordWrap() and label.width() > 0:
                label.setMinimumHeight(label.heightForWidth(label.width()))
        self.adjustSize()  # the wrapped text decides the height

    def _decide(self, proceed: bool) -> None:
        self.proceed_button.setEnabled(False)
        self.stop_button.setEnabled(False)

        def done(_: None) -> None:
            if not isValid(self):
                return
            self.decision = proceed
            self.decided.emit(proceed)
            self.done(QDialog.DialogCode.Accepted if proceed else QDialog.DialogCode.Rejected)

        def failed(exc: BaseException) -> None:
            # Not on record: the visit does not proceed on an unaudited decision.
            if not isValid(self):
                return
            self.proceed_button.setEnabled(True)
            self.stop_button.setEnabled(True)
            self.error_label.setText(
                str(exc)
                if isinstance(exc, ConsoleError)
                else self.tr("The decision could not be recorded.")
            )

        run_op(
            self,
            self._gate.decide(self._encounter_id, self._result, proceed),
            context="licensure",
            on_done=done,
            on_error=failed,
        )

    def reject(self) -> None:
        # Escape or the window's close button: the same as "Do not start", audited.
        if self.decision is None and self.stop_button.isEnabled():
            self._decide(False)
            return
        super().reject()
