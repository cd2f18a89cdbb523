"""Offline-first sync of the local store with a FHIR R4 record store (DESIGN.md §4)."""
