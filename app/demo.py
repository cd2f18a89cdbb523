"""Demo patients and visits, seeded on first run so a new user sees a working console.

Names are invented; dates are relative to today so the worklist always shows
"today's visits".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app import soap
from app.ports import RecordStore
from app.records import Encounter, NoteType, Patient, new_id

_PATIENTS: tuple[tuple[str, str, str, str, str], ...] = (
    ("Okafor", "Adaeze", "1958-03-14", "female", "Follow-up: hypertension"),
    ("Lindqvist", "Henrik", "1971-11-02", "male", "Cough for two weeks"),
    ("Moreau", "Camille", "1989-06-23", "female", "Post-operative wound check"),
    ("Tanaka", "Haruto", "1946-01-30", "male", "Heart failure review"),
    ("Mwangi", "Wanjiru", "2015-09-09", "female", "Wheeze, school referral"),
    ("Castillo", "Mateo", "1983-04-17", "male", "Diabetes: foot exam"),
)

_NOTES: dict[int, dict[str, str]] = {
    0: {
        "Subjective": "Reports good adherence to amlodipine. Occasional morning headaches.",
        "Objective": "Home BP log average 142/88. Clinic BP 138/86, HR 72 regular.",
        "Assessment": "Essential hypertension, not yet at target.",
        "Plan": "Increase amlodipine to 10 mg daily. Recheck in 4 weeks. Renal panel.",
    },
    3: {
        "Subjective": "Ankle swelling improved since furosemide increase. Sleeps on two pillows.",
        "Objective": "Weight down 1.8 kg in 2 weeks. Bibasal crackles on stethoscope stream.",
        "Assessment": "Chronic heart failure, improving.",
        "Plan": "Continue current dose. Daily weights. Review electrolytes Friday.",
    },
}


async def seed_demo(store: RecordStore, today: datetime | None = None) -> int:
    """Add the demo visits unless the store already has encounters; returns how many."""
    if await store.list_encounters():
        return 0
    base = (today or datetime.now(UTC)).replace(hour=8, minute=30, second=0, microsecond=0)
    added = 0
    for index, (family, given, born, gender, reason) in enumerate(_PATIENTS):
        patient = await store.add_patient(
            Patient(new_id(), family, given, born, gender, mrn=f"DEMO-{1001 + index}")
        )
        start = base + timedelta(minutes=30 * index)
        status = "finished" if index in _NOTES else "planned"
        encounter = await store.add_encounter(
            Encounter(
                new_id(), patient.id, start.isoformat(timespec="seconds"), status, "VR", reason
            )
        )
        if index in _NOTES:
            await store.create_note(encounter.id, soap.compose(_NOTES[index]), NoteType.PROGRESS)
        added += 1
    return added
