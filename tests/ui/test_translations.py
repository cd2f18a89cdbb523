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


def test_still_view_and_time_in_spanish(spanish: None) -> None:
    """The view a still was taken from (stored in English, app.image_metadata.VIEWS) and
    when, in the viewer's metadata panel; the capture panel's view list."""
    from dataclasses import replace

    from app.image_metadata import VIEWS
    from ui.image_viewer import metadata_rows, view_text

    still = _hand_still()
    meta = {**still.metadata, "view": "close-up", "captured_at": "2025-03-14T10:00:00+00:00"}
    rows = dict(metadata_rows(replace(still, metadata=meta)))
    assert rows["Vista"] == "primer plano"
    assert "mar 2025" in rows["Tomada"] and "Mar" not in rows["Tomada"]
    assert view_text("overview") == "vista general" and view_text("odd") == "odd"
    assert all(view_text(v) for v in VIEWS)


def test_image_capture_panel_speaks_spanish(spanish: None, qtbot, tmp_path: Path) -> None:
    """The exam-camera panel (a plugin, outside ui/): the views in Spanish, and an error
    from the plugin API through its message key (no camera capability granted here)."""
    from clinician_console_api import PluginContext
    from plugins.image_capture._qt import QtImageCapturePanel
    from plugins.image_capture.plugin import CaptureModel

    ctx = PluginContext(
        "clinician-console.image-capture",
        settings={},
        data_root=tmp_path,
        granted=frozenset({"ui.panel"}),
        providers={},
    )
    panel = QtImageCapturePanel(CaptureModel(ctx))
    qtbot.addWidget(panel)
    views = [panel.view_combo.itemText(i) for i in range(panel.view_combo.count())]
    assert "primer plano" in views and "close-up" not in views
    assert panel.view_combo.findData("close-up") >= 0  # stored in English
    status = panel.status_label.text()
    assert status and not re.search(r"\b(the|is|not)\b", status), status


def test_dates_and_ages_in_spanish(spanish: None) -> None:
    from datetime import date

    from ui.format import age_from, day_and_clock, short_date

    assert short_date("1958-03-14") == "14 mar 1958"
    assert age_from("1958-03-14", today=date(2026, 12, 6)) == "68 a"
    day = day_and_clock("2026-01-05T10:00:00", today=date(2026, 12, 6))
    assert day.startswith("lun 05 ene") and day.endswith("10:00")


def test_dates_and_ages_in_english(qapp: QApplication) -> None:
    from datetime import date

    from ui.format import age_from, short_date

    assert i18n.set_language("en")
    assert short_date("1958-03-14") == "14 Mar 1958"
    assert age_from("1958-03-14", today=date(2026, 12, 6)) == "68 y"


def test_visit_end_reasons_and_devices_in_spanish(spanish: None, qtbot) -> None:
    """Why a visit ended is a message key from media/ (app.visit.EndReason): the window
    shows it in Spanish, the command line keeps the English; the made-up devices' labels
    and the self-view's name are Spanish too."""
    from app.errors import VisitAuthError
    from app.visit import EndReason, VisitState
    from tests.ui._visit_script import make_visit
    from ui.visit.qt_visit_window import QtVisitWindow

    visit, _controls = make_visit()
    window = QtVisitWindow(visit)
    qtbot.addWidget(window)
    visit._set_state(VisitState.ENDED, EndReason("visit.end.removed"))
    assert window.status_text.text().startswith("El anfitrión lo retiró de la visita.")
    assert visit.end_reason == "The host removed you from the visit."
    visit._set_state(VisitState.ENDED, EndReason.of(VisitAuthError(reason="wrong PIN")))
    assert window.status_text.text().startswith("El servidor de video")
    assert "wrong PIN" in visit.end_reason
    assert window.self_view.name == "Usted"
    assert i18n.device_label("Test pattern") == "Patrón de prueba"
    assert i18n.device_label("USB exam camera") == "USB exam camera"


def test_stethoscope_panel_states_in_spanish(spanish: None, qtbot) -> None:
    """The model (Qt-free) keeps its words in English; the panel shows them in Spanish,
    a device failure through its message key."""
    from app.errors import DeviceUnavailableError
    from plugins.stethoscope import plugin
    from plugins.stethoscope._qt import QtStethoscopePanel, error_text, model_text

    for text in (plugin.DEVICE_STOPPED, plugin.PLAYBACK_UNAVAILABLE, plugin.UNEXPECTED):
        assert model_text(text) != text, text
    assert error_text(RuntimeError("x")).startswith("El estetoscopio no pudo")
    lost = DeviceUnavailableError(device="hw:1", reason="device stopped")
    assert error_text(lost).startswith("El dispositivo hw:1 no está disponible")
    assert "(el dispositivo se detuvo)" in error_text(lost)
    panel = QtStethoscopePanel(plugin.StethoscopeModel(sample_rate_hz=48_000))
    qtbot.addWidget(panel)
    items = [panel.device_combo.itemText(i) for i in range(panel.device_combo.count())]
    assert "Sonido cardíaco sintético (demostración)" in items
    panel.model._device_lost(None)
    panel.tick()
    assert panel.status_label.text() == "El estetoscopio dejó de enviar sonido (¿desconectado?)."
    panel.model._device_lost(lost)
    panel.tick()
    assert panel.status_label.text().startswith("El dispositivo hw:1 no está disponible")
    panel.model.shutdown()


def test_sync_words_in_spanish(spanish: None) -> None:
    from datetime import date

    from app.errors import SyncAuthError
    from app.sync import FailedRecord, RecordKind, SyncState, SyncStatus, _message
    from ui.sync_details import failure_text
    from ui.sync_status import state_text, status_message, synced_text

    assert state_text(SyncStatus(SyncState.SYNCING, progress_done=3, progress_total=8)) == (
        "Sincronizando 3 de 8…"
    )
    assert state_text(SyncStatus(SyncState.OFFLINE), 12.2) == "Sin conexión — reintento en 12 s"
    assert state_text(SyncStatus(SyncState.IDLE)) == "Aún sin sincronizar"
    assert synced_text("2026-01-05T10:00:00", today=date(2026, 1, 5)) == "Sincronizado 10:00"
    refused = SyncStatus(SyncState.ERROR, **_message("sync.refused_count", count=2))
    assert refused.message == "The server refused 2 record(s)."
    assert status_message(refused) == "El servidor rechazó 2 registro(s)."
    auth = SyncStatus(SyncState.ERROR, **_message(SyncAuthError(reason="401")))
    shown = state_text(auth)
    assert shown.startswith("Error de sincronización: ") and "The" not in shown, shown
    note = RecordKind.NOTE
    assert "3 intentos" in failure_text(FailedRecord("note", "n1", note, "X", "why", 3))
    assert "1 intento" in failure_text(FailedRecord("note", "n1", note, "X", "why", 1))


# What a sync details row is, in English: none may start a row in Spanish.
ENGLISH_KINDS = re.compile(
    r"^(Patient|Visit|Note|Signature|Attachment|Coding|Annotations|Consent|Escalation"
    r"|On-call|E-consult|PACS still|PACS · sign-in|Server record|Record)\b"
)


def test_every_record_kind_has_a_spanish_name(spanish: None) -> None:
    """Each kind the sync overview can name (app.sync.RecordKind) has a label in the
    window's table, and it is Spanish (not the English name the command line uses)."""
    from app.sync import RECORD_KIND_NAMES, RecordKind
    from ui.sync_details import KIND_LABELS, kind_text

    assert set(KIND_LABELS) == set(RecordKind) == set(RECORD_KIND_NAMES)
    for kind in RecordKind:
        assert kind_text(kind) != RECORD_KIND_NAMES[kind], kind
        assert not ENGLISH_KINDS.match(kind_text(kind)), kind


def test_sync_details_rows_from_the_store_speak_spanish(spanish: None, aio, tmp_path) -> None:
    """Refused rows of every kind the outbox holds, an unknown kind, a conflict and
    server resources set aside, as the store's sync queue lists them: each row names
    its kind by code (none left as OTHER but the unknown one) and reads Spanish."""
    from app.sync import FailureNote, RecordKind
    from storage import repository
    from storage.sync import queue
    from storage.sync.adapter import StoreSyncQueue
    from tests.ui.conftest import open_store
    from tests.ui.screen_tour import QUARANTINED
    from ui.sync_details import conflict_text, failure_text

    outbox_kinds = {
        "patient": RecordKind.PATIENT,
        "encounter": RecordKind.VISIT,
        "note": RecordKind.NOTE,
        "provenance": RecordKind.SIGNATURE,
        "attachment": RecordKind.ATTACHMENT,
        "charge_item": RecordKind.CODING,
        "annotation": RecordKind.ANNOTATIONS,
        "consent": RecordKind.CONSENT,
        "escalation": RecordKind.ESCALATION,
        "oncall_notice": RecordKind.ONCALL_NOTICE,
        "something_newer": RecordKind.OTHER,
    }
    reasons = [
        "changed on the server by someone else",
        "the server asked to retry later",
        "waiting for its encounter to reach the server",
        "needs a decision: several patients on the record store have this MRN",
        "the server's copy is unusable (meta.lastUpdated is not an instant)",
        "The record store refused the request (HTTP 422, invariant).",
        "the request timed out",
        "network error (ReadError)",
        "HTTP 503: the service is unavailable",
        "The record store cannot be reached right now (could not connect). The console "
        "keeps everything and will try again.",
        "the request timed out",
    ]

    def seed(conn) -> None:
        for i, entity_type in enumerate(outbox_kinds):
            repository.outbox_put(conn, entity_type, f"id-{i}", "create")
            row = conn.execute(
                "SELECT seq, entity_type, entity_id, op, revision, attempts FROM outbox "
                "WHERE entity_type = ?",
                (entity_type,),
            ).fetchone()
            queue.mark_failed(conn, queue.OutboxItem(*row), reasons[i])
        queue.record_conflict(conn, "test", "annotation", "still-1", "3", "")
        for resource, rule in QUARANTINED:
            queue.quarantine(conn, resource, rule)

    async def overview():
        store = await open_store(tmp_path / "profile")
        try:
            await store.transact(seed)
            return await StoreSyncQueue(store).overview()
        finally:
            await store.close()

    shown = aio.run(overview(), timeout=60)
    kinds = {f.entity_type: f.kind for f in shown.failures if f.entity_type}
    assert kinds == outbox_kinds
    set_aside = [f for f in shown.failures if f.kind is RecordKind.SERVER_RECORD]
    assert [f.whose for f in set_aside] == [resource for resource, _ in QUARANTINED]
    assert {f.note for f in set_aside} == {FailureNote.SET_ASIDE}
    [conflict] = shown.open_conflicts
    assert conflict.kind is RecordKind.ANNOTATIONS
    texts = [failure_text(f) for f in shown.failures] + [conflict_text(conflict)]
    english = [t for t in texts if ENGLISH.search(t) or ENGLISH_KINDS.match(t)]
    assert not english, "\n".join(english)
    assert "Firma" in texts[3] and "apartado: estructura inesperada (KeyError)" in texts[-2]


def test_error_reasons_speak_spanish(spanish: None) -> None:
    """The English ``reason`` inside an app message (the record store, a device, the
    media server, the keyring, the store) is shown translated; a reason nobody knows is
    kept as it is, and no reason's text makes the rendering fail."""
    from app.errors import (
        DeviceUnavailableError,
        SigningKeyError,
        StoreDamagedError,
        SyncAuthError,
        SyncRetryableError,
        VisitConnectError,
    )
    from ui.errors import user_text
    from ui.reasons import reason_text

    shown = {
        "network": user_text(SyncRetryableError(reason="network error (ConnectError)")),
        "timeout": user_text(SyncRetryableError(reason="the request timed out")),
        "auth": user_text(
            SyncAuthError(reason="HTTP 401: not signed in, or the credentials were refused")
        ),
        "device": user_text(DeviceUnavailableError(device="hw:1", reason="device stopped")),
        "visit": user_text(VisitConnectError(reason="the media server did not answer")),
        "keyring": user_text(SigningKeyError(reason="the system keyring is not available")),
        "store": user_text(StoreDamagedError(path="store.db", reason="the file is truncated")),
    }
    english = {k: t for k, t in shown.items() if ENGLISH.search(t)}
    assert not english, english
    assert "(error de red (ConnectError))" in shown["network"]
    assert "(el dispositivo se detuvo)" in shown["device"]
    assert "(el servidor de video no respondió)" in shown["visit"]
    odd = "a reason from somewhere else {x} %1 %2 ()"
    assert odd in user_text(SyncRetryableError(reason=odd))
    for text in ("", "%", "{", "}", "%9", "network error ()", "e-consult : ", "(", odd * 50):
        assert isinstance(reason_text(text), str)
    assert reason_text("e-consult request: needs a decision: zzz") == (
        "interconsulta, solicitud: requiere una decisión: zzz"
    )


def test_every_known_reason_is_translated(spanish: None) -> None:
    from PySide6.QtCore import QCoreApplication

    from ui.reasons import CONTEXT, PATTERNS, REASONS

    for source in [*REASONS, *(template for _p, template in PATTERNS)]:
        assert QCoreApplication.translate(CONTEXT, source) != source, source


def test_error_reasons_in_english_are_unchanged(qapp: QApplication) -> None:
    from app.errors import SyncRejectedError, SyncRetryableError
    from app.sync import FailedRecord, FailureNote, RecordKind
    from ui.errors import user_text
    from ui.sync_details import failure_text

    assert i18n.set_language("en")
    error = SyncRetryableError(reason="network error (ConnectError)")
    assert user_text(error) == error.user_message()
    refused = str(SyncRejectedError(status=422, issue_code="invariant"))
    row = FailedRecord("note", "n1", RecordKind.NOTE, "X", f"e-consult answer: {refused}", 2)
    assert failure_text(row) == f"{row.label}  ·  2 attempts\n{row.reason}"
    pacs = FailedRecord(
        "pacs", "a1", RecordKind.PACS_STILL, "X", "HTTP 400", 6, FailureNote.PACS_GAVE_UP
    )
    assert failure_text(pacs) == f"PACS still · X  ·  6 attempts\n{pacs.reason}"


def test_lock_and_startup_words_in_spanish(spanish: None) -> None:
    from app.errors import DiskFullError
    from ui.main_window import idle_reason
    from ui.startup import what_to_do

    assert idle_reason(60_000) == "La consola se bloqueó tras 1 minuto sin actividad."
    assert idle_reason(600_000) == "La consola se bloqueó tras 10 minutos sin actividad."
    assert what_to_do(DiskFullError()).startswith("Libere espacio")


# Words that are English and never Spanish, and the month and weekday names strftime
# writes; whole words only. A screen's data (demo patients, their visit reasons, the OS's
# device names) is English on purpose and is taken out first.
ENGLISH = re.compile(
    r"(?i:\b(the|and|you|your|is|are|was|has|have|not|this|that|with|from|of|to|on|at|by"
    r"|synthetic|test|synced|syncing|online|offline|today|edited|attempts?|close-up"
    r"|overview|device|stopped|request|timed)\b)"
    r"|\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b|\d y\b"
)  # Spanish writes its months and weekdays in small letters ("14 mar 1958")


def _screen_data() -> list[str]:
    from app.demo import _PATIENTS
    from tests.ui._visit_script import DEVICES, INVITE, LOCAL, PATIENT

    data = [reason for *_, reason in _PATIENTS]
    data += [f"{family}, {given}" for family, given, *_ in _PATIENTS]
    data += [d.label for d in DEVICES if d.device_id != "testsrc"]  # the OS's own names
    data += [INVITE.page_url, LOCAL.display, PATIENT.display, "Alex Moreno", "English"]
    return sorted(data, key=len, reverse=True)


def test_spanish_screens_show_no_english(tmp_path: Path) -> None:
    """The screen tour in Spanish (main window, visit window waiting / with people waiting
    / in call / ended, stethoscope panel, Settings with the made-up devices, Join,
    History, Sync details with refused rows, a conflict and resources set aside, the
    notices of a device's and the media server's errors): no English word on any screen.
    Run in its own process, as the console runs: the language is set before any window
    module is imported."""
    import json
    import os

    texts_file = tmp_path / "texts.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "ui" / "screen_tour.py"),
            *("--lang", "es", "--out", str(tmp_path), "--texts", str(texts_file)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    screens = json.loads(texts_file.read_text())
    assert {
        *("main", "visit-waiting-people", "visit-ended", "stethoscope", "settings"),
        *("sync-details", "notice-device", "notice-visit"),
    } <= set(screens)
    rows = [t for t in screens["sync-details"] if "·" in t]
    assert len(rows) >= 6, rows  # refused rows, resources set aside, the conflict
    assert sum(len(shown) for shown in screens.values()) > 200
    data = _screen_data()
    english = []
    for screen, shown in screens.items():
        for text in shown:
            bare = text
            for datum in data:
                bare = bare.replace(datum, "")
            if ENGLISH.search(bare) or ENGLISH_KINDS.match(bare):
                english.append(f"{screen}: {text!r}")
    assert not english, "\n".join(sorted(set(english)))
