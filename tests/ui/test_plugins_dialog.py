"""File > Plugins… and plugin panels in a real Qt window, over a real PluginHost."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtWidgets import QLabel

from app.events import ConsoleEvents
from clinician_console_api.testing import MakePlugin, make_host
from plugins.host import PluginHost, PluginState
from ui.main_window import QtMainWindow
from ui.plugins_dialog import PluginPanelMount, QtPluginsDialog
from ui.visit.plugin_area import QtPluginArea

ARTIFACTS = Path(__file__).parents[1] / "artifacts"

PANEL_CODE = """
from PySide6.QtWidgets import QLabel

def activate(ctx):
    pass

def deactivate(ctx):
    pass

def make_panel(ctx, parent):
    label = QLabel("listening", parent)
    label.setObjectName("testPanel")
    return label

def not_a_widget(ctx, parent):
    return "text"
"""


def populated_host(tmp_path: Path, make_plugin: MakePlugin) -> PluginHost:
    host = make_host(tmp_path / "data", allow=["acme.steth", "acme.broken", "acme.old"])
    steth = make_plugin(
        "acme.steth",
        name="Stethoscope",
        code=PANEL_CODE,
        capabilities=["audio.input", "ui.panel"],
        panels=[("panel", "Stethoscope", "visit", "make_panel")],
    )
    broken = make_plugin("acme.broken", code="import not_a_module_at_all\n")
    old = make_plugin("acme.old", api=["0"], version="0.3")
    stranger = make_plugin("acme.stranger", version="2.0")
    for plugin in (steth, broken, old, stranger):
        host.add_manifest(plugin.manifest_path)
    asyncio.run(host.activate_all())
    return host


def test_dialog_lists_versions_states_and_capabilities(
    qtbot, tmp_path: Path, make_plugin: MakePlugin
) -> None:
    host = populated_host(tmp_path, make_plugin)
    dialog = QtPluginsDialog(host)
    qtbot.addWidget(dialog)
    dialog.show()
    rows = {row[0]: row for row in dialog.row_texts()}
    assert rows["Stethoscope (acme.steth)"][1:4] == ("1.0.0", "Active", "audio input, panels")
    assert rows["acme.broken"][2] == "Failed"
    assert "not_a_module_at_all" in rows["acme.broken"][4]
    assert rows["acme.old"][1:3] == ("0.3", "Disabled")
    assert "needs plugin API 0" in rows["acme.old"][4]
    assert rows["acme.stranger"][1:4] == ("2.0", "Not allowed", "—")
    assert not dialog.empty.isVisible()
    dialog.resize(980, 300)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(ARTIFACTS / "plugins-dialog.png"), "PNG")

    # A plugin failing later shows up without reopening the dialog.
    host.fail("acme.steth", "test failure")
    rows = {row[0]: row for row in dialog.row_texts()}
    assert rows["Stethoscope (acme.steth)"][2:] == ("Failed", "—", "test failure")


def test_empty_dialog(qtbot, plugin_host: PluginHost) -> None:
    dialog = QtPluginsDialog(plugin_host)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.row_texts() == []
    assert dialog.empty.isVisible()


def test_panels_mount_and_go_when_the_plugin_fails(
    qtbot, tmp_path: Path, make_plugin: MakePlugin
) -> None:
    host = populated_host(tmp_path, make_plugin)
    area = QtPluginArea()
    qtbot.addWidget(area)
    mount = PluginPanelMount(host, "visit", area, area.add_panel, area.remove_panel)
    (widget,) = mount.mount()
    assert isinstance(widget, QLabel)
    assert area.titles() == ["Stethoscope"]
    guarded_poke = host.guard("acme.steth", lambda: (_ for _ in ()).throw(RuntimeError("x")))
    assert guarded_poke() is None  # a callback raising: reported, plugin disabled
    assert host.get("acme.steth").state is PluginState.FAILED
    assert area.titles() == []
    assert area.isHidden()
    mount.close()


def test_a_factory_returning_no_widget_disables_the_plugin(
    qtbot, plugin_host: PluginHost, make_plugin: MakePlugin
) -> None:
    plugin = make_plugin(
        "acme.nowidget",
        code=PANEL_CODE,
        capabilities=["ui.panel"],
        panels=[("panel", "Odd", "visit", "not_a_widget")],
    )
    plugin_host.add_manifest(plugin.manifest_path)
    asyncio.run(plugin_host.activate_all())
    area = QtPluginArea()
    qtbot.addWidget(area)
    mount = PluginPanelMount(plugin_host, "visit", area, area.add_panel, area.remove_panel)
    assert mount.mount() == []
    info = plugin_host.get("acme.nowidget")
    assert info.state is PluginState.FAILED
    assert "did not return a QWidget" in info.reason


def test_main_window_opens_the_dialog_from_the_file_menu(
    qtbot, tmp_path: Path, make_plugin: MakePlugin
) -> None:
    window = QtMainWindow(ConsoleEvents())
    qtbot.addWidget(window)
    assert not window.plugins_action.isEnabled()
    window.set_plugin_host(populated_host(tmp_path, make_plugin))
    assert window.plugins_action.isEnabled()
    window.plugins_action.trigger()
    dialog = window.plugins_dialog
    qtbot.waitUntil(dialog.isVisible)
    assert len(dialog.row_texts()) == 4
    dialog.reject()
