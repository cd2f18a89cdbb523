"""The :class:`app.images.StillInspector` port over the quality gate."""

from __future__ import annotations

from app.images import StillFacts
from media.images.quality import (
    DEFAULT_THRESHOLDS,
    QualityThresholds,
    check_pixels,
    decode,
    probe,
)


class QualityInspector:
    """Header checks, a full decode (a truncated or corrupt file is refused) and the gate."""

    def __init__(self, thresholds: QualityThresholds = DEFAULT_THRESHOLDS) -> None:
        self.thresholds = thresholds

    def inspect(self, data: bytes, *, name: str) -> StillFacts:
        info = probe(data, name=name)
        # Full decode: stored stills must be whole, not just their first rows.
        rgb = decode(data, name=name, full=True)
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
