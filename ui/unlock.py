"""PIN/passphrase prompt, lock screen and idle detection (automatic logoff, DESIGN.md §7)."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.credentials import CredentialKind

LOCKED_TITLE = QCoreApplication.translate("unlock", "Console locked")
DEMO_NOTE = QCoreApplication.translate(
    "unlock",
    "Demo profile: no PIN is set, because it holds demo data only and no record store. "
    "A console with patient data always asks for a PIN or passphrase.",
)


def ask_text(kind: CredentialKind | None) -> str:
    """What the lock screen asks for, by credential kind."""
    if kind is CredentialKind.PIN:
        return " Enter your PIN to continue."
    if kind is CredentialKind.NONE:
        return " Unlock to continue."
    if kind is CredentialKind.SIGN_IN:
        return ""  # the sign-in card (ui/signin.py) says what to do
    return " Enter the passphrase to continue."


_INPUT_EVENTS = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
    }
)


class QtPassphraseForm(QFrame):
    """A centred card asking for the store passphrase (or just "Unlock")."""

    submitted = Signal(object)  # str passphrase, or None in keyring mode
    quit_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.title = QLabel(self)
        self.title.setObjectName("cardTitle")
        self.message = QLabel(self)
        self.message.setObjectName("cardText")
        self.message.setWordWrap(True)
        self.field = QLineEdit(self)
        self.field.setObjectName("passphraseField")
        self.field.setEchoMode(QLineEdit.EchoMode.Password)
        self.field.setPlaceholderText(QCoreApplication.translate("QtPassphraseForm", "Passphrase"))
        self.field.returnPressed.connect(self._on_submit)
        self.confirm = QLineEdit(self)
        self.confirm.setObjectName("passphraseConfirm")
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm.setPlaceholderText(
            QCoreApplication.translate("QtPassphraseForm", "Repeat the passphrase")
        )
        self.confirm.returnPressed.connect(self._on_submit)
        self.error = QLabel(self)
        self.error.setObjectName("formError")
        self.error.setWordWrap(True)
        self.error.hide()
        self.submit_button = QPushButton(
            QCoreApplication.translate("QtPassphraseForm", "Unlock"), self
        )
        self.submit_button.setObjectName("primaryButton")
        self.submit_button.setDefault(True)
        self.submit_button.clicked.connect(self._on_submit)
        self.quit_button = QPushButton(QCoreApplication.translate("QtPassphraseForm", "Quit"), self)
        self.quit_button.setObjectName("quitButton")
        self.quit_button.clicked.connect(self.quit_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.quit_button)
        buttons.addWidget(self.submit_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.setSpacing(12)
        layout.addWidget(self.title)
        layout.addWidget(self.message)
        layout.addWidget(self.field)
        layout.addWidget(self.confirm)
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        self.setMaximumWidth(480)
        self.setMinimumWidth(380)
        self._needs_passphrase = True
        self._confirming = False
        self._noun = "passphrase"

    def configure(
        self,
        *,
        title: str,
        message: str,
        needs_passphrase: bool = True,
        confirm: bool = False,
        error: str = "",
        button: str = "Unlock",
        can_quit: bool = True,
    ) -> None:
        self.title.setText(title)
        self.message.setText(message)
        self._needs_passphrase = needs_passphrase
        self._confirming = confirm and needs_passphrase
        self.field.setVisible(needs_passphrase)
        self.confirm.setVisible(self._confirming)
        self.field.clear()
        self.confirm.clear()
        self.submit_button.setText(button)
        self.submit_button.setEnabled(True)
        self.quit_button.setVisible(can_quit)
        self.show_error(error)
        if needs_passphrase:
            self.field.setFocus(Qt.FocusReason.OtherFocusReason)

    def set_kind(self, kind: CredentialKind | None) -> None:
        """Word the field for a PIN or a passphrase."""
        self._noun = "PIN" if kind is CredentialKind.PIN else "passphrase"
        self.field.setPlaceholderText(
            QCoreApplication.translate("QtPassphraseForm", "PIN")
            if kind is CredentialKind.PIN
            else QCoreApplication.translate("QtPassphraseForm", "Passphrase")
        )
        self.confirm.setPlaceholderText(
            QCoreApplication.translate("QtPassphraseForm", "Repeat the PIN")
            if kind is CredentialKind.PIN
            else QCoreApplication.translate("QtPassphraseForm", "Repeat the passphrase")
        )

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))
        self.submit_button.setEnabled(True)

    def reject(self, text: str) -> None:
        """The passphrase did not work: say why and start over with empty fields."""
        self.field.clear()
        self.confirm.clear()
        self.show_error(text)
        if self._needs_passphrase:
            self.field.setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_submit(self) -> None:
        if not self._needs_passphrase:
            self.submit_button.setEnabled(False)
            self.submitted.emit(None)
            return
        passphrase = self.field.text()
        if not passphrase:
            self.show_error(
                QCoreApplication.translate("QtPassphraseForm", "Enter the PIN.")
                if self._noun == "PIN"
                else QCoreApplication.translate("QtPassphraseForm", "Enter the passphrase.")
            )
            return
        if self._confirming and passphrase != self.confirm.text():
            self.show_error(
                QCoreApplication.translate("QtPassphraseForm", "The two PINs differ.")
                if self._noun == "PIN"
                else QCoreApplication.translate("QtPassphraseForm", "The two passphrases differ.")
            )
            return
        self.show_error("")
        self.submit_button.setEnabled(False)
        self.submitted.emit(passphrase)


class QtLockScreen(QWidget):
    """Opaque cover over the whole window while the store is locked."""

    unlock_requested = Signal(object)  # passphrase or None (keyring)
    quit_requested = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("lockScreen")
        # Paint the background from the style sheet: an overlay that shows
        # the note underneath would defeat the lock.
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.form = QtPassphraseForm(self)
        self.form.submitted.connect(self.unlock_requested)
        self.form.quit_clicked.connect(self.quit_requested)
        self.sign_in: QWidget | None = None  # ui/signin.py's card, with an identity provider
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.form)
        row.addStretch(1)
        self._row = row
        layout.addLayout(row)
        layout.addStretch(2)
        self.hide()
        self._hold = QTimer(self, singleShot=True)
        self._hold.timeout.connect(self._on_hold_over)
        parent.installEventFilter(self)

    def cover(self, *, kind: CredentialKind | None, reason: str) -> None:
        """Cover the window and ask for the credential of ``kind`` (None: none was set
        up, so nothing typed can match: the screen still asks, and stays locked)."""
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect())
        sign_in = self.sign_in
        if kind is CredentialKind.SIGN_IN and sign_in is not None:
            self.form.hide()
            sign_in.reset()  # type: ignore[attr-defined]
            sign_in.set_reason(reason)  # type: ignore[attr-defined]
            sign_in.show()
            self.show()
            self.raise_()
            return
        if sign_in is not None:
            sign_in.hide()
        self.form.show()
        asks = kind is not CredentialKind.NONE
        message = reason + ask_text(kind)
        if not asks:
            message += "\n\n" + DEMO_NOTE
        self.form.configure(title=LOCKED_TITLE, message=message, needs_passphrase=asks)
        self.form.set_kind(kind)
        self.show()
        self.raise_()
        if asks:
            self.form.field.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            self.form.submit_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def reject(self, text: str) -> None:
        """The unlock was refused: say why where the user is looking (form or card)."""
        card = self.sign_in
        if card is not None and card.isVisible():
            card.reset()  # type: ignore[attr-defined]
            card.show_error(text)  # type: ignore[attr-defined]
        else:
            self.form.reject(text)

    def use_sign_in(self, card: QWidget) -> None:
        """Show ``card`` (ui/signin.py) instead of the PIN form when the session's
        credential is a clinician sign-in; its ``signed_in`` asks for the unlock."""
        card.setParent(self)
        self._row.insertWidget(2, card)
        card.hide()
        card.signed_in.connect(lambda _result: self.unlock_requested.emit(None))  # type: ignore[attr-defined]
        card.quit_clicked.connect(self.quit_requested)  # type: ignore[attr-defined]
        self.sign_in = card

    def hold_for(self, wait_s: float) -> None:
        """Too many wrong tries: the Unlock button waits ``wait_s`` seconds."""
        self.form.submit_button.setEnabled(False)
        self._hold.start(max(1, int(wait_s * 1000)))

    @property
    def holding(self) -> bool:
        return self._hold.isActive()

    def _on_hold_over(self) -> None:
        self.form.submit_button.setEnabled(True)
        self.form.show_error("")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        parent = self.parentWidget()
        if event.type() == QEvent.Type.Resize and parent is not None and watched is parent:
            self.setGeometry(parent.rect())
        return False


class IdleWatcher(QObject):
    """Emits ``idle`` after ``timeout_ms`` without keyboard, mouse or touch input."""

    idle = Signal()

    def __init__(self, timeout_ms: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self, singleShot=True, interval=timeout_ms)
        self._timer.timeout.connect(self.idle)
        self._installed = False

    @property
    def timeout_ms(self) -> int:
        return self._timer.interval()

    @timeout_ms.setter
    def timeout_ms(self, value: int) -> None:
        """A new timeout; a running watch restarts with it, counted from now."""
        self._timer.setInterval(value)

    def start(self) -> None:
        app = QApplication.instance()
        if app is not None and not self._installed:
            app.installEventFilter(self)
            self._installed = True
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        app = QApplication.instance()
        if app is not None and self._installed:
            app.removeEventFilter(self)
            self._installed = False

    def pause(self) -> None:
        self._timer.stop()

    @property
    def is_running(self) -> bool:
        return self._timer.isActive()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() in _INPUT_EVENTS and self._timer.isActive():
            self._timer.start()
        return False
