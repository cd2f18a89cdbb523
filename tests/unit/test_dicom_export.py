"""DICOM VL Photographic Image export (storage/dicom/, ``image export-dicom``).

Real parts: a real encrypted store, real stills from photographs, the CLI as a
subprocess, pydicom reading the files back, and dciodvfy (Debian dicom3tools)
validating them against the IOD.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.encaps import generate_fragmented_frames

from app.errors import MediaFileError
from app.image_metadata import Scale
from app.records import Attachment, AttachmentKind, Encounter, Patient
from storage.dicom.writer import VL_PHOTOGRAPHIC_IMAGE, build_dataset, read_sof, write_still
from tests.unit.images_support import at_megapixels, jpeg_bytes, photo, png_bytes
from tests.unit.test_image_cli import store_cli

needs_dciodvfy = pytest.mark.skipif(
    shutil.which("dciodvfy") is None,
    reason="dciodvfy (dicom3tools) is installed by scripts/setup --tests",
)


def dciodvfy(path: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) that dciodvfy reports for one file."""
    result = subprocess.run(
        ["dciodvfy", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    lines = (result.stdout + result.stderr).splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    warnings = [line for line in lines if line.startswith("Warning")]
    return errors, warnings


def _records(
    content_type: str = "image/jpeg", **meta: object
) -> tuple[Patient, Encounter, Attachment]:
    patient = Patient("p-1", "O'Brien^Evil\\Name", "Ada", "1970-01-02", "female", "MRN-7")
    encounter = Encounter("e-1", "p-1", "2026-12-05T10:00:00+00:00")
    attachment = Attachment(
        "a-1",
        "e-1",
        AttachmentKind.IMAGE,
        content_type,
        "",
        "2026-12-05T10:01:00+00:00",
        0,
        "",
        metadata=dict(meta),
    )
    return patient, encounter, attachment


def _seed_with_stills(profile: Path) -> tuple[str, list[bytes]]:
    """An encounter with two stills (one calibrated, with a site) added through ImagesService."""
    from app.events import ConsoleEvents
    from app.images import ImagesService, StillMetadata
    from app.records import new_id, utc_now
    from app.services import AttachmentsService
    from media.images.inspector import QualityInspector
    from tests.conftest import open_test_store, run

    first = jpeg_bytes(at_megapixels(photo("retina.jpg"), 1.0))
    second = jpeg_bytes(photo("astronaut.png"))

    async def seed() -> str:
        store = await open_test_store(profile)
        try:
            patient = await store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01"))
            enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
            images = ImagesService(AttachmentsService(store, ConsoleEvents()), QualityInspector())
            await images.add(
                enc.id,
                first,
                metadata=StillMetadata(
                    body_site="5665001",
                    laterality="left",
                    view="fundus",
                    scale=Scale(10, 10, 210, 10, 20.0),
                ),
            )
            await images.add(enc.id, second, metadata=StillMetadata(body_site="14975008"))
            return str(enc.id)
        finally:
            await store.close()

    return run(seed()), [first, second]  # type: ignore[no-untyped-call]


@needs_dciodvfy
def test_export_writes_valid_vl_photographic_images_with_the_jpeg_as_stored(
    fresh_profile: Path, tmp_path: Path
) -> None:
    enc_id, stills = _seed_with_stills(fresh_profile)
    out = tmp_path / "dicom"
    result = store_cli(
        fresh_profile, "image", "export-dicom", "--encounter", enc_id, "--out", str(out), "--json"
    )
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert listed["encounter_id"] == enc_id
    paths = [Path(f["path"]) for f in listed["files"]]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
    assert len(paths) == 2

    by_site = {}
    for entry, path in zip(listed["files"], paths, strict=True):
        ds = dcmread(path)
        assert ds.SOPClassUID == VL_PHOTOGRAPHIC_IMAGE
        assert ds.SOPInstanceUID == entry["sop_instance_uid"]
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
        assert ds.Modality == "XC"
        frames = list(generate_fragmented_frames(ds.PixelData))
        assert len(frames) == 1
        # Not re-encoded: the fragments are the stored JPEG's bytes (even-padded).
        assert b"".join(frames[0]).rstrip(b"\x00") in {s.rstrip(b"\x00") for s in stills}
        by_site[ds.AnatomicRegionSequence[0].CodeValue] = ds
        errors, warnings = dciodvfy(path)
        assert errors == [], errors
        print(path.name, warnings)  # collected for the report

    fundus = by_site["5665001"]
    assert fundus.AnatomicRegionSequence[0].CodingSchemeDesignator == "SCT"
    assert fundus.ImageLaterality == "L"
    assert [float(v) for v in fundus.PixelSpacing] == [0.1, 0.1]
    assert "PixelSpacing" not in by_site["14975008"]
    assert fundus.StudyInstanceUID == by_site["14975008"].StudyInstanceUID
    assert fundus.SeriesInstanceUID == by_site["14975008"].SeriesInstanceUID

    # Re-export: the same UIDs (a PACS replaces instead of duplicating).
    again = store_cli(
        fresh_profile,
        "image",
        "export-dicom",
        "--encounter",
        enc_id,
        "--out",
        str(tmp_path / "2"),
        "--json",
    )
    assert again.returncode == 0, again.stderr
    assert [f["sop_instance_uid"] for f in json.loads(again.stdout)["files"]] == [
        f["sop_instance_uid"] for f in listed["files"]
    ]
    assert dcmread(Path(json.loads(again.stdout)["files"][0]["path"])).StudyInstanceUID == (
        dcmread(paths[0]).StudyInstanceUID
    )


def test_export_of_an_unknown_encounter_writes_nothing(fresh_profile: Path, tmp_path: Path) -> None:
    _seed_with_stills(fresh_profile)
    out = tmp_path / "dicom"
    result = store_cli(
        fresh_profile, "image", "export-dicom", "--encounter", "nope", "--out", str(out)
    )
    assert result.returncode == 1
    assert not out.exists() or not any(out.iterdir())
    assert len(result.stderr.strip().splitlines()) == 1


@needs_dciodvfy
def test_png_still_is_written_as_native_rgb_and_validates(tmp_path: Path) -> None:
    rgb = photo("astronaut.png")
    patient, encounter, attachment = _records("image/png", body_site="85562004")
    path = tmp_path / "png.dcm"
    path.write_bytes(
        write_still(png_bytes(rgb), patient=patient, encounter=encounter, attachment=attachment)
    )
    ds = dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert ds.PhotometricInterpretation == "RGB"
    assert (ds.Rows, ds.Columns) == rgb.shape[:2]
    assert (ds.pixel_array == rgb).all()
    errors, _warnings = dciodvfy(path)
    assert errors == [], errors


def test_hostile_names_do_not_break_the_person_name() -> None:
    patient, encounter, attachment = _records()
    ds = build_dataset(
        jpeg_bytes(photo("astronaut.png")),
        patient=patient,
        encounter=encounter,
        attachment=attachment,
    )
    assert ds.PatientName.family_name == "O'Brien Evil Name"
    assert ds.PatientName.given_name == "Ada"
    assert ds.PatientID == "MRN-7"


def test_transfer_syntax_follows_the_jpeg_sof() -> None:
    patient, encounter, attachment = _records()
    baseline = jpeg_bytes(photo("astronaut.png"))
    assert read_sof(baseline).marker == 0xC0
    # The same scan under an SOF1 (extended sequential) marker: a valid extended JPEG.
    sof = baseline.index(b"\xff\xc0")
    extended = baseline[:sof] + b"\xff\xc1" + baseline[sof + 2 :]
    ds = build_dataset(extended, patient=patient, encounter=encounter, attachment=attachment)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.51"

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(photo("astronaut.png")).save(buf, "JPEG", quality=95, progressive=True)
    with pytest.raises(MediaFileError):
        build_dataset(buf.getvalue(), patient=patient, encounter=encounter, attachment=attachment)
    with pytest.raises(MediaFileError):
        build_dataset(
            b"\xff\xd8\xff\xda" + b"\x00" * 32,
            patient=patient,
            encounter=encounter,
            attachment=attachment,
        )
