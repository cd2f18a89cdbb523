"""A still's metadata (app/image_metadata.py) as elements of its FHIR R4 ``Media``.

- ``body_site`` + ``laterality`` -> ``Media.bodySite``: the SNOMED CT body
  structure as the coding, the side in ``text`` (R4's Media has no separate
  laterality element; a post-coordinated expression would be unreadable to most
  servers' users);
- ``view`` -> ``Media.view`` (text; DICOM's view codes do not cover clinic cameras);
- ``captured_at`` -> ``Media.createdDateTime``; ``captured_by`` -> ``Media.operator``
  as a display-only reference; ``camera`` -> ``Media.deviceName``;
- the scale and a quality warning the user kept the still with -> ``Media.note``
  (for people), and the scale also as an extension (for programs) with the two
  points and the distance, so a viewer can measure in millimetres.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from app.image_metadata import BODY_SITES

SNOMED_SYSTEM: Final = "http://snomed.info/sct"
#: Our extension for the two-point calibration (documented in docs/images.md).
SCALE_EXTENSION_URL: Final = (
    "https://clinician-console.example.org/fhir/StructureDefinition/still-scale"
)
_QUALITY_WORDS: Final = {
    "blurred": "blurred",
    "overexposed": "overexposed",
    "underexposed": "underexposed",
    "too_small": "too small",
}


def still_elements(resource: dict[str, Any], meta: Mapping[str, object]) -> None:
    """Add the still's elements to a Media dict (before validation)."""
    site = meta.get("body_site")
    side = meta.get("laterality")
    if isinstance(site, str) and site in BODY_SITES:
        display = BODY_SITES[site]
        text = display.removesuffix(" structure")
        if isinstance(side, str):
            text = f"{text}, {side}"
        resource["bodySite"] = {
            "coding": [{"system": SNOMED_SYSTEM, "code": site, "display": display}],
            "text": text,
        }
    elif isinstance(side, str):
        resource["bodySite"] = {"text": side}
    view = meta.get("view")
    if isinstance(view, str):
        resource["view"] = {"text": view}
    when = meta.get("captured_at")
    if isinstance(when, str):
        resource["createdDateTime"] = when
    who = meta.get("captured_by")
    if isinstance(who, str):
        resource["operator"] = {"display": who}
    camera = meta.get("camera")
    if isinstance(camera, str):
        resource["deviceName"] = camera
    points = meta.get("scale_points")
    distance = meta.get("scale_distance_mm")
    if isinstance(points, list) and isinstance(distance, (int, float)):
        resource["extension"] = [
            {
                "url": SCALE_EXTENSION_URL,
                "extension": [
                    {"url": "x1", "valueDecimal": points[0]},
                    {"url": "y1", "valueDecimal": points[1]},
                    {"url": "x2", "valueDecimal": points[2]},
                    {"url": "y2", "valueDecimal": points[3]},
                    {
                        "url": "distance",
                        "valueQuantity": {
                            "value": distance,
                            "unit": "mm",
                            "system": "http://unitsofmeasure.org",
                            "code": "mm",
                        },
                    },
                ],
            }
        ]


def still_notes(meta: Mapping[str, object]) -> Iterator[str]:
    """Notes for people reading the Media elsewhere."""
    per_px = meta.get("scale_mm_per_px")
    distance = meta.get("scale_distance_mm")
    if isinstance(per_px, (int, float)) and isinstance(distance, (int, float)):
        yield f"Scale: {per_px:.4g} mm per pixel (two marked points {distance:g} mm apart)"
    problems = meta.get("quality_problems")
    if isinstance(problems, list) and problems and meta.get("quality_kept_anyway") is True:
        words = ", ".join(_QUALITY_WORDS.get(str(p), str(p)) for p in problems)
        yield f"Kept despite the quality check: {words}"


__all__ = ["SCALE_EXTENSION_URL", "still_elements", "still_notes"]
