"""QtAboutDialog: the versions IT and support ask for."""

from __future__ import annotations

import platform

import PySide6
from PySide6.QtCore import QCoreApplication, Qt, qVersion
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

import app
from app.records import StoreStatus


def versions(sqlcipher_version: str | None) -> dict[str, str]:
    return {
        "Clinician Console": app.__version__,
        "Python": platform.python_version(),
        "PySide6": PySide6.__version__,
        "Qt": qVersion(),
        # The store reports the SQLCipher it linked; ui never imports sqlcipher3.
        "SQLCipher": sqlcipher_version or "unknown",
    }


class QtAboutDialog(QDialog):
    def __init__(
        self,
        *,
        sqlcipher_version: str | None = None,
        store_status: StoreStatus | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle(QCoreApplication.translate("QtAboutDialog", "About Clinician Console"))
        title = QLabel(QCoreApplication.translate("QtAboutDialog", "Clinician Console"), self)
        title.setObjectName("aboutTitle")
        blurb = QLabel(
            QCoreApplication.translate(
                "QtAboutDialog", "Telemedicine console: visits, encrypted offline notes, FHIR sync."
            ),
            self,
        )
        blurb.setWordWrap(True)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.values: dict[str, str] = versions(sqlcipher_version)
        if store_status is not None:
            if store_status.schema_version is not None:
                self.values["Store schema"] = str(store_status.schema_version)
            self.values["Store key"] = (
                store_status.key_source.value if store_status.key_source else ""
            )
            self.values["Profile store"] = store_status.path
        for name, value in self.values.items():
            label = QLabel(value, self)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            form.addRow(f"{name}:", label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(blurb)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.setMinimumWidth(480)
