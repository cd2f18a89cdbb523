"""The composition root's capability providers, seen through a plugin's context.

``encounter.attach`` runs against a real encrypted store (passphrase mode, no
keyring); the example plugin's command attaches through it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from app.errors import CapabilityUnavailableError, InputRejectedError
from app.records import Encounter, Patient, new_id, utc_now
from plugins._providers import SoundDeviceAudioInput, StoreEncounterAttach
from plugins.api import AttachmentRequest, PluginContext
from plugins.testing import MakePlugin, make_host
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


def test_store_encounter_attach_through_a_plugin_context(
    fresh_profile: Path, tmp_path: Path, make_plugin: MakePlugin
) -> None:
    plugin = make_plugin("acme.attach", code=CODE, capabilities=["encounter.attach"])
    wav = _wav()

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            patient = await store.add_patient(Patient(new_id(), "Doe", "Jo", "1970-01-01"))
            encounter = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
            provider = StoreEncounterAttach(store)
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


def test_sound_device_input_refuses_an_unknown_device() -> None:
    # Real PortAudio; the PulseAudio round trip is tests/integration/test_plugin_audio_input.py.
    from app.errors import DeviceUnavailableError

    audio = SoundDeviceAudioInput()
    assert all(d.device_id.startswith("sd:") for d in audio.list_devices())
    with pytest.raises(DeviceUnavailableError):
        asyncio.run(audio.open("sd:9999"))
    with pytest.raises(DeviceUnavailableError, match="unknown device id"):
        asyncio.run(audio.open("not-a-device"))
