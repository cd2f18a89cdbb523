"""The quality gate, labelled on real photographs (media/images/quality.py)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# --- hostile files ----------------------------------------------------------------------


_SEEDS: dict[str, bytes] = {}


def _seed(kind: str) -> bytes:
    if kind not in _SEEDS:
        rgb = at_megapixels(photo("coffee.png"), 0.05)
        _SEEDS[kind] = jpeg_bytes(rgb) if kind == "jpeg" else png_bytes(rgb)
    return _SEEDS[kind]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    kind=st.sampled_from(["jpeg", "png"]),
    edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_damaged_files_are_a_clear_error_or_a_verdict(
    kind: str, edits: list[tuple[float, int]], cut: float | None
) -> None:
    data = bytearray(_seed(kind))
    for where, value in edits:
        data[min(len(data) - 1, int(where * len(data)))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    try:
        info, report = quality.check_bytes(bytes(data), name="fuzz")
    except MediaFileError as exc:
        assert "fuzz" in str(exc)
        return
    assert info.width_px >= 1 and report.width_px == info.width_px


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_are_refused_cleanly(data: bytes) -> None:
    try:
        quality.check_bytes(data, name="random")
    except MediaFileError:
        return
