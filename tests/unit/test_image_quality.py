"""The quality gate, labelled on real photographs (media/images/quality.py)."""

from __future__ import annotations

import pytest

from app.errors import MediaFileError
from media.images import quality
from tests.unit.images_support import (
    PHOTOS,
    at_megapixels,
    exposure,
    gaussian,
    in_dark_circle,
    jpeg_bytes,
    photo,
    png_bytes,
)

FOCUS_AND_EXPOSURE = {quality.BLURRED, quality.OVEREXPOSED, quality.UNDEREXPOSED}


@pytest.mark.parametrize("name", PHOTOS)
def test_a_sharp_well_exposed_photograph_passes_focus_and_exposure(name: str) -> None:
    report = quality.check_pixels(photo(name))
    assert not (set(report.problems) & FOCUS_AND_EXPOSURE), (name, report)


@pytest.mark.parametrize("name", PHOTOS)
def test_a_2px_gaussian_blur_is_flagged(name: str) -> None:
    report = quality.check_pixels(gaussian(photo(name), 2.0))
    assert quality.BLURRED in report.problems, (name, report.sharpness)


@pytest.mark.parametrize("name", ["retina.jpg", "hubble_deep_field.jpg"])
def test_a_sharp_1_megapixel_photo_blurred_by_2px_is_flagged(name: str) -> None:
    # The two sample photographs that are about a megapixel or more.
    sharp = at_megapixels(photo(name), 1.0)
    assert 0.85e6 <= sharp.shape[0] * sharp.shape[1] <= 1.05e6
    assert quality.BLURRED not in quality.check_pixels(sharp).problems
    blurred = quality.check_pixels(gaussian(sharp, 2.0))
    assert quality.BLURRED in blurred.problems, blurred.sharpness


@pytest.mark.parametrize("name", PHOTOS)
def test_overexposure_is_flagged(name: str) -> None:
    report = quality.check_pixels(exposure(photo(name), 1.7, 70))
    assert quality.OVEREXPOSED in report.problems, (name, report)
    assert quality.UNDEREXPOSED not in report.problems


@pytest.mark.parametrize("name", PHOTOS)
def test_underexposure_is_flagged(name: str) -> None:
    report = quality.check_pixels(exposure(photo(name), 0.22))
    assert quality.UNDEREXPOSED in report.problems, (name, report)
    assert quality.OVEREXPOSED not in report.problems


def test_the_fundus_photograph_with_its_dark_border_passes() -> None:
    report = quality.check_pixels(at_megapixels(photo("retina.jpg"), 1.0))
    assert report.ok, report
    assert report.content_fraction < 0.9  # the black surround was set aside


@pytest.mark.parametrize("name", ["astronaut.png", "coffee.png", "motorcycle_left.png"])
def test_an_otoscope_like_view_with_a_large_black_frame_passes(name: str) -> None:
    framed = in_dark_circle(photo(name), fraction=0.35)
    report = quality.check_pixels(framed)
    assert not (set(report.problems) & FOCUS_AND_EXPOSURE), report
    # Judged on the whole frame, the same picture would be called underexposed.
    assert framed.mean() < quality.DEFAULT_THRESHOLDS.min_brightness


def test_focus_is_compared_at_a_fixed_size_whatever_the_resolution() -> None:
    import cv2

    small = at_megapixels(photo("retina.jpg"), 1.0)
    big = cv2.resize(photo("retina.jpg"), (2822, 2822), interpolation=cv2.INTER_LANCZOS4)
    a = quality.check_pixels(small).sharpness
    b = quality.check_pixels(cv2.resize(big, (1411, 1411), interpolation=cv2.INTER_AREA)).sharpness
    assert abs(a - b) / a < 0.35


def test_size_below_vga_is_too_small() -> None:
    report = quality.check_pixels(photo("chelsea.png"))  # 451 x 300
    assert quality.TOO_SMALL in report.problems
    assert (report.width_px, report.height_px) == (451, 300)


def test_check_bytes_reads_a_jpeg_through_reduced_decoding() -> None:
    import cv2

    big = cv2.resize(photo("retina.jpg"), (4000, 4000), interpolation=cv2.INTER_CUBIC)
    info, report = quality.check_bytes(jpeg_bytes(big))
    assert (info.width_px, info.height_px) == (4000, 4000)
    assert info.content_type == "image/jpeg"
    assert (report.width_px, report.height_px) == (4000, 4000)


def test_bad_files_get_a_clear_error() -> None:
    good = png_bytes(photo("camera.png"))
    with pytest.raises(MediaFileError, match="not a JPEG or PNG"):
        quality.probe(b"%PDF-1.7 not an image", name="scan.pdf")
    with pytest.raises(MediaFileError, match="empty"):
        quality.probe(b"", name="x.jpg")
    with pytest.raises(MediaFileError, match="damaged"):
        quality.check_bytes(good[: len(good) // 2], name="half.png")
    jpeg = jpeg_bytes(photo("astronaut.png"))
    with pytest.raises(MediaFileError, match="damaged"):
        quality.check_bytes(jpeg[: len(jpeg) // 2], name="half.jpg")


def test_more_than_100_megapixels_is_refused_before_decoding() -> None:
    import struct
    import zlib

    # A PNG header claiming 20000 x 6000 (120 MP) with one tiny IDAT: a decompression bomb.
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", 20_000, 6_000, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(MediaFileError, match="100 megapixels"):
        quality.probe(data, name="bomb.png")


def test_over_50_mb_is_refused() -> None:
    with pytest.raises(MediaFileError, match="50 MB"):
        quality.probe(b"\xff\xd8\xff" + bytes(quality.MAX_FILE_BYTES), name="big.jpg")
