"""Stethoscope filters: bell, diaphragm, lung and wide, as a clinician expects them.

Each mode is a Butterworth design in second-order sections (``scipy.signal``)
whose state is carried from block to block, so filtering a signal in blocks gives
the same output as filtering it whole. Every mode's filter runs on every block
(four 4th-order SOS chains cost well under 1 % of a core at 48 kHz), so each
has a warm state when the clinician switches; switching then crossfades the old
mode's output into the new one's over :data:`CROSSFADE_S` with a raised cosine,
which is click-free.

Corner frequencies (docs/stethoscope.md says why):

========== ============================ ==========================================
mode       pass band (-3 dB)            what it is for
========== ============================ ==========================================
bell       20-200 Hz                    S3/S4 gallops, mitral stenosis rumble
diaphragm  100-500 Hz                   S1/S2 splitting, most murmurs, clicks
lung       100-1,500 Hz                 vesicular/bronchial breath sounds, crackles
wide       20 Hz - min(2,000 Hz, 0.45 fs) everything; removes DC and handling rumble
========== ============================ ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.records import StethoscopeFilter

FloatArray = npt.NDArray[np.float64]

#: Length of the crossfade between the old and the new filter when switching.
CROSSFADE_S = 0.030
#: Butterworth order of each side (high-pass and low-pass) of a band.
ORDER = 2


@dataclass(frozen=True, slots=True)
class Band:
    low_hz: float
    high_hz: float


#: Pass bands at -3 dB. ``wide``'s upper corner is clamped below Nyquist.
BANDS: dict[StethoscopeFilter, Band] = {
    StethoscopeFilter.BELL: Band(20.0, 200.0),
    StethoscopeFilter.DIAPHRAGM: Band(100.0, 500.0),
    StethoscopeFilter.LUNG: Band(100.0, 1_500.0),
    StethoscopeFilter.WIDE: Band(20.0, 2_000.0),
}


def design_sos(mode: StethoscopeFilter | str, sample_rate_hz: float) -> FloatArray:
    """The SOS matrix for ``mode`` at ``sample_rate_hz`` (band-pass, 4th order overall
    per side pair: ORDER-th order high-pass times ORDER-th order low-pass)."""
    from scipy import signal

    band = BANDS[StethoscopeFilter(mode)]
    high_hz = min(band.high_hz, 0.45 * sample_rate_hz)
    sos: FloatArray = signal.butter(
        ORDER, [band.low_hz, high_hz], btype="bandpass", fs=sample_rate_hz, output="sos"
    )
    return sos


class _Chain:
    """One SOS filter with its state carried across blocks."""

    def __init__(self, sos: FloatArray) -> None:
        self.sos = sos
        self.zi: FloatArray = np.zeros((sos.shape[0], 2))

    def process(self, block: FloatArray) -> FloatArray:
        from scipy import signal

        if block.size == 0:
            return np.zeros(0)
        out: Any
        out, self.zi = signal.sosfilt(self.sos, block, zi=self.zi)
        return np.asarray(out, dtype=np.float64)


class StethFilter:
    """A mono stream filter with a selectable mode; call :meth:`process` per block.

    Not thread-safe: one thread processes (the DSP or display thread); ``set_mode``
    may be called from another thread between blocks (it only sets a field the
    next ``process`` reads).
    """

    def __init__(
        self,
        sample_rate_hz: float,
        mode: StethoscopeFilter | str = StethoscopeFilter.DIAPHRAGM,
        *,
        crossfade_s: float = CROSSFADE_S,
    ) -> None:
        self.sample_rate_hz = float(sample_rate_hz)
        self._chains = {m: _Chain(design_sos(m, sample_rate_hz)) for m in StethoscopeFilter}
        self._mode = StethoscopeFilter(mode)
        self._pending: StethoscopeFilter | None = None
        self._fade_from: StethoscopeFilter | None = None
        self._fade_len = max(1, round(crossfade_s * self.sample_rate_hz))
        self._fade_pos = 0

    @property
    def mode(self) -> StethoscopeFilter:
        return self._pending or self._mode

    def set_mode(self, mode: StethoscopeFilter | str) -> None:
        """Switch at the next block, crossfading over the configured window."""
        self._pending = StethoscopeFilter(mode)

    def reset(self) -> None:
        for chain in self._chains.values():
            chain.zi[:] = 0.0

    def process(self, block: npt.ArrayLike) -> FloatArray:
        """Filter one block of mono samples (any length, including 0)."""
        x = np.asarray(block, dtype=np.float64).reshape(-1)
        if self._pending is not None and self._pending != self._mode:
            # A switch during a fade starts a new fade from the current target.
            self._fade_from, self._mode = self._mode, self._pending
            self._fade_pos = 0
        self._pending = None
        outputs = {m: chain.process(x) for m, chain in self._chains.items()}
        y = outputs[self._mode]
        if self._fade_from is None:
            return y
        n = x.size
        pos = self._fade_pos + np.arange(n)
        w = np.clip(pos / self._fade_len, 0.0, 1.0)
        w = 0.5 - 0.5 * np.cos(np.pi * w)  # raised cosine 0 -> 1
        y = (1.0 - w) * outputs[self._fade_from] + w * y
        self._fade_pos += n
        if self._fade_pos >= self._fade_len:
            self._fade_from = None
        return y


def filter_signal(
    samples: npt.ArrayLike, sample_rate_hz: float, mode: StethoscopeFilter | str
) -> FloatArray:
    """Filter a whole signal with ``mode`` (zero initial state, like the stream filter)."""
    return _Chain(design_sos(mode, sample_rate_hz)).process(
        np.asarray(samples, dtype=np.float64).reshape(-1)
    )
