"""QtJoinDialog: join an existing visit as a participant (a specialist, the nurse's cart).

Paste the invite link the host's console shows (the server, room and PIN are in
its fragment, see :func:`app.visit.parse_invite_link`) or type the three by
hand, and give the name others in the visit see. The dialog validates before it
accepts and says what is wrong; the link and the PIN are never logged or shown
in a message. Accepting sets :attr:`QtJoinDialog.request` and emits
``join_requested``; the main window starts the visit with its join factory.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.errors import InputRejectedError
from app.visit import (
    MAX_DISPLAY_CHARS,
    MAX_LINK_CHARS,
    JoinRequest,
    check_display,
    check_pin,
    check_room,
    check_server_url,
    parse_invite_link,
)

__all__ = ["JoinRequest", "QtJoinDialog"]


class QtJoinDialog(QDialog):
    join_requested = Signal(object)  # JoinRequest

    def __init__(self, parent: QWidget | None = None, *, display: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("joinVisitDialog")
        self.setWindowTitle("Join a visit")
        self.request: JoinRequest | None = None

        intro = QLabel(
            "Paste the invite link from the host's console, or enter the media server, "
            "room and PIN they gave you."
        )
        intro.setWordWrap(True)
        self.link_edit = QLineEdit()
        self.link_edit.setObjectName("joinLink")
        self.link_edit.setPlaceholderText("https://…/patient/#server=…&room=…&pin=…")
        self.link_edit.setMaxLength(MAX_LINK_CHARS)
        self.link_edit.textChanged.connect(self._on_link_changed)
        self.server_edit = QLineEdit()
        self.server_edit.setObjectName("joinServer")
        self.server_edit.setPlaceholderText("wss://media.example.org/janus")
        self.room_edit = QLineEdit()
        self.room_edit.setObjectName("joinRoom")
        self.room_edit.setPlaceholderText("1234")
        self.pin_edit = QLineEdit()
        self.pin_edit.setObjectName("joinPin")
        self.pin_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.display_edit = QLineEdit(display)
        self.display_edit.setObjectName("joinDisplay")
        self.display_edit.setMaxLength(MAX_DISPLAY_CHARS)
        self.display_edit.setPlaceholderText("e.g. Dr Okafor, cardiology")
        for edit in (self.server_edit, self.room_edit, self.pin_edit, self.display_edit):
            edit.textEdited.connect(self._clear_error)

        form = QFormLayout()
        form.addRow("Invite &link", self.link_edit)
        form.addRow("Media &server", self.server_edit)
        form.addRow("&Room", self.room_edit)
        form.addRow("&PIN", self.pin_edit)
        form.addRow("Your &name as others see it", self.display_edit)

        self.error_label = QLabel()
        self.error_label.setObjectName("joinError")
        self.error_label.setProperty("role", "error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        join = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        join.setText("&Join")
        join.setObjectName("joinButton")
        self.buttons.accepted.connect(self._on_join)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    def error_text(self) -> str:
        return self.error_label.text() if not self.error_label.isHidden() else ""

    def _show_error(self, exc: InputRejectedError) -> None:
        reason = str(exc.params.get("reason", "")) or exc.user_message()
        self.error_label.setText(reason[:1].upper() + reason[1:] + ".")
        self.error_label.show()

    def _clear_error(self, _text: str = "") -> None:
        self.error_label.clear()
        self.error_label.hide()

    def _on_link_changed(self, text: str) -> None:
        if not text.strip():
            self._clear_error()
            return
        try:
            invite = parse_invite_link(text)
        except InputRejectedError as exc:
            self._show_error(exc)
            return
        self._clear_error()
        self.server_edit.setText(invite.server_url)
        self.room_edit.setText(str(invite.room))
        self.pin_edit.setText(invite.pin)
        if not self.display_edit.text().strip():
            self.display_edit.setFocus()

    def _validated(self) -> JoinRequest:
        host_key = ""
        if self.link_edit.text().strip():
            # A link that does not parse is an error, even if the fields hold older values.
            invite = parse_invite_link(self.link_edit.text())
            # the host's key (sealed waiting room) is in the link only, never typed
            same_room = check_room(self.room_edit.text()) == invite.room
            host_key = invite.host_key if same_room else ""
        return JoinRequest(
            server_url=check_server_url(self.server_edit.text()),
            room=check_room(self.room_edit.text()),
            pin=check_pin(self.pin_edit.text()),
            display=check_display(self.display_edit.text()),
            host_key=host_key,
        )

    def _on_join(self) -> None:
        try:
            request = self._validated()
        except InputRejectedError as exc:
            self._show_error(exc)
            return
        self.request = request
        self.join_requested.emit(request)
        self.accept()
