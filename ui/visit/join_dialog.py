"""QtJoinDialog: join an existing visit as a participant (a specialist, the nurse's cart).

Paste the invite link the host's console shows (the server, room and PIN are in
its fragment, see :func:`app.visit.parse_invite_link`) or type the three by
hand, and give the name others in the visit see. The dialog validates before it
accepts and says what is wrong; the link and the PIN are never logged or shown
in a message. Accepting sets :attr:`QtJoinDialog.request` and emits
``join_requested``; the main window starts the visit with its join factory.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QSize, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.errors import ConsoleError, InputRejectedError
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
from ui import geometry
from ui.errors import user_text
from ui.reasons import reason_text

__all__ = ["JoinRequest", "QtJoinDialog"]

# The display name and the last media server are remembered (ui.geometry's state file);
# the room and PIN never are.
REMEMBERED_DISPLAY = "join/display"
REMEMBERED_SERVER = "join/server"
LINK_MIN_WIDTH_PX = 560  # a whole invite link (about 140 characters) reads at a glance


class QtJoinDialog(QDialog):
    join_requested = Signal(object)  # JoinRequest

    def __init__(self, parent: QWidget | None = None, *, display: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("joinVisitDialog")
        self.setWindowTitle(self.tr("Join a visit"))
        self.request: JoinRequest | None = None

        intro = QLabel(
            self.tr(
                "Paste the invite link from the host's console, or enter the media server, "
                "room and PIN they gave you."
            )
        )
        intro.setWordWrap(True)
        self.link_edit = QLineEdit()
        self.link_edit.setObjectName("joinLink")
        self.link_edit.setPlaceholderText(
            QCoreApplication.translate("QtJoinDialog", "https://…/patient/#server=…&room=…&pin=…")
        )
        self.link_edit.setMaxLength(MAX_LINK_CHARS)
        self.link_edit.setMinimumWidth(LINK_MIN_WIDTH_PX)
        self.link_edit.textChanged.connect(self._on_link_changed)
        self.server_edit = QLineEdit()
        self.server_edit.setObjectName("joinServer")
        self.server_edit.setPlaceholderText(
            QCoreApplication.translate("QtJoinDialog", "wss://media.example.org/janus")
        )
        self.room_edit = QLineEdit()
        self.room_edit.setObjectName("joinRoom")
        self.room_edit.setPlaceholderText("1234")
        self.pin_edit = QLineEdit()
        self.pin_edit.setObjectName("joinPin")
        self.pin_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.server_edit.setText(geometry.recall(REMEMBERED_SERVER))
        self.display_edit = QLineEdit(display or geometry.recall(REMEMBERED_DISPLAY))
        self.display_edit.setObjectName("joinDisplay")
        self.display_edit.setMaxLength(MAX_DISPLAY_CHARS)
        self.display_edit.setPlaceholderText(self.tr("e.g. Dr Okafor, cardiology"))
        for edit in (self.server_edit, self.room_edit, self.pin_edit, self.display_edit):
            edit.textEdited.connect(self._clear_error)

        form = QFormLayout()
        form.addRow(self.tr("Invite &link"), self.link_edit)
        form.addRow(self.tr("Video &server"), self.server_edit)
        form.addRow(self.tr("&Room"), self.room_edit)
        form.addRow(self.tr("&PIN"), self.pin_edit)
        form.addRow(self.tr("Your &name as others see it"), self.display_edit)
        self.link_edit.setAccessibleName(self.tr("Invite link"))
        self.server_edit.setAccessibleName(self.tr("Video server"))
        self.room_edit.setAccessibleName(self.tr("Room"))
        self.pin_edit.setAccessibleName(self.tr("PIN"))
        self.display_edit.setAccessibleName(self.tr("Your name as others see it"))

        self.error_label = QLabel()
        self.error_label.setObjectName("joinError")
        self.error_label.setProperty("role", "error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        join = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        join.setText(self.tr("&Join"))
        join.setObjectName("joinButton")
        self.buttons.accepted.connect(self._on_join)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        geometry.fit(self, QSize(720, 360))

    def error_text(self) -> str:
        return self.error_label.text() if not self.error_label.isHidden() else ""

    def _show_error(self, exc: InputRejectedError) -> None:
        reason = reason_text(str(exc.params.get("reason", ""))) or user_text(exc)
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
        # Focus stays in the link field: moving it while someone types (or a paste
        # arrives in pieces) sent the rest of the link into the next field.

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
        geometry.keep(REMEMBERED_DISPLAY, request.display)
        geometry.keep(REMEMBERED_SERVER, request.server_url)
        self.join_requested.emit(request)
        self.accept()

    def show_failure(self, exc: BaseException) -> None:
        """The join failed (network, server): say why, keep everything typed, and offer
        Retry in place of Join."""
        if isinstance(exc, ConsoleError):
            text = user_text(exc)
        else:
            text = self.tr("The visit could not be joined. Check the network, then retry.")
        self.error_label.setText(text)
        self.error_label.show()
        self.join_button().setText(self.tr("&Retry"))

    def join_button(self):
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)
