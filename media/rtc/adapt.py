"""Bandwidth adaptation wired to a sender: policy + scaled camera + encoder bitrate cap.

:class:`SenderAdapter` owns one long-lived :func:`media.rtc.bandwidth.scaled_track`
over the camera (every PeerConnection's video feed reads it), and a
:class:`media.rtc.bandwidth.BandwidthPolicy`. Call :meth:`SenderAdapter.tick`
with each stats sample (about once a second) and the video senders in use:

- on a step down the scaled track sends the low profile (640x360 at 15 fps by
  default) from the next frame on, and the encoder is capped at the low
  profile's bitrate;
- while low, the cap is re-applied every tick (REMB from the media server moves
  aiortc's ``target_bitrate`` back up otherwise);
- on recovery the normal profile and its bitrate come back.

:meth:`annotate` returns the stats with ``low_bandwidth`` set and the outbound
video track's resolution/frame rate set to what is really sent, so the visit
window's chip and details panel show it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from app.visit import POOR_LOSS_PCT, POOR_RTT_MS, CallStats
from media.rtc.bandwidth import LOW, BandwidthPolicy, SenderProfile, scaled_track

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack, RTCRtpSender

log = logging.getLogger(__name__)


def normal_profile(width: int, height: int, fps: int, bitrate_bps: int) -> SenderProfile:
    return SenderProfile("normal", width, height, fps, bitrate_bps, low_bandwidth=False)


def low_profile(normal: SenderProfile, low: SenderProfile = LOW) -> SenderProfile:
    """``low``, but never larger, faster or richer than ``normal``."""
    return dataclasses.replace(
        low,
        width=min(low.width, normal.width),
        height=min(low.height, normal.height),
        fps=min(low.fps, normal.fps),
        max_bitrate_bps=min(low.max_bitrate_bps, normal.max_bitrate_bps),
    )


def set_encoder_bitrate(sender: RTCRtpSender, bitrate_bps: int) -> bool:
    """Set aiortc's encoder bitrate (up or down); True if the encoder exists yet."""
    encoder = getattr(sender, "_RTCRtpSender__encoder", None)
    if encoder is None or not hasattr(encoder, "target_bitrate"):
        return False
    encoder.target_bitrate = int(bitrate_bps)
    return True


class SenderAdapter:
    """Steps one video sender between the normal and the low-bandwidth profile."""

    def __init__(
        self, source: MediaStreamTrack, normal: SenderProfile, policy: BandwidthPolicy | None = None
    ) -> None:
        self.policy = policy or BandwidthPolicy(
            # step down only when the call would be "poor": at 5 % loss NACK keeps full
            # rate and resolution going, so the call stays at >= 15 fps without stepping
            bad_loss_pct=POOR_LOSS_PCT,
            bad_rtt_ms=POOR_RTT_MS,
            normal=normal,
            low=low_profile(normal),
        )
        self.track: Any = scaled_track(source, self.policy.profile, source_fps=normal.fps)
        self.changes: list[SenderProfile] = []  # every switch, oldest first (tests, summary)

    @property
    def profile(self) -> SenderProfile:
        return self.policy.profile

    @property
    def low_bandwidth(self) -> bool:
        return self.policy.profile.low_bandwidth

    def tick(
        self, stats: CallStats, senders: Iterable[RTCRtpSender], settled: bool = True
    ) -> SenderProfile | None:
        """Feed one stats sample; returns the new profile when it changed.

        ``settled=False`` (connecting, reconnecting, or just after): the sample is
        not counted and the policy's run of bad/good samples starts over. The first
        receiver report after a link outage covers the outage, not the link as it
        is now, and must not step a recovered call down.
        """
        if not settled:
            self.policy._bad = self.policy._good = 0
            changed = None
        else:
            changed = self.policy.update(stats)
        profile = self.policy.profile
        if changed is not None:
            self.track.set_profile(changed)
            self.changes.append(changed)
            log.info(
                "video sender now %dx%d at %d fps, %d kbps",
                changed.width,
                changed.height,
                changed.fps,
                changed.max_bitrate_bps // 1000,
            )
        if changed is not None or profile.low_bandwidth:
            for sender in senders:
                set_encoder_bitrate(sender, profile.max_bitrate_bps)
        return changed

    def annotate(self, stats: CallStats) -> CallStats:
        """``stats`` with ``low_bandwidth`` and the outbound video size/rate actually sent."""
        profile = self.policy.profile
        tracks = tuple(
            dataclasses.replace(
                t,
                width_px=min(t.width_px, profile.width) if t.width_px else profile.width,
                height_px=min(t.height_px, profile.height) if t.height_px else profile.height,
                frames_per_s=min(t.frames_per_s, float(profile.fps)) or float(profile.fps),
            )
            if t.direction == "outbound" and t.kind == "video"
            else t
            for t in stats.tracks
        )
        return dataclasses.replace(stats, tracks=tracks, low_bandwidth=profile.low_bandwidth)
