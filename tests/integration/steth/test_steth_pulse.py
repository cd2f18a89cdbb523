"""The stethoscope plugin captures a PulseAudio virtual source as from a real device,
and keeps the recording when the device goes away mid-recording."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.steth.conftest import Pulse

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
CHILD = "tests.integration.steth.capture_child"


def test_captures_heart_sound_with_rate_and_fidelity(steth_pulse: Pulse) -> None:
    done = subprocess.run(
        [sys.executable, "-m", CHILD, "record", str(steth_pulse.fifo), "96", "8"],
        cwd=ROOT, env=steth_pulse.env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "pulse" in result["devices"]
    assert result["status"] == ""
    assert result["duration_s"] >= 8.0
    assert abs(result["live_bpm"] - 96) <= 3, result
    assert abs(result["recording_bpm"] - 96) <= 3, result
    # what went into the virtual device came out unchanged (s16 quantisation only)
    assert result["coherence_20_1000hz"] > 0.99, result
    assert abs(result["level_diff_db"]) < 0.5, result


@pytest.mark.parametrize("how", ["kill-server", "unload-source"])
def test_unplug_mid_recording_keeps_what_was_recorded(steth_pulse: Pulse, how: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", CHILD, "unplug", str(steth_pulse.fifo), "72", "8"],
        cwd=ROOT, env=steth_pulse.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        first = child.stdout.readline()  # blocks until 2 s of audio were recorded
        assert first.strip() == "RECORDING", (first, child.stderr.read() if child.stderr else "")
        if how == "kill-server":
            steth_pulse.daemon.send_signal(signal.SIGKILL)
            steth_pulse.daemon.wait(timeout=10)
        else:
            # The only input disappears (no other source for PulseAudio to move us to),
            # as when the one USB stethoscope is pulled.
            steth_pulse.pactl("unload-module", "module-null-sink")
            steth_pulse.pactl("unload-module", "module-pipe-source")
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["duration_s"] >= 2.0  # everything up to the unplug was kept
    assert result["wav_bytes"] > 2 * 48_000 * 2
    assert "not available" in result["interrupted"]
    assert "not available" in result["status"]
