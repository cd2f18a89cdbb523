"""Encrypted store benchmark: note autosave latency, bulk insert vs plain SQLite, search.

``python -m bench.store [--quick]`` prints one JSON object (DESIGN.md §3):

- ``metrics.insert_s``: bulk load of N notes (each with its encounter; patients
  first) into the SQLCipher store, through ``storage.repository`` in batched
  transactions, so every note also writes its version row, outbox row, audit
  entry and FTS5 index entries.
- ``reference.insert_s``: the same load, same code, same schema
  (``storage.migrations.migrate``) and same pragmas (``storage.database.PRAGMAS``)
  on a plain stdlib ``sqlite3`` database; ``ratio.insert`` is ours over it.
- ``metrics.autosave_p50_ms`` / ``autosave_p99_ms``: ``EncryptedStore.save_note_text``
  on the loaded store, awaited from the event loop: worker-thread hop, one
  ``BEGIN IMMEDIATE`` ... ``COMMIT`` with ``synchronous=FULL`` (fsync of the WAL),
  version row, outbox, audit chain and FTS update included.
- ``metrics.search_p95_ms``: ``EncryptedStore.search_notes`` (limit 50) for 1-2 word
  queries drawn from the note vocabulary (whole words, prefixes, word pairs).

Note text is synthetic SOAP text from a fixed-seed vocabulary; no real data.
The tuning options (``--pragma``, ``--ids``, ``--search-order``, ...; see ``--help``)
measure proposed storage changes without editing storage/; docs/storage-tuning.md
records what they showed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app import soap
from app.records import Encounter, KeySource, NoteType, Patient, SearchHit, new_id
from bench import _common
from storage import database, keys, migrations, repository
from storage.keys import StoreKey
from storage.store import DB_FILE, EncryptedStore

BENCH = "store"
PASSPHRASE = "bench-store-passphrase"  # a throwaway store in a temp dir; not a secret
ACTOR = "bench"

# Budgets (DESIGN.md §6).
AUTOSAVE_P99_BUDGET_MS = 5.0
INSERT_RATIO_BUDGET = 1.25
SEARCH_P95_BUDGET_MS = 20.0
BUDGET_NOTES = 100_000  # the budgets are stated for a store of this size

FULL_NOTES = 100_000
QUICK_NOTES = 20_000
NOTES_PER_PATIENT = 20
SEARCH_LIMIT = 50  # what app.services.NotesService.search asks for

SEARCH_ORDERS = ("shipped", "rank", "rowid")
FTS_AFTER_LOAD = ("none", "optimize")
SCHEMA_VARIANTS = ("shipped", "versions-rowid")
ID_KINDS = ("uuid4", "uuid7")


# --- synthetic clinical vocabulary ---------------------------------------------------

# Data tables, kept dense on purpose: one item per line would be 300 lines of words.
# fmt: off

_SYMPTOMS = (
    "chest pain", "shortness of breath", "cough", "fever", "headache", "dizziness",
    "fatigue", "nausea", "vomiting", "abdominal pain", "lower back pain", "joint pain",
    "palpitations", "wheeze", "itchy rash", "sore throat", "dysuria", "ankle swelling",
    "insomnia", "anxiety", "low mood", "weight loss", "night sweats", "diarrhoea",
    "constipation", "numbness in the feet", "tingling in the hands", "blurred vision",
    "ear pain", "nasal congestion", "heartburn", "leg cramps", "syncope", "tremor",
    "memory problems", "urinary frequency", "pruritus", "hoarseness", "haemoptysis",
    "calf claudication", "orthopnoea", "loss of appetite", "neck stiffness", "knee pain",
)
_CONDITIONS = (
    "essential hypertension", "type 2 diabetes mellitus", "chronic heart failure",
    "atrial fibrillation", "asthma", "chronic obstructive pulmonary disease",
    "chronic kidney disease stage 3", "hypothyroidism", "hyperlipidaemia",
    "osteoarthritis of the knee", "gastro-oesophageal reflux disease",
    "major depressive disorder", "generalised anxiety disorder", "migraine without aura",
    "obstructive sleep apnoea", "iron deficiency anaemia", "urinary tract infection",
    "community-acquired pneumonia", "acute bronchitis", "cellulitis of the lower leg", "gout",
    "rheumatoid arthritis", "plaque psoriasis", "atopic eczema", "benign prostatic hyperplasia",
    "peripheral arterial disease", "coronary artery disease", "osteoporosis",
    "vitamin D deficiency", "allergic rhinitis", "acute otitis media", "acute sinusitis",
    "irritable bowel syndrome", "diverticulitis", "peptic ulcer disease", "focal epilepsy",
    "Parkinson disease", "mild cognitive impairment", "obesity", "polycystic ovary syndrome",
    "plantar fasciitis", "lumbar radiculopathy", "carpal tunnel syndrome", "herpes zoster",
    "bacterial conjunctivitis", "tinea pedis", "deep vein thrombosis", "hepatic steatosis",
    "post-operative wound review", "viral upper respiratory tract infection",
)
_DRUGS = (
    ("amlodipine", "5 mg"), ("lisinopril", "10 mg"), ("ramipril", "5 mg"),
    ("losartan", "50 mg"), ("metformin", "1000 mg"), ("gliclazide", "80 mg"),
    ("empagliflozin", "10 mg"), ("atorvastatin", "40 mg"), ("simvastatin", "20 mg"),
    ("bisoprolol", "2.5 mg"), ("furosemide", "40 mg"), ("spironolactone", "25 mg"),
    ("apixaban", "5 mg"), ("warfarin", "3 mg"), ("aspirin", "75 mg"),
    ("clopidogrel", "75 mg"), ("levothyroxine", "100 micrograms"), ("omeprazole", "20 mg"),
    ("lansoprazole", "30 mg"), ("salbutamol inhaler", "2 puffs"),
    ("budesonide-formoterol inhaler", "2 puffs"), ("tiotropium", "18 micrograms"),
    ("sertraline", "50 mg"), ("citalopram", "20 mg"), ("mirtazapine", "15 mg"),
    ("amitriptyline", "10 mg"), ("gabapentin", "300 mg"), ("paracetamol", "1 g"),
    ("ibuprofen", "400 mg"), ("naproxen", "500 mg"), ("codeine", "30 mg"),
    ("amoxicillin", "500 mg"), ("doxycycline", "100 mg"), ("nitrofurantoin", "100 mg"),
    ("flucloxacillin", "500 mg"), ("clarithromycin", "500 mg"), ("prednisolone", "30 mg"),
    ("allopurinol", "100 mg"), ("colchicine", "500 micrograms"), ("tamsulosin", "400 micrograms"),
    ("alendronic acid", "70 mg"), ("colecalciferol", "800 units"), ("ferrous sulfate", "200 mg"),
    ("levetiracetam", "500 mg"), ("sumatriptan", "50 mg"), ("cetirizine", "10 mg"),
    ("mometasone nasal spray", "2 sprays"), ("insulin glargine", "14 units"),
)
_FREQUENCIES = ("once daily", "twice daily", "three times daily", "at night", "when required")
_FINDINGS = (
    "chest clear to auscultation bilaterally", "fine bibasal crackles", "expiratory wheeze",
    "heart sounds regular with no added sounds", "irregularly irregular pulse",
    "soft systolic murmur at the left sternal edge", "abdomen soft and non-tender",
    "mild epigastric tenderness", "pitting oedema to mid-shin", "no focal neurological deficit",
    "right tympanic membrane erythematous and bulging", "pharynx mildly injected",
    "erythematous warm plaque on the left shin", "reduced flexion of the right knee",
    "tenderness over the lumbar paraspinal muscles", "capillary refill under two seconds",
    "pedal pulses palpable bilaterally", "reduced monofilament sensation in both feet",
    "thyroid not enlarged", "no cervical lymphadenopathy", "conjunctivae pale",
    "mucous membranes moist", "wound edges well approximated", "no signs of wound infection",
    "positive straight leg raise on the left", "Phalen test positive on the right",
    "vesicular rash in a dermatomal distribution", "tophus over the first metatarsal joint",
)
_TESTS = (
    "full blood count", "renal panel", "HbA1c", "lipid profile", "thyroid function tests",
    "liver function tests", "urinalysis", "urine culture", "chest X-ray", "12-lead ECG",
    "echocardiogram", "spirometry", "NT-proBNP", "CRP", "ferritin", "vitamin D level", "INR",
    "D-dimer", "abdominal ultrasound", "24-hour Holter monitor", "ambulatory BP monitoring",
    "urine albumin-creatinine ratio", "serum urate", "bone density scan",
)
_COURSE = (
    "gradually worsening", "intermittent", "improving since the last review", "unchanged",
    "worse in the mornings", "worse on exertion", "better with rest", "present most days",
)
_STATUS = (
    "stable", "improving", "not yet at target", "well controlled", "poorly controlled",
    "new diagnosis", "resolving", "under investigation",
)
# Nobody searches notes for these; the vocabulary's multi-word terms contain them.
_STOPWORDS = frozenset(("the", "and", "with", "for", "from", "over", "under", "both", "since"))
_SERVICES = (
    "cardiology", "respiratory", "the diabetes clinic", "dermatology", "physiotherapy",
    "rheumatology", "neurology", "the falls clinic",
)
_ADVICE = (
    "Safety-netting advice given: return if symptoms worsen or new symptoms develop.",
    "Discussed diet, exercise and weight management.",
    "Smoking cessation advice given and referral offered.",
    "Advised to keep a home blood pressure diary.",
    "Inhaler technique reviewed and corrected.",
    "Sick day rules for diabetes medication explained.",
    "Written information leaflet provided.",
    "Patient agrees with the plan and understands the reasons for it.",
    "Reviewed over video with the nurse at the far end of the telemedicine cart.",
    "Stethoscope stream reviewed with the nurse; sounds clear throughout.",
)
# fmt: on


# Subjective and Plan run longest in real notes.
_SECTION_CUM_WEIGHTS = tuple(itertools.accumulate((4.0, 3.0, 1.5, 3.0)))


def _zipf_cum_weights(n: int, s: float = 0.9) -> list[float]:
    # Clinical vocabulary is skewed: a few conditions and drugs fill most notes.
    # Cumulative, so random.choices need not re-add the weights on every pick.
    return list(itertools.accumulate(1.0 / (rank + 1) ** s for rank in range(n)))


class NoteWriter:
    """Deterministic SOAP notes of ~1-2 KB from the vocabulary above."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._w_sym = _zipf_cum_weights(len(_SYMPTOMS))
        self._w_cond = _zipf_cum_weights(len(_CONDITIONS))
        self._w_drug = _zipf_cum_weights(len(_DRUGS))
        self._w_find = _zipf_cum_weights(len(_FINDINGS))
        self._w_test = _zipf_cum_weights(len(_TESTS))
        self._templates: dict[str, tuple[Callable[[], str], ...]] = {
            "Subjective": self._subjective(),
            "Objective": self._objective(),
            "Assessment": self._assessment(),
            "Plan": self._plan(),
        }

    def _pick(self, items: Sequence[Any], weights: list[float]) -> Any:
        return self.rng.choices(items, cum_weights=weights)[0]

    def symptom(self) -> str:
        return str(self._pick(_SYMPTOMS, self._w_sym))

    def condition(self) -> str:
        return str(self._pick(_CONDITIONS, self._w_cond))

    def drug(self) -> str:
        name, dose = self._pick(_DRUGS, self._w_drug)
        return f"{name} {dose} {self.rng.choice(_FREQUENCIES)}"

    def finding(self) -> str:
        return str(self._pick(_FINDINGS, self._w_find))

    def test(self) -> str:
        return str(self._pick(_TESTS, self._w_test))

    def sentence(self, section: str) -> str:
        # Pick a template first, then fill only that one (each fill draws from the rng).
        r = self.rng
        templates = self._templates[section]
        return templates[r.randrange(len(templates))]()

    def _subjective(self) -> tuple[Callable[[], str], ...]:
        r = self.rng
        return (
            lambda: f"Reports {self.symptom()} for {r.randint(2, 21)} days, {r.choice(_COURSE)}.",
            lambda: f"Also describes {self.symptom()} and {self.symptom()}.",
            lambda: f"Denies {self.symptom()}, {self.symptom()} or {self.symptom()}.",
            lambda: f"Known {self.condition()}; currently taking {self.drug()}.",
            lambda: (
                f"Taking {self.drug()} and {self.drug()}; adherence "
                f"{r.choice(('good', 'variable', 'poor'))}."
            ),
            lambda: f"Previous history of {self.condition()}.",
            lambda: (
                f"Sleep {r.choice(('poor', 'fair', 'good'))}, appetite "
                f"{r.choice(('reduced', 'normal'))}."
            ),
        )

    def _objective(self) -> tuple[Callable[[], str], ...]:
        r = self.rng
        return (
            lambda: (
                f"BP {r.randint(105, 175)}/{r.randint(60, 105)} mmHg, "
                f"HR {r.randint(52, 118)} bpm, RR {r.randint(12, 24)}, "
                f"SpO2 {r.randint(91, 100)}% on room air, "
                f"temperature {r.randint(360, 391) / 10:.1f} C."
            ),
            lambda: f"On examination {self.finding()}; {self.finding()}.",
            lambda: f"Exam camera still shows {self.finding()}.",
            lambda: (
                f"Weight {r.randint(48, 130)} kg, {r.choice(('up', 'down'))} "
                f"{r.randint(1, 40) / 10:.1f} kg since the last visit."
            ),
            lambda: (
                f"Recent {self.test()} "
                f"{r.choice(('within normal limits', 'mildly abnormal', 'pending'))}."
            ),
        )

    def _assessment(self) -> tuple[Callable[[], str], ...]:
        r = self.rng
        return (
            lambda: f"{self.condition().capitalize()}, {r.choice(_STATUS)}.",
            lambda: f"Differential includes {self.condition()} and {self.condition()}.",
            lambda: f"Symptoms consistent with {self.condition()}.",
        )

    def _plan(self) -> tuple[Callable[[], str], ...]:
        r = self.rng
        return (
            lambda: f"Start {self.drug()}.",
            lambda: f"Continue {self.drug()}.",
            lambda: f"Stop {self.drug().split(' ')[0]} because of side effects.",
            lambda: f"Request {self.test()} and {self.test()}.",
            lambda: f"Follow up in {r.randint(1, 12)} weeks by video visit.",
            lambda: f"Refer to {r.choice(_SERVICES)}.",
            lambda: r.choice(_ADVICE),
        )

    def note(self) -> str:
        sections = {name: [self.sentence(name)] for name in soap.SECTIONS}
        target = self.rng.randint(1000, 2000)
        length = len(soap.compose({k: " ".join(v) for k, v in sections.items()}))
        while length < target:
            name = self.rng.choices(soap.SECTIONS, cum_weights=_SECTION_CUM_WEIGHTS)[0]
            addition = self.sentence(name)
            sections[name].append(addition)
            length += len(addition) + 1
        return soap.compose({k: " ".join(v) for k, v in sections.items()})

    def typed_words(self) -> str:
        """What a clinician types between two autosaves (debounced: a few words)."""
        words = self.sentence(self.rng.choice(soap.SECTIONS)).split(" ")
        return " " + " ".join(words[: self.rng.randint(2, 6)])

    def query(self) -> str:
        """A 1-2 word search, as typed into the search box: a whole word, a prefix, or a pair."""
        r = self.rng
        pool = (_SYMPTOMS, _CONDITIONS, tuple(d for d, _ in _DRUGS), _FINDINGS, _TESTS)
        term = str(r.choice(r.choice(pool)))
        words = [
            w
            for w in term.replace("-", " ").split(" ")
            if len(w) >= 3 and w.isalpha() and w.lower() not in _STOPWORDS
        ]
        if not words:
            words = [term.split(" ", maxsplit=1)[0]]
        kind = r.random()
        if kind < 0.4:
            return r.choice(words)
        if kind < 0.7:
            word = r.choice(words)
            return word[: r.randint(min(3, len(word)), min(6, len(word)))]
        if len(words) >= 2:
            start = r.randrange(len(words) - 1)
            return f"{words[start]} {words[start + 1]}"
        word = words[0]
        return word[: r.randint(min(3, len(word)), min(6, len(word)))]


@dataclass(frozen=True)
class Corpus:
    patients: list[Patient]
    encounters: list[Encounter]
    notes: list[tuple[str, str, str]]  # (note id, text, created_at); note i belongs to encounter i

    @property
    def note_chars(self) -> list[int]:
        return [len(text) for _, text, _ in self.notes]


def build_corpus(n_notes: int, seed: int, ids: str = "uuid4") -> Corpus:
    """Generated up front so neither side's insert time includes text generation."""
    rng = random.Random(seed)
    writer = NoteWriter(rng)
    n_patients = max(1, n_notes // NOTES_PER_PATIENT)
    t0 = datetime(2023, 1, 2, 8, 0, tzinfo=UTC)
    span_s = 3 * 365 * 24 * 3600  # three years of visits, oldest first
    make_id = _uuid7 if ids == "uuid7" else _uuid4
    patients = [
        Patient(
            make_id(rng, t0),
            f"Family{i:05d}",
            f"Given{i % 997:03d}",
            f"{rng.randint(1930, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            rng.choice(("female", "male", "other", "unknown")),
            mrn=f"BENCH-{i:06d}",
            updated_at=t0.isoformat(timespec="milliseconds"),
        )
        for i in range(n_patients)
    ]
    encounters: list[Encounter] = []
    notes: list[tuple[str, str, str]] = []
    for i in range(n_notes):
        moment = t0 + timedelta(seconds=span_s * i // max(1, n_notes))
        when = moment.isoformat(timespec="milliseconds")
        encounters.append(
            Encounter(
                make_id(rng, moment),
                patients[rng.randrange(n_patients)].id,
                when,
                "finished",
                "VR",
                "",
                when,
            )
        )
        notes.append((make_id(rng, moment), writer.note(), when))
    return Corpus(patients, encounters, notes)


def _uuid4(rng: random.Random, _when: datetime) -> str:
    # Same shape as app.records.new_id (random UUID4), but reproducible from the seed.
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _uuid7(rng: random.Random, when: datetime) -> str:
    # RFC 9562 UUIDv7: 48-bit Unix milliseconds first, so ids made in time order sort in it.
    h = f"{int(when.timestamp() * 1000):012x}{rng.getrandbits(80):020x}"
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-a{h[17:20]}-{h[20:32]}"


# --- configuration -----------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    notes: int
    quick: bool
    seed: int
    batch: int
    autosaves: int
    searches: int
    ids: str  # "uuid4" | "uuid7": the shape of the record ids in the corpus
    pragmas: tuple[str, ...]  # storage.database.PRAGMAS plus --pragma
    cipher_pragmas: tuple[str, ...]  # storage.database.CIPHER_PRAGMAS plus --cipher-pragma
    cipher_page_size: int | None = None
    search_order: str = "shipped"
    fts_after_load: str = "none"
    schema_variant: str = "shipped"
    idle_checkpoint_every: int = 0
    workdir: Path | None = None


def app_id_kind() -> str:
    """Which ids the console makes today (app.records.new_id), so the corpus matches them."""
    return "uuid7" if uuid.UUID(new_id()).version == 7 else "uuid4"


def parse_config(argv: Sequence[str] | None) -> Config:
    parser = _common.base_parser(BENCH, "Encrypted store: autosave, bulk insert, search.")
    parser.add_argument("--seed", type=int, default=1, help="corpus and query seed")
    parser.add_argument(
        "--batch",
        type=int,
        default=500,
        help="notes per transaction in the bulk load (default 500)",
    )
    tuning = parser.add_argument_group(
        "tuning",
        "measure a proposed storage change without editing storage/ (docs/storage-tuning.md)",
    )
    tuning.add_argument(
        "--pragma",
        action="append",
        default=[],
        metavar="SQL",
        help="extra pragma after storage.database.PRAGMAS, on both databases "
        "(e.g. 'PRAGMA cache_size = -65536'); repeatable",
    )
    tuning.add_argument(
        "--cipher-pragma",
        action="append",
        default=[],
        metavar="SQL",
        help="extra SQLCipher pragma after storage.database.CIPHER_PRAGMAS "
        "(e.g. 'PRAGMA cipher_hmac_algorithm = HMAC_SHA256'); repeatable",
    )
    tuning.add_argument(
        "--cipher-page-size",
        type=int,
        default=None,
        help="SQLCipher cipher_page_size (and page_size on the reference)",
    )
    tuning.add_argument(
        "--ids",
        choices=("app", *ID_KINDS),
        default="app",
        help="record ids: app (whatever app.records.new_id makes; default), "
        "uuid4 (random) or uuid7 (time-ordered, RFC 9562)",
    )
    tuning.add_argument(
        "--schema-variant",
        choices=SCHEMA_VARIANTS,
        default="shipped",
        help="versions-rowid: note_versions as a rowid table with a UNIQUE "
        "(note_id, version) index instead of WITHOUT ROWID",
    )
    tuning.add_argument(
        "--search-order",
        choices=SEARCH_ORDERS,
        default="shipped",
        help="shipped: repository.search_notes as is; rank / rowid: its SQL "
        "with ORDER BY rank / ORDER BY notes_fts.rowid DESC (newest first)",
    )
    tuning.add_argument(
        "--fts-after-load",
        choices=FTS_AFTER_LOAD,
        default="none",
        help="FTS5 'optimize' after the bulk load (timed on both sides)",
    )
    tuning.add_argument(
        "--idle-checkpoint-every",
        type=int,
        default=0,
        metavar="N",
        help="after every N autosaves, an untimed PASSIVE WAL checkpoint from "
        "a second connection, as an idle-time checkpointer would do "
        "(pair with --pragma 'PRAGMA wal_autocheckpoint = ...')",
    )
    # Hidden: tiny runs for tests, and keeping the stores for a look afterwards.
    parser.add_argument("--notes", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--autosaves", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--searches", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    notes = args.notes if args.notes is not None else (QUICK_NOTES if args.quick else FULL_NOTES)
    autosaves = args.autosaves if args.autosaves is not None else (500 if args.quick else 2000)
    searches = args.searches if args.searches is not None else (200 if args.quick else 500)
    if min(notes, args.batch, autosaves, searches) < 1 or args.idle_checkpoint_every < 0:
        parser.error("counts must be positive")
    cipher_pragmas = (*database.CIPHER_PRAGMAS, *args.cipher_pragma)
    if args.cipher_page_size is not None:
        cipher_pragmas = (*cipher_pragmas, f"PRAGMA cipher_page_size = {args.cipher_page_size}")
    return Config(
        notes=notes,
        quick=args.quick,
        seed=args.seed,
        batch=args.batch,
        autosaves=autosaves,
        searches=searches,
        ids=app_id_kind() if args.ids == "app" else args.ids,
        pragmas=(*database.PRAGMAS, *args.pragma),
        cipher_pragmas=cipher_pragmas,
        cipher_page_size=args.cipher_page_size,
        search_order=args.search_order,
        fts_after_load=args.fts_after_load,
        schema_variant=args.schema_variant,
        idle_checkpoint_every=args.idle_checkpoint_every,
        workdir=args.workdir,
    )


@contextlib.contextmanager
def _patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    """Run the real storage code with a proposed setting swapped in, then put it back."""
    original = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, original)


@contextlib.contextmanager
def tuned(cfg: Config) -> Iterator[None]:
    # storage.database.connect reads both tuples when it runs, so the store, its worker
    # and the bench's own connections all open with the same settings.
    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(database, "PRAGMAS", cfg.pragmas))
        stack.enter_context(_patched(database, "CIPHER_PRAGMAS", cfg.cipher_pragmas))
        if cfg.search_order != "shipped":
            stack.enter_context(
                _patched(repository, "search_notes", _search_variant(cfg.search_order))
            )
        yield


def _search_variant(order: str) -> Callable[[Any, str, int], list[SearchHit]]:
    """repository.search_notes' SQL with another ORDER BY (a proposal, measured here)."""
    order_by = {"rank": "rank", "rowid": "notes_fts.rowid DESC"}[order]

    def search_notes(conn: Any, user_text: str, limit: int) -> list[SearchHit]:
        query = repository.fts_query(user_text)
        if query is None:
            return []
        rows = conn.execute(
            "SELECT n.id, n.encounter_id, e.patient_id, p.family_name, p.given_name, "
            "snippet(notes_fts, 0, '[[', ']]', '…', 16), n.updated_at "
            "FROM notes_fts JOIN notes n ON n.rowid = notes_fts.rowid "
            "JOIN encounters e ON e.id = n.encounter_id JOIN patients p ON p.id = e.patient_id "
            f"WHERE notes_fts MATCH ? ORDER BY {order_by} LIMIT ?",
            (query, max(1, min(limit, 500))),
        ).fetchall()
        return [
            SearchHit(str(r[0]), str(r[1]), str(r[2]), f"{r[3]}, {r[4]}", str(r[5]), str(r[6]))
            for r in rows
        ]

    return search_notes


# What --schema-variant versions-rowid would be as a v4 migration (applied to the empty
# table right after migrate(), on both databases; user_version stays 3).
_VERSIONS_ROWID = (
    "DROP TABLE note_versions",
    "CREATE TABLE note_versions (note_id TEXT NOT NULL REFERENCES notes(id), "
    "version INTEGER NOT NULL, text TEXT NOT NULL, saved_at TEXT NOT NULL, "
    "author TEXT NOT NULL DEFAULT '', UNIQUE (note_id, version))",
)


def apply_schema_variant(conn: Any, variant: str) -> None:
    if variant == "shipped":
        return
    with repository.transaction(conn):
        for statement in _VERSIONS_ROWID:
            conn.execute(statement)


# --- the bulk load (one code path for both databases) --------------------------------


Step = Callable[[Any], None]  # one transaction of the bulk load, run on a connection


def load_steps(corpus: Corpus, batch: int, fts_after_load: str) -> list[Step]:
    """Patients, then encounters with their notes, ``batch`` records per transaction."""
    steps: list[Step] = []

    def patients(start: int) -> Step:
        def step(conn: Any) -> None:
            with repository.transaction(conn):
                for patient in corpus.patients[start : start + batch]:
                    repository.insert_patient(conn, ACTOR, patient)

        return step

    def notes(start: int) -> Step:
        def step(conn: Any) -> None:
            with repository.transaction(conn):
                for i in range(start, min(start + batch, len(corpus.notes))):
                    encounter = corpus.encounters[i]
                    note_id, text, when = corpus.notes[i]
                    repository.insert_encounter(conn, ACTOR, encounter)
                    repository.create_note(
                        conn,
                        ACTOR,
                        encounter.id,
                        text,
                        NoteType.PROGRESS,
                        note_id=note_id,
                        when=when,
                    )

        return step

    steps.extend(patients(start) for start in range(0, len(corpus.patients), batch))
    steps.extend(notes(start) for start in range(0, len(corpus.notes), batch))
    if fts_after_load == "optimize":
        steps.append(
            lambda conn: conn.execute("INSERT INTO notes_fts(notes_fts) VALUES ('optimize')")
        )
    return steps


@dataclass
class LoadTimes:
    wall_s: float = 0.0
    cpu_s: float = 0.0  # this thread's CPU time: what other processes on the machine do not skew


def interleaved_load(ours: Any, ref: Any, steps: Sequence[Step]) -> tuple[LoadTimes, LoadTimes]:
    """Run each transaction on both databases in turn (ABBA order), timing each side.

    Interleaving keeps both databases the same size at every step and exposes both
    to the same background load: on a busy shared machine two back-to-back runs of
    the same load differed by 2x, the interleaved ratio by a few percent.
    """
    times = {"ours": LoadTimes(), "ref": LoadTimes()}
    conns = {"ours": ours, "ref": ref}
    for index, step in enumerate(steps):
        order = ("ref", "ours") if index % 2 == 0 else ("ours", "ref")
        for side in order:
            wall0, cpu0 = time.perf_counter(), time.thread_time()
            step(conns[side])
            times[side].wall_s += time.perf_counter() - wall0
            times[side].cpu_s += time.thread_time() - cpu0
    return times["ours"], times["ref"]


class _ReferenceConnection(sqlite3.Connection):
    """Carries an audit MAC key like the store's connections, so both sides chain alike."""

    audit_key: bytes | None = None


def reference_connect(path: Path, cfg: Config) -> sqlite3.Connection:
    """Plain stdlib sqlite3 set up exactly like storage.database.connect, minus the cipher."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=True, factory=_ReferenceConnection
    )
    conn.audit_key = b"\x01" * 32  # same HMAC work per entry as the store's keyed chain
    if cfg.cipher_page_size is not None:
        conn.execute(f"PRAGMA page_size = {cfg.cipher_page_size}")  # before the first write
    for pragma in cfg.pragmas:
        conn.execute(pragma)
    migrations.migrate(conn)
    apply_schema_variant(conn, cfg.schema_variant)
    return conn


def store_key(profile: Path) -> StoreKey:
    meta = keys.read_meta(profile)
    assert meta is not None
    return keys.load_passphrase_key(meta, PASSPHRASE)


def connect_store(profile: Path) -> Any:
    """The store's database on a second connection, with its audit key, as the store opens it."""
    key = store_key(profile)
    conn = database.connect(profile / DB_FILE, key, create=False)
    conn.audit_key = keys.audit_mac_key_from_passphrase(key)
    return conn


def create_store(profile: Path) -> None:
    """A new store exactly as the console makes one (passphrase mode: no keyring needed)."""

    async def create() -> None:
        store = await EncryptedStore.open(
            profile, key_source=KeySource.PASSPHRASE, passphrase=PASSPHRASE, actor=ACTOR
        )
        await store.close()

    asyncio.run(create())


def time_inserts(
    profile: Path, ref_path: Path, corpus: Corpus, cfg: Config
) -> tuple[LoadTimes, LoadTimes]:
    create_store(profile)
    # connect() derives the key (SQLCipher's KDF) before returning: not in the timing.
    ours = connect_store(profile)
    apply_schema_variant(ours, cfg.schema_variant)
    ref = reference_connect(ref_path, cfg)
    try:
        return interleaved_load(ours, ref, load_steps(corpus, cfg.batch, cfg.fts_after_load))
    finally:
        ref.close()
        ours.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        ours.close()


# --- autosave and search through the real async path ---------------------------------


@dataclass
class LiveFigures:
    autosave_s: list[float]
    search_s: list[float]
    search_hits: list[int]
    open_s: float


async def measure_live(profile: Path, corpus: Corpus, cfg: Config) -> LiveFigures:
    rng = random.Random(cfg.seed + 1)
    writer = NoteWriter(rng)
    checkpointer: Any = None
    if cfg.idle_checkpoint_every:
        checkpointer = connect_store(profile)
    started = time.perf_counter()
    store = await EncryptedStore.open(
        profile, key_source=KeySource.PASSPHRASE, passphrase=PASSPHRASE, actor=ACTOR
    )
    open_s = time.perf_counter() - started
    try:
        # A clinician edits a handful of notes for a while each; every autosave sends the
        # whole text, a few words longer than the last (the editor debounces keystrokes).
        n_targets = min(len(corpus.notes), max(1, cfg.autosaves // 100))
        targets = [corpus.notes[i][0] for i in rng.sample(range(len(corpus.notes)), n_targets)]
        autosave_s: list[float] = []
        for index, note_id in enumerate(targets):
            note = await store.open_note(note_id)
            text = note.text
            saves = cfg.autosaves // n_targets + (1 if index < cfg.autosaves % n_targets else 0)
            for _ in range(saves):
                text += writer.typed_words()
                t0 = time.perf_counter()
                await store.save_note_text(note_id, text)
                autosave_s.append(time.perf_counter() - t0)
                if checkpointer is not None and len(autosave_s) % cfg.idle_checkpoint_every == 0:
                    checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        search_s: list[float] = []
        hits: list[int] = []
        for _ in range(cfg.searches):
            query = writer.query()
            t0 = time.perf_counter()
            found = await store.search_notes(query, SEARCH_LIMIT)
            search_s.append(time.perf_counter() - t0)
            hits.append(len(found))
    finally:
        await store.close()
        if checkpointer is not None:
            checkpointer.close()
    return LiveFigures(autosave_s, search_s, hits, open_s)


# --- the run -------------------------------------------------------------------------


def measure(cfg: Config) -> _common.BenchResult:
    with contextlib.ExitStack() as stack:
        if cfg.workdir is not None:
            root = cfg.workdir
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-store-")))
        stack.enter_context(tuned(cfg))
        return _measure_in(root, cfg)


def _measure_in(root: Path, cfg: Config) -> _common.BenchResult:
    started = time.perf_counter()
    _common.log(f"generating {cfg.notes:,} notes (seed {cfg.seed}, {cfg.ids} ids)")
    corpus = build_corpus(cfg.notes, cfg.seed, cfg.ids)
    chars = corpus.note_chars

    _common.log("bulk load, interleaved: encrypted store and plain sqlite3 reference")
    profile = root / "profile"
    ref_path = root / "reference.db"
    ours_t, ref_t = time_inserts(profile, ref_path, corpus, cfg)
    _common.log(f"  ours {ours_t.wall_s:.2f} s, reference {ref_t.wall_s:.2f} s")
    db_bytes = (profile / DB_FILE).stat().st_size
    ref_bytes = ref_path.stat().st_size
    # The reference file is no longer needed; drop it so the live phase has the page cache.
    for suffix in ("", "-wal", "-shm"):
        ref_path.with_name(ref_path.name + suffix).unlink(missing_ok=True)

    _common.log(f"autosave x{cfg.autosaves} and search x{cfg.searches} through EncryptedStore")
    live = asyncio.run(measure_live(profile, corpus, cfg))
    autosave = _common.latency_summary_ms(live.autosave_s)
    search = _common.latency_summary_ms(live.search_s)

    insert_ratio = _common.ratio(ours_t.wall_s, ref_t.wall_s)
    budget_ok = {
        "autosave_p99": autosave["p99_ms"] <= AUTOSAVE_P99_BUDGET_MS,
        "insert_ratio": insert_ratio is not None and insert_ratio <= INSERT_RATIO_BUDGET,
        "search_p95": search["p95_ms"] <= SEARCH_P95_BUDGET_MS,
        # The budgets are stated for 100k notes: a smaller run says so here.
        "at_budget_size": cfg.notes >= BUDGET_NOTES,
    }
    params: dict[str, Any] = {
        "mode": "quick" if cfg.quick else ("full" if cfg.notes == FULL_NOTES else "custom"),
        "notes": cfg.notes,
        "patients": len(corpus.patients),
        "encounters": len(corpus.encounters),
        "note_chars_mean": round(sum(chars) / len(chars), 1),
        "note_chars_min": min(chars),
        "note_chars_max": max(chars),
        "seed": cfg.seed,
        "ids": cfg.ids,
        "batch_notes_per_transaction": cfg.batch,
        "autosaves": cfg.autosaves,
        "searches": cfg.searches,
        "search_limit": SEARCH_LIMIT,
        "search_order": cfg.search_order,
        "schema_variant": cfg.schema_variant,
        "fts_after_load": cfg.fts_after_load,
        "idle_checkpoint_every": cfg.idle_checkpoint_every,
        "pragmas": list(cfg.pragmas),
        "cipher_pragmas": list(cfg.cipher_pragmas),
        "cipher_page_size": cfg.cipher_page_size or _cipher_setting("cipher_default_page_size"),
        "cipher_hmac": _cipher_setting("cipher_default_hmac_algorithm"),
        "key": "passphrase (SQLCipher PBKDF2-HMAC-SHA512, once per open, not timed)",
        "sqlcipher": database.sqlcipher_version(),
        "sqlcipher_sqlite": database.sqlite_version(),
        "reference_sqlite": sqlite3.sqlite_version,
        "budgets": {
            "autosave_p99_ms": AUTOSAVE_P99_BUDGET_MS,
            "insert_ratio": INSERT_RATIO_BUDGET,
            "search_p95_ms": SEARCH_P95_BUDGET_MS,
            "at_notes": BUDGET_NOTES,
        },
        **_common.machine_params(),
    }
    metrics: dict[str, Any] = {
        "insert_s": round(ours_t.wall_s, 3),
        "insert_cpu_s": round(ours_t.cpu_s, 3),
        "insert_notes_per_s": round(cfg.notes / ours_t.wall_s, 1),
        "autosave_p50_ms": autosave["p50_ms"],
        "autosave_p99_ms": autosave["p99_ms"],
        "autosave": autosave,
        "search_p95_ms": search["p95_ms"],
        "search": search,
        "search_hits_mean": round(sum(live.search_hits) / len(live.search_hits), 1),
        "store_open_s": round(live.open_s, 3),
        "db_bytes": db_bytes,
        "budget_ok": budget_ok,
        "bench_wall_s": round(time.perf_counter() - started, 1),
    }
    reference: dict[str, Any] = {
        "insert_s": round(ref_t.wall_s, 3),
        "insert_cpu_s": round(ref_t.cpu_s, 3),
        "insert_notes_per_s": round(cfg.notes / ref_t.wall_s, 1),
        "db_bytes": ref_bytes,
    }
    ratios = {"insert": insert_ratio, "insert_cpu": _common.ratio(ours_t.cpu_s, ref_t.cpu_s)}
    return _common.BenchResult(params, metrics, reference, ratios)


def _cipher_setting(pragma: str) -> str:
    conn = database._driver().connect(":memory:")
    try:
        return str(conn.execute(f"PRAGMA {pragma}").fetchone()[0])
    finally:
        conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_config(argv)
    return _common.run(BENCH, lambda: measure(cfg))


if __name__ == "__main__":
    raise SystemExit(main())
