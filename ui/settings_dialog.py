"""QtSettingsDialog: every setting of the profile's settings.toml, with IT's locked ones shown.

The form is built from the ``Settings`` model (app/settings.py), so a setting
added there appears here without a change to this file: a text field for a
string, a check box for a boolean, a spin box for a number (with the model's
limits), a drop-down for a fixed choice and a one-per-line box for a list.

A key the managed policy sets is shown with the policy's value, disabled, and
marked "set by your organisation" (DESIGN.md §3). Saving writes only the
user's own choices to ``settings.toml`` in the profile: locked keys and
untouched defaults stay out of it, so a later policy change still wins and a
later default change still reaches the user.
"""

from __future__ import annotations

import logging
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from annotated_types import Ge, Le
from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.device_check import (
    CAMERA_SECONDS,
    INPUT_SECONDS,
    TONE_SECONDS,
    CheckResult,
    DeviceChecker,
    Reason,
)
from app.errors import ConsoleError
from app.settings import (
    POLICY_ONLY_KEYS,
    EffectiveSettings,
    Settings,
    UpdateSettings,
    load_settings,
    read_user_settings,
    write_user_settings,
)
from app.visit import MediaDevice
from ui import geometry
from ui.i18n import QT_TRANSLATE_NOOP, device_label
from ui.ops import run_op

log = logging.getLogger(__name__)

LOCKED_NOTE = QT_TRANSLATE_NOOP("QtSettingsDialog", "set by your organisation")

SECTION_TITLES: dict[str, str] = {
    "record_store": QT_TRANSLATE_NOOP("QtSettingsDialog", "Record server (FHIR)"),
    "media_server": QT_TRANSLATE_NOOP("QtSettingsDialog", "Video server"),
    "security": QT_TRANSLATE_NOOP("QtSettingsDialog", "Automatic lock"),
    "plugins": QT_TRANSLATE_NOOP("QtSettingsDialog", "Add-ons"),
    "store": QT_TRANSLATE_NOOP("QtSettingsDialog", "Records on this computer"),
    "updates": QT_TRANSLATE_NOOP("QtSettingsDialog", "Updates"),
    "demo": QT_TRANSLATE_NOOP("QtSettingsDialog", "Demo patients"),
    "display": QT_TRANSLATE_NOOP("QtSettingsDialog", "Display"),
    "devices": QT_TRANSLATE_NOOP("QtSettingsDialog", "Devices"),
    "clinician": QT_TRANSLATE_NOOP("QtSettingsDialog", "Clinician"),
    "coding": QT_TRANSLATE_NOOP("QtSettingsDialog", "Coding suggestions"),
    "emergency": QT_TRANSLATE_NOOP("QtSettingsDialog", "Emergency"),
    "identity": QT_TRANSLATE_NOOP("QtSettingsDialog", "Sign-in"),
    "notes": QT_TRANSLATE_NOOP("QtSettingsDialog", "Notes"),
    "pacs": QT_TRANSLATE_NOOP("QtSettingsDialog", "PACS (DICOM)"),
}
# What a clinician changes; everything else is IT's, under "Advanced".
EVERYDAY_SECTIONS = ("display", "devices", "security")
CHOICE_LABELS: dict[str, str] = {
    "small": QT_TRANSLATE_NOOP("QtSettingsDialog", "Small"),
    "normal": QT_TRANSLATE_NOOP("QtSettingsDialog", "Normal"),
    "large": QT_TRANSLATE_NOOP("QtSettingsDialog", "Large"),
    "larger": QT_TRANSLATE_NOOP("QtSettingsDialog", "Larger"),
    "en": "English",
    "es": "Español",
}
DEVICE_KINDS = {  # devices.<key> -> the kind of MediaDevice listed for it
    "devices.camera": "camera",
    "devices.microphone": "microphone",
    "devices.speaker": "speaker",
    "devices.stethoscope": "stethoscope",
}
PREVIEW_SIZE = QSize(192, 108)  # the camera test's picture
# What each device's test says when it passes (context QtSettingsDialog).
WORKING = {
    "devices.camera": QT_TRANSLATE_NOOP(
        "QtSettingsDialog", "Working: this is what the camera sees."
    ),
    "devices.microphone": QT_TRANSLATE_NOOP(
        "QtSettingsDialog", "Working: sound is coming in. Speak and watch the bar move."
    ),
    "devices.speaker": QT_TRANSLATE_NOOP(
        "QtSettingsDialog",
        "Working: a tone was played. If you did not hear it, check the volume and that "
        "the right speaker is chosen.",
    ),
    "devices.stethoscope": QT_TRANSLATE_NOOP(
        "QtSettingsDialog",
        "Working: sound is coming in from the stethoscope input. Tap the chest piece "
        "and watch the bar move.",
    ),
}
REASONS = {  # why a test did not pass, in plain words (never an exception's name)
    Reason.NOT_FOUND: QT_TRANSLATE_NOOP(
        "QtSettingsDialog",
        "Not found: this device is not connected. Plug it in, or choose another one.",
    ),
    Reason.CANNOT_OPEN: QT_TRANSLATE_NOOP(
        "QtSettingsDialog",
        "It could not be started: another program may be using it, or it does not "
        "work with this computer.",
    ),
    Reason.STOPPED: QT_TRANSLATE_NOOP(
        "QtSettingsDialog",
        "It stopped working during the test. Check that it is still plugged in.",
    ),
    Reason.NO_AUDIO_SYSTEM: QT_TRANSLATE_NOOP(
        "QtSettingsDialog", "The computer's sound system is not available. Ask IT to check it."
    ),
    Reason.TEST_PICTURE: QT_TRANSLATE_NOOP(
        "QtSettingsDialog", "No camera is connected: this is the test picture."
    ),
}
NO_PICTURE = QT_TRANSLATE_NOOP(
    "QtSettingsDialog",
    "No picture came from the camera. Check that it is plugged in and its lens is uncovered.",
)
NO_SOUND = QT_TRANSLATE_NOOP(
    "QtSettingsDialog", "No sound came in. Check that it is plugged in and not muted."
)
TEST_FAILED = QT_TRANSLATE_NOOP(
    "QtSettingsDialog", "The test could not run. Details were written to the log."
)
NO_CHECKER = QT_TRANSLATE_NOOP("QtSettingsDialog", "Devices cannot be tested here.")


def result_text(dotted: str, result: CheckResult) -> str:
    """What a device test found, in the user's language."""
    if result.working:
        return _tr(str(WORKING[dotted]))
    if result.reason is Reason.NO_SIGNAL or result.reason is None:
        return _tr(str(NO_PICTURE if dotted == "devices.camera" else NO_SOUND))
    return _tr(str(REASONS[result.reason]))


LABELS: dict[str, str] = {
    "display.text_size": QT_TRANSLATE_NOOP("QtSettingsDialog", "Text size"),
    "display.language": QT_TRANSLATE_NOOP("QtSettingsDialog", "Language"),
    "devices.camera": QT_TRANSLATE_NOOP("QtSettingsDialog", "Camera"),
    "devices.microphone": QT_TRANSLATE_NOOP("QtSettingsDialog", "Microphone"),
    "devices.speaker": QT_TRANSLATE_NOOP("QtSettingsDialog", "Speaker"),
    "devices.stethoscope": QT_TRANSLATE_NOOP("QtSettingsDialog", "Stethoscope input"),
    "security.idle_lock_minutes": QT_TRANSLATE_NOOP(
        "QtSettingsDialog", "Lock after (minutes without use)"
    ),
    "record_store.url": "Server URL",
    "record_store.auth": "Sign-in method",
    "record_store.username": "User name or client id",
    "record_store.ca_file": "Extra CA bundle (PEM)",
    "record_store.practitioner": "Practitioner",
    "media_server.url": "Server URL",
    "media_server.turn": "TURN servers (one per line)",
    "media_server.force_relay": "Send media only through TURN",
    "media_server.interfaces": "Network interfaces (one per line)",
    "media_server.patient_page_url": "Patient join page URL",
    "media_server.browser_url": "Server URL for browsers",
    "media_server.room_bitrate_bps": "Room video bitrate (bit/s)",
    "plugins.allow": "Allowed plugins (one per line)",
    "plugins.capabilities": "Capabilities by plugin",
    "plugins.settings": "Plugins' own settings",
    "store.key_source": "Where the store key is kept",
    "updates.enabled": "Check for updates",
    "updates.channel": "Channel",
    "updates.url": "Update repository URL",
    "updates.root_file": "Trusted root metadata",
    "demo.allowed": "Demo patients may be loaded",
    "clinician.name": "Name",
    "clinician.npi": "NPI or local identifier",
    "clinician.licenses": "Licence jurisdictions, e.g. US-CA (one per line)",
    "coding.payer": "Payer rules",
    "emergency.numbers": "Emergency numbers by location",
    "emergency.oncall_webhook_url": "On-call webhook URL",
    "pacs.stow_url": "DICOMweb STOW-RS URL",
    "pacs.auth": "Sign-in method",
    "pacs.username": "User name",
}


def _tr(text: str) -> str:
    return QCoreApplication.translate("QtSettingsDialog", text)


def _model_of(section: str) -> Any:
    return Settings.model_fields[section].annotation


def _literal_choices(annotation: Any) -> tuple[str, ...] | None:
    if get_origin(annotation) is Literal:
        return tuple(str(a) for a in get_args(annotation))
    return None


def _is_str_list(annotation: Any) -> bool:
    return get_origin(annotation) in (list, typing.List) and get_args(annotation) == (str,)  # noqa: UP006


class _Field:
    """One setting's editor: reads and writes a plain TOML value."""

    def __init__(self, dotted: str, annotation: Any, metadata: list[Any], parent: QWidget):
        self.dotted = dotted
        self.choices = _literal_choices(annotation)
        self.kind: str
        widget: QWidget
        if annotation is bool:
            self.kind = "bool"
            widget = QCheckBox(parent)
        elif annotation is int:
            self.kind = "int"
            spin = QSpinBox(parent)
            low: Any = next((m.ge for m in metadata if isinstance(m, Ge)), 0)
            high: Any = next((m.le for m in metadata if isinstance(m, Le)), 1_000_000)
            spin.setRange(int(low), int(high))
            widget = spin
        elif self.choices is not None:
            self.kind = "choice"
            combo = QComboBox(parent)
            for choice in self.choices:
                label = CHOICE_LABELS.get(choice)
                combo.addItem(_tr(str(label)) if label else choice, choice)
            widget = combo
        elif dotted in DEVICE_KINDS:
            self.kind = "device"
            combo = QComboBox(parent)
            combo.setEditable(True)  # a device not plugged in now can still be named
            combo.addItem(QCoreApplication.translate("QtSettingsDialog", "System default"), "")
            widget = combo
        elif _is_str_list(annotation):
            self.kind = "list"
            box = QPlainTextEdit(parent)
            box.setTabChangesFocus(True)
            box.setFixedHeight(58)
            widget = box
        elif annotation is str or isinstance(annotation, types.UnionType):
            self.kind = "str"
            widget = QLineEdit(parent)
        else:  # a table or another shape this form does not edit: shown only
            self.kind = "other"
            widget = QLineEdit(parent)
            widget.setReadOnly(True)
            widget.setToolTip(
                QCoreApplication.translate(
                    "_Field", "Edit this in settings.toml (or IT's policy file)."
                )
            )
        widget.setObjectName(f"setting_{dotted.replace('.', '__')}")
        self.widget = widget

    def set_value(self, value: Any) -> None:
        w = self.widget
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QSpinBox):
            w.setValue(int(value))
        elif isinstance(w, QComboBox):
            index = w.findData(str(value))
            if index >= 0:
                w.setCurrentIndex(index)
            else:
                w.setCurrentText(str(value))
        elif isinstance(w, QPlainTextEdit):
            w.setPlainText("\n".join(str(v) for v in value))
        elif isinstance(w, QLineEdit):
            w.setText("" if value is None else str(value))

    def value(self) -> Any:
        w = self.widget
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox):
            return w.value()
        if isinstance(w, QComboBox):
            index = w.findText(w.currentText())
            if index >= 0 and w.itemData(index) is not None:
                return w.itemData(index)
            return w.currentText().strip()
        if isinstance(w, QPlainTextEdit):
            return [line.strip() for line in w.toPlainText().splitlines() if line.strip()]
        assert isinstance(w, QLineEdit)
        return w.text().strip()


class _DeviceTest:
    """One device's Test button and what it shows: a picture (camera), a level meter
    (microphone, stethoscope input) and a one-line result."""

    def __init__(self, dotted: str, parent: QWidget) -> None:
        name = dotted.split(".")[1]
        self.dotted = dotted
        self.button = QPushButton(QCoreApplication.translate("QtSettingsDialog", "Test"), parent)
        self.button.setObjectName(f"test_{name}")
        self.button.setAccessibleName(
            QCoreApplication.translate("QtSettingsDialog", "Test %1").replace(
                "%1", _tr(str(LABELS[dotted]))
            )
        )
        self.panel = QWidget(parent)
        self.panel.setObjectName(f"testResult_{name}")
        row = QHBoxLayout(self.panel)
        row.setContentsMargins(0, 0, 0, 0)
        self.preview: QLabel | None = None
        self.meter: QProgressBar | None = None
        if dotted == "devices.camera":
            self.preview = QLabel(self.panel)
            self.preview.setObjectName("cameraPreview")
            self.preview.setFixedSize(PREVIEW_SIZE)
            self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.preview.setStyleSheet("background: #1f2933;")
            row.addWidget(self.preview)
        elif dotted in ("devices.microphone", "devices.stethoscope"):
            self.meter = QProgressBar(self.panel)
            self.meter.setObjectName(f"{name}Level")
            self.meter.setAccessibleName(
                QCoreApplication.translate("QtSettingsDialog", "Sound level")
            )
            self.meter.setRange(0, 100)
            self.meter.setTextVisible(False)
            self.meter.setFixedSize(120, 14)
            row.addWidget(self.meter, 0, Qt.AlignmentFlag.AlignTop)
        self.result = QLabel(self.panel)
        self.result.setObjectName(f"testText_{name}")
        self.result.setWordWrap(True)
        row.addWidget(self.result, 1, Qt.AlignmentFlag.AlignTop)
        self.panel.hide()  # until the first test
        self.task: Any = None  # the running check (asyncio.Task)
        self.last: CheckResult | None = None
        self.loudest = 0  # the meter's highest reading in this test (0..100)

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def show_text(self, text: str, *, working: bool | None = None) -> None:
        colour = {True: "#166534", False: "#b42318", None: ""}[working]
        self.result.setStyleSheet(f"color: {colour};" if colour else "")
        self.result.setText(text)
        self.panel.show()


class QtSettingsDialog(QDialog):
    """Edit the user's settings; the policy's keys are shown locked."""

    saved = Signal(object)  # the settings.toml path written
    test_devices_requested = Signal()  # Devices > Test (the main window's tech check)

    def __init__(
        self,
        profile: Path,
        policy_path: Path | None = None,
        parent: QWidget | None = None,
        *,
        devices: Callable[[], list[MediaDevice]] | None = None,
        checker: DeviceChecker | None = None,
    ) -> None:
        super().__init__(parent)
        self._checker = checker
        self.device_tests: dict[str, _DeviceTest] = {}
        # How long each test runs (the camera's picture, the meters, the speaker's tone).
        self.test_seconds = {
            "devices.camera": CAMERA_SECONDS,
            "devices.microphone": INPUT_SECONDS,
            "devices.speaker": TONE_SECONDS,
            "devices.stethoscope": INPUT_SECONDS,
        }
        self.setObjectName("settingsDialog")
        self.setWindowTitle(self.tr("Settings"))
        self.profile = profile
        self.policy_path = policy_path
        self.fields: dict[str, _Field] = {}
        self.lock_notes: dict[str, QLabel] = {}
        self.effective: EffectiveSettings | None = None
        self._user: dict[str, Any] = {}
        self._devices = devices

        layout = QVBoxLayout(self)
        intro = QLabel(
            self.tr(
                "Settings marked “%1” come from your organisation and cannot be changed "
                "here. Some take effect the next time the console starts."
            ).replace("%1", _tr(LOCKED_NOTE)),
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.error = QLabel(self)
        self.error.setObjectName("formError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b42318;")
        self.error.hide()
        layout.addWidget(self.error)

        scroll = QScrollArea(self)
        scroll.setObjectName("settingsScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget(scroll)
        column = QVBoxLayout(body)
        for section in EVERYDAY_SECTIONS:
            column.addWidget(self._section_box(section, body, everyday=True))
        # IT's settings (servers, add-ons, the store, updates) under one "Advanced" switch.
        self.advanced_button = QToolButton(body)
        self.advanced_button.setObjectName("advancedButton")
        self.advanced_button.setText(self.tr("Advanced settings for IT"))
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        column.addWidget(self.advanced_button)
        self.advanced = QWidget(body)
        self.advanced.setObjectName("advancedSettings")
        advanced_column = QVBoxLayout(self.advanced)
        advanced_column.setContentsMargins(0, 0, 0, 0)
        for section in Settings.model_fields:
            if section not in EVERYDAY_SECTIONS:
                advanced_column.addWidget(self._section_box(section, self.advanced))
            elif any(
                f"{section}.{key}" in POLICY_ONLY_KEYS for key in _model_of(section).model_fields
            ):
                # The section's IT-only keys (allow_insecure_hosts): under Advanced too.
                advanced_column.addWidget(
                    self._section_box(section, self.advanced, everyday=False, it_only=True)
                )
        self.advanced.hide()
        self.advanced_button.toggled.connect(self.advanced.setVisible)
        column.addWidget(self.advanced)
        column.addStretch(1)
        scroll.setWidget(body)
        layout.addWidget(scroll, 1)

        # Save and Cancel stay below the scrolling form: always on screen.
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setText(self.tr("Save"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(self.tr("Cancel"))
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._fill_devices()
        self.reload()
        geometry.fit(self, QSize(680, 820))

    def _fill_devices(self) -> None:
        listed: list[MediaDevice] = []
        if self._devices is not None:
            try:
                listed = list(self._devices())
            except Exception as exc:  # a broken driver must not break Settings
                log.warning(
                    "Listing devices failed: %s",
                    type(exc).__name__,
                )
        for dotted, kind in DEVICE_KINDS.items():
            combo = self.fields[dotted].widget
            assert isinstance(combo, QComboBox)
            for device in listed:
                if device.kind == kind:
                    combo.addItem(device_label(device.label), device.device_id)

    def _section_box(
        self, section: str, parent: QWidget, *, everyday: bool = False, it_only: bool = False
    ) -> QGroupBox:
        title = SECTION_TITLES.get(section)
        box = QGroupBox(
            _tr(str(title)) if title else section.replace("_", " ").capitalize(), parent
        )
        box.setObjectName(f"section_{section}")
        form = QFormLayout(box)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for key, info in _model_of(section).model_fields.items():
            dotted = f"{section}.{key}"
            if (everyday and dotted in POLICY_ONLY_KEYS) or (
                it_only and dotted not in POLICY_ONLY_KEYS
            ):
                continue
            field = _Field(dotted, info.annotation, list(info.metadata), box)
            self.fields[dotted] = field
            note = QLabel(_tr(LOCKED_NOTE), box)
            note.setObjectName("lockedNote")
            note.setStyleSheet("color: #8a5a00; font-style: italic;")
            note.hide()
            self.lock_notes[dotted] = note
            row = QWidget(box)
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            line.addWidget(field.widget, 1)
            line.addWidget(note)
            test = None
            if dotted in DEVICE_KINDS and not it_only:
                test = _DeviceTest(dotted, box)
                test.button.clicked.connect(lambda *_, d=dotted: self.toggle_device_test(d))
                self.device_tests[dotted] = test
                line.addWidget(test.button)
            text = LABELS.get(dotted)
            label = _tr(str(text)) if text else key.replace("_", " ").capitalize()
            field.widget.setAccessibleName(label)
            form.addRow(label, row)
            if test is not None:
                form.addRow("", test.panel)
        if section == "devices":
            # The whole tech check (devices and the network) stays one click away.
            self.test_devices_button = QPushButton(self.tr("Full tech check…"), box)
            self.test_devices_button.setToolTip(
                self.tr(
                    "Test the camera, microphone and speaker and the connection to the video server"
                )
            )
            self.test_devices_button.setObjectName("testDevicesButton")
            self.test_devices_button.clicked.connect(self.test_devices_requested)
            form.addRow("", self.test_devices_button)
        if section == "updates":
            self.check_button = QPushButton(
                QCoreApplication.translate("QtSettingsDialog", "Check now"), box
            )
            self.check_button.setObjectName("checkUpdatesButton")
            self.check_button.clicked.connect(self._on_check_updates_clicked)
            self.update_result = QLabel(box)
            self.update_result.setObjectName("updateResult")
            self.update_result.setWordWrap(True)
            row = QWidget(box)
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            line.addWidget(self.check_button)
            line.addWidget(self.update_result, 1)
            form.addRow("", row)
        return box

    # -- device tests ----------------------------------------------------------
    def toggle_device_test(self, dotted: str) -> None:
        """Test (or, while it runs, stop testing) the device chosen for ``dotted``."""
        test = self.device_tests[dotted]
        if test.running:
            self.stop_device_test(dotted)
            return
        if self._checker is None:
            test.show_text(_tr(str(NO_CHECKER)), working=False)
            return
        device = str(self.fields[dotted].value())
        test.last = None
        test.loudest = 0
        if test.meter is not None:
            test.meter.setValue(0)
        if test.preview is not None:
            test.preview.clear()
        test.show_text(QCoreApplication.translate("QtSettingsDialog", "Testing…"))
        test.button.setText(QCoreApplication.translate("QtSettingsDialog", "Stop"))

        def done(result: CheckResult) -> None:
            self._device_test_done(dotted, result)

        def failed(exc: BaseException) -> None:
            self._device_test_failed(dotted, exc)

        test.task = run_op(
            self,
            self._run_check(dotted, device),
            busy=False,
            context="Device test",
            on_done=done,
            on_error=failed,
        )
        test.task.add_done_callback(lambda _task: self._device_test_ended(dotted))

    async def _run_check(self, dotted: str, device: str) -> CheckResult:
        checker = self._checker
        assert checker is not None
        test = self.device_tests[dotted]
        seconds = self.test_seconds[dotted]
        if dotted == "devices.camera":
            return await checker.camera(
                device, lambda rgb: self._show_frame(test, rgb), seconds=seconds
            )
        if dotted == "devices.speaker":
            return await checker.speaker(device, seconds=seconds)
        return await checker.audio_input(
            device,
            lambda level: self._show_level(test, level),
            seconds=seconds,
            # A stethoscope is not a voice: heard as captured, no AGC/noise suppression.
            voice_processing=dotted != "devices.stethoscope",
        )

    def _show_level(self, test: _DeviceTest, level: float) -> None:
        if test.meter is not None:
            value = round(100 * level)
            test.loudest = max(test.loudest, value)
            test.meter.setValue(value)

    def _show_frame(self, test: _DeviceTest, rgb: Any) -> None:
        if test.preview is None:
            return
        height, width = int(rgb.shape[0]), int(rgb.shape[1])
        image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
        test.preview.setPixmap(
            QPixmap.fromImage(image).scaled(
                PREVIEW_SIZE,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )

    def _device_test_done(self, dotted: str, result: CheckResult) -> None:
        test = self.device_tests[dotted]
        test.last = result
        test.show_text(result_text(dotted, result), working=result.working)

    def _device_test_failed(self, dotted: str, exc: BaseException) -> None:
        log.warning("Device test failed: %s", type(exc).__name__)  # the name: for IT
        test = self.device_tests[dotted]
        test.show_text(_tr(str(TEST_FAILED)), working=False)

    def _device_test_ended(self, dotted: str) -> None:
        test = self.device_tests.get(dotted)
        if test is None:
            return
        try:
            test.button.setText(QCoreApplication.translate("QtSettingsDialog", "Test"))
            if test.meter is not None:
                test.meter.setValue(0)
        except RuntimeError:  # the dialog was deleted first
            return

    def stop_device_test(self, dotted: str) -> None:
        test = self.device_tests[dotted]
        if test.running:
            test.task.cancel()
            test.show_text(QCoreApplication.translate("QtSettingsDialog", "Test stopped."))

    def stop_device_tests(self) -> None:
        """Stop every running test (the dialog closing): the devices are released."""
        for test in self.device_tests.values():
            if test.running:
                test.task.cancel()

    def done(self, result: int) -> None:
        self.stop_device_tests()
        super().done(result)

    def hideEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self.stop_device_tests()
        super().hideEvent(event)

    # -- updates ---------------------------------------------------------------
    def _update_settings(self) -> UpdateSettings:
        values = {
            dotted.split(".", 1)[1]: field.value()
            for dotted, field in self.fields.items()
            if dotted.startswith("updates.")
        }
        return UpdateSettings.model_validate(values)

    def _on_check_updates_clicked(self) -> None:
        import asyncio

        from app.updates import Updater
        from ui.ops import run_op

        try:
            updater = Updater(self._update_settings(), profile=self.profile)
        except ValueError as exc:
            self.update_result.setText(
                QCoreApplication.translate("QtSettingsDialog", "Cannot check: {error}").format(
                    error=type(exc).__name__
                )
            )
            return
        self.check_button.setEnabled(False)
        self.update_result.setText(QCoreApplication.translate("QtSettingsDialog", "Checking…"))

        async def check() -> object:
            # Blocking network I/O and signature checks: off the GUI thread.
            return await asyncio.get_running_loop().run_in_executor(None, updater.check)

        run_op(
            self,
            check(),
            context="Check for updates",
            on_done=self._on_update_checked,
            on_error=self._on_update_failed,
        )

    def _on_update_checked(self, found) -> None:
        self.check_button.setEnabled(True)
        if found.reason:
            self.update_result.setText(
                QCoreApplication.translate("QtSettingsDialog", "Not checked: {reason}.").format(
                    reason=found.reason
                )
            )
        elif found.available:
            self.update_result.setText(
                QCoreApplication.translate(
                    "QtSettingsDialog",
                    "Version {version} is available on the {channel} channel "
                    "(this is {current}); its signatures verified.",
                ).format(
                    version=found.version, channel=found.channel, current=found.current_version
                )
            )
        else:
            self.update_result.setText(
                QCoreApplication.translate("QtSettingsDialog", "Up to date ({current}).").format(
                    current=found.current_version
                )
            )

    def _on_update_failed(self, exc: BaseException) -> None:
        self.check_button.setEnabled(True)
        self.update_result.setText(
            str(exc)
            if isinstance(exc, ConsoleError)
            else QCoreApplication.translate("QtSettingsDialog", "Check failed.")
        )

    # -- state ---------------------------------------------------------------
    def reload(self) -> None:
        """Show the effective values, and lock what the policy sets."""
        try:
            self.effective = load_settings(self.profile, self.policy_path)
            self._user = read_user_settings(self.profile)
        except ConsoleError as exc:
            self._show_error(str(exc))
            for field in self.fields.values():
                field.widget.setEnabled(False)
            self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(False)
            return
        settings = self.effective.settings
        where = str(self.effective.policy_path) if self.effective.policy_path else ""
        for dotted, field in self.fields.items():
            section, key = dotted.split(".")
            field.set_value(getattr(getattr(settings, section), key))
            locked = dotted in self.effective.locked
            # Policy-only keys (allow_insecure_hosts) are never the user's to edit.
            editable = not locked and dotted not in POLICY_ONLY_KEYS and field.kind != "other"
            field.widget.setEnabled(editable)
            self.lock_notes[dotted].setVisible(locked)
            if locked:
                field.widget.setToolTip(
                    QCoreApplication.translate(
                        "QtSettingsDialog", "Set by your organisation's managed policy ({where})"
                    ).format(where=where)
                )

    def is_locked(self, dotted: str) -> bool:
        return self.effective is not None and dotted in self.effective.locked

    def user_values(self) -> dict[str, Any]:
        """What would be written: the user's own choices, never a locked key."""
        defaults = Settings()
        data: dict[str, dict[str, Any]] = {
            s: dict(v) for s, v in self._user.items() if isinstance(v, dict)
        }
        for dotted, field in self.fields.items():
            if self.is_locked(dotted) or field.kind == "other" or dotted in POLICY_ONLY_KEYS:
                continue
            section, key = dotted.split(".")
            value = field.value()
            had = key in data.get(section, {})
            if value == getattr(getattr(defaults, section), key) and not had:
                continue
            data.setdefault(section, {})[key] = value
        return {s: v for s, v in data.items() if v}

    def save(self) -> None:
        try:
            path = write_user_settings(self.profile, self.user_values(), self.policy_path)
        except ConsoleError as exc:
            self._show_error(str(exc))
            return
        self.error.hide()
        self.saved.emit(path)
        self.accept()

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()
