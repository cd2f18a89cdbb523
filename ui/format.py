"""Small display helpers shared by the widgets (times, note state)."""

from __future__ import annotations

from datetime import date, datetime

from app.records import EncounterSummary


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
        from PySide6.QtCore import QCoreApplication

        today_text = QCoreApplication.translate("format", "Today %1")
        return today_text.replace("%1", when.strftime(clock))
    if when.year == today.year:
        return when.strftime(f"%a %d %b, {clock}")
    return when.strftime(f"%d %b %Y, {clock}")


def short_date(iso: str) -> str:
    when = parse_time(iso)
    if when is None:
        return iso
    return f"{when:%d %b %Y}"


def note_state(summary: EncounterSummary) -> str:
    from PySide6.QtCore import QCoreApplication

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
    return f"{years} y"
