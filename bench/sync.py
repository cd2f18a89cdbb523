"""Sync drain benchmark: an offline day's outbox pushed to a real FHIR server (SEKMET or Medplum).

``python -m bench.sync [--quick]`` prints one JSON object (DESIGN.md §3, budget in §6:
"sync drain, 1,000 notes + 50 images", ratio <= 0.2 against one request per resource,
zero duplicates).

Each arm gets its own SEKMET (fresh data directory, free loopback port, no auth,
simulator and inbound logging off), started and warmed up by one throwaway write
each way (its first write costs ~0.2 s extra) before its clock starts:

- **ours**: a passphrase-mode ``EncryptedStore`` seeded with patients, encounters and
  notes (outbox order as a clinician makes them: patient, encounter, its notes), drained
  by the real ``SyncEngine.push`` over ``FhirClient`` (conditional creates in
  transaction Bundles of ``batch_size``), then the images via ``FhirClient.create_binary``.
- **reference**: the same records, already in memory and mapped with the same
  ``storage.fhir.mapping`` functions, each sent as its own conditional-create ``POST``
  (``If-None-Exist: identifier=...``) over one keep-alive httpx client, one after the
  other; then the same images, one ``POST [base]/Binary`` each.

**Images are stills as the product ships them**: image attachments in the store
(JPEG magic then random bytes, fixed seed), sent by the same ``SyncEngine.push`` as
the notes (one transaction each: Binary + conditional Media). The reference sends each
still as one ``POST Binary`` and one conditional ``POST Media`` (one request per
resource). ``notes_s`` is the push up to the last record's acknowledgement,
``images_s`` the rest of it.

``--server medplum`` runs both arms against Medplum's router (tests/integration/
medplum.py) instead of SEKMET. After each drain the server is checked: ``duplicates``
(identifiers held twice), ``missing`` and ``lost_edits`` (notes whose server text is
not the local text).

Requests and bytes are counted by a transport wrapper under the HTTP client
(``FhirClient(transport=...)``); bytes are request bodies plus an HTTP/1.1 head
estimate. ``duplicates`` counts, after the drain, identifiers (``urn:ietf:rfc:3986``)
held by more than one server resource; ``missing`` counts records that did not arrive.

The follow-up pull that ``SyncEngine.sync_once`` makes after a push is timed apart
(``metrics.pull_s``): it is not part of the drain, but it is what the app pays next.
The machine is shared and loopback timings wander (the reference's per-request cost
moved between 5 and 13 ms from run to run here), so each figure is the median of
``--repeat`` rounds, the arms alternating which goes first. ``--batch-sizes`` sweeps
``SyncEngine(batch_size=...)``; ``--profile N`` profiles one extra, unmeasured push.
docs/sync-benchmark.md has the findings.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import cProfile
import hashlib
import inspect
import io
import json
import pstats
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from app.records import Attachment, AttachmentKind, Encounter, KeySource, Note, NoteType, Patient
from bench import _common
from bench.store import NoteWriter
from storage import repository
from storage.fhir import mapping, media_mapping
from storage.fhir.client import FHIR_JSON, FhirClient
from storage.store import EncryptedStore
from storage.sync import queue
from storage.sync.engine import IDENTIFIER_SYSTEM, SyncEngine, SyncReport

if TYPE_CHECKING:
    from tests.integration.medplum import MedplumServer
    from tests.integration.sekmet import SekmetServer

BENCH = "sync"
PASSPHRASE = "bench-sync-passphrase"  # a throwaway store in a temp dir; not a secret

# Budget (DESIGN.md §6).
RATIO_BUDGET = 0.2
BUDGET_NOTES = 1_000
BUDGET_IMAGES = 50

FULL_NOTES, FULL_IMAGES = BUDGET_NOTES, BUDGET_IMAGES
QUICK_NOTES, QUICK_IMAGES = 200, 5
FULL_REPEAT, QUICK_REPEAT = 3, 3
IMAGE_BYTES = 1_000_000
IMAGE_CONTENT_TYPE = "image/jpeg"  # the bytes are random; the type is what a camera sends
NOTES_PER_ENCOUNTER = 4
ENCOUNTERS_PER_PATIENT = 5
#: The engine's own default, read from it so the bench follows a change there.
DEFAULT_BATCH = int(inspect.signature(SyncEngine).parameters["batch_size"].default)
HTTP_TIMEOUT_S = 120.0
IDENTIFIED_TYPES = ("Patient", "Encounter", "DocumentReference", "Media")
JPEG_MAGIC = b"\xff\xd8\xff"


# --- configuration -------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    notes: int
    images: int
    image_bytes: int
    batch_size: int
    notes_per_encounter: int
    encounters_per_patient: int
    seed: int
    quick: bool
    batch_sizes: tuple[int, ...]  # extra push-only runs, one fresh server each
    profile: int  # top-N cProfile rows of an extra, unmeasured push; 0 = off
    repeat: int  # rounds of (ours, reference); figures are medians
    pull: bool
    prefer: str  # tuning: Prefer header on our requests; "" = as FhirClient sends it
    images_via: str  # kept for the command line; the shipped path is the engine's
    server: str  # "sekmet" | "medplum"


def parse_config(argv: Sequence[str] | None) -> Config:
    parser = _common.base_parser(BENCH, "Sync drain to a real FHIR server vs one request each.")
    parser.add_argument("--seed", type=int, default=1, help="records and image bytes seed")
    parser.add_argument(
        "--server",
        choices=("sekmet", "medplum"),
        default="sekmet",
        help="the FHIR server both arms drain to (a fresh one per arm and round)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH,
        help=f"SyncEngine(batch_size=...) for the measured run (default {DEFAULT_BATCH}, "
        "the engine's own default)",
    )
    parser.add_argument(
        "--image-bytes",
        type=int,
        default=IMAGE_BYTES,
        help=f"bytes per image before base64 (default {IMAGE_BYTES:,})",
    )
    parser.add_argument(
        "--notes-per-encounter", type=int, default=NOTES_PER_ENCOUNTER, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--encounters-per-patient",
        type=int,
        default=ENCOUNTERS_PER_PATIENT,
        help=argparse.SUPPRESS,
    )
    tuning = parser.add_argument_group("tuning", "where the time goes (docs/sync-benchmark.md)")
    tuning.add_argument(
        "--batch-sizes",
        default="",
        metavar="N,N,...",
        help="also drain the notes with each of these batch sizes (fresh server each, "
        "notes only); reported under metrics.batch_sweep",
    )
    tuning.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after the measured rounds, profile one more push (notes only, not in the "
        "figures) and print its top N cProfile entries (cumulative) to stderr",
    )
    tuning.add_argument(
        "--prefer",
        choices=("as-sent", "minimal"),
        default="as-sent",
        help="minimal: our requests (bundles and images) ask for Prefer: return=minimal "
        "instead of FhirClient's return=representation (rewritten under the client)",
    )
    tuning.add_argument(
        "--images-via",
        choices=("create_binary", "update"),
        default="create_binary",
        help="update: our images go as PUT Binary/<client-assigned id> (FhirClient.update), "
        "which a retry cannot duplicate; create_binary (default) is POST [base]/Binary",
    )
    tuning.add_argument(
        "--no-pull",
        action="store_true",
        help="skip the timed follow-up pull after our drain",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help=f"rounds of (ours, reference), fresh servers each; figures are medians "
        f"(default {FULL_REPEAT}, {QUICK_REPEAT} with --quick)",
    )
    # Hidden: tiny runs for tests.
    parser.add_argument("--notes", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    notes = args.notes if args.notes is not None else (QUICK_NOTES if args.quick else FULL_NOTES)
    images = (
        args.images if args.images is not None else (QUICK_IMAGES if args.quick else FULL_IMAGES)
    )
    repeat = (
        args.repeat if args.repeat is not None else (QUICK_REPEAT if args.quick else FULL_REPEAT)
    )
    try:
        sweep = tuple(int(v) for v in args.batch_sizes.split(",") if v.strip())
    except ValueError:
        parser.error("--batch-sizes takes comma-separated integers")
    if (
        min(notes, repeat, args.batch_size, args.notes_per_encounter, args.encounters_per_patient)
        < 1
    ):
        parser.error("counts must be positive")
    if images < 0 or args.image_bytes < 1 or any(b < 1 for b in sweep) or args.profile < 0:
        parser.error("counts must be positive")
    return Config(
        notes=notes,
        images=images,
        image_bytes=args.image_bytes,
        batch_size=args.batch_size,
        notes_per_encounter=args.notes_per_encounter,
        encounters_per_patient=args.encounters_per_patient,
        seed=args.seed,
        quick=args.quick,
        batch_sizes=sweep,
        profile=args.profile,
        pull=not args.no_pull,
        repeat=repeat,
        prefer="" if args.prefer == "as-sent" else "return=minimal",
        images_via=args.images_via,
        server=args.server,
    )


# --- the data ------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """Records in outbox order (patient, its encounters, their notes) and the image bytes."""

    patients: list[Patient]
    encounters: list[Encounter]
    notes: list[Note]
    order: list[Patient | Encounter | Note]
    patient_of_encounter: dict[str, str]
    images: list[bytes]
    image_ids: list[str]  # the stills' attachment ids
    attachments: list[Attachment]

    @property
    def records(self) -> int:
        return len(self.order)

    def identifiers(self) -> dict[str, set[str]]:
        return {
            "Patient": {p.id for p in self.patients},
            "Encounter": {e.id for e in self.encounters},
            "DocumentReference": {n.id for n in self.notes},
            "Media": set(self.image_ids),
        }


def _uuid4(rng: random.Random) -> str:
    # Same shape as app.records.new_id, but reproducible from the seed.
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def build_dataset(cfg: Config) -> Dataset:
    rng = random.Random(cfg.seed)
    writer = NoteWriter(rng)
    t0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
    per_patient = cfg.notes_per_encounter * cfg.encounters_per_patient
    patients: list[Patient] = []
    encounters: list[Encounter] = []
    notes: list[Note] = []
    order: list[Patient | Encounter | Note] = []
    of_encounter: dict[str, str] = {}
    made = 0
    while made < cfg.notes:
        i = len(patients)
        when = (t0 + timedelta(minutes=7 * made)).isoformat(timespec="milliseconds")
        patient = Patient(
            _uuid4(rng),
            f"Family{i:05d}",
            f"Given{i % 997:03d}",
            f"{rng.randint(1930, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            rng.choice(("female", "male", "other", "unknown")),
            mrn=f"BENCH-{i:06d}",
            updated_at=when,
        )
        patients.append(patient)
        order.append(patient)
        for _ in range(min(cfg.encounters_per_patient, -(-(cfg.notes - made) // per_patient))):
            if made >= cfg.notes:
                break
            when = (t0 + timedelta(minutes=7 * made)).isoformat(timespec="milliseconds")
            enc = Encounter(_uuid4(rng), patient.id, when, "finished", "VR", "follow-up", when)
            encounters.append(enc)
            order.append(enc)
            of_encounter[enc.id] = patient.id
            for _ in range(min(cfg.notes_per_encounter, cfg.notes - made)):
                note = Note(_uuid4(rng), enc.id, writer.note(), 1, NoteType.PROGRESS.document_type)
                notes.append(note)
                order.append(note)
                made += 1
    images = [
        JPEG_MAGIC + rng.randbytes(cfg.image_bytes - len(JPEG_MAGIC)) for _ in range(cfg.images)
    ]
    image_ids = [_uuid4(rng) for _ in images]
    attachments = [
        Attachment(
            image_id,
            encounters[i % len(encounters)].id,
            AttachmentKind.IMAGE,
            IMAGE_CONTENT_TYPE,
            "Still",
            encounters[i % len(encounters)].start,
            len(blob),
            hashlib.sha256(blob).hexdigest(),
        )
        for i, (image_id, blob) in enumerate(zip(image_ids, images, strict=True))
    ]
    return Dataset(patients, encounters, notes, order, of_encounter, images, image_ids, attachments)


async def seed_store(profile: Path, data: Dataset) -> EncryptedStore:
    """A passphrase-mode store holding ``data`` with everything in the outbox (untimed)."""
    store = await EncryptedStore.open(
        profile, key_source=KeySource.PASSPHRASE, passphrase=PASSPHRASE
    )

    def load(conn: Any, actor: str) -> None:
        for record in data.order:
            if isinstance(record, Patient):
                repository.insert_patient(conn, actor, record)
            elif isinstance(record, Encounter):
                repository.insert_encounter(conn, actor, record)
            else:
                repository.create_note(
                    conn,
                    actor,
                    record.encounter_id,
                    record.text,
                    record.note_type,
                    note_id=record.id,
                    when=record.created_at,
                )

        for att, blob in zip(data.attachments, data.images, strict=True):
            repository.add_attachment(
                conn,
                actor,
                att.encounter_id,
                att.kind.value,
                att.content_type,
                blob,
                att.title,
                attachment_id=att.id,
                when=att.created_at,
            )

    await store.transact(load, store.actor)
    waiting = (await store.transact(queue.waiting))["waiting"]
    if waiting != data.records + len(data.images):
        raise RuntimeError(f"seeded outbox holds {waiting} rows, expected {data.records}")
    return store


# --- counting what goes over the wire ------------------------------------------------


@dataclass
class Traffic:
    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    #: Sum over requests of send -> last response byte: the server's work plus loopback.
    round_trip_s: float = 0.0

    def snapshot(self) -> Traffic:
        return Traffic(self.requests, self.bytes_sent, self.bytes_received, self.round_trip_s)

    def __add__(self, other: Traffic) -> Traffic:
        return Traffic(
            self.requests + other.requests,
            self.bytes_sent + other.bytes_sent,
            self.bytes_received + other.bytes_received,
            self.round_trip_s + other.round_trip_s,
        )

    def since(self, before: Traffic) -> Traffic:
        return Traffic(
            self.requests - before.requests,
            self.bytes_sent - before.bytes_sent,
            self.bytes_received - before.bytes_received,
            self.round_trip_s - before.round_trip_s,
        )


def _head_bytes(request: httpx.Request) -> int:
    """What h11 writes before the body: request line, headers, blank line."""
    target = request.url.raw_path
    size = len(request.method) + 1 + len(target) + len(b" HTTP/1.1\r\n") + 2
    for name, value in request.headers.raw:
        size += len(name) + 2 + len(value) + 2
    return size


class _CountingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, traffic: Traffic, started: float) -> None:
        self._inner = inner
        self._traffic = traffic
        self._started = started
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._traffic.bytes_received += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        if not self._done:
            self._done = True
            self._traffic.round_trip_s += time.perf_counter() - self._started
        await self._inner.aclose()


class CountingTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, counting requests, bytes and time on the wire."""

    def __init__(self, prefer: str = "") -> None:
        self.traffic = Traffic()
        #: Tuning: replaces the ``Prefer`` header of requests that send one.
        self.prefer = prefer
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.prefer and "prefer" in request.headers:
            request.headers["Prefer"] = self.prefer
        body = await request.aread()
        self.traffic.requests += 1
        self.traffic.bytes_sent += _head_bytes(request) + len(body)
        started = time.perf_counter()
        response = await self._inner.handle_async_request(request)
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CountingStream(stream, self.traffic, started),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


# --- the server ----------------------------------------------------------------------


@contextlib.contextmanager
def fresh_server(workdir: Path, kind: str = "sekmet") -> Iterator[SekmetServer | MedplumServer]:
    """SEKMET (own data directory) or Medplum (in memory) on a free loopback port, no auth
    (untimed)."""
    server: SekmetServer | MedplumServer
    if kind == "medplum":
        from tests.integration.medplum import MedplumServer, ensure_medplum_install

        server = MedplumServer(ensure_medplum_install(), workdir)
    else:
        from tests.integration.sekmet import SekmetServer, ensure_sekmet_venv

        server = SekmetServer(ensure_sekmet_venv(), workdir, {})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _encode(resource: dict[str, Any]) -> bytes:
    # As storage.fhir.client encodes request bodies.
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


WARMUP_SYSTEM = "https://example.org/clinician-console/bench-warmup"


async def warm_up(base_url: str) -> None:
    """One throwaway create each way, untimed: a fresh SEKMET's first write costs ~0.2 s more
    (lazy imports, cold caches) whichever way it comes, which is not what either arm does.
    Its identifier system is not ours, so the duplicate count never sees it."""

    def patient(tag: str) -> dict[str, Any]:
        return {
            "resourceType": "Patient",
            "identifier": [{"system": WARMUP_SYSTEM, "value": tag}],
            "name": [{"family": "Warmup"}],
        }

    headers = {"Content-Type": FHIR_JSON, "Prefer": "return=representation"}
    async with httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(), timeout=HTTP_TIMEOUT_S
    ) as http:
        single = await http.post(
            f"{base_url}/Patient",
            content=_encode(patient("single")),
            headers={**headers, "If-None-Exist": f"identifier={WARMUP_SYSTEM}|single"},
        )
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": "urn:uuid:00000000-0000-4000-a000-000000000000",
                    "resource": patient("bundle"),
                    "request": {
                        "method": "POST",
                        "url": "Patient",
                        "ifNoneExist": f"identifier={WARMUP_SYSTEM}|bundle",
                    },
                }
            ],
        }
        batch = await http.post(base_url, content=_encode(bundle), headers=headers)
    if single.status_code not in (200, 201) or batch.status_code != 200:
        raise RuntimeError(
            f"warm-up writes answered HTTP {single.status_code} / {batch.status_code}"
        )


@dataclass(frozen=True)
class ServerCheck:
    duplicates: int  # identifiers held by more than one resource
    missing: int  # records of the dataset the server does not hold
    binaries: int
    lost_edits: int = 0  # notes whose server text is not the console's text

    def as_dict(self) -> dict[str, int]:
        return {
            "duplicates": self.duplicates,
            "missing": self.missing,
            "binaries": self.binaries,
            "lost_edits": self.lost_edits,
        }


def _doc_text(resource: dict[str, Any]) -> str | None:
    try:
        return base64.b64decode(resource["content"][0]["attachment"]["data"]).decode()
    except (KeyError, IndexError, TypeError, ValueError):
        return None


async def check_server(
    base_url: str, data: Dataset, local_text: dict[str, str] | None = None
) -> ServerCheck:
    """Count the server's resources by our identifier after a drain, and compare each
    note's server text with the console's (``local_text``, else the dataset's)."""
    expected = data.identifiers()
    wanted = local_text if local_text is not None else {n.id: n.text for n in data.notes}
    duplicates = missing = lost = 0
    async with FhirClient(
        base_url, transport=httpx.AsyncHTTPTransport(), timeout=HTTP_TIMEOUT_S
    ) as client:
        for rtype in IDENTIFIED_TYPES:
            found: collections.Counter[str] = collections.Counter()
            async for resource in client.search(rtype, {"_count": "1000"}):
                for ident in resource.get("identifier", []) or []:
                    value = str(ident.get("value", ""))
                    if ident.get("system") == IDENTIFIER_SYSTEM and value.startswith("urn:uuid:"):
                        found[value[9:]] += 1
                        if rtype == "DocumentReference" and _doc_text(resource) != wanted.get(
                            value[9:]
                        ):
                            lost += 1
            duplicates += sum(1 for n in found.values() if n > 1)
            missing += len(expected[rtype] - set(found))
        binaries = 0
        try:
            async for _ in client.search("Binary", {"_count": "1000", "_elements": "id"}):
                binaries += 1
        except Exception:  # a server that cannot list Binary: not counted
            binaries = -1
    return ServerCheck(duplicates, missing, binaries, lost)


# --- ours ----------------------------------------------------------------------------


@dataclass
class OursRun:
    batch_size: int
    notes_s: float
    images_s: float
    notes_traffic: Traffic
    images_traffic: Traffic
    report: SyncReport
    check: ServerCheck
    pull_s: float | None = None
    pull_traffic: Traffic | None = None
    profile_text: str = ""

    @property
    def wall_s(self) -> float:
        return self.notes_s + self.images_s

    @property
    def traffic(self) -> Traffic:
        return self.notes_traffic + self.images_traffic


async def run_ours(
    root: Path,
    data: Dataset,
    cfg: Config,
    *,
    batch_size: int,
    images: bool = False,
    pull: bool = False,
    profile: int = 0,
) -> OursRun:
    store = await seed_store(root / "profile", data)
    try:
        with fresh_server(root / "server", cfg.server) as server:
            await warm_up(server.base_url)
            transport = CountingTransport(prefer=cfg.prefer)
            async with FhirClient(
                server.base_url, transport=transport, timeout=HTTP_TIMEOUT_S
            ) as client:
                engine = SyncEngine(store, batch_size=batch_size)
                report = SyncReport()
                profiler = cProfile.Profile() if profile else None
                # The product's push: records, then the stills (attachments go last).
                marks: dict[str, Any] = {}

                def progress(done: int, _total: int) -> None:
                    if done >= data.records and "notes" not in marks:
                        marks["notes"] = (time.perf_counter(), transport.traffic.snapshot())

                if not images:
                    await store.transact(
                        lambda conn: conn.execute(
                            "DELETE FROM outbox WHERE entity_type = 'attachment'"
                        )
                    )
                start = time.perf_counter()
                if profiler is not None:
                    profiler.enable()
                await engine.push(client, report, progress)
                if profiler is not None:
                    profiler.disable()
                end = time.perf_counter()
                notes_end, notes_traffic = marks.get("notes", (end, transport.traffic.snapshot()))
                notes_s = notes_end - start
                images_s = end - notes_end
                images_traffic = transport.traffic.since(notes_traffic)

                left = await store.transact(queue.waiting)
                expected = data.records + (len(data.images) if images else 0)
                if report.acknowledged != expected or report.failed or left["waiting"]:
                    raise RuntimeError(
                        f"our drain did not finish: {report.as_dict()}, outbox {left}"
                    )
                _, _, notes = await store.transact(repository.all_records)
                check = await check_server(server.base_url, data, {n.id: n.text for n in notes})
                run = OursRun(
                    batch_size, notes_s, images_s, notes_traffic, images_traffic, report, check
                )
                if profiler is not None:
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(profile)
                    run.profile_text = out.getvalue()
                if pull:
                    before = transport.traffic.snapshot()
                    pulled = SyncReport()
                    start = time.perf_counter()
                    await engine.pull(client, pulled)
                    run.pull_s = time.perf_counter() - start
                    run.pull_traffic = transport.traffic.since(before)
    finally:
        await store.close()
    return run


# --- reference: one request per resource ---------------------------------------------


@dataclass
class ReferenceRun:
    notes_s: float
    images_s: float
    notes_traffic: Traffic
    images_traffic: Traffic
    check: ServerCheck

    @property
    def wall_s(self) -> float:
        return self.notes_s + self.images_s

    @property
    def traffic(self) -> Traffic:
        return self.notes_traffic + self.images_traffic


def _created_id(response: httpx.Response, what: str) -> str:
    if response.status_code not in (200, 201):
        raise RuntimeError(f"reference: {what} answered HTTP {response.status_code}")
    body = response.json()
    rid = body.get("id") if isinstance(body, dict) else None
    if not isinstance(rid, str) or not rid:
        raise RuntimeError(f"reference: {what} named no stored resource")
    return rid


async def run_reference(root: Path, data: Dataset, kind: str = "sekmet") -> ReferenceRun:
    with fresh_server(root / "server", kind) as server:
        await warm_up(server.base_url)
        transport = CountingTransport()
        async with httpx.AsyncClient(
            transport=transport,
            timeout=HTTP_TIMEOUT_S,
            follow_redirects=False,
            headers={"Accept": FHIR_JSON, "User-Agent": "clinician-console-bench"},
        ) as http:
            base = server.base_url
            server_ids: dict[tuple[str, str], str] = {}

            def fmt(resource_type: str, local_id: str) -> str:
                return f"{resource_type}/{server_ids[(resource_type, local_id)]}"

            def fmt_media(resource_type: str, local_id: str) -> str:
                if resource_type in ("Binary", "Media"):
                    return f"{resource_type}/{local_id}"  # the Binary's url is set once created
                return fmt(resource_type, local_id)

            start = time.perf_counter()
            for record in data.order:
                resource: dict[str, Any]
                if isinstance(record, Patient):
                    resource = mapping.patient_to_fhir(record)
                elif isinstance(record, Encounter):
                    resource = mapping.encounter_to_fhir(record, references=fmt)
                else:
                    resource = mapping.note_to_document_reference(
                        record, data.patient_of_encounter[record.encounter_id or ""], references=fmt
                    )
                resource.pop("meta", None)
                resource.pop("id", None)
                rtype = str(resource["resourceType"])
                response = await http.post(
                    f"{base}/{rtype}",
                    content=_encode(resource),
                    headers={
                        "Content-Type": FHIR_JSON,
                        "Prefer": "return=representation",
                        "If-None-Exist": f"identifier={IDENTIFIER_SYSTEM}|urn:uuid:{record.id}",
                    },
                )
                server_ids[(rtype, record.id)] = _created_id(response, rtype)
            notes_s = time.perf_counter() - start
            notes_traffic = transport.traffic.snapshot()

            start = time.perf_counter()
            for att, blob in zip(data.attachments, data.images, strict=True):
                made = media_mapping.attachment_resources(
                    att, blob, data.patient_of_encounter[att.encounter_id], references=fmt_media
                )
                binary = dict(made.binary)
                binary.pop("id", None)
                response = await http.post(
                    f"{base}/Binary",
                    content=_encode(binary),
                    headers={"Content-Type": FHIR_JSON, "Prefer": "return=representation"},
                )
                binary_id = _created_id(response, "Binary")
                media = dict(made.media)
                media.pop("id", None)
                media["content"] = {**media["content"], "url": f"Binary/{binary_id}"}
                response = await http.post(
                    f"{base}/Media",
                    content=_encode(media),
                    headers={
                        "Content-Type": FHIR_JSON,
                        "Prefer": "return=representation",
                        "If-None-Exist": f"identifier={IDENTIFIER_SYSTEM}|urn:uuid:{att.id}",
                    },
                )
                _created_id(response, "Media")
            images_s = time.perf_counter() - start
            images_traffic = transport.traffic.since(notes_traffic)
        check = await check_server(base, data)
    return ReferenceRun(notes_s, images_s, notes_traffic, images_traffic, check)


# --- the figures ---------------------------------------------------------------------


def _traffic_dict(t: Traffic, entries: int) -> dict[str, Any]:
    return {
        "requests": t.requests,
        "bytes_sent": t.bytes_sent,
        "bytes_received": t.bytes_received,
        "round_trip_s": round(t.round_trip_s, 4),
        "round_trip_per_entry_ms": round(t.round_trip_s * 1000 / entries, 3) if entries else None,
    }


def _breakdown(wall_s: float, t: Traffic, entries: int) -> dict[str, Any]:
    """Where the time of a phase went: on the wire (server + loopback) or in our process."""
    client_s = max(0.0, wall_s - t.round_trip_s)
    return {
        "wall_s": round(wall_s, 4),
        **_traffic_dict(t, entries),
        "client_s": round(client_s, 4),
        "client_per_entry_ms": round(client_s * 1000 / entries, 3) if entries else None,
    }


RunT = TypeVar("RunT", "OursRun", "ReferenceRun")


def _median_run(runs: Sequence[RunT]) -> RunT:
    """The run with the median wall time (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r.wall_s)
    return ordered[(len(ordered) - 1) // 2]


def _walls(runs: Sequence[OursRun] | Sequence[ReferenceRun]) -> list[float]:
    return [round(r.wall_s, 4) for r in runs]


def measure(cfg: Config) -> _common.BenchResult:
    data = build_dataset(cfg)
    _common.log(
        f"{len(data.notes):,} notes, {len(data.encounters):,} encounters, "
        f"{len(data.patients):,} patients ({data.records:,} records), "
        f"{len(data.images)} images of {cfg.image_bytes:,} bytes, {cfg.repeat} round(s)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        root = Path(tmp)
        return asyncio.run(_measure(root, cfg, data))


async def _measure(root: Path, cfg: Config, data: Dataset) -> _common.BenchResult:
    ours_runs: list[OursRun] = []
    ref_runs: list[ReferenceRun] = []
    for r in range(cfg.repeat):
        # Alternate which arm goes first, so drift on a shared machine hits both alike.
        for arm in ("ours", "reference") if r % 2 == 0 else ("reference", "ours"):
            if arm == "ours":
                run = await run_ours(
                    root / f"ours-{r}",
                    data,
                    cfg,
                    batch_size=cfg.batch_size,
                    images=True,
                    pull=cfg.pull and r == 0,
                )
                ours_runs.append(run)
                _common.log(
                    f"[{r}] ours: SyncEngine.push (batch_size {cfg.batch_size}) "
                    f"{run.notes_s:.2f} s in {run.notes_traffic.requests} requests, "
                    f"images {run.images_s:.2f} s; server {run.check.as_dict()}"
                )
            else:
                ref = await run_reference(root / f"reference-{r}", data, cfg.server)
                ref_runs.append(ref)
                _common.log(
                    f"[{r}] reference: {ref.notes_s:.2f} s in {ref.notes_traffic.requests} "
                    f"requests, images {ref.images_s:.2f} s; server {ref.check.as_dict()}"
                )
    ours = _median_run(ours_runs)
    ref = _median_run(ref_runs)
    pull_run = ours_runs[0]
    ref_notes_s = statistics.median(x.notes_s for x in ref_runs)

    if cfg.profile:
        _common.log("profiled run (not part of the figures): our push, notes only")
        profiled = await run_ours(
            root / "profiled", data, cfg, batch_size=cfg.batch_size, profile=cfg.profile
        )
        _common.log("cProfile of our push (cumulative):\n" + profiled.profile_text)

    sweep: list[dict[str, Any]] = []
    for i, size in enumerate(cfg.batch_sizes):
        run = await run_ours(root / f"sweep-{i}", data, cfg, batch_size=size)
        sweep.append(
            {
                "batch_size": size,
                **_breakdown(run.notes_s, run.notes_traffic, data.records),
                "duplicates": run.check.duplicates,
                "ratio_notes_wall": _common.ratio(run.notes_s, ref_notes_s),
            }
        )
        _common.log(
            f"sweep: batch_size {size}: {run.notes_s:.2f} s in {run.notes_traffic.requests} "
            "requests (notes only)"
        )

    wall_s = statistics.median(x.wall_s for x in ours_runs)
    ref_wall_s = statistics.median(x.wall_s for x in ref_runs)
    notes_s = statistics.median(x.notes_s for x in ours_runs)
    images_s = statistics.median(x.images_s for x in ours_runs)
    ref_images_s = statistics.median(x.images_s for x in ref_runs)
    wall_ratio = _common.ratio(wall_s, ref_wall_s)
    duplicates = max(x.check.duplicates for x in ours_runs)
    missing = max(x.check.missing for x in ours_runs)
    lost_edits = max(x.check.lost_edits for x in ours_runs)
    budget_ok = (
        wall_ratio is not None
        and wall_ratio <= RATIO_BUDGET
        and duplicates == 0
        and missing == 0
        and lost_edits == 0
    )
    ours_t, ref_t = ours.traffic, ref.traffic
    full_size = cfg.notes >= BUDGET_NOTES and cfg.images >= BUDGET_IMAGES
    params: dict[str, Any] = {
        **_common.machine_params(),
        "quick": cfg.quick,
        "seed": cfg.seed,
        "repeat": cfg.repeat,
        "notes": len(data.notes),
        "encounters": len(data.encounters),
        "patients": len(data.patients),
        "records": data.records,
        "images": len(data.images),
        "image_bytes": cfg.image_bytes,
        "images_are": "image attachments (JPEG magic + random bytes, fixed seed) in the store, "
        "sent by SyncEngine.push as the product does (Binary + conditional Media in one "
        "transaction each); the reference POSTs Binary then a conditional Media per still",
        "batch_size": cfg.batch_size,
        "prefer": cfg.prefer or "as sent by FhirClient (return=representation)",
        "images_via": cfg.images_via,
        "server": f"{cfg.server} (tests/integration/{cfg.server}.py), a fresh one per arm and "
        "round, loopback, no auth",
        "ours": "EncryptedStore (passphrase) -> SyncEngine.push -> FhirClient transaction "
        "Bundles of conditional creates; stills as attachments through the same push",
        "reference_is": "one conditional-create POST (If-None-Exist) per record, sequential, "
        "records in memory, same mapping; one POST per image",
        "figures": "medians over the rounds (arms alternate which goes first); "
        "breakdowns from the median-wall round",
        "budget": {"ratio_wall_max": RATIO_BUDGET, "duplicates": 0, "lost_edits": 0},
        "budget_scale": {"notes": BUDGET_NOTES, "images": BUDGET_IMAGES},
        "full_size": full_size,
    }
    metrics: dict[str, Any] = {
        "wall_s": round(wall_s, 4),
        "requests": ours_t.requests,
        "bytes_sent": ours_t.bytes_sent,
        "bytes_received": ours_t.bytes_received,
        "duplicates": duplicates,
        "missing": missing,
        "lost_edits": lost_edits,
        "binaries_on_server": ours.check.binaries,
        "acknowledged": ours.report.acknowledged,
        "notes_s": round(notes_s, 4),
        "images_s": round(images_s, 4),
        "wall_s_runs": _walls(ours_runs),
        "notes": _breakdown(ours.notes_s, ours.notes_traffic, data.records),
        "images": _breakdown(ours.images_s, ours.images_traffic, len(data.images)),
        "records_per_s": round(data.records / notes_s, 1),
        "budget_ok": budget_ok,
    }
    if pull_run.pull_s is not None and pull_run.pull_traffic is not None:
        metrics["pull_s"] = round(pull_run.pull_s, 4)
        metrics["pull"] = _breakdown(pull_run.pull_s, pull_run.pull_traffic, len(data.notes))
    if sweep:
        metrics["batch_sweep"] = sweep
    reference: dict[str, Any] = {
        "wall_s": round(ref_wall_s, 4),
        "requests": ref_t.requests,
        "bytes_sent": ref_t.bytes_sent,
        "bytes_received": ref_t.bytes_received,
        "duplicates": max(x.check.duplicates for x in ref_runs),
        "missing": max(x.check.missing for x in ref_runs),
        "notes_s": round(ref_notes_s, 4),
        "images_s": round(ref_images_s, 4),
        "wall_s_runs": _walls(ref_runs),
        "notes": _breakdown(ref.notes_s, ref.notes_traffic, data.records),
        "images": _breakdown(ref.images_s, ref.images_traffic, len(data.images)),
        "records_per_s": round(data.records / ref_notes_s, 1),
    }
    ratios: dict[str, Any] = {
        "wall": wall_ratio,
        "notes_wall": _common.ratio(notes_s, ref_notes_s),
        "images_wall": _common.ratio(images_s, ref_images_s) if data.images else None,
        "requests": _common.ratio(ours_t.requests, ref_t.requests),
        "bytes_sent": _common.ratio(ours_t.bytes_sent, ref_t.bytes_sent),
    }
    _common.log(
        f"ratio wall {wall_ratio} (notes {ratios['notes_wall']}, images {ratios['images_wall']}),"
        f" duplicates {duplicates}, missing {missing}, lost edits {lost_edits}: "
        f"budget {'met' if budget_ok else 'MISSED'}"
    )
    return _common.BenchResult(params, metrics, reference, ratios)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_config(argv)
    return _common.run(BENCH, lambda: measure(cfg))


if __name__ == "__main__":
    raise SystemExit(main())
