"""The sign-in screen and "Switch clinician" with real parts: a real OpenID provider
(npm oidc-provider, started here), the OS keyring, a keyring-mode encrypted store and
the real main window offscreen. The system browser is tests.integration's FormBrowser
(it fills in the provider's own login and consent pages over HTTP).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.credentials import ScryptParams
from app.events import ConsoleEvents
from app.identity import ConfiguredClinician, Identity, IdentityCredential, IdentityPolicy
from app.services import NotesService
from app.session import Session
from storage.identity.oidc import OidcProvider
from storage.identity.vault import KeyringOfflineRecords, KeyringTokenVault
from storage.store import EncryptedStore
from tests.integration.oidc_provider import (
    CLIENT_ID,
    FormBrowser,
    OidcProviderUnavailableError,
    OidcTestProvider,
    account,
    ensure_oidc_install,
)
from tests.ui.conftest import Aio
from ui.main_window import QtMainWindow

pytestmark = [pytest.mark.integration, pytest.mark.keyring]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[OidcTestProvider]:
    try:
        install = ensure_oidc_install()
    except OidcProviderUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    provider = OidcTestProvider(
        install,
        tmp_path / "idp",
        accounts={
            "alice": account("alice", "pw-a", "sub-a", name="Dr Alice Ames", licenses=["US-CA"]),
            "bob": account("bob", "pw-b", "sub-b", name="Dr Bob Baker", licenses=["US-WA"]),
        },
    )
    try:
        provider.start()
    except OidcProviderUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield provider
    provider.stop()


class Browsers:
    """The person at the cart: each sign-in uses the next person's browser."""

    def __init__(self, *people: FormBrowser) -> None:
        self.people = list(people)
        self.used: list[FormBrowser] = []

    async def __call__(self, url: str) -> None:
        person = self.people.pop(0)
        self.used.append(person)
        await person(url)

    async def aclose(self) -> None:
        for person in self.used + self.people:
            await person.aclose()


def _shot(widget: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(ARTIFACTS / name), "PNG")


def test_sign_in_at_start_then_switch_clinician_on_the_lock_screen(
    aio: Aio, qtbot: Any, idp: OidcTestProvider, real_keyring: str, tmp_path: Path
) -> None:
    provider = OidcProvider(idp.issuer, CLIENT_ID, browser_timeout_s=20.0)
    identity = Identity(
        provider,
        KeyringTokenVault(idp.issuer),
        KeyringOfflineRecords(idp.issuer),
        policy=IdentityPolicy(offline_days=3),
        configured=ConfiguredClinician(),
        pin_params=ScryptParams(n=2**10),
    )
    browsers = Browsers(FormBrowser("alice", "pw-a"), FormBrowser("bob", "pw-b"))
    events = ConsoleEvents()
    window = QtMainWindow(events, retry_ms=60_000)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()

    # -- start: the sign-in card instead of the PIN ---------------------------------
    asked = aio.loop.create_task(window.startup.ask_sign_in(identity, browsers))
    aio.wait_until(lambda: window.startup.page() == "signin")
    card = window.startup.sign_in_card
    assert card.page() == "online" and card.sign_in_button.isVisible()
    _shot(window, "signin-start.png")
    card.sign_in_button.click()
    aio.wait_until(lambda: card.page() == "choose_pin", timeout=20)
    _shot(window, "signin-choose-offline-pin.png")
    card.new_pin.setText("123")
    card.repeat_pin.setText("123")
    card.set_pin_button.click()
    assert card.page() == "choose_pin" and "6 digits" in card.error.text()  # too short
    card.new_pin.setText("582914")
    card.repeat_pin.setText("582914")
    card.set_pin_button.click()
    assert aio.run(asked) is True
    who = identity.current_clinician()
    assert who is not None and who.name == "Dr Alice Ames"
    identity.take_fresh_sign_in()

    store = aio.run(EncryptedStore.open(tmp_path / "profile", actor=who.audit_actor))
    try:
        session = Session(store, IdentityCredential(identity))
        from app.identity import bind_session

        bind_session(session, identity)
        identity.clinician_did_sign_in.connect(lambda r: store.set_actor(r.clinician.audit_actor))
        aio.run(window.attach(NotesService(store, events), store, session=session))
        window.set_identity(identity, browsers)
        assert window.switch_action.isVisible() and window.switch_action.isEnabled()
        assert window.windowTitle() == "Clinician Console — Dr Alice Ames"

        # -- Switch clinician: locked, Alice forgotten, the card asks the next person --
        window.switch_action.trigger()
        aio.wait_until(lambda: window.locked and identity.current_clinician() is None)
        sign_in = window.lock_screen.sign_in
        assert sign_in is not None and sign_in.isVisible()
        assert not window.lock_screen.form.isVisible()  # no PIN field with sign-in
        assert "next clinician" in sign_in.message.text()
        assert window.windowTitle() == "Clinician Console"  # nobody's name while locked
        assert not window.switch_action.isEnabled()
        _shot(window, "signin-switch-clinician.png")
        sign_in.sign_in_button.click()
        aio.wait_until(lambda: sign_in.page() == "choose_pin", timeout=20)
        sign_in.skip_pin_button.click()  # "Not now": Bob chooses no offline PIN today
        aio.wait_until(lambda: not window.locked, timeout=10)
        who = identity.current_clinician()
        assert who is not None and who.name == "Dr Bob Baker"
        assert window.windowTitle() == "Clinician Console — Dr Bob Baker"
        entries = aio.run(store.audit_entries())
        assert entries[-1].action == "unlock" and entries[-1].actor == "bob [sub-b]"
        assert any(e.actor == "alice [sub-a]" for e in entries)
        assert window.switch_action.isEnabled()
    finally:
        if window.autosaver is not None:
            window.autosaver.pause()
        aio.run(store.close())
        aio.run(browsers.aclose())


def test_run_gui_with_an_identity_provider_signs_in_instead_of_a_pin(
    tmp_path: Path,
    qapp: Any,
    qtbot: Any,
    idp: OidcTestProvider,
    real_keyring: str,
    monkeypatch: Any,
) -> None:
    """The composition root end to end: with ``[identity]`` in the policy, the start
    screen is the sign-in card (no PIN is chosen or asked), the new keyring store names
    the clinician in its audit log, and File > Switch clinician is offered."""
    import app.commands.identity as wiring
    from app.records import KeySource
    from storage import keys
    from tests.ui.conftest import until
    from tests.ui.test_main import _run_gui_with_robot

    browser = FormBrowser("alice", "pw-a")
    monkeypatch.setattr(wiring, "open_system_browser", browser)
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "[identity]\n"
        f'issuer = "{idp.issuer}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        'scopes = ["openid", "profile", "offline_access", "clinician"]\n'
        "offline_days = 2\n"
    )
    profile = tmp_path / "profile"
    seen: dict[str, Any] = {}

    async def robot(win: QtMainWindow) -> None:
        startup = win.startup
        await until(lambda: startup.page() == "signin", timeout=20)
        card = startup.sign_in_card
        card.sign_in_button.click()
        await until(lambda: card.page() == "choose_pin", timeout=20)
        card.skip_pin_button.click()
        await until(lambda: win.worklist is not None and win.identity is not None, timeout=20)
        seen["switch"] = win.switch_action.isVisible() and win.switch_action.isEnabled()
        seen["actor"] = win.store.actor if win.store is not None else None
        win.close()

    try:
        code = _run_gui_with_robot(
            robot, qapp, profile, demo=False, policy_path=policy, key_source=KeySource.KEYRING
        )
    finally:
        asyncio.run(browser.aclose())
    assert code == 0
    assert seen == {"switch": True, "actor": "alice [sub-a]"}
    assert not (profile / "unlock.json").exists()  # no console PIN with sign-in
    meta = keys.read_meta(profile)
    if meta is not None:
        keys.delete_keyring_key(meta)


def test_offline_reentry_on_the_lock_screen_when_the_provider_is_down(
    aio: Aio, qtbot: Any, idp: OidcTestProvider, real_keyring: str, tmp_path: Path
) -> None:
    provider = OidcProvider(idp.issuer, CLIENT_ID, browser_timeout_s=20.0)
    identity = Identity(
        provider,
        KeyringTokenVault(idp.issuer),
        KeyringOfflineRecords(idp.issuer),
        policy=IdentityPolicy(offline_days=3),
        pin_params=ScryptParams(n=2**10),
    )
    browsers = Browsers(FormBrowser("alice", "pw-a"))
    events = ConsoleEvents()
    window = QtMainWindow(events, retry_ms=60_000)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    asked = aio.loop.create_task(window.startup.ask_sign_in(identity, browsers))
    aio.wait_until(lambda: window.startup.page() == "signin")
    card = window.startup.sign_in_card
    card.sign_in_button.click()
    aio.wait_until(lambda: card.page() == "choose_pin", timeout=20)
    card.new_pin.setText("582914")
    card.repeat_pin.setText("582914")
    card.set_pin_button.click()
    assert aio.run(asked) is True
    identity.take_fresh_sign_in()
    store = aio.run(EncryptedStore.open(tmp_path / "profile"))
    try:
        from app.identity import bind_session

        session = Session(store, IdentityCredential(identity))
        bind_session(session, identity, store.record_event)
        aio.run(window.attach(NotesService(store, events), store, session=session))
        window.set_identity(identity, browsers)
        aio.run(window.lock())
        idp.stop()  # the link is down
        sign_in = window.lock_screen.sign_in
        assert sign_in is not None and sign_in.page() == "online"
        sign_in.sign_in_button.click()
        aio.wait_until(lambda: sign_in.page() == "offline", timeout=20)
        assert "cannot be reached" in sign_in.error.text()
        sign_in.login_field.setText("alice")
        sign_in.pin_field.setText("000000")
        sign_in.offline_submit.click()
        aio.wait_until(lambda: "not your offline PIN" in sign_in.error.text(), timeout=10)
        assert window.locked and sign_in.pin_field.text() == ""
        _shot(window, "signin-offline.png")
        sign_in.pin_field.setText("582914")
        sign_in.offline_submit.click()
        aio.wait_until(lambda: not window.locked, timeout=10)
        who = identity.current_clinician()
        assert who is not None and who.name == "Dr Alice Ames"
        # The offline re-entry is in the audit log as such.
        entries: list[Any] = []

        async def offline_entry() -> bool:
            entries[:] = await store.audit_entries()
            return entries[-1].action == "sign_in_offline"

        async def wait_entry() -> None:
            for _ in range(200):
                if await offline_entry():
                    return
                await asyncio.sleep(0.01)

        aio.run(wait_entry())
        assert entries[-1].action == "sign_in_offline" and entries[-1].entity_id == "sub-a"
    finally:
        if window.autosaver is not None:
            window.autosaver.pause()
        aio.run(store.close())
        aio.run(browsers.aclose())
