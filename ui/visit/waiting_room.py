"""QtWaitingRoom: who waits to be admitted, and who is in the visit.

Patients who opened the invite link wait here (their name as typed on the
join page, and how long they have waited) until the host presses Admit. The
host can also remove a participant from the call (after a confirmation).
Names are patient data: shown on screen, never logged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.visit import Participant, ParticipantRole, Visit, WaitingPatient
from ui.i18n import QT_TRANSLATE_NOOP
from ui.ops import run_op

ROLE_TEXT = {
    ParticipantRole.HOST: QT_TRANSLATE_NOOP("QtWaitingRoom", "Host"),
    ParticipantRole.CLINICIAN: QT_TRANSLATE_NOOP("QtWaitingRoom", "Clinician"),
    ParticipantRole.PATIENT: QT_TRANSLATE_NOOP("QtWaitingRoom", "Patient"),
    ParticipantRole.GUEST: QT_TRANSLATE_NOOP("QtWaitingRoom", "Guest"),
}
NOBODY_WAITING = QCoreApplication.translate(
    "QtWaitingRoom", "Nobody is waiting. Patients who open the invite link appear here."
)


def _wr(text: str) -> str:
    return QCoreApplication.translate("QtWaitingRoom", text)


TICK_MS = 1000


def is_host(visit: Visit) -> bool:
    """The local side opened the room (it has the invite, or says it is the host)."""
    local = next((p for p in visit.participants if p.is_local), None)
    if local is not None:
        return local.role is ParticipantRole.HOST
    return visit.invite is not None


def waited_text(since: datetime, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    seconds = max(0, int((now - since).total_seconds()))
    translate = QCoreApplication.translate
    if seconds < 60:
        return translate("QtWaitingRoom", "waiting %1 s").replace("%1", str(seconds))
    minutes = seconds // 60
    if minutes < 60:
        return translate("QtWaitingRoom", "waiting %1 min").replace("%1", str(minutes))
    return (
        translate("QtWaitingRoom", "waiting %1 h %2 min")
        .replace("%1", str(minutes // 60))
        .replace("%2", f"{minutes % 60:02d}")
    )


def confirm(
    parent: QWidget,
    *,
    title: str,
    text: str,
    accept_text: str,
    reject_text: str,
    on_accept: Callable[[], None],
    on_reject: Callable[[], None] | None = None,
) -> QMessageBox:
    """A window-modal question that does not block the loop (``open``, not ``exec``)."""
    # No stock icon: the console's own look (the style sheet), the question says it all.
    box = QMessageBox(QMessageBox.Icon.NoIcon, title, text, parent=parent)
    box.setObjectName("confirmBox")
    box.setObjectName("visitConfirm")
    accept = box.addButton(accept_text, QMessageBox.ButtonRole.DestructiveRole)
    accept.setObjectName("confirmAccept")
    reject = box.addButton(reject_text, QMessageBox.ButtonRole.RejectRole)
    reject.setObjectName("confirmReject")
    box.setDefaultButton(reject)  # Enter never ends a call by accident
    box.setEscapeButton(reject)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def finished() -> None:
        if box.clickedButton() is accept:
            on_accept()
        elif on_reject is not None:
            on_reject()

    box.finished.connect(finished)
    box.open()
    return box


class _WaitingRow(QFrame):
    def __init__(self, patient: WaitingPatient, *, host: bool, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("waitingRow")
        self.patient = patient
        self.name = QLabel(patient.display, self)
        self.name.setObjectName("waitingName")
        self.name.setTextFormat(Qt.TextFormat.PlainText)
        self.waited = QLabel("", self)
        self.waited.setObjectName("waitingTime")
        self.admit_button = QPushButton(QCoreApplication.translate("_WaitingRow", "Admit"), self)
        self.admit_button.setObjectName("primaryButton")
        self.admit_button.setToolTip(
            QCoreApplication.translate("_WaitingRow", "Let this person into the visit")
        )
        self.admit_button.setVisible(host)
        text = QVBoxLayout()
        text.setSpacing(0)
        text.addWidget(self.name)
        text.addWidget(self.waited)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 8, 6)
        row.addLayout(text, 1)
        row.addWidget(self.admit_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.tick()

    def tick(self, now: datetime | None = None) -> None:
        self.waited.setText(waited_text(self.patient.waiting_since, now))


class _ParticipantRow(QFrame):
    def __init__(self, participant: Participant, *, removable: bool, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("participantRow")
        self.participant = participant
        label = participant.display
        if participant.is_local and label.strip().lower() != "you":
            label += QCoreApplication.translate("QtWaitingRoom", " (you)")
        self.name = QLabel(label, self)
        self.name.setObjectName("participantName")
        self.name.setTextFormat(Qt.TextFormat.PlainText)
        media = []
        if not participant.is_local:
            translate = QCoreApplication.translate
            media.append(
                translate("QtWaitingRoom", "camera")
                if participant.has_video
                else translate("QtWaitingRoom", "no camera")
            )
            media.append(
                translate("QtWaitingRoom", "sound")
                if participant.has_audio
                else translate("QtWaitingRoom", "no sound")
            )
            media.extend(participant.extra_audio_tracks)
        detail = _wr(ROLE_TEXT.get(participant.role, ROLE_TEXT[ParticipantRole.GUEST]))
        if media:
            detail += " · " + ", ".join(media)
        self.detail = QLabel(detail, self)
        self.detail.setObjectName("participantDetail")
        self.remove_button = QPushButton(
            QCoreApplication.translate("_ParticipantRow", "Remove"), self
        )
        self.remove_button.setObjectName("removeButton")
        self.remove_button.setToolTip(
            QCoreApplication.translate("_ParticipantRow", "Remove this person from the visit")
        )
        self.remove_button.setVisible(removable)
        text = QVBoxLayout()
        text.setSpacing(0)
        text.addWidget(self.name)
        text.addWidget(self.detail)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 8, 6)
        row.addLayout(text, 1)
        row.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignVCenter)


class QtWaitingRoom(QWidget):
    """Waiting patients (Admit) and the people in the call (Remove, host only)."""

    def __init__(self, visit: Visit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("waitingRoom")
        self._visit = visit
        self.confirm_box: QMessageBox | None = None
        self._waiting_rows: list[_WaitingRow] = []
        self._participant_rows: list[_ParticipantRow] = []

        self.waiting_title = QLabel(
            QCoreApplication.translate("QtWaitingRoom", "Waiting room"), self
        )
        self.waiting_title.setObjectName("sideTitle")
        self.waiting_count = QLabel("0", self)
        self.waiting_count.setObjectName("sideCount")
        self.empty_label = QLabel(NOBODY_WAITING, self)
        self.empty_label.setObjectName("sideEmpty")
        self.empty_label.setWordWrap(True)
        self._waiting_box = QVBoxLayout()
        self._waiting_box.setSpacing(6)
        self.people_title = QLabel(
            QCoreApplication.translate("QtWaitingRoom", "In the visit"), self
        )
        self.people_title.setObjectName("sideTitle")
        self._people_box = QVBoxLayout()
        self._people_box.setSpacing(6)

        head = QHBoxLayout()
        head.addWidget(self.waiting_title)
        head.addStretch(1)
        head.addWidget(self.waiting_count)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addLayout(head)
        layout.addWidget(self.empty_label)
        layout.addLayout(self._waiting_box)
        layout.addSpacing(6)
        layout.addWidget(self.people_title)
        layout.addLayout(self._people_box)

        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._on_tick)
        self._timer.start()
        visit.waiting_changed.connect(self._on_waiting_changed)
        visit.participants_changed.connect(self._on_participants_changed)
        self._on_waiting_changed(visit.waiting)
        self._on_participants_changed(visit.participants)

    def disconnect_model(self) -> None:
        self._visit.waiting_changed.disconnect(self._on_waiting_changed)
        self._visit.participants_changed.disconnect(self._on_participants_changed)
        self._timer.stop()

    # -- queries (tests, the window) ------------------------------------------
    def waiting_rows(self) -> list[_WaitingRow]:
        return list(self._waiting_rows)

    def participant_rows(self) -> list[_ParticipantRow]:
        return list(self._participant_rows)

    # -- model events ---------------------------------------------------------
    def _on_waiting_changed(self, waiting: tuple[WaitingPatient, ...]) -> None:
        for row in self._waiting_rows:
            row.setParent(None)
            row.deleteLater()
        host = is_host(self._visit)
        self._waiting_rows = []
        for patient in waiting:
            row = _WaitingRow(patient, host=host, parent=self)
            row.admit_button.clicked.connect(
                lambda _checked=False, wid=patient.waiting_id: self.admit(wid)
            )
            self._waiting_box.addWidget(row)
            self._waiting_rows.append(row)
        self.waiting_count.setText(str(len(waiting)))
        self.waiting_count.setProperty("busy", bool(waiting))
        self.waiting_count.style().unpolish(self.waiting_count)
        self.waiting_count.style().polish(self.waiting_count)
        self.empty_label.setVisible(host and not waiting)

    def _on_participants_changed(self, participants: tuple[Participant, ...]) -> None:
        for row in self._participant_rows:
            row.setParent(None)
            row.deleteLater()
        host = is_host(self._visit)
        self._participant_rows = []
        # Local first, then the others in the order the media server reports them.
        ordered = sorted(participants, key=lambda p: not p.is_local)
        for participant in ordered:
            row = _ParticipantRow(
                participant, removable=host and not participant.is_local, parent=self
            )
            row.remove_button.clicked.connect(
                lambda _checked=False, pid=participant.participant_id: self.ask_remove(pid)
            )
            self._people_box.addWidget(row)
            self._participant_rows.append(row)
        self.people_title.setVisible(bool(participants))
        # Whether we are host may only be known once the local participant is listed;
        # a guest has no waiting room to manage.
        for waiting_row in self._waiting_rows:
            waiting_row.admit_button.setVisible(host)
        for widget in (self.waiting_title, self.waiting_count):
            widget.setVisible(host)
        self.empty_label.setVisible(host and not self._waiting_rows)

    def _on_tick(self) -> None:
        now = datetime.now(UTC)
        for row in self._waiting_rows:
            row.tick(now)

    # -- actions --------------------------------------------------------------
    def admit(self, waiting_id: str) -> None:
        controls = self._visit.controls
        if controls is None:
            return
        for row in self._waiting_rows:
            if row.patient.waiting_id == waiting_id:
                row.admit_button.setEnabled(False)  # until the waiting list changes
        run_op(self, controls.admit(waiting_id), busy=False, context="Admit")

    def ask_remove(self, participant_id: str) -> QMessageBox | None:
        if self._visit.controls is None:
            return None
        self.confirm_box = confirm(
            self,
            title=QCoreApplication.translate("QtWaitingRoom", "Remove from the visit"),
            text=QCoreApplication.translate(
                "QtWaitingRoom", "Remove this person from the visit? They leave the call now."
            ),
            accept_text=QCoreApplication.translate("QtWaitingRoom", "Remove"),
            reject_text=QCoreApplication.translate("QtWaitingRoom", "Keep in the visit"),
            on_accept=lambda: self.remove(participant_id),
        )
        return self.confirm_box

    def remove(self, participant_id: str) -> None:
        controls = self._visit.controls
        if controls is not None:
            run_op(
                self,
                controls.remove_participant(participant_id),
                busy=False,
                context="Remove participant",
            )
