"""Visit templates (data files) and the telehealth header a visit writes into its note.

Templates are TOML files (``resources/templates/*.toml`` shipped with the console,
``templates/*.toml`` in the profile, and in the managed policy's folder): each has an
``id``, a ``name``, a ``note_type`` and the four SOAP ``[sections]`` the note starts
with. Later folders override earlier ones by ``id``: shipped < profile < policy, so IT
has the last word (docs/notes.md).

The telehealth header is the first block of a note's text, before the SOAP sections,
headed ``Telehealth visit:`` and ending at the first blank line. It is part of the text,
so it is part of what is signed. The visit writes it when it starts and rewrites it at
the end (only while the note is a draft).
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from app import soap
from app.records import NoteType

log = logging.getLogger(__name__)

HEADER_TITLE = "Telehealth visit:"
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "resources" / "templates"
MAX_TEMPLATE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    name: str
    note_type: NoteType
    sections: dict[str, str]
    source: str = ""  # the file it came from (for IT's diagnostics)

    def text(self) -> str:
        return soap.compose(self.sections)


def load_template(path: Path) -> Template:
    """One template file; ValueError with a reason (never the file's text) when unusable."""
    raw = path.read_bytes()
    if len(raw) > MAX_TEMPLATE_BYTES:
        raise ValueError("the file is too large")
    data = tomllib.loads(raw.decode("utf-8"))
    template_id, name = data.get("id"), data.get("name")
    if not isinstance(template_id, str) or not template_id.strip():
        raise ValueError("'id' is missing")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("'name' is missing")
    try:
        note_type = NoteType(data.get("note_type", "progress"))
    except ValueError:
        raise ValueError("'note_type' must be progress or consult") from None
    sections = data.get("sections", {})
    if not isinstance(sections, dict) or any(
        k not in soap.SECTIONS or not isinstance(v, str) for k, v in sections.items()
    ):
        raise ValueError(f"[sections] may hold only {', '.join(soap.SECTIONS)} as text")
    return Template(template_id.strip(), name.strip(), note_type, dict(sections), str(path))


def load_templates(folders: Iterable[Path]) -> dict[str, Template]:
    """Templates by id from ``folders`` in order, later ones overriding earlier ones.
    A broken file is logged (its name and why) and skipped; the others still load."""
    found: dict[str, Template] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                template = load_template(path)
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                log.warning("template %s skipped: %s", path.name, exc)
                continue
            found[template.id] = template
    return found


def template_folders(profile: Path, policy_file: Path | None) -> list[Path]:
    """Shipped, then the profile's, then the policy folder's (IT wins)."""
    folders = [SHIPPED_DIR, profile / "templates"]
    if policy_file is not None:
        folders.append(policy_file.parent / "templates")
    return folders


# --- the telehealth header -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderParticipant:
    name: str
    role: str  # clinician, patient, interpreter, family, nurse at the cart, ...


@dataclass(frozen=True, slots=True)
class TelehealthHeader:
    """What the visit itself knows, written at the top of its note."""

    modality: str  # "video" | "audio-only"
    start: str  # ISO instant
    end: str = ""  # ISO instant; "" while the visit runs
    participants: tuple[HeaderParticipant, ...] = ()
    stated_location: str = ""  # ISO 3166-2 (e.g. US-WA) as the patient stated it
    location_kind: str = ""  # "home" | "facility"
    location_source: str = ""  # e.g. "stated by the patient on their page, confirmed"
    identity_verified: str = ""  # how; "" = not recorded
    consent_telehealth: str = ""  # e.g. "verbal, given"
    consent_recording: str = ""
    problems: tuple[str, ...] = ()  # technical problems and drops
    references: tuple[str, ...] = field(default=())  # recordings, heart rate, stills

    @property
    def total_minutes(self) -> int | None:
        if not self.end:
            return None
        start, end = _instant(self.start), _instant(self.end)
        if start is None or end is None or end < start:
            return None
        return round((end - start).total_seconds() / 60)


def _instant(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _clock(value: str) -> str:
    parsed = _instant(value)
    return parsed.strftime("%Y-%m-%d %H:%M UTC") if parsed is not None else "not recorded"


def _line(value: str) -> str:
    # One line each: a blank line would end the header, a newline would forge another line.
    return " ".join(value.split()) or "not recorded"


def render_header(h: TelehealthHeader) -> str:
    """The header block (no trailing blank line)."""
    times = f"Start: {_clock(h.start)}"
    if h.end:
        times += f" · End: {_clock(h.end)}"
        total = h.total_minutes
        if total is not None:
            times += f" · Total: {total} min"
    else:
        times += " · in progress"
    people = "; ".join(f"{_line(p.name)} ({_line(p.role)})" for p in h.participants)
    where = _line(h.stated_location)
    if h.location_kind:
        where += f" ({_line(h.location_kind)})"
    if h.location_source:
        where += f", {_line(h.location_source)}"
    lines = [
        HEADER_TITLE,
        f"Modality: {_line(h.modality)}",
        times,
        f"Participants: {people or 'not recorded'}",
        f"Patient's stated location: {where}",
        f"Identity verified: {_line(h.identity_verified)}",
        f"Consent to telehealth: {_line(h.consent_telehealth)}"
        f" · Consent to recording: {_line(h.consent_recording)}",
        f"Technical problems: {'; '.join(_line(p) for p in h.problems) or 'none'}",
    ]
    if h.references:
        lines.append("Recordings and stills:")
        lines.extend(f"- {_line(r)}" for r in h.references)
    return "\n".join(lines)


def split_header(text: str) -> tuple[str, str]:
    """(header, rest) of a note's text; header is "" when the note has none."""
    if not text.startswith(HEADER_TITLE + "\n"):
        return "", text
    end = text.find("\n\n")
    if end < 0:
        return text, ""
    return text[:end], text[end + 2 :]


def join_header(header: str, body: str) -> str:
    return f"{header}\n\n{body}" if header else body


def with_header(text: str, header: TelehealthHeader) -> str:
    """``text`` with its header written (added, or replaced) from ``header``."""
    _old, body = split_header(text)
    return join_header(render_header(header), body)
