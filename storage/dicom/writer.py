"""A still as one DICOM VL Photographic Image (docs/images.md, "DICOM and PACS").

The JPEG is encapsulated exactly as stored (never re-encoded, so the PACS holds
the camera's own bytes and the hash recorded with the still stays meaningful);
the transfer syntax is read from the JPEG's start-of-frame marker. A PNG still
(lossless) is written as native pixels in Explicit VR Little Endian.

UIDs are derived from the console's ids (``2.25.`` + a hash, PS3.5 B.2), so a
second export or a retried STOW of the same still gives the same Study, Series
and SOP Instance UIDs and a PACS replaces instead of duplicating.

Annotations are never burnt in: only the still's bytes and its metadata are used.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import datetime

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
)

from app.errors import MediaFileError
from app.image_metadata import BODY_SITES
from app.records import Attachment, Encounter, Patient

VL_PHOTOGRAPHIC_IMAGE: UID = UID("1.2.840.10008.5.1.4.1.1.77.1.4")
# A fixed namespace for name-based (version 5) UUIDs; never change it, or every
# re-export gets new UIDs and a PACS would hold each still twice.
_UID_NAMESPACE = uuid.UUID("5b0b6c55-9a4e-4c1e-9d7e-2f4b1c0d1e11")


def derived_uid(*parts: str) -> UID:
    """A UID under ``2.25`` from a UUID named by ``parts`` (PS3.5 B.2): same parts, same UID."""
    return UID(f"2.25.{uuid.uuid5(_UID_NAMESPACE, '/'.join(parts)).int}")


#: Implementation Class UID of this writer (stable, derived like the others).
IMPLEMENTATION_UID: UID = derived_uid("implementation", "dicom-writer")
IMPLEMENTATION_VERSION = "CLINCONSOLE1"
_GENDER = {"male": "M", "female": "F", "other": "O"}
_LATERALITY = {"left": "L", "right": "R", "bilateral": "B"}
# Paired body parts of app.image_metadata.BODY_SITES (Laterality is required for them).
_PAIRED_SITES = frozenset(
    {
        "117590005", "42859004", "81745001", "5665001", "40983000", "14975008", "85562004",
        "7569003", "72651009", "68367000", "30021000", "56459004", "29707007",
    }
)  # fmt: skip
# SOF markers of the JPEG processes a PACS accepts for 8/12-bit lossy stills.
_SOF_BASELINE = 0xC0
_SOF_EXTENDED = 0xC1


@dataclass(frozen=True, slots=True)
class JpegFrame:
    """What a JPEG's start-of-frame says: the coding process and the pixel layout."""

    marker: int
    precision: int
    height: int
    width: int
    components: int
    subsampled: bool


def study_uid(encounter_id: str) -> UID:
    return derived_uid("study", encounter_id)


def series_uid(encounter_id: str) -> UID:
    return derived_uid("series", encounter_id, "XC")


def instance_uid(attachment_id: str) -> UID:
    return derived_uid("instance", attachment_id)


def read_sof(data: bytes) -> JpegFrame:
    """Walk the JPEG's marker segments to its SOF; MediaFileError for anything else."""
    if data[:2] != b"\xff\xd8":
        raise MediaFileError(name="still", reason="it is not a JPEG")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            seg = data[pos + 4 : pos + 2 + length]
            if len(seg) < 6:
                break
            comps = seg[5]
            factors = {seg[6 + 3 * i + 1] for i in range(comps) if 6 + 3 * i + 1 < len(seg)}
            return JpegFrame(
                marker=marker,
                precision=seg[0],
                height=int.from_bytes(seg[1:3], "big"),
                width=int.from_bytes(seg[3:5], "big"),
                components=comps,
                subsampled=len(factors) > 1,
            )
        if marker == 0xDA:  # start of scan before any SOF: damaged
            break
        pos += 2 + length
    raise MediaFileError(name="still", reason="its JPEG header has no frame description")


def _da_tm(iso: str) -> tuple[str, str]:
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return "", ""
    return when.strftime("%Y%m%d"), when.strftime("%H%M%S")


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning[:64]
    return item


def _person_name(patient: Patient) -> str:
    # "^" separates PN components; strip it and backslashes out of the names themselves.
    def clean(part: str) -> str:
        return part.replace("^", " ").replace("\\", " ").strip()[:64]

    return f"{clean(patient.family_name)}^{clean(patient.given_name)}"


def build_dataset(
    data: bytes,
    *,
    patient: Patient,
    encounter: Encounter,
    attachment: Attachment,
    institution: str = "",
) -> Dataset:
    """The VL Photographic Image for one still (``attachment``'s stored ``data``)."""
    meta = attachment.metadata
    ds = Dataset()
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = VL_PHOTOGRAPHIC_IMAGE
    fm.MediaStorageSOPInstanceUID = instance_uid(attachment.id)
    fm.ImplementationClassUID = IMPLEMENTATION_UID
    fm.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds.file_meta = fm

    # SOP Common
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: names in any script
    ds.SOPClassUID = VL_PHOTOGRAPHIC_IMAGE
    ds.SOPInstanceUID = fm.MediaStorageSOPInstanceUID
    created_date, created_time = _da_tm(_now_iso())
    ds.InstanceCreationDate, ds.InstanceCreationTime = created_date, created_time

    # Patient
    ds.PatientName = _person_name(patient)
    ds.PatientID = (patient.mrn or patient.id)[:64]
    ds.PatientBirthDate = patient.birth_date.replace("-", "")[:8]
    ds.PatientSex = _GENDER.get(patient.gender, "")

    # General Study (the encounter is the study)
    study_date, study_time = _da_tm(encounter.start)
    ds.StudyInstanceUID = study_uid(encounter.id)
    ds.StudyDate, ds.StudyTime = study_date, study_time
    ds.ReferringPhysicianName = ""
    ds.StudyID = encounter.id.replace("-", "")[:16]
    ds.AccessionNumber = ""
    ds.StudyDescription = "Exam-camera stills"

    # General Series: one series of stills per encounter, External-camera Photography
    ds.Modality = "XC"
    ds.SeriesInstanceUID = series_uid(encounter.id)
    ds.SeriesNumber = 1
    laterality = _LATERALITY.get(str(meta.get("laterality", "")))

    # General Equipment
    ds.Manufacturer = ""
    if institution:
        ds.InstitutionName = institution[:64]
    camera = meta.get("camera")
    if isinstance(camera, str) and camera:
        ds.ManufacturerModelName = camera[:64]

    # General Image / VL Image
    captured = str(meta.get("captured_at") or attachment.created_at)
    content_date, content_time = _da_tm(captured)
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ContentDate, ds.ContentTime = content_date, content_time
    ds.AcquisitionDateTime = (content_date + content_time) if content_date else ""
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    if laterality:
        ds.ImageLaterality = laterality
    elif meta.get("body_site") in _PAIRED_SITES:
        # Type 2C for a paired body part without Image Laterality: present, empty
        # (the nurse did not say which side); absent for an unpaired one.
        ds.Laterality = ""
    site = meta.get("body_site")
    if isinstance(site, str) and site in BODY_SITES:
        ds.AnatomicRegionSequence = [_code(site, "SCT", BODY_SITES[site])]
    view = meta.get("view")
    if isinstance(view, str) and view:
        ds.ImageComments = f"View: {view}"
    ds.AcquisitionContextSequence = []

    # Calibration: Pixel Spacing (row spacing \ column spacing, mm) from the marked scale
    mm_per_px = meta.get("scale_mm_per_px")
    if isinstance(mm_per_px, (int, float)) and mm_per_px > 0:
        spacing = f"{float(mm_per_px):.6g}"
        ds.PixelSpacing = [spacing, spacing]

    if attachment.content_type == "image/jpeg":
        _jpeg_pixels(ds, data)
    elif attachment.content_type == "image/png":
        _png_pixels(ds, data)
    else:
        raise MediaFileError(name="still", reason="only JPEG and PNG stills can be exported")
    return ds


def _jpeg_pixels(ds: Dataset, data: bytes) -> None:
    frame = read_sof(data)
    if frame.marker == _SOF_BASELINE and frame.precision == 8:
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    elif frame.marker == _SOF_EXTENDED and frame.precision in (8, 12):
        ds.file_meta.TransferSyntaxUID = JPEGExtended12Bit
    else:
        # Progressive or lossless JPEG has no current DICOM transfer syntax for this
        # use, and re-encoding is not allowed: refuse plainly.
        raise MediaFileError(name="still", reason="its JPEG coding cannot be stored in DICOM")
    if frame.components not in (1, 3):
        raise MediaFileError(name="still", reason="its JPEG has an unusual colour layout")
    ds.Rows, ds.Columns = frame.height, frame.width
    ds.SamplesPerPixel = frame.components
    if frame.components == 1:
        ds.PhotometricInterpretation = "MONOCHROME2"
    else:
        # PS3.5 8.2.1: JPEG lossy colour is YCbCr; YBR_FULL_422 when the chroma is
        # subsampled (4:2:2 and 4:2:0), YBR_FULL when not.
        ds.PhotometricInterpretation = "YBR_FULL_422" if frame.subsampled else "YBR_FULL"
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = 8 if frame.precision == 8 else 16
    ds.BitsStored = frame.precision
    ds.HighBit = frame.precision - 1
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.PixelData = encapsulate([data])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True


def _png_pixels(ds: Dataset, data: bytes) -> None:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        grey = img.mode in ("1", "L", "I;16", "I")
        img8 = img.convert("L" if grey else "RGB")
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.Rows, ds.Columns = img8.height, img8.width
        ds.SamplesPerPixel = 1 if grey else 3
        ds.PhotometricInterpretation = "MONOCHROME2" if grey else "RGB"
        if not grey:
            ds.PlanarConfiguration = 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelRepresentation = 0
        ds.LossyImageCompression = "00"
        pixels = img8.tobytes()
    if len(pixels) % 2:
        pixels += b"\x00"
    ds.PixelData = pixels
    ds["PixelData"].VR = "OB"


def _now_iso() -> str:
    from app.records import utc_now

    return utc_now()


def to_bytes(ds: Dataset) -> bytes:
    """The Part 10 file (preamble, ``DICM``, file meta, data set)."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_still(
    data: bytes,
    *,
    patient: Patient,
    encounter: Encounter,
    attachment: Attachment,
    institution: str = "",
) -> bytes:
    """The still as a DICOM Part 10 file's bytes."""
    return to_bytes(
        build_dataset(
            data,
            patient=patient,
            encounter=encounter,
            attachment=attachment,
            institution=institution,
        )
    )


__all__ = [
    "VL_PHOTOGRAPHIC_IMAGE",
    "JpegFrame",
    "build_dataset",
    "derived_uid",
    "instance_uid",
    "read_sof",
    "series_uid",
    "study_uid",
    "to_bytes",
    "write_still",
]
