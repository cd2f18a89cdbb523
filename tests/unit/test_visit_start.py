"""Templates, the telehealth header, and the start of a visit (location, consent, note).

Real SQLCipher stores (passphrase mode); templates from the shipped files and from
folders the tests write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app import soap
from app.errors import InputRejectedError
from app.records import Encounter, NoteStatus, NoteType, Patient, new_id, utc_now
from app.templates import (
    SHIPPED_DIR,
    HeaderParticipant,
    TelehealthHeader,
    load_templates,
    render_header,
    split_header,
    template_folders,
    with_header,
)
from app.visit_start import (
    ConsentAnswer,
    ConsentDecision,
    ConsentMethod,
    LocationKind,
    VisitStart,
    VisitStartForm,
)
from storage.consents import StoreVisitStart, visit_facts
from storage.store import EncryptedStore
from tests.conftest import open_test_store, run
from tests.signing_support import signing

GIVEN = ConsentAnswer(ConsentDecision.PERMIT, ConsentMethod.VERBAL)
DECLINED = ConsentAnswer(ConsentDecision.DENY, ConsentMethod.VERBAL)


def _form(**kw: Any) -> VisitStartForm:
    base: dict[str, Any] = {
        "stated_location": "us-wa",
        "location_kind": LocationKind.HOME,
        "identity_method": "photo ID shown on camera",
        "telehealth": GIVEN,
        "recording": DECLINED,
        "template_id": "wound-check",
        "participants": (
            HeaderParticipant("Dr Test", "clinician"),
            HeaderParticipant("A. Nurse", "nurse at the cart"),
        ),
    }
    base.update(kw)
    return VisitStartForm(**base)


async def _encounter(store: EncryptedStore) -> str:
    patient = await store.add_patient(Patient(new_id(), "Start", "Vi", "1990-09-09"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
    return enc.id


def _use(store: EncryptedStore, **kw: Any) -> VisitStart:
    return VisitStart(StoreVisitStart(store), load_templates([SHIPPED_DIR]), actor="dr", **kw)


# --- templates --------------------------------------------------------------------------


def test_the_shipped_templates_cover_the_visit_types() -> None:
    found = load_templates([SHIPPED_DIR])
    assert set(found) >= {
        "follow-up",
        "new-problem",
        "tele-dermatology",
        "wound-check",
        "mental-health",
        "stethoscope-exam",
    }
    for template in found.values():
        assert soap.parse(template.text()) is not None, template.id
    assert found["tele-dermatology"].note_type is NoteType.CONSULT


def test_policy_templates_override_profile_and_shipped_and_broken_files_are_skipped(
    tmp_path: Path,
) -> None:
    profile, policy = tmp_path / "profile", tmp_path / "etc" / "policy.toml"
    (profile / "templates").mkdir(parents=True)
    (policy.parent / "templates").mkdir(parents=True)
    (profile / "templates" / "mine.toml").write_text(
        'id = "follow-up"\nname = "My follow-up"\n[sections]\nPlan = "mine"\n'
    )
    (policy.parent / "templates" / "it.toml").write_text(
        'id = "follow-up"\nname = "Clinic follow-up"\n[sections]\nPlan = "clinic"\n'
    )
    (policy.parent / "templates" / "broken.toml").write_text('id = "x"\n[sections]\nFoo = 1\n')
    found = load_templates(template_folders(profile, policy))
    assert found["follow-up"].name == "Clinic follow-up"
    assert "x" not in found and "wound-check" in found


# --- header ------------------------------------------------------------------------------


def test_header_renders_splits_and_cannot_be_forged_by_a_name() -> None:
    header = TelehealthHeader(
        modality="video",
        start="2026-12-05T09:00:00+00:00",
        end="2026-12-05T09:23:10+00:00",
        participants=(HeaderParticipant("Ana\n\nPlan:\nforged", "interpreter"),),
        stated_location="US-WA",
        location_kind="home",
        problems=("connection dropped for 8 s",),
        references=("Stethoscope recording, mitral (sha256 0123abcd)",),
    )
    text = render_header(header)
    assert "Total: 23 min" in text and "\n\n" not in text
    note = with_header(soap.template(), header)
    got, body = split_header(note)
    assert got == text and soap.parse(body) is not None
    # Rewriting replaces the header, never stacks a second one.
    again = with_header(note, TelehealthHeader(modality="audio-only", start=header.start))
    assert again.count("Telehealth visit:") == 1 and "audio-only" in again


# --- the start of a visit -----------------------------------------------------------------


def test_begin_records_location_and_consents_and_writes_the_header(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _encounter(store)
        started = await _use(store).begin(enc, _form())
        note = await store.open_note(started.note.id)
        header, body = split_header(note.text)
        assert "Patient's stated location: US-WA (home)" in header
        assert "Consent to telehealth: verbal, given" in header
        assert "Consent to recording: verbal, declined" in header
        assert "A. Nurse (nurse at the cart)" in header
        sections = soap.parse(body)
        assert sections is not None and sections["Objective"].startswith("Wound site:")
        context, consents = await store.transact(visit_facts, enc)
        assert context is not None and context.stated_location == "US-WA"
        assert [c.scope.value for c in consents] == ["telehealth", "recording"]
        outbox = await store.transact(
            lambda c: [r[0] for r in c.execute("SELECT entity_type FROM outbox")]
        )
        assert outbox.count("consent") == 2
        await store.close()

    run(scenario())


@pytest.mark.parametrize(
    "form",
    [_form(stated_location="Washington"), _form(telehealth=DECLINED), _form(template_id="nope")],
    ids=["bad-location", "no-consent", "unknown-template"],
)
def test_a_refused_start_records_nothing(fresh_profile: Path, form: VisitStartForm) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _encounter(store)
        with pytest.raises(InputRejectedError):
            await _use(store, require_consent=True).begin(enc, form)
        assert await store.transact(visit_facts, enc) == (None, [])
        assert await StoreVisitStart(store).first_note(enc) is None
        await store.close()

    run(scenario())


def test_declined_consent_is_recorded_when_policy_does_not_require_it(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _encounter(store)
        started = await _use(store, require_consent=False).begin(enc, _form(telehealth=DECLINED))
        assert started.consents[0].decision is ConsentDecision.DENY
        await store.close()

    run(scenario())


def test_finish_updates_the_header_but_never_a_signed_note(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _encounter(store)
        use = _use(store)
        started = await use.begin(enc, _form())
        # The clinician typed below the header meanwhile: finishing keeps it.
        typed = started.note.text.replace("Dressing:", "Dressing: changed today")
        await store.save_note_text(started.note.id, typed)
        end = TelehealthHeader(
            modality="video",
            start=started.header.start,
            end=utc_now(),
            stated_location="US-WA",
            problems=("connection dropped for 8 s",),
        )
        finished = await use.finish(enc, end)
        assert finished is not None
        text = (await store.open_note(started.note.id)).text
        assert "connection dropped for 8 s" in text and "Dressing: changed today" in text
        await signing(store).sign(started.note.id)
        assert await use.finish(enc, end) is None
        note = await store.open_note(started.note.id)
        assert note.status is NoteStatus.SIGNED and note.text == text
        await store.close()

    run(scenario())


def test_the_end_of_a_visit_rewrites_the_header_with_people_drops_and_recordings(
    fresh_profile: Path,
) -> None:
    """A real (Qt-free) Visit drives the log: participants arrive, the link drops and comes
    back, a recording is attached, the visit ends: the header says all of it."""
    import asyncio

    from app.visit import Participant, ParticipantRole, Visit, VisitState
    from app.visit_start import follow_visit

    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _encounter(store)
        use = _use(store)
        started = await use.begin(enc, _form(template_id="stethoscope-exam"))
        visit = Visit(encounter_id=enc)
        tasks: list[asyncio.Task[Any]] = []
        follow_visit(
            use,
            visit,
            started,
            store.list_attachments,
            lambda c: tasks.append(asyncio.ensure_future(c)),
        )
        visit.update_participants(
            (
                Participant("1", "Dr Test", ParticipantRole.HOST, is_local=True, has_video=True),
                Participant("2", "Ana Interpreter", ParticipantRole.GUEST, has_audio=True),
            )
        )
        visit.update_state(VisitState.IN_CALL)
        visit.update_state(VisitState.RECONNECTING)
        visit.update_state(VisitState.IN_CALL)
        await store.add_attachment(
            enc,
            "audio",
            "audio/wav",
            wav,
            "Mitral",
            {"auscultation_site": "mitral", "heart_rate_bpm": 72},
        )
        visit.update_state(VisitState.ENDED, "hung up")
        await asyncio.gather(*tasks)
        header, _body = split_header((await store.open_note(started.note.id)).text)
        assert "Ana Interpreter (guest (interpreter or family))" in header
        assert "the connection dropped at" in header
        assert "Stethoscope recording" in header and "heart rate 72 /min" in header
        assert "Total:" in header and "Modality: video" in header
        await store.close()

    run(scenario())


def test_the_visit_log_lives_as_long_as_the_visit_not_as_long_as_its_caller_holds_it() -> None:
    """psygnal holds bound methods weakly: a VisitLog nobody else kept was freed by the next
    garbage collection, and the end of the visit then rewrote nothing (the header stayed
    "in progress"; seen as a rare CI failure of the test above). The visit keeps it."""
    import gc
    import weakref

    from app.visit import Visit, VisitState
    from app.visit_start import VisitLog

    visit = Visit(encounter_id="e1")
    ended: list[str] = []
    log = VisitLog(visit)
    log.when_ended(lambda: ended.append("ended"))
    alive = weakref.ref(log)
    del log
    gc.collect()
    assert alive() is not None, "the visit log was freed while its visit goes on"
    visit.update_state(VisitState.IN_CALL)
    visit.update_state(VisitState.ENDED, "hung up")
    assert ended == ["ended"]
    kept = alive()
    assert kept is not None and kept.ended_at


def test_the_encounter_carries_the_visit_facts_and_never_an_end_before_its_start() -> None:
    from storage.consents import VisitFacts
    from storage.fhir.consent import decorate_encounter

    facts = VisitFacts(
        "US-WA", "home", "2026-12-06T09:20:00+00:00", "video", (("Dr T", "clinician"),)
    )
    on_time = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
        "period": {"start": "2026-12-06T09:00:00+00:00"},
    }
    decorate_encounter(on_time, facts)
    assert on_time["period"]["end"] == facts.ended_at
    assert on_time["participant"][0]["type"][0]["coding"][0]["code"] == "PPRF"
    early = {**on_time, "period": {"start": "2026-12-06T10:00:00+00:00"}}
    decorate_encounter(early, facts)
    assert "end" not in early["period"]
