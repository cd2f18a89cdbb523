"""SQL for the coding area: ChargeItem drafts, emergency plans, escalations.

Functions take a connection and run on the store's worker thread inside the
caller's transaction (``EncryptedStore.transact``); :class:`StoreCoding` and
:class:`StoreSafety` adapt an ``EncryptedStore`` (its ``transact``) to the ports
of ``app.coding`` and ``app.escalation``. Saving a draft queues it and its
encounter in the outbox in the same transaction, so the ChargeItem and the coded
Encounter reach the record store exactly once (storage/sync/engine.py).
"""

from __future__ import annotations

import json
from typing import Any

from app.coding import ChargeDraft, CodedEncounter, Performer
from app.errors import RecordNotFoundError
from app.escalation import Escalation, EscalationAction, SafetyPlan
from app.records import Encounter, utc_now
from storage import audit, repository

_CHARGE_COLUMNS = (
    "id, encounter_id, code, modifiers, pos, service_date, payer, work, modality, reasons, "
    "created_at, updated_at, performer"
)


def _charge(row: Any) -> ChargeDraft:
    return ChargeDraft(
        id=str(row[0]),
        encounter_id=str(row[1]),
        code=str(row[2]),
        modifiers=tuple(json.loads(row[3])),
        pos=str(row[4]),
        service_date=str(row[5]),
        payer=str(row[6]),
        work=str(row[7]),
        modality=str(row[8]),
        reasons=tuple(json.loads(row[9])),
        created_at=str(row[10]),
        updated_at=str(row[11]),
        performer=_performer(json.loads(row[12])),
    )


def _performer(data: Any) -> Performer | None:
    if not isinstance(data, dict):
        return None
    found = Performer(
        str(data.get("reference", "")), str(data.get("npi", "")), str(data.get("name", ""))
    )
    return found if found else None


def save_charge(conn: Any, actor: str, draft: ChargeDraft) -> ChargeDraft:
    """Insert or replace the encounter's draft, queue it and its encounter, audit it."""
    repository.get_encounter(conn, draft.encounter_id)  # RecordNotFoundError if gone
    row = conn.execute(
        "SELECT id FROM charge_items WHERE encounter_id = ?", (draft.encounter_id,)
    ).fetchone()
    if row is not None and str(row[0]) != draft.id:
        # One draft per encounter: a second accept replaces the first (same id).
        draft = ChargeDraft(**{**_as_dict(draft), "id": str(row[0])})
    stamped = ChargeDraft(**{**_as_dict(draft), "updated_at": utc_now()})
    conn.execute(
        f"INSERT INTO charge_items({_CHARGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(id) DO UPDATE SET code = excluded.code, modifiers = excluded.modifiers, "
        "pos = excluded.pos, service_date = excluded.service_date, payer = excluded.payer, "
        "work = excluded.work, modality = excluded.modality, reasons = excluded.reasons, "
        "updated_at = excluded.updated_at, performer = excluded.performer",
        (
            stamped.id,
            stamped.encounter_id,
            stamped.code,
            json.dumps(list(stamped.modifiers)),
            stamped.pos,
            stamped.service_date,
            stamped.payer,
            stamped.work,
            stamped.modality,
            json.dumps(list(stamped.reasons)),
            stamped.created_at,
            stamped.updated_at,
            json.dumps(
                {}
                if stamped.performer is None
                else {
                    "reference": stamped.performer.reference,
                    "npi": stamped.performer.npi,
                    "name": stamped.performer.name,
                }
            ),
        ),
    )
    repository.outbox_put(conn, "charge_item", stamped.id, "create" if row is None else "update")
    # The Encounter carries the code too (Encounter.type): send it again.
    repository.outbox_put(conn, "encounter", stamped.encounter_id, "update")
    audit.append(conn, actor, "coding_accept", "charge_item", stamped.id)
    return stamped


def _as_dict(draft: ChargeDraft) -> dict[str, Any]:
    return {name: getattr(draft, name) for name in ChargeDraft.__dataclass_fields__}


def get_charge(conn: Any, charge_id: str) -> ChargeDraft:
    row = conn.execute(
        f"SELECT {_CHARGE_COLUMNS} FROM charge_items WHERE id = ?", (charge_id,)
    ).fetchone()
    if row is None:
        raise RecordNotFoundError(kind="charge_item", record_id=charge_id)
    return _charge(row)


def charge_for(conn: Any, encounter_id: str) -> ChargeDraft | None:
    row = conn.execute(
        f"SELECT {_CHARGE_COLUMNS} FROM charge_items WHERE encounter_id = ?", (encounter_id,)
    ).fetchone()
    return None if row is None else _charge(row)


def with_coding(conn: Any, encounter: Encounter) -> Encounter:
    """The encounter as sync sends it: with its accepted coding when there is one."""
    charge = charge_for(conn, encounter.id)
    if charge is None:
        return encounter
    fields = {name: getattr(encounter, name) for name in Encounter.__dataclass_fields__}
    return CodedEncounter(**fields, charge=charge)


# --- emergency plan and escalations ---------------------------------------------------


def save_plan(conn: Any, actor: str, plan: SafetyPlan) -> SafetyPlan:
    repository.get_encounter(conn, plan.encounter_id)
    conn.execute(
        "INSERT INTO safety_plans(encounter_id, location, address, callback_number, "
        "contact_name, contact_number, confirmed_at) VALUES (?,?,?,?,?,?,?) "
        "ON CONFLICT(encounter_id) DO UPDATE SET location = excluded.location, "
        "address = excluded.address, callback_number = excluded.callback_number, "
        "contact_name = excluded.contact_name, contact_number = excluded.contact_number, "
        "confirmed_at = excluded.confirmed_at",
        (
            plan.encounter_id,
            plan.location,
            plan.address,
            plan.callback_number,
            plan.contact_name,
            plan.contact_number,
            plan.confirmed_at,
        ),
    )
    audit.append(conn, actor, "safety_plan_confirm", "encounter", plan.encounter_id)
    return plan


def get_plan(conn: Any, encounter_id: str) -> SafetyPlan | None:
    row = conn.execute(
        "SELECT encounter_id, location, address, callback_number, contact_name, "
        "contact_number, confirmed_at FROM safety_plans WHERE encounter_id = ?",
        (encounter_id,),
    ).fetchone()
    return None if row is None else SafetyPlan(*(str(v) for v in row))


_ESCALATION_COLUMNS = (
    "id, encounter_id, at, actions, number, jurisdiction, note, notified, notify_error, "
    "by_id, by_display"
)


def get_escalation(conn: Any, escalation_id: str) -> Escalation | None:
    row = conn.execute(
        f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE id = ?", (escalation_id,)
    ).fetchone()
    return None if row is None else _escalation(row)


def _escalation(row: Any) -> Escalation:
    return Escalation(
        id=str(row[0]),
        encounter_id=str(row[1]),
        at=str(row[2]),
        actions=tuple(EscalationAction(a) for a in json.loads(row[3])),
        number=str(row[4]),
        jurisdiction=str(row[5]),
        note=str(row[6]),
        notified=bool(row[7]),
        notify_error=str(row[8]),
        by_id=str(row[9]),
        by_display=str(row[10]),
    )


def add_escalation(conn: Any, actor: str, e: Escalation) -> None:
    repository.get_encounter(conn, e.encounter_id)
    conn.execute(
        "INSERT INTO escalations(id, encounter_id, at, actions, number, jurisdiction, note, "
        "notified, notify_error, by_id, by_display) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            e.id,
            e.encounter_id,
            e.at,
            json.dumps([a.value for a in e.actions]),
            e.number,
            e.jurisdiction,
            e.note,
            int(e.notified),
            e.notify_error,
            e.by_id,
            e.by_display,
        ),
    )
    # In the same transaction: a crash after this commit still sends it (docs/emergency.md).
    repository.outbox_put(conn, "escalation", e.id, "create")
    audit.append(conn, actor, "escalate", "escalation", e.id)


def update_escalation(conn: Any, actor: str, e: Escalation) -> None:
    conn.execute(
        "UPDATE escalations SET notified = ?, notify_error = ? WHERE id = ?",
        (int(e.notified), e.notify_error, e.id),
    )
    if e.notified or e.notify_error:
        # The webhook's outcome goes up as its own Communication (never an update of the
        # escalation's: each is written once, so a conditional create is all it needs).
        repository.outbox_put(conn, "oncall_notice", e.id, "create")
    action = "escalation_notified" if e.notified else "escalation_notify_failed"
    audit.append(conn, actor, action, "escalation", e.id)


def escalations(conn: Any, encounter_id: str) -> list[Escalation]:
    rows = conn.execute(
        f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE encounter_id = ? ORDER BY at, rowid",
        (encounter_id,),
    ).fetchall()
    return [_escalation(r) for r in rows]


# --- adapters over the encrypted store ---------------------------------------------------


class StoreCoding:
    """``app.coding.ChargeStore`` over an ``EncryptedStore``."""

    def __init__(self, store: Any) -> None:
        self._store = store

    async def save_charge(self, draft: ChargeDraft) -> ChargeDraft:
        saved: ChargeDraft = await self._store.transact(save_charge, self._store.actor, draft)
        return saved

    async def charge_for(self, encounter_id: str) -> ChargeDraft | None:
        found: ChargeDraft | None = await self._store.transact(charge_for, encounter_id)
        return found


class StoreSafety:
    """``app.escalation.SafetyStore`` over an ``EncryptedStore``."""

    def __init__(self, store: Any) -> None:
        self._store = store

    async def save_plan(self, plan: SafetyPlan) -> SafetyPlan:
        saved: SafetyPlan = await self._store.transact(save_plan, self._store.actor, plan)
        return saved

    async def get_plan(self, encounter_id: str) -> SafetyPlan | None:
        found: SafetyPlan | None = await self._store.transact(get_plan, encounter_id)
        return found

    async def add_escalation(self, escalation: Escalation) -> None:
        await self._store.transact(add_escalation, self._store.actor, escalation)

    async def update_escalation(self, escalation: Escalation) -> None:
        await self._store.transact(update_escalation, self._store.actor, escalation)

    async def escalations(self, encounter_id: str) -> list[Escalation]:
        found: list[Escalation] = await self._store.transact(escalations, encounter_id)
        return found
