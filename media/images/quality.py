"""The quality gate for exam-camera stills: size, focus and exposure, judged on the content.

Why each measure is what it is (docs/images.md, "The quality gate"):

- **Focus** is measured at a fixed analysis size (the long side scaled down to
  :data:`ANALYSIS_LONG_SIDE_PX`), so a 12-megapixel dermatoscope and a VGA otoscope
  get comparable scores. The score is the *edge steepness*: over the strongest
  5 % of gradients inside the content, the median of (largest nearby second
  derivative) / (gradient). For a step edge blurred by a Gaussian of sigma
  pixels it is about 0.6 / sigma, so it does not grow with contrast or with how
  much texture the scene has (a Laplacian variance does both). Labelled on real
  photographs (scikit-image's sample photographs, tests/unit/test_image_quality.py):
  sharp ones score 1.17-3.95, the same photographs blurred by a 2 px Gaussian
  0.36-0.80 (at one megapixel: the fundus photograph 1.17 -> 0.54); the threshold
  sits between.
- **Exposure** is judged on the *content*: dark regions connected to the image's
  edge (the black surround of a fundus photograph, an otoscope's vignette) are
  not part of it, so a sharp, well exposed fundus image passes. Overexposed:
  more than 10 % of the content at 250 or above in any channel (clipped
  highlights), or its mean luminance above 225. Underexposed: its mean
  luminance below 48 of 255, or more than 25 % of it crushed to 5 or below.
- **Size**: fewer than 300,000 pixels (under VGA) is too small to be worth
  sending to a specialist.

Everything here runs on a worker thread (never the GUI thread). Pillow (decoding,
box downscaling) and scipy.ndimage (filters, labelling) are imported inside the
functions so that importing this module is cheap; OpenCV is not needed at run time
(its wheel would add ~100 MiB to the bundle, docs/media.md).
"""

from __future__ import annotations

import collections
import hashlib
import io
import threading
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from app.errors import MediaFileError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    RgbImage = npt.NDArray[np.uint8]
else:
    RgbImage = Any

#: Largest file ``image add``/``image check`` accept (bytes).
MAX_FILE_BYTES: Final = 50 * 1024 * 1024
#: Largest image accepted (pixels): the header is read before any pixel is decoded.
MAX_PIXELS: Final = 100_000_000
#: Focus and exposure are measured with the long side scaled down to this.
ANALYSIS_LONG_SIDE_PX: Final = 1024

BLURRED: Final = "blurred"
OVEREXPOSED: Final = "overexposed"
UNDEREXPOSED: Final = "underexposed"
TOO_SMALL: Final = "too_small"

_CONTENT_TYPES: Final = {"JPEG": "image/jpeg", "PNG": "image/png"}


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    """Where each verdict starts; the defaults are the labelled ones (module docstring)."""

    min_sharpness: float = 0.95
    max_clipped_fraction: float = 0.10
    max_brightness: float = 225.0
    min_brightness: float = 48.0
    max_crushed_fraction: float = 0.25
    min_pixels: int = 300_000
    #: Below this luminance (0-255) a region touching the edge counts as surround.
    surround_level: int = 20
    #: If less than this fraction is content, the whole frame is judged (a dark photo).
    min_content_fraction: float = 0.25


DEFAULT_THRESHOLDS: Final = QualityThresholds()


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says, read before any pixel is decoded."""

    content_type: str  # "image/jpeg" or "image/png"
    width_px: int
    height_px: int
    size_bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class QualityReport:
    """The verdict on one still. ``problems`` uses the words ``blurred``, ``overexposed``,
    ``underexposed`` and ``too_small``; ``ok`` is True when there are none."""

    width_px: int
    height_px: int
    problems: tuple[str, ...]
    sharpness: float  # edge steepness at the analysis size (about 0.6 / blur sigma in px)
    brightness: float  # mean luminance of the content, 0-255
    clipped_fraction: float  # content at 250+ in any channel
    crushed_fraction: float  # content at 5 or below
    content_fraction: float  # the part of the frame judged (1.0: all of it)
    thresholds: QualityThresholds = field(default=DEFAULT_THRESHOLDS, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        """The ``image check --json`` object."""
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "width": self.width_px,
            "height": self.height_px,
            "scores": {
                "sharpness": round(self.sharpness, 3),
                "brightness": round(self.brightness, 1),
                "clipped_fraction": round(self.clipped_fraction, 4),
                "crushed_fraction": round(self.crushed_fraction, 4),
                "content_fraction": round(self.content_fraction, 3),
            },
        }


def _pil() -> Any:
    from PIL import Image

    return Image


def probe(data: bytes, *, name: str = "image") -> ImageInfo:
    """Check a still's bytes without decoding its pixels: a JPEG or PNG, at most
    :data:`MAX_FILE_BYTES` and :data:`MAX_PIXELS`. Raises :class:`MediaFileError`
    (``name`` is the file name the user gave, shown in the message)."""
    if len(data) > MAX_FILE_BYTES:
        raise MediaFileError(name=name, reason="it is larger than 50 MB")
    if not data:
        raise MediaFileError(name=name, reason="it is empty")
    image = _pil()
    try:
        with warnings.catch_warnings():
            # Pillow warns about large images; our own limit below decides.
            warnings.simplefilter("ignore", image.DecompressionBombWarning)
            with image.open(io.BytesIO(data)) as img:
                fmt = img.format
                width, height = img.size
    except image.DecompressionBombError:
        raise MediaFileError(name=name, reason="it has more than 100 megapixels") from None
    except Exception as exc:  # UnidentifiedImageError, OSError, SyntaxError from a bad header
        raise MediaFileError(name=name, reason="it is not a JPEG or PNG image") from exc
    if fmt not in _CONTENT_TYPES:
        raise MediaFileError(name=name, reason="it is not a JPEG or PNG image")
    if width < 1 or height < 1:
        raise MediaFileError(name=name, reason="it has no pixels")
    if width * height > MAX_PIXELS:
        raise MediaFileError(name=name, reason="it has more than 100 megapixels")
    return ImageInfo(
        content_type=_CONTENT_TYPES[fmt],
        width_px=width,
        height_px=height,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def decode(data: bytes, *, name: str = "image", full: bool = False) -> RgbImage:
    """Decode to RGB uint8. ``full=False`` lets the JPEG decoder scale down by 2/4/8
    (DCT scaling) to no less than the analysis size, which is what makes a 12 MP check
    fast. Every pixel row is decoded either way, so a truncated or corrupt file raises
    :class:`MediaFileError`. Call :func:`probe` first (it enforces the size limits)."""
    import numpy as np

    image = _pil()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", image.DecompressionBombWarning)
            with image.open(io.BytesIO(data)) as img:
                if not full and img.format == "JPEG":
                    scale = max(img.size) / ANALYSIS_LONG_SIDE_PX
                    if scale >= 2:
                        img.draft("RGB", (img.size[0] // scale, img.size[1] // scale))
                img.load()
                rgb = img.convert("RGB")
    except Exception as exc:  # OSError("image file is truncated"), SyntaxError, ...
        raise MediaFileError(name=name, reason="the image data is damaged") from exc
    return np.asarray(rgb, dtype=np.uint8)


def analysis_size(width_px: int, height_px: int) -> tuple[int, int]:
    """(width, height) the focus and exposure are measured at."""
    scale = min(1.0, ANALYSIS_LONG_SIDE_PX / max(width_px, height_px))
    return max(1, round(width_px * scale)), max(1, round(height_px * scale))


def _resize(rgb: RgbImage, size: tuple[int, int]) -> RgbImage:
    """Area (box) downscaling, as a camera's binning would."""
    import numpy as np
    from PIL import Image

    resized = Image.fromarray(rgb).resize(size, Image.Resampling.BOX)
    return np.asarray(resized, dtype=np.uint8)


def _gray(rgb: RgbImage) -> Any:
    """ITU-R BT.601 luma, float32 0-255 (what JPEG and most cameras use)."""
    import numpy as np

    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return rgb.astype(np.float32) @ weights


def _content_mask(gray: Any, thresholds: QualityThresholds) -> Any:
    """True where the picture is: everything but dark regions touching the frame's edge."""
    import numpy as np
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(gray, 2.0, mode="mirror")
    dark = smooth < thresholds.surround_level
    labels, count = ndimage.label(dark)  # 4-connected
    touching = np.zeros(int(count) + 1, dtype=bool)  # label -> touches the edge
    touching[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
    touching[0] = False  # 0 is "not dark"
    content = ~touching[labels]
    if content.mean() < thresholds.min_content_fraction:
        return np.ones_like(content)  # a dark frame: judge all of it
    return content


def _sharpness(gray: Any, content: Any) -> float:
    import numpy as np
    from scipy import ndimage

    gx = ndimage.sobel(gray, axis=1, mode="mirror") / 8.0
    gy = ndimage.sobel(gray, axis=0, mode="mirror") / 8.0
    magnitude = np.hypot(gx, gy)
    laplacian = np.abs(ndimage.laplace(gray, mode="mirror"))
    # The second derivative peaks beside an edge, not on it: take the largest nearby.
    peak = ndimage.maximum_filter(laplacian, size=3, mode="mirror")
    # Edges of the content itself (the fundus rim) are left out by eroding the mask.
    inner = ndimage.minimum_filter(content.astype(np.uint8), size=7, mode="nearest") > 0
    if not inner.any():
        return 0.0
    strong = max(float(np.percentile(magnitude[inner], 95)), 2.0)
    edges = inner & (magnitude >= strong)
    if not edges.any():
        return 0.0  # a flat picture has no edge to be sharp
    return float(np.median(peak[edges] / magnitude[edges]))


def check_pixels(
    rgb: RgbImage,
    *,
    width_px: int | None = None,
    height_px: int | None = None,
    thresholds: QualityThresholds = DEFAULT_THRESHOLDS,
) -> QualityReport:
    """Judge an RGB uint8 image (a decoded still or a camera frame). ``width_px`` /
    ``height_px`` are the still's full size when ``rgb`` was decoded smaller."""
    import numpy as np

    height, width = rgb.shape[:2]
    full_w = width_px or width
    full_h = height_px or height
    target = analysis_size(full_w, full_h)
    if (width, height) != target and max(width, height) > max(target):
        rgb = _resize(rgb, target)
    gray = _gray(rgb)
    content = _content_mask(gray, thresholds)
    values = gray[content]
    brightest_channel = rgb.max(axis=2)[content]
    brightness = float(values.mean())
    clipped = float((brightest_channel >= 250).mean())
    crushed = float((values <= 5.5).mean())
    sharpness = _sharpness(gray, content)
    problems: list[str] = []
    if sharpness < thresholds.min_sharpness:
        problems.append(BLURRED)
    if clipped > thresholds.max_clipped_fraction or brightness > thresholds.max_brightness:
        problems.append(OVEREXPOSED)
    if brightness < thresholds.min_brightness or crushed > thresholds.max_crushed_fraction:
        problems.append(UNDEREXPOSED)
    if full_w * full_h < thresholds.min_pixels:
        problems.append(TOO_SMALL)
    return QualityReport(
        width_px=full_w,
        height_px=full_h,
        problems=tuple(problems),
        sharpness=sharpness,
        brightness=brightness,
        clipped_fraction=clipped,
        crushed_fraction=crushed,
        content_fraction=float(np.asarray(content).mean()),
        thresholds=thresholds,
    )


def check_bytes(
    data: bytes, *, name: str = "image", thresholds: QualityThresholds = DEFAULT_THRESHOLDS
) -> tuple[ImageInfo, QualityReport]:
    """Probe, decode (scaled) and judge a still's bytes; :class:`MediaFileError` when the
    file cannot be used."""
    info = probe(data, name=name)
    rgb = decode(data, name=name)
    return info, check_pixels(
        rgb, width_px=info.width_px, height_px=info.height_px, thresholds=thresholds
    )


# Verdicts on stills decoded and judged in this process, by the bytes' SHA-256: the
# capture panel judges a still the moment it arrives, and storing the same bytes a
# moment later need not decode and judge them again (same bytes, same verdict).
_RECENT: collections.OrderedDict[str, tuple[ImageInfo, QualityReport]] = collections.OrderedDict()
_RECENT_LOCK = threading.Lock()
_RECENT_MAX = 8


def remember(info: ImageInfo, report: QualityReport) -> None:
    """Keep the verdict on bytes that were decoded in full (every byte) and judged."""
    with _RECENT_LOCK:
        _RECENT[info.sha256] = (info, report)
        _RECENT.move_to_end(info.sha256)
        while len(_RECENT) > _RECENT_MAX:
            _RECENT.popitem(last=False)


def recalled(sha256: str) -> tuple[ImageInfo, QualityReport] | None:
    with _RECENT_LOCK:
        return _RECENT.get(sha256)


def judge_still(data: bytes, *, name: str = "still") -> tuple[ImageInfo, QualityReport, RgbImage]:
    """Probe, decode (scaled; every byte) and judge a still's bytes, and remember the
    verdict for when the same bytes are stored. Returns the picture too (for showing)."""
    info = probe(data, name=name)
    rgb = decode(data, name=name)
    report = check_pixels(rgb, width_px=info.width_px, height_px=info.height_px)
    remember(info, report)
    return info, report, rgb


__all__ = [
    "ANALYSIS_LONG_SIDE_PX",
    "BLURRED",
    "DEFAULT_THRESHOLDS",
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "OVEREXPOSED",
    "TOO_SMALL",
    "UNDEREXPOSED",
    "ImageInfo",
    "QualityReport",
    "QualityThresholds",
    "analysis_size",
    "check_bytes",
    "check_pixels",
    "decode",
    "judge_still",
    "probe",
    "recalled",
    "remember",
]
