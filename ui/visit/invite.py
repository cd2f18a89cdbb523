"""QtInvitePanel: the patient's invite link, a Copy button and a QR code.

The link carries the room PIN in its fragment, so it is shown and copied but
never logged, and never put in an exception text or a notice.
"""

from __future__ import annotations

import io

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QImage, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.visit import Invite

QR_SCALE = 4  # pixels per module
QR_BORDER = 2  # quiet zone in modules (the standard asks for 4; phone readers cope with 2)
COPIED_MS = 2000


def qr_image(text: str, *, scale: int = QR_SCALE, border: int = QR_BORDER) -> tuple[QImage, int]:
    """A QR code for ``text`` as a QImage, and its size in modules (without border)."""
    import segno  # imported when a QR is first drawn: keeps it off the start-up path

    # "M" (15 % recovery) stays readable from a slightly blurred screen photo.
    code = segno.make(text, error="m")
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=scale, border=border, dark="#102a43", light="#ffffff")
    image = QImage.fromData(buffer.getvalue())  # the PNG header says what it is
    modules = int(code.symbol_size(scale=1, border=0)[0])
    return image, modules


class QtInvitePanel(QWidget):
    """Shows ``invite.link`` (read-only), copies it, and renders it as a QR code."""

    def __init__(self, invite: Invite | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("invitePanel")
        self.title = QLabel(QCoreApplication.translate("QtInvitePanel", "Invite the patient"), self)
        self.title.setObjectName("sideTitle")
        self.hint = QLabel(
            QCoreApplication.translate(
                "QtInvitePanel",
                "Send this link to the patient, or let them scan the code. "
                "It contains the room PIN: share it only with them.",
            ),
            self,
        )
        self.hint.setObjectName("sideHint")
        self.hint.setWordWrap(True)
        self.link_field = QLineEdit(self)
        self.link_field.setObjectName("inviteLink")
        self.link_field.setAccessibleName(self.tr("Invite link for the patient"))
        self.link_field.setReadOnly(True)
        self.copy_button = QPushButton(
            QCoreApplication.translate("QtInvitePanel", "Copy link"), self
        )
        self.copy_button.setObjectName("copyInvite")
        self.copy_button.setToolTip(
            QCoreApplication.translate("QtInvitePanel", "Copy the invite link to the clipboard")
        )
        self.copy_button.clicked.connect(self.copy)
        self.copied_label = QLabel(QCoreApplication.translate("QtInvitePanel", "Copied"), self)
        self.copied_label.setObjectName("inviteCopied")
        self.copied_label.hide()
        self.qr_label = QLabel(self)
        self.qr_label.setObjectName("inviteQr")
        self.qr_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr_label.setToolTip(
            QCoreApplication.translate(
                "QtInvitePanel", "Scan with a phone camera to open the visit"
            )
        )
        self.qr = QImage()
        self.qr_modules = 0
        self._copied_timer = QTimer(self)
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(COPIED_MS)
        self._copied_timer.timeout.connect(self.copied_label.hide)

        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(self.link_field, 1)
        row.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addWidget(self.title)
        layout.addWidget(self.hint)
        layout.addLayout(row)
        layout.addWidget(self.copied_label)
        layout.addWidget(self.qr_label)
        self._link = ""
        self.set_invite(invite)

    @property
    def link(self) -> str:
        return self._link

    def set_invite(self, invite: Invite | None) -> None:
        self._link = invite.link if invite is not None else ""
        self.link_field.setText(self._link)
        self.link_field.setCursorPosition(0)
        self.copy_button.setEnabled(bool(self._link))
        if self._link:
            self.qr, self.qr_modules = qr_image(self._link)
            self.qr_label.setPixmap(QPixmap.fromImage(self.qr))
        else:
            self.qr, self.qr_modules = QImage(), 0
            self.qr_label.clear()
        self.setVisible(bool(self._link))

    def copy(self) -> None:
        if not self._link:
            return
        QGuiApplication.clipboard().setText(self._link)
        self.copied_label.show()
        self._copied_timer.start()
