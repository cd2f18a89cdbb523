"""Image-capture plugin logic, Qt-free: :class:`CaptureModel` (the panel renders it).

The flow a nurse sees: preview -> "Take still" -> the camera switches to its
largest mode for one frame and back (``camera`` capability) -> the quality gate
judges the still on a worker thread -> "Keep" (or "Keep anyway", the problems
then recorded with the still) or "Retake" -> metadata (site, laterality, view,
a two-point scale) -> stored with the open encounter (``encounter.attach``, which
runs the same checks as ``image add`` and never re-encodes the bytes).

During a visit (``visit.stills``): the clinician's panel asks the far end's cart for a
still (:meth:`CaptureModel.request_remote`); the cart's panel answers with
:meth:`CaptureModel.take_for_remote` (a full-resolution still from its open camera,
judged and stored with its encounter: the cart owns it and syncs it). The clinician's
copy is stored marked ``received`` and is never synced.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.image_metadata import BODY_SITES, IMAGE_METADATA_KEYS, LATERALITIES, VIEWS, Scale
from app.image_metadata import check_value as check_image_value
from app.records import utc_now
from clinician_console_api import (
    AttachedRecord,
    AttachmentRequest,
    CameraDevice,
    CameraStream,
    Capability,
    DeviceUnavailableError,
    PluginContext,
    PreviewFrame,
    RemoteStill,
    Still,
    StillOffer,
    Unsubscribe,
)
from media.images.quality import QualityReport, check_pixels, judge_still, recalled

__all__ = [
    "BODY_SITES",
    "LATERALITIES",
    "VIEWS",
    "Candidate",
    "CaptureModel",
    "StillDetails",
    "activate",
    "deactivate",
    "preview_rgb",
    "received_metadata",
]


def activate(ctx: PluginContext) -> None:
    ctx.logger.info("image-capture plugin active; capabilities %s", sorted(ctx.granted))


def deactivate(ctx: PluginContext) -> None:
    ctx.logger.info("image-capture plugin deactivated")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A still taken and judged, not yet kept."""

    still: Still
    report: QualityReport

    @property
    def problems(self) -> tuple[str, ...]:
        return self.report.problems


@dataclass(slots=True)
class StillDetails:
    """What the nurse says about the still (the panel's fields)."""

    body_site: str | None = None
    laterality: str | None = None
    view: str | None = None
    scale_points: list[tuple[float, float]] = field(default_factory=list)  # still pixels
    scale_distance_mm: float | None = None

    def scale(self) -> Scale | None:
        if len(self.scale_points) != 2 or not self.scale_distance_mm:
            return None
        (x1, y1), (x2, y2) = self.scale_points
        return Scale(x1, y1, x2, y2, self.scale_distance_mm)

    def metadata(self) -> dict[str, object]:
        meta: dict[str, object] = {}
        for key in ("body_site", "laterality", "view"):
            value = getattr(self, key)
            if value:
                meta[key] = value
        scale = self.scale()
        if scale is not None:
            meta["scale_points"] = [scale.x1_px, scale.y1_px, scale.x2_px, scale.y2_px]
            meta["scale_distance_mm"] = scale.distance_mm
        return meta


def _verdict(still: Still) -> QualityReport:
    """The gate's verdict on a still (worker thread): the one the camera layer reached when
    it decoded the still, or a fresh one (a third-party camera provider)."""
    known = recalled(hashlib.sha256(still.data).hexdigest())
    if known is not None:
        return known[1]
    if still.rgb is None:
        return judge_still(still.data)[1]
    return check_pixels(still.rgb, width_px=still.width_px, height_px=still.height_px)


#: Details a cart sends with a still that the clinician's copy keeps (checked again here:
#: the far end is another machine). The quality verdict is the receiving store's own.
_SENT_KEYS: tuple[str, ...] = (
    "body_site",
    "laterality",
    "view",
    "captured_at",
    "captured_by",
    "camera",
    "visit_id",
    "scale_points",
    "scale_distance_mm",
)


def preview_rgb(data: bytes, max_side_px: int = 1600) -> tuple[object, int, int]:
    """A display-size RGB array of a still and its full size (worker thread: a 12 MP JPEG
    is decoded with DCT scaling, never at full size for the screen)."""
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
        img.draft("RGB", (max_side_px, max_side_px))
        img.thumbnail((max_side_px, max_side_px))
        return np.asarray(img.convert("RGB")), width, height


def received_metadata(still: RemoteStill) -> dict[str, object]:
    """Metadata for the clinician's copy: the cart's details that pass the checks (a bad
    value is dropped, never stored), ``received`` and the cart's own id for it."""
    meta: dict[str, object] = {}
    sent: Mapping[str, object] = still.metadata
    for key in _SENT_KEYS:
        if key in sent and key in IMAGE_METADATA_KEYS:
            try:
                meta[key] = check_image_value(key, sent[key])
            except ValueError:
                continue
    if ("scale_points" in meta) != ("scale_distance_mm" in meta):
        meta.pop("scale_points", None)
        meta.pop("scale_distance_mm", None)
    meta["received"] = True
    if still.remote_image_id:
        meta["remote_image_id"] = still.remote_image_id[:100]
    return meta


class CaptureModel:
    """One capture panel's state: the open camera, the candidate still, the details."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.stream: CameraStream | None = None
        self.device_label = ""
        self.candidate: Candidate | None = None
        self.details = StillDetails()
        self.last_saved: AttachedRecord | None = None
        self.last_received: tuple[RemoteStill, AttachedRecord] | None = None
        self.captured_by = ""  # who is at this console (the panel sets it)
        self._unserve: Unsubscribe | None = None

    # -- during a visit (visit.stills) ---------------------------------------------

    def can_ask_remote(self) -> bool:
        """A visit runs and someone in it has an exam camera open (their cart said so)."""
        if not self.ctx.has(Capability.VISIT_STILLS):
            return False
        stills = self.ctx.visit_stills()
        return stills.visit_active() and bool(stills.participants())

    def serve_remote(self) -> None:
        """Answer the far end's "take a picture" with this panel's camera (idempotent)."""
        if self._unserve is None and self.ctx.has(Capability.VISIT_STILLS):
            self._unserve = self.ctx.visit_stills().serve_stills(self.take_for_remote)

    def stop_serving(self) -> None:
        unserve, self._unserve = self._unserve, None
        if unserve is not None:
            unserve()

    async def take_for_remote(self) -> StillOffer:
        """The cart's side: a full-resolution still from the open camera, judged, stored
        with this console's encounter (it owns it and syncs it), then sent."""
        if self.stream is None:
            raise DeviceUnavailableError(device="camera", reason="no camera is open")
        still = await self.stream.take_still()
        meta: dict[str, object] = {"captured_at": utc_now()}
        if self.captured_by:
            meta["captured_by"] = self.captured_by
        if self.device_label:
            meta["camera"] = self.device_label[:200]
        record = await self.ctx.encounter().attach(
            AttachmentRequest(
                kind="image",
                content_type=still.content_type,
                data=still.data,
                title="Exam camera still (asked for during the visit)",
                metadata=meta,
            )
        )
        self.last_saved = record
        return StillOffer(still.data, still.content_type, record.attachment_id, meta)

    async def request_remote(self, participant_id: str | None = None) -> AttachedRecord:
        """The clinician's side: ask the cart, then store the copy marked ``received``.
        RemoteStillError when it does not arrive whole (nothing is stored then)."""
        still = await self.ctx.visit_stills().request_still(participant_id)
        record = await self.ctx.encounter().attach(
            AttachmentRequest(
                kind="image",
                content_type=still.content_type,
                data=still.data,
                title="Exam camera still from the far end",
                metadata=received_metadata(still),
            )
        )
        self.last_received = (still, record)
        return record

    def devices(self) -> list[CameraDevice]:
        return self.ctx.camera().list_devices()

    async def open(self, device_id: str) -> None:
        await self.close()
        labels = {d.device_id: d.label for d in self.devices()}
        self.stream = await self.ctx.camera().open(device_id)
        self.device_label = labels.get(device_id, "")
        self.serve_remote()  # while a camera is open, the far end may ask for a still

    async def close(self) -> None:
        self.stop_serving()
        stream, self.stream = self.stream, None
        if stream is not None:
            await stream.close()

    def preview(self) -> PreviewFrame | None:
        return self.stream.latest_frame() if self.stream is not None else None

    async def take_still(self) -> Candidate:
        """A full-resolution still and its verdict (the check runs on a worker thread)."""
        if self.stream is None:
            raise DeviceUnavailableError(device="camera", reason="no camera is open")
        still = await self.stream.take_still()
        report = await asyncio.get_running_loop().run_in_executor(None, _verdict, still)
        self.candidate = Candidate(still, report)
        self.details.scale_points.clear()
        return self.candidate

    def retake(self) -> None:
        self.candidate = None
        self.details.scale_points.clear()

    def mark_scale_point(self, x_px: float, y_px: float) -> int:
        """A point on the still (its own pixels); a third click starts over. Returns how
        many points are marked."""
        points = self.details.scale_points
        if len(points) >= 2:
            points.clear()
        points.append((float(x_px), float(y_px)))
        return len(points)

    async def keep(self, *, captured_by: str = "", encounter_id: str = "") -> AttachedRecord:
        """Store the candidate with its details (problems, if any, are recorded with it)."""
        candidate = self.candidate
        if candidate is None:
            raise DeviceUnavailableError(device="camera", reason="no still to keep")
        meta = self.details.metadata()
        meta["captured_at"] = utc_now()
        if captured_by:
            meta["captured_by"] = captured_by
        if self.device_label:
            meta["camera"] = self.device_label[:200]
        record = await self.ctx.encounter().attach(
            AttachmentRequest(
                kind="image",
                content_type=candidate.still.content_type,
                data=candidate.still.data,
                title="Exam camera still",
                metadata=meta,
                encounter_id=encounter_id,
            )
        )
        self.last_saved = record
        self.candidate = None
        self.details.scale_points.clear()
        return record
