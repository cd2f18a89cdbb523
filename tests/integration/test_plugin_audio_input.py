"""``audio.input`` as a plugin sees it, against a real PulseAudio pipe source (DESIGN.md §5).

The child process (PortAudio reads PULSE_SERVER when sounddevice is imported)
activates a plugin through a real PluginHost with the composition root's
SoundDeviceAudioInput provider, feeds a 1 kHz tone into the pipe source and reads
it back through ``ctx.audio_input().open(...)``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_audio_devices import pulse  # the PulseAudio fixture

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
__all__ = ["pulse"]

CHILD = r"""
import asyncio, json, sys, tempfile, threading, time
from pathlib import Path

import numpy as np

from app.errors import DeviceUnavailableError
from plugins._providers import SoundDeviceAudioInput
from plugins.host import PluginHost
from tests.integration.audio_devices_child import dominant_hz, feed_fifo

package = Path(tempfile.mkdtemp()) / "cc_audio_probe"
package.mkdir()
(package / "__init__.py").write_text("")
(package / "plugin.py").write_text("SEEN = {}\ndef activate(ctx):\n    SEEN['ctx'] = ctx\n")
(package / "plugin.toml").write_text(
    'id = "acme.audio-probe"\nname = "Probe"\nversion = "1"\napi = ["1"]\n'
    'capabilities = ["audio.input"]\n[contributions]\n'
    'activate = "cc_audio_probe.plugin:activate"\n'
)
sys.path.insert(0, str(package.parent))


async def main():
    host = PluginHost(
        data_root=package.parent / "data", allow=["acme.audio-probe"],
        providers={"audio.input": SoundDeviceAudioInput()}, discover_entry_points=False,
    )
    host.add_manifest(package / "plugin.toml")
    await host.activate("acme.audio-probe")
    import cc_audio_probe.plugin as probe

    audio = probe.SEEN["ctx"].audio_input()
    devices = audio.list_devices()
    pulse_dev = next(d for d in devices if d.label == "pulse")
    stop = threading.Event()
    threading.Thread(target=feed_fifo, args=(sys.argv[1], stop), daemon=True).start()
    stream = await audio.open(pulse_dev.device_id, sample_rate_hz=48000, block_frames=1024)
    blocks = [await stream.read() for _ in range(94)]  # ~2 s
    stop.set()  # the source goes silent first, as an unplugged card does
    started = time.monotonic()
    await stream.close()
    close_s = time.monotonic() - started
    try:
        await stream.read()
        after_close = "returned"
    except DeviceUnavailableError:
        after_close = "DeviceUnavailableError"
    tail = np.concatenate(blocks[-40:])[:, 0]
    print(json.dumps({
        "shapes": sorted({b.shape for b in blocks}), "dtype": str(blocks[0].dtype),
        "hz": dominant_hz(tail), "peak": float(np.max(np.abs(tail))),
        "overruns": stream.overruns, "after_close": after_close,
        "labels": [d.label for d in devices], "rate": stream.sample_rate_hz,
        "default": [d.label for d in devices if d.is_default],
        "close_s": close_s,
    }, default=list))
    await host.deactivate_all()


asyncio.run(main())
"""


def test_plugin_reads_the_pipe_source(pulse: tuple[dict[str, str], Path]) -> None:
    env, fifo = pulse
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(fifo)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["shapes"] == [[1024, 1]]
    assert result["dtype"] == "float32"
    assert result["rate"] == 48000
    assert abs(result["hz"] - 1000) < 20, result
    assert 0.2 < result["peak"] <= 1.0, result  # 12000/32768 ≈ 0.37
    assert result["overruns"] == 0
    assert result["default"] == ["default"], result  # PortAudio's default input, marked
    assert result["after_close"] == "DeviceUnavailableError"
    assert result["close_s"] < 2.0, result  # close never waits on a silent source
