"""QtPluginArea: where plugin panels (the stethoscope, the exam camera) sit in a visit.

The plugin host adds a panel with ``add_panel(title, widget)`` and takes it
away with ``remove_panel(widget)``; the area stays hidden while it is empty.
It only lays panels out: it never looks inside them.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from ui.i18n import QT_TRANSLATE_NOOP


class _Section(QFrame):
    def __init__(self, title: str, widget: QWidget, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("pluginSection")
        self.title = QLabel(title, self)
        self.title.setObjectName("sideTitle")
        self.widget = widget
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.setSpacing(6)
        layout.addWidget(self.title)
        widget.setParent(self)
        layout.addWidget(widget)


BUILT_IN_TITLES = (QT_TRANSLATE_NOOP("QtPluginArea", "Stethoscope"),)


class QtPluginArea(QScrollArea):
    """A scrollable column of titled panels."""

    panels_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pluginArea")
        self.setWidgetResizable(True)
        # Panels fit the column's width (nobody scrolls sideways to find a button).
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget(self)
        inner.setObjectName("pluginAreaInner")
        self._column = QVBoxLayout(inner)
        self._column.setContentsMargins(0, 0, 0, 0)
        self._column.setSpacing(0)
        self._column.addStretch(1)
        self.setWidget(inner)
        self._inner = inner
        self._sections: list[_Section] = []
        self.hide()

    def add_panel(self, title: str, widget: QWidget) -> QWidget:
        """Show ``widget`` under ``title`` (below the panels already there); returns its frame."""
        # Built-in panels' titles are in the catalogue; a third-party title stays as given.
        section = _Section(QCoreApplication.translate("QtPluginArea", title), widget, self._inner)
        self._column.insertWidget(self._column.count() - 1, section)
        self._sections.append(section)
        self.show()
        self.panels_changed.emit()
        return section

    def remove_panel(self, widget: QWidget) -> bool:
        """Take ``widget``'s panel away (the widget is deleted with it); False if unknown."""
        for section in self._sections:
            if section.widget is widget:
                self._sections.remove(section)
                self._column.removeWidget(section)
                section.setParent(None)
                section.deleteLater()
                self.setVisible(bool(self._sections))
                self.panels_changed.emit()
                return True
        return False

    def titles(self) -> list[str]:
        return [section.title.text() for section in self._sections]

    def panels(self) -> list[QWidget]:
        return [section.widget for section in self._sections]
