"""FHIR R4 mapping of the console's records, and Bundle export/import (docs/fhir.md).

Pure functions over JSON dicts: no I/O except :func:`load_bundle_file`, no Qt.
"""

from storage.fhir.bundle import (
    ParsedImport,
    build_export_bundle,
    load_bundle_bytes,
    load_bundle_file,
    parse_import_bundle,
)
from storage.fhir.mapping import (
    ReferenceStyle,
    encounter_from_fhir,
    encounter_to_fhir,
    note_from_document_reference,
    note_to_document_reference,
    patient_from_fhir,
    patient_to_fhir,
)

__all__ = [
    "ParsedImport",
    "ReferenceStyle",
    "build_export_bundle",
    "encounter_from_fhir",
    "encounter_to_fhir",
    "load_bundle_bytes",
    "load_bundle_file",
    "note_from_document_reference",
    "note_to_document_reference",
    "parse_import_bundle",
    "patient_from_fhir",
    "patient_to_fhir",
]
