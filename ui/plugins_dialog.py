"""Help > Plugins…: every plugin the console found, its version, state and capabilities.

``QtPluginsDialog(host)`` renders a :class:`plugins.host.PluginHost` and refreshes on
its ``plugins_did_change``. ``PluginPanelMount`` puts the panels active plugins offer
into a window (the visit window's plugin column) and takes a plugin's panels away
again when it fails.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QSize, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from plugins.host import PluginHost, PluginInfo, PluginState
from ui import geometry

log = logging.getLogger(__name__)

STATE_TEXT: dict[PluginState, str] = {
    PluginState.ACTIVE: QCoreApplication.translate("plugins_dialog", "Active"),
    PluginState.INACTIVE: QCoreApplication.translate("plugins_dialog", "Not started"),
    PluginState.DISABLED: QCoreApplication.translate("plugins_dialog", "Disabled"),
    PluginState.NOT_ALLOWED: QCoreApplication.translate("plugins_dialog", "Not allowed"),
    PluginState.FAILED: QCoreApplication.translate("plugins_dialog", "Failed"),
}
CAPABILITY_TEXT: dict[str, str] = {
    "audio.input": "audio input",
    "visit.tracks": "visit tracks",
    "visit.stills": "stills over the visit",
    "encounter.attach": "attach to encounter",
    "ui.panel": "panels",
}
COLUMNS = ("Plugin", "Version", "State", "Capabilities", "Details")


class QtPluginsDialog(QDialog):
    def __init__(self, host: PluginHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pluginsDialog")
        self.setWindowTitle(self.tr("Add-ons"))
        geometry.fit(self, QSize(820, 360))
        self.host = host
        layout = QVBoxLayout(self)
        intro = QLabel(
            self.tr(
                "Add-ons bring devices and tools to the console, such as the stethoscope. "
                "Your organisation decides which may load."
            ),
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("pluginsTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(
            len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch
        )
        layout.addWidget(self.table, 1)
        self.empty = QLabel(
            QCoreApplication.translate("QtPluginsDialog", "No plugins are installed."), self
        )
        self.empty.setObjectName("pluginsEmpty")
        layout.addWidget(self.empty)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        host.plugins_did_change.connect(self._on_plugins_did_change)
        self.destroyed.connect(lambda _obj=None: _disconnect(host, self._on_plugins_did_change))
        self.refresh()

    def _on_plugins_did_change(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        infos = self.host.plugins()
        self.table.setRowCount(len(infos))
        for row, info in enumerate(infos):
            for column, text in enumerate(_cells(info)):
                item = QTableWidgetItem(text)
                if column == 0:
                    item.setToolTip(info.plugin_id)
                    item.setData(Qt.ItemDataRole.UserRole, info.plugin_id)
                if column == 2:
                    item.setData(Qt.ItemDataRole.UserRole, info.state.value)
                if column == len(COLUMNS) - 1:
                    item.setToolTip(text)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self.empty.setVisible(not infos)

    def row_texts(self) -> list[tuple[str, ...]]:
        """What the table shows, row by row (tests and screenshots)."""
        rows: list[tuple[str, ...]] = []
        for r in range(self.table.rowCount()):
            items = (self.table.item(r, c) for c in range(len(COLUMNS)))
            rows.append(tuple(item.text() if item is not None else "" for item in items))
        return rows


def _cells(info: PluginInfo) -> tuple[str, ...]:
    if info.state in (PluginState.ACTIVE, PluginState.INACTIVE):
        capabilities = ", ".join(CAPABILITY_TEXT.get(c, c) for c in info.granted) or "none"
    else:
        capabilities = "—"
    name = info.name if info.name == info.plugin_id else f"{info.name} ({info.plugin_id})"
    return (name, info.version or "—", STATE_TEXT[info.state], capabilities, info.reason)


def _disconnect(host: PluginHost, slot: Callable[[], None]) -> None:
    with contextlib.suppress(ValueError, RuntimeError):
        host.plugins_did_change.disconnect(slot)


class PluginPanelMount:
    """Builds the panels plugins offer for ``where`` into a window, and withdraws them.

    ``add_panel(title, widget)`` / ``remove_panel(widget)`` are the window's (the visit
    window's ``add_panel`` and ``plugin_area.remove_panel``). A factory that raises or
    returns something other than a QWidget disables its plugin; a plugin that fails
    later loses its panels here.
    """

    def __init__(
        self,
        host: PluginHost,
        where: str,
        parent: QWidget,
        add_panel: Callable[[str, QWidget], object],
        remove_panel: Callable[[QWidget], object],
    ) -> None:
        self.host = host
        self.where = where
        self.parent = parent
        self._add = add_panel
        self._remove = remove_panel
        self.widgets: dict[str, list[QWidget]] = {}
        host.plugin_did_fail.connect(self._on_plugin_did_fail)
        host.plugin_did_deactivate.connect(self._on_plugin_did_deactivate)

    def mount(self) -> list[QWidget]:
        made: list[QWidget] = []
        for slot in self.host.panels(self.where):  # type: ignore[arg-type]
            widget = slot.make(self.parent)
            if widget is None:
                continue  # the factory raised: reported and disabled by the host
            if not isinstance(widget, QWidget):
                self.host.fail(slot.plugin_id, f"panel {slot.panel_id} did not return a QWidget")
                continue
            self._add(slot.title, widget)
            self.widgets.setdefault(slot.plugin_id, []).append(widget)
            made.append(widget)
        return made

    def _withdraw(self, plugin_id: str) -> None:
        for widget in self.widgets.pop(plugin_id, []):
            try:
                self._remove(widget)
            except RuntimeError:  # the window (and the widget) is already gone
                log.debug("panel of %r already deleted", plugin_id)

    def _on_plugin_did_fail(self, plugin_id: str, _error: object) -> None:
        self._withdraw(plugin_id)

    def _on_plugin_did_deactivate(self, plugin_id: str) -> None:
        self._withdraw(plugin_id)

    def close(self) -> None:
        """Stop following the host (the window is closing); its widgets go with it."""
        for signal, slot in (
            (self.host.plugin_did_fail, self._on_plugin_did_fail),
            (self.host.plugin_did_deactivate, self._on_plugin_did_deactivate),
        ):
            with contextlib.suppress(ValueError, RuntimeError):
                signal.disconnect(slot)
        self.widgets.clear()
