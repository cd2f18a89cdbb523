"""The :class:`app.images.StillInspector` port over the quality gate."""

from __future__ import annotations

from app.images import StillFacts
from media.images.quality import (
    DEFAULT_THRESHOLDS,
    QualityThresholds,
    check_pixels,
    decode,
    probe,
    recalled,
)


class QualityInspector:
    """Header checks, a decode of every byte (a truncated or corrupt file is refused) and
    the gate. JPEGs are decoded with DCT scaling: libjpeg still entropy-decodes every
    block (damage anywhere is found), it only skips most of the inverse transform."""

    def __init__(self, thresholds: QualityThresholds = DEFAULT_THRESHOLDS) -> None:
        self.thresholds = thresholds

    def inspect(self, data: bytes, *, name: str) -> StillFacts:
        info = probe(data, name=name)
        known = recalled(info.sha256) if self.thresholds == DEFAULT_THRESHOLDS else None
        if known is not None:  # decoded and judged a moment ago (the capture panel)
            report = known[1]
        else:
            rgb = decode(data, name=name)
            report = check_pixels(
                rgb, width_px=info.width_px, height_px=info.height_px, thresholds=self.thresholds
            )
        scores = report.as_dict()["scores"]
        assert isinstance(scores, dict)
        return StillFacts(
            content_type=info.content_type,
            width_px=info.width_px,
            height_px=info.height_px,
            sha256=info.sha256,
            problems=report.problems,
            scores=scores,
        )
