"""DICOM for a clinic's PACS: VL Photographic Image files, DICOMweb STOW-RS (docs/images.md)."""
