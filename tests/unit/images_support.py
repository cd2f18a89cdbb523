"""Real photographs for the image tests: scikit-image's sample photographs (in its
package data, no download) and helpers that make stills of them as a camera would."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import need_module

#: Real photographs (not synthetic patterns) shipped inside scikit-image's wheel.
#: Left out on purpose: cell.png (a defocused microscope field) and
#: hubble_deep_field.jpg (a night sky: dark by nature); see docs/images.md.
PHOTOS = (
    "astronaut.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "motorcycle_left.png",
    "rocket.jpg",
    "retina.jpg",
    "coins.png",
    "moon.png",
    "brick.png",
    "grass.png",
    "gravel.png",
    "ihc.png",
    "page.png",
    "text.png",
)


def photo_dir() -> Path:
    skimage = need_module("skimage")
    return Path(skimage.__file__).parent / "data"


def photo(name: str) -> Any:
    """RGB uint8 of a sample photograph."""
    from PIL import Image

    with Image.open(photo_dir() / name) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def at_megapixels(rgb: Any, megapixels: float) -> Any:
    """Scaled down (area) to about ``megapixels``; never scaled up."""
    import cv2

    h, w = rgb.shape[:2]
    scale = (megapixels * 1e6 / (h * w)) ** 0.5
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def gaussian(rgb: Any, sigma_px: float) -> Any:
    import cv2

    return cv2.GaussianBlur(rgb, (0, 0), sigma_px)


def exposure(rgb: Any, gain: float, offset: float = 0.0) -> Any:
    """The photograph as a camera with the wrong exposure would deliver it (clipped)."""
    return np.clip(rgb.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)


def in_dark_circle(rgb: Any, fraction: float = 0.45) -> Any:
    """The photograph seen through an otoscope: a disc of it inside a black frame that
    covers about ``1 - fraction`` of the picture."""
    import cv2

    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    radius = round((fraction * h * w / np.pi) ** 0.5)
    cv2.circle(mask, (w // 2, h // 2), radius, 255, -1)
    out = rgb.copy()
    out[mask == 0] = 0
    return out


def jpeg_bytes(rgb: Any, quality: int = 95) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def png_bytes(rgb: Any) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()
