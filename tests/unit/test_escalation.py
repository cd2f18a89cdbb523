"""The emergency plan and Escalate (app/escalation.py): numbers by region and country with
policy overrides, a plan that must be complete, and the order store-then-notify."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from app.errors import InputRejectedError
from app.escalation import (
    EmergencyNumbers,
    EscalationAction,
    EscalationService,
    MemorySafetyStore,
    OnCallNotifyError,
    SafetyPlan,
)


def test_shipped_numbers_by_country_and_region() -> None:
    numbers = EmergencyNumbers.shipped()
    us = numbers.lookup("US-WA")
    assert us is not None and (us.number, us.jurisdiction, us.source) == ("911", "US", "shipped")
    gb = numbers.lookup("gb-eng")
    assert gb is not None and gb.number == "999"
    fr = numbers.lookup("FR-75")
    assert fr is not None and fr.number == "15"
    assert numbers.lookup("AQ") is None  # not in the table: the dialog says so


def test_policy_overrides_win_region_before_country() -> None:
    numbers = EmergencyNumbers.shipped({"US-WA": "555-0100", "GB": "112"})
    wa = numbers.lookup("US-WA")
    assert wa is not None and (wa.number, wa.source) == ("555-0100", "policy")
    ca = numbers.lookup("US-CA")
    assert ca is not None and (ca.number, ca.source) == ("911", "shipped")
    gb = numbers.lookup("GB-SCT")
    assert gb is not None and (gb.number, gb.jurisdiction) == ("112", "GB")
    # A region in the shipped table still beats a country from the policy: most specific.
    custom = EmergencyNumbers({"XX": "1"}, {"XX-A": "2"}, {"XX": "3"})
    assert custom.lookup("XX-A").number == "2"  # type: ignore[union-attr]
    assert custom.lookup("XX-B").number == "3"  # type: ignore[union-attr]


def test_a_plan_without_address_or_callback_is_refused() -> None:
    service = EscalationService(MemorySafetyStore(), EmergencyNumbers.shipped())
    with pytest.raises(InputRejectedError, match="address, callback number"):
        asyncio.run(service.confirm_plan(SafetyPlan("e1", "US-WA", " ", "")))


def test_the_plan_location_must_be_an_iso_code() -> None:
    store = MemorySafetyStore()
    service = EscalationService(store, EmergencyNumbers.shipped())
    with pytest.raises(InputRejectedError, match="ISO 3166-2"):
        asyncio.run(service.confirm_plan(SafetyPlan("e1", "Washington", "1 Main St", "555")))
    assert store.plans == {}
    saved = asyncio.run(service.confirm_plan(SafetyPlan("e1", " us-wa", "1 Main St", "555")))
    assert saved.location == "US-WA" and store.plans["e1"] == saved


class Notifier:
    def __init__(self, store: MemorySafetyStore, fail: bool = False) -> None:
        self.store = store
        self.fail = fail
        self.seen_stored: list[bool] = []

    async def notify(self, payload: Mapping[str, Any]) -> None:
        # The escalation is in the store before anyone is told.
        self.seen_stored.append(payload["escalation_id"] in self.store.items)
        if self.fail:
            raise OnCallNotifyError(reason="HTTP 503")


@pytest.mark.parametrize("fail", [False, True])
def test_escalation_is_stored_before_the_webhook(fail: bool) -> None:
    store = MemorySafetyStore()
    notifier = Notifier(store, fail)
    service = EscalationService(store, EmergencyNumbers.shipped(), notifier)

    async def go() -> Any:
        await service.confirm_plan(SafetyPlan("e1", "CA-BC", "1 Main St", "555"))
        return await service.escalate("e1", [EscalationAction.PATIENT_ADVISED] * 2)

    result = asyncio.run(go())
    assert notifier.seen_stored == [True]
    esc = result.escalation
    assert esc.actions == (EscalationAction.PATIENT_ADVISED,)
    assert esc.number == "911" and esc.jurisdiction == "CA-BC"
    assert esc.notified is (not fail)
    assert store.items[esc.id] == esc
    assert ("HTTP 503" in esc.notify_error) is fail


def test_escalation_without_plan_or_notifier_still_records() -> None:
    store = MemorySafetyStore()
    service = EscalationService(store, EmergencyNumbers.shipped())
    result = asyncio.run(service.escalate("e9", [], location="NZ-AUK"))
    assert result.plan is None and result.number is not None and result.number.number == "111"
    assert not result.escalation.notified and not result.escalation.notify_error
    assert "No action recorded" in result.escalation.note_text()
