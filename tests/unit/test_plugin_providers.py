"""The composition root's capability providers, seen through a plugin's context.

``encounter.attach`` runs against a real encrypted store (passphrase mode, no
keyring) through the app's attachments use case; the example plugin's command
attaches through it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from app.errors import CapabilityUnavailableError, InputRejectedError
from app.events import ConsoleEvents
from app.records import Encounter, Patient, new_id, utc_now
from app.services import AttachmentsService
from app.sync import SyncCounts, SyncRoundResult, SyncService, SyncState
from clinician_console_api import AttachmentRequest, PluginContext
from clinician_console_api.testing import MakePlugin, make_host
from plugins._providers import EncounterAttach, SoundDeviceAudioInput
from tests.conftest import open_test_store

CODE = """
SEEN = {}

def activate(ctx):
    SEEN["ctx"] = ctx
    SEEN["changes"] = []
    ctx.add_cleanup(ctx.encounter().on_encounter_change(SEEN["changes"].append))
"""


def _wav() -> bytes:
    sys.path.insert(0, str(Path(__file__).parents[1] / "plugins" / "example_plugin"))
    try:
        from cc_example_plugin.core import tone_wav

        return tone_wav(0.25)
    finally:
        sys.path.pop(0)
        for name in [m for m in sys.modules if m.startswith("cc_example_plugin")]:
            del sys.modules[name]


def test_encounter_attach_through_a_plugin_context(
    fresh_profile: Path, tmp_path: Path, make_plugin: MakePlugin
) -> None:
    plugin = make_plugin("acme.attach", code=CODE, capabilities=["encounter.attach"])
    wav = _wav()

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            patient = await store.add_patient(Patient(new_id(), "Doe", "Jo", "1970-01-01"))
            encounter = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
            provider = EncounterAttach(AttachmentsService(store, ConsoleEvents()))
            host = make_host(tmp_path / "data", providers={"encounter.attach": provider})
            host.add_manifest(plugin.manifest_path)
            await host.activate("acme.attach")
            seen = sys.modules[plugin.module].SEEN
            ctx: PluginContext = seen["ctx"]

            with pytest.raises(CapabilityUnavailableError, match="no encounter is open"):
                await ctx.encounter().attach(AttachmentRequest("audio", "audio/wav", wav))
            provider.set_current(encounter.id)  # the window selected it
            assert seen["changes"] == [encounter.id]
            assert ctx.encounter().current_encounter_id() == encounter.id

            record = await ctx.encounter().attach(
                AttachmentRequest(
                    "audio",
                    "audio/wav",
                    wav,
                    title="Mitral, bell",
                    metadata={
                        "auscultation_site": "mitral",
                        "filter": "bell",
                        "heart_rate_bpm": 72.0,
                        "heart_rate_confidence": 0.9,
                    },
                )
            )
            assert record.encounter_id == encounter.id
            assert record.observation_id  # the heart rate became an Observation
            (stored,) = await store.list_attachments(encounter.id)
            assert stored.id == record.attachment_id
            assert stored.metadata["filter"] == "bell"
            assert await store.read_attachment(stored.id) == wav

            # The store's own checks reach the plugin as InputRejectedError.
            with pytest.raises(InputRejectedError):
                await ctx.encounter().attach(AttachmentRequest("audio", "audio/wav", b"nope"))
            await host.deactivate_all()
            provider.set_current(None)
            assert seen["changes"] == [encounter.id]  # unsubscribed at deactivation
        finally:
            await store.close()

    asyncio.run(scenario())


class _CountingEngine:
    """A record store that answers every round at once (no server needed to see a nudge)."""

    def __init__(self) -> None:
        self.rounds = 0

    async def run_round(self, progress: object = None) -> SyncRoundResult:
        self.rounds += 1
        return SyncRoundResult()


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


class _StoreCounts:
    """The sync queue port over the real store's outbox size (counts are all it needs here)."""

    def __init__(self, store: object) -> None:
        self.store = store

    async def counts(self) -> SyncCounts:
        return SyncCounts(waiting=await self.store.outbox_size())  # type: ignore[attr-defined]


def test_a_plugin_recording_is_announced_and_nudges_sync_like_a_note(
    fresh_profile: Path, tmp_path: Path, make_plugin: MakePlugin
) -> None:
    """Before: ``encounter.attach`` wrote to the store directly, so nothing on the bus
    heard of the recording and sync waited for the next timer (up to five minutes)."""
    plugin = make_plugin("acme.attach", code=CODE, capabilities=["encounter.attach"])
    wav = _wav()

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        events = ConsoleEvents()
        engine = _CountingEngine()
        sync = SyncService(_StoreCounts(store), engine, debounce_s=0.05, interval_s=3600)  # type: ignore[arg-type]
        unfollow = sync.follow(events)
        try:
            patient = await store.add_patient(Patient(new_id(), "Doe", "Jo", "1970-01-01"))
            encounter = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
            provider = EncounterAttach(AttachmentsService(store, events))
            provider.set_current(encounter.id)
            host = make_host(tmp_path / "data", providers={"encounter.attach": provider})
            host.add_manifest(plugin.manifest_path)
            await host.activate("acme.attach")
            ctx: PluginContext = sys.modules[plugin.module].SEEN["ctx"]
            await sync.start()
            await _until(lambda: engine.rounds == 1 and sync.status.state is SyncState.IDLE)

            added: list[tuple[object, object]] = []
            events.attachment_did_add.connect(lambda att, src: added.append((att, src)))
            record = await ctx.encounter().attach(AttachmentRequest("audio", "audio/wav", wav))
            [(attachment, source)] = added
            assert attachment.id == record.attachment_id and source is provider
            # Nudged: a round soon after (the timer alone would wait an hour).
            await _until(lambda: engine.rounds == 2 and sync.status.state is SyncState.IDLE)
            assert sync.status.waiting == await store.outbox_size() > 0
            await host.deactivate_all()
        finally:
            unfollow()
            await sync.stop()
            await store.close()

    asyncio.run(scenario())


def test_sound_device_input_refuses_an_unknown_device() -> None:
    # Real PortAudio; the PulseAudio round trip is tests/integration/test_plugin_audio_input.py.
    from app.errors import DeviceUnavailableError

    audio = SoundDeviceAudioInput()
    assert all(d.device_id.startswith("sd:") for d in audio.list_devices())
    with pytest.raises(DeviceUnavailableError):
        asyncio.run(audio.open("sd:9999"))
    with pytest.raises(DeviceUnavailableError, match="unknown device id"):
        asyncio.run(audio.open("not-a-device"))


def test_a_plugins_still_goes_through_the_images_use_case(fresh_profile: Path) -> None:
    """``encounter.attach`` with an image: decoded and checked like ``image add`` (size read
    from the bytes, a caller's claimed size ignored), and a damaged still writes nothing."""
    from app.errors import MediaFileError
    from app.images import ImagesService
    from media.images.inspector import QualityInspector
    from tests.unit.images_support import at_megapixels, jpeg_bytes, photo

    still = jpeg_bytes(at_megapixels(photo("retina.jpg"), 1.0))

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            patient = await store.add_patient(Patient(new_id(), "Doe", "Jo", "1970-01-01"))
            enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
            attachments = AttachmentsService(store, ConsoleEvents())
            provider = EncounterAttach(attachments, ImagesService(attachments, QualityInspector()))
            provider.set_current(enc.id)
            with pytest.raises(MediaFileError):
                await provider.attach(
                    AttachmentRequest("image", "image/jpeg", still[: len(still) // 2])
                )
            assert await store.list_attachments(enc.id) == []
            record = await provider.attach(
                AttachmentRequest(
                    "image",
                    "image/jpeg",
                    still,
                    metadata={"width_px": 1, "height_px": 1, "body_site": "5665001"},
                )
            )
            [att] = await store.list_attachments(enc.id)
            assert att.id == record.attachment_id
            assert (att.metadata["width_px"], att.metadata["height_px"]) == (1000, 1000)
            assert att.metadata["body_site"] == "5665001"
        finally:
            await store.close()

    asyncio.run(scenario())
