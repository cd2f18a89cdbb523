"""One console of ``bench.glass_to_glass``: a real QtVisitWindow over a Janus VisitSession.

``python -m bench._g2g_console host|guest --server URL --interface IP ...`` runs one
console in its own process (as on its own workstation), with the synthetic camera
(``testsrc``: every frame carries media/framestamp.py's barcode, stamped at capture)
and the visit window shown (``QT_QPA_PLATFORM`` picks offscreen or an X server).

- ``host`` creates the room, admits whoever waits, prints ``{"room", "pin"}`` on
  stdout and runs until stdin closes.
- ``guest`` joins that room, waits until the host's video is painted at the wanted
  size, then measures for ``--measure-s`` seconds and prints one JSON object: per
  painted frame, capture → painted and decoded → painted, read from the pixels the
  visit window painted (:class:`Recorder`), plus its own resident memory in the call.

Both processes read ``CLOCK_MONOTONIC`` (framestamp.now_us), which is system-wide on
Linux, so the guest can compare the host's capture stamps with its own paint times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from media import framestamp

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QT_API"] = "pyside6"


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory (VmRSS) of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def read_painted_stamp(
    painted: npt.NDArray[np.uint8], frame_width: int
) -> framestamp.FrameStamp | None:
    """The stamp in ``painted`` (H x W grey, or H x W x C): the pixels painted over the
    code's area of a frame ``frame_width`` pixels wide, at whatever scale it was painted.

    The window scales the frame to its tile, so the code's blocks are not the size
    framestamp.read expects: sample the painted pixels back onto the frame's pixel
    grid (nearest neighbour) over the code's area, then read as usual.
    """
    if painted.ndim not in (2, 3) or painted.shape[1] == 0:
        return None
    code_w, code_h = framestamp.code_size_px(frame_width)
    scale = painted.shape[1] / code_w  # painted pixels per frame pixel
    xs = np.minimum((np.arange(code_w) * scale + scale / 2).astype(int), painted.shape[1] - 1)
    ys = np.minimum((np.arange(code_h) * scale + scale / 2).astype(int), painted.shape[0] - 1)
    grid = np.zeros((code_h, frame_width), dtype=np.uint8)
    sampled = painted[np.ix_(ys, xs)]
    grid[:, :code_w] = sampled if sampled.ndim == 2 else sampled.mean(axis=2)
    return framestamp.read(grid)


@dataclass
class Sample:
    counter: int
    capture_to_paint_ms: float
    decoded_to_paint_ms: float | None
    capture_to_decoded_ms: float | None  # the same frame's stamp, read when it was handed over
    size: tuple[int, int]


@dataclass
class Recorder:
    """Collects, per paint of a remote tile, what the painted pixels say.

    ``on_frame_set`` listens to ``Visit.frame_did_arrive`` (the session hands each decoded,
    RGB-converted picture to the model there): that moment is "decoded". The tile's
    paint observer then takes "painted" at the end of ``paintEvent`` and reads the
    stamp from the window's backing store (the pixels just painted, not a re-render).
    """

    # id(frame) -> (now_us at the hand-over, capture -> then in ms, None if unreadable)
    arrivals: dict[int, tuple[int, float | None]] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    unreadable: int = 0
    paints: int = 0
    observer_us: list[int] = field(default_factory=list)
    recording: bool = False
    last_size: tuple[int, int] = (0, 0)

    def on_frame_set(self, frame: Any) -> None:
        now = framestamp.now_us()
        # Only while recording; one channel is enough (the code is grey) and costs less.
        stamp = framestamp.read(frame[:, :, 1]) if self.recording else None
        self.arrivals[id(frame)] = (now, framestamp.age_ms(stamp, now=now) if stamp else None)
        if len(self.arrivals) > 256:  # only the newest few can still be painted
            for key in list(self.arrivals)[:128]:
                del self.arrivals[key]

    def on_painted(self, view: Any, frame: Any) -> None:
        painted_us = framestamp.now_us()
        height, width = int(frame.shape[0]), int(frame.shape[1])
        self.last_size = (width, height)
        self.paints += 1
        if not self.recording:
            return
        region = painted_code_region(view, width)
        stamp = read_painted_stamp(region, width) if region is not None else None
        arrival = self.arrivals.get(id(frame))
        if stamp is None:
            self.unreadable += 1
        else:
            decoded_ms = (painted_us - arrival[0]) / 1000.0 if arrival is not None else None
            self.samples.append(
                Sample(
                    counter=stamp.counter,
                    capture_to_paint_ms=framestamp.age_ms(stamp, now=painted_us),
                    decoded_to_paint_ms=decoded_ms,
                    capture_to_decoded_ms=arrival[1] if arrival is not None else None,
                    size=(width, height),
                )
            )
        self.observer_us.append(framestamp.now_us() - painted_us)


def painted_code_region(view: Any, frame_width: int) -> npt.NDArray[np.uint8] | None:
    """The painted pixels over the stamp's area (grey, H x W), from the window's backing store.

    Qt copies and converts the small area (C++); the code is grey, so grey loses nothing.
    """
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QImage

    store = view.backingStore()
    device = store.paintDevice() if store is not None else None
    if not isinstance(device, QImage):
        return None
    rect = view.video_rect
    if rect.isEmpty():
        return None
    scale = rect.width() / frame_width
    code_w, code_h = framestamp.code_size_px(frame_width)
    origin = view.mapTo(view.window(), rect.topLeft())
    ratio = device.devicePixelRatio()
    area = QRect(
        round(origin.x() * ratio),
        round(origin.y() * ratio),
        max(1, round(code_w * scale * ratio)),
        max(1, round(code_h * scale * ratio)),
    )
    image = device.copy(area).convertToFormat(QImage.Format.Format_Grayscale8)
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * height)
    pixels: npt.NDArray[np.uint8] = buffer.reshape(height, stride)[:, :width].copy()
    return pixels


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def _stdin_closed() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def _run(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.visit import Visit, VisitState
    from media.visit.session import SessionConfig, VisitSession
    from ui.visit.qt_visit_window import QtVisitWindow

    width, height = (int(v) for v in args.size.split("x"))
    visit = Visit(encounter_id=f"bench-g2g-{args.role}")
    recorder = Recorder()
    if args.role == "guest":
        # Connected before the window's tiles connect: the hand-over is timed first.
        visit.frame_did_arrive.connect(
            lambda participant_id: recorder.on_frame_set(visit.latest_frame(participant_id))
        )
    window = QtVisitWindow(visit)
    window.resize(1280, 800)
    window.show()
    hooked: set[int] = set()

    def hook_tiles() -> None:
        for tile in window.tiles():
            if id(tile) not in hooked:
                tile.paint_observer = recorder.on_painted
                hooked.add(id(tile))

    hooker = QTimer(window)
    hooker.setInterval(100)
    hooker.timeout.connect(hook_tiles)
    hooker.start()
    config = SessionConfig(
        server_url=args.server,
        admin_key=args.admin_key,
        interfaces=[args.interface],
        width=width,
        height=height,
        fps=args.fps,
        bitrate_bps=args.bitrate,
        display="Sender" if args.role == "host" else "Receiver",
        create=args.role == "host",
        auto_admit=args.role == "host",
        room=args.room,
        pin=args.pin,
        host_key=args.key,  # the waiting room's key from the host's invite
        # the bench's Janus speaks plain ws:// on its veth address (never a clinic's setup)
        allow_insecure_hosts=[urlsplit(args.server).hostname or ""],
    )
    session = VisitSession(visit, config)
    try:
        await session.start()
        if args.role == "host":
            _emit(
                {
                    "room": session.cfg.room,
                    "pin": session.cfg.pin,
                    "key": session.lobby_key,
                    "pid": os.getpid(),
                }
            )
            await _stdin_closed()
            return 0
        deadline = time.monotonic() + args.ramp_timeout_s
        while recorder.last_size != (width, height) or visit.state is not VisitState.IN_CALL:
            if time.monotonic() > deadline:
                _emit({"error": f"no {args.size} picture painted", "size": recorder.last_size})
                return 1
            await asyncio.sleep(0.1)  # polling a condition with a deadline
        ramp_s = args.ramp_timeout_s - (deadline - time.monotonic())
        await asyncio.sleep(args.warmup_s)
        recorder.recording = True
        started = time.monotonic()
        rss: list[float] = []
        paints_before = recorder.paints
        while time.monotonic() - started < args.measure_s:
            await asyncio.sleep(1.0)
            rss.append(rss_mib())
        recorder.recording = False
        wall = time.monotonic() - started
        app = QApplication.instance()
        screen = app.primaryScreen() if isinstance(app, QApplication) else None
        tile = window.tiles()[0] if window.tiles() else None
        _emit(
            {
                "samples": [
                    [
                        s.counter,
                        s.capture_to_paint_ms,
                        s.decoded_to_paint_ms,
                        s.capture_to_decoded_ms,
                    ]
                    for s in recorder.samples
                ],
                "unreadable": recorder.unreadable,
                "painted_fps": round((recorder.paints - paints_before) / wall, 1),
                "seconds_to_size": round(ramp_s, 2),
                "observer_ms_mean": round(
                    sum(recorder.observer_us) / max(1, len(recorder.observer_us)) / 1000.0, 3
                ),
                "rss_mib": rss,
                "tile": [tile.width(), tile.height()] if tile is not None else None,
                "painted_rect": [tile.video_rect.width(), tile.video_rect.height()]
                if tile is not None
                else None,
                "refresh_hz": screen.refreshRate() if screen is not None else None,
                "platform": QApplication.platformName(),
            }
        )
        return 0
    finally:
        hooker.stop()
        await session.close()
        window.hide()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._g2g_console")
    parser.add_argument("role", choices=("host", "guest"))
    parser.add_argument("--server", required=True)
    parser.add_argument("--admin-key", default="")
    parser.add_argument("--interface", required=True)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate", type=int, default=2_500_000)
    parser.add_argument("--room", type=int, default=0)
    parser.add_argument("--pin", default="")
    parser.add_argument("--key", default="", help="the host's waiting-room key")
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--measure-s", type=float, default=10.0)
    parser.add_argument("--ramp-timeout-s", type=float, default=30.0)
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from ui import theme
    from ui.event_loop import ConsoleEventLoop

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    theme.apply(app)
    with asyncio.Runner(loop_factory=ConsoleEventLoop) as runner:
        return runner.run(_run(args))


if __name__ == "__main__":
    raise SystemExit(main())
