"""Child for the stethoscope capture tests: runs with PULSE_SERVER set to the test's PulseAudio.

PortAudio reads the environment when sounddevice is first imported, hence a child.
``python -m tests.integration.steth.capture_child record FIFO BPM SECONDS`` feeds a
synthetic heart sound into the pipe source's FIFO in real time, captures it through
the plugin's :class:`StethoscopeModel` and its own ``audio.input`` capability (the
host's provider -> sounddevice -> ALSA pulse plugin -> PulseAudio) and records it.
``unplug FIFO`` does the same but prints ``RECORDING`` once audio flows, then waits
for the parent to take the source away and reports what the model kept. Prints one
JSON line at the end.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

import numpy as np

from media.steth import synth
from media.steth.capture import list_input_devices
from media.steth.fidelity import compare

RATE = 48_000


def feed(path: str, clip: np.ndarray, stop: threading.Event) -> None:
    ints = (np.clip(clip, -1, 1) * 32767).astype("<i2")
    block = RATE // 50
    try:
        with open(path, "wb") as fifo:
            pos = 0
            t_next = time.monotonic()
            while not stop.is_set() and pos < ints.size:
                fifo.write(ints[pos : pos + block].tobytes())
                fifo.flush()
                pos += block
                t_next += 0.02
                delay = t_next - time.monotonic()
                if delay > 0:
                    stop.wait(delay)  # the "device clock"; the pipe source paces the rest
    except (BrokenPipeError, OSError):
        return


async def run(mode: str, fifo: str, bpm: float, seconds: float) -> dict[str, object]:
    from plugins._providers import SoundDeviceAudioInput
    from plugins.stethoscope.plugin import StethoscopeModel

    clip = synth.heart_sound(bpm, seconds + 30, sample_rate_hz=RATE, snr_db=20.0, seed=3)
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(fifo, clip, stop), daemon=True)
    feeder.start()
    devices = [d.name for d in list_input_devices()]
    audio = SoundDeviceAudioInput()  # what the host grants as audio.input
    model = StethoscopeModel(sample_rate_hz=RATE, audio_input=audio)
    [pulse] = [device_id for device_id, label in model.devices() if label == "pulse"]
    model.set_filter("wide")
    model.open(pulse)
    model.start_recording("mitral")
    result: dict[str, object] = {"devices": devices}
    start = time.monotonic()
    announced = False
    deadline = start + seconds + (30 if mode == "unplug" else 10)
    while time.monotonic() < deadline:
        model.pull()
        await asyncio.sleep(1 / 30)  # the panel's display tick (the loop delivers blocks)
        got = model.display.written
        if mode == "record" and got >= seconds * RATE:
            break
        if mode == "unplug" and not announced and got >= 2 * RATE:
            print("RECORDING", flush=True)
            announced = True
        if mode == "unplug" and not model.recording:
            break
    rec = model.stop_recording() if model.recording else model.last_recording
    stop.set()
    hr = model.heart_rate
    result.update(
        {
            "status": model.status,
            "live_bpm": None if hr is None else hr.bpm,
        }
    )
    if rec is not None:
        result.update(
            {
                "duration_s": rec.metadata.duration_s,
                "recording_bpm": rec.metadata.heart_rate_bpm,
                "interrupted": rec.interrupted,
                "wav_bytes": len(rec.wav),
            }
        )
        if mode == "record":
            # Captured vs what went into the FIFO: the capture path must be transparent.
            f = compare(clip[: rec.samples.size + RATE], rec.samples, RATE, max_lag_s=2.0)
            result["coherence_20_1000hz"] = f.coherence_20_1000hz
            result["level_diff_db"] = f.level_diff_db
    model.shutdown()
    await asyncio.sleep(0.1)  # the stream's close, scheduled on the loop
    return result


if __name__ == "__main__":
    mode, fifo = sys.argv[1], sys.argv[2]
    bpm = float(sys.argv[3]) if len(sys.argv) > 3 else 72.0
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 8.0
    print(json.dumps(asyncio.run(run(mode, fifo, bpm, seconds))), flush=True)
