"""Microphone and speaker through sounddevice against a real PulseAudio (DESIGN.md §5).

PulseAudio runs in user mode with its own HOME and XDG_RUNTIME_DIR, a null sink
(``vsink``) and a pipe source (``vmic``, fed through a FIFO). PortAudio reaches it
through ALSA's pulse plugin (device "pulse").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.integration.audio_devices_child import dominant_hz

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pulse(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    if shutil.which("pulseaudio") is None or shutil.which("parec") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pulseaudio and pulseaudio-utils are required in CI")
        pytest.skip("pulseaudio not installed")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    fifo = tmp_path / "vmic.fifo"  # module-pipe-source creates it (and fails if it exists)
    socket = runtime / "native"
    config = tmp_path / "test.pa"
    config.write_text(
        f"load-module module-native-protocol-unix socket={socket} auth-anonymous=1\n"
        "load-module module-null-sink sink_name=vsink\n"
        f"load-module module-pipe-source source_name=vmic file={fifo} format=s16le "
        "rate=48000 channels=1\n"
        "set-default-sink vsink\nset-default-source vmic\n"
    )
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(runtime),
        "PULSE_SERVER": f"unix:{socket}",
    }
    daemon = subprocess.Popen(
        ["pulseaudio", "-n", "-F", str(config), "--daemonize=no", "--exit-idle-time=-1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while (
            subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0
            or not fifo.exists()
        ):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("pulseaudio did not start")
            time.sleep(0.1)  # polling a condition with a deadline
        sources = subprocess.run(
            ["pactl", "list", "short", "sources"], env=env, capture_output=True, text=True
        ).stdout
        assert "vmic" in sources, sources
        yield env, fifo
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def _child(env: dict[str, str], *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.audio_devices_child", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_microphone_records_the_pipe_source(pulse: tuple[dict[str, str], Path]) -> None:
    env, fifo = pulse
    result = _child(env, "mic", str(fifo))
    assert result["sizes"] == [960]  # 20 ms frames at 48 kHz
    assert abs(float(result["hz"]) - 1000) < 20, result  # type: ignore[arg-type]
    assert float(result["rms"]) > 2000, result  # type: ignore[arg-type]
    assert any("pulse" in str(label) for label in result["microphones"])  # type: ignore[attr-defined]


def test_speaker_plays_into_the_null_sink(pulse: tuple[dict[str, str], Path]) -> None:
    env, _fifo = pulse
    recorder = subprocess.Popen(
        ["parec", "-d", "vsink.monitor", "--raw", "--format=s16le", "--rate=48000",
         "--channels=1"],
        env=env, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        result = _child(env, "speaker")
    finally:
        recorder.terminate()
        captured, _ = recorder.communicate(timeout=10)
    assert int(result["played"]) > 50, result  # type: ignore[call-overload]
    samples = np.frombuffer(captured, dtype="<i2")
    loud = samples[np.abs(samples) > 1000]
    assert len(loud) > 48_000 // 2, f"only {len(loud)} loud samples captured"
    # The part of the capture where the tone played: its pitch is the tone's.
    start = int(np.argmax(np.abs(samples) > 1000))
    assert abs(dominant_hz(samples[start : start + 48_000]) - 440) < 10
