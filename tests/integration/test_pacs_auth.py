"""PACS credentials (``[pacs] auth``) against a REAL Orthanc with authentication ON
(``AuthenticationEnabled`` + ``RegisteredUsers``), the secret in the real OS keyring.

A wrong password is the credentials' fault, not the stills': no row is charged, the
pass stops, the sync details say "re-authenticate", and the PACS is not asked again
with the same credentials (no silent retry loop that could lock the account) until a
new secret is set or the user presses Retry."""

from __future__ import annotations

import contextlib
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.errors import PacsAuthError, PacsSecretMissingError
from app.settings import PacsSettings
from storage import secrets
from storage.dicom.stow import SECRET_NAME, StowSender, push_authenticated, waiting
from storage.sync.adapter import PACS_CREDENTIALS, sync_service
from tests.conftest import open_test_store, run
from tests.integration import orthanc
from tests.integration.test_dicom_stow import _seed, _stills

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not orthanc.available(), reason="orthanc and orthanc-dicomweb: scripts/setup --tests"
    ),
]

USER, PASSWORD = "console-01", "right horse battery staple"


def _run(coro: Coroutine[Any, Any, None]) -> None:
    run(coro)  # type: ignore[no-untyped-call]


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[orthanc.OrthancServer]:
    with orthanc.orthanc_server(tmp_path / "pacs", users={USER: PASSWORD}) as server:
        yield server


@pytest.fixture
def pacs_secret(real_keyring: str) -> Iterator[None]:
    yield
    import keyring

    from storage import keys

    # The next test starts without one (the keyring outlives a test).
    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        keyring.delete_password(keys.KEYRING_SERVICE, "secret:" + SECRET_NAME)


class Counting:
    """A client factory that counts the requests that reach the PACS."""

    def __init__(self) -> None:
        self.requests = 0

    def __call__(self) -> httpx.AsyncClient:
        async def count(_request: httpx.Request) -> None:
            self.requests += 1

        return httpx.AsyncClient(timeout=30, event_hooks={"request": [count]})


async def _attempts(store: Any) -> list[int]:
    rows = await store.transact(
        lambda conn: conn.execute("SELECT attempts FROM dicom_outbox ORDER BY 1").fetchall()
    )
    return [int(r[0]) for r in rows]


def test_a_refused_sign_in_charges_no_still(
    fresh_profile: Path, pacs: orthanc.OrthancServer
) -> None:
    """Orthanc answers 401 to a request without credentials: the pass stops at the first
    still and no row loses one of its five attempts (it did: each 401 counted as a
    refusal of the still, and five rounds set every still aside for good)."""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            await _seed(store, _stills())
            counting = Counting()
            report = await StowSender(store, pacs.stow_url, client_factory=counting).push()
            assert report.sent == 0
            assert await _attempts(store) == [0, 0]
            assert isinstance(report.auth_error, PacsAuthError)
            assert report.auth_error.status == 401
            assert counting.requests == 1  # stopped at the first: the rest would fail alike
        finally:
            await store.close()
        assert pacs.instances() == []

    _run(scenario())


def test_wrong_password_asks_to_reauthenticate_and_never_loops(
    fresh_profile: Path, pacs: orthanc.OrthancServer, pacs_secret: None
) -> None:
    settings = PacsSettings(stow_url=pacs.stow_url, auth="basic", username=USER)

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            await _seed(store, _stills())
            secrets.set_secret(SECRET_NAME, "wrong password")
            counting = Counting()
            first = await push_authenticated(
                store, settings, secrets.get_secret, client_factory=counting
            )
            assert (first.sent, first.failed, counting.requests) == (0, 1, 1)
            assert "Re-authenticate" in first.reasons[0]
            assert "secret set pacs" in first.reasons[0]
            # Rounds later, same credentials: the PACS is not asked again.
            for _ in range(3):
                again = await push_authenticated(
                    store, settings, secrets.get_secret, client_factory=counting
                )
                assert again.failed == 1 and "Re-authenticate" in again.reasons[0]
            assert counting.requests == 1
            assert await _attempts(store) == [0, 0]
            # The sync details say so, with a Retry.
            overview = await sync_service(store, None).overview()
            [shown] = [f for f in overview.failures if f.entity_type == PACS_CREDENTIALS]
            assert shown.label == "PACS · sign-in" and "HTTP 401" in shown.reason
            assert PASSWORD not in shown.reason and "wrong password" not in shown.reason
            # Retry asks the PACS once more (a PACS account fixed there), no more.
            assert await sync_service(store, None).retry(shown.entity_type, shown.entity_id)
            await push_authenticated(store, settings, secrets.get_secret, client_factory=counting)
            assert counting.requests == 2
            # IT sets the right password: the next round goes, no Retry needed.
            secrets.set_secret(SECRET_NAME, PASSWORD)
            done = await push_authenticated(
                store, settings, secrets.get_secret, client_factory=counting
            )
            assert (done.sent, done.failed) == (2, 0), done.reasons
            assert await store.transact(waiting) == 0
            overview = await sync_service(store, None).overview()
            assert not [f for f in overview.failures if f.entity_type == PACS_CREDENTIALS]
        finally:
            await store.close()
        assert len(pacs.instances()) == 2

    _run(scenario())


def test_no_secret_in_the_keyring_sends_nothing_and_says_which(
    fresh_profile: Path, pacs: orthanc.OrthancServer, pacs_secret: None
) -> None:
    settings = PacsSettings(stow_url=pacs.stow_url, auth="basic", username=USER)

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            await _seed(store, _stills()[:1])
            counting = Counting()
            report = await push_authenticated(
                store, settings, secrets.get_secret, client_factory=counting
            )
            assert counting.requests == 0 and report.failed == 1
            assert PacsSecretMissingError(auth="basic").user_message() == report.reasons[0]
            overview = await sync_service(store, None).overview()
            assert [f.entity_type for f in overview.failures] == [PACS_CREDENTIALS]
            await push_authenticated(store, settings, secrets.get_secret)  # a later round
            audited = await store.transact(
                lambda conn: conn.execute(
                    "SELECT count(*) FROM audit_log WHERE action = 'pacs_auth_refused'"
                ).fetchone()[0]
            )
            assert audited == 1  # kept once, not an audit entry every round
            secrets.set_secret(SECRET_NAME, PASSWORD)
            assert (await push_authenticated(store, settings, secrets.get_secret)).sent == 1
        finally:
            await store.close()

    _run(scenario())


def test_a_sync_round_signs_in_to_the_pacs(
    fresh_profile: Path, pacs: orthanc.OrthancServer, sekmet: Any, pacs_secret: None
) -> None:
    """The composition the GUI and ``clinician-console sync`` run: record store and PACS
    in one round, the PACS password from the OS keyring."""
    from app.settings import RecordStoreSettings

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        try:
            await _seed(store, _stills()[:1])
            secrets.set_secret(SECRET_NAME, PASSWORD)
            service = sync_service(
                store,
                RecordStoreSettings(url=sekmet.base_url),
                pacs=PacsSettings(stow_url=pacs.stow_url, auth="basic", username=USER),
            )
            outcome = await service.sync_now()
            assert outcome.ok, outcome
            assert await store.transact(waiting) == 0
        finally:
            await store.close()
        assert len(pacs.instances()) == 1

    _run(scenario())


def test_the_sync_command_says_reauthenticate_and_goes_once_the_secret_is_set(
    fresh_profile: Path, pacs: orthanc.OrthancServer, sekmet: Any, pacs_secret: None
) -> None:
    """IT's path, CLI-level: ``secret set pacs`` into the OS keyring, ``sync --once``
    fails with a one-line "re-authenticate" reason for a wrong password (the still
    stays, no attempt charged), and goes once the right one is set."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import TEST_PASSPHRASE

    async def seed() -> None:
        store = await open_test_store(fresh_profile)
        try:
            await _seed(store, _stills()[:1])
        finally:
            await store.close()

    _run(seed())
    (fresh_profile / "settings.toml").write_text(
        f'[record_store]\nurl = "{sekmet.base_url}"\n'
        f'[pacs]\nstow_url = "{pacs.stow_url}"\nauth = "basic"\nusername = "{USER}"\n'
    )
    base = [sys.executable, "-m", "app.cli", "--profile", str(fresh_profile)]
    sync = [*base, "--key-source", "passphrase", "--passphrase-stdin", "sync", "--once", "--json"]
    env = dict(os.environ)

    def cli(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, input=stdin, text=True, capture_output=True, env=env, timeout=180
        )

    assert cli([*base, "secret", "set", "pacs"], "not the password\n").returncode == 0
    refused = cli(sync, TEST_PASSPHRASE + "\n")
    assert refused.returncode != 0
    assert "Re-authenticate" in refused.stderr and "secret set pacs" in refused.stderr
    assert "not the password" not in refused.stderr + refused.stdout
    assert json.loads(refused.stdout)["ok"] is False
    assert pacs.instances() == []
    assert cli([*base, "secret", "set", "pacs"], PASSWORD + "\n").returncode == 0
    done = cli(sync, TEST_PASSPHRASE + "\n")
    assert done.returncode == 0, done.stderr
    assert len(pacs.instances()) == 1
