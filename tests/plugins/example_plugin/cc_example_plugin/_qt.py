"""The plugin's panel: the only module of the plugin that imports Qt."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from clinician_console_api import PluginContext


def make_panel(ctx: PluginContext, parent: QWidget) -> QWidget:
    """Called on the GUI thread each time the console shows the panel."""
    panel = QWidget(parent)
    panel.setObjectName("exampleHelloPanel")
    state = json.loads((ctx.data_dir / "state.json").read_text())
    label = QLabel(
        f"{ctx.settings.get('greeting', 'Hello')} — activated {state['activations']} times",
        panel,
    )
    label.setObjectName("exampleHelloLabel")
    QVBoxLayout(panel).addWidget(label)
    return panel
