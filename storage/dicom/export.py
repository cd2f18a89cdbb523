"""Export an encounter's stills as DICOM files (``image export-dicom``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.records import AttachmentKind
from storage import audit, repository
from storage.dicom.writer import instance_uid, write_still


@dataclass(frozen=True, slots=True)
class DicomFile:
    attachment_id: str
    sop_instance_uid: str
    data: bytes


def encounter_dicom(conn: Any, actor: str, encounter_id: str) -> list[DicomFile]:
    """Every still of the encounter as a Part 10 file; each export audited.

    Run inside one transaction (``Store.transact``): a still that cannot be
    written (damaged bytes, an unsupported JPEG) raises before any audit entry
    is committed, so the caller writes no file either."""
    encounter = repository.get_encounter(conn, encounter_id)
    patient = repository.get_patient(conn, encounter.patient_id)
    out: list[DicomFile] = []
    for attachment in repository.list_attachments(conn, encounter_id):
        if attachment.kind is not AttachmentKind.IMAGE:
            continue
        data = repository.attachment_data(conn, attachment.id)
        dicom = write_still(data, patient=patient, encounter=encounter, attachment=attachment)
        audit.append(conn, actor, "dicom_export", "attachment", attachment.id)
        out.append(DicomFile(attachment.id, str(instance_uid(attachment.id)), dicom))
    return out


def write_files(files: list[DicomFile], out_dir: Path) -> list[Path]:
    """Write each file atomically (temp file, fsync, rename) as ``<SOP Instance UID>.dcm``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for f in files:
        path = out_dir / f"{f.sop_instance_uid}.dcm"
        tmp = path.with_suffix(".dcm.part")
        with tmp.open("wb") as fh:
            fh.write(f.data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        paths.append(path)
    return paths


__all__ = ["DicomFile", "encounter_dicom", "write_files"]
