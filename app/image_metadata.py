"""What a still carries besides its pixels: site, laterality, view, who and when, scale,
and the quality verdict it was kept with (docs/images.md, "Metadata").

The keys below are attachment metadata keys for ``kind == "image"``
(app/records.py hands them here to be checked); FHIR mapping turns them into
``Media.bodySite``, ``Media.view``, ``Media.operator`` and notes
(storage/fhir/media_mapping.py). Pure Python: no image library is imported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Final

#: A short list of SNOMED CT body structures for exam-camera stills (the site
#: picker and ``image add --site``): code -> display. Codes as DICOM's anatomic
#: region context group (CID 4) uses them, plus the tympanic membrane and retina
#: for otoscope and fundus cameras. Laterality is kept apart (``laterality``).
BODY_SITES: Final[dict[str, str]] = {
    "69536005": "Head structure",
    "89545001": "Face structure",
    "45206002": "Nasal structure",
    "123851003": "Mouth region structure",
    "21974007": "Tongue structure",
    "54066008": "Pharyngeal structure",
    "117590005": "Ear structure",
    "42859004": "Tympanic membrane structure",
    "81745001": "Eye structure",
    "5665001": "Retinal structure",
    "45048000": "Neck structure",
    "51185008": "Thoracic structure",
    "123961009": "Back structure",
    "818983003": "Abdomen structure",
    "40983000": "Upper arm structure",
    "14975008": "Forearm structure",
    "85562004": "Hand structure",
    "7569003": "Finger structure",
    "72651009": "Nail structure",
    "68367000": "Thigh structure",
    "30021000": "Lower leg structure",
    "56459004": "Foot structure",
    "29707007": "Toe structure",
    "39937001": "Skin structure",
}

LATERALITIES: Final = ("left", "right", "bilateral")
#: Views a still can be: where it was taken from, or which instrument took it.
VIEWS: Final = (
    "overview",
    "close-up",
    "anterior",
    "posterior",
    "lateral",
    "medial",
    "superior",
    "inferior",
    "dermoscopic",
    "otoscopic",
    "fundus",
    "intraoral",
)
#: Words the quality gate uses (media/images/quality.py).
QUALITY_PROBLEMS: Final = ("blurred", "overexposed", "underexposed", "too_small")

MAX_TEXT_CHARS: Final = 200
MAX_SIDE_PX: Final = 100_000
MAX_DISTANCE_MM: Final = 10_000.0

#: key -> what it holds; checked by :func:`check_value`.
IMAGE_METADATA_KEYS: Final = frozenset(
    {
        "body_site",  # SNOMED CT code from BODY_SITES
        "laterality",  # one of LATERALITIES
        "view",  # one of VIEWS
        "captured_at",  # ISO 8601 instant with offset
        "captured_by",  # who took it (a person's name or account), one line
        "visit_id",  # the visit it was taken in, when it was
        "scale_points",  # [x1, y1, x2, y2] in the still's own pixels
        "scale_distance_mm",  # the real distance between the two points
        "scale_mm_per_px",  # derived: distance / pixel length
        "quality_problems",  # the gate's words when it was kept anyway
        "quality_kept_anyway",  # True: the user kept it despite the problems
        "camera",  # the camera's name as the OS gives it, one line
        # A copy received from the far end's cart during a visit (media/visit/stills.py):
        # the cart owns and syncs the still; this copy is never queued for sync.
        "received",  # True on a received copy
        "remote_image_id",  # the cart's own attachment id for it, one line
    }
)


@dataclass(frozen=True, slots=True)
class Scale:
    """A ruler or marker in view: two points the user marked and their real distance."""

    x1_px: float
    y1_px: float
    x2_px: float
    y2_px: float
    distance_mm: float

    @property
    def length_px(self) -> float:
        return math.hypot(self.x2_px - self.x1_px, self.y2_px - self.y1_px)

    @property
    def mm_per_px(self) -> float:
        return self.distance_mm / self.length_px

    def as_metadata(self) -> dict[str, object]:
        """The three ``scale_*`` keys; raises ValueError when the scale is unusable."""
        points = [self.x1_px, self.y1_px, self.x2_px, self.y2_px]
        out: dict[str, object] = {
            "scale_points": points,
            "scale_distance_mm": self.distance_mm,
        }
        checked = check_scale({**out, "scale_mm_per_px": None})
        return checked


def _text(key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"attachment metadata {key!r} must be text")
    if len(value) > MAX_TEXT_CHARS or any(ord(c) < 32 for c in value):
        raise ValueError(f"attachment metadata {key!r} is one line of at most 200 characters")
    return value.strip()


def _finite(key: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"attachment metadata {key!r} must be a number")
    number = float(value)
    if not (low <= number <= high):  # refuses NaN too
        raise ValueError(f"attachment metadata {key!r} is out of range ({low:g}..{high:g})")
    return number


def check_value(key: str, value: object) -> object:
    """A checked, JSON-safe value for one image key; ValueError names the key, never the
    value (it may be typed by a user)."""
    if key == "body_site":
        if not isinstance(value, str) or value not in BODY_SITES:
            raise ValueError(f"attachment metadata {key!r} is not a body site on the list")
        return value
    if key == "laterality":
        if value not in LATERALITIES:
            raise ValueError(f"attachment metadata {key!r} must be left, right or bilateral")
        return str(value)
    if key == "view":
        if value not in VIEWS:
            raise ValueError(f"attachment metadata {key!r} is not a known view")
        return str(value)
    if key == "captured_at":
        text = _text(key, value)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"attachment metadata {key!r} must be an ISO 8601 time") from None
        if parsed.tzinfo is None:
            raise ValueError(f"attachment metadata {key!r} needs a UTC offset")
        return parsed.isoformat()
    if key in ("captured_by", "visit_id", "camera", "remote_image_id"):
        return _text(key, value)
    if key == "scale_points":
        if not isinstance(value, (list, tuple)) or len(value) != 4:
            raise ValueError(f"attachment metadata {key!r} must be [x1, y1, x2, y2]")
        return [round(_finite(key, v, 0.0, MAX_SIDE_PX), 2) for v in value]
    if key == "scale_distance_mm":
        number = _finite(key, value, 0.0, MAX_DISTANCE_MM)
        if number == 0.0:
            raise ValueError(f"attachment metadata {key!r} must be above zero")
        return round(number, 3)
    if key == "scale_mm_per_px":
        number = _finite(key, value, 0.0, MAX_DISTANCE_MM)
        if number == 0.0:
            raise ValueError(f"attachment metadata {key!r} must be above zero")
        return number
    if key == "quality_problems":
        if not isinstance(value, (list, tuple)) or any(v not in QUALITY_PROBLEMS for v in value):
            raise ValueError(f"attachment metadata {key!r} must list the quality gate's words")
        return sorted(set(value), key=QUALITY_PROBLEMS.index)
    if key in ("quality_kept_anyway", "received"):
        if not isinstance(value, bool):
            raise ValueError(f"attachment metadata {key!r} must be true or false")
        return value
    raise ValueError(f"attachment metadata {key!r} is not supported")


def check_scale(metadata: dict[str, object]) -> dict[str, object]:
    """The ``scale_*`` keys together: both points and the distance, or none; the
    millimetres per pixel are always derived here (never trusted from the caller)."""
    keys = ("scale_points", "scale_distance_mm", "scale_mm_per_px")
    present = {k: metadata[k] for k in keys if metadata.get(k) is not None}
    if not present:
        return {}
    if "scale_points" not in present or "scale_distance_mm" not in present:
        raise ValueError("attachment metadata 'scale_points' and 'scale_distance_mm' go together")
    points = check_value("scale_points", present["scale_points"])
    distance = check_value("scale_distance_mm", present["scale_distance_mm"])
    assert isinstance(points, list) and isinstance(distance, float)
    length = math.hypot(points[2] - points[0], points[3] - points[1])
    if length < 2.0:
        raise ValueError("attachment metadata 'scale_points' must be at least 2 pixels apart")
    return {
        "scale_points": points,
        "scale_distance_mm": distance,
        "scale_mm_per_px": round(distance / length, 6),
    }


__all__ = [
    "BODY_SITES",
    "IMAGE_METADATA_KEYS",
    "LATERALITIES",
    "QUALITY_PROBLEMS",
    "VIEWS",
    "Scale",
    "check_scale",
    "check_value",
]
