"""The review viewer's figures for ``bench.images``: first paint and zoom/pan frame time.

Runs the real :class:`ui.image_viewer.QtImageView` offscreen (``QT_QPA_PLATFORM=offscreen``)
in a 1280x800 viewport on a qasync loop, as the console does:

- ``viewer_first_paint_ms``: from the still's bytes in memory to the first paint of the
  picture (the DCT-scaled preview decoded on a worker thread, then painted); reference:
  Pillow's full decode (``Image.open`` + ``load``) and ``cv2.imdecode`` of the same bytes;
- ``zoom_pan_ms``: one zoom step or one pan step, including the synchronous repaint of the
  viewport, over a fixed script of 30 zooms in and out about the centre and 30 pans
  (p50 and p95); reference: a stock ``QGraphicsView`` with the full still as one
  ``QGraphicsPixmapItem`` (smooth transform) driven by the same script.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

VIEWPORT = (1280, 800)


def _app() -> Any:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QT_API", "pyside6")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(["bench-images"])


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def _script(view: Any, step: Callable[[int], None], count: int = 60) -> list[float]:
    """Time ``count`` steps, each followed by a synchronous repaint of the viewport."""
    samples = []
    for i in range(count):
        start = time.perf_counter()
        step(i)
        view.viewport().repaint()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _steps(view: Any, zoom: Callable[[float], None]) -> Callable[[int], None]:
    def step(i: int) -> None:
        phase = i // 15
        if phase == 0:
            zoom(1.15)  # in
        elif phase == 1:
            view.horizontalScrollBar().setValue(view.horizontalScrollBar().value() + 40)
        elif phase == 2:
            view.verticalScrollBar().setValue(view.verticalScrollBar().value() + 30)
        else:
            zoom(1 / 1.15)  # out

    return step


def measure_viewer(data: bytes, runs: int) -> dict[str, Any]:
    app = _app()
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPixmap
    from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

    from ui.event_loop import ConsoleEventLoop
    from ui.image_viewer import QtImageView

    loop = ConsoleEventLoop(app)
    asyncio.set_event_loop(loop)
    first_paint: list[float] = []
    zoom_pan: list[float] = []
    try:
        for _ in range(runs):
            view = QtImageView()
            view.resize(*VIEWPORT)
            view.show()
            app.processEvents()

            async def open_and_wait(v: Any = view) -> float:
                start = time.perf_counter()
                task = asyncio.ensure_future(v.load(data))
                while v.picture.painted_at is None:
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.001)
                painted = float(v.picture.painted_at - start) * 1000
                await task
                return painted

            first_paint.append(loop.run_until_complete(open_and_wait()))
            zoom_pan += _script(view, _steps(view, view.zoom_by))
            view.close()
            view.deleteLater()
            app.processEvents()

        # Reference: the naive viewer (one full-size pixmap, smooth scaling).
        image = QImage.fromData(data)
        scene = QGraphicsScene()
        item = QGraphicsPixmapItem(QPixmap.fromImage(image))
        item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        scene.addItem(item)
        stock = QGraphicsView(scene)
        stock.resize(*VIEWPORT)
        stock.show()
        stock.fitInView(item)
        app.processEvents()
        reference = _script(stock, _steps(stock, lambda f: stock.scale(f, f)))
        stock.close()
    finally:
        loop.close()
        asyncio.set_event_loop(None)

    def decode_pillow() -> None:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            img.load()

    def decode_cv2() -> None:
        import cv2
        import numpy as np

        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    return {
        "viewer_first_paint_ms": {
            "best": round(min(first_paint), 1),
            "median": round(statistics.median(first_paint), 1),
        },
        "zoom_pan_ms": {"p50": _p(zoom_pan, 0.5), "p95": _p(zoom_pan, 0.95)},
        "reference": {
            "pillow_full_decode_ms": _timed(decode_pillow, runs),
            "cv2_imdecode_ms": _timed(decode_cv2, runs),
            "stock_pixmap_view_zoom_pan_ms": {
                "p50": _p(reference, 0.5),
                "p95": _p(reference, 0.95),
            },
        },
    }


def _timed(fn: Callable[[], object], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return {"best": round(min(samples), 1), "median": round(statistics.median(samples), 1)}
