"""Child for test_audio_devices: runs with PULSE_SERVER pointing at the test's PulseAudio.

PortAudio reads the environment when sounddevice is imported, hence a child process.
``python -m tests.integration.audio_devices_child mic FIFO`` writes a 1 kHz tone into
the pipe source's FIFO and records 1 s through ``open_microphone("pulse")``;
``... speaker`` plays the 440 Hz test tone through ``SpeakerSink`` for 4 s. Prints one
JSON line (the mic's dominant frequency and RMS, or the frames played).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

import numpy as np

RATE = 48_000


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[int(np.argmax(spectrum))])


def feed_fifo(path: str, stop: threading.Event) -> None:
    n = np.arange(RATE // 50)
    with open(path, "wb") as fifo:
        phase = 0
        while not stop.is_set():
            block = (np.sin(2 * np.pi * 1000 * (n + phase) / RATE) * 12000).astype("<i2")
            phase += len(n)
            fifo.write(block.tobytes())
            fifo.flush()
            time.sleep(0.018)  # roughly real time; the pipe source paces the rest


async def mic(fifo: str) -> dict[str, object]:
    from media.devices.audio import list_microphones, open_microphone

    stop = threading.Event()
    feeder = threading.Thread(target=feed_fifo, args=(fifo, stop), daemon=True)
    feeder.start()
    track = open_microphone("pulse")
    blocks = []
    for _ in range(100):  # 2 s; the first part may be silence while the source starts
        frame = await track.recv()
        blocks.append(frame.to_ndarray().reshape(-1))
    track.stop()
    stop.set()
    tail = np.concatenate(blocks[-50:])
    labels = [d.label for d in list_microphones()]
    rms = float(np.sqrt(np.mean(tail.astype(np.float64) ** 2)))
    return {"hz": dominant_hz(tail), "rms": rms, "microphones": labels,
            "sizes": sorted({len(b) for b in blocks})}  # fmt: skip


async def speaker() -> dict[str, object]:
    from media.devices.audio import SpeakerSink, list_speakers, open_microphone

    tone = open_microphone("tone")
    sink = SpeakerSink(tone, "pulse")
    await sink.start()
    await asyncio.sleep(4.0)  # the parent records the sink's monitor meanwhile
    await sink.stop()
    tone.stop()
    return {"played": sink.frames_played, "speakers": [d.label for d in list_speakers()]}


if __name__ == "__main__":
    what = sys.argv[1]
    result = asyncio.run(mic(sys.argv[2]) if what == "mic" else speaker())
    print(json.dumps(result))
