"""Video send→decoded latency: our low-latency receive path vs stock aiortc, in one run.

``python -m bench.video_latency [--quick]`` prints one JSON object (DESIGN.md §3).

For each case (1280x720 and 640x480 at 30 fps, VP8 and H264 through aiortc's own
codecs) and each receive path (``ours`` = :mod:`media.rtc.jitter` installed by
:mod:`media.rtc.install`; ``stock`` = aiortc's ``JitterBuffer``), a fresh pair of
real ``RTCPeerConnection`` objects in this process connects over 127.0.0.1
(DTLS-SRTP, RTCP, NACK, REMB as in a call). The sender is the synthetic camera
(:func:`media.devices.camera.open_camera` ``"testsrc"``), which stamps every
frame with its counter and capture time (:mod:`media.framestamp`); the receiver
decodes and reads the barcode back from the decoded picture:

- ``p50_ms`` / ``p95_ms`` / ``max_ms``: capture (the track handing the frame to
  aiortc's encoder) to decoded (the frame leaving the remote track), same clock;
- ``frames_lost``: counters missing from the received range; ``frames``: decoded;
  ``rtp_packets_lost``: what the receiver's RTP statistics count as lost (since the
  pair connected); frames lost with no packet lost were skipped by the encoder;
- ``cpu_pct``: process CPU (user+system) over the measured window, in % of one
  core; ``threads``: the same per thread name (from ``/proc/self/task/*/stat``);
- ``buffer_us_per_packet`` (top level): CPU per packet of the jitter buffer alone,
  ours vs aiortc's, on real 720p VP8 packets (no codec, no network: no noise).

Cases run one after another, stock and ours alternating (the full run does two
rounds of 10 s per path, pooled), so both see the same
machine; on shared cores absolute figures are noisy, the ratios less so.
``metrics[case]`` is ours, ``reference[case]`` stock, ``ratio[case]`` ours/stock
(``p95`` and ``cpu``). Budgets (DESIGN.md §6): ours p95 <= 25 ms at 720p and
ratio p95 <= 0.5; ratio cpu <= 1.0; ``budget`` in the output says which hold.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import _common

BENCH = "video_latency"
CASES = {
    "720p_vp8": (1280, 720, "video/VP8"),
    "720p_h264": (1280, 720, "video/H264"),
    "480p_vp8": (640, 480, "video/VP8"),
    "480p_h264": (640, 480, "video/H264"),
}
FPS = 30
P95_BUDGET_MS = 25.0
P95_RATIO_BUDGET = 0.5
CPU_RATIO_BUDGET = 1.0
QUICK = {"warmup_s": 1.5, "measure_s": 3.0, "rounds": 1}
FULL = {"warmup_s": 2.0, "measure_s": 10.0, "rounds": 2}  # 20 s per path and case, alternated


def _clock_ticks() -> int:
    return int(os.sysconf("SC_CLK_TCK"))


def thread_cpu_ticks() -> dict[str, int]:
    """CPU ticks (user+system) per thread name, summed over threads sharing a name."""
    # Python thread names are not the kernel's comm: map native ids to threading names.
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    ticks: dict[str, int] = defaultdict(int)
    for stat in Path("/proc/self/task").glob("*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the thread ended between listing and reading
            continue
        tid = int(stat.parent.name)
        name = names.get(tid) or text[text.index("(") + 1 : text.rindex(")")]
        # Executor workers are numbered (ThreadPoolExecutor-0_3): group them.
        name = name.split("_")[0] if name.startswith("ThreadPoolExecutor") else name
        fields = text[text.rindex(")") + 2 :].split()
        ticks[name] += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return dict(ticks)


def _process_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def _pid_cpu_s(pid: int) -> float:
    """CPU seconds (user+system) of another process of ours, from /proc/PID/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _clock_ticks()


class _SenderProcess:
    """bench._video_sender in a child process, answered by a receiver pc in this one."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None

    async def connect(
        self, case: str, path: str, buffer_options: dict[str, Any] | None = None
    ) -> tuple[Any, Any]:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from media.rtc.hostaddr import loopback_config, pin_host_addresses
        from media.rtc.install import install_receive_path
        from media.visit.loopback import CONNECT_TIMEOUT_S

        width, height, codec = CASES[case]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench._video_sender", str(width), str(height), str(FPS), codec,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stdin is not None
        offer = json.loads(await asyncio.wait_for(self.proc.stdout.readline(), 30))["offer"]
        pc = RTCPeerConnection(loopback_config())
        install_receive_path(pc, path, **(buffer_options or {}))  # type: ignore[arg-type]
        arrived: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_track(track: Any) -> None:
            if not arrived.done():
                arrived.set_result(track)

        pc.on("track", on_track)
        with pin_host_addresses(["127.0.0.1"]):
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        self.proc.stdin.write((json.dumps({"answer": pc.localDescription.sdp}) + "\n").encode())
        await self.proc.stdin.drain()
        track = await asyncio.wait_for(arrived, CONNECT_TIMEOUT_S)
        return pc, track

    async def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()  # our own child, by its handle
            await self.proc.wait()


async def _measure(
    case: str,
    path: str,
    warmup_s: float,
    measure_s: float,
    two_way: bool = False,
    separate: bool = False,
    *,
    drop: Any = None,
    timings: Any = None,
) -> dict[str, Any]:
    """One path and case on a fresh pair; figures cover the ``measure_s`` after the warm-up.

    ``drop`` (a :data:`media.visit.loopback.DropRule`) makes the network to the receiver
    lossy; ``timings`` (a :class:`media.rtc.jitter.ReleaseTimings`) collects the receive
    buffer's per-frame times (our path only), cleared when the measured window starts.
    """
    from media.devices.camera import open_camera
    from media.rtc.install import jitter_stats
    from media.visit.loopback import (
        FrameProbe,
        Pair,
        connect_pair,
        drop_at_receiver,
        video_receiver,
    )

    width, height, codec = CASES[case]
    sender = _SenderProcess() if separate else None
    options = {"timings": timings} if timings is not None else None
    tracks: list[Any] = []
    if sender is not None:
        receiver_pc, remote = await sender.connect(case, path, options)
        pair = Pair(receiver_pc, receiver_pc)
        pair.remote_tracks["video"] = remote
    else:
        tracks = [open_camera("testsrc", width, height, FPS)]
        back = [open_camera("testsrc", width, height, FPS)] if two_way else []
        tracks += back
        pair = await connect_pair(
            tracks[:1],
            send_back=back,
            codec=codec,
            receive_path=path,  # type: ignore[arg-type]
            buffer_options=options,
        )
    receiver = video_receiver(pair.receiver)
    dropped = drop_at_receiver(receiver, drop) if drop is not None else {"dropped": 0, "seen": 0}
    probe = FrameProbe(pair.remote_tracks["video"])
    probe.start()
    back_probe = FrameProbe(pair.back_tracks["video"]) if two_way and not separate else None
    if back_probe is not None:
        back_probe.start()
    try:
        await asyncio.sleep(warmup_s)
        probe.reset()
        if back_probe is not None:
            back_probe.reset()
        if timings is not None:
            timings.clear()
        window_before = jitter_stats(receiver)
        dropped_before = dict(dropped)
        frames_before = probe.frames
        sender_pid = sender.proc.pid if sender is not None and sender.proc is not None else 0
        sender_before = _pid_cpu_s(sender_pid) if sender_pid else 0.0
        cpu_before, wall_before = _process_cpu_s(), time.monotonic()
        threads_before = thread_cpu_ticks()
        await asyncio.sleep(measure_s)
        samples = [s.latency_ms / 1000.0 for s in probe.samples]
        if back_probe is not None:  # both directions count
            samples += [s.latency_ms / 1000.0 for s in back_probe.samples]
        cpu_s, wall_s = _process_cpu_s() - cpu_before, time.monotonic() - wall_before
        sender_cpu_s = _pid_cpu_s(sender_pid) - sender_before if sender_pid else 0.0
        threads_after = thread_cpu_ticks()
        window_after = jitter_stats(receiver)
        dropped_after = dict(dropped)
        frames = probe.frames - frames_before
        unreadable, lost = probe.unreadable, probe.lost()
        size = (probe.width, probe.height)
        buffer_stats = None
        rtp_lost = 0
        for transceiver in pair.receiver.getTransceivers():
            buffer_stats = buffer_stats or jitter_stats(transceiver.receiver)
            if transceiver.kind == "video":
                report = await transceiver.receiver.getStats()
                rtp_lost += sum(
                    max(0, s.packetsLost) for s in report.values() if s.type == "inbound-rtp"
                )
    finally:
        await probe.stop()
        if back_probe is not None:
            await back_probe.stop()
        for t in tracks:
            t.stop()
        await pair.close()
        if sender is not None:
            await sender.close()
    return {
        "samples": samples,
        "cpu_s": cpu_s,
        "sender_cpu_s": sender_cpu_s,
        "wall_s": wall_s,
        "thread_ticks": {
            name: ticks - threads_before.get(name, 0)
            for name, ticks in threads_after.items()
            if ticks - threads_before.get(name, 0) > 0
        },
        "frames": frames,
        "frames_lost": lost,
        "unreadable": unreadable,
        "size": size,
        "buffer_stats": buffer_stats,
        "rtp_packets_lost": rtp_lost,
        # Measured window only: the receive buffer's counters and the lossy network's.
        "window_stats": _stats_delta(window_after, window_before),
        "packets_dropped": dropped_after["dropped"] - dropped_before["dropped"],
        "media_packets": dropped_after["seen"] - dropped_before["seen"],
    }


def _stats_delta(after: Any, before: Any) -> dict[str, int] | None:
    """``after - before`` per counter of two :class:`media.rtc.jitter.JitterStats` snapshots."""
    if after is None or before is None:
        return None
    return {
        name: getattr(after, name) - getattr(before, name) for name in after.__dataclass_fields__
    }


def _summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One path's figures for a case, pooled over its rounds."""
    samples = [s for r in rounds for s in r["samples"]]
    wall_s = sum(r["wall_s"] for r in rounds)
    frames = sum(r["frames"] for r in rounds)
    ticks: dict[str, int] = defaultdict(int)
    for r in rounds:
        for name, value in r["thread_ticks"].items():
            ticks[name] += value
    result: dict[str, Any] = {
        "frames": frames,
        "frames_lost": sum(r["frames_lost"] for r in rounds),
        "unreadable": sum(r["unreadable"] for r in rounds),
        # 0 here with frames_lost > 0: the sender's encoder skipped frames (CPU), not the path.
        "rtp_packets_lost": sum(r["rtp_packets_lost"] for r in rounds),
    }
    if samples:
        summary = _common.latency_summary_ms(samples)
        result.update({k: summary[k] for k in ("p50_ms", "p95_ms", "max_ms", "mean_ms")})
    else:
        result.update({"p50_ms": None, "p95_ms": None, "max_ms": None, "mean_ms": None})
    size = rounds[-1]["size"]
    result["fps"] = round(frames / wall_s, 1)
    result["received_size"] = f"{size[0]}x{size[1]}"
    result["cpu_pct"] = round(100.0 * sum(r["cpu_s"] for r in rounds) / wall_s, 1)
    sender_s = sum(r["sender_cpu_s"] for r in rounds)
    if sender_s:  # the sender ran in its own process: cpu_pct is the receiving end only
        result["sender_cpu_pct"] = round(100.0 * sender_s / wall_s, 1)
    tick = _clock_ticks()
    result["threads"] = {
        name: round(100.0 * value / tick / wall_s, 1) for name, value in sorted(ticks.items())
    }
    stats = [r["buffer_stats"] for r in rounds if r["buffer_stats"] is not None]
    if stats:
        result["jitter_buffer"] = {
            key: sum(getattr(st, key) for st in stats)
            for key in ("frames_released", "frames_dropped", "keyframe_requests", "nacked")
        }
    return result


def buffer_cost_us(frames: int = 60, repeats: int = 20) -> dict[str, float]:
    """CPU per packet (µs) of each jitter buffer alone, on real 720p VP8 RTP packets.

    A noise-free look at the receive path's own cost: the process CPU figures
    are dominated by the codecs and move ±15 % run to run on shared cores.
    """
    from fractions import Fraction

    from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
    from aiortc.jitterbuffer import JitterBuffer
    from aiortc.rtp import RtpPacket

    from media.devices.camera import SyntheticSource
    from media.rtc.jitter import VP8, LowLatencyJitterBuffer

    encoder, source = Vp8Encoder(), SyntheticSource(1280, 720)
    stream: list[tuple[int, bool, bytes, bytes]] = []  # (rtp timestamp, marker, payload, data)
    for index in range(frames):
        frame = source.next_frame(index)
        frame.pts, frame.time_base = index * 3000, Fraction(1, 90_000)
        payloads, timestamp = encoder.encode(frame, index == 0)
        for i, payload in enumerate(payloads):
            stream.append((timestamp, i == len(payloads) - 1, payload, vp8_depayload(payload)))
    packets = []
    for rep in range(repeats):  # the same frames again and again, as one continuous stream
        for offset, (timestamp, marker, payload, data) in enumerate(stream):
            seq = (rep * len(stream) + offset) & 0xFFFF
            ts = (timestamp + rep * frames * 3000) & 0xFFFFFFFF
            packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts, marker=marker)
            packet.payload = payload
            packet._data = data  # type: ignore[attr-defined]
            packets.append(packet)

    def cost(make: Any) -> float:
        best = float("inf")
        for _ in range(3):
            buffer = make()
            started = time.process_time()
            for packet in packets:
                buffer.add(packet)
            best = min(best, (time.process_time() - started) / len(packets))
        return round(best * 1e6, 2)

    return {
        "ours": cost(lambda: LowLatencyJitterBuffer(VP8)),
        "stock": cost(lambda: JitterBuffer(capacity=512, is_video=True)),
        "packets": len(packets),
    }


def _ratio(ours: float | None, stock: float | None) -> float | None:
    if ours is None or stock is None:
        return None
    return _common.ratio(ours, stock)


async def _run_all(
    cases: list[str],
    warmup_s: float,
    measure_s: float,
    rounds: int,
    two_way: bool,
    separate: bool,
) -> _common.BenchResult:
    result = _common.BenchResult()
    for index, case in enumerate(cases):
        raw: dict[str, list[dict[str, Any]]] = {"stock": [], "ours": []}
        for round_index in range(rounds):
            # Alternate which path goes first so neither always gets the warmer machine.
            order = ("stock", "ours") if (index + round_index) % 2 == 0 else ("ours", "stock")
            for path in order:
                _common.log(f"{case}: {path} receive path, round {round_index + 1}/{rounds}")
                raw[path].append(await _measure(case, path, warmup_s, measure_s, two_way, separate))
        figures = {path: _summarise(raw[path]) for path in raw}
        for path, fig in figures.items():
            _common.log(
                f"{case} {path}: p50 {fig['p50_ms']} ms, p95 {fig['p95_ms']} ms, "
                f"cpu {fig['cpu_pct']} %"
            )
        result.metrics[case] = figures["ours"]
        result.reference[case] = figures["stock"]
        result.ratio[case] = {
            "p95": _ratio(figures["ours"]["p95_ms"], figures["stock"]["p95_ms"]),
            "p50": _ratio(figures["ours"]["p50_ms"], figures["stock"]["p50_ms"]),
            "cpu": _ratio(figures["ours"]["cpu_pct"], figures["stock"]["cpu_pct"]),
        }
    cost = buffer_cost_us()
    result.metrics["buffer_us_per_packet"] = cost["ours"]
    result.reference["buffer_us_per_packet"] = cost["stock"]
    result.ratio["buffer_us_per_packet"] = _ratio(cost["ours"], cost["stock"])
    budget: dict[str, Any] = {}
    for case in cases:
        if not case.startswith("720p"):
            continue
        p95 = result.metrics[case]["p95_ms"]
        budget[case] = {
            "p95_le_25ms": p95 is not None and p95 <= P95_BUDGET_MS,
            "p95_ratio_le_0_5": (result.ratio[case]["p95"] or 99) <= P95_RATIO_BUDGET,
            "cpu_ratio_le_1_0": (result.ratio[case]["cpu"] or 99) <= CPU_RATIO_BUDGET,
        }
    result.params["budget"] = budget
    return result


def main(argv: list[str] | None = None) -> int:
    parser = _common.base_parser(BENCH, __doc__.splitlines()[0] if __doc__ else BENCH)
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="only these")
    parser.add_argument("--seconds", type=float, help="measured seconds per path and case")
    parser.add_argument(
        "--two-way", action="store_true", help="both peers send a camera (the CPU budget's call)"
    )
    parser.add_argument(
        "--separate-sender",
        action="store_true",
        help="run the sender in a child process (one-way only); cpu_pct is then the receiver's",
    )
    args = parser.parse_args(argv)
    timing: dict[str, float] = dict(QUICK if args.quick else FULL)
    if args.seconds:
        timing["measure_s"] = args.seconds
    cases = args.case or list(CASES)

    if args.separate_sender and args.two_way:
        parser.error("--separate-sender is one-way only")
    separate = bool(args.separate_sender)

    def body() -> _common.BenchResult:
        import aiortc

        result = asyncio.run(
            _run_all(
                cases,
                timing["warmup_s"],
                timing["measure_s"],
                int(timing["rounds"]),
                args.two_way,
                separate,
            )
        )
        result.params = {
            **_common.machine_params(),
            "quick": args.quick,
            "fps": FPS,
            "direction": ("two-way" if args.two_way else "one-way")
            + (", sender in a child process" if separate else ", one process")
            + ", 127.0.0.1",
            "cpu_pct_covers": "receiver process only" if separate else "sender and receiver",
            "aiortc": aiortc.__version__,
            "warmup_s": timing["warmup_s"],
            "measure_s": timing["measure_s"],
            "rounds": int(timing["rounds"]),
            "cases": {
                c: {"width": CASES[c][0], "height": CASES[c][1], "codec": CASES[c][2]}
                for c in cases
            },
            "budget": result.params.get("budget", {}),
        }
        return result

    return _common.run(BENCH, body)


if __name__ == "__main__":
    raise SystemExit(main())
