"""Visit › Tech check…: camera, microphone, speaker and network, green/amber/red.

``QtTechCheckDialog(make_check)`` runs ``make_check()`` (an :class:`app.techcheck.TechCheck`
built by the composition root with the console's devices and network settings) when
shown and again on "Check again", filling in one row per line as each probe finishes
(``line_did_finish``), and writes the result to the profile's log for IT through
``on_report``. The dialog never touches a device itself.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.techcheck import CheckLine, Status, TechCheck, TechCheckReport
from ui.ops import run_op

STATUS_COLOUR: dict[Status, QColor] = {
    Status.GREEN: QColor("#1e8e3e"),
    Status.AMBER: QColor("#e37400"),
    Status.RED: QColor("#d93025"),
    Status.SKIPPED: QColor("#9aa0a6"),
}
STATUS_WORD: dict[Status, str] = {
    Status.GREEN: "Good",
    Status.AMBER: "Check",
    Status.RED: "Problem",
    Status.SKIPPED: "Not set up",
}
OVERALL_TEXT: dict[Status, str] = {
    Status.GREEN: "Ready for a video visit.",
    Status.AMBER: "A visit can go ahead; see the lines marked Check.",
    Status.RED: "Fix the lines marked Problem before the visit.",
}
RUNNING_TEXT = QCoreApplication.translate("techcheck_dialog", "Checking… (about 10 seconds)")


class _Dot(QWidget):
    """A status light with its word beside it for people who cannot tell the colours."""

    def __init__(self, status: Status, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = status
        self.setFixedSize(14, 14)
        self.setAccessibleName(STATUS_WORD[status])

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(STATUS_COLOUR[self.status])
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(1, 1, 12, 12)


class QtTechCheckDialog(QDialog):
    def __init__(
        self,
        make_check: Callable[[], TechCheck],
        on_report: Callable[[TechCheckReport], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("techCheckDialog")
        self.setWindowTitle(QCoreApplication.translate("QtTechCheckDialog", "Tech check"))
        self.setMinimumWidth(560)
        self._make_check = make_check
        self._on_report = on_report
        self.report: TechCheckReport | None = None
        self.rows: dict[str, tuple[_Dot, QLabel, QLabel]] = {}

        self.headline = QLabel(RUNNING_TEXT, self)
        self.headline.setObjectName("techCheckHeadline")
        self.headline.setWordWrap(True)
        font = self.headline.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.headline.setFont(font)
        self._grid = QGridLayout()
        self._grid.setHorizontalSpacing(10)
        self._grid.setVerticalSpacing(8)
        self._grid.setColumnStretch(2, 1)
        self.again = QPushButton(
            QCoreApplication.translate("QtTechCheckDialog", "Check again"), self
        )
        self.again.setObjectName("techCheckAgain")
        self.again.clicked.connect(self.start)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.addButton(self.again, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addLayout(self._grid)
        layout.addStretch(1)
        layout.addWidget(buttons)

    def showEvent(self, event: object) -> None:  # noqa: N802
        super().showEvent(event)  # type: ignore[arg-type]
        if self.report is None and not self.rows:
            self.start()

    def start(self) -> None:
        self._clear()
        self.headline.setText(RUNNING_TEXT)
        self.again.setEnabled(False)
        check = self._make_check()
        check.line_did_finish.connect(self._on_line_did_finish)
        run_op(self, self._run(check), busy=False, context="Tech check")

    async def _run(self, check: TechCheck) -> None:
        try:
            report = await check.run()
        finally:
            self.again.setEnabled(True)
        self.report = report
        self.headline.setText(OVERALL_TEXT.get(report.status, ""))
        if self._on_report is not None:
            self._on_report(report)

    def _clear(self) -> None:
        self.report = None
        self.rows.clear()
        while self._grid.count():
            item = self._grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()

    def _on_line_did_finish(self, line: CheckLine) -> None:
        row = len(self.rows)
        dot = _Dot(line.status, self)
        title = QLabel(f"<b>{html.escape(line.title)}</b><br>{STATUS_WORD[line.status]}", self)
        title.setObjectName(f"techCheckTitle_{line.key}")
        text = html.escape(line.summary)
        if line.action and line.status in (Status.AMBER, Status.RED):
            action = html.escape(line.action)
            text += f"<br><span style='color:#5f6368'>What to do: {action}</span>"
        detail = QLabel(text, self)
        detail.setObjectName(f"techCheckDetail_{line.key}")
        detail.setWordWrap(True)
        detail.setTextFormat(Qt.TextFormat.RichText)
        self._grid.addWidget(dot, row, 0, Qt.AlignmentFlag.AlignTop)
        self._grid.addWidget(title, row, 1, Qt.AlignmentFlag.AlignTop)
        self._grid.addWidget(detail, row, 2)
        self.rows[line.key] = (dot, title, detail)
