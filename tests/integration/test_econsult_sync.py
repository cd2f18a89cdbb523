"""E-consult store-and-forward between two consoles through a real FHIR server (SEKMET
and Medplum): the referrer's request (ServiceRequest + Task) goes up exactly once with
its still and note; the specialist's console, a second store against the same server,
pulls it into its queue with the still's bytes; questions go both ways as
Communications; the answer (a consult note, LOINC 11488-4) completes the Task and
reaches the referrer."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from app.econsult import ConsultStatus, EconsultService, NewConsult, Origin, Urgency
from app.errors import StoreError
from app.events import ConsoleEvents
from app.images import ImagesService, StillMetadata
from app.records import Encounter, NoteType, Patient, new_id, utc_now
from app.services import AttachmentsService
from media.images.inspector import QualityInspector
from storage.econsult import StoreEconsult
from storage.fhir.client import FhirClient
from storage.sync import econsult as econsult_sync
from storage.sync.engine import SyncEngine
from tests.conftest import open_test_store, run
from tests.unit.images_support import at_megapixels, jpeg_bytes, photo

pytestmark = pytest.mark.integration

IDENT = "urn:ietf:rfc:3986|urn:uuid:"


async def _practitioner(client: FhirClient) -> str:
    """A specialist on the record store (references to it must resolve on strict servers)."""
    marker = new_id()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Practitioner",
                    "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{marker}"}],
                    "name": [{"family": "Derm", "given": ["Sam"]}],
                },
                "request": {"method": "POST", "url": "Practitioner"},
            }
        ],
    }
    response = await client.transaction(bundle)
    location = response["entry"][0]["response"]["location"]
    parts = location.split("/")
    return f"Practitioner/{parts[parts.index('Practitioner') + 1]}"


async def _referrer(profile: Path, performer: str) -> tuple[Any, EconsultService, str, str]:
    store = await open_test_store(profile)
    patient = await store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now(), reason="rash"))
    images = ImagesService(AttachmentsService(store, ConsoleEvents()), QualityInspector())
    still = await images.add(
        enc.id,
        jpeg_bytes(at_megapixels(photo("astronaut.png"), 0.5)),
        metadata=StillMetadata(body_site="14975008", laterality="right"),
    )
    note = await store.create_note(enc.id, "S: itchy rash on the forearm", NoteType.PROGRESS)
    service = EconsultService(StoreEconsult(store), practitioner="")
    consult = await service.send(
        NewConsult(
            encounter_id=enc.id,
            question="Is this eczema or psoriasis?",
            performer=performer,
            urgency=Urgency.URGENT,
            still_ids=[still.image_id],
            note_id=note.id,
            due="2027-01-15",
        )
    )
    return store, service, consult.id, still.sha256


def _specialist_engine(store: Any, specialist: EconsultService) -> SyncEngine:
    """The specialist's sync as the composition root wires it: Tasks of "me"."""
    engine = SyncEngine(store)
    engine.econsult_owner = specialist.me
    return engine


async def _by_identifier(client: FhirClient, rtype: str, local_id: str) -> list[dict[str, Any]]:
    return [r async for r in client.search(rtype, {"identifier": IDENT + local_id})]


def _asked_about_tasks(client: FhirClient) -> list[str]:
    """From now on, each Task the client reads or searches for by id (``Task?_id=``); a
    search for the Tasks assigned to "me" (``Task?owner=``) is not one."""
    asked: list[str] = []
    real_read, real_search = client.read, client.search

    async def read(rtype: str, rid: str) -> dict[str, Any]:
        if rtype == "Task":
            asked.append(rid)
        return await real_read(rtype, rid)

    def search(rtype: str, params: Any = None) -> Any:
        if rtype == "Task" and "_id" in dict(params or {}):
            asked.extend(str(dict(params)["_id"]).split(","))
        return real_search(rtype, params)

    client.read = read  # type: ignore[method-assign]
    client.search = search  # type: ignore[method-assign]
    return asked


def test_an_econsult_goes_to_the_specialist_and_the_answer_comes_back(
    tmp_path: Path, fhir_server: Any
) -> None:
    async def scenario() -> None:
        async with FhirClient(fhir_server.base_url, timeout=60) as client:
            me = await _practitioner(client)
            a_store, referrer, consult_id, still_sha = await _referrer(tmp_path / "a", me)
            report = await SyncEngine(a_store).sync_once(client)
            assert report.failed == 0, report.reasons
            sent = await referrer.open(consult_id)
            [sr] = await _by_identifier(client, "ServiceRequest", consult_id)
            [task] = await _by_identifier(client, "Task", sent.task_id)
            assert sr["priority"] == "urgent" and sr["intent"] == "order"
            assert sr["performer"][0]["reference"] == me
            assert len(sr["supportingInfo"]) == 2  # the still's Media and the note
            assert task["status"] == "requested" and task["owner"]["reference"] == me
            assert task["focus"]["reference"].endswith(f"ServiceRequest/{sr['id']}")
            assert task["restriction"]["period"]["end"].startswith("2027-01-15")
            # Exactly once: a second pass sends nothing and makes nothing new.
            assert (await SyncEngine(a_store).sync_once(client)).sent == 0
            assert len(await _by_identifier(client, "ServiceRequest", consult_id)) == 1

            # The specialist's console: another store, same server.
            b_store = await open_test_store(tmp_path / "b")
            specialist = EconsultService(StoreEconsult(b_store), practitioner=me)
            assert await specialist.queue() == []
            report = await _specialist_engine(b_store, specialist).sync_once(client)
            assert report.quarantined == [], report.quarantined
            [pulled] = await specialist.queue()
            assert pulled.id == consult_id and pulled.origin is Origin.PULLED
            assert pulled.question == "Is this eczema or psoriasis?"
            assert pulled.urgency is Urgency.URGENT
            assert pulled.patient_display.startswith("Lens, Ada")
            [image, note] = pulled.stills
            data = await specialist.read_still(pulled.id, image.attachment_id)
            assert hashlib.sha256(data).hexdigest() == still_sha  # bytes unchanged
            assert image.body_site == "14975008"
            assert b"itchy rash" in await specialist.read_still(pulled.id, note.attachment_id)
            # Pulled twice: still one request.
            await _specialist_engine(b_store, specialist).sync_once(client)
            assert len(await specialist.queue()) == 1

            # A question back, and the referrer's reply.
            await specialist.start_review(pulled.id)
            await specialist.ask(pulled.id, "How long has it been there?")
            assert (await _specialist_engine(b_store, specialist).sync_once(client)).failed == 0
            [task] = await _by_identifier(client, "Task", sent.task_id)
            assert task["status"] == "in-progress"
            await SyncEngine(a_store).sync_once(client)
            seen = await referrer.open(consult_id)
            assert [m.text for m in seen.messages] == ["How long has it been there?"]
            assert seen.status is ConsultStatus.IN_PROGRESS
            await referrer.ask(consult_id, "Three weeks.")
            await SyncEngine(a_store).sync_once(client)
            await _specialist_engine(b_store, specialist).sync_once(client)
            texts = [m.text for m in (await specialist.open(pulled.id)).messages]
            assert texts == ["How long has it been there?", "Three weeks."]

            # The answer closes the request and reaches the referrer.
            await specialist.answer(
                pulled.id, "Nummular eczema. Emollients and a mid-potency steroid."
            )
            assert (await _specialist_engine(b_store, specialist).sync_once(client)).failed == 0
            assert await specialist.queue() == []
            [task] = await _by_identifier(client, "Task", sent.task_id)
            assert task["status"] == "completed"
            doc_id = task["output"][0]["valueReference"]["reference"].split("/")[-1]
            doc = await client.read("DocumentReference", doc_id)
            assert doc["type"]["coding"][0]["code"] == "11488-4"
            await SyncEngine(a_store).sync_once(client)
            answered = await referrer.open(consult_id)
            assert answered.status is ConsultStatus.COMPLETED
            assert answered.answer is not None
            assert answered.answer.text.startswith("Nummular eczema")
            assert len(await _by_identifier(client, "Communication", seen.messages[0].id)) == 1
            # Closed and answered on both sides: later passes no longer ask about it.
            reads = _asked_about_tasks(client)
            await SyncEngine(a_store).sync_once(client)
            await _specialist_engine(b_store, specialist).sync_once(client)
            assert reads == [], reads
            await a_store.close()
            await b_store.close()

    run(scenario())


def test_a_lost_acknowledgement_makes_no_second_request(
    tmp_path: Path, fhir_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server stored the ServiceRequest and the Task, the console died before it
    recorded that: the next pass finds both (conditional creates), one of each."""

    async def scenario() -> None:
        async with FhirClient(fhir_server.base_url, timeout=60) as client:
            me = await _practitioner(client)
            store, referrer, consult_id, _sha = await _referrer(tmp_path / "a", me)
            real_done = econsult_sync._done

            def lost(conn: Any, seq: int) -> None:
                raise ConnectionResetError("simulated: acknowledgement lost")

            monkeypatch.setattr(econsult_sync, "_done", lost)
            with pytest.raises(StoreError):
                await SyncEngine(store).sync_once(client)
            monkeypatch.setattr(econsult_sync, "_done", real_done)
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            consult = await referrer.open(consult_id)
            assert consult.server_ref
            assert len(await _by_identifier(client, "ServiceRequest", consult_id)) == 1
            assert len(await _by_identifier(client, "Task", consult.task_id)) == 1
            assert (await SyncEngine(store).sync_once(client)).sent == 0
            await store.close()

    run(scenario())


def test_an_answer_to_a_request_cancelled_meanwhile_is_kept_and_not_sent(
    tmp_path: Path, fhir_server: Any
) -> None:
    """The specialist answers offline while the referrer cancels: the cancellation
    reaches the server first; the answer makes no consult note on the server, does not
    reopen the Task, stays on the specialist's console, and the request shows cancelled."""

    async def scenario() -> None:
        async with FhirClient(fhir_server.base_url, timeout=60) as client:
            me = await _practitioner(client)
            a_store, referrer, consult_id, _sha = await _referrer(tmp_path / "a", me)
            await SyncEngine(a_store).sync_once(client)
            b_store = await open_test_store(tmp_path / "b")
            specialist = EconsultService(StoreEconsult(b_store), practitioner=me)
            await _specialist_engine(b_store, specialist).sync_once(client)
            [pulled] = await specialist.queue()
            answer = await specialist.answer(pulled.id, "Offline answer.")
            await referrer.cancel(consult_id)
            assert (await SyncEngine(a_store).sync_once(client)).failed == 0
            report = await _specialist_engine(b_store, specialist).sync_once(client)
            assert any("cancelled" in r for r in report.reasons), report.reasons
            [task] = await _by_identifier(client, "Task", pulled.task_id)
            assert task["status"] == "cancelled" and "output" not in task
            assert await _by_identifier(client, "DocumentReference", answer.id) == []
            kept = await specialist.open(pulled.id)
            assert kept.status is ConsultStatus.CANCELLED
            assert kept.answer is not None and kept.answer.text == "Offline answer."
            assert await b_store.transact(econsult_sync.waiting) == 0
            # The referrer's cancelled request is not asked about on every later pass.
            reads = _asked_about_tasks(client)
            await SyncEngine(a_store).sync_once(client)
            assert reads == [], reads
            await a_store.close()
            await b_store.close()

    run(scenario())


def test_a_malformed_request_on_the_server_is_set_aside_and_the_rest_arrives(
    tmp_path: Path, fhir_server: Any
) -> None:
    """Another system assigned us a Task whose ServiceRequest has no question and one whose
    focus is not a ServiceRequest: both are quarantined (named in the sync details),
    the good request still reaches the queue."""

    async def scenario() -> None:
        async with FhirClient(fhir_server.base_url, timeout=60) as client:
            me = await _practitioner(client)
            a_store, _referrer_service, consult_id, _sha = await _referrer(tmp_path / "a", me)
            await SyncEngine(a_store).sync_once(client)
            [good_sr] = await _by_identifier(client, "ServiceRequest", consult_id)
            patient = good_sr["subject"]["reference"]
            bad_sr = {
                "resourceType": "ServiceRequest",
                "status": "active",
                "intent": "order",
                "subject": {"reference": patient},
            }
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "fullUrl": "urn:uuid:8d3c0a52-57f4-4d0b-9a43-52a1b8f2d001",
                        "resource": bad_sr,
                        "request": {"method": "POST", "url": "ServiceRequest"},
                    },
                    {
                        "resource": {
                            "resourceType": "Task",
                            "status": "requested",
                            "intent": "order",
                            "focus": {"reference": "urn:uuid:8d3c0a52-57f4-4d0b-9a43-52a1b8f2d001"},
                            "owner": {"reference": me},
                        },
                        "request": {"method": "POST", "url": "Task"},
                    },
                    {
                        "resource": {
                            "resourceType": "Task",
                            "status": "requested",
                            "intent": "order",
                            "focus": {"reference": patient},
                            "owner": {"reference": me},
                        },
                        "request": {"method": "POST", "url": "Task"},
                    },
                ],
            }
            await client.transaction(bundle)
            b_store = await open_test_store(tmp_path / "b")
            specialist = EconsultService(StoreEconsult(b_store), practitioner=me)
            report = await _specialist_engine(b_store, specialist).sync_once(client)
            assert len(report.quarantined) == 2, report.quarantined
            assert any("question" in q for q in report.quarantined)
            assert any("not to a ServiceRequest" in q for q in report.quarantined)
            assert [c.id for c in await specialist.queue()] == [consult_id]
            # Later passes ask only for Tasks changed since (with the overlap window).
            asked: list[dict[str, str]] = []
            real_search = client.search

            def recording(rtype: str, params: Any = None) -> Any:
                if rtype == "Task":
                    asked.append(dict(params or {}))
                return real_search(rtype, params)

            client.search = recording  # type: ignore[method-assign]
            await _specialist_engine(b_store, specialist).sync_once(client)
            assert asked and asked[0]["_lastUpdated"].startswith("ge"), asked
            assert [c.id for c in await specialist.queue()] == [consult_id]
            await a_store.close()
            await b_store.close()

    run(scenario())


def test_answered_before_the_request_went_up(tmp_path: Path, fhir_server: Any) -> None:
    """Specialist and referrer on one console (a clinic answering its own request offline):
    request and answer go up in one pass; the Task ends completed with the consult note as
    its output (found by the kill -9 test: the Task was created completed, without it)."""

    async def scenario() -> None:
        async with FhirClient(fhir_server.base_url, timeout=60) as client:
            me = await _practitioner(client)
            store, _referrer_service, consult_id, _sha = await _referrer(tmp_path / "a", me)
            both = EconsultService(StoreEconsult(store), practitioner=me)
            answer = await both.answer(consult_id, "Answered offline.")
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0 and not report.reasons, report.reasons
            consult = await both.open(consult_id)
            [task] = await _by_identifier(client, "Task", consult.task_id)
            [doc] = await _by_identifier(client, "DocumentReference", answer.id)
            assert task["status"] == "completed"
            assert task["output"][0]["valueReference"]["reference"].endswith(doc["id"])
            await store.close()

    run(scenario())
