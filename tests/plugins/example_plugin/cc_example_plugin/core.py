"""The plugin's logic: Qt-free, so it can be tested without a display."""

from __future__ import annotations

import io
import json
import math
import struct
import wave
from collections.abc import Callable

from clinician_console_api import AttachmentRequest, Capability, PluginContext


def activate(ctx: PluginContext) -> None:
    """Runs on the console's loop (GUI) thread when the plugin starts."""
    state = ctx.data_dir / "state.json"
    count = json.loads(state.read_text())["activations"] if state.exists() else 0
    state.write_text(json.dumps({"activations": count + 1}))
    ctx.logger.info("activated %d times; greeting %r", count + 1, ctx.settings.get("greeting"))
    if ctx.has(Capability.ENCOUNTER_ATTACH):
        ctx.add_cleanup(ctx.encounter().on_encounter_change(_encounter_changed(ctx)))


def deactivate(ctx: PluginContext) -> None:
    ctx.logger.info("deactivated")


def _encounter_changed(ctx: PluginContext) -> Callable[[str | None], None]:
    def changed(encounter_id: str | None) -> None:
        ctx.logger.info("encounter is now %s", encounter_id or "none")

    return changed


def tone_wav(seconds: float = 0.5, frequency_hz: float = 440.0, rate_hz: int = 8000) -> bytes:
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency_hz * n / rate_hz)))
        for n in range(int(seconds * rate_hz))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(frames)
    return out.getvalue()


async def attach_tone(ctx: PluginContext) -> None:
    """Command: attach half a second of 440 Hz to the open encounter."""
    record = await ctx.encounter().attach(
        AttachmentRequest(
            kind="audio",
            content_type="audio/wav",
            data=tone_wav(),
            title="Test tone",
            metadata={"sample_rate_hz": 8000, "duration_s": 0.5},
        )
    )
    ctx.logger.info("attached %s", record.attachment_id)
