"""QtStartupView: opening the encrypted store, asking for a passphrase, or saying why not.

The composition root passes an *opener* (it alone knows the concrete store);
this view turns each failure into the right screen: a passphrase prompt when
one would help, otherwise an error screen with the message, what to do, and
Quit. It never retries in a way that could create a second, empty store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.credentials import MIN_PIN_DIGITS, CredentialKind, Credentials
from app.errors import (
    ConfigError,
    ConsoleError,
    CredentialError,
    CredentialFileError,
    CredentialTooWeakError,
    DiskFullError,
    KeyMismatchError,
    KeyMissingError,
    KeyringUnavailableError,
    PassphraseRequiredError,
    PassphraseTooShortError,
    SchemaTooNewError,
    StoreDamagedError,
    StoreMissingError,
    WrongPassphraseError,
)
from app.ports import RecordStore
from app.records import MIN_PASSPHRASE_LENGTH, KeySource
from ui.errors import log_text, user_text
from ui.unlock import QtPassphraseForm

log = logging.getLogger(__name__)

LOADING_TEXT = QCoreApplication.translate("startup", "Opening the encrypted record store…")
ERROR_TITLE = QCoreApplication.translate("startup", "The record store could not be opened")


# Kept as a name for readability: the port itself now carries lock() and unlock().
LockableStore = RecordStore


StoreOpener = Callable[[KeySource | None, str | None], Awaitable[LockableStore]]


def what_to_do(exc: BaseException) -> str:
    """The advice under the message; ordered most specific first (subclasses)."""
    if isinstance(exc, KeyMismatchError | KeyMissingError):
        return QCoreApplication.translate(
            "startup",
            "Sign in to the desktop session whose keyring holds the store key, or restore "
            "the keyring entry. Do not delete the store: it is intact. If the key is lost, "
            "restore the profile from a backup or contact IT.",
        )
    if isinstance(exc, StoreDamagedError):
        return QCoreApplication.translate(
            "startup",
            "Restore the profile from the latest backup, or contact IT support. "
            "The damaged file was not changed, so support can still examine it.",
        )
    if isinstance(exc, StoreMissingError):
        return QCoreApplication.translate(
            "startup", "Restore the store file from a backup, or contact IT support."
        )
    if isinstance(exc, SchemaTooNewError):
        return QCoreApplication.translate(
            "startup", "Install the newer Clinician Console that last opened this store."
        )
    if isinstance(exc, DiskFullError):
        return QCoreApplication.translate(
            "startup", "Free some disk space, then start the console again."
        )
    if isinstance(exc, KeyringUnavailableError):
        return QCoreApplication.translate(
            "startup",
            "This store keeps its key in the OS keyring. Start the console in a desktop "
            "session with a working keyring (for example GNOME Keyring or KWallet).",
        )
    if isinstance(exc, CredentialFileError):
        return QCoreApplication.translate(
            "startup",
            "Restore the profile from a backup, or ask IT to reset the console's PIN. "
            "The record store itself was not changed.",
        )
    if isinstance(exc, ConfigError):
        return QCoreApplication.translate(
            "startup", "Correct the file named above (or ask IT if it is the managed policy)."
        )
    return QCoreApplication.translate(
        "startup", "Quit and start the console again. If this keeps happening, contact IT support."
    )


class QtStartupView(QWidget):
    quit_requested = Signal()
    page_changed = Signal(str)  # "loading" | "passphrase" | "error"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("startupView")
        self._stack = QStackedWidget(self)
        self.loading_label = QLabel(LOADING_TEXT, self)
        self.loading_label.setObjectName("startupLoading")
        self.loading_label.setProperty("role", "placeholder")
        self.loading_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.form = QtPassphraseForm(self)
        self.error_card = self._build_error_card()
        for widget in (self.loading_label, self.form, self.error_card):
            page = QWidget(self)
            column = QVBoxLayout(page)
            column.addStretch(1)
            row = QHBoxLayout()
            row.addStretch(1)
            row.addWidget(widget, 3 if widget is self.loading_label else 0)
            row.addStretch(1)
            column.addLayout(row)
            column.addStretch(2)
            self._stack.addWidget(page)
        layout = QVBoxLayout(self)
        layout.addWidget(self._stack)
        self.error: BaseException | None = None
        self.wait_s = 0.0  # the last delay shown after failed attempts
        self._answer: asyncio.Future[str | None] | None = None
        self.form.submitted.connect(self._on_form_submitted)
        self.form.quit_clicked.connect(self._on_quit_clicked)

    def _build_error_card(self) -> QFrame:
        card = QFrame(self)
        card.setObjectName("errorCard")
        self.error_title = QLabel(ERROR_TITLE, card)
        self.error_title.setObjectName("cardTitle")
        self.error_message = QLabel(card)
        self.error_message.setObjectName("errorMessage")
        self.error_message.setWordWrap(True)
        self.error_message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        todo_title = QLabel(QCoreApplication.translate("QtStartupView", "What to do"), card)
        todo_title.setObjectName("sectionTitle")
        self.error_advice = QLabel(card)
        self.error_advice.setObjectName("errorAdvice")
        self.error_advice.setWordWrap(True)
        self.quit_button = QPushButton(QCoreApplication.translate("QtStartupView", "Quit"), card)
        self.quit_button.setObjectName("primaryButton")
        self.quit_button.clicked.connect(self._on_quit_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.quit_button)
        layout = QVBoxLayout(card)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.setSpacing(12)
        layout.addWidget(self.error_title)
        layout.addWidget(self.error_message)
        layout.addWidget(todo_title)
        layout.addWidget(self.error_advice)
        layout.addLayout(buttons)
        card.setMinimumWidth(460)
        card.setMaximumWidth(620)
        return card

    # -- pages -----------------------------------------------------------
    def page(self) -> str:
        return ("loading", "passphrase", "error", "signin")[self._stack.currentIndex()]

    def _set_page(self, index: int) -> None:
        self._stack.setCurrentIndex(index)
        self.page_changed.emit(self.page())

    def show_loading(self, text: str = LOADING_TEXT) -> None:
        self.loading_label.setText(text)
        self._set_page(0)

    def show_error(self, exc: BaseException) -> None:
        self.error = exc
        self.error_message.setText(user_text(exc))
        self.error_advice.setText(what_to_do(exc))
        self._set_page(2)
        self.quit_button.setFocus(Qt.FocusReason.OtherFocusReason)

    async def ask_passphrase(
        self,
        *,
        title: str,
        message: str,
        confirm: bool = False,
        error: str = "",
        button: str | None = None,
        kind: CredentialKind | None = CredentialKind.PASSPHRASE,
    ) -> str | None:
        """Show the prompt; the passphrase, or None when the user quits."""
        self.form.set_kind(kind)
        self.form.configure(
            title=title,
            message=message,
            confirm=confirm,
            error=error,
            button=button
            or (
                QCoreApplication.translate("startup", "Create store")
                if confirm
                else QCoreApplication.translate("startup", "Unlock")
            ),
        )
        self._set_page(1)
        self.form.field.setFocus(Qt.FocusReason.OtherFocusReason)
        self._answer = asyncio.get_running_loop().create_future()
        try:
            return await self._answer
        finally:
            self._answer = None

    def cancel(self) -> None:
        """The window is closing: any pending prompt resolves as Quit."""
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(None)
        settle = getattr(self, "_answer_sign_in", None)
        if settle is not None:
            settle(False)

    def _on_form_submitted(self, passphrase: object) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(passphrase if isinstance(passphrase, str) else None)

    def _on_quit_clicked(self) -> None:
        self.cancel()
        self.quit_requested.emit()

    # -- the flow --------------------------------------------------------
    async def obtain_store(
        self,
        opener: StoreOpener,
        *,
        key_source: KeySource | None = None,
        new_store: bool = False,
    ) -> LockableStore | None:
        """Open the store, prompting as needed; None when the user quits or it cannot open.

        After a failure the error screen stays up until the user presses Quit
        (which emits ``quit_requested``); ``self.error`` holds the reason.
        """
        passphrase: str | None = None
        while True:
            self.show_loading()
            try:
                return await opener(key_source, passphrase)
            except KeyringUnavailableError as exc:
                if key_source is KeySource.PASSPHRASE:
                    # The store itself is keyed in the keyring: a passphrase cannot help.
                    self._fail(exc)
                    return None
                key_source = KeySource.PASSPHRASE
                prompt = (
                    QCoreApplication.translate(
                        "startup",
                        "Choose a passphrase for the new encrypted store (at least %1 "
                        "characters). It cannot be recovered if forgotten.",
                    ).replace("%1", str(MIN_PASSPHRASE_LENGTH))
                    if new_store
                    else QCoreApplication.translate("startup", "Enter the store passphrase.")
                )
                passphrase = await self.ask_passphrase(
                    title=QCoreApplication.translate("startup", "No OS keyring available"),
                    message=f"{user_text(exc)}\n\n{prompt}",
                    confirm=new_store,
                )
            except PassphraseRequiredError as exc:
                key_source = KeySource.PASSPHRASE
                passphrase = await self.ask_passphrase(
                    title=QCoreApplication.translate("startup", "Unlock the record store")
                    if not new_store
                    else QCoreApplication.translate("startup", "Choose a store passphrase"),
                    message=user_text(exc),
                    confirm=new_store,
                )
            except WrongPassphraseError as exc:
                passphrase = await self.ask_passphrase(
                    title=QCoreApplication.translate("startup", "Unlock the record store"),
                    message=user_text(PassphraseRequiredError()),
                    error=user_text(exc),
                )
            except PassphraseTooShortError as exc:
                passphrase = await self.ask_passphrase(
                    title=QCoreApplication.translate("startup", "Choose a store passphrase"),
                    message=QCoreApplication.translate(
                        "startup", "Choose a passphrase for the new encrypted store."
                    ),
                    confirm=True,
                    error=user_text(exc),
                )
            except ConsoleError as exc:
                self._fail(exc)
                return None
            except Exception as exc:
                log.error("Opening the store failed unexpectedly: %s", log_text(exc))
                self._fail(exc)
                return None
            if passphrase is None:
                return None

    # -- the console credential (app/credentials.py) ------------------------------
    async def choose_credential(self, credentials: Credentials) -> bool:
        """First run: choose the PIN (digits) or passphrase that opens the console.
        False when the user quits."""
        error = ""
        while True:
            secret = await self.ask_passphrase(
                title=QCoreApplication.translate("startup", "Choose a PIN for this console"),
                message=QCoreApplication.translate(
                    "startup",
                    "The console asks for it at every start and every unlock. Choose a PIN of "
                    "at least %1 digits, or a passphrase of at least %2 characters. It is kept "
                    "only as a hash: it cannot be recovered if forgotten.",
                )
                .replace("%1", str(MIN_PIN_DIGITS))
                .replace("%2", str(MIN_PASSPHRASE_LENGTH)),
                confirm=True,
                error=error,
                button=QCoreApplication.translate("startup", "Set PIN"),
                kind=CredentialKind.PIN,
            )
            if secret is None:
                return False
            kind = CredentialKind.PIN if secret.isdigit() else CredentialKind.PASSPHRASE
            try:
                await credentials.choose(kind, secret)
            except CredentialTooWeakError as exc:
                error = user_text(exc)
                continue
            return True

    async def ask_credential(self, credentials: Credentials) -> bool:
        """Every start: the PIN or passphrase, with the growing delay after failures.
        True once verified; False when the user quits."""
        kind = credentials.kind
        asks = (
            QCoreApplication.translate("startup", "Enter your passphrase to open the console.")
            if kind is CredentialKind.PASSPHRASE
            else QCoreApplication.translate("startup", "Enter your PIN to open the console.")
        )
        error = ""
        while True:
            wait = credentials.wait_s()
            if wait > 0:
                self.show_loading(
                    QCoreApplication.translate(
                        "startup", "Too many wrong attempts: wait %1 seconds."
                    ).replace("%1", str(int(wait + 0.999)))
                )
                self.wait_s = wait
                await asyncio.sleep(wait)  # the delay itself, shown on screen
            secret = await self.ask_passphrase(
                title=QCoreApplication.translate("startup", "Unlock the console"),
                message=asks,
                error=error,
                kind=kind,
            )
            if secret is None:
                return False
            try:
                await credentials.verify(secret)
            except CredentialFileError:
                raise
            except CredentialError as exc:
                error = user_text(exc)
                continue
            return True

    # -- clinician sign-in (app/identity.py; ui/signin.py) ---------------------------
    async def ask_sign_in(self, identity: Any, open_browser: Any) -> bool:
        """With an identity provider: the sign-in card instead of the PIN. True once a
        clinician signed in (online or with their offline PIN); False when they quit."""
        from ui.signin import QtSignInCard

        card = QtSignInCard(identity, open_browser, self)
        page = QWidget(self)
        column = QVBoxLayout(page)
        column.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card)
        row.addStretch(1)
        column.addLayout(row)
        column.addStretch(2)
        self._stack.addWidget(page)
        self.sign_in_card = card
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def settle(value: bool) -> None:
            if not answer.done():
                answer.set_result(value)

        def on_quit() -> None:
            settle(False)
            self.quit_requested.emit()

        card.signed_in.connect(lambda _result: settle(True))
        card.quit_clicked.connect(on_quit)
        self._answer_sign_in: Callable[[bool], None] | None = settle  # cancel(): as Quit
        self._set_page(3)
        try:
            return await answer
        finally:
            self._answer_sign_in = None
            self._stack.removeWidget(page)
            page.deleteLater()

    def _fail(self, exc: BaseException) -> None:
        log.warning(
            "Store could not be opened: %s",
            log_text(exc),
        )
        self.show_error(exc)
