"""E-consult screens: the specialist's queue, a request's view and answer, and "Ask a
specialist…" for the referrer (docs/econsult.md).

- :class:`QtEconsultQueue`: "Assigned to me" (open requests, most urgent first) or
  "Sent by me"; the selected request's question, urgency, patient, stills (decoded
  and scaled off the GUI thread), the questions back and forth, and for the
  specialist the answer (a consult note that closes the request).
- :class:`QtAskSpecialistDialog`: question, specialist, urgency, due date, the visit's
  stills and recordings to send and whether to include the note.
- :func:`install_econsult`: an "E-consult" menu with the queue (a dock) and
  "Ask a specialist…" for the selected visit.

Only ``app`` use cases here (``app.econsult.EconsultService``); every call goes
through ``ui.ops.run_op``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QCoreApplication, QDate, Qt, Signal
from PySide6.QtGui import QAction, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.econsult import (
    ConsultRequest,
    ConsultStatus,
    EconsultService,
    NewConsult,
    Origin,
    Urgency,
)
from app.records import Attachment
from ui.ops import run_op

THUMB = 160


def _urgency_text(urgency: Urgency) -> str:
    labels = {
        Urgency.ROUTINE: QCoreApplication.translate("EconsultQueue", "Routine"),
        Urgency.URGENT: QCoreApplication.translate("EconsultQueue", "Urgent"),
        Urgency.ASAP: QCoreApplication.translate("EconsultQueue", "As soon as possible"),
        Urgency.STAT: QCoreApplication.translate("EconsultQueue", "Immediately (stat)"),
    }
    return labels[urgency]


def _status_text(status: ConsultStatus) -> str:
    labels = {
        ConsultStatus.REQUESTED: QCoreApplication.translate(
            "EconsultQueue", "Waiting for the specialist"
        ),
        ConsultStatus.IN_PROGRESS: QCoreApplication.translate("EconsultQueue", "Under review"),
        ConsultStatus.COMPLETED: QCoreApplication.translate("EconsultQueue", "Answered"),
        ConsultStatus.CANCELLED: QCoreApplication.translate("EconsultQueue", "Cancelled"),
    }
    return labels[status]


def _thumbnail(data: bytes) -> QImage:
    """Decode and scale a still (worker thread: QImage, not QPixmap, off the GUI thread)."""
    image = QImage.fromData(data)
    if image.isNull():
        return image
    return image.scaled(
        THUMB,
        THUMB,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )


class QtEconsultQueue(QWidget):
    """The queue and the selected request."""

    consult_shown = Signal(object)  # ConsultRequest

    def __init__(self, service: EconsultService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("econsultQueue")
        self.service = service
        self.current: ConsultRequest | None = None
        #: Decoded thumbnails, so a redisplay (a message sent) does not decode again.
        self._thumbs: dict[tuple[str, str], QImage] = {}
        self.which = QComboBox()
        self.which.addItem(self.tr("Assigned to me"), "mine")
        self.which.addItem(self.tr("Sent by me"), "sent")
        self.which.currentIndexChanged.connect(lambda _i: self.refresh())
        self.list = QListWidget()
        self.list.setObjectName("econsultList")
        self.list.currentItemChanged.connect(self._on_current)
        self.empty = QLabel(self.tr("No open requests."))
        self.empty.setWordWrap(True)
        left = QWidget()
        left_box = QVBoxLayout(left)
        left_box.setContentsMargins(0, 0, 0, 0)
        left_box.addWidget(self.which)
        left_box.addWidget(self.list, 1)
        left_box.addWidget(self.empty)

        self.header = QLabel()
        self.header.setObjectName("econsultHeader")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        self.question = QLabel()
        self.question.setObjectName("econsultQuestion")
        self.question.setWordWrap(True)
        self.question.setTextFormat(Qt.TextFormat.PlainText)
        self.question.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stills = QHBoxLayout()
        self.stills.setAlignment(Qt.AlignmentFlag.AlignLeft)
        self.messages = QListWidget()
        self.messages.setObjectName("econsultMessages")
        self.messages.setWordWrap(True)
        self.message_edit = QLineEdit()
        self.message_edit.setPlaceholderText(self.tr("Ask or reply…"))
        self.send_message = QPushButton(self.tr("Send"))
        self.send_message.clicked.connect(self._on_send_message)
        message_row = QHBoxLayout()
        message_row.addWidget(self.message_edit, 1)
        message_row.addWidget(self.send_message)
        self.review = QPushButton(self.tr("Start review"))
        self.review.clicked.connect(self._on_review)
        self.answer_edit = QPlainTextEdit()
        self.answer_edit.setObjectName("econsultAnswer")
        self.answer_edit.setPlaceholderText(self.tr("Consult note: assessment and advice"))
        self.answer_button = QPushButton(self.tr("Answer and close"))
        self.answer_button.setObjectName("econsultAnswerButton")
        self.answer_button.clicked.connect(self._on_answer)
        self.answer_view = QLabel()
        self.answer_view.setObjectName("econsultAnswerView")
        self.answer_view.setWordWrap(True)
        self.answer_view.setTextFormat(Qt.TextFormat.PlainText)
        # The consultant's code for the answer (app/coding.py): 99451, written report.
        self.minutes = QSpinBox()
        self.minutes.setObjectName("econsultMinutes")
        self.minutes.setRange(0, 600)
        self.minutes.setSuffix(self.tr(" min"))
        self.minutes.setToolTip(self.tr("Minutes of consultative review, for coding"))
        self.minutes.valueChanged.connect(self._update_coding)
        self.coding_hint = QLabel()
        self.coding_hint.setObjectName("econsultCoding")
        self.coding_hint.setWordWrap(True)
        self._update_coding(0)

        right = QWidget()
        box = QVBoxLayout(right)
        box.addWidget(self.header)
        box.addWidget(self.question)
        box.addLayout(self.stills)
        box.addWidget(QLabel(self.tr("Questions and replies")))
        box.addWidget(self.messages, 1)
        box.addLayout(message_row)
        box.addWidget(self.review)
        box.addWidget(self.answer_edit, 1)
        coding_row = QHBoxLayout()
        coding_row.addWidget(self.minutes)
        coding_row.addWidget(self.coding_hint, 1)
        box.addLayout(coding_row)
        box.addWidget(self.answer_button)
        box.addWidget(self.answer_view)
        self.detail = right
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 2)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(splitter)
        self._show(None)

    # -- loading ---------------------------------------------------------------------------
    def refresh(self) -> asyncio.Task[list[ConsultRequest]]:
        async def load() -> list[ConsultRequest]:
            if self.which.currentData() == "sent":
                return await self.service.sent()
            return await self.service.queue()

        return run_op(self, load(), context="E-consult queue", on_done=self._fill)

    def _fill(self, consults: list[ConsultRequest]) -> None:
        keep = self.current.id if self.current is not None else None
        self.list.blockSignals(True)
        self.list.clear()
        for consult in consults:
            who = consult.patient_display or self.tr("Patient of this console")
            item = QListWidgetItem(
                self.tr("{urgency} · {status}\n{who}").format(
                    urgency=_urgency_text(consult.urgency),
                    status=_status_text(consult.status),
                    who=who,
                )
            )
            item.setData(Qt.ItemDataRole.UserRole, consult.id)
            self.list.addItem(item)
            if consult.id == keep:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self.empty.setVisible(not consults)
        if self.list.currentItem() is None:
            self._show(None)

    def _on_current(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        if item is None:
            self._show(None)
            return
        self.open_consult(str(item.data(Qt.ItemDataRole.UserRole)))

    def open_consult(self, consult_id: str) -> asyncio.Task[ConsultRequest]:
        return run_op(self, self.service.open(consult_id), context="E-consult", on_done=self._show)

    # -- the request -------------------------------------------------------------------------
    def _show(self, consult: ConsultRequest | None) -> None:
        self.current = consult
        self.detail.setEnabled(consult is not None)
        while self.stills.count():
            taken = self.stills.takeAt(0)
            widget = taken.widget() if taken is not None else None
            if widget is not None:
                widget.deleteLater()
        self.messages.clear()
        if consult is None:
            self.header.setText(self.tr("Choose a request."))
            self.question.clear()
            self.answer_view.clear()
            return
        self.header.setText(
            self.tr("{patient} · {urgency} · {status}{due}").format(
                patient=consult.patient_display or self.tr("Patient of this console"),
                urgency=_urgency_text(consult.urgency),
                status=_status_text(consult.status),
                due=self.tr(" · due {date}").format(date=consult.due) if consult.due else "",
            )
        )
        self.question.setText(consult.question)
        for message in consult.messages:
            self.messages.addItem(
                self.tr("{author}: {text}").format(author=message.author, text=message.text)
            )
        mine = consult.origin is Origin.PULLED or consult.performer == self.service.me()
        open_ = not consult.status.closed
        self.review.setVisible(mine and consult.status is ConsultStatus.REQUESTED)
        for widget in (self.answer_edit, self.answer_button, self.coding_hint, self.minutes):
            widget.setVisible(mine and open_)
        self.message_edit.setEnabled(open_)
        self.send_message.setEnabled(open_)
        if consult.answer is not None:
            self.answer_view.setText(
                self.tr("Answer from {author}:\n{text}").format(
                    author=consult.answer.author, text=consult.answer.text
                )
            )
        else:
            self.answer_view.clear()
        for still in consult.stills:
            label = QLabel(self.tr("Loading…"))
            label.setObjectName("econsultStill")
            label.setFixedSize(THUMB, THUMB)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setToolTip(still.content_type)
            self.stills.addWidget(label)
            if still.content_type.startswith("image/"):
                run_op(self, self._load_still(consult.id, still.attachment_id, label), busy=False)
            else:
                label.setText(
                    self.tr("Note") if "text" in still.content_type else self.tr("Recording")
                )
        self.consult_shown.emit(consult)

    async def _load_still(self, consult_id: str, attachment_id: str, label: QLabel) -> None:
        image = self._thumbs.get((consult_id, attachment_id))
        if image is None:
            data = await self.service.read_still(consult_id, attachment_id)
            image = await asyncio.get_running_loop().run_in_executor(None, _thumbnail, data)
            self._thumbs[(consult_id, attachment_id)] = image
        if self.current is None or self.current.id != consult_id:
            return
        if image.isNull():
            label.setText(self.tr("Not an image"))
        else:
            label.setPixmap(QPixmap.fromImage(image))

    def _update_coding(self, minutes: int) -> None:
        from app.coding import PatientStatus, VisitFacts, Work, store_and_forward_suggestion

        suggestion = store_and_forward_suggestion(
            VisitFacts(minutes, PatientStatus.ESTABLISHED, work=Work.ECONSULT_WRITTEN)
        )
        reason = str(suggestion.reasons[0]) if suggestion.reasons else ""
        if suggestion.codes:
            self.coding_hint.setText(self.tr("Coding: {reason}").format(reason=reason))
        else:
            self.coding_hint.setText(self.tr("Coding: no code. {reason}").format(reason=reason))

    # -- actions ------------------------------------------------------------------------------
    def _on_send_message(self) -> None:
        if self.current is None or not self.message_edit.text().strip():
            return
        consult_id = self.current.id

        async def send() -> ConsultRequest:
            await self.service.ask(consult_id, self.message_edit.text())
            return await self.service.open(consult_id)

        def done(consult: ConsultRequest) -> None:
            self.message_edit.clear()
            self._show(consult)

        run_op(self, send(), context="E-consult message", on_done=done)

    def _on_review(self) -> None:
        if self.current is not None:
            run_op(
                self,
                self.service.start_review(self.current.id),
                context="E-consult",
                on_done=self._show,
            )

    def _on_answer(self) -> None:
        if self.current is None:
            return
        consult_id = self.current.id

        async def answer() -> list[ConsultRequest]:
            await self.service.answer(consult_id, self.answer_edit.toPlainText())
            self.current = await self.service.open(consult_id)
            return await self.service.queue()

        def done(consults: list[ConsultRequest]) -> None:
            shown = self.current
            self.answer_edit.clear()
            self._fill(consults)
            self._show(shown)

        run_op(self, answer(), context="E-consult answer", on_done=done)


class QtAskSpecialistDialog(QDialog):
    """The referrer's request for the selected visit; :meth:`new_consult` is what to send."""

    def __init__(
        self,
        encounter_id: str,
        attachments: list[Attachment],
        note_id: str | None,
        parent: QWidget | None = None,
        specialist: str = "",
    ) -> None:
        super().__init__(parent)
        self.setObjectName("askSpecialistDialog")
        self.setWindowTitle(self.tr("Ask a specialist"))
        self.encounter_id = encounter_id
        self.note_id = note_id or ""
        self.question = QPlainTextEdit()
        self.question.setObjectName("askQuestion")
        self.question.setPlaceholderText(self.tr("What would you like the specialist to answer?"))
        self.specialist = QLineEdit(specialist)
        self.specialist.setObjectName("askSpecialist")
        self.specialist.setPlaceholderText(self.tr("Practitioner/… or HealthcareService/…"))
        self.urgency = QComboBox()
        for urgency in Urgency:
            self.urgency.addItem(_urgency_text(urgency), urgency.value)
        self.due = QDateEdit(QDate.currentDate().addDays(7))
        self.due.setCalendarPopup(True)
        self.due_on = QCheckBox(self.tr("Answer needed by"))
        self.include_note = QCheckBox(self.tr("Include the visit note"))
        self.include_note.setChecked(bool(note_id))
        self.include_note.setEnabled(bool(note_id))
        self.items: list[tuple[QCheckBox, str]] = []
        form = QFormLayout()
        form.addRow(self.tr("Question"), self.question)
        form.addRow(self.tr("Specialist or service"), self.specialist)
        form.addRow(self.tr("Urgency"), self.urgency)
        due_row = QHBoxLayout()
        due_row.addWidget(self.due_on)
        due_row.addWidget(self.due)
        form.addRow(due_row)
        send_box = QVBoxLayout()
        for att in attachments:
            title = att.title or (
                self.tr("Still") if att.kind.value == "image" else self.tr("Recording")
            )
            box = QCheckBox(
                self.tr("{title} ({when})").format(title=title, when=att.created_at[:16])
            )
            box.setChecked(att.kind.value == "image")
            self.items.append((box, att.id))
            send_box.addWidget(box)
        if not attachments:
            send_box.addWidget(QLabel(self.tr("This visit has no stills or recordings.")))
        form.addRow(self.tr("Send"), send_box)
        form.addRow(self.include_note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText(self.tr("Send request"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def new_consult(self) -> NewConsult:
        return NewConsult(
            encounter_id=self.encounter_id,
            question=self.question.toPlainText(),
            performer=self.specialist.text().strip(),
            urgency=str(self.urgency.currentData()),
            still_ids=[att_id for box, att_id in self.items if box.isChecked()],
            note_id=self.note_id if self.include_note.isChecked() else "",
            due=self.due.date().toString("yyyy-MM-dd") if self.due_on.isChecked() else "",
        )


class EconsultHooks:
    """The "E-consult" menu and the queue dock on the main window."""

    def __init__(self, window: Any, service: EconsultService, attachments: Any) -> None:
        self.window = window
        self.service = service
        self.attachments = attachments
        self.queue = QtEconsultQueue(service)
        self.dock = QDockWidget(
            QCoreApplication.translate("EconsultQueue", "E-consult queue"), window
        )
        self.dock.setObjectName("econsultDock")
        self.dock.setWidget(self.queue)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        self.dock.visibilityChanged.connect(lambda shown: shown and self.queue.refresh())
        bar = window.menuBar()
        existing = bar.actions()
        menu = QMenu(QCoreApplication.translate("EconsultQueue", "E-&consult"), window)
        bar.insertMenu(existing[-1], menu) if existing else bar.addMenu(menu)
        self.queue_action = self.dock.toggleViewAction()
        self.queue_action.setText(QCoreApplication.translate("EconsultQueue", "E-consult &queue"))
        menu.addAction(self.queue_action)
        self.ask_action = QAction(
            QCoreApplication.translate("EconsultQueue", "&Ask a specialist…"), window
        )
        self.ask_action.setObjectName("askSpecialistAction")
        self.ask_action.triggered.connect(self.ask)
        menu.addAction(self.ask_action)
        self.dialog: QtAskSpecialistDialog | None = None
        # A sync round may bring new requests, replies or answers: show them.
        sync = getattr(window, "sync", None)
        if sync is not None:
            sync.sync_did_finish.connect(self._on_sync_finished)
        # The lock screen covers the central widget only: the dock (patient names,
        # stills) is hidden while locked and comes back on unlock.
        self._dock_was_visible = False
        session = getattr(window, "session", None)
        if session is not None:
            session.session_will_lock.connect(self._on_will_lock)
            session.session_did_unlock.connect(self._on_did_unlock)

    def _on_sync_finished(self, result: object = None) -> None:
        if self.dock.isVisible():
            self.queue.refresh()
            if self.queue.current is not None:
                self.queue.open_consult(self.queue.current.id)

    def _on_will_lock(self, _reason: object = None) -> None:
        self._dock_was_visible = self.dock.isVisible()
        self.dock.hide()
        if self.dialog is not None:
            self.dialog.reject()
        for action in (self.queue_action, self.ask_action):
            action.setEnabled(False)

    def _on_did_unlock(self) -> None:
        for action in (self.queue_action, self.ask_action):
            action.setEnabled(True)
        if self._dock_was_visible:
            self.dock.show()

    def ask(self) -> None:
        summary = self.window.worklist.current_summary()
        if summary is None:
            self.window.notice.show_message(
                QCoreApplication.translate(
                    "EconsultQueue", "Choose a visit first, then ask a specialist."
                ),
                "info",
            )
            return
        encounter_id = summary.encounter.id
        note_id = summary.note_id

        async def open_dialog() -> None:
            attachments = await self.attachments.for_encounter(encounter_id)
            dialog = QtAskSpecialistDialog(encounter_id, attachments, note_id, self.window)
            self.dialog = dialog
            done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

            def finished(code: int) -> None:
                if not done.done():
                    done.set_result(code)

            dialog.finished.connect(finished)
            dialog.open()
            if await done != QDialog.DialogCode.Accepted:
                return
            await self.service.send(dialog.new_consult())
            self.window.notice.show_message(
                QCoreApplication.translate(
                    "EconsultQueue", "Request saved; it is sent at the next sync."
                ),
                "info",
            )

        run_op(self.window, open_dialog(), context="Ask a specialist")


def install_econsult(window: Any, service: EconsultService, attachments: Any) -> EconsultHooks:
    hooks = EconsultHooks(window, service, attachments)
    window.econsult_hooks = hooks  # kept alive with the window; tests find it here
    return hooks


__all__ = ["EconsultHooks", "QtAskSpecialistDialog", "QtEconsultQueue", "install_econsult"]
