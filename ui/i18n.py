"""Translations: Qt's own mechanism for every user-visible text of the desktop.

Widgets write English source text through ``self.tr(...)`` or
``QCoreApplication.translate(context, ...)``; the catalogues are Qt Linguist files
in ``resources/i18n/`` (``clinician_console_<lang>.ts``, compiled to ``.qm`` by
``scripts/i18n`` with ``pyside6-lrelease``). Messages that ``app/`` errors carry as a
message key (STYLE.md §5) are translated here too, in the context ``messages``, from
their English template (``app.errors.MESSAGES``), so one catalogue holds everything.
The command line stays English.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import resources
from typing import Any

from PySide6.QtCore import QCoreApplication, QLocale, QTranslator

from app.errors import MESSAGES, ConsoleError

log = logging.getLogger(__name__)

LANGUAGES = {"en": "English", "es": "Español"}
CATALOGUE = "clinician_console_{lang}.qm"
MESSAGES_CONTEXT = "messages"

_installed: dict[str, QTranslator] = {}


def catalogue_path(lang: str) -> str:
    return str(resources.files("resources").joinpath("i18n", CATALOGUE.format(lang=lang)))


def current_language() -> str:
    return next(iter(_installed), "en")


def set_language(lang: str) -> bool:
    """Use ``lang`` for text shown from now on ("en" removes any catalogue). Widgets
    built before keep their text until they are built again (the next start)."""
    app = QCoreApplication.instance()
    if app is None:
        return False
    for old in list(_installed):
        if old != lang:
            app.removeTranslator(_installed.pop(old))
    if lang == "en" or lang in _installed:
        QLocale.setDefault(QLocale(lang))
        return True
    translator = QTranslator(app)
    if not translator.load(catalogue_path(lang)):
        log.warning("No translation catalogue for language %s", lang)
        return False
    app.installTranslator(translator)
    _installed[lang] = translator
    QLocale.setDefault(QLocale(lang))
    return True


def message(key: str, params: Mapping[str, Any] | None = None, *, _depth: int = 0) -> str:
    """The user's-language text of an app message key, its placeholders filled; its
    ``reason`` (English words from below ui/) translated when known (ui.reasons)."""
    from ui.reasons import translate_params

    template = MESSAGES.get(key, key)
    translated = QCoreApplication.translate(MESSAGES_CONTEXT, template)
    try:  # as ConsoleError.user_message does, so English reads the same
        return translated.format(**translate_params(params or {}, _depth))
    except (KeyError, IndexError, ValueError):
        return translated


def error_text(exc: ConsoleError) -> str:
    return message(exc.message_key, exc.params)


def QT_TRANSLATE_NOOP(context: str, text: str) -> str:  # noqa: N802 (lupdate's marker name)
    """Mark ``text`` for the catalogue without translating it now (a typed stand-in for
    Qt's marker, whose stub returns ``object``); translate it where it is shown."""
    return text


#: The labels media/ and the plugins give the devices they make up (the demo's test
#: pattern, tone, camera and heart sound), marked for the catalogue (context
#: ``DeviceLabels``); device_label() translates them. A real device's own name is in no
#: catalogue and is shown as the OS gives it.
DEVICE_LABELS = (
    QT_TRANSLATE_NOOP("DeviceLabels", "Test pattern"),  # media.devices.camera
    QT_TRANSLATE_NOOP("DeviceLabels", "Test tone"),  # media.devices.audio
    QT_TRANSLATE_NOOP("DeviceLabels", "Test camera (demo)"),  # plugins._camera
    QT_TRANSLATE_NOOP("DeviceLabels", "Synthetic heart sound (demo)"),  # stethoscope plugin
)


def device_label(label: str) -> str:
    """A device's label in the user's language (made-up devices; others as given).
    The plugin panels call ``QCoreApplication.translate("DeviceLabels", label)``."""
    return QCoreApplication.translate("DeviceLabels", label) if label in DEVICE_LABELS else label
