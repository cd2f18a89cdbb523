"""Low-bandwidth mode: step the sender down when loss or RTT is high, back up when it recovers.

:class:`BandwidthPolicy` is pure logic fed with :class:`app.visit.CallStats`
once per stats interval (about 1 s). It steps down after ``down_after`` bad
samples in a row (loss >= ``bad_loss_pct`` or RTT >= ``bad_rtt_ms``) and up only
after ``up_after`` good samples in a row (loss < ``good_loss_pct`` and RTT <
``good_rtt_ms``): the gap between the thresholds and the longer wait to step
up are the hysteresis, so a link at the edge does not flap.

:class:`SenderProfile` says what to send; :func:`scaled_track` wraps a camera
track so its frames come out at the profile's size and rate (frames dropped
evenly, scaled with PyAV), and :func:`apply_bitrate_cap` caps aiortc's encoder
bitrate (``target_bitrate``, which REMB also moves).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.visit import CallStats

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack, RTCRtpSender

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SenderProfile:
    name: str
    width: int
    height: int
    fps: int
    max_bitrate_bps: int
    low_bandwidth: bool


NORMAL = SenderProfile("normal", 1280, 720, 30, 1_500_000, low_bandwidth=False)
LOW = SenderProfile("low", 640, 360, 15, 400_000, low_bandwidth=True)


@dataclass
class BandwidthPolicy:
    bad_loss_pct: float = 5.0
    bad_rtt_ms: float = 400.0
    good_loss_pct: float = 1.5
    good_rtt_ms: float = 250.0
    down_after: int = 2  # consecutive bad samples before stepping down
    up_after: int = 8  # consecutive good samples before stepping back up
    normal: SenderProfile = NORMAL
    low: SenderProfile = LOW

    def __post_init__(self) -> None:
        self.profile = self.normal
        self._bad = 0
        self._good = 0

    @staticmethod
    def _loss_pct(stats: CallStats) -> float | None:
        """Worst loss the far end reports for what we send, else what we receive."""
        outbound = [t.loss_pct for t in stats.tracks if t.direction == "outbound"]
        if outbound:
            return max(outbound)
        inbound = [t.loss_pct for t in stats.tracks if t.kind == "video"]
        return max(inbound) if inbound else None

    def update(self, stats: CallStats) -> SenderProfile | None:
        """Feed one stats sample; returns the new profile when it changes, else None."""
        loss = self._loss_pct(stats)
        rtt = stats.rtt_ms
        if loss is None and rtt is None:
            return None
        bad = (loss is not None and loss >= self.bad_loss_pct) or (
            rtt is not None and rtt >= self.bad_rtt_ms
        )
        good = (loss is None or loss < self.good_loss_pct) and (
            rtt is None or rtt < self.good_rtt_ms
        )
        self._bad = self._bad + 1 if bad else 0
        self._good = self._good + 1 if good else 0
        if self.profile is self.normal and self._bad >= self.down_after:
            return self._switch(self.low)
        if self.profile is self.low and self._good >= self.up_after:
            return self._switch(self.normal)
        return None

    def _switch(self, profile: SenderProfile) -> SenderProfile:
        log.info("sender profile %s -> %s", self.profile.name, profile.name)
        self.profile = profile
        self._bad = self._good = 0
        return profile


@functools.cache
def _scaled_class() -> type[MediaStreamTrack]:
    from aiortc import MediaStreamTrack

    class ScaledTrack(MediaStreamTrack):
        kind = "video"

        def __init__(self, source: MediaStreamTrack, profile: SenderProfile) -> None:
            super().__init__()
            self.source = source
            self.profile = profile
            self._credit = 0.0
            self.source_fps = 30

        def set_profile(self, profile: SenderProfile) -> None:
            self.profile = profile

        async def recv(self) -> Any:
            while True:
                frame: Any = await self.source.recv()
                # Keep profile.fps out of source_fps frames, evenly spaced.
                self._credit += self.profile.fps / max(self.profile.fps, self.source_fps)
                if self._credit >= 1.0 - 1e-9:
                    self._credit -= 1.0
                    break
            if frame.width > self.profile.width or frame.height > self.profile.height:
                scaled = frame.reformat(
                    width=self.profile.width, height=self.profile.height, format="yuv420p"
                )
                scaled.pts, scaled.time_base = frame.pts, frame.time_base
                return scaled
            return frame

        def stop(self) -> None:
            self.source.stop()
            super().stop()

    return ScaledTrack


def scaled_track(
    source: MediaStreamTrack, profile: SenderProfile = NORMAL, source_fps: int = 30
) -> Any:
    """``source`` at no more than ``profile``'s size and rate; ``.set_profile()`` to change."""
    cls: Any = _scaled_class()
    track = cls(source, profile)
    track.source_fps = source_fps
    return track


def apply_bitrate_cap(sender: RTCRtpSender, max_bitrate_bps: int) -> bool:
    """Cap aiortc's encoder bitrate now (True if the encoder exists yet)."""
    encoder = getattr(sender, "_RTCRtpSender__encoder", None)
    if encoder is None or not hasattr(encoder, "target_bitrate"):
        return False
    encoder.target_bitrate = min(int(encoder.target_bitrate), max_bitrate_bps)
    return True
