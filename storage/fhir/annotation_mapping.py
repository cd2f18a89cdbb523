"""A still's annotation layer as a FHIR R4 ``DocumentReference`` (docs/images.md, "Sync").

One DocumentReference per annotated still, updated in place when a new version is
saved (its identifier is derived from the still's id, so every console that annotates
the same still writes the same record and a colleague's version is seen, never
duplicated). It holds two attachments:

- ``content[0]``: the still **rendered** with the shapes burnt in (JPEG, long side at
  most :data:`RENDER_LONG_SIDE`): what any viewer of the record shows;
- ``content[1]``: the **vector shapes** as JSON (:data:`SHAPES_FORMAT`), in the still's
  own pixels, with each shape's measurement: what a specialist's system can redraw.

``context.related`` names the original still's ``Media``: the pixels of the still are
never changed (the rendering is a new picture made from them).

Rendering is Qt-free: Pillow decodes and encodes, numpy paints (``PIL.ImageDraw``
imports ``PIL.ImageFont``, which the bundle leaves out with Pillow's text rendering),
so labels are drawn as numbered markers (digits from a 3x5 bitmap) and their words
are in the JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import itertools
import json
import math
import uuid
from typing import Any, Final

from app.annotations import AnnotationLayer, Shape, ShapeKind, measure
from app.errors import InputRejectedError
from app.records import Attachment

#: Long side of the rendering, in pixels: enough to read the drawing, small enough that
#: the JSON body stays under Medplum's default 1 MB limit with room to spare.
RENDER_LONG_SIDE: Final = 1600
#: The rendering is made smaller (quality, then size) until it fits this.
RENDER_MAX_BYTES: Final = 600_000
SHAPES_FORMAT: Final = "clinician-console.annotations/1"
DOC_TYPE_SYSTEM: Final = "urn:clinician-console:document-type"
DOC_TYPE_CODE: Final = "still-annotations"
IDENTIFIER_SYSTEM: Final = "urn:ietf:rfc:3986"
_DOC_NS: Final = uuid.UUID("0b6f3f0e-7a0c-4d55-9b39-3c1d1a7e2f11")

_INK: Final = (255, 214, 0)  # yellow on a dark edge: visible on skin and on black
_EDGE: Final = (0, 0, 0)

# 3x5 digits, rows top to bottom, "1" = ink.
_DIGITS: Final = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
}


def document_id(still_id: str) -> str:
    """The local id (a UUID) of the annotation DocumentReference of a still."""
    return str(uuid.uuid5(_DOC_NS, f"annotations/{still_id}"))


def shapes_digest(shapes: tuple[Shape, ...]) -> str:
    """What identifies a layer's content, whoever saved it (compared on the server's copy)."""
    canonical = json.dumps(
        [[s.kind.value, [[x, y] for x, y in s.points], s.text] for s in shapes],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def shapes_document(layer: AnnotationLayer, still: Attachment, mm_per_px: float | None) -> bytes:
    """The JSON attachment: the shapes in the still's pixels, with their measurements."""
    shapes = []
    for shape in layer.shapes:
        item: dict[str, Any] = {
            "kind": shape.kind.value,
            "points": [[x, y] for x, y in shape.points],
            "text": shape.text,
        }
        m = measure(shape, mm_per_px)
        if m is not None:
            item["length"] = round(m.length, 3)
            item["unit"] = m.unit
            if m.area is not None:
                item["area"] = round(m.area, 3)
        shapes.append(item)
    doc = {
        "format": SHAPES_FORMAT,
        "still": {
            "identifier": f"urn:uuid:{still.id}",
            "width": still.metadata.get("width_px"),
            "height": still.metadata.get("height_px"),
            "sha256": still.sha256,
        },
        "mmPerPixel": mm_per_px,
        "savedAt": layer.saved_at,
        "digest": shapes_digest(layer.shapes),
        "shapes": shapes,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def render(data: bytes, layer: AnnotationLayer, width_px: int, height_px: int) -> bytes:
    """The still with the layer burnt in, as JPEG, at most RENDER_LONG_SIDE on its long
    side and RENDER_MAX_BYTES in size. ``data`` (the still's bytes) is only read.

    Drawn with numpy on the decoded pixels, not with ``PIL.ImageDraw``: ImageDraw imports
    ``PIL.ImageFont``, which the bundle leaves out (installers/clinician-console.spec)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            scale = min(1.0, RENDER_LONG_SIDE / max(width_px, height_px))
            size = (max(1, round(width_px * scale)), max(1, round(height_px * scale)))
            if opened.format == "JPEG":
                opened.draft("RGB", size)  # DCT scaling: a 12 MP still decodes small
            image = opened.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputRejectedError(reason="the still cannot be decoded to render it") from exc
    sx, sy = size[0] / width_px, size[1] / height_px
    canvas = _Canvas(np.array(image, dtype=np.uint8))
    width = max(2, round(max(size) / 400))
    number = 0
    for shape in layer.shapes:
        pts = [(x * sx, y * sy) for x, y in shape.points]
        if shape.kind is ShapeKind.ARROW:
            canvas.line(pts, width)
            canvas.arrow_head(pts[0], pts[1], width)
        elif shape.kind is ShapeKind.LENGTH:
            canvas.line(pts, width)
            for end in pts:
                canvas.tick(pts[0], pts[1], end, width)
        elif shape.kind is ShapeKind.OUTLINE:
            canvas.line([*pts, pts[0]], width)
        if shape.text:
            number += 1
            canvas.marker(pts[0], str(number), width)
    image = Image.fromarray(canvas.pixels)
    quality, out = 90, b""
    while True:
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=quality, optimize=True)
        out = buf.getvalue()
        if len(out) <= RENDER_MAX_BYTES or max(image.size) <= 200:
            return out
        if quality > 60:
            quality -= 15
        else:
            image = image.resize((max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)))


Point = tuple[float, float]
#: Longest segment painted in one box (pixels of the rendering).
_PIECE: Final = 24.0


class _Canvas:
    """Anti-alias-free shapes painted into an RGB array (pixel centres inside a shape)."""

    def __init__(self, pixels: Any) -> None:
        self.pixels = pixels
        self.height, self.width = pixels.shape[:2]

    def _paint(self, box: tuple[float, float, float, float], inside: Any, colour: Any) -> None:
        import numpy as np

        x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
        x1, y1 = min(self.width, math.ceil(box[2]) + 1), min(self.height, math.ceil(box[3]) + 1)
        if x0 >= x1 or y0 >= y1:
            return
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
        mask = inside(xs, ys)
        self.pixels[y0:y1, x0:x1][mask] = colour

    def _segment(self, a: Point, b: Point, radius: float, colour: Any) -> None:
        import numpy as np

        dx, dy = b[0] - a[0], b[1] - a[1]
        pieces = math.ceil(math.hypot(dx, dy) / _PIECE)
        if pieces > 1:  # a long diagonal's box is mostly empty: paint it in short pieces
            for i in range(pieces):
                p0 = (a[0] + dx * i / pieces, a[1] + dy * i / pieces)
                p1 = (a[0] + dx * (i + 1) / pieces, a[1] + dy * (i + 1) / pieces)
                self._segment(p0, p1, radius, colour)
            return
        length2 = dx * dx + dy * dy or 1e-12

        def inside(xs: Any, ys: Any) -> Any:
            t = np.clip(((xs - a[0]) * dx + (ys - a[1]) * dy) / length2, 0.0, 1.0)
            return (xs - a[0] - t * dx) ** 2 + (ys - a[1] - t * dy) ** 2 <= radius * radius

        box = (
            min(a[0], b[0]) - radius,
            min(a[1], b[1]) - radius,
            max(a[0], b[0]) + radius,
            max(a[1], b[1]) + radius,
        )
        self._paint(box, inside, colour)

    def line(self, pts: list[Point], width: int) -> None:
        pairs = list(itertools.pairwise(pts))
        for a, b in pairs:  # the dark edge first, under every segment's ink
            self._segment(a, b, width / 2 + 1, _EDGE)
        for a, b in pairs:
            self._segment(a, b, width / 2, _INK)

    def arrow_head(self, tail: Point, head: Point, width: int) -> None:
        angle = math.atan2(head[1] - tail[1], head[0] - tail[0])
        size = width * 5
        corners = [
            head,
            (
                head[0] - size * math.cos(angle - math.pi / 7),
                head[1] - size * math.sin(angle - math.pi / 7),
            ),
            (
                head[0] - size * math.cos(angle + math.pi / 7),
                head[1] - size * math.sin(angle + math.pi / 7),
            ),
        ]
        (ax, ay), (bx, by), (cx, cy) = corners

        def inside(xs: Any, ys: Any) -> Any:
            d1 = (xs - bx) * (ay - by) - (ax - bx) * (ys - by)
            d2 = (xs - cx) * (by - cy) - (bx - cx) * (ys - cy)
            d3 = (xs - ax) * (cy - ay) - (cx - ax) * (ys - ay)
            negative = (d1 < 0) | (d2 < 0) | (d3 < 0)
            positive = (d1 > 0) | (d2 > 0) | (d3 > 0)
            return ~(negative & positive)

        box = (min(ax, bx, cx), min(ay, by, cy), max(ax, bx, cx), max(ay, by, cy))
        self._paint(box, inside, _INK)
        for a, b in ((corners[0], corners[1]), (corners[1], corners[2]), (corners[2], corners[0])):
            self._segment(a, b, 0.75, _EDGE)

    def tick(self, a: Point, b: Point, at: Point, width: int) -> None:
        length = math.hypot(b[0] - a[0], b[1] - a[1]) or 1.0
        nx, ny = -(b[1] - a[1]) / length, (b[0] - a[0]) / length
        half = width * 3
        self.line(
            [(at[0] - nx * half, at[1] - ny * half), (at[0] + nx * half, at[1] + ny * half)], width
        )

    def _fill(self, left: float, top: float, side: int, colour: Any) -> None:
        x0, y0 = max(0, round(left)), max(0, round(top))
        x1, y1 = min(self.width, round(left) + side), min(self.height, round(top) + side)
        if x0 < x1 and y0 < y1:
            self.pixels[y0:y1, x0:x1] = colour

    def _disc(self, at: Point, radius: float, colour: Any) -> None:
        def inside(xs: Any, ys: Any) -> Any:
            return (xs - at[0]) ** 2 + (ys - at[1]) ** 2 <= radius * radius

        box = (at[0] - radius, at[1] - radius, at[0] + radius, at[1] + radius)
        self._paint(box, inside, colour)

    def marker(self, at: Point, digits: str, width: int) -> None:
        """A filled disc with the label's number (the words are in the JSON)."""
        cell = max(2, width)
        text_w = (len(digits) * 4 - 1) * cell
        radius = max(text_w, 5 * cell) / 2 + 2 * cell
        self._disc(at, radius + 1, _EDGE)
        self._disc(at, radius, _INK)
        left, top = at[0] - text_w / 2, at[1] - 5 * cell / 2
        for i, ch in enumerate(digits):
            for row, bits in enumerate(_DIGITS[ch]):
                for col, bit in enumerate(bits):
                    if bit == "1":
                        px = left + (i * 4 + col) * cell
                        py = top + row * cell
                        self._fill(px, py, cell, _EDGE)


def annotation_resource(
    *,
    layer: AnnotationLayer,
    still: Attachment,
    rendering: bytes,
    shapes_json: bytes,
    patient_server_id: str,
    encounter_server_id: str,
    media_server_id: str,
) -> dict[str, Any]:
    """The DocumentReference of a still's latest annotation layer, validated (R4B)."""
    from fhir.resources.R4B.documentreference import DocumentReference

    from storage.fhir.mapping import export_validated

    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": f"urn:uuid:{document_id(still.id)}"}],
        "status": "current",
        "type": {
            "coding": [
                {"system": DOC_TYPE_SYSTEM, "code": DOC_TYPE_CODE, "display": "Annotated image"}
            ],
            "text": "Annotated image",
        },
        "subject": {"reference": f"Patient/{patient_server_id}"},
        "date": layer.saved_at,
        "description": "Annotations on an exam-camera still",
        "content": [
            {
                "attachment": {
                    "contentType": "image/jpeg",
                    "data": base64.b64encode(rendering).decode("ascii"),
                    "title": "Still with annotations",
                    "creation": layer.saved_at,
                }
            },
            {
                "attachment": {
                    "contentType": "application/json",
                    "data": base64.b64encode(shapes_json).decode("ascii"),
                    "title": "Annotation shapes",
                    "creation": layer.saved_at,
                }
            },
        ],
        "context": {
            "encounter": [{"reference": f"Encounter/{encounter_server_id}"}],
            "related": [{"reference": f"Media/{media_server_id}"}],
        },
    }
    if layer.saved_by:
        resource["author"] = [{"display": layer.saved_by[:200]}]
    return export_validated(DocumentReference, resource, "a still's annotations")


def shapes_json_of(resource: object) -> bytes | None:
    """The JSON shapes attachment of a server's annotation DocumentReference, if readable."""
    if not isinstance(resource, dict) or not isinstance(resource.get("content"), list):
        return None
    for content in resource["content"]:
        attachment = content.get("attachment") if isinstance(content, dict) else None
        if not isinstance(attachment, dict) or attachment.get("contentType") != "application/json":
            continue
        data = attachment.get("data")
        if not isinstance(data, str):
            return None
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def digest_of(resource: object) -> str | None:
    """The shapes digest a server's copy carries (recomputed from its shapes, not trusted
    from its ``digest`` field), or None when its shapes cannot be read."""
    shapes = parse_shapes(shapes_json_of(resource))
    return None if shapes is None else shapes_digest(shapes)


def parse_shapes(raw: bytes | None) -> tuple[Shape, ...] | None:
    """The shapes of a JSON attachment (format checked; geometry is checked against the
    still by app.annotations.check_shapes before anything is stored)."""
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("format") != SHAPES_FORMAT:
            return None
        items = doc["shapes"]
        if not isinstance(items, list):
            return None
        return tuple(
            Shape(
                ShapeKind(item["kind"]),
                tuple((float(x), float(y)) for x, y in item["points"]),
                str(item.get("text", "")),
            )
            for item in items
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


__all__ = [
    "RENDER_LONG_SIDE",
    "SHAPES_FORMAT",
    "annotation_resource",
    "digest_of",
    "document_id",
    "parse_shapes",
    "render",
    "shapes_digest",
    "shapes_document",
    "shapes_json_of",
]
