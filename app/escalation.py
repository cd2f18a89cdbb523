"""The emergency plan of a visit and the "Escalate" action (docs/emergency.md).

At the start of a visit the clinician (or the nurse at the cart) confirms where the
patient physically is, a callback number and an emergency contact: the standard
telehealth safety check. "Escalate" shows them with the emergency number for the
patient's location (:class:`EmergencyNumbers`: a table shipped with the console,
overridden by the policy's ``[emergency] numbers``), records what was done and when,
and notifies the on-call contact through a webhook when one is configured.

Order of the steps (STYLE §2b): the escalation is stored and audited first, then
the webhook is called; a webhook that fails or never answers is recorded as such
and never undoes or hides the escalation. The store queues the escalation for the
record store in the transaction that records it, and the webhook's outcome apart
(storage/fhir/escalation.py: two FHIR Communications, codes and ids only).
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

from app.errors import MESSAGES, ConsoleError, InputRejectedError
from app.records import new_id

if TYPE_CHECKING:
    from app.notes_signing import Signer

log = logging.getLogger(__name__)


MESSAGES.setdefault(
    "oncall.failed", "The on-call contact could not be notified ({reason}). Call them instead."
)


class OnCallNotifyError(ConsoleError):
    """The on-call webhook failed (``reason``: a status or a network failure, never the
    payload) -> the escalation stands; call the on-call contact by phone."""

    message_key = "oncall.failed"


# --- emergency numbers -----------------------------------------------------------------


@dataclass(frozen=True)
class EmergencyNumber:
    number: str
    jurisdiction: str  # the table entry that matched: "US" or "US-WA"
    source: str  # "policy" or "shipped"


class EmergencyNumbers:
    """Region (ISO 3166-2) first, then its country (ISO 3166-1); the policy's entries
    win over the shipped ones at each level."""

    def __init__(
        self,
        countries: Mapping[str, str],
        regions: Mapping[str, str],
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        self._shipped = {k.upper(): v for k, v in {**countries, **regions}.items()}
        self._policy = {k.strip().upper(): v.strip() for k, v in (overrides or {}).items()}

    @classmethod
    def shipped(cls, overrides: Mapping[str, str] | None = None) -> EmergencyNumbers:
        text = (
            resources.files("resources")
            .joinpath("emergency", "numbers.toml")
            .read_text(encoding="utf-8")
        )
        data = tomllib.loads(text)
        return cls(data.get("countries", {}), data.get("regions", {}), overrides)

    def lookup(self, location: str) -> EmergencyNumber | None:
        code = location.strip().upper()
        for key in (code, code.split("-", 1)[0]):
            if self._policy.get(key):
                return EmergencyNumber(self._policy[key], key, "policy")
            if key in self._shipped:
                return EmergencyNumber(self._shipped[key], key, "shipped")
        return None


# --- the plan confirmed at the start of the visit ---------------------------------------


@dataclass(frozen=True)
class SafetyPlan:
    """Confirmed with the patient at the start of the visit (patient data: stays in the
    encrypted store, never in logs, audit parameters or the webhook)."""

    encounter_id: str
    location: str  # ISO 3166-2 (or country) of where the patient is
    address: str
    callback_number: str
    contact_name: str = ""
    contact_number: str = ""
    confirmed_at: str = ""

    def missing(self) -> list[str]:
        """What the safety check still needs (in words, for the message)."""
        wanted = {
            "address": self.address,
            "callback number": self.callback_number,
            "location": self.location,
        }
        return [k for k, v in wanted.items() if not v.strip()]


class EscalationAction(StrEnum):
    CALLED_EMERGENCY = "called_emergency_services"
    PATIENT_ADVISED = "advised_patient_to_call"
    CALLED_BACK = "called_patient_back"
    CONTACTED_CONTACT = "contacted_emergency_contact"
    STAYED_ON_LINE = "stayed_on_the_line"


ACTION_TEXT: dict[EscalationAction, str] = {
    EscalationAction.CALLED_EMERGENCY: "Called emergency services",
    EscalationAction.PATIENT_ADVISED: "Advised the patient to call emergency services",
    EscalationAction.CALLED_BACK: "Called the patient back",
    EscalationAction.CONTACTED_CONTACT: "Contacted the emergency contact",
    EscalationAction.STAYED_ON_LINE: "Stayed on the line until help arrived",
}


@dataclass(frozen=True)
class Escalation:
    id: str
    encounter_id: str
    at: str  # ISO instant, UTC
    actions: tuple[EscalationAction, ...]
    number: str  # the emergency number shown ("" when none is known)
    jurisdiction: str
    note: str = ""  # free text: patient data, stays in the store
    notified: bool = False
    notify_error: str = ""  # why the on-call webhook failed (no patient data)
    # Who recorded it, as a signer id ("Practitioner/<id>", "id:<system>|<value>" or
    # "os-user:<login>", app.notes_signing.Signer) and the name people read.
    by_id: str = ""
    by_display: str = ""

    def note_text(self) -> str:
        """A paragraph for the visit note: what was done and when."""
        done = "; ".join(ACTION_TEXT[a] for a in self.actions) or "No action recorded"
        lines = [f"Escalation at {self.at} (emergency number {self.number or 'unknown'}): {done}."]
        if self.note:
            lines.append(self.note)
        if self.notified:
            lines.append("On-call contact notified.")
        elif self.notify_error:
            lines.append(f"On-call contact NOT notified ({self.notify_error}).")
        return "\n".join(lines)


@dataclass(frozen=True)
class EscalationResult:
    escalation: Escalation
    plan: SafetyPlan | None
    number: EmergencyNumber | None


# --- ports -----------------------------------------------------------------------------


class SafetyStore(Protocol):
    async def save_plan(self, plan: SafetyPlan) -> SafetyPlan: ...

    async def get_plan(self, encounter_id: str) -> SafetyPlan | None: ...

    async def add_escalation(self, escalation: Escalation) -> None: ...

    async def update_escalation(self, escalation: Escalation) -> None: ...

    async def escalations(self, encounter_id: str) -> list[Escalation]: ...


class OnCallNotifier(Protocol):
    """Tells the on-call contact; raises a ConsoleError when that did not happen."""

    async def notify(self, payload: Mapping[str, Any]) -> None: ...


# --- the use case ----------------------------------------------------------------------


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class EscalationService:
    def __init__(
        self,
        store: SafetyStore,
        numbers: EmergencyNumbers,
        notifier: OnCallNotifier | None = None,
        *,
        console_id: str = "",
        who: Callable[[], Signer] | None = None,
    ) -> None:
        """``who``: the clinician recording an escalation (the signed-in one; by default
        the configured practitioner or the OS account, as for signing a note)."""
        self._store = store
        self._numbers = numbers
        self._notifier = notifier
        self._console_id = console_id
        self._who = who

    @property
    def notifies(self) -> bool:
        return self._notifier is not None

    async def confirm_plan(self, plan: SafetyPlan) -> SafetyPlan:
        """Save the plan confirmed at visit start; refuses one without address, callback
        number or location (the point of the check)."""
        missing = plan.missing()
        if missing:
            raise InputRejectedError(reason="the safety check needs " + ", ".join(missing))
        from app.licensure import normalise  # an unknown ISO code is refused here

        location = normalise(plan.location)
        return await self._store.save_plan(replace(plan, location=location, confirmed_at=now_utc()))

    async def plan(self, encounter_id: str) -> SafetyPlan | None:
        return await self._store.get_plan(encounter_id)

    def number_for(self, location: str) -> EmergencyNumber | None:
        return self._numbers.lookup(location) if location else None

    async def prepare(self, encounter_id: str, location: str = "") -> EscalationResult:
        """What the Escalate dialog shows before anything is recorded."""
        plan = await self._store.get_plan(encounter_id)
        where = location or (plan.location if plan else "")
        draft = Escalation("", encounter_id, "", (), "", where)
        return EscalationResult(draft, plan, self.number_for(where))

    async def escalate(
        self,
        encounter_id: str,
        actions: Sequence[EscalationAction],
        *,
        note: str = "",
        location: str = "",
    ) -> EscalationResult:
        """Record what was done (stored and audited before anything else), then notify."""
        plan = await self._store.get_plan(encounter_id)
        where = location or (plan.location if plan else "")
        number = self.number_for(where)
        who = self._recorder()
        escalation = Escalation(
            id=new_id(),
            encounter_id=encounter_id,
            at=now_utc(),
            actions=tuple(dict.fromkeys(actions)),
            number=number.number if number else "",
            jurisdiction=where,
            note=note,
            by_id=who.id,
            by_display=who.display,
        )
        await self._store.add_escalation(escalation)
        if self._notifier is not None:
            escalation = await self._notify(escalation)
        return EscalationResult(escalation, plan, number)

    def _recorder(self) -> Signer:
        from app.notes_signing import signer_from_settings

        return self._who() if self._who is not None else signer_from_settings()

    async def _notify(self, escalation: Escalation) -> Escalation:
        # Ids, times, codes only: the on-call contact opens the record in the EHR.
        payload = {
            "event": "clinician-console.escalation",
            "escalation_id": escalation.id,
            "encounter": f"urn:uuid:{escalation.encounter_id}",
            "at": escalation.at,
            "jurisdiction": escalation.jurisdiction,
            "emergency_number": escalation.number,
            "actions": [a.value for a in escalation.actions],
            "console": self._console_id,
        }
        assert self._notifier is not None
        try:
            await self._notifier.notify(payload)
        except ConsoleError as exc:
            log.warning("on-call webhook failed: %s", type(exc).__name__)
            updated = replace(escalation, notify_error=str(exc)[:200])
        else:
            updated = replace(escalation, notified=True)
        await self._store.update_escalation(updated)
        return updated

    async def history(self, encounter_id: str) -> list[Escalation]:
        return await self._store.escalations(encounter_id)


@dataclass
class MemorySafetyStore:
    """An in-memory SafetyStore (tests and the demo)."""

    plans: dict[str, SafetyPlan] = field(default_factory=dict)
    items: dict[str, Escalation] = field(default_factory=dict)

    async def save_plan(self, plan: SafetyPlan) -> SafetyPlan:
        self.plans[plan.encounter_id] = plan
        return plan

    async def get_plan(self, encounter_id: str) -> SafetyPlan | None:
        return self.plans.get(encounter_id)

    async def add_escalation(self, escalation: Escalation) -> None:
        self.items[escalation.id] = escalation

    async def update_escalation(self, escalation: Escalation) -> None:
        self.items[escalation.id] = escalation

    async def escalations(self, encounter_id: str) -> list[Escalation]:
        return [e for e in self.items.values() if e.encounter_id == encounter_id]
