"""Annotations and measurements on a still, kept apart from its pixels (docs/images.md, "Review").

A still's bytes are never altered: what a specialist draws (arrows, outlines, text
labels, length lines) is a *layer* stored in its own table (storage/annotations.py),
one row per saved version, each version audited. Points are in the still's own
pixels (0..width, 0..height), so the layer fits the still at any zoom and in any
viewer. Lengths and areas are given in millimetres when the still carries a scale
(``scale_mm_per_px``, app/image_metadata.py), otherwise in pixels.

Saving is optimistic: the caller says which version it edited (``base_version``);
if another save came first the store raises :class:`AnnotationConflictError` and
writes nothing, so two reviewers never silently overwrite each other.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol

from app.errors import InputRejectedError
from app.records import Attachment, AttachmentKind

MAX_SHAPES: Final = 500
MAX_OUTLINE_POINTS: Final = 2_000
MAX_LABEL_CHARS: Final = 200


class ShapeKind(StrEnum):
    ARROW = "arrow"  # two points: tail, head
    OUTLINE = "outline"  # a closed polygon of 3+ points: area and perimeter
    TEXT = "text"  # one point (the label's anchor) and its text
    LENGTH = "length"  # two points: a measured distance


_POINTS: Final = {ShapeKind.ARROW: 2, ShapeKind.LENGTH: 2, ShapeKind.TEXT: 1}


@dataclass(frozen=True, slots=True)
class Shape:
    """One drawn shape; ``points`` are (x, y) pairs in the still's pixels."""

    kind: ShapeKind
    points: tuple[tuple[float, float], ...]
    text: str = ""  # the label of a TEXT shape; an optional caption otherwise


@dataclass(frozen=True, slots=True)
class AnnotationLayer:
    """One saved version of a still's annotations."""

    attachment_id: str
    version: int  # 1, 2, ...; 0 means "nothing saved yet"
    shapes: tuple[Shape, ...]
    saved_at: str = ""
    saved_by: str = ""


@dataclass(frozen=True, slots=True)
class Measurement:
    """What a shape measures: a length (arrow, length line, outline perimeter) and, for an
    outline, its area. ``unit`` is "mm" when the still is calibrated, else "px"."""

    length: float
    area: float | None
    unit: str  # "mm" or "px"


def polyline_length_px(points: Sequence[tuple[float, float]], *, closed: bool = False) -> float:
    pairs = list(itertools.pairwise(points))
    if closed and len(points) > 2:
        pairs.append((points[-1], points[0]))
    return sum(math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in pairs)


def polygon_area_px(points: Sequence[tuple[float, float]]) -> float:
    """Shoelace formula; the absolute area whatever the drawing direction."""
    n = len(points)
    if n < 3:
        return 0.0
    twice = sum(
        points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1]
        for i in range(n)
    )
    return abs(twice) / 2.0


def measure(shape: Shape, mm_per_px: float | None) -> Measurement | None:
    """Length (and area for outlines) of ``shape``; None for a text label."""
    if shape.kind is ShapeKind.TEXT:
        return None
    closed = shape.kind is ShapeKind.OUTLINE
    length_px = polyline_length_px(shape.points, closed=closed)
    area_px = polygon_area_px(shape.points) if closed else None
    if mm_per_px is None:
        return Measurement(length_px, area_px, "px")
    area = area_px * mm_per_px * mm_per_px if area_px is not None else None
    return Measurement(length_px * mm_per_px, area, "mm")


def mm_per_px_of(still: Attachment) -> float | None:
    """The still's calibration, when it has one (derived and checked at capture)."""
    value = still.metadata.get("scale_mm_per_px")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return float(value)


def check_shapes(shapes: Sequence[Shape], width_px: int, height_px: int) -> tuple[Shape, ...]:
    """Every shape well formed and inside the still; InputRejectedError names what is wrong
    (never the label's text, which a user typed)."""
    if len(shapes) > MAX_SHAPES:
        raise InputRejectedError(reason=f"a still takes at most {MAX_SHAPES} annotations")
    out: list[Shape] = []
    for shape in shapes:
        try:
            kind = ShapeKind(shape.kind)
        except ValueError:
            raise InputRejectedError(reason="an annotation kind is not known") from None
        points = _points(shape.points)
        want = _POINTS.get(kind)
        if want is not None and len(points) != want:
            raise InputRejectedError(reason=f"a {kind.value} annotation takes {want} point(s)")
        if kind is ShapeKind.OUTLINE and not (3 <= len(points) <= MAX_OUTLINE_POINTS):
            raise InputRejectedError(reason="an outline takes 3 to 2000 points")
        for x, y in points:
            # NaN fails both comparisons, so it is refused too.
            if not (0.0 <= x <= width_px and 0.0 <= y <= height_px):
                raise InputRejectedError(reason="an annotation point lies outside the still")
        text = shape.text
        if not isinstance(text, str) or len(text) > MAX_LABEL_CHARS:
            raise InputRejectedError(reason="an annotation label is at most 200 characters")
        if any(ord(c) < 32 for c in text):  # one line, as shown beside the shape
            raise InputRejectedError(reason="an annotation label has control characters")
        if kind is ShapeKind.TEXT and not text.strip():
            raise InputRejectedError(reason="a text annotation needs its text")
        out.append(Shape(kind, tuple((round(x, 2), round(y, 2)) for x, y in points), text))
    return tuple(out)


def _points(raw: object) -> tuple[tuple[float, float], ...]:
    """(x, y) pairs of real numbers; anything else (a caller's mistake, an edited store)
    is refused, never passed on as a TypeError."""
    out: list[tuple[float, float]] = []
    try:
        for pair in raw:  # type: ignore[attr-defined]
            x, y = pair
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in (x, y)):
                raise TypeError
            out.append((float(x), float(y)))
    except (TypeError, ValueError):
        raise InputRejectedError(reason="annotation points must be (x, y) numbers") from None
    return tuple(out)


class AnnotationStore(Protocol):
    """Port (storage/annotations.py: StoreAnnotations)."""

    async def latest(self, attachment_id: str) -> AnnotationLayer: ...

    async def version(self, attachment_id: str, version: int) -> AnnotationLayer: ...

    async def versions(self, attachment_id: str) -> list[AnnotationLayer]: ...

    async def save(
        self, attachment_id: str, base_version: int, shapes: tuple[Shape, ...]
    ) -> AnnotationLayer: ...

    async def still(self, attachment_id: str) -> Attachment: ...

    async def related_stills(self, attachment_id: str) -> list[Attachment]: ...


class AnnotationsService:
    """Read and save a still's annotation layer; find stills to compare it with."""

    def __init__(self, store: AnnotationStore) -> None:
        self.store = store

    async def latest(self, attachment_id: str) -> AnnotationLayer:
        return await self.store.latest(attachment_id)

    async def history(self, attachment_id: str) -> list[AnnotationLayer]:
        return await self.store.versions(attachment_id)

    async def version(self, attachment_id: str, version: int) -> AnnotationLayer:
        return await self.store.version(attachment_id, version)

    async def save(
        self, attachment_id: str, base_version: int, shapes: Sequence[Shape]
    ) -> AnnotationLayer:
        """Check the shapes against the still, then store them as a new version.

        Raises InputRejectedError (bad shape, not a still) or AnnotationConflictError
        (a newer version exists) before anything is written."""
        still = await self.store.still(attachment_id)
        if still.kind is not AttachmentKind.IMAGE:
            raise InputRejectedError(reason="only stills take annotations")
        width, height = _size(still)
        checked = check_shapes(shapes, width, height)
        return await self.store.save(attachment_id, base_version, checked)

    async def compare_candidates(self, attachment_id: str) -> list[Attachment]:
        """Other stills of the same patient and site (any visit), oldest first."""
        return await self.store.related_stills(attachment_id)


def _size(still: Attachment) -> tuple[int, int]:
    w, h = still.metadata.get("width_px"), still.metadata.get("height_px")
    if not isinstance(w, int) or not isinstance(h, int):
        raise InputRejectedError(reason="the still has no recorded size")
    return w, h


__all__ = [
    "AnnotationLayer",
    "AnnotationStore",
    "AnnotationsService",
    "Measurement",
    "Shape",
    "ShapeKind",
    "check_shapes",
    "measure",
    "mm_per_px_of",
    "polygon_area_px",
    "polyline_length_px",
]
