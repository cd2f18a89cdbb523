"""Autosave: debounce keystrokes, save through the async service, never lose text.

The saver keeps the newest unsaved text per note until the store has confirmed
it. A failed save (disk full, store locked) leaves the text pending, reports
"failed", and is retried on the next keystroke and on a retry timer; switching
to another note does not drop it, because the editor asks :meth:`pending_text`
before showing what the store has.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtCore import QObject, QTimer, Signal

from app.errors import ConsoleError
from app.records import SaveResult
from app.services import NotesService
from ui.errors import log_text, user_text

log = logging.getLogger(__name__)

DEBOUNCE_MS = 400  # DESIGN: saved within 500 ms of the last keystroke
RETRY_MS = 5_000


class SaveKind(StrEnum):
    IDLE = "idle"  # nothing typed yet in this session
    PENDING = "pending"  # typed, waiting for the debounce
    SAVING = "saving"
    SAVED = "saved"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SaveState:
    kind: SaveKind
    saved_at: str | None = None  # ISO time of the last confirmed save
    message: str = ""  # user text of the last failure (safe: no patient data)


class Autosaver(QObject):
    state_changed = Signal(object)  # SaveState
    saved = Signal(object)  # SaveResult

    def __init__(
        self,
        notes: NotesService,
        *,
        debounce_ms: int = DEBOUNCE_MS,
        retry_ms: int = RETRY_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._notes = notes
        self._pending: dict[str, str] = {}
        self._in_flight: tuple[str, str] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._paused = False
        self.state = SaveState(SaveKind.IDLE)
        self._debounce = QTimer(self, singleShot=True, interval=debounce_ms)
        self._debounce.timeout.connect(self._kick)
        # Fires when the quiet period after the last keystroke has passed (the save starts).
        self.debounce_elapsed = self._debounce.timeout
        self._retry = QTimer(self, singleShot=True, interval=retry_ms)
        self._retry.timeout.connect(self._kick)

    # -- what editors call -------------------------------------------------
    def schedule(self, note_id: str, text: str) -> None:
        self._pending[note_id] = text
        if self.state.kind is not SaveKind.FAILED:
            self._set_state(SaveKind.PENDING)
        self._debounce.start()

    @property
    def debounce_ms(self) -> int:
        return self._debounce.interval()

    @property
    def waiting_for_quiet(self) -> bool:
        """Whether a save waits for the debounce (typing has not paused long enough)."""
        return self._debounce.isActive()

    def save_now(self) -> None:
        self._debounce.stop()
        self._kick()

    async def flush(self) -> bool:
        """Save everything pending now; True when the store has all of it."""
        self._debounce.stop()
        self._kick()
        while self._worker is not None:
            # shield: a caller giving up (cancelled) must not abort a save mid-way.
            await asyncio.shield(self._worker)
        return not self._pending

    def pending_text(self, note_id: str) -> str | None:
        if note_id in self._pending:
            return self._pending[note_id]
        if self._in_flight is not None and self._in_flight[0] == note_id:
            return self._in_flight[1]
        return None

    @property
    def has_unsaved(self) -> bool:
        return bool(self._pending) or self._in_flight is not None

    def pause(self) -> None:
        """Stop saving (the store is locked); pending text stays pending."""
        self._paused = True
        self._debounce.stop()
        self._retry.stop()

    def resume(self) -> None:
        self._paused = False
        if self._pending:
            self._kick()

    # -- the worker -------------------------------------------------------
    def _set_state(self, kind: SaveKind, message: str = "") -> None:
        state = SaveState(kind, self.state.saved_at, message)
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def _kick(self) -> None:
        if self._paused or self._worker is not None or not self._pending:
            return
        self._retry.stop()
        self._worker = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending and not self._paused:
                note_id = next(iter(self._pending))
                text = self._pending.pop(note_id)
                self._in_flight = (note_id, text)
                self._set_state(SaveKind.SAVING)
                try:
                    result = await self._notes.save(note_id, text, source=self)
                except asyncio.CancelledError:
                    self._pending.setdefault(note_id, text)  # shutting down: keep it pending
                    raise
                except Exception as exc:
                    # Text typed while this save ran is newer and wins.
                    self._pending.setdefault(note_id, text)
                    self._on_failure(exc)
                    return
                finally:
                    self._in_flight = None
                self._on_saved(result)
            if not self._pending:
                self._set_state(SaveKind.SAVED)
        finally:
            self._worker = None

    def _on_saved(self, result: SaveResult) -> None:
        self.state = SaveState(self.state.kind, result.saved_at, "")
        self.saved.emit(result)

    def _on_failure(self, exc: BaseException) -> None:
        if isinstance(exc, ConsoleError):
            log.warning("Autosave failed, will retry: %s", log_text(exc))
        else:
            log.error("Autosave failed unexpectedly, will retry: %s", log_text(exc))
        self._set_state(SaveKind.FAILED, user_text(exc))
        if not self._paused:
            self._retry.start()
