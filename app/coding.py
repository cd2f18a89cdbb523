"""Coding suggestions for a telehealth visit: E/M level, modifiers, place of service.

A suggestion, never a submission: the clinician sees the codes with their reasons
beside the note, and billing reviews the ChargeItem draft that sync sends
(docs/coding.md). The rules:

- Office/outpatient E/M (AMA CPT, in force since 2024) by total time on the date of
  service (new 99202 >= 15 min, 99203 >= 30, 99204 >= 45, 99205 >= 60; established
  99212 >= 10, 99213 >= 20, 99214 >= 30, 99215 >= 40) or by the level of medical
  decision making (MDM) the clinician picks; when both are given the higher level
  wins (CPT lets the clinician use whichever method supports the visit better).
- Place of service 10 when the patient is at home, 02 otherwise; modifier 95 for
  audio-video and 93 for audio-only.
- Payers that use the CPT 2025 telemedicine codes get 98000-98015 instead (audio-only
  ones need more than 10 minutes of medical discussion), without a modifier.
- Store-and-forward work: the consultant's interprofessional codes 99446-99449
  (verbal and written, by minutes of consultative discussion) and 99451 (written
  report, >= 5 min), the requesting clinician's 99452 (>= 16 min, the midpoint of its
  30 minutes), and G2010 (review of images or video an established patient sent).

Thresholds, modifiers and places of service for visits live in a data table
(``resources/coding/payers.toml``) with the date each rule took effect; billing
staff override it in the profile or beside the managed policy (:func:`table_paths`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import ConfigError, InputRejectedError
from app.records import Encounter, new_id, utc_now

DEFAULT_PAYER = "default"
TABLE_NAME = "payers.toml"
#: The most minutes one date of service can hold (a day).
MAX_MINUTES = 24 * 60


class PatientStatus(StrEnum):
    NEW = "new"
    ESTABLISHED = "established"


class Modality(StrEnum):
    VIDEO = "video"  # synchronous audio-video
    AUDIO = "audio"  # synchronous audio-only


class PatientSetting(StrEnum):
    """Where the patient is during the visit (drives the place of service)."""

    HOME = "home"
    FACILITY = "facility"


class Mdm(StrEnum):
    """Level of medical decision making, lowest first."""

    STRAIGHTFORWARD = "straightforward"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class Work(StrEnum):
    """What kind of work is coded."""

    VISIT = "visit"  # a synchronous visit (video or audio-only)
    ECONSULT_VERBAL = "econsult-verbal"  # consultant: verbal/online discussion + written report
    ECONSULT_WRITTEN = "econsult-written"  # consultant: written report only
    ECONSULT_REQUESTING = "econsult-requesting"  # the treating clinician who asked
    IMAGE_REVIEW = "image-review"  # store-and-forward images/video from the patient


# --- reasons: message keys + safe parameters, so the UI can translate them --------------

REASONS: dict[str, str] = {
    "rule": "Payer '{payer}': rule in force since {effective} ({source}).",
    "time": "Total time {minutes} min on the date of service meets {code} ({patient} patient:"
    " {threshold} min or more).",
    "time_below": "Total time {minutes} min is below {threshold} min, the lowest level by time"
    " ({patient} patient): no level by time.",
    "mdm": "{mdm} medical decision making supports {code} ({patient} patient).",
    "higher": "{code} chosen: the higher of the levels by time and by medical decision making.",
    "none": "No E/M level: give the total time or pick the level of medical decision making.",
    "audio_discussion": "Audio-only telemedicine codes need more than {minutes} minutes of"
    " medical discussion: no code suggested.",
    "audio_discussion_confirm": "Audio-only: confirm that more than {minutes} minutes were"
    " medical discussion.",
    "modifier": "Modifier {modifier}: synchronous {modality} telehealth.",
    "no_modifier": "No telehealth modifier: the code itself is a telemedicine code.",
    "pos": "Place of service {pos}: the patient is {where}.",
    "prolonged": "Total time is {minutes} min or more: a prolonged-service code may apply"
    " (not suggested; check the payer's rules).",
    "econsult": "{code}: {minutes} min of consultative discussion and review ({low}).",
    "econsult_below": "Less than 5 minutes of consultative time: no interprofessional code.",
    "econsult_half": "99446-99449 need more than half of the time spent in verbal or online"
    " discussion; not reportable if the patient saw this consultant in the past 14 days or"
    " a transfer of care or visit with the consultant follows within 14 days.",
    "econsult_written": "99451: written report only, {minutes} min of consultative time"
    " (5 min or more).",
    "econsult_requesting": "99452: {minutes} min of referral work by the requesting clinician"
    " (16 min or more, the midpoint of its 30 minutes).",
    "econsult_requesting_below": "99452 needs 16 min or more of referral work ({minutes} min"
    " given): no code.",
    "image_review": "G2010: remote evaluation of images or video the established patient sent,"
    " with follow-up within 24 business hours; not from a related E/M in the past 7 days nor"
    " leading to one within 24 hours.",
    "image_review_new": "G2010 is for established patients only: no code for a new patient.",
    "no_pos": "No telehealth place of service: the claim names where the clinician worked.",
}


@dataclass(frozen=True)
class Reason:
    key: str
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return REASONS[self.key].format(**self.params)


@dataclass(frozen=True)
class VisitFacts:
    """What the suggestion is made from (no patient data: counts and categories)."""

    minutes: int | None
    patient: PatientStatus
    modality: Modality = Modality.VIDEO
    location: PatientSetting = PatientSetting.HOME
    mdm: Mdm | None = None
    payer: str = DEFAULT_PAYER
    date_of_service: date = field(default_factory=date.today)
    work: Work = Work.VISIT


@dataclass(frozen=True)
class CodingSuggestion:
    codes: tuple[str, ...]
    modifiers: tuple[str, ...]
    pos: str | None
    reasons: tuple[Reason, ...]
    payer: str = DEFAULT_PAYER
    rule_effective: date | None = None

    def as_json(self) -> dict[str, Any]:
        """The CLI's object: exactly ``codes``, ``modifiers``, ``pos`` and ``reasons``."""
        return {
            "codes": list(self.codes),
            "modifiers": list(self.modifiers),
            "pos": self.pos,
            "reasons": [str(r) for r in self.reasons],
        }


# --- the payer table -------------------------------------------------------------------


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PayerRule(_Row):
    payer: str = Field(min_length=1)
    effective: date
    em_codes: str = Field(min_length=1)
    modifier_video: str = Field(pattern=r"^[A-Z0-9]{0,2}$")
    modifier_audio: str = Field(pattern=r"^[A-Z0-9]{0,2}$")
    pos_home: str = Field(pattern=r"^[0-9]{2}$")
    pos_other: str = Field(pattern=r"^[0-9]{2}$")
    source: str = ""


class CodeEntry(_Row):
    set: str = Field(min_length=1)
    code: str = Field(pattern=r"^[0-9A-Z]{5}$")
    patient: PatientStatus
    modality: Modality | None = None
    mdm: Mdm
    minutes: int = Field(ge=0, le=MAX_MINUTES)
    more_than_minutes: int | None = Field(default=None, ge=0, le=MAX_MINUTES)


class _TableFile(_Row):
    rule: list[PayerRule] = Field(default_factory=list)
    code: list[CodeEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class PayerTable:
    rules: dict[str, tuple[PayerRule, ...]]  # by payer, oldest first
    code_sets: dict[str, tuple[CodeEntry, ...]]

    @property
    def payers(self) -> list[str]:
        return sorted(self.rules)

    def rule_for(self, payer: str, on: date) -> PayerRule:
        rules = self.rules.get(payer)
        if not rules:
            raise InputRejectedError(
                reason=f"no coding rules for payer '{payer}' (known: {', '.join(self.payers)})"
            )
        in_force = [r for r in rules if r.effective <= on]
        if not in_force:
            raise InputRejectedError(
                reason=f"no rule of payer '{payer}' was in force on {on.isoformat()} "
                f"(the first took effect {rules[0].effective.isoformat()})"
            )
        return in_force[-1]


def parse_table(data: dict[str, Any], name: str) -> _TableFile:
    try:
        return _TableFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(path=name, reason=f"{where}: {first['msg']}") from exc


def _read(path: Path) -> _TableFile:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path=path.name, reason=str(exc)) from exc
    except OSError as exc:
        raise ConfigError(path=path.name, reason=exc.strerror or "unreadable") from exc
    return parse_table(data, path.name)


def shipped_table_text() -> str:
    return resources.files("resources").joinpath("coding", TABLE_NAME).read_text(encoding="utf-8")


def table_paths(profile: Path | None, policy_path: Path | None) -> list[Path]:
    """Override files that exist, lowest precedence first: the profile's, then the one
    in the managed policy's folder (``policy_path`` is where the policy file is or would
    be; IT's table wins over the user's, like every policy key)."""
    candidates: list[Path] = []
    if profile is not None:
        candidates.append(profile / "coding" / TABLE_NAME)
    if policy_path is not None:
        candidates.append(policy_path.parent / "coding" / TABLE_NAME)
    return [p for p in candidates if p.is_file()]


def load_table(overrides: Iterable[Path] = ()) -> PayerTable:
    """The shipped table with each override laid over it (a payer or code set named in an
    override replaces the one below). A malformed file raises ConfigError, never ignored."""
    layers = [parse_table(tomllib.loads(shipped_table_text()), TABLE_NAME)]
    layers += [_read(p) for p in overrides]
    rules: dict[str, list[PayerRule]] = {}
    code_sets: dict[str, list[CodeEntry]] = {}
    for layer in layers:
        layer_rules: dict[str, list[PayerRule]] = {}
        for r in layer.rule:
            layer_rules.setdefault(r.payer, []).append(r)
        rules.update(layer_rules)
        layer_sets: dict[str, list[CodeEntry]] = {}
        for c in layer.code:
            layer_sets.setdefault(c.set, []).append(c)
        code_sets.update(layer_sets)
    for payer, payer_rules in rules.items():
        dates = [r.effective for r in payer_rules]
        if len(set(dates)) != len(dates):
            raise ConfigError(path=TABLE_NAME, reason=f"payer '{payer}' has two rules on one date")
        for r in payer_rules:
            if r.em_codes not in code_sets:
                raise ConfigError(
                    path=TABLE_NAME, reason=f"payer '{payer}' uses unknown code set '{r.em_codes}'"
                )
    return PayerTable(
        rules={p: tuple(sorted(rs, key=lambda r: r.effective)) for p, rs in rules.items()},
        code_sets={s: tuple(sorted(cs, key=lambda c: c.minutes)) for s, cs in code_sets.items()},
    )


# --- the suggestion --------------------------------------------------------------------

_MDM_ORDER = {m: i for i, m in enumerate(Mdm)}


def _check(facts: VisitFacts) -> None:
    if facts.minutes is not None and not 0 <= facts.minutes <= MAX_MINUTES:
        raise InputRejectedError(reason=f"minutes must be between 0 and {MAX_MINUTES}")


def suggest(facts: VisitFacts, table: PayerTable) -> CodingSuggestion:
    """The codes, modifiers and place of service for ``facts``, each with its reason."""
    _check(facts)
    if facts.work is Work.VISIT:
        return _suggest_visit(facts, table)
    return _suggest_store_and_forward(facts)


def _suggest_visit(facts: VisitFacts, table: PayerTable) -> CodingSuggestion:
    rule = table.rule_for(facts.payer, facts.date_of_service)
    reasons = [
        Reason(
            "rule",
            {
                "payer": facts.payer,
                "effective": rule.effective.isoformat(),
                "source": rule.source or "payer table",
            },
        )
    ]
    entries = [
        c
        for c in table.code_sets[rule.em_codes]
        if c.patient is facts.patient and c.modality in (None, facts.modality)
    ]
    pos = rule.pos_home if facts.location is PatientSetting.HOME else rule.pos_other
    where = "at home" if facts.location is PatientSetting.HOME else "not at home (a facility)"
    pos_reason = Reason("pos", {"pos": pos, "where": where})
    # A code that needs more than N minutes of discussion cannot be met in N minutes or
    # less, whichever method picks the level.
    floor = max(
        (c.more_than_minutes for c in entries if c.more_than_minutes is not None), default=None
    )
    if floor is not None and facts.minutes is not None and facts.minutes <= floor:
        reasons += [Reason("audio_discussion", {"minutes": str(floor)}), pos_reason]
        return CodingSuggestion((), (), pos, tuple(reasons), facts.payer, rule.effective)

    by_time: CodeEntry | None = None
    if facts.minutes is not None and entries:
        met = [c for c in entries if c.minutes <= facts.minutes]
        if met:
            by_time = max(met, key=lambda c: c.minutes)
            reasons.append(
                Reason(
                    "time",
                    {
                        "minutes": str(facts.minutes),
                        "code": by_time.code,
                        "threshold": str(by_time.minutes),
                        "patient": facts.patient.value,
                    },
                )
            )
        else:
            reasons.append(
                Reason(
                    "time_below",
                    {
                        "minutes": str(facts.minutes),
                        "threshold": str(min(c.minutes for c in entries)),
                        "patient": facts.patient.value,
                    },
                )
            )
    by_mdm: CodeEntry | None = None
    if facts.mdm is not None:
        by_mdm = next((c for c in entries if c.mdm is facts.mdm), None)
        if by_mdm is not None:
            reasons.append(
                Reason(
                    "mdm",
                    {
                        "mdm": facts.mdm.value.capitalize(),
                        "code": by_mdm.code,
                        "patient": facts.patient.value,
                    },
                )
            )
    candidates = [c for c in (by_time, by_mdm) if c is not None]
    if not candidates:
        reasons += [Reason("none"), pos_reason]
        return CodingSuggestion((), (), pos, tuple(reasons), facts.payer, rule.effective)
    chosen = max(candidates, key=lambda c: _MDM_ORDER[c.mdm])
    if by_time is not None and by_mdm is not None and by_time.code != by_mdm.code:
        reasons.append(Reason("higher", {"code": chosen.code}))
    if chosen.more_than_minutes is not None:
        reasons.append(
            Reason("audio_discussion_confirm", {"minutes": str(chosen.more_than_minutes)})
        )
    top = max(entries, key=lambda c: c.minutes)
    if facts.minutes is not None and facts.minutes >= top.minutes + 15:
        reasons.append(Reason("prolonged", {"minutes": str(top.minutes + 15)}))
    modifier = rule.modifier_video if facts.modality is Modality.VIDEO else rule.modifier_audio
    modifiers: tuple[str, ...] = ()
    if modifier:
        modifiers = (modifier,)
        modality = "audio-video" if facts.modality is Modality.VIDEO else "audio-only"
        reasons.append(Reason("modifier", {"modifier": modifier, "modality": modality}))
    else:
        reasons.append(Reason("no_modifier"))
    reasons.append(pos_reason)
    return CodingSuggestion(
        (chosen.code,), modifiers, pos, tuple(reasons), facts.payer, rule.effective
    )


# Interprofessional consultation (CPT 99446-99449): minutes of consultative discussion
# and review, the lowest of each band.
_ECONSULT_BANDS: tuple[tuple[int, str, str], ...] = (
    (31, "99449", "31 min or more"),
    (21, "99448", "21-30 min"),
    (11, "99447", "11-20 min"),
    (5, "99446", "5-10 min"),
)
ECONSULT_WRITTEN_MIN = 5  # 99451: 5 minutes or more
ECONSULT_REQUESTING_MIN = 16  # 99452: 30 minutes, attained past the midpoint


def store_and_forward_suggestion(facts: VisitFacts) -> CodingSuggestion:
    """The interprofessional / image-review code for store-and-forward work; needs no
    payer table (the e-consult answer view shows it)."""
    _check(facts)
    return _suggest_store_and_forward(facts)


def _suggest_store_and_forward(facts: VisitFacts) -> CodingSuggestion:
    minutes = facts.minutes if facts.minutes is not None else 0
    reasons: list[Reason] = []
    codes: tuple[str, ...] = ()
    if facts.work is Work.ECONSULT_VERBAL:
        band = next((b for b in _ECONSULT_BANDS if minutes >= b[0]), None)
        if band is None:
            reasons.append(Reason("econsult_below"))
        else:
            codes = (band[1],)
            reasons += [
                Reason("econsult", {"code": band[1], "minutes": str(minutes), "low": band[2]}),
                Reason("econsult_half"),
            ]
    elif facts.work is Work.ECONSULT_WRITTEN:
        if minutes >= ECONSULT_WRITTEN_MIN:
            codes = ("99451",)
            reasons.append(Reason("econsult_written", {"minutes": str(minutes)}))
        else:
            reasons.append(Reason("econsult_below"))
    elif facts.work is Work.ECONSULT_REQUESTING:
        if minutes >= ECONSULT_REQUESTING_MIN:
            codes = ("99452",)
            reasons.append(Reason("econsult_requesting", {"minutes": str(minutes)}))
        else:
            reasons.append(Reason("econsult_requesting_below", {"minutes": str(minutes)}))
    elif facts.work is Work.IMAGE_REVIEW:
        if facts.patient is PatientStatus.ESTABLISHED:
            codes = ("G2010",)
            reasons.append(Reason("image_review"))
        else:
            reasons.append(Reason("image_review_new"))
    reasons.append(Reason("no_pos"))
    return CodingSuggestion(codes, (), None, tuple(reasons), facts.payer, None)


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputRejectedError(reason="the date must be YYYY-MM-DD") from exc


def facts_from_args(
    *,
    minutes: int | None,
    patient: str,
    modality: str,
    location: str,
    mdm: str | None = None,
    payer: str | None = None,
    on: str | None = None,
) -> VisitFacts:
    """Facts from the CLI's strings (already limited to their choices by argparse)."""
    return VisitFacts(
        minutes=minutes,
        patient=PatientStatus(patient),
        modality=Modality(modality),
        location=PatientSetting(location),
        mdm=Mdm(mdm) if mdm else None,
        payer=payer or DEFAULT_PAYER,
        date_of_service=parse_date(on) if on else date.today(),
    )


# --- accepted coding: the ChargeItem draft and the coded Encounter ---------------------


@dataclass(frozen=True, slots=True)
class ChargeDraft:
    """An accepted suggestion, synced as a FHIR ChargeItem with status ``planned``
    (billing reviews it; the console never submits a claim). One per encounter."""

    id: str
    encounter_id: str
    code: str
    modifiers: tuple[str, ...]
    pos: str  # "" when no telehealth place of service applies
    service_date: str  # YYYY-MM-DD
    payer: str
    work: str  # Work value
    modality: str  # Modality value ("" for store-and-forward work)
    reasons: tuple[str, ...]
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)
    performer: Performer | None = None  # who rendered the service, for billing


@dataclass(frozen=True, slots=True)
class Performer:
    """The clinician who rendered the service: the record store's Practitioner when the
    console knows it, else the NPI (or local identifier) and name from the policy."""

    reference: str = ""  # "Practitioner/<id>"
    npi: str = ""
    name: str = ""

    def __bool__(self) -> bool:
        return bool(self.reference or self.npi)


@dataclass(frozen=True, slots=True)
class CodedEncounter(Encounter):
    """An encounter with its accepted coding: synced with ``Encounter.type`` (the code)
    and ``serviceType`` (the telehealth modality)."""

    charge: ChargeDraft | None = None


class ChargeStore(Protocol):
    async def save_charge(self, draft: ChargeDraft) -> ChargeDraft: ...

    async def charge_for(self, encounter_id: str) -> ChargeDraft | None: ...


class CodingService:
    """Suggest (pure, from the payer table) and accept (stored, queued for sync)."""

    def __init__(
        self,
        table: PayerTable,
        store: ChargeStore | None = None,
        performer: Performer | Callable[[], Performer | None] | None = None,
    ) -> None:
        """``performer``: the rendering clinician, or a function giving the one signed in
        now (the identity area's profile changes with "Switch clinician")."""
        self.table = table
        self._store = store
        self._performer = performer

    def suggest(self, facts: VisitFacts) -> CodingSuggestion:
        return suggest(facts, self.table)

    async def current(self, encounter_id: str) -> ChargeDraft | None:
        if self._store is None:
            return None
        return await self._store.charge_for(encounter_id)

    def _current_performer(self) -> Performer | None:
        found = self._performer() if callable(self._performer) else self._performer
        return found if found else None

    async def accept(
        self, encounter_id: str, facts: VisitFacts, suggestion: CodingSuggestion
    ) -> ChargeDraft:
        """Keep the clinician's accepted suggestion as the encounter's ChargeItem draft
        (replacing an earlier one of the same encounter: same id, so sync updates it)."""
        if self._store is None:
            raise InputRejectedError(reason="no record store to keep the coding in")
        if len(suggestion.codes) != 1:
            raise InputRejectedError(reason="there is no code to accept")
        earlier = await self._store.charge_for(encounter_id)
        draft = ChargeDraft(
            id=earlier.id if earlier else new_id(),
            encounter_id=encounter_id,
            code=suggestion.codes[0],
            modifiers=suggestion.modifiers,
            pos=suggestion.pos or "",
            service_date=facts.date_of_service.isoformat(),
            payer=facts.payer,
            work=facts.work.value,
            modality=facts.modality.value if facts.work is Work.VISIT else "",
            reasons=tuple(str(r) for r in suggestion.reasons),
            created_at=earlier.created_at if earlier else utc_now(),
            performer=self._current_performer(),
        )
        return await self._store.save_charge(draft)


__all__: Sequence[str] = (
    "ChargeDraft",
    "ChargeStore",
    "CodeEntry",
    "CodedEncounter",
    "CodingService",
    "CodingSuggestion",
    "Mdm",
    "Modality",
    "PatientSetting",
    "PatientStatus",
    "PayerRule",
    "PayerTable",
    "Performer",
    "Reason",
    "VisitFacts",
    "Work",
    "facts_from_args",
    "load_table",
    "suggest",
    "table_paths",
)
