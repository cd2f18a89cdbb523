"""The console's look: a calm light palette plus ``resources/style.qss``."""

from __future__ import annotations

from importlib import resources

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#0f766e"


def stylesheet() -> str:
    # importlib.resources works from a source tree, a wheel and a frozen app alike.
    return resources.files("resources").joinpath("style.qss").read_text(encoding="utf-8")


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
        QPalette.ColorRole.PlaceholderText: "#7b8794",
        QPalette.ColorRole.ToolTipBase: "#1f2933",
        QPalette.ColorRole.ToolTipText: "#ffffff",
        QPalette.ColorRole.Mid: "#d9e2ec",
    }
    for role, color in colors.items():
        pal.setColor(role, QColor(color))
    return pal


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")  # same rendering on every OS, so the style sheet reads the same
    app.setPalette(palette())
    app.setStyleSheet(stylesheet())
