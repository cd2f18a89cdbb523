"""Stills (exam-camera pictures) as encounter attachments: check, then store with metadata.

The one path for a still, whoever adds it: the image-capture plugin (through
``encounter.attach``, plugins/_providers.py), ``clinician-console image add``
(app/commands/image.py) and, later, stills received over a visit. It works over
:class:`~app.services.AttachmentsService` (so the still is announced on the bus
and nudges sync like any attachment) and a :class:`StillInspector` port that
media/images implements (decoding and the quality gate need image libraries,
which ``app/`` does not import).

Order of the steps, and why nothing is half-written on bad input: the bytes are
read and decoded in full and every metadata value is checked *before* the store
is asked; the store then writes the attachment, its outbox row and its audit
entry in one transaction. A failure anywhere before that leaves no trace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from app.errors import InputRejectedError
from app.image_metadata import Scale
from app.records import AttachmentKind, check_attachment_metadata, utc_now
from app.services import AttachmentsService


@dataclass(frozen=True, slots=True)
class StillFacts:
    """What an inspection found: the still's type and size, and the gate's verdict."""

    content_type: str  # "image/jpeg" or "image/png"
    width_px: int
    height_px: int
    sha256: str
    problems: tuple[str, ...] = ()  # "blurred", "overexposed", "underexposed", "too_small"
    scores: Mapping[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


class StillInspector(Protocol):
    """Port: decode and judge a still (media.images.inspector.QualityInspector).

    Called on a worker thread. Raises :class:`~app.errors.MediaFileError` for a
    file that is not a whole JPEG or PNG, or is over 50 MB or 100 megapixels."""

    def inspect(self, data: bytes, *, name: str) -> StillFacts: ...


@dataclass(frozen=True, slots=True)
class StillMetadata:
    """What the user says about a still (all optional). ``body_site`` is a SNOMED CT
    code from :data:`app.image_metadata.BODY_SITES`."""

    body_site: str | None = None
    laterality: str | None = None  # "left", "right", "bilateral"
    view: str | None = None  # app.image_metadata.VIEWS
    captured_at: str | None = None  # ISO 8601 with offset; default: when it is stored
    captured_by: str | None = None
    visit_id: str | None = None
    camera: str | None = None
    scale: Scale | None = None

    def as_metadata(self) -> dict[str, object]:
        out: dict[str, object] = {
            key: value
            for key, value in (
                ("body_site", self.body_site),
                ("laterality", self.laterality),
                ("view", self.view),
                ("captured_at", self.captured_at),
                ("captured_by", self.captured_by),
                ("visit_id", self.visit_id),
                ("camera", self.camera),
            )
            if value is not None
        }
        if self.scale is not None:
            out["scale_points"] = [
                self.scale.x1_px,
                self.scale.y1_px,
                self.scale.x2_px,
                self.scale.y2_px,
            ]
            out["scale_distance_mm"] = self.scale.distance_mm
        return out


@dataclass(frozen=True, slots=True)
class StillAdded:
    """What :meth:`ImagesService.add` stored."""

    image_id: str
    encounter_id: str
    sha256: str
    width_px: int
    height_px: int
    problems: tuple[str, ...]  # kept anyway when not empty (recorded with the still)


class ImagesService:
    def __init__(self, attachments: AttachmentsService, inspector: StillInspector) -> None:
        self.attachments = attachments
        self.inspector = inspector

    async def check(self, data: bytes, *, name: str = "image") -> StillFacts:
        """Decode and judge (worker thread); MediaFileError for an unusable file."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.inspector.inspect(data, name=name))

    async def add(
        self,
        encounter_id: str,
        data: bytes,
        *,
        name: str = "image",
        metadata: StillMetadata | Mapping[str, object] | None = None,
        title: str = "",
        source: object = None,
    ) -> StillAdded:
        """Check the still, then store it with its metadata and the gate's verdict.

        A still with problems is stored (the user chose to keep it) with
        ``quality_problems`` and ``quality_kept_anyway`` recorded. Raises
        MediaFileError / InputRejectedError before anything is written."""
        facts = await self.check(data, name=name)
        given = (
            metadata.as_metadata() if isinstance(metadata, StillMetadata) else dict(metadata or {})
        )
        meta: dict[str, object] = {**given}
        meta.setdefault("captured_at", utc_now())
        # The size is the one the decoder read, never what a caller claims.
        meta["width_px"] = facts.width_px
        meta["height_px"] = facts.height_px
        meta.pop("quality_problems", None)
        meta.pop("quality_kept_anyway", None)
        if facts.problems:
            meta["quality_problems"] = list(facts.problems)
            meta["quality_kept_anyway"] = True
        try:
            checked = check_attachment_metadata(AttachmentKind.IMAGE, meta)
        except ValueError as exc:
            raise InputRejectedError(reason=str(exc)) from None
        _check_scale_inside(checked, facts)
        attachment = await self.attachments.attach(
            encounter_id,
            AttachmentKind.IMAGE,
            facts.content_type,
            data,
            title=title,
            metadata=checked,
            source=source,
        )
        return StillAdded(
            image_id=attachment.id,
            encounter_id=attachment.encounter_id,
            sha256=attachment.sha256,
            width_px=facts.width_px,
            height_px=facts.height_px,
            problems=facts.problems,
        )


def _check_scale_inside(metadata: Mapping[str, object], facts: StillFacts) -> None:
    points = metadata.get("scale_points")
    if not isinstance(points, list):
        return
    xs, ys = points[0::2], points[1::2]
    if max(xs) > facts.width_px or max(ys) > facts.height_px:
        raise InputRejectedError(reason="a scale point lies outside the still")


__all__ = ["ImagesService", "StillAdded", "StillFacts", "StillInspector", "StillMetadata"]
