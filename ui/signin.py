"""The sign-in screen when the clinic has an identity provider (app/identity.py).

It replaces the PIN prompt at start and on the lock screen: "Sign in" opens the
system browser at the organisation's sign-in page and waits for it to come back;
when the sign-in service cannot be reached, a clinician who signed in here recently
enters their login and their own offline PIN. After a first online sign-in the card
offers to choose that offline PIN. The card only renders the use case's results:
the order of the steps and what they check live in app/identity.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QCompleter,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.credentials import CredentialKind, check_new_secret
from app.errors import ConsoleError, CredentialTooWeakError, IdentityUnreachableError
from app.identity import Identity, SignInResult
from ui import i18n
from ui.ops import run_op

OpenBrowser = Callable[[str], Awaitable[None]]

PAGES = ("online", "waiting", "offline", "choose_pin")


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ConsoleError):
        return i18n.error_text(exc)  # the message key, in the user's language
    return QCoreApplication.translate("QtSignInCard", "Sign-in failed unexpectedly. Try again.")


class QtSignInCard(QFrame):
    """A centred card: sign in online, offline with the PIN, or choose the offline PIN."""

    signed_in = Signal(object)  # SignInResult, once the card is done (PIN chosen or skipped)
    quit_clicked = Signal()
    page_changed = Signal(str)

    def __init__(
        self, identity: Identity, open_browser: OpenBrowser, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setAccessibleName(self.tr("Clinician sign-in"))
        self._identity = identity
        self._open_browser = open_browser
        self._task: asyncio.Task[object] | None = None
        self._result: SignInResult | None = None
        self.title = QLabel(self)
        self.title.setObjectName("cardTitle")
        self.message = QLabel(self)
        self.message.setObjectName("cardText")
        self.message.setWordWrap(True)
        self.error = QLabel(self)
        self.error.setObjectName("formError")
        self.error.setWordWrap(True)
        self.error.hide()
        self._stack = QStackedWidget(self)
        self._stack.addWidget(self._online_page())
        self._stack.addWidget(self._waiting_page())
        self._stack.addWidget(self._offline_page())
        self._stack.addWidget(self._choose_pin_page())
        self.quit_button = QPushButton(self.tr("Quit"), self)
        self.quit_button.setObjectName("quitButton")
        self.quit_button.clicked.connect(self.quit_clicked)
        bottom = QHBoxLayout()
        bottom.addWidget(self.quit_button)
        bottom.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.setSpacing(12)
        layout.addWidget(self.title)
        layout.addWidget(self.message)
        layout.addWidget(self._stack)
        layout.addWidget(self.error)
        layout.addLayout(bottom)
        self.setMinimumWidth(400)
        self.setMaximumWidth(520)
        self.reset()

    # -- pages ---------------------------------------------------------------------
    def _online_page(self) -> QWidget:
        page = QWidget(self)
        self.sign_in_button = QPushButton(self.tr("Sign in with your organisation"), page)
        self.sign_in_button.setObjectName("primaryButton")
        self.sign_in_button.setDefault(True)
        self.sign_in_button.clicked.connect(self._on_sign_in_clicked)
        self.offline_button = QPushButton(self.tr("Sign in offline…"), page)
        self.offline_button.setObjectName("linkButton")
        self.offline_button.clicked.connect(lambda: self.show_page("offline"))
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.sign_in_button)
        column.addWidget(self.offline_button, 0, Qt.AlignmentFlag.AlignLeft)
        return page

    def _waiting_page(self) -> QWidget:
        page = QWidget(self)
        self.cancel_button = QPushButton(self.tr("Cancel"), page)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignRight)
        return page

    def _offline_page(self) -> QWidget:
        page = QWidget(self)
        self.login_field = QLineEdit(page)
        self.login_field.setObjectName("offlineLogin")
        self.login_field.setPlaceholderText(self.tr("Your user name"))
        self.login_field.setAccessibleName(self.tr("User name"))
        self.pin_field = QLineEdit(page)
        self.pin_field.setObjectName("offlinePin")
        self.pin_field.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_field.setPlaceholderText(self.tr("Your offline PIN"))
        self.pin_field.setAccessibleName(self.tr("Offline PIN"))
        self.pin_field.returnPressed.connect(self._on_offline_clicked)
        self.offline_submit = QPushButton(self.tr("Sign in offline"), page)
        self.offline_submit.setObjectName("primaryButton")
        self.offline_submit.clicked.connect(self._on_offline_clicked)
        back = QPushButton(self.tr("Back"), page)
        back.clicked.connect(self.reset)
        row = QHBoxLayout()
        row.addWidget(back)
        row.addStretch(1)
        row.addWidget(self.offline_submit)
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.login_field)
        column.addWidget(self.pin_field)
        column.addLayout(row)
        return page

    def _choose_pin_page(self) -> QWidget:
        page = QWidget(self)
        self.new_pin = QLineEdit(page)
        self.new_pin.setObjectName("newOfflinePin")
        self.new_pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.new_pin.setPlaceholderText(self.tr("Offline PIN (at least 6 digits)"))
        self.new_pin.setAccessibleName(self.tr("New offline PIN"))
        self.repeat_pin = QLineEdit(page)
        self.repeat_pin.setObjectName("repeatOfflinePin")
        self.repeat_pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat_pin.setPlaceholderText(self.tr("Repeat the PIN"))
        self.repeat_pin.setAccessibleName(self.tr("Repeat the offline PIN"))
        self.repeat_pin.returnPressed.connect(self._on_set_pin_clicked)
        self.set_pin_button = QPushButton(self.tr("Set offline PIN"), page)
        self.set_pin_button.setObjectName("primaryButton")
        self.set_pin_button.clicked.connect(self._on_set_pin_clicked)
        self.skip_pin_button = QPushButton(self.tr("Not now"), page)
        self.skip_pin_button.clicked.connect(self._finish)
        row = QHBoxLayout()
        row.addWidget(self.skip_pin_button)
        row.addStretch(1)
        row.addWidget(self.set_pin_button)
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.new_pin)
        column.addWidget(self.repeat_pin)
        column.addLayout(row)
        return page

    def page(self) -> str:
        return PAGES[self._stack.currentIndex()]

    def show_page(self, name: str, *, error: str = "") -> None:
        texts = {
            "online": (
                self.tr("Sign in"),
                self.tr("Sign in with your organisation's account. Your web browser opens for it."),
            ),
            "waiting": (
                self.tr("Finish signing in in your browser"),
                self.tr("The console continues as soon as the browser has signed you in."),
            ),
            "offline": (
                self.tr("Sign in offline"),
                self.tr(
                    "While the sign-in service cannot be reached, enter your user name and "
                    "the offline PIN you chose on this computer."
                ),
            ),
            "choose_pin": (
                self.tr("Choose your offline PIN"),
                self.tr(
                    "With it you can open this console when the network is down, for a "
                    "limited time after signing in online. It is yours alone: do not share it."
                ),
            ),
        }
        title, message = texts[name]
        self.title.setText(title)
        self.message.setText(message)
        self._stack.setCurrentIndex(PAGES.index(name))
        self.show_error(error)
        if name == "offline":
            completer = QCompleter(self._identity.known_logins(), self.login_field)
            completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
            self.login_field.setCompleter(completer)
            self.pin_field.clear()
            target = self.pin_field if self.login_field.text() else self.login_field
            target.setFocus(Qt.FocusReason.OtherFocusReason)
        elif name == "choose_pin":
            self.new_pin.clear()
            self.repeat_pin.clear()
            self.new_pin.setFocus(Qt.FocusReason.OtherFocusReason)
        elif name == "online":
            self.sign_in_button.setFocus(Qt.FocusReason.OtherFocusReason)
        self.page_changed.emit(name)

    def set_reason(self, text: str) -> None:
        """Why the card is shown (the lock screen's reason), before what to do."""
        self.message.setText(f"{text}\n\n{self.message.text()}" if text else self.message.text())

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def reset(self) -> None:
        """Back to the first page (a new lock, or Back)."""
        self._cancel_task()
        self._result = None
        self.show_page("online")

    # -- actions -------------------------------------------------------------------
    def _cancel_task(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()

    def _on_sign_in_clicked(self) -> None:
        self.show_page("waiting")
        self._task = run_op(
            self,
            self._identity.sign_in(self._open_browser),
            busy=False,
            on_done=self._on_online_done,
            on_error=self._on_online_error,
        )

    def _on_cancel_clicked(self) -> None:
        self.reset()

    def _on_online_done(self, result: SignInResult) -> None:
        self._result = result
        if result.needs_offline_pin:
            self.show_page("choose_pin")
        else:
            self._finish()

    def _on_online_error(self, exc: BaseException) -> None:
        if isinstance(exc, IdentityUnreachableError):
            self.show_page("offline", error=_error_text(exc))
        else:
            self.show_page("online", error=_error_text(exc))

    def _on_offline_clicked(self) -> None:
        login, pin = self.login_field.text().strip(), self.pin_field.text()
        if not login or not pin:
            self.show_error(self.tr("Enter your user name and your offline PIN."))
            return
        self.offline_submit.setEnabled(False)

        def done(result: SignInResult) -> None:
            self.offline_submit.setEnabled(True)
            self._result = result
            self._finish()

        def failed(exc: BaseException) -> None:
            self.offline_submit.setEnabled(True)
            self.pin_field.clear()
            self.pin_field.setFocus(Qt.FocusReason.OtherFocusReason)
            self.show_error(_error_text(exc))

        self._task = run_op(
            self,
            self._identity.enter_offline(login, pin),
            busy=False,
            on_done=done,
            on_error=failed,
        )

    def _on_set_pin_clicked(self) -> None:
        pin = self.new_pin.text()
        if pin != self.repeat_pin.text():
            self.show_error(self.tr("The two PINs differ."))
            return
        try:
            check_new_secret(CredentialKind.PIN, pin)
        except CredentialTooWeakError as exc:
            self.show_error(i18n.error_text(exc))
            return
        self.set_pin_button.setEnabled(False)

        def done(_none: None) -> None:
            self.set_pin_button.setEnabled(True)
            self._finish()

        def failed(exc: BaseException) -> None:
            self.set_pin_button.setEnabled(True)
            self.show_error(_error_text(exc))

        self._task = run_op(
            self,
            self._identity.choose_offline_pin(pin),
            busy=False,
            on_done=done,
            on_error=failed,
        )

    def _finish(self) -> None:
        result = self._result
        if result is not None:
            self.signed_in.emit(result)
