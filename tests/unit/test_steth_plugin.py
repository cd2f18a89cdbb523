"""The stethoscope plugin without Qt: manifest, activation, the model, attach to the store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

import plugins.stethoscope
from app.events import ConsoleEvents
from app.records import Encounter, Patient, new_id, utc_now
from app.services import AttachmentsService
from clinician_console_api.testing import make_host
from plugins._providers import EncounterAttach
from plugins.host import PluginHost
from tests.conftest import open_test_store

MANIFEST = Path(plugins.stethoscope.__file__).parent / "plugin.toml"


def test_manifest_activates_with_its_capabilities(plugin_host: PluginHost) -> None:
    plugin_host.add_manifest(MANIFEST)
    info = asyncio.run(plugin_host.activate("clinician-console.stethoscope"))
    assert info.state == "active", info.reason
    assert set(info.granted) == {"audio.input", "visit.tracks", "encounter.attach", "ui.panel"}


def _pull_until(model, condition, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        model.pull()
        time.sleep(1 / 30)


def test_model_shows_heart_rate_and_records(tmp_path: Path) -> None:
    from plugins.stethoscope.plugin import StethoscopeModel

    model = StethoscopeModel(sample_rate_hz=48_000)
    try:
        model.open("synthetic")
        model.start_recording("mitral")
        _pull_until(
            model, lambda: model.heart_rate is not None and model.heart_rate.bpm is not None
        )
        assert model.heart_rate is not None and abs(model.heart_rate.bpm - 72) <= 3  # type: ignore[operator]
        model.set_filter("bell")
        rec = model.stop_recording()
        assert rec is not None
        assert rec.metadata.site.value == "mitral"
        assert rec.metadata.filter.value == "bell"
        assert rec.metadata.duration_s > 3.0
        assert rec.wav[:4] == b"RIFF"
        assert rec.metadata.heart_rate_bpm is not None
    finally:
        model.shutdown()


def test_recording_attaches_to_the_encounter_in_the_store(fresh_profile: Path) -> None:
    from app.records import AuscultationSite, StethoscopeFilter
    from media.steth import synth
    from media.steth.heart_rate import analyze
    from media.steth.recording import ClipMetadata, encode_wav
    from plugins.stethoscope.plugin import Recording, attach_recording

    async def main() -> None:
        store = await open_test_store(fresh_profile)
        try:
            patient = await store.add_patient(Patient(new_id(), "Test", "Steth", "1970-01-01"))
            enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
            provider = EncounterAttach(AttachmentsService(store, ConsoleEvents()))
            provider.set_current(enc.id)
            host = make_host(fresh_profile / "plugins", providers={"encounter.attach": provider})
            host.add_manifest(MANIFEST)
            await host.activate("clinician-console.stethoscope")
            ctx = host.context("clinician-console.stethoscope")
            assert ctx is not None
            x = synth.heart_sound(80, 6.0, sample_rate_hz=8_000, snr_db=20.0)
            hr = analyze(x, 8_000)
            meta = ClipMetadata(
                AuscultationSite.AORTIC,
                StethoscopeFilter.DIAPHRAGM,
                6.0,
                8_000,
                hr.bpm,
                hr.confidence,
            )
            record = await attach_recording(ctx, Recording(encode_wav(x, 8_000), x, meta))
            assert record.encounter_id == enc.id
            assert record.observation_id  # the heart rate became an Observation
            [att] = await store.list_attachments(enc.id)
            assert att.metadata["auscultation_site"] == "aortic"
            assert abs(float(att.metadata["heart_rate_bpm"]) - 80) <= 3
            assert np.frombuffer(await store.read_attachment(att.id), dtype=np.uint8).size > 1000
        finally:
            await store.close()

    asyncio.run(main())
