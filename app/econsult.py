"""E-consult, store-and-forward: a referring clinician asks a specialist, who answers later.

Modelled on HL7's Clinical Order Workflows (docs/econsult.md): the request is a
``ServiceRequest`` (question, urgency, stills and the note as supporting info)
with a ``Task`` (status, owner, due) that the specialist works; questions back
and forth are ``Communication``\\ s; the answer is a consult note (LOINC 11488-4)
as a ``DocumentReference``, which completes the Task and closes the request.

This module is the use case and its port (pure: no storage, no FHIR, no Qt).
storage/econsult.py implements :class:`EconsultStore` (the local tables and the
e-consult outbox, written in the same transaction), storage/fhir/econsult.py maps
the records to FHIR, storage/sync/econsult.py pushes and pulls them.

"Assigned to me" is the signed-in clinician's ``Practitioner`` reference
(app/clinician.py's :class:`~app.clinician.CurrentClinician`), else the practitioner
configured in settings (``[record_store] practitioner``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from app.clinician import CurrentClinician
from app.errors import InputRejectedError
from app.events import ConsoleEvents

#: LOINC "Consult note": the answer's type.
CONSULT_NOTE_LOINC = "11488-4"
MAX_TEXT = 20_000
MAX_STILLS = 20
#: Who a request may go to: a person, their role, a service or an organisation.
_PERFORMER = re.compile(
    r"^(Practitioner|PractitionerRole|HealthcareService|Organization)/[A-Za-z0-9\-.]{1,64}$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Urgency(StrEnum):
    """FHIR request-priority."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


class ConsultStatus(StrEnum):
    """The Task's status (the subset an e-consult goes through)."""

    REQUESTED = "requested"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def closed(self) -> bool:
        return self in (ConsultStatus.COMPLETED, ConsultStatus.CANCELLED)


class Origin(StrEnum):
    SENT = "sent"  # made on this console (the referrer's side)
    PULLED = "pulled"  # pulled from the record store (the specialist's side)


@dataclass(frozen=True, slots=True)
class ConsultMessage:
    """A question or reply on a request (a FHIR Communication)."""

    id: str
    consult_id: str
    author: str
    text: str
    sent_at: str
    synced: bool = False


@dataclass(frozen=True, slots=True)
class ConsultAnswer:
    """The specialist's consult note (LOINC 11488-4); it closes the request."""

    id: str
    consult_id: str
    author: str
    text: str
    created_at: str
    synced: bool = False


@dataclass(frozen=True, slots=True)
class ConsultStill:
    """A still (or recording) sent with a request: the referrer's attachment id, or on the
    specialist's side the Media pulled with its bytes."""

    attachment_id: str
    content_type: str
    sha256: str
    title: str = ""
    body_site: str = ""


@dataclass(frozen=True, slots=True)
class ConsultRequest:
    id: str  # the ServiceRequest's urn:uuid
    task_id: str  # the Task's urn:uuid
    origin: Origin
    question: str
    urgency: Urgency
    performer: str  # "Practitioner/<id>" (or role, service, organisation)
    requester: str  # the referrer's Practitioner reference ("" when unknown)
    status: ConsultStatus
    created_at: str
    due: str = ""  # YYYY-MM-DD
    patient_id: str = ""  # local patient (referrer's side)
    encounter_id: str = ""
    note_id: str = ""
    patient_display: str = ""  # the specialist's side: from the pulled Patient
    stills: tuple[ConsultStill, ...] = ()
    messages: tuple[ConsultMessage, ...] = ()
    answer: ConsultAnswer | None = None
    #: Set when the record store holds it: "ServiceRequest/<id>".
    server_ref: str = ""


@dataclass(frozen=True, slots=True)
class NewConsult:
    """What the referrer fills in."""

    encounter_id: str
    question: str
    performer: str
    urgency: Urgency | str = Urgency.ROUTINE
    still_ids: Sequence[str] = field(default_factory=tuple)
    note_id: str = ""
    due: str = ""


class EconsultStore(Protocol):
    """Port (storage/econsult.py). Every write stores the record, its e-consult outbox
    row and its audit entry in one transaction."""

    async def create_consult(self, new: NewConsult, requester: str) -> ConsultRequest: ...

    async def get_consult(self, consult_id: str) -> ConsultRequest: ...

    async def list_consults(
        self, *, performer: str | None = None, origin: Origin | None = None
    ) -> list[ConsultRequest]: ...

    async def add_message(self, consult_id: str, author: str, text: str) -> ConsultMessage: ...

    async def set_status(self, consult_id: str, status: ConsultStatus) -> ConsultRequest: ...

    async def add_answer(self, consult_id: str, author: str, text: str) -> ConsultAnswer: ...

    async def read_still(self, consult_id: str, attachment_id: str) -> bytes: ...


def _clean_text(text: str, what: str) -> str:
    if not isinstance(text, str):
        raise InputRejectedError(reason=f"the {what} is not text")
    stripped = text.strip()
    if not stripped:
        raise InputRejectedError(reason=f"the {what} is empty")
    if len(stripped) > MAX_TEXT:
        raise InputRejectedError(reason=f"the {what} is longer than {MAX_TEXT} characters")
    if "\x00" in stripped:
        raise InputRejectedError(reason=f"the {what} contains a NUL character")
    return stripped


def check_new_consult(new: NewConsult) -> NewConsult:
    """The request as it will be stored; InputRejectedError before anything is written."""
    question = _clean_text(new.question, "question")
    if not _PERFORMER.match(new.performer or ""):
        raise InputRejectedError(
            reason="the specialist must be a Practitioner, PractitionerRole, "
            "HealthcareService or Organization reference"
        )
    try:
        urgency = Urgency(new.urgency)
    except ValueError:
        raise InputRejectedError(reason="unknown urgency") from None
    stills = tuple(dict.fromkeys(new.still_ids))
    if len(stills) > MAX_STILLS:
        raise InputRejectedError(reason=f"at most {MAX_STILLS} stills or recordings per request")
    if new.due and not _DATE.match(new.due):
        raise InputRejectedError(reason="the due date is not YYYY-MM-DD")
    if not new.encounter_id:
        raise InputRejectedError(reason="a request belongs to a visit")
    return NewConsult(
        encounter_id=new.encounter_id,
        question=question,
        performer=new.performer,
        urgency=urgency,
        still_ids=stills,
        note_id=new.note_id,
        due=new.due,
    )


class EconsultService:
    """The referrer's and the specialist's use cases."""

    def __init__(
        self,
        store: EconsultStore,
        clinician: CurrentClinician | None = None,
        practitioner: str = "",
        actor: str = "",
        events: ConsoleEvents | None = None,
    ) -> None:
        self.store = store
        #: ``econsult_did_change(consult_id, source)`` after every local change: sync
        #: follows it (app.sync.SyncService.follow) like a note save.
        self.events = events
        self.clinician = clinician
        #: ``[record_store] practitioner``: "me" until clinician sign-in says otherwise.
        self.practitioner = practitioner
        self.actor = actor

    def me(self) -> str:
        """My Practitioner reference: the signed-in clinician's, else the configured one."""
        profile = self.clinician.current_clinician() if self.clinician is not None else None
        if profile is not None and profile.practitioner:
            return profile.practitioner
        return self.practitioner

    def _changed(self, consult_id: str) -> None:
        if self.events is not None:
            self.events.econsult_did_change.emit(consult_id, self)

    def _author(self) -> str:
        profile = self.clinician.current_clinician() if self.clinician is not None else None
        if profile is not None and profile.name:
            return profile.name
        return self.me() or self.actor or "clinician"

    async def send(self, new: NewConsult) -> ConsultRequest:
        """Store the request; sync sends it (ServiceRequest + Task) exactly once."""
        made = await self.store.create_consult(check_new_consult(new), self.me())
        self._changed(made.id)
        return made

    async def queue(self) -> list[ConsultRequest]:
        """Open requests assigned to me, most urgent first, then oldest first."""
        me = self.me()
        if not me:
            return []
        order = {u: i for i, u in enumerate((Urgency.STAT, Urgency.ASAP, Urgency.URGENT))}
        consults = [c for c in await self.store.list_consults(performer=me) if not c.status.closed]
        return sorted(consults, key=lambda c: (order.get(c.urgency, 3), c.created_at))

    async def sent(self) -> list[ConsultRequest]:
        """The requests this console sent, newest first (the referrer sees answers here)."""
        consults = await self.store.list_consults(origin=Origin.SENT)
        return sorted(consults, key=lambda c: c.created_at, reverse=True)

    async def open(self, consult_id: str) -> ConsultRequest:
        return await self.store.get_consult(consult_id)

    async def start_review(self, consult_id: str) -> ConsultRequest:
        """The specialist takes the request up (Task in-progress)."""
        consult = await self.store.get_consult(consult_id)
        if consult.status is not ConsultStatus.REQUESTED:
            return consult
        started = await self.store.set_status(consult_id, ConsultStatus.IN_PROGRESS)
        self._changed(consult_id)
        return started

    async def ask(self, consult_id: str, text: str) -> ConsultMessage:
        """A question or reply on the request, either side."""
        consult = await self.store.get_consult(consult_id)
        if consult.status.closed:
            raise InputRejectedError(reason="the request is closed")
        message = await self.store.add_message(
            consult_id, self._author(), _clean_text(text, "message")
        )
        self._changed(consult_id)
        return message

    async def answer(self, consult_id: str, text: str) -> ConsultAnswer:
        """The consult note: closes the request (Task completed, output the note)."""
        consult = await self.store.get_consult(consult_id)
        if consult.status.closed:
            raise InputRejectedError(reason="the request is already closed")
        answer = await self.store.add_answer(
            consult_id, self._author(), _clean_text(text, "answer")
        )
        self._changed(consult_id)
        return answer

    async def cancel(self, consult_id: str) -> ConsultRequest:
        consult = await self.store.get_consult(consult_id)
        if consult.status.closed:
            return consult
        cancelled = await self.store.set_status(consult_id, ConsultStatus.CANCELLED)
        self._changed(consult_id)
        return cancelled

    async def read_still(self, consult_id: str, attachment_id: str) -> bytes:
        return await self.store.read_still(consult_id, attachment_id)


__all__ = [
    "CONSULT_NOTE_LOINC",
    "ConsultAnswer",
    "ConsultMessage",
    "ConsultRequest",
    "ConsultStatus",
    "ConsultStill",
    "EconsultService",
    "EconsultStore",
    "NewConsult",
    "Origin",
    "Urgency",
    "check_new_consult",
]
