"""The settings dialog: every setting shown, the policy's locked, the user's written back.

Real files (settings.toml, a policy file) and real widgets; the screenshot
(tests/artifacts/settings-dialog.png) renders under Xvfb when run with
``QT_QPA_PLATFORM=xcb`` inside scripts/with-services, offscreen otherwise.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit, QPlainTextEdit, QSpinBox

from app.events import ConsoleEvents
from app.settings import POLICY_ONLY_KEYS, Settings, load_settings
from tests.unit import test_updates
from ui.main_window import QtMainWindow
from ui.settings_dialog import LOCKED_NOTE, QtSettingsDialog

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
POLICY = """\
[record_store]
url = "https://fhir.clinic.example/fhir"
ca_file = "/etc/ssl/certs/clinic-ca.pem"
[media_server]
turn = ["turns:turn.clinic.example:443?transport=tcp"]
force_relay = true
[security]
idle_lock_minutes = 5
[updates]
channel = "stable"
[demo]
allowed = false
"""


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    return path


def make(qtbot, profile: Path, policy: Path | None) -> QtSettingsDialog:
    dialog = QtSettingsDialog(profile, policy)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_every_setting_has_a_field(qtbot, tmp_path: Path) -> None:
    dialog = make(qtbot, tmp_path / "profile", None)
    every = {
        f"{section}.{key}"
        for section, info in Settings.model_fields.items()
        for key in info.annotation.model_fields
    }
    assert set(dialog.fields) == every
    kinds = {d: type(f.widget) for d, f in dialog.fields.items()}
    assert kinds["media_server.force_relay"] is QCheckBox
    assert kinds["security.idle_lock_minutes"] is QSpinBox
    assert kinds["updates.channel"] is QComboBox
    assert kinds["media_server.turn"] is QPlainTextEdit
    assert kinds["record_store.url"] is QLineEdit
    spin = dialog.fields["security.idle_lock_minutes"].widget
    assert (spin.minimum(), spin.maximum()) == (1, 240)
    assert not any(n.isVisible() for n in dialog.lock_notes.values())


def test_policy_keys_are_locked_and_marked(qtbot, tmp_path: Path, policy: Path) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "settings.toml").write_text("[security]\nidle_lock_minutes = 30\n")
    dialog = make(qtbot, profile, policy)
    locked = load_settings(profile, policy).locked
    assert "security.idle_lock_minutes" in locked
    dialog.advanced_button.setChecked(True)  # IT's settings are under "Advanced"
    for dotted, field in dialog.fields.items():
        note = dialog.lock_notes[dotted]
        if dotted in locked:
            assert not field.widget.isEnabled(), dotted
            assert note.isVisible() and note.text() == LOCKED_NOTE, dotted
        else:
            # Tables (plugins.settings) are shown, edited in the file only; policy-only
            # keys (security.allow_insecure_hosts) are never the user's.
            editable = field.kind != "other" and dotted not in POLICY_ONLY_KEYS
            assert field.widget.isEnabled() == editable, dotted
            assert not note.isVisible(), dotted
    # The policy's value is shown, not the user's.
    assert dialog.fields["security.idle_lock_minutes"].widget.value() == 5
    assert dialog.fields["record_store.url"].widget.text() == "https://fhir.clinic.example/fhir"
    notes = [w for w in dialog.findChildren(QLabel) if w.objectName() == "lockedNote"]
    assert sum(n.isVisible() for n in notes) == len(locked)


def test_save_writes_only_the_users_choices(qtbot, tmp_path: Path, policy: Path) -> None:
    profile = tmp_path / "profile"
    dialog = make(qtbot, profile, policy)
    dialog.fields["media_server.url"].widget.setText("wss://visits.clinic.example/janus")
    dialog.fields["media_server.interfaces"].widget.setPlainText("eth1\n\n  wlan0 \n")
    dialog.fields["updates.enabled"].widget.setChecked(False)
    with qtbot.waitSignal(dialog.saved, timeout=2000) as saved:
        dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    path = saved.args[0]
    written = tomllib.loads(Path(path).read_text())
    assert written == {
        "media_server": {
            "url": "wss://visits.clinic.example/janus",
            "interfaces": ["eth1", "wlan0"],
        },
        "updates": {"enabled": False},
    }
    # Locked keys never reach the user's file, and the policy still wins after saving.
    eff = load_settings(profile, policy)
    assert eff.settings.media_server.url == "wss://visits.clinic.example/janus"
    assert eff.settings.media_server.force_relay is True
    assert not dialog.isVisible()


def test_an_invalid_entry_is_shown_and_nothing_is_written(qtbot, tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    dialog = make(qtbot, profile, None)
    dialog.fields["plugins.allow"].widget.setPlainText("")
    # An empty allow list is valid; a malformed user file is what we refuse to overwrite.
    profile.mkdir()
    (profile / "settings.toml").write_text("[security]\nidle = 3\n")
    dialog.reload()
    assert dialog.error.isVisible() and "unknown key" in dialog.error.text()
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Save).isEnabled()
    assert (profile / "settings.toml").read_text() == "[security]\nidle = 3\n"


def test_main_window_opens_the_dialog_from_the_file_menu(
    aio, qtbot, tmp_path: Path, policy: Path
) -> None:
    window = QtMainWindow(ConsoleEvents())
    qtbot.addWidget(window)
    assert not window.settings_action.isEnabled()
    window.set_settings_location(tmp_path / "profile", policy)
    assert window.settings_action.isEnabled()
    window.settings_action.trigger()
    dialog = window.settings_dialog
    qtbot.waitUntil(dialog.isVisible)
    assert dialog.is_locked("demo.allowed")
    dialog.reject()


def test_screenshot(qtbot, tmp_path: Path, policy: Path) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "settings.toml").write_text(
        '[media_server]\nurl = "wss://visits.clinic.example/janus"\n'
        '[updates]\nurl = "https://updates.clinic.example/cc"\n'
    )
    dialog = make(qtbot, profile, policy)
    dialog.resize(760, 1260)
    qtbot.waitExposed(dialog)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = ARTIFACTS / "settings-dialog.png"
    assert dialog.grab().save(str(out), "PNG")
    assert out.stat().st_size > 20_000


# A real TUF repository on 127.0.0.1 (the updater's unit tests' fixture).
served = test_updates.served


def test_check_now_verifies_against_the_repository(
    aio, qtbot, tmp_path: Path, served: test_updates.Served
) -> None:
    served.add("99.0.0")
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "settings.toml").write_text(
        f'[updates]\nurl = "{served.url}"\nroot_file = "{served.root_json}"\n'
    )
    dialog = make(qtbot, profile, None)
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    aio.wait_until(lambda: dialog.update_result.text().startswith("Version"), timeout=20)
    assert "99.0.0" in dialog.update_result.text()
    # The archive is not fetched by a check; tampered metadata is refused on the next.
    timestamp = served.repo_dir / "metadata" / "timestamp.json"
    timestamp.write_text(timestamp.read_text().replace('"version": ', '"version": 1', 1))
    other = tmp_path / "other"
    other.mkdir()
    (other / "settings.toml").write_text((profile / "settings.toml").read_text())
    dialog2 = make(qtbot, other, None)
    dialog2.check_button.click()
    aio.wait_until(lambda: "refused" in dialog2.update_result.text(), timeout=20)
    assert dialog2.check_button.isEnabled()


def test_gui_refuses_to_start_on_a_malformed_policy(tmp_path: Path, qapp, qtbot) -> None:
    from tests.ui.conftest import until
    from tests.ui.test_main import _run_gui_with_robot

    policy = tmp_path / "policy.toml"
    policy.write_text("[security]\nidle_lock_minutes = 'ten'\n")
    profile = tmp_path / "profile"
    seen: dict[str, object] = {}

    async def robot(win: QtMainWindow) -> None:
        await until(lambda: win.startup.page() == "error", timeout=10)
        seen["message"] = win.startup.error_message.text()
        qtbot.mouseClick(win.startup.quit_button, Qt.MouseButton.LeftButton)

    code = _run_gui_with_robot(robot, qapp, profile, demo=False, policy_path=policy)
    assert code == 1
    assert "managed policy" in str(seen["message"])
    assert "security.idle_lock_minutes" in str(seen["message"])
    assert not (profile / "store.db").exists()  # nothing started on defaults


def test_everyday_settings_first_and_it_settings_under_advanced(qtbot, tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    dialog = make(qtbot, profile, None)
    for dotted in ("display.text_size", "display.language", "devices.camera"):
        assert dialog.fields[dotted].widget.isVisible(), dotted
    assert not dialog.fields["record_store.url"].widget.isVisible()
    assert not dialog.fields["plugins.allow"].widget.isVisible()
    dialog.advanced_button.setChecked(True)
    assert dialog.fields["record_store.url"].widget.isVisible()
    size = dialog.fields["display.text_size"].widget
    size.setCurrentIndex(size.findData("large"))
    dialog.save()
    assert load_settings(profile, None).settings.display.text_size == "large"


def test_devices_are_offered_and_the_test_is_one_click_away(qtbot, tmp_path: Path) -> None:
    from app.visit import MediaDevice
    from ui.settings_dialog import QtSettingsDialog

    profile = tmp_path / "profile"
    profile.mkdir()
    devices = [
        MediaDevice("/dev/video2", "USB exam camera", "camera"),
        MediaDevice("pulse:headset", "Headset microphone", "microphone"),
    ]
    dialog = QtSettingsDialog(profile, None, devices=lambda: devices)
    qtbot.addWidget(dialog)
    dialog.show()
    camera = dialog.fields["devices.camera"].widget
    assert camera.findData("/dev/video2") >= 0
    camera.setCurrentIndex(camera.findData("/dev/video2"))
    with qtbot.waitSignal(dialog.test_devices_requested, timeout=1000):
        dialog.test_devices_button.click()
    dialog.save()
    assert load_settings(profile, None).settings.devices.camera == "/dev/video2"


def test_text_size_and_language_apply_on_save(make_console, tmp_path: Path, qapp) -> None:
    from ui import i18n, theme

    console = make_console()
    window = console.window
    profile = tmp_path / "p"
    profile.mkdir()
    window.set_settings_location(profile)
    dialog = window.show_settings()
    size = dialog.fields["display.text_size"].widget
    size.setCurrentIndex(size.findData("larger"))
    language = dialog.fields["display.language"].widget
    language.setCurrentIndex(language.findData("es"))
    try:
        dialog.save()
        assert qapp.property("consoleTextSize") == "larger"
        assert "14.0pt" in qapp.styleSheet()
        assert i18n.current_language() == "es"
        assert "nuevo idioma" in window.notice.text  # said in the language just chosen
    finally:
        i18n.set_language("en")
        theme.apply(qapp)
