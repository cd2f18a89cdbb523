"""Where the patient says they are, as they stated it on their page (docs/patient-page.md).

Before joining, the patient page asks "Where are you right now?" (a country, a state or
region from a short list, and home / a facility / elsewhere) and sends the answer over
the visit's data channel (media/visit/stills.py carries it; the page re-sends until the
console acknowledges). This module checks it: a message of at most
:data:`MAX_STATEMENT_BYTES`, of exactly the expected shape, whose codes are all in the
page's own list (resources/web/patient/places.js, generated from
resources/emergency/numbers.toml by scripts/make_patient_places.py). Anything else is
rejected whole; no text from the message is ever shown or logged, only codes from the
list, so hostile input cannot reach the screen.

The statement only *pre-fills* the start-of-visit location (ui/visit_start.py), marked as
stated by the patient on their page: the clinician confirms it with the patient before
it is recorded, and it is never taken for licensure by itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from app.errors import InputRejectedError

#: The statement's wire tag and version (``{"cc": "location", "v": 1, ...}``).
TAG = "location"
VERSION = 1
#: A statement is a few codes: anything longer is not one.
MAX_STATEMENT_BYTES = 512
_KEYS = frozenset({"cc", "v", "op", "country", "region", "setting"})
_PREFIX = "window.CC_PLACES = "


class StatedSetting(StrEnum):
    HOME = "home"
    FACILITY = "facility"
    ELSEWHERE = "elsewhere"
    NOT_SAID = ""  # the patient chose a place but not the setting


@dataclass(frozen=True, slots=True)
class PatientStatedLocation:
    """A checked statement: codes from the page's list only (safe to show)."""

    country: str  # ISO 3166-1 alpha-2
    region: str  # ISO 3166-2 ("" when the patient did not choose one)
    setting: StatedSetting

    @property
    def code(self) -> str:
        """The ISO 3166-2 code for the start-of-visit dialog (region, else country)."""
        return self.region or self.country


@dataclass(frozen=True, slots=True)
class Places:
    countries: frozenset[str]
    regions: dict[str, frozenset[str]]
    names: dict[str, dict[str, str]]  # code -> {"en": ..., "es": ...}

    def name(self, code: str, lang: str = "en") -> str:
        words = self.names.get(code, {})
        return words.get(lang) or words.get("en") or code

    def describe(self, stated: PatientStatedLocation, lang: str = "en") -> str:
        """E.g. "Washington, United States (US-WA)": names from the list, never the message."""
        place = self.name(stated.country, lang)
        if stated.region:
            place = f"{self.name(stated.region, lang)}, {place}"
        return f"{place} ({stated.code})"


def parse_places(text: str) -> Places:
    """The page's list (places.js: one assignment of a JSON object)."""
    body = text[text.index(_PREFIX) + len(_PREFIX) :].strip().rstrip(";")
    data = json.loads(body)
    every = [*data["countries"], *(r for v in data["regions"].values() for r in v)]
    return Places(
        frozenset(c["code"] for c in data["countries"]),
        {k: frozenset(r["code"] for r in v) for k, v in data["regions"].items()},
        {p["code"]: {"en": p["en"], "es": p["es"]} for p in every},
    )


@cache
def shipped_places() -> Places:
    text = (
        resources.files("resources")
        .joinpath("web", "patient", "places.js")
        .read_text(encoding="utf-8")
    )
    return parse_places(text)


def _reject(why: str) -> InputRejectedError:
    # The reason names the rule broken, never the content.
    return InputRejectedError(reason=f"the patient's stated location was not accepted: {why}")


def parse_statement(message: str | bytes, places: Places | None = None) -> PatientStatedLocation:
    """Check one message from the page; :class:`InputRejectedError` for anything else."""
    raw = message.encode("utf-8") if isinstance(message, str) else bytes(message)
    if len(raw) > MAX_STATEMENT_BYTES:
        raise _reject("too long")
    try:
        data: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _reject("not a statement") from None
    if not isinstance(data, dict) or data.get("cc") != TAG:
        raise _reject("not a statement")
    if data.get("v") != VERSION or isinstance(data.get("v"), bool):
        raise _reject("an unknown version")
    if set(data) - _KEYS or data.get("op", "state") != "state":
        raise _reject("unexpected fields")
    country, region, setting = data.get("country"), data.get("region", ""), data.get("setting")
    if not (isinstance(country, str) and isinstance(region, str) and isinstance(setting, str)):
        raise _reject("a field is not text")
    known = places or shipped_places()
    if country not in known.countries:
        raise _reject("a country the page does not offer")
    if region and (
        region not in known.regions.get(country, frozenset())
        or not region.startswith(country + "-")
    ):
        raise _reject("a region the page does not offer for that country")
    try:
        kind = StatedSetting(setting)
    except ValueError:
        raise _reject("an unknown setting") from None
    return PatientStatedLocation(country, region, kind)


def statement_message(stated: PatientStatedLocation) -> str:
    """The wire form (what the page sends; for tests and the console's own checks)."""
    return json.dumps(
        {
            "cc": TAG,
            "v": VERSION,
            "country": stated.country,
            "region": stated.region,
            "setting": stated.setting.value,
        }
    )
