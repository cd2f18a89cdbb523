"""Licensure: may the clinician practise where the patient says they are?

The clinician's licence jurisdictions (ISO 3166-2 subdivisions such as ``US-CA``, or
an ISO 3166-1 country such as ``GB`` for a national licence) are compared with the
patient's stated location at the start of the visit. A mismatch is a warning the
clinician may override; :class:`LicensureGate` audits that decision.

Where the licences come from is a port (:class:`LicenseSource`): today the policy's
``[clinician] licenses`` (or the user's settings where the policy leaves it open,
:class:`SettingsLicenses`); the signed-in clinician's profile (identity token or the
record store's PractitionerRole) feeds the same port.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from app.errors import InputRejectedError


class LicenseSource(Protocol):
    """Anything that knows the current clinician's licence jurisdictions."""

    def licenses(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class SettingsLicenses:
    """Licences from ``[clinician] licenses`` (policy first, then the user's settings:
    ``app.settings`` already merged them that way)."""

    values: tuple[str, ...]

    def licenses(self) -> Sequence[str]:
        return self.values

    @classmethod
    def from_settings(cls, settings: Any) -> SettingsLicenses:
        clinician = getattr(settings, "clinician", None)
        return cls(tuple(getattr(clinician, "licenses", ()) or ()))


@dataclass(frozen=True)
class ProfileLicenses:
    """Licences of the signed-in clinician, through the identity area's port
    (``current_clinician() -> profile | None``, the profile with ``licensed_in()`` and
    ``licences`` carrying ``valid_until``; duck-typed so this module needs no import of
    it): expired licences do not count; with nobody signed in, ``fallback`` answers
    (the policy's or settings' list)."""

    current: Any
    fallback: LicenseSource
    today: Callable[[], date] = date.today

    def licenses(self) -> Sequence[str]:
        profile = self.current.current_clinician()
        if profile is None:
            return self.fallback.licenses()
        licences = getattr(profile, "licences", None)
        if licences is None:
            return tuple(profile.licensed_in())
        today = self.today().isoformat()
        return tuple(
            licence.jurisdiction
            for licence in licences
            # ISO dates compare as text; "" is open-ended.
            if not getattr(licence, "valid_until", "") or licence.valid_until >= today
        )


def _known(code: str) -> bool:
    import pycountry  # ISO 3166 data; imported only when a check runs

    # pycountry's lookups are untyped.
    if "-" in code:
        return pycountry.subdivisions.get(code=code) is not None  # type: ignore[no-untyped-call]
    return pycountry.countries.get(alpha_2=code) is not None


def normalise(code: str) -> str:
    """``us-wa `` -> ``US-WA``; an unknown ISO 3166-2 / 3166-1 code is refused."""
    value = code.strip().upper()
    if not value or len(value) > 6 or not _known(value):
        raise InputRejectedError(
            reason="the location must be an ISO 3166-2 code such as US-WA "
            "(or an ISO 3166-1 country code such as GB)"
        )
    return value


def covers(license_code: str, location: str) -> bool:
    """A licence covers its own jurisdiction; a national licence covers the country's
    subdivisions."""
    return license_code == location or (
        "-" not in license_code and location.split("-", 1)[0] == license_code
    )


@dataclass(frozen=True)
class LicensureResult:
    ok: bool
    licensed_in: tuple[str, ...]
    reason: str
    patient_location: str
    ignored: tuple[str, ...] = ()  # licence entries that are not ISO 3166 codes

    def as_json(self) -> dict[str, Any]:
        """The CLI's object: exactly ``ok``, ``licensed_in`` and ``reason``."""
        return {"ok": self.ok, "licensed_in": list(self.licensed_in), "reason": self.reason}


def check(patient_location: str, source: LicenseSource) -> LicensureResult:
    location = normalise(patient_location)
    licensed: list[str] = []
    ignored: list[str] = []
    for raw in source.licenses():
        try:
            code = normalise(raw)
        except InputRejectedError:
            ignored.append(raw)
            continue
        if code not in licensed:
            licensed.append(code)
    suffix = f" (ignored, not ISO 3166 codes: {', '.join(ignored)})" if ignored else ""
    if not licensed:
        return LicensureResult(
            False,
            (),
            "No licence jurisdictions are configured for this clinician "
            "([clinician] licenses in the policy or settings)" + suffix,
            location,
            tuple(ignored),
        )
    match = next((code for code in licensed if covers(code, location)), None)
    if match is not None:
        reason = f"Licensed in {location}" + ("" if match == location else f" ({match} licence)")
        return LicensureResult(True, tuple(licensed), reason + suffix, location, tuple(ignored))
    reason = (
        f"Not licensed in {location}, where the patient says they are; licensed in "
        f"{', '.join(licensed)}"
    )
    if "-" not in location and any(location == c.split("-", 1)[0] for c in licensed):
        reason += "; ask for the patient's state or region"
    return LicensureResult(False, tuple(licensed), reason + suffix, location, tuple(ignored))


class DecisionLog(Protocol):
    """Where a decision is audited (the store's ``record_event``)."""

    async def record_event(
        self, action: str, entity_type: str = "", entity_id: str = ""
    ) -> None: ...


PROCEED = "licensure_warning_proceed"
CANCEL = "licensure_warning_cancel"


class LicensureGate:
    """The check before a visit proceeds, and the audited decision when it warns."""

    def __init__(self, source: LicenseSource, log: DecisionLog) -> None:
        self._source = source
        self._log = log

    def check(self, patient_location: str) -> LicensureResult:
        return check(patient_location, self._source)

    async def decide(self, encounter_id: str, result: LicensureResult, proceed: bool) -> None:
        """Audit the clinician's answer to a warning (ids only: no location, no name)."""
        if result.ok:
            return
        await self._log.record_event(PROCEED if proceed else CANCEL, "encounter", encounter_id)
