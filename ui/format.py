"""Small display helpers shared by the widgets (times, note state)."""

from __future__ import annotations

from datetime import date, datetime

from PySide6.QtCore import QCoreApplication, QDate, QLocale

from app.records import EncounterSummary


def _local_date(when: date, pattern: str) -> str:
    """``when`` in the display language's month and weekday names (QLocale's default,
    set with the language by ui.i18n.set_language); ``pattern`` is QLocale's format."""
    return QLocale().toString(QDate(when.year, when.month, when.day), pattern)


def parse_time(iso: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return None
    # Records are UTC; clinicians think in wall-clock time.
    return when.astimezone() if when.tzinfo is not None else when


def clock(iso: str | None, *, seconds: bool = False) -> str:
    when = parse_time(iso) if iso else None
    if when is None:
        return ""
    return when.strftime("%H:%M:%S" if seconds else "%H:%M")


def day_and_clock(iso: str, today: date | None = None, *, seconds: bool = False) -> str:
    when = parse_time(iso)
    if when is None:
        return iso
    today = today or date.today()
    clock = "%H:%M:%S" if seconds else "%H:%M"
    if when.date() == today:
        today_text = QCoreApplication.translate("format", "Today %1")
        return today_text.replace("%1", when.strftime(clock))
    if when.year == today.year:
        return f"{_local_date(when, 'ddd dd MMM')}, {when.strftime(clock)}"
    return f"{_local_date(when, 'dd MMM yyyy')}, {when.strftime(clock)}"


def short_date(iso: str) -> str:
    when = parse_time(iso)
    if when is None:
        return iso
    return _local_date(when, "dd MMM yyyy")


def note_state(summary: EncounterSummary) -> str:
    translate = QCoreApplication.translate
    if summary.note_id is None:
        return translate("QtWorklist", "No note yet")
    if summary.note_version:
        return translate("QtWorklist", "Note · v%1").replace("%1", str(summary.note_version))
    return translate("QtWorklist", "Note")


def age_from(birth_date: str, today: date | None = None) -> str:
    try:
        born = date.fromisoformat(birth_date)
    except ValueError:
        return ""
    today = today or date.today()
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return QCoreApplication.translate("format", "%1 y").replace("%1", str(years))
