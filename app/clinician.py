"""The clinician profile: who is using the console, as the other areas read it.

The port (docs/identity.md, "For developers") is deliberately small:

- :class:`ClinicianProfile`: a stable subject, name, identifier (NPI or local id),
  licences with their ISO 3166-2 jurisdictions, the ``Practitioner`` reference and
  the audit actor;
- :class:`CurrentClinician`: ``current_clinician() -> ClinicianProfile | None``.

app.identity.Identity (clinician sign-in) and :class:`StaticClinician` (no identity
provider: policy, else settings) implement it. :func:`resolve_profile` takes each
part from the first source that has it: the ID token, the record store's
Practitioner, the policy, the user's settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"


@dataclass(frozen=True)
class Licence:
    """A licence to practise in one jurisdiction."""

    jurisdiction: str  # ISO 3166-2 subdivision ("US-CA") or country ("GB")
    identifier: str = ""  # the licence number, when the source gives it
    valid_until: str = ""  # ISO date (YYYY-MM-DD); "" when unknown or open-ended


class ProfileSource(StrEnum):
    """Where a part of the profile came from (first that has it wins, in this order)."""

    TOKEN = "token"  # the identity provider's ID token claims
    RECORD_STORE = "record-store"  # Practitioner / PractitionerRole on the FHIR server
    POLICY = "policy"  # IT's managed policy, [clinician]
    SETTINGS = "settings"  # the user's settings, [clinician], where the policy leaves it open
    NONE = "none"


class ClinicianProfile(Protocol):
    """The signed-in clinician as the notes (signer, Provenance.agent) and coding
    (licensure) use cases see them. :class:`Clinician` implements it."""

    @property
    def subject(self) -> str:
        """A stable id for this clinician at the identity provider ("" without sign-in):
        key per-clinician things (a signing key) by it, or by audit_actor without one."""
        ...

    @property
    def name(self) -> str: ...

    @property
    def identifier(self) -> str:
        """NPI or local identifier ("" when unknown)."""
        ...

    @property
    def identifier_system(self) -> str: ...

    @property
    def licences(self) -> tuple[Licence, ...]: ...

    @property
    def practitioner(self) -> str:
        """``Practitioner/<id>`` on the record store, "" when unknown."""
        ...

    @property
    def audit_actor(self) -> str:
        """The name every audit entry made by this clinician carries."""
        ...

    def licensed_in(self) -> tuple[str, ...]:
        """The licence jurisdictions (ISO 3166-2), in the order given."""
        ...


class CurrentClinician(Protocol):
    """The port: who is using the console right now (None: nobody is signed in)."""

    def current_clinician(self) -> ClinicianProfile | None: ...


@dataclass(frozen=True)
class Clinician:
    """A clinician's profile (implements :class:`ClinicianProfile`)."""

    subject: str  # the provider's "sub" (stable per clinician), "" without sign-in
    name: str = ""
    identifier: str = ""
    identifier_system: str = ""
    licences: tuple[Licence, ...] = ()
    practitioner: str = ""
    login: str = ""  # what the clinician types: preferred_username or email
    issuer: str = ""
    name_source: ProfileSource = ProfileSource.NONE
    licence_source: ProfileSource = ProfileSource.NONE

    @property
    def audit_actor(self) -> str:
        # The login is what a reviewer recognises; the subject keeps two people with the
        # same display name apart. Neither is patient data. Both come from a token: no
        # control characters (the audit chain joins fields with \x1f), bounded length.
        who = _printable(self.login or self.name) or "clinician"
        subject = _printable(self.subject)
        return f"{who} [{subject}]" if subject else who

    def licensed_in(self) -> tuple[str, ...]:
        return tuple(licence.jurisdiction for licence in self.licences)

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "name": self.name,
            "identifier": self.identifier,
            "identifier_system": self.identifier_system,
            "licences": [
                {
                    "jurisdiction": x.jurisdiction,
                    "identifier": x.identifier,
                    "valid_until": x.valid_until,
                }
                for x in self.licences
            ],
            "practitioner": self.practitioner,
            "login": self.login,
            "issuer": self.issuer,
            "name_source": self.name_source.value,
            "licence_source": self.licence_source.value,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Clinician:
        return cls(
            subject=str(data.get("subject", "")),
            name=str(data.get("name", "")),
            identifier=str(data.get("identifier", "")),
            identifier_system=str(data.get("identifier_system", "")),
            licences=tuple(
                Licence(
                    str(x.get("jurisdiction", "")),
                    str(x.get("identifier", "")),
                    str(x.get("valid_until", "")),
                )
                for x in data.get("licences", ())
                if isinstance(x, Mapping)
            ),
            practitioner=str(data.get("practitioner", "")),
            login=str(data.get("login", "")),
            issuer=str(data.get("issuer", "")),
            name_source=ProfileSource(data.get("name_source", "none")),
            licence_source=ProfileSource(data.get("licence_source", "none")),
        )


@dataclass(frozen=True)
class ConfiguredClinician:
    """``[clinician]`` from the policy and from the user's settings, kept apart so the
    policy wins and settings only fill what the policy leaves open."""

    policy_name: str = ""
    policy_npi: str = ""
    policy_licenses: tuple[str, ...] = ()
    settings_name: str = ""
    settings_npi: str = ""
    settings_licenses: tuple[str, ...] = ()
    identifier_system: str = NPI_SYSTEM


@dataclass(frozen=True)
class PractitionerInfo:
    """What the record store's Practitioner / PractitionerRole say about a clinician."""

    reference: str  # "Practitioner/<id>"
    name: str = ""
    identifier: str = ""
    identifier_system: str = ""
    licences: tuple[Licence, ...] = ()


MAX_ACTOR_PART = 120
MAX_LICENCES = 100


def _printable(text: str) -> str:
    return "".join(c for c in text if c.isprintable())[:MAX_ACTOR_PART].strip()


def _licences_from_claim(value: Any) -> tuple[Licence, ...]:
    """A licences claim: ["US-CA", ...] or [{"jurisdiction": ..., "number": ...}, ...]."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    out: dict[str, Licence] = {}  # one per jurisdiction, the first given
    for item in value[:MAX_LICENCES]:
        if isinstance(item, str) and valid_jurisdiction(item):
            out.setdefault(item.upper(), Licence(item.upper()))
        elif isinstance(item, Mapping):
            code = str(item.get("jurisdiction", ""))
            if valid_jurisdiction(code):
                out.setdefault(
                    code.upper(),
                    Licence(
                        code.upper(),
                        str(item.get("number", item.get("identifier", "")))[:64],
                        str(item.get("valid_until", ""))[:10],
                    ),
                )
    return tuple(out.values())


def valid_jurisdiction(code: str) -> bool:
    """ISO 3166-1 alpha-2 ("GB") or 3166-2 ("US-CA", "ES-M"): the shape only."""
    country, _, sub = code.partition("-")
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        return False
    return not sub or (1 <= len(sub) <= 3 and sub.isascii() and sub.isalnum())


def resolve_profile(
    *,
    subject: str = "",
    issuer: str = "",
    claims: Mapping[str, Any] | None = None,
    practitioner: PractitionerInfo | None = None,
    configured: ConfiguredClinician | None = None,
    identifier_claim: str = "npi",
    identifier_system: str = NPI_SYSTEM,
    licenses_claim: str = "licenses",
) -> Clinician:
    """The profile from the ID token, else the record store, else policy, else settings.

    Each part (name, identifier, licences) is taken from the first source that has it,
    so an ID token with a name but no licences still gets the licences from the
    Practitioner's qualifications or the policy.
    """
    claims = claims or {}
    conf = configured or ConfiguredClinician()
    login = str(claims.get("preferred_username") or claims.get("email") or "")

    names: list[tuple[str, ProfileSource]] = [
        (str(claims.get("name") or ""), ProfileSource.TOKEN),
        (practitioner.name if practitioner else "", ProfileSource.RECORD_STORE),
        (conf.policy_name, ProfileSource.POLICY),
        (conf.settings_name, ProfileSource.SETTINGS),
    ]
    name, name_source = next(((n, s) for n, s in names if n), ("", ProfileSource.NONE))

    ids: list[tuple[str, str]] = [
        (str(claims.get(identifier_claim) or ""), identifier_system),
        (
            practitioner.identifier if practitioner else "",
            practitioner.identifier_system if practitioner else "",
        ),
        (conf.policy_npi, conf.identifier_system),
        (conf.settings_npi, conf.identifier_system),
    ]
    identifier, id_system = next(((i, s) for i, s in ids if i), ("", ""))

    licence_options: list[tuple[tuple[Licence, ...], ProfileSource]] = [
        (_licences_from_claim(claims.get(licenses_claim)), ProfileSource.TOKEN),
        (practitioner.licences if practitioner else (), ProfileSource.RECORD_STORE),
        (_licences_from_claim(list(conf.policy_licenses)), ProfileSource.POLICY),
        (_licences_from_claim(list(conf.settings_licenses)), ProfileSource.SETTINGS),
    ]
    licences, licence_source = next(
        ((ls, s) for ls, s in licence_options if ls), ((), ProfileSource.NONE)
    )
    fhir_user = str(claims.get("fhirUser") or "")
    reference = practitioner.reference if practitioner else ""
    if not reference and fhir_user.rsplit("/", 2)[-2:-1] == ["Practitioner"]:
        reference = "/".join(fhir_user.rsplit("/", 2)[-2:])  # SMART's fhirUser claim
    return Clinician(
        subject=subject,
        name=name,
        identifier=identifier,
        identifier_system=id_system,
        licences=licences,
        practitioner=reference,
        login=login,
        issuer=issuer,
        name_source=name_source,
        licence_source=licence_source,
    )


class StaticClinician:
    """No identity provider: the clinician from policy / settings (the PIN model)."""

    def __init__(self, configured: ConfiguredClinician, *, actor: str) -> None:
        base = resolve_profile(configured=configured)
        self._clinician = replace(base, login=actor)

    def current_clinician(self) -> Clinician:
        return self._clinician


def jurisdictions(values: Sequence[str]) -> tuple[str, ...]:
    """Valid ISO 3166 codes from a list (upper-cased), others dropped."""
    return tuple(v.upper() for v in values if valid_jurisdiction(v))
