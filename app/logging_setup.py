"""Logging that cannot leak patient data.

Our own messages never carry record contents (only ids, counts, states).
Exception messages from libraries might (pydantic echoes input values,
SQLite may echo a constraint's value), so tracebacks are logged with each
exception's *type* and frames, never its message, except for ConsoleError,
whose text is built from safe parameters by construction (app.errors).
Residual patterns that look like identifiers are redacted as a second line.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from app.errors import ConsoleError

_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "<email>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b(?!T)"), "<date>"),
    (re.compile(r"\+?\d[\d ()-]{8,}\d"), "<number>"),
)


def scrub(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def safe_exception_text(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> str:
    frames = "".join(traceback.format_tb(tb))
    chain: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 8:
        if isinstance(current, ConsoleError):
            chain.append(f"{type(current).__name__}[{current.message_key}]: {current}")
        else:
            chain.append(f"{type(current).__module__}.{type(current).__name__} (message withheld)")
        current = current.__cause__ or current.__context__
    return frames + "\n  caused by ".join(chain)


class ScrubbingFormatter(logging.Formatter):
    """Scrubs what a record says (its message, exception and stack), never the line's
    own timestamp, level or logger name: scrubbing the formatted line turned every
    timestamp into a literal ``<date>``."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging.Formatter API)
        exc_type, exc, tb = ei
        if exc is None:
            return ""
        return scrub(safe_exception_text(exc_type, exc, tb))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 (logging.Formatter API)
        return scrub(stack_info)

    def format(self, record: logging.LogRecord) -> str:
        # A copy: other handlers (pytest's caplog, a debugger's) see the record as logged.
        scrubbed = logging.makeLogRecord(record.__dict__)
        scrubbed.msg = scrub(record.getMessage())
        scrubbed.args = None
        scrubbed.exc_text = None  # formatted again below, through formatException
        return super().format(scrubbed)


ACTIONS_LOGGER = "clinician_console.actions"
_actions = logging.getLogger(ACTIONS_LOGGER)


def log_user_action(action: str, **ids: str | int | None) -> None:
    """One line for something the user did (``lock``, ``unlock``, ``visit_start``,
    ``visit_end``, ``attach``, ``sign_in``, ``sign``): the action and record ids or kinds
    only, never names, MRNs or free text (IT reads these logs)."""
    details = " ".join(f"{key}={value}" for key, value in ids.items() if value is not None)
    _actions.info("user action: %s%s", action, f" {details}" if details else "")


def configure(profile: Path | None, level: int = logging.INFO) -> Path | None:
    """Log to the profile's ``logs/console.log`` (rotated) and to stderr for warnings."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.WARNING)
    stderr.setFormatter(formatter)
    root.addHandler(stderr)
    # httpx logs every request URL at INFO, query string included; a search
    # query may name a patient, so keep it to warnings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    if profile is None:
        return None
    log_dir = profile / "logs"
    log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = log_dir / "console.log"
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=5_000_000, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(formatter)
    root.addHandler(file_handler)
    return path
