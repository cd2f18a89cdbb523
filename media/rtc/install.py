"""Put :class:`media.rtc.jitter.LowLatencyJitterBuffer` into aiortc's video receivers.

aiortc has no public hook for its jitter buffer: ``RTCRtpReceiver.__init__``
stores one in the name-mangled attribute ``_RTCRtpReceiver__jitter_buffer`` and
``_handle_rtp_packet`` calls ``buffer.add(packet) -> (pli_flag, frame | None)``
for every (RTX-unwrapped, depayloaded) packet, then queues the frame for its
decoder thread. We swap that one attribute for an adapter with the same
``add`` signature, and switch off aiortc's own ``NackGenerator`` (attribute
``_RTCRtpReceiver__nack_generator`` set to None) because our buffer decides
NACKs itself (immediately on a gap, then re-requests while a frame waits).

The swap touches private attributes, so it is guarded: the aiortc version must
be one this was tested with (:data:`TESTED_AIORTC`) and every attribute used
must exist with the expected type; otherwise :class:`ReceivePathUnsupportedError`
says exactly what changed (no silent fallback: the benchmark and tests would
then measure the stock path while claiming ours). Set
``CLINICIAN_CONSOLE_AIORTC_UNTESTED=1`` to try an untested version anyway.

``install_receive_path(pc, "ours" | "stock")`` applies to every video
receiver the peer connection has now and every one it creates later (through
its ``track`` event, which aiortc fires before media can flow).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any, Literal

from media.rtc.jitter import H264, VP8, AddResult, JitterStats, LowLatencyJitterBuffer

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection, RTCRtpReceiver

log = logging.getLogger(__name__)

ReceivePath = Literal["ours", "stock"]
TESTED_AIORTC = ((1, 14), (1, 15), (1, 16))
_UNTESTED_ENV = "CLINICIAN_CONSOLE_AIORTC_UNTESTED"
_PREFIX = "_RTCRtpReceiver__"
_MARK = "_cc_receive_path"


class ReceivePathUnsupportedError(RuntimeError):
    """aiortc's receiver internals are not what this adapter was written against."""


def _check_aiortc(receiver: Any) -> None:
    import aiortc
    from aiortc.jitterbuffer import JitterBuffer

    version = tuple(int(part) for part in aiortc.__version__.split(".")[:2])
    if version not in TESTED_AIORTC and os.environ.get(_UNTESTED_ENV) != "1":
        raise ReceivePathUnsupportedError(
            f"aiortc {aiortc.__version__} is untested with the low-latency receive path "
            f"(tested: {', '.join('.'.join(map(str, v)) for v in TESTED_AIORTC)}); "
            f"check media/rtc/install.py against its rtcrtpreceiver.py, or set {_UNTESTED_ENV}=1"
        )
    for name, expected in (
        ("jitter_buffer", JitterBuffer),
        ("codecs", dict),
        ("decoder_queue", object),
        ("timestamp_mapper", object),
        ("kind", str),
    ):
        value = getattr(receiver, _PREFIX + name, _MISSING)
        if value is _MISSING or not isinstance(value, expected):
            raise ReceivePathUnsupportedError(
                f"aiortc {aiortc.__version__}: RTCRtpReceiver has no {name!r} of type "
                f"{expected.__name__}; its internals changed, see media/rtc/install.py"
            )
    if not hasattr(receiver, _PREFIX + "nack_generator") or not hasattr(
        receiver, "_send_rtcp_nack"
    ):
        raise ReceivePathUnsupportedError(
            f"aiortc {aiortc.__version__}: RTCRtpReceiver NACK internals changed"
        )


_MISSING = object()


class AiortcBufferAdapter:
    """aiortc's ``JitterBuffer.add`` contract on top of our buffer, one per receiver.

    aiortc queues at most one frame per packet; when a retransmission completes
    several waiting frames at once, all but the last are queued here (in order,
    with aiortc's own timestamp mapping) and the last is returned to aiortc.
    """

    def __init__(self, receiver: Any, **buffer_options: Any) -> None:
        self._receiver = receiver
        self._options = buffer_options
        self._buffers: dict[str, LowLatencyJitterBuffer] = {}
        self._by_payload_type: dict[int, tuple[LowLatencyJitterBuffer | None, Any]] = {}
        self.capacity = 512  # aiortc's JitterBuffer exposes it; nothing reads it for video
        self._stock: Any = None  # aiortc's buffer, for a codec we have no frame rules for

    def _buffer_for(self, payload_type: int) -> tuple[LowLatencyJitterBuffer | None, Any]:
        cached = self._by_payload_type.get(payload_type)
        if cached is not None:
            return cached
        found = self._lookup(payload_type)
        if found[1] is not None:  # codecs are fixed once receive() ran
            self._by_payload_type[payload_type] = found
        return found

    def _lookup(self, payload_type: int) -> tuple[LowLatencyJitterBuffer | None, Any]:
        codec = getattr(self._receiver, _PREFIX + "codecs").get(payload_type)
        if codec is None:
            return None, None
        name = codec.mimeType.split("/")[-1].lower()
        if name not in (VP8, H264):
            return None, codec
        buffer = self._buffers.get(name)
        if buffer is None:
            buffer = self._buffers[name] = LowLatencyJitterBuffer(name, **self._options)
        return buffer, codec

    @property
    def stats(self) -> JitterStats:
        total = JitterStats()
        for buffer in self._buffers.values():
            for field_name in total.__dataclass_fields__:
                setattr(
                    total,
                    field_name,
                    getattr(total, field_name) + getattr(buffer.stats, field_name),
                )
        return total

    def add(self, packet: Any) -> tuple[bool, Any]:
        from aiortc.jitterbuffer import JitterFrame

        buffer, codec = self._buffer_for(packet.payload_type)
        if buffer is None:
            if codec is None:
                return False, None  # unknown payload type: aiortc drops these too
            if self._stock is None:
                from aiortc.jitterbuffer import JitterBuffer

                self._stock = JitterBuffer(capacity=512, is_video=True)
            stock: tuple[bool, Any] = self._stock.add(packet)
            return stock
        result: AddResult = buffer.add(packet)
        if result.nack:
            self._send_nack(packet.ssrc, result.nack)
        if not result.frames:
            return result.request_keyframe, None
        frames = [JitterFrame(data=f.data, timestamp=f.timestamp) for f in result.frames]
        queue = getattr(self._receiver, _PREFIX + "decoder_queue")
        mapper = getattr(self._receiver, _PREFIX + "timestamp_mapper")
        for extra in frames[:-1]:
            extra.timestamp = mapper.map(extra.timestamp)
            queue.put((codec, extra))
        return result.request_keyframe, frames[-1]

    def _send_nack(self, media_ssrc: int, lost: list[int]) -> None:
        task = asyncio.ensure_future(self._receiver._send_rtcp_nack(media_ssrc, sorted(lost)))
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("NACK send failed: %s", type(task.exception()).__name__)


def install_on_receiver(
    receiver: RTCRtpReceiver, path: ReceivePath = "ours", **options: Any
) -> None:
    """Use our buffer (``"ours"``) or leave aiortc's (``"stock"``) on one receiver."""
    if getattr(receiver, _MARK, None) is not None:
        return
    if path == "stock":
        setattr(receiver, _MARK, "stock")
        return
    _check_aiortc(receiver)
    if getattr(receiver, _PREFIX + "kind") != "video":
        setattr(receiver, _MARK, "stock")  # audio keeps aiortc's prefetching buffer
        return
    setattr(receiver, _PREFIX + "jitter_buffer", AiortcBufferAdapter(receiver, **options))
    setattr(receiver, _PREFIX + "nack_generator", None)
    setattr(receiver, _MARK, "ours")


def install_receive_path(pc: RTCPeerConnection, path: ReceivePath = "ours", **options: Any) -> None:
    """Apply ``path`` to the video receivers ``pc`` has and will create."""
    if path not in ("ours", "stock"):
        raise ValueError(f"unknown receive path {path!r}")
    for transceiver in pc.getTransceivers():
        install_on_receiver(transceiver.receiver, path, **options)

    def on_track(_track: Any) -> None:
        for transceiver in pc.getTransceivers():
            install_on_receiver(transceiver.receiver, path, **options)

    pc.on("track", on_track)


def receive_path_of(receiver: Any) -> str:
    """ "ours", "stock", or "" when install_* was never called on it."""
    return str(getattr(receiver, _MARK, ""))


def jitter_stats(receiver: Any) -> JitterStats | None:
    buffer = getattr(receiver, _PREFIX + "jitter_buffer", None)
    return buffer.stats if isinstance(buffer, AiortcBufferAdapter) else None
