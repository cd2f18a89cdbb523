"""A real PulseAudio with a virtual stethoscope (DESIGN.md §5, audio input row).

PulseAudio runs as root in user mode with its own HOME and XDG_RUNTIME_DIR; a
null sink ``vsink`` and a pipe source ``vmic`` fed through a FIFO. PortAudio
(sounddevice) reaches it through ALSA's pulse plugin (apt ``libasound2-plugins``)
as the input named "pulse", exactly as it would a USB stethoscope.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Pulse:
    env: dict[str, str]
    fifo: Path
    daemon: subprocess.Popen[bytes]

    def pactl(self, *args: str) -> str:
        done = subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def steth_pulse(tmp_path: Path) -> Iterator[Pulse]:
    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pulseaudio and pulseaudio-utils are required in CI")
        pytest.skip("pulseaudio not installed")
    if not any(Path(p).exists() for p in (
        "/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so",
        "/usr/lib/aarch64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so",
    )):  # fmt: skip
        pytest.fail("ALSA's pulse plugin is missing: apt-get install libasound2-plugins")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    fifo = tmp_path / "vmic.fifo"  # module-pipe-source creates it (and fails if it exists)
    socket = runtime / "native"
    config = tmp_path / "steth.pa"
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
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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
        yield Pulse(env, fifo, daemon)
    finally:
        if daemon.poll() is None:
            daemon.terminate()
            daemon.wait(timeout=10)
