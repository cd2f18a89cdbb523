"""E-consult use cases over the real encrypted store (SQLCipher file, passphrase mode):
checks before anything is written, the queue "assigned to me", one transaction for the
record, its outbox row and its audit entry, and the FHIR mapping of pulled resources."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.econsult import ConsultStatus, EconsultService, NewConsult, Urgency
from app.errors import InputRejectedError
from app.records import AttachmentKind, Encounter, Patient, new_id, utc_now
from storage.econsult import StoreEconsult
from storage.fhir import econsult as fx
from storage.sync import econsult as econsult_sync
from storage.sync.adapter import StoreSyncQueue
from storage.sync.engine import SyncReport
from tests.conftest import open_test_store, run

ME = "Practitioner/spec-1"


@dataclass(frozen=True)
class _Profile:
    practitioner: str
    name: str = "Dr Sam Derm"


class _SignedIn:
    def __init__(self, practitioner: str) -> None:
        self.profile = _Profile(practitioner)

    def current_clinician(self) -> Any:
        return self.profile


async def _visit(store: Any) -> tuple[str, str]:
    patient = await store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
    return patient.id, enc.id


async def _outbox(store: Any) -> list[tuple[int, str, str]]:
    rows: list[tuple[int, str, str]] = await store.transact(econsult_sync._pending)
    return rows


def test_hostile_requests_are_refused_before_anything_is_written(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        _p, enc = await _visit(store)
        _p2, other = await _visit(store)
        foreign = await store.add_attachment(
            other, AttachmentKind.IMAGE, "image/png", b"\x89PNG\r\n\x1a\n" + b"0" * 64
        )
        service = EconsultService(StoreEconsult(store))
        bad = [
            NewConsult(enc, "   ", ME),
            NewConsult(enc, "q", "http://evil.example/Practitioner/1"),
            NewConsult(enc, "q", ME, urgency="whenever"),
            NewConsult(enc, "q", ME, due="next week"),
            NewConsult(enc, "q\x00", ME),
            NewConsult(enc, "x" * 20_001, ME),
            NewConsult(enc, "q", ME, still_ids=[foreign.id]),  # another visit's still
            NewConsult(enc, "q", ME, still_ids=[new_id()]),
        ]
        entries = len(await store.audit_entries())
        for new in bad:
            with pytest.raises(InputRejectedError):
                await service.send(new)
        assert await service.sent() == []
        assert await _outbox(store) == []
        assert len(await store.audit_entries()) == entries
        await store.close()

    run(scenario())


def test_the_queue_is_the_signed_in_clinicians_else_the_configured_one(
    fresh_profile: Path,
) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        _p, enc = await _visit(store)
        port = StoreEconsult(store)
        referrer = EconsultService(port, practitioner="Practitioner/gp")
        routine = await referrer.send(NewConsult(enc, "routine one", ME))
        stat = await referrer.send(NewConsult(enc, "stat one", ME, urgency=Urgency.STAT))
        await referrer.send(NewConsult(enc, "for someone else", "Practitioner/other"))
        assert routine.requester == "Practitioner/gp"
        configured = EconsultService(port, practitioner=ME)
        assert [c.id for c in await configured.queue()] == [stat.id, routine.id]
        signed_in = EconsultService(
            port, clinician=_SignedIn("Practitioner/other"), practitioner=ME
        )
        assert [c.question for c in await signed_in.queue()] == ["for someone else"]
        assert await EconsultService(port).queue() == []  # nobody configured: no queue
        # One outbox row per request; answering closes it and leaves the queue.
        assert [k for _s, k, _i in await _outbox(store)] == ["request"] * 3
        # The status bar's "waiting" counts them (an e-consult outbox of their own).
        assert (await StoreSyncQueue(store).counts()).waiting == 2 + 3  # patient, visit
        assert routine.patient_display == "Lens, Ada"  # the referrer's own patient
        answer = await configured.answer(stat.id, "Start treatment today.")
        assert (await configured.open(stat.id)).status is ConsultStatus.COMPLETED
        assert [c.id for c in await configured.queue()] == [routine.id]
        assert (await _outbox(store))[-1][1:] == ("answer", answer.id)
        with pytest.raises(InputRejectedError):
            await configured.answer(stat.id, "twice")
        with pytest.raises(InputRejectedError):
            await configured.ask(stat.id, "after closing")
        await store.close()

    run(scenario())


def test_pulled_resources_are_checked() -> None:
    task = {
        "resourceType": "Task",
        "id": "t1",
        "meta": {"versionId": "2"},
        "status": "accepted",
        "focus": {"reference": "ServiceRequest/s1"},
        "owner": {"reference": ME},
        "output": [{"valueReference": {"reference": "DocumentReference/d1"}}],
    }
    parsed = fx.parse_task(task)
    assert parsed.status is ConsultStatus.IN_PROGRESS
    assert (parsed.service_request_id, parsed.output_document) == ("s1", "d1")
    with pytest.raises(ValueError, match="ServiceRequest"):
        fx.parse_task({**task, "focus": {"reference": "Patient/p1"}})
    with pytest.raises(ValueError, match="not resolved"):
        fx.parse_task({**task, "focus": {"reference": f"urn:uuid:{new_id()}"}})
    with pytest.raises(ValueError):
        fx.parse_service_request({"resourceType": "ServiceRequest", "id": "s1"})  # no question
    with pytest.raises(ValueError, match="hash"):
        fx.binary_bytes({"data": "aGVsbG8="}, sha1="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    assert fx.binary_bytes({"data": "aGVsbG8="}, sha1="qvTGHdzF6KLavt4PO0gs2a6pQ00=") == b"hello"
    with pytest.raises(ValueError, match="Binary"):
        fx.media_binary({"content": {"url": "https://evil.example/steal"}})


def test_a_local_change_nudges_sync(fresh_profile: Path) -> None:
    """Sending, asking and answering announce themselves on the bus, and sync follows the
    bus (a round soon after, like a note save), not only the next timer."""
    import asyncio

    from app.events import ConsoleEvents
    from app.sync import SyncState
    from tests.unit.test_app_sync import ScriptedEngine, service, until

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        _p, enc = await _visit(store)
        events = ConsoleEvents()
        changed: list[str] = []
        events.econsult_did_change.connect(lambda cid, _src: changed.append(cid))
        engine = ScriptedEngine()
        sync = service(engine)
        unfollow = sync.follow(events)
        await sync.start()
        await until(lambda: engine.rounds == 1 and sync.status.state is SyncState.IDLE)
        econsult = EconsultService(StoreEconsult(store), practitioner=ME, events=events)
        made = await econsult.send(NewConsult(enc, "q", ME))
        await until(lambda: engine.rounds == 2)
        await econsult.ask(made.id, "more?")
        await econsult.answer(made.id, "done")
        assert changed == [made.id] * 3
        unfollow()
        await sync.stop()
        await asyncio.sleep(0)
        await store.close()

    run(scenario())


def test_demo_patients_econsults_are_never_sent(fresh_profile: Path) -> None:
    """A request about a demo patient (MRN DEMO-...) is dropped from the e-consult outbox
    at the start of a push, like the demo patient's own records."""

    class _NoServer:
        async def transaction(self, *_a: Any, **_k: Any) -> Any:
            raise AssertionError("nothing may be sent")

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        demo = await store.add_patient(Patient(new_id(), "Demo", "Dee", "1970-01-01", mrn="DEMO-9"))
        enc = await store.add_encounter(Encounter(new_id(), demo.id, utc_now()))
        econsult = EconsultService(StoreEconsult(store), practitioner=ME)
        made = await econsult.send(NewConsult(enc.id, "q", ME))
        await econsult.ask(made.id, "and?")
        assert len(await _outbox(store)) == 2
        await econsult_sync.push(_NoServer(), store, SyncReport())
        assert await _outbox(store) == []
        await store.close()

    run(scenario())
