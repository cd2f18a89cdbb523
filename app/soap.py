"""The SOAP note template: one text with four headed sections.

A note is stored and exported as one text (FHIR attachment ``text/plain``) so
that search, history and other systems see exactly what the clinician wrote;
the editor splits it into sections only for display.
"""

from __future__ import annotations

import re

SECTIONS: tuple[str, ...] = ("Subjective", "Objective", "Assessment", "Plan")
_HEADING = re.compile(r"^(Subjective|Objective|Assessment|Plan):[ \t]*$", re.MULTILINE)


def template() -> str:
    return compose(dict.fromkeys(SECTIONS, ""))


def compose(sections: dict[str, str]) -> str:
    parts = [f"{name}:\n{sections.get(name, '').strip(chr(10))}\n" for name in SECTIONS]
    return "\n".join(parts)


def parse(text: str) -> dict[str, str] | None:
    """Split a note into its SOAP sections; None when it is not in SOAP shape."""
    matches = list(_HEADING.finditer(text))
    names = [m.group(1) for m in matches]
    if names != list(SECTIONS) or text[: matches[0].start()].strip():
        return None
    sections: dict[str, str] = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[match.end() : end]
        sections[match.group(1)] = body.strip("\n")
    return sections
