"""Escalate against a real local HTTP server (the on-call webhook) and a real store.

The escalation is stored and audited before the webhook is called; a webhook that
answers 500, is not listening or never answers leaves the escalation recorded with
the reason, and nothing of the patient (address, numbers, free text) leaves the
console.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app.escalation import (
    EmergencyNumbers,
    EscalationAction,
    EscalationService,
    SafetyPlan,
)
from app.records import Encounter, Patient, new_id, utc_now
from storage.coding_store import StoreSafety
from storage.oncall import WebhookNotifier
from tests.conftest import open_test_store

pytestmark = pytest.mark.integration

ADDRESS = "12 Quarry Lane, Spokane"
CALLBACK = "+1 509 555 0100"
CONTACT = "Morgan Quarry"


@dataclass
class Hook:
    url: str
    status: int = 204
    hang: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def hook() -> Iterator[Hook]:
    state: dict[str, Hook] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            h = state["hook"]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            h.received.append(json.loads(body))
            h.headers.append(dict(self.headers))
            if h.hang:
                h.release.wait(10)  # the client gives up first
            self.send_response(h.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["hook"] = Hook(f"http://127.0.0.1:{server.server_address[1]}/oncall")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["hook"]
    finally:
        state["hook"].release.set()
        server.shutdown()
        server.server_close()


async def _scenario(
    profile: Path, notifier: WebhookNotifier
) -> tuple[Any, list[Any], list[str], SafetyPlan]:
    store = await open_test_store(profile)
    try:
        patient = await store.add_patient(Patient(new_id(), "Quarry", "Sam", "1971-01-01"))
        enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        service = EscalationService(
            StoreSafety(store), EmergencyNumbers.shipped(), notifier, console_id="cart-7"
        )
        plan = await service.confirm_plan(
            SafetyPlan(enc.id, "US-WA", ADDRESS, CALLBACK, CONTACT, "+1 509 555 0199")
        )
        result = await service.escalate(
            enc.id,
            [EscalationAction.CALLED_EMERGENCY, EscalationAction.STAYED_ON_LINE],
            note="Chest pain, sweating; EMS dispatched",
        )
        stored = await service.history(enc.id)
        actions = [e.action for e in await store.audit_entries()]
        return result, stored, actions, plan
    finally:
        await store.close()


def test_escalate_notifies_on_call_with_ids_only(fresh_profile: Path, hook: Hook) -> None:
    notifier = WebhookNotifier(hook.url, token="s3cret", timeout_s=5)
    result, stored, actions, plan = asyncio.run(_scenario(fresh_profile, notifier))
    esc = result.escalation
    assert esc.notified and not esc.notify_error
    assert result.number is not None and result.number.number == "911"
    assert result.plan == plan and plan.confirmed_at
    assert stored == [esc]
    assert actions[-3:] == ["safety_plan_confirm", "escalate", "escalation_notified"]
    [payload] = hook.received
    assert payload["encounter"] == f"urn:uuid:{esc.encounter_id}"
    assert payload["emergency_number"] == "911" and payload["jurisdiction"] == "US-WA"
    assert payload["actions"] == ["called_emergency_services", "stayed_on_the_line"]
    assert payload["console"] == "cart-7"
    text = json.dumps(payload)
    for secret in (ADDRESS, CALLBACK, CONTACT, "Chest pain", "Quarry"):
        assert secret not in text
    assert hook.headers[0]["Authorization"] == "Bearer s3cret"
    note = esc.note_text()
    assert "Called emergency services" in note and "911" in note and "notified" in note


@pytest.mark.parametrize("failure", ["http-500", "not-listening", "no-answer"])
def test_a_failed_webhook_never_loses_the_escalation(
    fresh_profile: Path, hook: Hook, failure: str
) -> None:
    url = hook.url
    if failure == "http-500":
        hook.status = 500
    elif failure == "not-listening":
        url = "http://127.0.0.1:9/oncall"  # discard port: nothing listens
    else:
        hook.hang = True
    result, stored, actions, _plan = asyncio.run(
        _scenario(fresh_profile, WebhookNotifier(url, timeout_s=0.5))
    )
    esc = result.escalation
    assert not esc.notified
    assert esc.notify_error
    expected = {"http-500": "HTTP 500", "not-listening": "network", "no-answer": "in time"}
    assert expected[failure] in esc.notify_error
    assert stored == [esc]
    assert actions[-2:] == ["escalate", "escalation_notify_failed"]
    assert "NOT notified" in esc.note_text()
