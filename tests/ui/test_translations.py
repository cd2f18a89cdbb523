"""Translations: one Qt catalogue for the desktop, complete in Spanish, and in use."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app.records import Attachment
from ui import i18n

ROOT = Path(__file__).resolve().parents[2]
TS = ROOT / "resources" / "i18n" / "clinician_console_es.ts"


def test_lupdate_finds_no_new_or_unfinished_string() -> None:
    """pyside6-lupdate over ui/ and the stethoscope panel: every string is in the
    Spanish catalogue and translated, and the committed .qm is compiled from it."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "i18n.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "es: 0 unfinished" in result.stdout


def _messages() -> list[tuple[str, str]]:
    """(source, translation) pairs; a plural message gives one pair per form."""
    root = ET.parse(TS).getroot()
    pairs = []
    for m in root.iter("message"):
        source = m.findtext("source") or ""
        forms = [f.text or "" for f in m.iter("numerusform")]
        pairs.extend((source, form) for form in forms or [m.findtext("translation") or ""])
    return pairs


def test_translations_keep_placeholders_and_mnemonics() -> None:
    pairs = _messages()
    assert len(pairs) > 300
    for source, translation in pairs:
        assert translation.strip(), source
        for pattern in (r"%\d", r"\{\w*\}"):
            assert sorted(re.findall(pattern, source)) == sorted(
                re.findall(pattern, translation)
            ), source
        assert source.count("&") == translation.count("&"), source


def test_app_message_keys_are_in_the_catalogue() -> None:
    import importlib
    import pkgutil

    import app
    from app.errors import MESSAGES

    # Every app module, as the console imports them: some add their own keys (escalation).
    for module in pkgutil.walk_packages(app.__path__, "app."):
        importlib.import_module(module.name)

    sources = {source for source, _ in _messages()}
    assert set(MESSAGES.values()) <= sources


def test_coding_reasons_are_in_the_catalogue() -> None:
    from app.coding import REASONS

    sources = {source for source, _ in _messages()}
    assert set(REASONS.values()) <= sources


def test_plural_messages_have_both_spanish_forms() -> None:
    root = ET.parse(TS).getroot()
    plural = [m for m in root.iter("message") if "%n" in (m.findtext("source") or "")]
    assert plural
    for m in plural:
        assert m.get("numerus") == "yes", m.findtext("source")
        forms = [f.text or "" for f in m.iter("numerusform")]
        assert len(forms) == 2 and all("%n" in f for f in forms), m.findtext("source")


@pytest.fixture
def spanish(qapp: QApplication):
    assert i18n.set_language("es")
    yield
    i18n.set_language("en")


def test_widgets_and_app_messages_speak_spanish(spanish, qtbot) -> None:
    from app.errors import VisitConnectError
    from ui.errors import user_text
    from ui.visit.join_dialog import QtJoinDialog

    dialog = QtJoinDialog()
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "Unirse a una visita"
    assert dialog.join_button().text() == "&Unirse"
    text = user_text(VisitConnectError(reason="timeout"))
    assert text.startswith("No se pudo contactar con el servidor de video (timeout)")


def test_english_is_the_source_and_needs_no_catalogue(qapp: QApplication) -> None:
    from app.errors import VisitConnectError
    from ui.errors import user_text

    assert i18n.set_language("en")
    error = VisitConnectError(reason="timeout")
    assert user_text(error) == error.user_message()


def test_new_screens_speak_spanish(spanish, qtbot) -> None:
    """The plural count, a coding reason (app/ text through the catalogue) and the
    exam-camera panel (a plugin module outside ui/) in Spanish."""
    from app.coding import Reason
    from plugins.image_capture._qt import QtStillView
    from ui.coding_panel import reason_text
    from ui.worklist import documents_count

    assert documents_count(1) == "1 documento"
    assert documents_count(3) == "3 documentos"
    assert reason_text(Reason("none")).startswith("Sin nivel de E/M")
    assert reason_text(Reason("pos", {"pos": "10", "where": "at home"})) == (
        "Lugar de servicio 10: el paciente está en su domicilio."
    )
    assert reason_text(Reason("mdm", {"mdm": "High", "code": "99215", "patient": "new"})) == (
        "Una toma de decisiones médicas de complejidad alta respalda 99215 (paciente nuevo)."
    )
    view = QtStillView()
    qtbot.addWidget(view)
    assert view.placeholder == "Ninguna cámara abierta"


def _hand_still() -> Attachment:
    from app.records import AttachmentKind

    return Attachment(
        id="a1",
        encounter_id="e1",
        kind=AttachmentKind.IMAGE,
        content_type="image/jpeg",
        title="",
        created_at="2026-01-05T10:00:00+00:00",
        size_bytes=1,
        sha256="0" * 64,
        metadata={"body_site": "85562004", "laterality": "left", "width_px": 8, "height_px": 6},
    )


def test_still_review_names_the_body_site_and_side_in_spanish(spanish: None) -> None:
    """The body-site names (app.image_metadata.BODY_SITES, marked in ui.image_viewer) and
    the side are translated in the viewer's caption and metadata panel."""
    from ui.image_viewer import caption, metadata_rows

    still = _hand_still()
    assert caption(still) == "Mano · Izquierdo · 2026-01-05"
    rows = dict(metadata_rows(still))
    assert rows["Zona anatómica"] == "Mano"
    assert rows["Lado"] == "Izquierdo"


def test_still_review_in_english_keeps_the_snomed_display(qapp: QApplication) -> None:
    from ui.image_viewer import caption

    assert i18n.set_language("en")
    assert caption(_hand_still()) == "Hand structure · Left · 2026-01-05"
