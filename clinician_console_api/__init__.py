"""``clinician_console_api``: the public plugin API, the only module a plugin imports
(docs/plugins.md explains it with examples; typed, ``py.typed``).

A plugin is a Python package with a ``plugin.toml`` manifest, registered under the
entry-point group ``clinician_console.plugins`` with the value ``package:plugin.toml``
(npe2's habit: the entry point names a data file, not code). The manifest names
the plugin's callables by ``python_name = "pkg.module:attr"`` strings; the host
imports them on first use (activation), checks their signatures (pluggy's habit)
and calls them with one :class:`PluginContext` scoped to the plugin (Picard's
``PluginApi``).

Expected signatures, checked pluggy-style before the first call (a mismatch disables
the plugin): ``activate``, ``deactivate`` and commands when the plugin is activated;
panel factories, whose modules import Qt, when the console first asks for panels
(a visit window or the main window opens). Extra parameters need defaults.

=========================  ==================================================  ===========
contribution               signature                                           thread
=========================  ==================================================  ===========
``activate``               ``def activate(ctx: PluginContext) -> None``        loop (GUI)
                           (or ``async def``)
``deactivate`` (optional)  ``def deactivate(ctx: PluginContext) -> None``      loop (GUI)
                           (or ``async def``)
``[[panels]]``             ``def make_panel(ctx: PluginContext, parent:        GUI
                           QWidget) -> QWidget``
``[[commands]]``           ``def run(ctx: PluginContext) -> None``             loop (GUI)
                           (or ``async def``)
=========================  ==================================================  ===========

Threads: in the desktop console the asyncio loop runs on the GUI thread (qasync),
so "loop" and "GUI" are the same thread; a plugin must not block it (put DSP,
file and device work on its own thread or ``loop.run_in_executor``). Every call
the console makes into plugin code goes through the host's guard: an exception
there is logged once (scrubbed), the plugin is disabled and the console carries on.

Capabilities are API hygiene and an audit trail, not a sandbox: in-process Python
cannot be contained (Picard's SECURITY.md says the same), which is why the managed
policy ``plugins.allow`` pins which plugin ids may load at all.

Availability: a granted capability's accessor always returns a provider. When the
console has nothing behind it right now (no visit running, no encounter open, no
audio back end) the provider's queries answer "nothing" (``[]``, ``None``,
``False``) and its actions raise :class:`CapabilityUnavailableError`; asking for a
capability that was not granted raises :class:`PluginCapabilityError`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, runtime_checkable

from app.errors import (
    CapabilityUnavailableError,
    ConsoleError,
    DeviceUnavailableError,
    InputRejectedError,
    MediaFileError,
    PluginCapabilityError,
    PluginError,
    PluginLoadError,
    RemoteStillError,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    #: One block of audio: float32 samples in -1..1, shape ``(frames, channels)``.
    AudioBlock = npt.NDArray[np.float32]
    #: One picture: RGB, uint8, shape ``(height, width, 3)``.
    RgbFrame = npt.NDArray[np.uint8]
else:
    AudioBlock = Any
    RgbFrame = Any

__all__ = [
    "API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "AttachedRecord",
    "AttachmentRequest",
    "AudioBlock",
    "AudioDevice",
    "AudioInput",
    "AudioStream",
    "AudioTrackOptions",
    "Camera",
    "CameraDevice",
    "CameraMode",
    "CameraStream",
    "Capability",
    "CapabilityUnavailableError",
    "ConsoleError",
    "DeviceChoices",
    "DeviceUnavailableError",
    "EncounterAttach",
    "IncomingAudioTrack",
    "InputRejectedError",
    "MediaFileError",
    "OutgoingAudioTrack",
    "PanelFactory",
    "PanelWhere",
    "PluginCapabilityError",
    "PluginContext",
    "PluginError",
    "PluginLoadError",
    "PreviewFrame",
    "RemoteStill",
    "RemoteStillError",
    "RgbFrame",
    "Still",
    "StillOffer",
    "Unsubscribe",
    "VisitStills",
    "VisitTracks",
]

#: The API version this module describes; manifests list the versions they work with.
API_VERSION = "1"
#: What this console offers: a plugin loads when its ``api`` list meets this set.
SUPPORTED_API_VERSIONS: frozenset[str] = frozenset({"1"})

#: Where a panel goes: the visit window's plugin column, or the main window's side area.
PanelWhere = Literal["visit", "main"]
#: ``def make_panel(ctx, parent) -> QWidget``, called on the GUI thread; ``parent`` is
#: the QWidget that will hold the panel. Typed loosely here: this module is Qt-free.
PanelFactory = Callable[["PluginContext", Any], Any]
#: Returned by subscriptions; call it to stop receiving callbacks (idempotent).
Unsubscribe = Callable[[], None]


class Capability(StrEnum):
    """What a plugin may ask its context for; requested in ``plugin.toml``."""

    AUDIO_INPUT = "audio.input"  # open an audio input (stethoscope, microphone)
    VISIT_TRACKS = "visit.tracks"  # add a labelled track to the visit, hear others'
    ENCOUNTER_ATTACH = "encounter.attach"  # attach a recording/image to the open encounter
    CAMERA = "camera"  # list and open cameras: preview frames and full-resolution stills
    UI_PANEL = "ui.panel"  # contribute panels (the manifest's [[contributions.panels]])
    VISIT_STILLS = "visit.stills"  # ask the far end's cart for a still; serve such requests


# --- audio.input ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioDevice:
    """An audio input as the console lists it."""

    device_id: str  # pass to AudioInput.open; stable while the device stays plugged in
    label: str  # the OS's name for it, e.g. "Thinklabs One: USB Audio"
    max_channels: int = 1
    default_sample_rate_hz: float = 48_000.0
    is_default: bool = False  # the system's default input


@runtime_checkable
class AudioStream(Protocol):
    """An open input delivering blocks in order; nothing is dropped while the reader keeps up.

    The device's callback thread fills a bounded queue (a few seconds); ``read``
    hands the blocks to the loop thread. If the reader falls behind by more than
    the queue the oldest blocks are dropped and ``overruns`` counts them.
    """

    @property
    def device_id(self) -> str: ...

    @property
    def sample_rate_hz(self) -> int: ...

    @property
    def channels(self) -> int: ...

    @property
    def overruns(self) -> int:
        """Blocks dropped because the reader fell behind (0 when it keeps up)."""
        ...

    async def read(self) -> AudioBlock:
        """The next block (loop thread). After the device goes away, the blocks already
        captured are still returned, then :class:`DeviceUnavailableError` is raised;
        after :meth:`close`, raises :class:`DeviceUnavailableError` at once."""
        ...

    async def close(self) -> None:
        """Stop capturing (loop thread); idempotent."""
        ...


@runtime_checkable
class AudioInput(Protocol):
    """Capability ``audio.input``: list and open audio inputs (USB/jack stethoscopes are
    sound cards). Without an audio back end ``list_devices`` is ``[]`` and ``open``
    raises :class:`CapabilityUnavailableError`."""

    def list_devices(self) -> list[AudioDevice]:
        """Inputs present now (loop thread; fast, no device is opened)."""
        ...

    async def open(
        self,
        device_id: str,
        *,
        sample_rate_hz: int = 48_000,
        channels: int = 1,
        block_frames: int = 1024,
    ) -> AudioStream:
        """Start capturing (loop thread). Raises :class:`DeviceUnavailableError` when the
        device is missing, busy or does not support the rate/channels."""
        ...


# --- visit.tracks --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioTrackOptions:
    """How an outgoing audio track is captured and encoded.

    The defaults suit a voice; a stethoscope wants ``voice_processing=False``
    (no echo cancellation, noise suppression, automatic gain or comfort noise),
    ``music=True`` (Opus full band), ``dtx=False`` and a high bitrate.
    """

    voice_processing: bool = True
    music: bool = False  # Opus application "audio" / full band instead of "voip"
    dtx: bool = True  # discontinuous transmission (silence suppression)
    bitrate_bps: int = 32_000
    stereo: bool = False


@runtime_checkable
class OutgoingAudioTrack(Protocol):
    """A labelled audio track this console sends in the current visit."""

    @property
    def label(self) -> str: ...

    @property
    def sample_rate_hz(self) -> int: ...

    def write(self, block: AudioBlock) -> None:
        """Queue samples to send (any thread; never blocks). At most ~200 ms is kept:
        older samples are dropped rather than turned into delay."""
        ...

    async def close(self) -> None:
        """Remove the track from the visit (loop thread); idempotent. The visit ending
        closes it too (``write`` then does nothing)."""
        ...


@runtime_checkable
class IncomingAudioTrack(Protocol):
    """A labelled audio track another participant sends."""

    @property
    def participant_id(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def sample_rate_hz(self) -> int: ...

    async def read(self) -> AudioBlock:
        """The next decoded block (loop thread), float32 ``(frames, channels)``. Raises
        :class:`CapabilityUnavailableError` once the track or the visit has ended."""
        ...


@runtime_checkable
class VisitTracks(Protocol):
    """Capability ``visit.tracks``: extra labelled tracks in the running visit."""

    def visit_active(self) -> bool:
        """Whether a visit is running now (loop thread)."""
        ...

    def on_visit_change(self, callback: Callable[[bool], None]) -> Unsubscribe:
        """Call ``callback(active)`` on the loop thread whenever a visit starts or ends."""
        ...

    async def add_audio_track(
        self,
        label: str,
        *,
        sample_rate_hz: int = 48_000,
        channels: int = 1,
        options: AudioTrackOptions | None = None,
    ) -> OutgoingAudioTrack:
        """Send a new track labelled ``label`` (e.g. ``"stethoscope"``) in the current visit
        (loop thread). Raises :class:`CapabilityUnavailableError` when no visit runs."""
        ...

    def subscribe_audio(
        self, label: str, callback: Callable[[IncomingAudioTrack], None]
    ) -> Unsubscribe:
        """Call ``callback(track)`` on the loop thread for every remote track labelled
        ``label``: those already there, and each one that arrives later (this and
        future visits) until unsubscribed."""
        ...


# --- encounter.attach ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttachmentRequest:
    """A recording or still to store, encrypted, with the encounter (and sync as FHIR).

    ``encounter_id`` "" means the encounter open now. ``metadata`` keys are the
    store's (app.records.ATTACHMENT_METADATA_KEYS): ``auscultation_site``,
    ``filter``, ``sample_rate_hz``, ``duration_s``, ``heart_rate_bpm``,
    ``heart_rate_confidence``; ``width_px``/``height_px`` for images. Unknown keys
    or wrong content types are refused (:class:`InputRejectedError`).
    """

    kind: Literal["audio", "image"]
    content_type: str  # "audio/wav", "audio/flac", "audio/ogg", "image/jpeg", "image/png"
    data: bytes
    title: str = ""
    metadata: Mapping[str, object] = field(default_factory=dict)
    encounter_id: str = ""


@dataclass(frozen=True, slots=True)
class AttachedRecord:
    """What :meth:`EncounterAttach.attach` stored."""

    attachment_id: str
    encounter_id: str
    observation_id: str = ""  # the heart-rate Observation made from the metadata, if any


@runtime_checkable
class EncounterAttach(Protocol):
    """Capability ``encounter.attach``: add to the encounter the clinician has open."""

    def current_encounter_id(self) -> str | None:
        """The encounter open now, or ``None`` (loop thread)."""
        ...

    def on_encounter_change(self, callback: Callable[[str | None], None]) -> Unsubscribe:
        """Call ``callback(encounter_id or None)`` on the loop thread when it changes."""
        ...

    async def attach(self, request: AttachmentRequest) -> AttachedRecord:
        """Store it (loop thread; the store works on its own thread). Raises
        :class:`CapabilityUnavailableError` when no encounter is open (and none was
        named), :class:`InputRejectedError` for bad content or metadata."""
        ...


# --- visit.stills --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StillOffer:
    """What a cart sends when asked for a still: one it has taken **and stored** (it owns
    it and syncs it); ``image_id`` is its own attachment id, ``metadata`` the details it
    stored (site, laterality, view, scale, captured_at, ...: attachment metadata keys)."""

    data: bytes
    content_type: str  # "image/jpeg" or "image/png"
    image_id: str
    metadata: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RemoteStill:
    """A still received whole from a participant's cart: the bytes matched the SHA-256 the
    cart announced. Store it with ``encounter.attach`` and metadata ``received=True`` (and
    ``remote_image_id``): a received copy is never synced (the cart syncs its own)."""

    participant_id: str
    data: bytes
    content_type: str
    sha256: str
    remote_image_id: str
    metadata: Mapping[str, object] = field(default_factory=dict)


@runtime_checkable
class VisitStills(Protocol):
    """Capability ``visit.stills``: stills over the visit's data channel, both ways."""

    def visit_active(self) -> bool:
        """True while a visit runs with its data channel negotiated."""
        ...

    def participants(self) -> list[str]:
        """Remote participant ids whose console said lately that it can take a still (its
        camera is open): whom one may ask."""
        ...

    async def request_still(self, participant_id: str | None = None) -> RemoteStill:
        """Ask that participant's cart (``None``: the only one connected) to take a still
        and send it. Raises :class:`RemoteStillError` when it
        does not arrive whole: no answer, the cart's camera failed, a damaged or hostile
        transfer, a wrong hash, the connection dropped. Nothing partial is returned."""
        ...

    def serve_stills(self, take: Callable[[], Awaitable[StillOffer]]) -> Unsubscribe:
        """Answer other participants' requests with ``take()`` (the cart side): take a
        full-resolution still, store it, return it. An exception sends a refusal."""
        ...


# --- camera --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class CameraMode:
    """One mode a camera offers. ``pixel_format`` is the camera's own (V4L2 FourCC or
    FFmpeg name): ``"MJPG"`` means it delivers JPEG bytes."""

    width_px: int
    height_px: int
    fps: float = 30.0
    pixel_format: str = ""

    @property
    def pixels(self) -> int:
        return self.width_px * self.height_px

    @property
    def is_mjpeg(self) -> bool:
        return self.pixel_format.upper() in ("MJPG", "MJPEG", "JPEG")


@dataclass(frozen=True, slots=True)
class CameraDevice:
    """A camera as the console lists it (UVC exam cameras, otoscopes, dermatoscopes,
    document cameras: anything the OS offers)."""

    device_id: str  # pass to Camera.open
    label: str  # the OS's name for it
    modes: tuple[CameraMode, ...] = ()  # empty when the OS does not say

    @property
    def largest_mode(self) -> CameraMode | None:
        return max(self.modes, key=lambda m: (m.pixels, m.is_mjpeg, m.fps), default=None)


@dataclass(frozen=True, slots=True)
class PreviewFrame:
    """The latest preview picture (never a queue: older frames are dropped)."""

    rgb: RgbFrame  # (height, width, 3) uint8
    width_px: int
    height_px: int
    captured_monotonic_s: float  # time.monotonic() when it arrived


@dataclass(frozen=True, slots=True)
class Still:
    """A still at the camera's full resolution, encoded once and never again.

    ``data`` is the camera's own JPEG when the largest mode delivers MJPEG
    (``camera_jpeg`` True), otherwise the frame encoded once as JPEG quality 95.
    ``width_px``/``height_px`` are what the camera actually delivered, read back
    from the frame (a camera may not honour the mode it was asked for)."""

    data: bytes
    content_type: str  # "image/jpeg"
    width_px: int
    height_px: int
    mode: CameraMode  # the mode the still was taken in
    camera_jpeg: bool
    #: The decoded picture, for checking and showing it; may be scaled down (its long
    #: side at least 1024 px): coordinates on the still are in width_px x height_px.
    rgb: RgbFrame | None = None


@runtime_checkable
class CameraStream(Protocol):
    """An open camera showing a preview; :meth:`take_still` switches it to its largest
    mode for one frame and back. Reads run on the camera's own thread."""

    @property
    def device_id(self) -> str: ...

    @property
    def preview_mode(self) -> CameraMode: ...

    def latest_frame(self) -> PreviewFrame | None:
        """The newest preview frame, or None before the first (any thread; cheap)."""
        ...

    async def next_frame(self) -> PreviewFrame:
        """Wait for a preview frame newer than the last one returned (loop thread).
        Raises :class:`DeviceUnavailableError` when the camera went away or is closed."""
        ...

    async def take_still(self) -> Still:
        """A still at full resolution: the largest mode, one frame, then the preview mode
        again (loop thread; the work runs on the camera thread). Raises
        :class:`DeviceUnavailableError` when the camera fails; the preview resumes."""
        ...

    async def close(self) -> None:
        """Stop the camera (loop thread); idempotent."""
        ...


@runtime_checkable
class Camera(Protocol):
    """Capability ``camera``. Without a camera back end ``list_devices`` is ``[]`` and
    ``open`` raises :class:`CapabilityUnavailableError`."""

    def list_devices(self) -> list[CameraDevice]:
        """Cameras present now, with their modes (loop thread; may take ~100 ms)."""
        ...

    async def open(self, device_id: str, *, preview: CameraMode | None = None) -> CameraStream:
        """Start the preview (loop thread), at ``preview`` or the mode nearest 1280x720.
        Raises :class:`DeviceUnavailableError` when the camera is missing or busy."""
        ...


# --- Settings > Devices --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceChoices:
    """This workstation's devices as chosen in Settings › Devices ("" = the system default).

    Ids are those the console lists: audio devices as ``audio.input`` lists them
    (``sd:<index>``) or, typed by hand in Settings, a part of a device's name; the
    stethoscope may also be ``"synthetic"`` (the demo heart sound). A chosen device may
    not be plugged in now: look it up in ``list_devices()`` and fall back visibly.
    """

    camera: str = ""
    microphone: str = ""
    speaker: str = ""
    stethoscope: str = ""


# --- the context ---------------------------------------------------------------------


class PluginContext:
    """Everything a plugin gets: one per plugin, built by the host, passed to every call.

    A plugin never touches the database, the network client or the main window;
    it asks its context for what it was granted.
    """

    def __init__(
        self,
        plugin_id: str,
        *,
        settings: Mapping[str, Any],
        data_root: Path,
        granted: frozenset[str],
        providers: Mapping[str, object],
        guard: Callable[[Callable[..., Any]], Callable[..., Any]] | None = None,
        devices: Callable[[], DeviceChoices] | None = None,
    ) -> None:
        self._plugin_id = plugin_id
        self._devices = devices or DeviceChoices
        self._settings: Mapping[str, Any] = MappingProxyType(dict(settings))
        self._data_dir = data_root / plugin_id
        self._granted = granted
        self._providers = providers  # live: the host may set a provider later
        self._guard = guard or (lambda fn: fn)
        self._cleanups: list[Callable[[], object]] = []
        # A child of the console's logger tree, so the scrubbing handlers apply.
        self._logger = logging.getLogger(f"clinician_console.plugins.{plugin_id}")

    @property
    def plugin_id(self) -> str:
        return self._plugin_id

    @property
    def logger(self) -> logging.Logger:
        """``clinician_console.plugins.<id>``; scrubbed. Never log patient data."""
        return self._logger

    @property
    def settings(self) -> Mapping[str, Any]:
        """Read-only ``[plugins.settings."<id>"]`` from settings.toml, the policy's winning."""
        return self._settings

    def device_choices(self) -> DeviceChoices:
        """Settings › Devices as saved now (no capability needed: it names devices, it
        opens none). Ask on every use: the user may change it while the console runs."""
        return self._devices()

    @property
    def data_dir(self) -> Path:
        """``<profile>/plugins/<id>/``, created on first access. Not encrypted: keep patient
        data out of it (attach recordings to the encounter instead)."""
        self._data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self._data_dir

    @property
    def granted(self) -> frozenset[str]:
        """The capability ids the host granted (a subset of those the manifest requested)."""
        return self._granted

    def has(self, capability: str | Capability) -> bool:
        return str(capability) in self._granted

    def add_cleanup(self, fn: Callable[[], None] | Callable[[], Awaitable[None]]) -> None:
        """Run ``fn()`` (sync or async, loop thread) at deactivation, last added first."""
        self._cleanups.append(fn)

    def audio_input(self) -> AudioInput:
        """Capability ``audio.input``."""
        return cast(AudioInput, self._provider(Capability.AUDIO_INPUT))

    def visit_tracks(self) -> VisitTracks:
        """Capability ``visit.tracks``. Callbacks you pass it are guarded by the host."""
        return cast(VisitTracks, self._provider(Capability.VISIT_TRACKS))

    def encounter(self) -> EncounterAttach:
        """Capability ``encounter.attach``. Callbacks you pass it are guarded by the host."""
        return cast(EncounterAttach, self._provider(Capability.ENCOUNTER_ATTACH))

    def camera(self) -> Camera:
        """Capability ``camera``."""
        return cast(Camera, self._provider(Capability.CAMERA))

    def visit_stills(self) -> VisitStills:
        """Capability ``visit.stills``."""
        return cast(VisitStills, self._provider(Capability.VISIT_STILLS))

    def _provider(self, capability: Capability) -> object:
        if capability.value not in self._granted:
            raise PluginCapabilityError(plugin_id=self._plugin_id, capability=capability.value)
        provider = self._providers.get(capability.value)
        if provider is None:
            provider = _UNAVAILABLE[capability](capability.value)
        if capability in (Capability.VISIT_TRACKS, Capability.ENCOUNTER_ATTACH):
            provider = _GuardedCallbacks(provider, self._guard)
        return provider

    def _take_cleanups(self) -> list[Callable[[], object]]:
        """For the host: the cleanups, last added first, and forget them."""
        cleanups, self._cleanups = list(reversed(self._cleanups)), []
        return cleanups


class _GuardedCallbacks:
    """Wraps a provider so callbacks a plugin subscribes go through the host's guard."""

    _SUBSCRIPTIONS = frozenset({"on_visit_change", "subscribe_audio", "on_encounter_change"})

    def __init__(self, inner: object, guard: Callable[[Callable[..., Any]], Callable[..., Any]]):
        self._inner = inner
        self._guard = guard

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._SUBSCRIPTIONS:
            return attr

        def subscribe(*args: Any, **kwargs: Any) -> Any:
            args = tuple(self._guard(a) if callable(a) else a for a in args)
            if "callback" in kwargs:
                kwargs["callback"] = self._guard(kwargs["callback"])
            return attr(*args, **kwargs)

        return subscribe


class _Unavailable:
    def __init__(self, capability: str) -> None:
        self._capability = capability

    def _raise(self, reason: str) -> CapabilityUnavailableError:
        return CapabilityUnavailableError(capability=self._capability, reason=reason)


class _NoAudioInput(_Unavailable):
    def list_devices(self) -> list[AudioDevice]:
        return []

    async def open(
        self,
        device_id: str,
        *,
        sample_rate_hz: int = 48_000,
        channels: int = 1,
        block_frames: int = 1024,
    ) -> AudioStream:
        raise self._raise("no audio input back end")


def _noop() -> None:
    return None


class _NoVisit(_Unavailable):
    def visit_active(self) -> bool:
        return False

    def on_visit_change(self, callback: Callable[[bool], None]) -> Unsubscribe:
        return _noop

    async def add_audio_track(
        self,
        label: str,
        *,
        sample_rate_hz: int = 48_000,
        channels: int = 1,
        options: AudioTrackOptions | None = None,
    ) -> OutgoingAudioTrack:
        raise self._raise("no visit is running")

    def subscribe_audio(
        self, label: str, callback: Callable[[IncomingAudioTrack], None]
    ) -> Unsubscribe:
        return _noop


class _NoEncounter(_Unavailable):
    def current_encounter_id(self) -> str | None:
        return None

    def on_encounter_change(self, callback: Callable[[str | None], None]) -> Unsubscribe:
        return _noop

    async def attach(self, request: AttachmentRequest) -> AttachedRecord:
        raise self._raise("no encounter is open")


class _NoCamera(_Unavailable):
    def list_devices(self) -> list[CameraDevice]:
        return []

    async def open(self, device_id: str, *, preview: CameraMode | None = None) -> CameraStream:
        raise self._raise("no camera back end")


class _NoVisitStills(_Unavailable):
    def visit_active(self) -> bool:
        return False

    def participants(self) -> list[str]:
        return []

    async def request_still(self, participant_id: str | None = None) -> RemoteStill:
        raise self._raise("no visit is running")

    def serve_stills(self, take: Callable[[], Awaitable[StillOffer]]) -> Unsubscribe:
        return _noop


_UNAVAILABLE: dict[Capability, Callable[[str], object]] = {
    Capability.VISIT_STILLS: _NoVisitStills,
    Capability.CAMERA: _NoCamera,
    Capability.AUDIO_INPUT: _NoAudioInput,
    Capability.VISIT_TRACKS: _NoVisit,
    Capability.ENCOUNTER_ATTACH: _NoEncounter,
}
