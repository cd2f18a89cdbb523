"""The console's look: a calm light palette plus ``resources/style.qss``."""

from __future__ import annotations

import re
from importlib import resources

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#0f766e"

# Settings > Display > Text size: every point size in the style sheet is scaled.
TEXT_SCALE = {"small": 0.9, "normal": 1.0, "large": 1.2, "larger": 1.4}
_POINTS = re.compile(r"(\d+(?:\.\d+)?)pt\b")


def stylesheet(text_size: str = "normal") -> str:
    # importlib.resources works from a source tree, a wheel and a frozen app alike.
    sheet = resources.files("resources").joinpath("style.qss").read_text(encoding="utf-8")
    scale = TEXT_SCALE.get(text_size, 1.0)
    if scale == 1.0:
        return sheet
    return _POINTS.sub(lambda m: f"{float(m.group(1)) * scale:.1f}pt", sheet)


def palette() -> QPalette:
    pal = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#f4f6f8",
        QPalette.ColorRole.WindowText: "#1f2933",
        QPalette.ColorRole.Base: "#ffffff",
        QPalette.ColorRole.AlternateBase: "#eef6f5",
        QPalette.ColorRole.Text: "#1f2933",
        QPalette.ColorRole.Button: "#ffffff",
        QPalette.ColorRole.ButtonText: "#1f2933",
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.PlaceholderText: "#616e7c",  # 5.3:1 on white (WCAG AA)
        QPalette.ColorRole.ToolTipBase: "#1f2933",
        QPalette.ColorRole.ToolTipText: "#ffffff",
        QPalette.ColorRole.Mid: "#d9e2ec",
    }
    for role, color in colors.items():
        pal.setColor(role, QColor(color))
    return pal


def apply(app: QApplication, text_size: str = "normal") -> None:
    app.setStyle("Fusion")  # same rendering on every OS, so the style sheet reads the same
    app.setPalette(palette())
    set_text_size(app, text_size)


def set_text_size(app: QApplication, text_size: str) -> None:
    app.setProperty("consoleTextSize", text_size)
    font = app.font()
    font.setPointSizeF(10.0 * TEXT_SCALE.get(text_size, 1.0))
    app.setFont(font)  # widgets the style sheet does not size (plots, menus)
    app.setStyleSheet(stylesheet(text_size))
