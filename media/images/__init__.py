"""Exam-camera stills: file checks and the quality gate (docs/images.md)."""
