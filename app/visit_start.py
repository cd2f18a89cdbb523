"""The start of a visit: stated location, identity check, consent, and the note's header.

At the start of a visit the clinician (or the nurse at the cart) records where the
patient says they are (an ISO 3166-2 code and home/facility), how identity was
verified, and the patient's consent to the telehealth visit and, separately, to
recording. :meth:`VisitStart.begin` keeps all of it in ONE transaction (the consents
queued for sync as FHIR ``Consent``) and then writes the telehealth header into the
visit's note, creating the note from the chosen template if there is none.
:meth:`VisitStart.finish` rewrites the header at the end (end time, total, drops,
recordings), while the note is still a draft.

If the header cannot be written (store locked, note signed meanwhile) the recorded
location and consents stand: they are facts of the visit, not of the note.

The patient may also state where they are on their page (app/patient_location.py). That
statement is only ever a pre-fill: the dialog shows it marked as the patient's, and
only what the clinician confirms is recorded (:meth:`VisitStart.confirm_location` when it
arrives during the visit), with the header saying where it came from.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from app import soap, templates
from app.errors import InputRejectedError
from app.events import ConsoleEvents
from app.patient_location import PatientStatedLocation
from app.records import Attachment, AttachmentKind, Note, NoteStatus, new_id, utc_now
from app.templates import HeaderParticipant, TelehealthHeader, Template

#: ISO 3166-2: a country (alpha-2) and optionally a subdivision (1-3 alphanumerics).
_ISO_3166_2 = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


class ConsentScope(StrEnum):
    TELEHEALTH = "telehealth"
    RECORDING = "recording"


class ConsentDecision(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


class ConsentMethod(StrEnum):
    VERBAL = "verbal"
    WRITTEN = "written"


class LocationKind(StrEnum):
    HOME = "home"
    FACILITY = "facility"


#: The header's words for a location the clinician confirmed from the patient's page.
FROM_PATIENT_PAGE = "stated by the patient on their page, confirmed by the clinician"


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    id: str
    encounter_id: str
    scope: ConsentScope
    decision: ConsentDecision
    method: ConsentMethod
    recorded_by: str
    recorded_at: str

    def describe(self) -> str:
        given = "given" if self.decision is ConsentDecision.PERMIT else "declined"
        return f"{self.method.value}, {given}"


@dataclass(frozen=True, slots=True)
class VisitContext:
    encounter_id: str
    stated_location: str  # ISO 3166-2
    location_kind: LocationKind
    identity_method: str
    recorded_by: str
    recorded_at: str


@dataclass(frozen=True, slots=True)
class ConsentAnswer:
    decision: ConsentDecision
    method: ConsentMethod


@dataclass(frozen=True, slots=True)
class VisitStartForm:
    """What the start-of-visit dialog (ui/visit_start.py) collects."""

    stated_location: str
    location_kind: LocationKind
    identity_method: str
    telehealth: ConsentAnswer
    recording: ConsentAnswer | None = None  # None: recording not asked about
    template_id: str = ""
    modality: str = "video"
    participants: tuple[HeaderParticipant, ...] = ()
    location_source: str = ""  # FROM_PATIENT_PAGE when confirmed from the patient's page


def check_location(value: str) -> str:
    code = value.strip().upper()
    if not _ISO_3166_2.match(code):
        raise InputRejectedError(
            reason="the patient's location must be an ISO 3166-2 code such as US-WA or GB"
        )
    return code


class VisitStartStore(Protocol):
    """storage.consents.StoreVisitStart."""

    async def record_visit_start(
        self, context: VisitContext, consents: list[ConsentRecord]
    ) -> None:
        """One transaction: the context, the consents (queued for sync), an audit entry."""
        ...

    async def visit_facts(
        self, encounter_id: str
    ) -> tuple[VisitContext | None, list[ConsentRecord]]: ...

    async def record_stated_location(self, context: VisitContext, source: str) -> None:
        """The location confirmed again during the visit; audited as ``visit_location_<source>``
        and the Encounter queued again."""
        ...

    async def record_visit_end(
        self,
        encounter_id: str,
        ended_at: str,
        modality: str,
        participants: tuple[HeaderParticipant, ...],
    ) -> None:
        """The end of the visit on its record (queued for sync: the Encounter's period
        end and participants)."""
        ...

    async def first_note(self, encounter_id: str) -> Note | None: ...

    async def create_note(
        self, encounter_id: str, text: str, template: Template | None
    ) -> Note: ...

    async def save_note_text(self, note_id: str, text: str) -> object: ...


@dataclass(frozen=True, slots=True)
class VisitStarted:
    note: Note
    context: VisitContext
    consents: tuple[ConsentRecord, ...]
    header: TelehealthHeader


class VisitStart:
    def __init__(
        self,
        store: VisitStartStore,
        available: dict[str, Template],
        *,
        actor: str,
        require_consent: bool = True,
        events: ConsoleEvents | None = None,
    ) -> None:
        self.store = store
        self.templates = available
        self.actor = actor
        self.require_consent = require_consent
        self.events = events
        # What patients stated on their page, by encounter (this run only): the next
        # start-of-visit dialog of that encounter is pre-filled with it.
        self.patient_statements: dict[str, PatientStatedLocation] = {}

    async def begin(self, encounter_id: str, form: VisitStartForm) -> VisitStarted:
        location = check_location(form.stated_location)
        if self.require_consent and form.telehealth.decision is not ConsentDecision.PERMIT:
            raise InputRejectedError(
                reason="this visit needs the patient's consent to telehealth (policy)"
            )
        template = self.templates.get(form.template_id) if form.template_id else None
        if form.template_id and template is None:
            raise InputRejectedError(reason="the chosen template is not available")
        now = utc_now()
        context = VisitContext(
            encounter_id,
            location,
            LocationKind(form.location_kind),
            " ".join(form.identity_method.split())[:200],
            self.actor,
            now,
        )
        consents = [
            ConsentRecord(
                new_id(),
                encounter_id,
                ConsentScope.TELEHEALTH,
                form.telehealth.decision,
                form.telehealth.method,
                self.actor,
                now,
            )
        ]
        if form.recording is not None:
            consents.append(
                ConsentRecord(
                    new_id(),
                    encounter_id,
                    ConsentScope.RECORDING,
                    form.recording.decision,
                    form.recording.method,
                    self.actor,
                    now,
                )
            )
        # The facts first, in one transaction: they stand even if the note cannot be written.
        await self.store.record_visit_start(context, consents)
        header = TelehealthHeader(
            modality=form.modality,
            start=now,
            participants=form.participants,
            stated_location=location,
            location_kind=context.location_kind.value,
            location_source=form.location_source,
            identity_verified=context.identity_method,
            consent_telehealth=consents[0].describe(),
            consent_recording=consents[1].describe() if len(consents) > 1 else "not asked",
        )
        note = await self._write_header(encounter_id, header, template)
        return VisitStarted(note, context, tuple(consents), header)

    async def confirm_location(
        self, started: VisitStarted, location: str, kind: LocationKind
    ) -> VisitStarted:
        """The clinician confirmed, during the visit, the location the patient stated on
        their page (perhaps corrected): recorded, audited, and the header rewritten."""
        code = check_location(location)
        context = replace(
            started.context,
            stated_location=code,
            location_kind=LocationKind(kind),
            recorded_by=self.actor,
            recorded_at=utc_now(),
        )
        await self.store.record_stated_location(context, "patient_page")
        header = replace(
            started.header,
            stated_location=code,
            location_kind=context.location_kind.value,
            location_source=FROM_PATIENT_PAGE,
        )
        note = await self._write_header(context.encounter_id, header, None)
        return VisitStarted(note, context, started.consents, header)

    async def finish(self, encounter_id: str, header: TelehealthHeader) -> Note | None:
        """Rewrite the header at the end of the visit; None when the note is signed
        (a signed note is never changed: the end goes in an addendum if needed)."""
        if header.end:
            await self.store.record_visit_end(
                encounter_id, header.end, header.modality, header.participants
            )
        note = await self.store.first_note(encounter_id)
        if note is None or note.status is NoteStatus.SIGNED:
            return None
        return await self._write_header(encounter_id, header, None)

    async def _write_header(
        self, encounter_id: str, header: TelehealthHeader, template: Template | None
    ) -> Note:
        note = await self.store.first_note(encounter_id)
        if note is None:
            body = template.text() if template is not None else soap.template()
            text = templates.join_header(templates.render_header(header), body)
            note = await self.store.create_note(encounter_id, text, template)
            if self.events is not None:
                self.events.note_did_create.emit(note, self)
            return note
        if note.status is NoteStatus.SIGNED:
            return note
        text = templates.with_header(note.text, header)
        if text != note.text:
            result = await self.store.save_note_text(note.id, text)
            if self.events is not None:
                self.events.note_did_save.emit(result, self)
            note = replace(note, text=text)
        return note


# --- following the visit: who took part, drops, what was recorded -------------------------

_ROLE_TEXT = {
    "host": "clinician",
    "clinician": "clinician",
    "patient": "patient",
    "guest": "guest (interpreter or family)",
}


class VisitLog:
    """Follows an ``app.visit.Visit`` (psygnal, no Qt): the people who took part, whether
    video flowed, and each time the link dropped and for how long."""

    def __init__(self, visit: Any, clock: Callable[[], str] = utc_now) -> None:
        self._clock = clock
        self.participants: dict[str, HeaderParticipant] = {}
        self.video = False
        self.drops: list[str] = []
        self.ended_at = ""
        self.started: VisitStarted | None = None  # what follow_visit rewrites at the end
        self._lost_at: str | None = None
        self._on_end: list[Callable[[], None]] = []

        # Plain functions, not bound methods: psygnal holds a bound method weakly, and a
        # log its caller did not keep would be freed mid-visit (the end then rewrote
        # nothing). The visit keeps its log for as long as the visit lives.
        def on_participants(people: Any) -> None:
            self._on_participants(people)

        def on_state(state: Any, reason: str) -> None:
            self._on_state(state, reason)

        visit.participants_changed.connect(on_participants)
        visit.state_changed.connect(on_state)
        self._on_participants(getattr(visit, "participants", ()))

    def when_ended(self, callback: Callable[[], None]) -> None:
        self._on_end.append(callback)

    def _on_participants(self, participants: Any) -> None:
        for p in participants or ():
            role = getattr(getattr(p, "role", None), "value", "guest")
            name = " ".join(str(getattr(p, "display", "")).split())[:80] or "unnamed"
            self.participants.setdefault(
                str(getattr(p, "participant_id", name)),
                HeaderParticipant(name, _ROLE_TEXT.get(role, role)),
            )
            self.video = self.video or bool(getattr(p, "has_video", False))

    def _on_state(self, state: Any, _reason: str = "") -> None:
        value = getattr(state, "value", str(state))
        if value == "reconnecting" and self._lost_at is None:
            self._lost_at = self._clock()
        elif value in ("in_call", "ended") and self._lost_at is not None:
            lost, self._lost_at = self._lost_at, None
            self.drops.append(_drop_text(lost, self._clock()))
        if value == "ended" and not self.ended_at:
            self.ended_at = self._clock()
            for callback in self._on_end:
                callback()

    def header(self, start: TelehealthHeader, references: tuple[str, ...]) -> TelehealthHeader:
        """The end-of-visit header: the start's facts plus what happened."""
        people = tuple(self.participants.values()) or start.participants
        return replace(
            start,
            modality="video" if self.video else "audio-only",
            end=self.ended_at or utc_now(),
            participants=people,
            problems=tuple(self.drops),
            references=references,
        )


def _drop_text(lost: str, back: str) -> str:
    from datetime import datetime

    try:
        a = datetime.fromisoformat(lost)
        b = datetime.fromisoformat(back)
        seconds = max(0, round((b - a).total_seconds()))
    except ValueError:
        return "the connection dropped"
    return f"the connection dropped at {a.strftime('%H:%M:%S')} UTC for {seconds} s"


def attachment_references(attachments: list[Attachment], since: str) -> tuple[str, ...]:
    """One line per recording or still taken during the visit (their digest included, so
    the signed note pins exactly which file it refers to)."""
    lines: list[str] = []
    for a in attachments:
        if a.created_at < since:
            continue
        what = "Stethoscope recording" if a.kind is AttachmentKind.AUDIO else "Still"
        details = [what, a.created_at[11:19] + " UTC"]
        site = a.metadata.get("auscultation_site")
        if isinstance(site, str):
            details.append(site.replace("_", " "))
        if a.heart_rate_bpm is not None:
            details.append(f"heart rate {a.heart_rate_bpm:g} /min")
        details.append(f"sha256 {a.sha256[:16]}")
        lines.append(", ".join(details))
    return tuple(lines)


def follow_visit(
    use: VisitStart,
    visit: Any,
    started: VisitStarted,
    attachments: Callable[[str], Awaitable[list[Attachment]]],
    spawn: Callable[[Awaitable[Any]], Any],
    on_written: Callable[[Note], None] | None = None,
) -> VisitLog:
    """Rewrite the note's header when the visit ends (end, total, people, drops, and the
    recordings and stills taken). ``spawn`` runs the rewrite on the loop."""
    log = VisitLog(visit)
    log.started = started
    encounter_id = started.context.encounter_id

    async def finish() -> None:
        begun = log.started or started  # a location confirmed during the visit is kept
        refs = attachment_references(await attachments(encounter_id), begun.header.start)
        note = await use.finish(encounter_id, log.header(begun.header, refs))
        if note is not None and on_written is not None:
            on_written(note)

    log.when_ended(lambda: spawn(finish()))
    return log
