"""A video jitter buffer that releases a frame the moment it is complete.

Why: aiortc's ``JitterBuffer._remove_frame`` walks the stored packets and emits a
frame only when it meets a packet with a *different* RTP timestamp, i.e. when the
first packet of the *next* frame has arrived. It never looks at the marker bit.
At 30 fps that holds every frame for about one frame interval (~33 ms) after its
last packet arrived, which is most of aiortc's receive-side latency on a LAN.

This buffer instead calls a frame complete when it holds, with no sequence gap:

- the frame's first packet, known from the payload itself (VP8: payload
  descriptor ``S=1`` and partition id 0, RFC 7741 §4.2; H264: a single NAL unit,
  a STAP-A, or an FU-A with the start bit, RFC 6184 §5.8),
- through the packet carrying the RTP marker bit (last packet of the frame:
  RFC 7741 §4.1, RFC 6184 §5.1; aiortc's sender sets it on the last payload).

Frames are released strictly in sequence order. A gap (lost packet) is NACKed at
once and re-NACKed every ``nack_retry_s`` (at most ``nack_max_retries`` times)
while the frame waits for the retransmission; after ``max_wait_s`` the
incomplete frame is dropped, every later *delta* frame is dropped until the next
keyframe (decoding them would show corrupt pictures), and a keyframe request
(PLI) is raised, repeated every ``keyframe_retry_s`` while still waiting.

Instrumentation: :class:`JitterStats` counts holes (gaps NACKed), holes filled,
frames released after a hole was filled and frames given up after ``max_wait_s``
(plain integer increments on paths that already run). Per-frame times are kept only
when the buffer is given a :class:`ReleaseTimings` (benchmarks): from a frame's
earliest hole's first NACK to its release (recovery time), and from its first
packet's arrival to its release. Without one the cost is an arrival time kept per
packet (the clock is read anyway) and two cheap tests per released frame; nothing is
logged per packet.

The buffer is independent of aiortc: it takes any object with
``sequence_number``, ``timestamp``, ``marker``, ``payload`` (the raw RTP payload)
and ``_data`` (the depayloaded bytes; aiortc's receiver sets it) and returns
:class:`ReleasedFrame` objects; :mod:`media.rtc.install` adapts it to aiortc.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

VP8 = "vp8"
H264 = "h264"
MAX_PACKETS = 2048  # ~2 s of 720p at 1 Mbit/s; beyond this the stream restarted or we fell behind
RESYNC_JUMP = 3000  # a sequence jump this large is a new stream, not loss


class RtpLike(Protocol):
    sequence_number: int
    timestamp: int
    marker: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class PacketInfo:
    starts_frame: bool
    keyframe: bool  # this packet shows the frame is a keyframe (VP8: first packet; H264: IDR/SPS)


def vp8_info(payload: bytes) -> PacketInfo:
    """Frame start and key bit from a VP8 RTP payload (RFC 7741 §4.2, §4.3)."""
    if not payload:
        return PacketInfo(False, False)
    first = payload[0]
    start = bool(first & 0x10) and (first & 0x07) == 0
    if not start:
        return PacketInfo(False, False)
    pos = 1
    if first & 0x80 and len(payload) > 1:  # X: extension byte follows
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            pos += 2 if pos < len(payload) and payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX byte
            pos += 1
    keyframe = pos < len(payload) and (payload[pos] & 0x01) == 0  # P bit 0: key frame
    return PacketInfo(True, keyframe)


_H264_KEY_NALS = {5, 7}  # IDR slice, sequence parameter set


def h264_info(payload: bytes) -> PacketInfo:
    """Frame start and IDR/SPS presence from an H264 RTP payload (RFC 6184 §5.6-5.8)."""
    if not payload:
        return PacketInfo(False, False)
    nal_type = payload[0] & 0x1F
    if 1 <= nal_type <= 23:  # single NAL unit packet
        return PacketInfo(True, nal_type in _H264_KEY_NALS)
    if nal_type == 24:  # STAP-A: 16-bit sizes then NAL units
        key = False
        pos = 1
        while pos + 2 < len(payload):
            size = int.from_bytes(payload[pos : pos + 2], "big")
            key = key or (payload[pos + 2] & 0x1F) in _H264_KEY_NALS
            pos += 2 + size
        return PacketInfo(True, key)
    if nal_type == 28 and len(payload) > 1:  # FU-A
        header = payload[1]
        return PacketInfo(bool(header & 0x80), (header & 0x1F) in _H264_KEY_NALS)
    return PacketInfo(False, False)


def packet_info(codec: str, payload: bytes) -> PacketInfo:
    if codec == VP8:
        return vp8_info(payload)
    if codec == H264:
        return h264_info(payload)
    raise ValueError(f"no frame boundary rules for codec {codec!r}")


@dataclass(slots=True)
class ReleasedFrame:
    data: bytes
    timestamp: int  # RTP timestamp
    keyframe: bool
    first_seq: int  # 16-bit sequence numbers, for tests and logs
    last_seq: int


@dataclass(slots=True)
class AddResult:
    frames: list[ReleasedFrame] = field(default_factory=list)
    nack: list[int] = field(default_factory=list)  # 16-bit sequence numbers to (re)request
    request_keyframe: bool = False


@dataclass(slots=True)
class JitterStats:
    packets: int = 0
    duplicates: int = 0
    late: int = 0  # arrived after their frame was released or dropped
    frames_released: int = 0
    frames_dropped: int = 0  # incomplete after max_wait_s, or deltas awaiting a keyframe
    keyframe_requests: int = 0
    nacked: int = 0  # NACKed sequence numbers, repeats included
    resyncs: int = 0
    holes: int = 0  # sequence numbers found missing (each NACKed at once)
    holes_filled: int = 0  # missing packets that arrived (retransmitted or late) in time
    frames_recovered: int = 0  # frames released once a hole in them was filled
    frames_waited_out: int = 0  # incomplete frames given up (max_wait_s, or buffer full)


TIMINGS_KEPT = 100_000  # per kind, newest kept: a benchmark's worth (~1 h of frames at 30 fps)


@dataclass(slots=True)
class ReleaseTimings:
    """Per-frame times in seconds, kept only when a buffer is given this object.

    ``recovery_s``: for a frame that had a hole, from the hole's first NACK (the
    moment the gap was seen) to the frame's release to the decoder; with several
    holes, the earliest counts. ``release_s``: for every released frame, from its
    first packet's arrival to its release. Several buffers may share one object.
    """

    recovery_s: deque[float] = field(default_factory=lambda: deque(maxlen=TIMINGS_KEPT))
    release_s: deque[float] = field(default_factory=lambda: deque(maxlen=TIMINGS_KEPT))

    def clear(self) -> None:
        self.recovery_s.clear()
        self.release_s.clear()


@dataclass(slots=True)
class _Stored:
    packet: Any
    info: PacketInfo
    arrived: float  # clock time of add()


class LowLatencyJitterBuffer:
    """See the module docstring. Not thread-safe: feed it from one thread (the event loop)."""

    def __init__(
        self,
        codec: str,
        *,
        max_wait_s: float = 0.2,
        nack_retry_s: float = 0.04,
        nack_max_retries: int = 4,
        keyframe_retry_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        timings: ReleaseTimings | None = None,
    ) -> None:
        packet_info(codec, b"")  # reject unknown codecs now
        self.codec = codec
        self.max_wait_s = max_wait_s
        self.nack_retry_s = nack_retry_s
        self.nack_max_retries = nack_max_retries
        self.keyframe_retry_s = keyframe_retry_s
        self._clock = clock
        self.timings = timings
        self._packets: dict[int, _Stored] = {}  # by extended (unwrapped) sequence number
        self._markers: set[int] = set()  # ext seqs of stored marker packets (frame ends)
        self._highest: int | None = None  # highest extended sequence number seen
        self._next: int | None = None  # extended seq where the next frame to release starts
        self._stalled_since: float | None = None
        # ext seq -> (first NACK time, last NACK time, NACK count)
        self._missing: dict[int, tuple[float, float, int]] = {}
        # ext seq -> first NACK time, for stored packets that filled a hole (until released)
        self._filled: dict[int, float] = {}
        self._need_keyframe = True  # nothing decodable until the first keyframe
        self._last_keyframe_request: float | None = None
        self.stats = JitterStats()

    # -- sequence numbers ---------------------------------------------------------------

    def _extend(self, seq: int) -> int:
        if self._highest is None:
            return seq
        base = self._highest
        delta = ((seq - base + 0x8000) & 0xFFFF) - 0x8000  # signed 16-bit difference
        return base + delta

    # -- public -------------------------------------------------------------------------

    def add(self, packet: Any) -> AddResult:
        now = self._clock()
        result = AddResult()
        self.stats.packets += 1
        ext = self._extend(packet.sequence_number)
        if self._highest is not None and abs(ext - self._highest) >= RESYNC_JUMP:
            self._reset()
            self.stats.resyncs += 1
            ext = packet.sequence_number
        if (self._next is not None and ext < self._next) or ext in self._packets:
            if ext in self._packets:
                self.stats.duplicates += 1
            else:
                self.stats.late += 1
            self._missing.pop(ext, None)
            self._service(now, result)
            return result
        info = packet_info(self.codec, packet.payload)
        self._packets[ext] = _Stored(packet, info, now)
        if packet.marker:
            self._markers.add(ext)
        hole = self._missing.pop(ext, None)
        if hole is not None:
            self.stats.holes_filled += 1
            self._filled[ext] = hole[0]
        if self._highest is None:
            self._highest = ext
        elif ext > self._highest:
            # Newly detected gap: ask for it straight away (one RTT, not a frame, of delay).
            first_missing = max(self._highest + 1, self._next if self._next is not None else 0)
            for gap in range(first_missing, ext):
                if gap not in self._packets:
                    self._missing[gap] = (now, now, 1)
                    self.stats.holes += 1
                    result.nack.append(gap & 0xFFFF)
            self._highest = ext
        if self._next is None:
            if info.starts_frame:
                self._next = ext
            else:
                self._request_keyframe(now, result)
        self._service(now, result)
        self.stats.nacked += len(result.nack)
        return result

    @property
    def waiting_for_keyframe(self) -> bool:
        return self._need_keyframe

    def missing(self) -> list[int]:
        """16-bit sequence numbers currently awaited by a stalled frame."""
        return sorted(seq & 0xFFFF for seq in self._missing)

    def buffered_packets(self) -> int:
        return len(self._packets)

    # -- internals ----------------------------------------------------------------------

    def _reset(self) -> None:
        self._packets.clear()
        self._markers.clear()
        self._missing.clear()
        self._filled.clear()
        self._highest = None
        self._next = None
        self._stalled_since = None
        self._need_keyframe = True

    def _request_keyframe(self, now: float, result: AddResult) -> None:
        last = self._last_keyframe_request
        if last is None or now - last >= self.keyframe_retry_s:
            self._last_keyframe_request = now
            result.request_keyframe = True
            self.stats.keyframe_requests += 1

    def _complete_frame(self, start: int) -> int | None:
        """The extended seq of the marker packet if the frame starting at ``start`` is complete."""
        first = self._packets.get(start)
        if first is None or not first.info.starts_frame or not self._markers:
            return None
        # Only walk the packets once the frame's end is here: O(packets) per frame, not
        # per packet (a 720p keyframe is ~50 packets).
        end = min((m for m in self._markers if m >= start), default=None)
        if end is None:
            return None
        timestamp = first.packet.timestamp
        for seq in range(start, end + 1):
            stored = self._packets.get(seq)
            if stored is None or stored.packet.timestamp != timestamp:
                return None
        return end

    def _release(self, start: int, end: int, now: float, result: AddResult) -> None:
        parts = [self._packets.pop(seq) for seq in range(start, end + 1)]
        self._markers.discard(end)
        keyframe = any(p.info.keyframe for p in parts)
        self._next = end + 1
        hole_since = None
        if self._filled:  # only while a filled hole is buffered: no cost on a clean stream
            filled = [seq for seq in self._filled if seq <= end]
            if filled:
                hole_since = min(self._filled.pop(seq) for seq in filled)
        if self._need_keyframe and not keyframe:
            self.stats.frames_dropped += 1  # undecodable without its reference
            self._request_keyframe(now, result)
            return
        self._need_keyframe = False
        self.stats.frames_released += 1
        if hole_since is not None:
            self.stats.frames_recovered += 1
        if self.timings is not None:
            if hole_since is not None:
                self.timings.recovery_s.append(now - hole_since)
            self.timings.release_s.append(now - min(p.arrived for p in parts))
        result.frames.append(
            ReleasedFrame(
                data=b"".join(p.packet._data for p in parts),
                timestamp=parts[0].packet.timestamp,
                keyframe=keyframe,
                first_seq=start & 0xFFFF,
                last_seq=end & 0xFFFF,
            )
        )

    def _skip_to_next_frame_start(self) -> None:
        """Drop the stalled frame: everything up to the next stored frame start after ``_next``."""
        assert self._next is not None
        starts = sorted(
            seq for seq, s in self._packets.items() if seq > self._next and s.info.starts_frame
        )
        stalled_ts = None
        head = self._packets.get(self._next)
        if head is not None:
            stalled_ts = head.packet.timestamp
        target = None
        for seq in starts:
            if self._packets[seq].packet.timestamp != stalled_ts:
                target = seq
                break
        if target is None:  # nothing usable buffered yet: wait for the next frame start
            target = (self._next if self._highest is None else self._highest) + 1
        for seq in [s for s in self._packets if s < target]:
            del self._packets[seq]
        self._markers = {m for m in self._markers if m >= target}
        for seq in [s for s in self._missing if s < target]:
            del self._missing[seq]
        for seq in [s for s in self._filled if s < target]:
            del self._filled[seq]
        self._next = target
        self.stats.frames_dropped += 1
        self.stats.frames_waited_out += 1
        self._need_keyframe = True

    def _service(self, now: float, result: AddResult) -> None:
        while self._next is not None:
            end = self._complete_frame(self._next)
            if end is not None:
                self._release(self._next, end, now, result)
                self._stalled_since = None
                continue
            if self._highest is None or self._highest < self._next:
                self._stalled_since = None
                break  # nothing beyond the released frames yet: simply waiting
            # Something at or after _next is incomplete.
            if self._stalled_since is None:
                self._stalled_since = now
            if len(self._packets) > MAX_PACKETS or now - self._stalled_since >= self.max_wait_s:
                self._skip_to_next_frame_start()
                self._request_keyframe(now, result)
                self._stalled_since = now if self._packets else None
                continue
            self._renack(now, result)
            break
        if self._need_keyframe and self._last_keyframe_request is not None:
            self._request_keyframe(now, result)  # still waiting: repeat (rate-limited)

    def _renack(self, now: float, result: AddResult) -> None:
        already = set(result.nack)
        for seq, (first, last, count) in list(self._missing.items()):
            if count >= self.nack_max_retries or now - last < self.nack_retry_s:
                continue
            self._missing[seq] = (first, now, count + 1)
            if seq & 0xFFFF not in already:
                result.nack.append(seq & 0xFFFF)
