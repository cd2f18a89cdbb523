"""NACK recovery time under random loss: how long a lost packet holds its frame back.

``python -m bench.nack_recovery [--quick]`` prints one JSON object (DESIGN.md §3).

A 1280x720 VP8 stream at 30 fps runs through the real receive path (our
:mod:`media.rtc.jitter` buffer in aiortc, DTLS-SRTP, RTCP NACK, RTX), on a fresh
loopback pair per run, as in :mod:`bench.video_latency` (whose ``_measure`` does the
connecting, probing and counting here). The network to the receiver drops RTP
packets at random (:func:`media.visit.loopback.drop_at_receiver`): media packets and
retransmissions alike, each with probability ``loss`` (seeded); NACKs are not lost.

Figures, over the measured window of each run (``metrics["loss_Npct"]``):

- ``recovery_p50_ms`` / ``recovery_p95_ms`` / ``recovery_max_ms``: for every frame
  that had a hole, from the hole's first NACK (sent the moment the gap is seen) to
  the frame's release to the decoder (:class:`media.rtc.jitter.ReleaseTimings`);
  ``frames_recovered`` is how many; ``null`` when no frame needed one;
- ``frames_waited_out``: frames still incomplete after ``max_wait_s`` (0.2 s) and
  given up (a keyframe request follows); ``frames_dropped`` adds the delta frames
  dropped while waiting for that keyframe;
- ``holes`` (sequence numbers found missing), ``holes_filled``, ``nacks`` (repeats
  included), ``packets_dropped`` / ``media_packets`` (the fake network's count);
- ``release_p50_ms`` / ``release_p95_ms``: every released frame, from its first
  packet's arrival to its release; ``latency_p50_ms`` / ``latency_p95_ms``:
  capture to decoded (barcode time, :class:`media.visit.loopback.FrameProbe`).

``reference`` is the same stream with no loss, in the same run (runs alternate, the
loss-free one first in odd rounds, last in even ones). ``ratio["loss_Npct"]``:
``recovery_p50`` and ``recovery_p95`` are the recovery figure over the loss-free
stream's frame latency (capture to decoded, same percentile): what a recovered loss
adds, in units of a frame's normal latency; ``latency_p95`` and ``release_p95`` are
the lossy run's over the loss-free one's. On a loss-free loopback ``release_*`` is
tens of microseconds (the spread of a frame's packets), too small to divide by.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from bench import _common
from bench import video_latency as vl

BENCH = "nack_recovery"
CASE = "720p_vp8"
LOSS_PCT = (1, 5, 10)
SEED = 20261206
QUICK = {"warmup_s": 1.0, "measure_s": 2.5, "rounds": 1}
FULL = {"warmup_s": 2.0, "measure_s": 20.0, "rounds": 2}  # ~1,200 packets per rate and round


def _key(loss_pct: float) -> str:
    return f"loss_{loss_pct:g}pct"


def _random_loss(loss_pct: float, seed: int) -> Any:
    """A :data:`media.visit.loopback.DropRule` dropping each packet with ``loss_pct`` %."""
    rng = random.Random(seed)
    rate = loss_pct / 100.0
    return lambda _seen, _is_media, _packet: rng.random() < rate


def _ms(samples_s: list[float], q: float) -> float | None:
    if not samples_s:
        return None
    return round(_common.percentile(samples_s, q) * 1000.0, 3)


async def _one_run(loss_pct: float, seed: int, warmup_s: float, measure_s: float) -> dict[str, Any]:
    from media.rtc.jitter import ReleaseTimings

    timings = ReleaseTimings()
    # The loss-free run goes through the same door (it drops nothing): same per-packet
    # work, and its packets are counted too.
    drop = _random_loss(loss_pct, seed)
    raw = await vl._measure(CASE, "ours", warmup_s, measure_s, drop=drop, timings=timings)
    raw["recovery_s"] = list(timings.recovery_s)
    raw["release_s"] = list(timings.release_s)
    return raw


def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One loss rate's figures, pooled over its rounds."""
    recovery = [s for r in runs for s in r["recovery_s"]]
    release = [s for r in runs for s in r["release_s"]]
    latency = [s for r in runs for s in r["samples"]]
    counters: dict[str, int] = {}
    for r in runs:
        for name, value in (r["window_stats"] or {}).items():
            counters[name] = counters.get(name, 0) + value
    return {
        "recovery_p50_ms": _ms(recovery, 50),
        "recovery_p95_ms": _ms(recovery, 95),
        "recovery_max_ms": _ms(recovery, 100),
        "frames_recovered": counters.get("frames_recovered", 0),
        "frames_waited_out": counters.get("frames_waited_out", 0),
        "frames_dropped": counters.get("frames_dropped", 0),
        "frames_released": counters.get("frames_released", 0),
        "keyframe_requests": counters.get("keyframe_requests", 0),
        "holes": counters.get("holes", 0),
        "holes_filled": counters.get("holes_filled", 0),
        "nacks": counters.get("nacked", 0),
        "packets_dropped": sum(r["packets_dropped"] for r in runs),
        "media_packets": sum(r["media_packets"] for r in runs),
        "release_p50_ms": _ms(release, 50),
        "release_p95_ms": _ms(release, 95),
        "latency_p50_ms": _ms(latency, 50),
        "latency_p95_ms": _ms(latency, 95),
        "frames": sum(r["frames"] for r in runs),
        "frames_lost": sum(r["frames_lost"] for r in runs),
    }


def _ratio(ours: float | None, reference: float | None) -> float | None:
    if ours is None or reference is None:
        return None
    return _common.ratio(ours, reference)


async def _run_all(
    losses: list[float], warmup_s: float, measure_s: float, rounds: int
) -> _common.BenchResult:
    raw: dict[float, list[dict[str, Any]]] = {loss: [] for loss in [0.0, *losses]}
    for round_index in range(rounds):
        order = list(raw) if round_index % 2 == 0 else list(reversed(raw))
        for loss in order:
            _common.log(f"{_key(loss)} loss, round {round_index + 1}/{rounds}")
            seed = SEED + round_index * 1000 + int(loss * 10)
            raw[loss].append(await _one_run(loss, seed, warmup_s, measure_s))
    result = _common.BenchResult()
    reference = _summarise(raw[0.0])
    result.reference = reference
    for loss in losses:
        fig = _summarise(raw[loss])
        _common.log(
            f"{_key(loss)}: recovery p50 {fig['recovery_p50_ms']} ms, "
            f"p95 {fig['recovery_p95_ms']} ms over {fig['frames_recovered']} frames, "
            f"{fig['frames_waited_out']} waited out"
        )
        result.metrics[_key(loss)] = fig
        result.ratio[_key(loss)] = {
            "recovery_p50": _ratio(fig["recovery_p50_ms"], reference["latency_p50_ms"]),
            "recovery_p95": _ratio(fig["recovery_p95_ms"], reference["latency_p95_ms"]),
            "latency_p95": _ratio(fig["latency_p95_ms"], reference["latency_p95_ms"]),
            "release_p95": _ratio(fig["release_p95_ms"], reference["release_p95_ms"]),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = _common.base_parser(BENCH, __doc__.splitlines()[0] if __doc__ else BENCH)
    parser.add_argument(
        "--loss",
        type=float,
        action="append",
        help=f"random loss in %% (repeatable; default {', '.join(map(str, LOSS_PCT))})",
    )
    parser.add_argument("--seconds", type=float, help="measured seconds per loss rate and round")
    args = parser.parse_args(argv)
    timing: dict[str, float] = dict(QUICK if args.quick else FULL)
    if args.seconds:
        timing["measure_s"] = args.seconds
    losses = sorted(set(args.loss or LOSS_PCT))
    if any(not 0.0 < loss < 100.0 for loss in losses):
        parser.error("--loss must be above 0 and below 100")

    def body() -> _common.BenchResult:
        import aiortc

        from media.rtc.jitter import LowLatencyJitterBuffer

        result = asyncio.run(
            _run_all(losses, timing["warmup_s"], timing["measure_s"], int(timing["rounds"]))
        )
        defaults = LowLatencyJitterBuffer("vp8")
        width, height, codec = vl.CASES[CASE]
        result.params = {
            **_common.machine_params(),
            "quick": args.quick,
            "width": width,
            "height": height,
            "codec": codec,
            "fps": vl.FPS,
            "loss_pct": losses,
            "loss_applies_to": "RTP media and RTX to the receiver, random, seeded; not RTCP",
            "seed": SEED,
            "direction": "one-way, one process, 127.0.0.1",
            "aiortc": aiortc.__version__,
            "max_wait_s": defaults.max_wait_s,
            "nack_retry_s": defaults.nack_retry_s,
            "nack_max_retries": defaults.nack_max_retries,
            "warmup_s": timing["warmup_s"],
            "measure_s": timing["measure_s"],
            "rounds": int(timing["rounds"]),
        }
        return result

    return _common.run(BENCH, body)


if __name__ == "__main__":
    raise SystemExit(main())
