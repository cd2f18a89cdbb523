"""The GUI's composition root: the one place that wires the concrete store to the widgets.

``app.cli`` calls :func:`run_gui`. PySide6, qasync, ``ui`` and ``storage`` are
imported inside functions so that ``import app.main`` works (and the non-UI
test run passes) on a machine without Qt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.credentials import CredentialKind, CredentialRecord, Credentials
from app.errors import ConsoleError
from app.events import ConsoleEvents
from app.identity import Identity, IdentityCredential
from app.records import KeySource
from app.services import AttachmentsService, NotesService
from app.session import Session
from app.settings import (
    DeviceSettings,
    DisplaySettings,
    EffectiveSettings,
    MediaServerSettings,
    NotesSettings,
    PacsSettings,
    PluginSettings,
    RecordStoreSettings,
    load_settings,
    resolve_key_source,
)

if TYPE_CHECKING:
    from app.sync import SyncService
    from app.visit import Visit
    from media.visit.session import VisitSession
    from plugins.host import PluginHost
    from storage.store import EncryptedStore
    from ui.main_window import QtMainWindow
    from ui.startup import LockableStore

log = logging.getLogger(__name__)
EXIT_OK = 0
EXIT_FAILURE = 1


def run_gui(
    profile: Path,
    *,
    demo: bool,
    policy_path: Path | None,
    key_source: KeySource | None = None,
    idle_lock_ms: int | None = None,
) -> int:
    """Run the desktop console until its window closes; the process exit code."""
    # qasync picks the first Qt binding it finds unless told (STYLE.md §3).
    os.environ["QT_API"] = "pyside6"
    from PySide6.QtWidgets import QApplication

    from ui import theme
    from ui.errors import ExceptionHandler
    from ui.event_loop import ConsoleEventLoop

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Clinician Console")
    app.setApplicationVersion(_version())
    app.setDesktopFileName("clinician-console")
    # The window decides when to quit (after autosave is flushed); Qt must not.
    app.setQuitOnLastWindowClosed(False)
    # Cycles of Qt objects are freed on this thread only (ui/gc_guard.py says why).
    from ui.gc_guard import GuiThreadCollector

    collector = GuiThreadCollector(app)
    # Language and text size before any window module is imported: their texts are
    # translated when they are built (Settings > Display).
    display = _display_settings(profile, policy_path)
    from ui import i18n

    i18n.set_language(display.language)
    theme.apply(app, display.text_size)

    holder: dict[str, QtMainWindow] = {}
    handler = ExceptionHandler(lambda: holder["window"].presenter if "window" in holder else None)
    handler.install()
    try:
        # asyncio.run(main(), loop_factory=...) needs Python 3.12; Runner is the 3.11 spelling.
        with asyncio.Runner(loop_factory=ConsoleEventLoop) as runner:
            runner.get_loop().set_exception_handler(handler.on_loop_exception)
            return runner.run(
                _main(
                    profile,
                    demo=demo,
                    policy_path=policy_path,
                    key_source=key_source,
                    idle_lock_ms=idle_lock_ms,
                    holder=holder,
                )
            )
    finally:
        handler.uninstall()
        collector.stop()


def _version() -> str:
    from app import __version__

    return __version__


def _sqlcipher_version() -> str | None:
    from storage.database import sqlcipher_version

    try:
        return sqlcipher_version()
    except Exception:  # the About box must open even if the driver cannot
        log.warning("SQLCipher version unavailable", exc_info=True)
        return None


def _play_wav(data: bytes) -> str:
    """Play a stored recording on the default output; "" or a one-line reason."""
    try:
        import sounddevice as sd

        from media.steth.recording import decode_wav

        clip = decode_wav(data)
        sd.play(clip.samples, clip.sample_rate_hz)
    except Exception as exc:  # no PortAudio, no output device, a damaged file
        log.warning("Playback failed: %s", type(exc).__name__)  # the library's name: for IT
        return "Playback is not available: check that a speaker or headset is connected."
    return ""


def _list_devices() -> list[Any]:
    """Cameras, microphones and speakers for Settings > Devices (on demand: probes)."""
    from media.devices import audio, camera

    found: list[Any] = []
    for lister in (
        camera.list_cameras,
        audio.list_microphones,
        audio.list_speakers,
        audio.list_stethoscope_inputs,
    ):
        try:
            found.extend(lister())
        except Exception as exc:  # one broken device class must not hide the others
            log.warning("Listing devices failed: %s", type(exc).__name__)
    return found


def _device_checker() -> Any:
    """Settings > Devices' per-device tests (app.device_check.DeviceChecker)."""
    from media.devices.check import DeviceCheck

    return DeviceCheck()


def _display_settings(profile: Path, policy_path: Path | None) -> DisplaySettings:
    try:
        return load_settings(profile, policy_path).settings.display
    except ConsoleError:
        return DisplaySettings()  # the settings error is shown on the start-up screen


async def _main(
    profile: Path,
    *,
    demo: bool,
    policy_path: Path | None,
    key_source: KeySource | None,
    idle_lock_ms: int | None,
    holder: dict[str, QtMainWindow],
) -> int:
    from ui.main_window import QtMainWindow

    events = ConsoleEvents()
    settings: EffectiveSettings | None = None
    settings_error: ConsoleError | None = None
    try:
        settings = load_settings(profile, policy_path)
    except ConsoleError as exc:
        settings_error = exc
    if idle_lock_ms is None and settings is not None:
        idle_lock_ms = settings.settings.security.idle_lock_minutes * 60_000
    if settings is not None:
        try:
            key_source = resolve_key_source(settings, key_source)
        except ConsoleError as exc:  # a flag against the policy: the error screen says so
            settings_error = exc

    from ui import geometry

    geometry.set_state_file(profile / "window-state.ini")  # before the first window opens
    identity: Identity | None = None
    if settings is not None and settings_error is None and settings.settings.identity.issuer:
        try:  # [identity] issuer set: clinician sign-in replaces the console PIN
            from app.commands.identity import build_identity

            identity = build_identity(settings)
        except ConsoleError as exc:
            settings_error = exc

    window = QtMainWindow(events, idle_lock_ms=idle_lock_ms, sqlcipher_version=_sqlcipher_version)
    window.set_settings_location(profile, policy_path)  # File > Settings
    window.set_device_lister(_list_devices)  # Settings > Devices
    window.set_device_checker(_device_checker())  # Settings > Devices > Test
    holder["window"] = window
    try:
        record_store = settings.settings.record_store if settings is not None else None
        return await _run_window(
            window,
            profile,
            events,
            demo,
            settings_error,
            key_source,
            record_store,
            plugin_settings=settings.settings.plugins if settings is not None else None,
            device_settings=settings.settings.devices if settings is not None else None,
            media_server=settings.settings.media_server if settings is not None else None,
            notes_settings=settings.settings.notes if settings is not None else None,
            insecure_hosts=(
                tuple(settings.settings.security.allow_insecure_hosts)
                if settings is not None
                else ()
            ),
            policy_path=policy_path,
            identity=identity,
            pacs=settings.settings.pacs if settings is not None else None,
        )
    finally:
        holder.pop("window", None)
        window.deleteLater()  # freed while the loop still runs, on the GUI thread


async def _run_window(
    window: QtMainWindow,
    profile: Path,
    events: ConsoleEvents,
    demo: bool,
    settings_error: ConsoleError | None,
    key_source: KeySource | None,
    record_store: RecordStoreSettings | None = None,
    *,
    plugin_settings: PluginSettings | None = None,
    media_server: MediaServerSettings | None = None,
    notes_settings: NotesSettings | None = None,
    insecure_hosts: tuple[str, ...] = (),
    policy_path: Path | None = None,
    identity: Identity | None = None,
    device_settings: DeviceSettings | None = None,
    pacs: PacsSettings | None = None,
) -> int:
    from storage.store import EncryptedStore, store_exists

    closed = asyncio.Event()
    window.closed.connect(closed.set)
    _stop_on_signals(window)
    window.show()

    if settings_error is not None:
        window.startup.show_error(settings_error)
        await closed.wait()
        return EXIT_FAILURE

    demo_profile = demo and not (record_store is not None and record_store.url)
    if identity is not None:
        from app.commands.identity import open_system_browser

        # Signed in before the store is opened, like the PIN: the keyring alone opens nothing.
        if not await window.startup.ask_sign_in(identity, open_system_browser):
            await closed.wait()
            return EXIT_OK
        identity.take_fresh_sign_in()  # spent on this start; each unlock needs its own
    try:
        credentials = None if identity is not None else _existing_credentials(profile)
        # Asked before the store is even opened: the keyring alone opens nothing.
        if (
            credentials is not None
            and not credentials.needs_setup
            and not await window.startup.ask_credential(credentials)
        ):
            await closed.wait()
            return EXIT_OK
    except ConsoleError as exc:
        window.startup.show_error(exc)
        await closed.wait()
        return EXIT_FAILURE
    throttle = _passphrase_throttle(profile)

    async def open_store(source: KeySource | None, passphrase: str | None) -> LockableStore:
        if passphrase is None or throttle is None:
            return await EncryptedStore.open(
                profile, passphrase=passphrase, key_source=source, actor=_actor(identity)
            )
        return await _open_throttled(window, throttle, profile, source, passphrase, identity)

    store = await window.startup.obtain_store(
        open_store, key_source=key_source, new_store=not store_exists(profile)
    )
    if store is None:
        # Either the user quit at the prompt (the window is closing) or the error
        # screen is up: it stays until the user has read it and pressed Quit.
        await closed.wait()
        return EXIT_FAILURE if window.startup.error is not None else EXIT_OK
    try:
        session_credentials: Credentials | IdentityCredential | None
        if identity is not None and store.status.key_source is KeySource.KEYRING:
            session_credentials = IdentityCredential(identity)
        else:  # a passphrase store keeps its passphrase; the sign-in names the actor
            session_credentials = await _session_credentials(
                window, profile, store, credentials, demo_profile
            )
    except ConsoleError as exc:
        await store.close()
        window.startup.show_error(exc)
        await closed.wait()
        return EXIT_FAILURE
    if session_credentials is None:  # quit at "choose a PIN"
        await store.close()
        await closed.wait()
        return EXIT_OK
    session = Session(store, session_credentials)
    if identity is not None:
        _wire_identity(identity, session, store)

    # Started in this order, stopped in reverse (STYLE.md §3): the store
    # closes last, after the window has flushed autosave into it.
    async with contextlib.AsyncExitStack() as services:
        services.push_async_callback(store.close)
        services.push_async_callback(window.shutdown)
        if demo:
            from app.demo import seed_demo

            added = await seed_demo(store)
            log.info("Demo data: %d visits added", added)
        notes = NotesService(store, events)
        try:
            await window.attach(notes, store, session=session)
            if session_credentials.kind is CredentialKind.NONE:
                window.notice.show_message(DEMO_NO_PIN_NOTICE, "info")
        except ConsoleError as exc:
            # e.g. the worklist could not be read: say so and keep the window usable.
            window.presenter.present(exc, context="Load worklist")
        if identity is not None:
            from app.commands.identity import open_system_browser

            if isinstance(session_credentials, IdentityCredential):
                # Lock screen signs in; Switch clinician. A passphrase-mode store keeps
                # its passphrase at unlock, so there the clinician of the start stays.
                window.set_identity(identity, open_system_browser)
            _keep_tokens_fresh(identity, services)
        attachments = AttachmentsService(store, events)
        window.set_attachments(attachments, _play_wav)  # the encounter's recordings
        # The opener above only makes EncryptedStores; the window sees them as RecordStore.
        visit_wrap: Callable[[Any], Any] | None = None
        if isinstance(store, EncryptedStore):
            sync = await _start_sync(window, store, events, record_store, services, pacs)
            visit_wrap = _start_signing(
                window, store, events, record_store, notes_settings, profile, identity
            )
            _install_coding(window, store, profile, policy_path, identity)
            _install_review(window, store, events)
            _install_econsult(window, store, attachments, record_store, identity, sync)
        # Plugins (and the numpy/scipy stacks they pull in) load after the worklist is
        # on screen: the clinician can pick a visit while they activate.
        later = asyncio.get_running_loop().create_task(
            _start_plugins_and_visits(
                window,
                attachments,
                profile,
                plugin_settings,
                media_server,
                demo,
                insecure_hosts,
                device_settings=device_settings,
                visit_wrap=visit_wrap,
                policy_path=policy_path,
            )
        )
        services.push_async_callback(_finish_background, later)
        _lock_on_os_signals(window, services)
        await closed.wait()
    return EXIT_OK


def _install_coding(
    window: QtMainWindow,
    store: Any,
    profile: Path,
    policy_path: Path | None,
    identity: Identity | None = None,
) -> None:
    """Coding panel, emergency plan, Escalate, licensure warning (docs/coding.md)."""
    from app.commands.coding import build_coding_services
    from ui.coding_hooks import install_coding

    try:
        hooks = install_coding(window, build_coding_services(store, profile, policy_path, identity))
    except ConsoleError as exc:  # e.g. a malformed payer table: say so, the rest works
        window.presenter.present(exc, context="Coding")
        return
    hooks.stated_location = stated_location_reader(store)


def stated_location_reader(store: Any) -> Callable[[str], Awaitable[str]]:
    """The patient's stated location recorded by the start-of-visit dialog, for the
    emergency plan (one question, asked once)."""
    from storage.consents import StoreVisitStart

    facts = StoreVisitStart(store)

    async def where(encounter_id: str) -> str:
        context, _consents = await facts.visit_facts(encounter_id)
        return context.stated_location if context is not None else ""

    return where


def _start_signing(
    window: QtMainWindow,
    store: Any,
    events: ConsoleEvents,
    record_store: RecordStoreSettings | None,
    notes_settings: NotesSettings | None,
    profile: Path,
    identity: Identity | None = None,
) -> Callable[[Any], Any]:
    """Sign / Add addendum in the editor, signing badges in the worklist (ui/note_signing.py).
    The signer is the configured practitioner or the OS account until sign-in provides one.
    Returns what wraps a visit factory with the start-of-visit dialog (ui/visit_start.py)."""
    from datetime import timedelta

    from app.notes_signing import NoteSigning, signer_from_clinician, signer_from_settings
    from storage.signatures import StoreSignatures
    from storage.signing import KeyringSigningKeys
    from ui.note_signing import install_signing

    practitioner = record_store.practitioner if record_store is not None else ""
    signer = (
        signer_from_clinician(identity, practitioner)
        if identity is not None  # each clinician signs as themselves (Provenance.agent)
        else lambda: signer_from_settings(practitioner)
    )
    signing = NoteSigning(StoreSignatures(store), KeyringSigningKeys(), signer, events)
    notes = notes_settings or NotesSettings()
    install_signing(window, signing, timedelta(hours=notes.unsigned_flag_hours))

    from app.settings import policy_location
    from app.templates import load_templates, template_folders
    from app.visit_start import VisitStart
    from storage.consents import StoreVisitStart
    from ui.visit_start import with_visit_start

    use = VisitStart(
        StoreVisitStart(store),
        load_templates(template_folders(profile, policy_location())),
        actor=store.actor,
        require_consent=notes.require_telehealth_consent,
        events=events,
    )

    def wrap(factory: Any) -> Any:
        if factory is None:
            return None
        return with_visit_start(
            window, use, factory, store.list_attachments, clinician=lambda: signer().display
        )

    return wrap


def _install_review(window: QtMainWindow, store: EncryptedStore, events: ConsoleEvents) -> None:
    """Review > Stills of this visit: viewer, compare, annotations (docs/images.md)."""
    from app.annotations import AnnotationsService
    from storage.annotations import StoreAnnotations
    from ui.review_hooks import install_review

    install_review(
        window, AttachmentsService(store, events), AnnotationsService(StoreAnnotations(store))
    )


def _install_econsult(
    window: QtMainWindow,
    store: Any,
    attachments: AttachmentsService,
    record_store: RecordStoreSettings | None,
    identity: Identity | None,
    sync: SyncService,
) -> None:
    """E-consult menu and queue (docs/econsult.md): "me" is the signed-in clinician,
    else ``[record_store] practitioner``; sync pulls the Tasks of that same "me"."""
    from app.econsult import EconsultService
    from storage.econsult import StoreEconsult
    from ui.econsult_queue import install_econsult

    practitioner = record_store.practitioner if record_store is not None else ""
    service = EconsultService(
        StoreEconsult(store), identity, practitioner, store.actor, attachments.events
    )
    install_econsult(window, service, attachments)
    engine = getattr(sync.engine, "engine", None)  # storage.sync.adapter.FhirSyncEngine
    if engine is not None:
        engine.econsult_owner = service.me


async def _start_plugins_and_visits(
    window: QtMainWindow,
    attachments: AttachmentsService,
    profile: Path,
    plugin_settings: PluginSettings | None,
    media_server: MediaServerSettings | None,
    demo: bool,
    insecure_hosts: tuple[str, ...],
    *,
    visit_wrap: Callable[[Any], Any] | None = None,
    device_settings: DeviceSettings | None = None,
    policy_path: Path | None = None,
) -> contextlib.AsyncExitStack:
    """Activate plugins, then offer visits (a visit needs the host's providers).

    Returns the stack that deactivates the plugins; :func:`_finish_background` closes it.
    """
    stack = contextlib.AsyncExitStack()
    plugin_host = None
    if plugin_settings is not None:
        plugin_host = await _start_plugins(
            window,
            attachments,
            profile,
            plugin_settings,
            stack,
            devices=device_settings,
            policy_path=policy_path,
        )
    _offer_visits(
        window,
        media_server,
        demo,
        plugin_host,
        insecure_hosts,
        visit_wrap,
        device_settings=device_settings,
    )
    _offer_tech_check(window, profile, media_server, insecure_hosts)
    return stack


def _offer_tech_check(
    window: QtMainWindow,
    profile: Path,
    media: MediaServerSettings | None,
    insecure_hosts: tuple[str, ...],
) -> None:
    """Visit > Tech check…: this workstation's devices and its path to the media server."""
    from app.commands.techcheck import keep_for_it, tech_check_config
    from app.techcheck import TechCheck, TechCheckReport
    from media.techcheck import probes

    def make_check() -> TechCheck:
        return TechCheck(probes(tech_check_config(media, insecure_hosts)))

    def on_report(report: TechCheckReport) -> None:
        keep_for_it(profile, report.to_json())

    window.set_tech_check(make_check, on_report)


async def _finish_background(task: asyncio.Task[contextlib.AsyncExitStack]) -> None:
    """At quit: stop plugin activation if it is still running, else deactivate the plugins."""
    if not task.done():
        task.cancel()
    try:
        stack = await task
    except asyncio.CancelledError:
        return
    except ConsoleError:
        log.warning("plugin start-up failed", exc_info=True)
        return
    await stack.aclose()


DEMO_NO_PIN_NOTICE = (
    "Demo profile: no PIN is set because it holds demo data only and no record store."
)


def _actor(identity: Identity | None = None) -> str:
    """Who the audit log names: the signed-in clinician, else the OS account."""
    who = identity.current_clinician() if identity is not None else None
    if who is not None:
        return who.audit_actor
    from app.cli_support import os_account

    return os_account()


def _wire_identity(identity: Identity, session: Session, store: Any) -> None:
    """Each lock spends the sign-in; each sign-in renames the audit actor before the
    unlock it leads to is recorded."""
    from app.identity import bind_session

    bind_session(session, identity, getattr(store, "record_event", None))
    set_actor = getattr(store, "set_actor", None)
    if set_actor is not None:
        identity.clinician_did_sign_in.connect(
            lambda result: set_actor(result.clinician.audit_actor)
        )


#: How often the signed-in clinician's tokens are checked for refresh.
TOKEN_CHECK_S = 60.0


def _keep_tokens_fresh(identity: Identity, services: contextlib.AsyncExitStack) -> None:
    """Refresh the access token before it expires while online; offline or signed out,
    nothing happens (the next lock asks for a sign-in anyway)."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(TOKEN_CHECK_S)
            if identity.current_clinician() is None or not identity.access_token:
                continue
            try:
                await identity.refresh()
            except ConsoleError as exc:
                log.info("Token refresh: %s", type(exc).__name__)

    task = asyncio.ensure_future(loop())

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    services.push_async_callback(stop)


def _existing_credentials(profile: Path) -> Credentials | None:
    """A keyring-mode store's console credential, read before the store opens (None:
    no store yet, or a passphrase-mode store whose passphrase is the credential)."""
    from storage import keys
    from storage.credentials import FileCredentialStore

    meta = keys.read_meta(profile) if store_exists_quiet(profile) else None
    if meta is None or meta.key_source is not KeySource.KEYRING:
        return None
    return Credentials(FileCredentialStore(profile, meta.store_id, hashed=True))


def store_exists_quiet(profile: Path) -> bool:
    from storage.store import store_exists

    return store_exists(profile)


def _passphrase_throttle(profile: Path) -> Credentials | None:
    """Passphrase mode: the store passphrase is the credential; only failures are kept."""
    from storage import keys
    from storage.credentials import FileCredentialStore

    meta = keys.read_meta(profile) if store_exists_quiet(profile) else None
    if meta is None or meta.key_source is not KeySource.PASSPHRASE:
        return None
    file = FileCredentialStore(profile, meta.store_id, hashed=False)
    return Credentials(file, default_kind=CredentialKind.STORE_PASSPHRASE)


async def _open_throttled(
    window: QtMainWindow,
    throttle: Credentials,
    profile: Path,
    source: KeySource | None,
    passphrase: str,
    identity: Identity | None = None,
) -> LockableStore:
    """Open a passphrase store at start with the same growing delay as the lock screen."""
    from storage.store import EncryptedStore

    wait = throttle.wait_s()
    if wait > 0:
        window.startup.show_loading(f"Too many wrong attempts: wait {int(wait + 0.999)} seconds.")
        await asyncio.sleep(wait)
    opened: list[LockableStore] = []

    async def by_store(secret: str) -> None:
        opened.append(
            await EncryptedStore.open(
                profile, passphrase=secret, key_source=source, actor=_actor(identity)
            )
        )

    await throttle.verify(passphrase, by_store=by_store)  # WrongPassphraseError: ask again
    return opened[0]


async def _session_credentials(
    window: QtMainWindow,
    profile: Path,
    store: LockableStore,
    credentials: Credentials | None,
    demo_profile: bool,
) -> Credentials | None:
    """The credential the lock screen asks for; a new keyring store chooses its PIN now.
    None when the user quits at "choose a PIN"."""
    from storage.credentials import FileCredentialStore
    from storage.store import EncryptedStore

    if store.status.key_source is KeySource.PASSPHRASE:
        return _passphrase_throttle(profile) or Credentials(
            _NoFile(), default_kind=CredentialKind.STORE_PASSPHRASE
        )
    if credentials is None:
        assert isinstance(store, EncryptedStore)
        credentials = Credentials(FileCredentialStore(profile, store.store_id, hashed=True))
    if not credentials.needs_setup:
        return credentials
    if demo_profile:
        return Credentials(_NoFile(), default_kind=CredentialKind.NONE)
    if not await window.startup.choose_credential(credentials):
        return None
    return credentials


class _NoFile:
    """A CredentialFile that keeps nothing (a demo profile; a failure counter in memory)."""

    def __init__(self) -> None:
        self._record: CredentialRecord | None = None

    def load(self) -> CredentialRecord | None:
        return self._record

    def save(self, record: CredentialRecord) -> None:
        self._record = record


def _lock_on_os_signals(window: QtMainWindow, services: contextlib.AsyncExitStack) -> None:
    """Lock on system suspend and on the OS session lock (logind, Linux; see
    docs/storage.md for Windows and macOS). No system bus (a container): nothing to do."""
    if not sys.platform.startswith("linux"):
        return
    from app.session import LockReason
    from media.devices.os_session import LogindWatcher

    watcher = LogindWatcher(
        on_sleep=lambda: window.request_lock(LockReason.SUSPEND),
        on_lock=lambda: window.request_lock(LockReason.OS_LOCK),
    )
    task = asyncio.ensure_future(watcher.run())
    _VISIT_TASKS.add(task)  # kept referenced; cancelled at quit
    task.add_done_callback(_VISIT_TASKS.discard)

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    services.push_async_callback(stop)


async def _start_plugins(
    window: QtMainWindow,
    attachments: AttachmentsService,
    profile: Path,
    settings: PluginSettings,
    services: contextlib.AsyncExitStack,
    *,
    devices: DeviceSettings | None = None,
    policy_path: Path | None = None,
) -> PluginHost:
    """Discover and activate plugins; deactivated first at quit (before the window and
    the store go). Plugins get capability providers, never the store or the window:
    ``encounter.attach`` goes through the attachments use case, so a plugin's
    recording is announced on the bus and nudges sync like a note save."""
    from app.images import ImagesService
    from media.images.inspector import QualityInspector
    from plugins._camera import CameraProvider, os_cameras
    from plugins._providers import EncounterAttach, SoundDeviceAudioInput
    from plugins.host import PluginHost

    encounter = EncounterAttach(attachments, ImagesService(attachments, QualityInspector()))
    if window.worklist is not None:
        window.worklist.encounter_selected.connect(
            lambda summary: encounter.set_current(summary.encounter.id)
        )
    host = PluginHost(
        data_root=profile / "plugins",
        allow=settings.allow,
        settings=settings,
        providers={
            "audio.input": SoundDeviceAudioInput(),
            "encounter.attach": encounter,
            "camera": CameraProvider(os_cameras(test_camera=True)),
        },
        devices=_device_choices(devices or DeviceSettings()),
    )

    def settings_saved() -> None:  # Settings > Devices reaches plugins without a restart
        try:
            saved = load_settings(profile, policy_path).settings.devices
        except ConsoleError:
            return  # the dialog refused to write an invalid file: nothing changed
        host.set_device_choices(_device_choices(saved))

    window.settings_saved.connect(settings_saved)
    window.set_plugin_host(host)
    services.push_async_callback(host.deactivate_all)
    await host.activate_all()  # a broken plugin is reported and skipped, never raised
    return host


def _device_choices(devices: DeviceSettings) -> Any:
    from clinician_console_api import DeviceChoices

    return DeviceChoices(
        camera=devices.camera,
        microphone=devices.microphone,
        speaker=devices.speaker,
        stethoscope=devices.stethoscope,
    )


#: Visits starting in the background (the window shows their state); kept so the task
#: is not garbage-collected mid-start.
_VISIT_TASKS: set[asyncio.Task[None]] = set()
_HUB: list[Any] = []  # the visit.stills provider (media.visit.stills.StillsHub), made once


def _stills_hub() -> Any:
    """One ``visit.stills`` provider for the console's run: a panel registers its cart
    side once and every visit gets it (media.visit.stills.StillsHub)."""
    if not _HUB:
        from media.visit.stills import StillsHub

        _HUB.append(StillsHub())
    return _HUB[0]


def _offer_visits(
    window: QtMainWindow,
    media: MediaServerSettings | None,
    demo: bool,
    plugin_host: PluginHost | None,
    insecure_hosts: tuple[str, ...] = (),
    wrap: Callable[[Any], Any] | None = None,
    *,
    device_settings: DeviceSettings | None = None,
) -> None:
    """Visit > Start video visit through Janus when ``[media_server] url`` is set, else the
    demo visit with ``--demo``, else nothing. While a Janus visit runs, the plugin host's
    ``visit.tracks`` is that visit's :class:`media.visit.tracks.SessionTracks`."""
    from app.visit import JoinRequest, Visit

    devices = device_settings or DeviceSettings()
    if media is not None and media.url:

        def desktop_session(visit: Visit, **where: Any) -> None:
            """A Janus session with this workstation's devices and the media policy."""
            from app.cli_support import turn_secret
            from media.visit.session import SessionConfig, VisitSession, parse_turn

            config = SessionConfig(
                interfaces=list(media.interfaces),
                turn=parse_turn(list(media.turn), turn_secret(list(media.turn))),
                force_relay=media.force_relay,
                # Settings > Devices, else the first camera and the system's default audio;
                # switchable in the visit window.
                camera=devices.camera or "0",
                microphone=devices.microphone or "default",
                speaker=devices.speaker or "default",
                camera_fallback=True,
                allow_insecure_hosts=list(insecure_hosts),  # IT's policy: plain ws:// hosts
                **where,
            )
            _run_in_background(visit, VisitSession(visit, config), plugin_host)

        def start_janus_visit(encounter_id: str) -> Visit:
            visit = Visit(encounter_id=encounter_id)
            desktop_session(
                visit,
                server_url=media.url,
                create=True,
                admin_key=_janus_admin_key(),
                bitrate_bps=media.room_bitrate_bps,
                page_url=media.patient_page_url,
                browser_server_url=media.browser_url,
            )
            return visit

        def join_janus_visit(request: JoinRequest) -> Visit:
            """Visit > Join a visit…: a participant in a room another console opened."""
            visit = Visit()
            desktop_session(
                visit,
                server_url=request.server_url,
                room=request.room,
                pin=request.pin,
                display=request.display,
                host_key=request.host_key,
                create=False,
            )
            return visit

        # ``wrap``: the start-of-visit dialog (location, consent) before the media starts.
        window.set_visit_factory(wrap(start_janus_visit) if wrap else start_janus_visit, demo=False)
        window.set_join_factory(join_janus_visit)
    elif demo:

        async def start_demo_visit(encounter_id: str) -> Visit:
            from media.visit.loopback import LoopbackVisit

            visit = Visit(encounter_id=encounter_id)
            loopback = LoopbackVisit(visit)
            await loopback.start()
            return visit

        window.set_visit_factory(wrap(start_demo_visit) if wrap else start_demo_visit, demo=True)
    else:
        window.set_visit_factory(None)


def _run_in_background(visit: Visit, session: VisitSession, plugin_host: PluginHost | None) -> None:
    """Start ``session`` as a background task (the window shows its state); while it
    runs, the plugin host's ``visit.tracks`` is its :class:`SessionTracks`."""
    from app.visit import VisitState
    from media.visit.patient_statements import PatientStatements
    from media.visit.stills import SessionStills
    from media.visit.tracks import SessionTracks

    tracks = SessionTracks(session)
    stills = SessionStills(session)  # visit.stills: the data channels, in the first offer
    PatientStatements(stills, visit)  # the patient's stated location from their page
    hub = _stills_hub()
    hub.attach(stills)
    if plugin_host is not None:
        plugin_host.set_provider("visit.tracks", tracks)
        plugin_host.set_provider("visit.stills", hub)

        def on_state(state: VisitState, _reason: str) -> None:
            if state is VisitState.ENDED:
                plugin_host.set_provider("visit.tracks", None)
                hub.detach(stills)

        visit.state_changed.connect(on_state)
    task = asyncio.ensure_future(_start_session(session))
    _VISIT_TASKS.add(task)
    task.add_done_callback(_VISIT_TASKS.discard)


async def _start_session(session: VisitSession) -> None:
    try:
        await session.start()
    except ConsoleError as exc:  # the visit is ENDED with the reason; the window shows it
        log.warning("Visit could not start: %s", exc.message_key)
    except Exception:
        log.exception("Visit could not start")


def _janus_admin_key() -> str:
    from app.commands.visit import ADMIN_KEY_ENV

    key = os.environ.get(ADMIN_KEY_ENV, "")
    if not key:
        with contextlib.suppress(ConsoleError):
            from storage.secrets import get_secret

            key = get_secret("janus_admin_key") or ""
    return key


async def _start_sync(
    window: QtMainWindow,
    store: EncryptedStore,
    events: ConsoleEvents,
    record_store: RecordStoreSettings | None,
    services: contextlib.AsyncExitStack,
    pacs: PacsSettings | None = None,
) -> SyncService:
    """The sync use case over the store's adapters; without a record store it stays
    disabled (the window says it is not set up, conflicts can still be resolved).

    Stopped before the window flushes and the store closes (the exit stack
    unwinds in reverse): a sync reading the store mid-close would fail.
    """
    from storage.sync.adapter import sync_service

    sync = sync_service(store, record_store, pacs=pacs)
    window.attach_sync(sync)
    if not sync.enabled:
        return sync
    # Every local change on the bus (a note saved, a plugin's recording attached)
    # schedules a sync soon (debounced).
    unfollow = sync.follow(events)

    async def stop_sync() -> None:
        unfollow()
        await sync.stop()

    services.push_async_callback(stop_sync)
    await sync.start()
    return sync


def _stop_on_signals(window: QtMainWindow) -> None:
    """SIGTERM/SIGINT close the window like Quit does, so autosave is flushed first."""
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Not available on Windows' proactor loop; the OS then just ends the process.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, window.close)
