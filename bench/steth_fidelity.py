"""Stethoscope fidelity through a real Janus: coherence, level and latency, ours vs voice.

``python -m bench.steth_fidelity [--quick]`` (needs root: it starts Janus in a
network namespace exactly as ``tests/integration/media`` does). Two in-process
consoles (:class:`media.visit.session.VisitSession`) join one room; the host adds
two labelled tracks through ``visit.tracks`` (:class:`media.visit.tracks.SessionTracks`)
and sends, in real time, a synthetic heart sound (S1/S2 with a systolic murmur)
then a lung sound (:mod:`media.steth.synth`, with a little broadband noise):

- ``metrics``: the ``stethoscope`` track, Opus full band 128 kbps, no DTX, the raw
  samples (what the plugin sends);
- ``reference``: the voice path, Opus 24 kbps application ``voip`` with DTX, fed
  through a *stand-in for a browser's voice processing*: a 100 Hz high-pass, a
  noise gate and an automatic gain control (:func:`voice_process`). Real
  WebRTC APM (AEC3/NS/AGC2) is not available here; the stand-in models what
  those stages do to a non-speech sound (cut the lows, gate the quiet parts,
  pump the level).

The guest captures the received samples with their arrival times. Per sound,
:func:`media.steth.fidelity.compare` aligns received to sent and reports the
20-1,000 Hz magnitude-squared coherence and the level difference. Latency: each
1 s window of the sent signal is found in the received stream by
cross-correlation; its latency is the wall time its first sample arrived minus
the wall time it was written; ``latency_p95_ms`` is over all windows.
``coherence_20_1000hz`` is the lowest over the sounds. Budgets: coherence
≥ 0.95, latency p95 ≤ 150 ms.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from bench import _common

BENCH = "steth_fidelity"
RECEIVE_PATH = "ours"
RATE = 48_000
BLOCK = 960  # 20 ms
SOUNDS = ("heart_murmur", "lung")
FULL = {"seconds_per_sound": 12.0}
QUICK = {"seconds_per_sound": 5.0}
BUDGET_COHERENCE = 0.95
BUDGET_LATENCY_P95_MS = 150.0
STETH_OPTIONS = {"music": True, "dtx": False, "bitrate_bps": 128_000}
VOICE_OPTIONS = {"music": False, "dtx": True, "bitrate_bps": 24_000}


@dataclass(frozen=True)
class TrackOptions:  # structurally clinician_console_api.AudioTrackOptions (no plugin import)
    voice_processing: bool = False
    music: bool = True
    dtx: bool = False
    bitrate_bps: int = 128_000
    stereo: bool = False


FloatArray = npt.NDArray[np.float64]


def test_sound(name: str, seconds: float) -> FloatArray:
    """A synthetic sound at 48 kHz, peak about -6 dBFS, with broadband noise at 30 dB SNR."""
    from media.steth import synth

    if name == "heart_murmur":
        x = synth.heart_sound(72, seconds, sample_rate_hz=RATE, murmur=True, snr_db=30, seed=3)
    else:
        x = synth.lung_sound(seconds, sample_rate_hz=RATE, seed=4)
        x = synth.add_noise(x, 30, sample_rate_hz=RATE, seed=5)
    x = np.asarray(x, dtype=np.float64)
    return np.asarray(0.5 * x / (np.max(np.abs(x)) + 1e-12), dtype=np.float64)


def voice_process(x: FloatArray, rate: int = RATE) -> FloatArray:
    """Stand-in for a browser's voice processing: 100 Hz high-pass, noise gate, AGC."""
    from scipy import signal

    sos = signal.butter(4, 100.0, "highpass", fs=rate, output="sos")
    y = signal.sosfilt(sos, x)
    frame = rate // 100  # 10 ms
    n = y.size // frame * frame
    frames = y[:n].reshape(-1, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1)) + 1e-9
    level_db = 20 * np.log10(rms)
    gate = np.where(level_db > np.percentile(level_db, 40), 1.0, 0.1)
    target = 10 ** (-20 / 20)  # AGC towards -20 dBFS RMS, 200 ms attack/release
    gain = np.ones_like(rms)
    g = 1.0
    for i, r in enumerate(rms):
        g += 0.05 * (min(target / r, 10.0) - g)
        gain[i] = g
    per_sample = np.repeat(gate * gain, frame)
    out = np.concatenate([frames.reshape(-1) * per_sample, y[n:]])
    return np.asarray(np.clip(out, -1.0, 1.0))


@dataclass
class Capture:
    """Received samples and the wall time (monotonic s) each block arrived."""

    blocks: list[npt.NDArray[np.float32]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    track: Any = None

    def samples(self) -> FloatArray:
        if not self.blocks:
            return np.zeros(0)
        return np.concatenate([b.reshape(-1) for b in self.blocks]).astype(np.float64)

    def arrival(self) -> FloatArray:
        """Arrival time of every received sample (the block's arrival time)."""
        if not self.blocks:
            return np.zeros(0)
        return np.concatenate(
            [np.full(b.shape[0], t) for b, t in zip(self.blocks, self.times, strict=True)]
        )


async def _capture(track: Any, capture: Capture) -> None:
    from app.errors import CapabilityUnavailableError

    while True:
        try:
            block = await track.read()
        except CapabilityUnavailableError:
            return
        capture.times.append(time.monotonic())
        capture.blocks.append(block)


async def _send(out: list[Any], signals: list[FloatArray]) -> float:
    """Write the signals block by block in real time; return the start (monotonic s)."""
    start = time.monotonic()
    n = min(s.size for s in signals) // BLOCK
    for i in range(n):
        for track, sig in zip(out, signals, strict=True):
            track.write(sig[i * BLOCK : (i + 1) * BLOCK].astype(np.float32))
        delay = start + (i + 1) * BLOCK / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    return start


def window_latencies_ms(
    sent: FloatArray, sent_start: float, received: FloatArray, arrival: FloatArray
) -> list[float]:
    """Per 1 s window of ``sent``: arrival of its first sample minus when it was written."""
    from media.steth.fidelity import align_lag

    found: list[float] = []
    for k in range(sent.size // RATE):
        window = sent[k * RATE : (k + 1) * RATE]
        if np.sqrt(np.mean(window**2)) < 1e-4:
            continue
        # search around where it should be: the expected lag is under a second
        lo = max(0, k * RATE - RATE // 2)
        hi = min(received.size, (k + 1) * RATE + 2 * RATE)
        if hi - lo < RATE:
            continue
        lag = align_lag(window, received[lo:hi], max_lag=hi - lo)
        j = lo + lag
        if 0 <= j < arrival.size:
            found.append(1000.0 * (arrival[j] - (sent_start + k)))
    return found


def analyse(
    sent_parts: dict[str, FloatArray], sent_start: float, capture: Capture
) -> dict[str, Any]:
    """Fidelity per sound (coherence, level) and latency p95 over all windows."""
    from media.steth.fidelity import align_lag, compare

    sent = np.concatenate([sent_parts[name] for name in SOUNDS])
    received = capture.samples()
    arrival = capture.arrival()
    per_sound: dict[str, Any] = {}
    offset = 0
    # the received stream begins with the first packet: locate the whole signal once
    lag = align_lag(sent, received, max_lag=received.size) if received.size else 0
    for name in SOUNDS:
        part = sent_parts[name]
        lo = max(0, offset + lag)
        seg = received[lo : lo + part.size + RATE // 2]
        if seg.size < RATE:
            per_sound[name] = {"coherence_20_1000hz": 0.0, "level_diff_db": None}
        else:
            fid = compare(part, seg, RATE, max_lag_s=0.5)
            per_sound[name] = {
                "coherence_20_1000hz": round(fid.coherence_20_1000hz, 4),
                "coherence_min_bin": round(fid.coherence_min_20_1000hz, 4),
                "level_diff_db": round(fid.level_diff_db, 2),
            }
        offset += part.size
    latencies = window_latencies_ms(sent, sent_start, received, arrival)
    levels: list[float] = [
        float(v["level_diff_db"]) for v in per_sound.values() if v["level_diff_db"] is not None
    ]
    return {
        "coherence_20_1000hz": min(v["coherence_20_1000hz"] for v in per_sound.values()),
        "latency_p95_ms": round(_common.percentile(latencies, 95), 1) if latencies else None,
        "latency_p50_ms": round(_common.percentile(latencies, 50), 1) if latencies else None,
        "level_diff_db": _worst_level(levels),
        "per_sound": per_sound,
        "received_s": round(received.size / RATE, 2),
        "windows": len(latencies),
    }


def _worst_level(levels: list[float]) -> float | None:
    """The level difference furthest from 0 dB."""
    if not levels:
        return None
    return round(float(sorted(levels, key=abs)[-1]), 2)


async def run_call(janus: Any, net: Any, seconds_per_sound: float) -> dict[str, Any]:
    """One call through ``janus``: host sends steth + voice-reference tracks, guest measures.

    Returns ``{"ours": analysis, "reference": analysis, "voice_audio_frames": int}``.
    """
    from app.visit import Visit
    from media.visit.session import SessionConfig, VisitSession
    from media.visit.tracks import SessionTracks

    def config(**kw: Any) -> SessionConfig:
        return SessionConfig(
            server_url=janus.ws_url,
            admin_key=janus.admin_key,
            interfaces=[net.host_ip],
            width=320,
            height=240,
            fps=15,
            render_frames=False,
            receive_path=RECEIVE_PATH,
            allow_insecure_hosts=[net.host_ip],  # the bench's Janus: plain ws:// on the veth
            **kw,
        )

    host = VisitSession(Visit(encounter_id="bench-host"), config(create=True, display="Nurse"))
    host_tracks = SessionTracks(host)
    await host.start()
    guest = VisitSession(
        Visit(encounter_id="bench-guest"),
        config(room=host.cfg.room, pin=host.cfg.pin, host_key=host.lobby_key, display="Doctor"),
    )
    guest_tracks = SessionTracks(guest)
    guest_start = asyncio.ensure_future(guest.start())
    captures = {"stethoscope": Capture(), "voice-reference": Capture()}

    def on_track(track: Any) -> None:
        # a re-subscription (each added track) delivers fresh tracks: read the newest
        capture = captures[track.label]
        if capture.task is not None:
            capture.task.cancel()
        capture.track = track
        capture.task = asyncio.ensure_future(_capture(track, capture))

    try:
        await _wait(lambda: bool(host.visit.waiting), 15, "the guest waiting")
        await host.admit(host.visit.waiting[0].waiting_id)
        await guest_start
        await _wait(lambda: any(r.audio_frames > 10 for r in guest.remotes.values()), 15, "voice")
        for label in captures:
            guest_tracks.subscribe_audio(label, on_track)
        steth = await host_tracks.add_audio_track("stethoscope", options=TrackOptions())
        voice = await host_tracks.add_audio_track(
            "voice-reference", options=TrackOptions(True, False, True, 24_000)
        )
        # both tracks from the same (latest) subscription
        await _wait(
            lambda: (
                all(
                    c.track is not None and c.track in guest_tracks.incoming
                    for c in captures.values()
                )
                and not any(r.rebuilding for r in guest.remotes.values())
            ),
            20,
            "the tracks",
        )
        voice_before = sum(r.audio_frames for r in guest.remotes.values())
        await asyncio.sleep(1.0)  # the re-subscription settles (not synchronisation)
        parts = {name: test_sound(name, seconds_per_sound) for name in SOUNDS}
        sent = np.concatenate([parts[name] for name in SOUNDS])
        start = await _send([steth, voice], [sent, voice_process(sent)])
        await asyncio.sleep(1.0)  # the tail in flight
        voice_frames = sum(r.audio_frames for r in guest.remotes.values()) - voice_before
        ours = analyse(parts, start, captures["stethoscope"])
        reference = analyse(parts, start, captures["voice-reference"])
    finally:
        for capture in captures.values():
            if capture.task is not None:
                capture.task.cancel()
        await guest.close()
        await host.close()
    return {"ours": ours, "reference": reference, "voice_audio_frames": voice_frames}


async def _wait(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = _common.base_parser(BENCH, __doc__.splitlines()[0] if __doc__ else BENCH)
    parser.add_argument("--seconds", type=float, help="seconds per test sound")
    args = parser.parse_args(argv)
    seconds = float(args.seconds or (QUICK if args.quick else FULL)["seconds_per_sound"])

    def body() -> _common.BenchResult:
        from tests.integration.media.services import media_services

        with media_services() as (net, janus, _turn):
            found = asyncio.run(run_call(janus, net, seconds))
        ours, ref = found["ours"], found["reference"]
        keys = ("coherence_20_1000hz", "latency_p95_ms", "level_diff_db", "per_sound")
        return _common.BenchResult(
            params={
                **_common.machine_params(),
                "quick": bool(args.quick),
                "seconds_per_sound": seconds,
                "sounds": list(SOUNDS),
                "sample_rate_hz": RATE,
                "path": "console -> Janus VideoRoom -> console (aiortc, network namespace)",
                "ours": "Opus application audio, 128 kbps, no DTX, raw samples",
                "reference": (
                    "Opus application voip, 24 kbps, DTX; stand-in voice processing "
                    "(100 Hz high-pass, noise gate, AGC) before sending"
                ),
                "budgets": {
                    "coherence_20_1000hz": BUDGET_COHERENCE,
                    "latency_p95_ms": BUDGET_LATENCY_P95_MS,
                },
                "voice_track_audio_frames": found["voice_audio_frames"],
            },
            metrics={k: ours[k] for k in keys}
            | {"latency_p50_ms": ours["latency_p50_ms"], "received_s": ours["received_s"]},
            reference={k: ref[k] for k in keys} | {"latency_p50_ms": ref["latency_p50_ms"]},
            ratio={
                "coherence_20_1000hz": _common.ratio(
                    ours["coherence_20_1000hz"], ref["coherence_20_1000hz"]
                ),
                "latency_p95_ms": _common.ratio(
                    ours["latency_p95_ms"] or 0.0, ref["latency_p95_ms"] or 0.0
                ),
            },
        )

    return _common.run(BENCH, body)


if __name__ == "__main__":
    raise SystemExit(main())
