"""Call statistics from aiortc PeerConnections: one implementation for every session.

The Janus session (media/visit/session.py) and the demo loopback call
(media/visit/loopback.py) both turn ``RTCPeerConnection.getStats()`` reports into
:class:`app.visit.TrackStats`; the arithmetic (loss from ``packetsLost`` and
``packetsReceived``, jitter from RTP clock units to ms, frame and bit rates over a
window) lives here so the two cannot drift apart.

Field names follow the W3C WebRTC statistics identifiers
(https://www.w3.org/TR/webrtc-stats/): ``inbound-rtp``, ``remote-inbound-rtp``,
``transport``. Some figures aiortc does not report (the nominated ICE pair, bytes
without a stats round trip) are read from its objects, best effort.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.visit import TrackStats

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection

VIDEO_CLOCK_HZ = 90_000.0  # RTP clock of VP8/H264 (RFC 7741, RFC 6184)
OPUS_CLOCK_HZ = 48_000.0  # RTP clock of Opus (RFC 7587)


def _entries(report: Any, kind: str) -> list[Any]:
    return [e for e in report.values() if getattr(e, "type", "") == kind]


def rtt_ms(report: Any) -> float | None:
    """The largest round-trip time the far end reported (RTCP receiver reports), in ms."""
    rtts = [
        e.roundTripTime * 1000.0
        for e in _entries(report, "remote-inbound-rtp")
        if e.roundTripTime is not None
    ]
    return max(rtts) if rtts else None


def transport_bytes_received(report: Any) -> int:
    return sum(int(e.bytesReceived) for e in _entries(report, "transport"))


def loss_pct(packets_received: int, packets_lost: int) -> float:
    """Lost over expected (received + lost), in percent; 0 before anything was expected."""
    lost = max(0, packets_lost)
    expected = packets_received + lost
    return 100.0 * lost / expected if expected else 0.0


def jitter_ms(jitter_rtp_units: float, kind: str) -> float:
    clock_hz = VIDEO_CLOCK_HZ if kind == "video" else OPUS_CLOCK_HZ
    return round(1000.0 * (jitter_rtp_units or 0) / clock_hz, 2)


@dataclass
class Rates:
    """Frame rate and bit rate between two samples at least ``min_window_s`` apart.

    Shorter windows are noise (a refresh right after another): the last rates stay.
    """

    min_window_s: float = 0.5
    _last: tuple[float, int, int] | None = None  # time, frames, bytes
    frames_per_s: float = 0.0
    kbps: float = 0.0

    def update(self, frames: int, bytes_received: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self._last is None:
            self._last = (now, frames, bytes_received)
            return
        then, frames_then, bytes_then = self._last
        elapsed = now - then
        if elapsed < self.min_window_s:
            return
        self.frames_per_s = max(0.0, (frames - frames_then) / elapsed)
        self.kbps = max(0.0, (bytes_received - bytes_then) * 8 / 1000.0 / elapsed)
        self._last = (now, frames, bytes_received)


def inbound_tracks(
    report: Any,
    *,
    participant_id: str,
    codec_of: dict[str, str],
    width_px: int,
    height_px: int,
    rates: Rates,
) -> list[TrackStats]:
    """One :class:`TrackStats` per ``inbound-rtp`` entry (camera and voice)."""
    tracks: list[TrackStats] = []
    for entry in _entries(report, "inbound-rtp"):
        video = entry.kind == "video"
        tracks.append(
            TrackStats(
                kind=entry.kind,
                direction="inbound",
                participant_id=participant_id,
                label="camera" if video else "voice",
                codec=codec_of.get(entry.kind, ""),
                width_px=width_px if video else 0,
                height_px=height_px if video else 0,
                frames_per_s=round(rates.frames_per_s, 1) if video else 0.0,
                bitrate_kbps=round(rates.kbps, 1) if video else 0.0,
                packets_lost=max(0, entry.packetsLost),
                loss_pct=round(loss_pct(entry.packetsReceived, entry.packetsLost), 2),
                jitter_ms=jitter_ms(entry.jitter, entry.kind),
            )
        )
    return tracks


def outbound_video(
    report: Any, *, codec: str, width_px: int, height_px: int, frames_per_s: float
) -> list[TrackStats]:
    """Our camera as the far end reports receiving it (``remote-inbound-rtp``, video)."""
    return [
        TrackStats(
            kind="video",
            direction="outbound",
            label="camera",
            codec=codec,
            width_px=width_px,
            height_px=height_px,
            frames_per_s=frames_per_s,
            packets_lost=max(0, entry.packetsLost),
            # RTCP fractionLost is a fraction of 256 (RFC 3550 §6.4.1)
            loss_pct=round(100.0 * (entry.fractionLost or 0) / 256.0, 2),
            jitter_ms=jitter_ms(entry.jitter, "video"),
        )
        for entry in _entries(report, "remote-inbound-rtp")
        if entry.kind == "video"
    ]


def worst_inbound_video(tracks: Iterable[TrackStats]) -> tuple[float | None, float | None]:
    """(highest loss %, lowest frame rate) over inbound video, for the quality badge."""
    video = [t for t in tracks if t.kind == "video" and t.direction == "inbound"]
    if not video:
        return None, None
    return max(t.loss_pct for t in video), min(t.frames_per_s for t in video)


def codecs(pc: RTCPeerConnection) -> dict[str, str]:
    """kind -> negotiated codec name ("VP8", "H264", "opus") of the first transceiver of it."""
    found: dict[str, str] = {}
    for transceiver in pc.getTransceivers():
        chosen = getattr(transceiver, "_codecs", None) or []
        if chosen and transceiver.kind not in found:
            found[transceiver.kind] = str(chosen[0].mimeType).split("/", 1)[-1]
    return found


def bytes_received(pc: RTCPeerConnection) -> int:
    """Bytes the PeerConnection's DTLS transports received (SRTP + RTCP), without stats I/O."""
    total = 0
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        # aiortc keeps the counter behind name mangling; getStats() reads the same value
        total += int(getattr(dtls, "_RTCDtlsTransport__rx_bytes", 0) or 0)
    return total


def selected_candidate(pc: RTCPeerConnection) -> tuple[str, str]:
    """(local candidate type, relay protocol "udp"/"tcp") of the nominated ICE pair.

    Media transceivers first, then the data channels' transport (a connection with
    only a data channel, such as the tech check's EchoTest session, has no transceiver).
    """
    dtls = [t.sender.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        dtls.append(pc.sctp.transport)
    for transport in dtls:
        ice = getattr(transport, "transport", None)
        conn = getattr(ice, "_connection", None)
        for pair in getattr(conn, "_nominated", {}).values():
            kind = str(pair.local_candidate.type)
            if kind != "relay":
                return kind, ""
            turn = getattr(pair.protocol, "transport", None)
            inner = getattr(turn, "_TurnTransport__inner_protocol", None)
            return kind, "tcp" if "Tcp" in type(inner).__name__ else "udp"
    return "", ""


def latency_summary(latencies_ms: Iterable[float]) -> dict[str, float | None]:
    """p50 / p95 / max of send-to-decoded latencies (framestamp barcodes), in ms."""
    ordered = sorted(latencies_ms)
    if not ordered:
        return {"latency_p50_ms": None, "latency_p95_ms": None, "latency_max_ms": None}
    return {
        "latency_p50_ms": round(statistics.median(ordered), 1),
        "latency_p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
        "latency_max_ms": round(ordered[-1], 1),
    }
