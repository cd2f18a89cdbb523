"""Settings › Devices: one test per device, behind a port (DESIGN.md §2).

The settings dialog (ui/) runs one check at a time per device through
:class:`DeviceChecker`; ``media.devices.check.DeviceCheck`` implements it with the
console's real device code and the composition root hands it to the window. Checks
run on the loop thread and do their device work on worker threads, so the window
never waits on a driver; cancelling the task (the dialog closing) stops the device.

A result says "working" or why not as a :class:`Reason` code; the dialog words it
(translated, plain language: never an exception's name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    RgbFrame = npt.NDArray[np.uint8]
else:
    RgbFrame = Any

#: How long the microphone and stethoscope meters run, and the speaker's tone plays.
INPUT_SECONDS = 5.0
CAMERA_SECONDS = 8.0
TONE_SECONDS = 1.0


class Reason(StrEnum):
    """Why a device did not pass its check."""

    NOT_FOUND = "not_found"  # the chosen device is not connected (or there is none)
    CANNOT_OPEN = "cannot_open"  # there, but it could not be opened (in use? unsupported?)
    NO_SIGNAL = "no_signal"  # opened, but no picture / only silence came
    STOPPED = "stopped"  # it stopped delivering during the check (unplugged?)
    NO_AUDIO_SYSTEM = "no_audio_system"  # the computer's sound system is not available
    TEST_PICTURE = "test_picture"  # no camera at all: the test picture is shown instead


@dataclass(frozen=True, slots=True)
class CheckResult:
    working: bool
    reason: Reason | None = None  # None when working
    device: str = ""  # the device actually used ("" when none could be)


class DeviceChecker(Protocol):
    """The device checks Settings › Devices runs (loop thread; cancel to stop)."""

    async def camera(
        self,
        device_id: str,
        on_frame: Callable[[RgbFrame], None],
        *,
        seconds: float = CAMERA_SECONDS,
    ) -> CheckResult:
        """Show ``device_id``'s live picture through ``on_frame(rgb)`` (loop thread) for
        ``seconds``. "" = the first camera; with no camera at all the synthetic test
        picture is shown and the result says so (:attr:`Reason.TEST_PICTURE`)."""
        ...

    async def audio_input(
        self,
        device_id: str,
        on_level: Callable[[float], None],
        *,
        seconds: float = INPUT_SECONDS,
        voice_processing: bool = True,
    ) -> CheckResult:
        """Report the input's level (0..1, a dBFS scale from -60 to 0) through
        ``on_level`` (loop thread) about 20 times a second for ``seconds``. "" = the
        system's default input. ``voice_processing=False`` (the stethoscope) hears the
        input as captured: no echo cancelling, noise suppression or automatic gain."""
        ...

    async def speaker(self, device_id: str, *, seconds: float = TONE_SECONDS) -> CheckResult:
        """Play a short tone on the output (""= the system default). Working means it
        played; whether it was heard only the person at the console can tell."""
        ...
