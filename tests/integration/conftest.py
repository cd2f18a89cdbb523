"""Fixtures for tests against real servers: SEKMET, the FHIR R4 record store (DESIGN.md §5).

Session-scoped servers, one per auth variant, each on a free loopback port with
its own data directory:

- ``sekmet``: no auth;
- ``sekmet_basic``: HTTP Basic (``BASIC_USER`` / ``BASIC_PASSWORD``);
- ``sekmet_smart``: SMART Backend Services, one ``private_key_jwt`` client
  (an RSA key pair made here, its public JWK registered) and one
  ``client_secret_basic`` client, tokens living ``SMART_TOKEN_LIFETIME_S``.

- ``medplum``: the second FHIR server (Medplum's router with an in-memory
  repository, tests/integration/medplum.py), no auth;
- ``fhir_server``: parametrised over ``sekmet`` and ``medplum``, for the sync
  tests that must hold on every server (its ``base_url`` is what they need).

They are shared: a test that stops, kills or reconfigures a server takes its
own from ``sekmet_factory`` instead, e.g.
``server = sekmet_factory("offline-day", {"server_auth": {...}})``; it is
stopped at the end of the session, and ``stop()`` / ``start()`` keep its data
and port.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.medplum import (
    MedplumServer,
    MedplumUnavailableError,
    ensure_medplum_install,
)
from tests.integration.sekmet import (
    SekmetServer,
    SekmetUnavailableError,
    SmartClientKeys,
    ensure_sekmet_venv,
    make_rsa_client,
)

BASIC_USER = "console-01"
BASIC_PASSWORD = "basic-" + secrets.token_urlsafe(16)
SMART_TOKEN_LIFETIME_S = 2
SMART_JWT_CLIENT = "console-jwt"
SMART_SECRET_CLIENT = "console-secret"

SekmetFactory = Callable[..., SekmetServer]


@dataclass(frozen=True)
class SmartSekmet:
    server: SekmetServer
    jwt_client: SmartClientKeys
    secret_client_id: str
    client_secret: str

    @property
    def base_url(self) -> str:
        return self.server.base_url


def smart_server_auth(
    jwt_client: SmartClientKeys, secret_client_id: str, client_secret: str, lifetime_s: int
) -> dict[str, Any]:
    return {
        "types": ["smart"],
        "smart_clients": [
            {
                "client_id": jwt_client.client_id,
                "jwks": {"keys": [jwt_client.public_jwk]},
                "scopes": "system/*.*",
            },
            {
                "client_id": secret_client_id,
                "client_secret": client_secret,
                "scopes": "system/*.*",
            },
        ],
        "token_lifetime": lifetime_s,
    }


@pytest.fixture(scope="session")
def sekmet_executable() -> Path:
    try:
        return ensure_sekmet_venv()
    except SekmetUnavailableError as exc:
        pytest.fail(f"the SEKMET FHIR server is not available: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def sekmet_factory(
    sekmet_executable: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SekmetFactory]:
    servers: list[SekmetServer] = []

    def start(name: str, config: dict[str, Any] | None = None, **kwargs: Any) -> SekmetServer:
        server = SekmetServer(
            sekmet_executable, tmp_path_factory.mktemp(f"sekmet-{name}"), config or {}, **kwargs
        )
        servers.append(server)
        try:
            server.start()
        except SekmetUnavailableError as exc:
            pytest.fail(str(exc), pytrace=False)
        return server

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture(scope="session")
def sekmet(sekmet_factory: SekmetFactory) -> SekmetServer:
    return sekmet_factory("open")


@pytest.fixture(scope="session")
def sekmet_basic(sekmet_factory: SekmetFactory) -> SekmetServer:
    return sekmet_factory(
        "basic", {"server_auth": {"types": ["basic"], "users": {BASIC_USER: BASIC_PASSWORD}}}
    )


@pytest.fixture(scope="session")
def sekmet_smart(sekmet_factory: SekmetFactory) -> SmartSekmet:
    jwt_client = make_rsa_client(SMART_JWT_CLIENT)
    client_secret = secrets.token_urlsafe(24)
    server = sekmet_factory(
        "smart",
        {
            "server_auth": smart_server_auth(
                jwt_client, SMART_SECRET_CLIENT, client_secret, SMART_TOKEN_LIFETIME_S
            )
        },
    )
    return SmartSekmet(server, jwt_client, SMART_SECRET_CLIENT, client_secret)


@pytest.fixture(scope="session")
def medplum_install() -> Path:
    try:
        return ensure_medplum_install()
    except MedplumUnavailableError as exc:
        pytest.fail(f"the Medplum FHIR server is not available: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def medplum_factory(
    medplum_install: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], MedplumServer]]:
    servers: list[MedplumServer] = []

    def start(name: str, *, max_json_bytes: int = 0) -> MedplumServer:
        server = MedplumServer(
            medplum_install,
            tmp_path_factory.mktemp(f"medplum-{name}"),
            max_json_bytes=max_json_bytes,
        )
        servers.append(server)
        try:
            server.start()
        except MedplumUnavailableError as exc:
            pytest.fail(str(exc), pytrace=False)
        return server

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture(scope="session")
def medplum(medplum_factory: Callable[[str], MedplumServer]) -> MedplumServer:
    return medplum_factory("open")


@pytest.fixture(params=["sekmet", "medplum"])
def fhir_server(request: pytest.FixtureRequest) -> SekmetServer | MedplumServer:
    """Each FHIR server the sync must work with; tests use its ``base_url``."""
    server: SekmetServer | MedplumServer = request.getfixturevalue(request.param)
    return server


@pytest.fixture(params=["sekmet", "medplum"])
def fresh_fhir_server(
    request: pytest.FixtureRequest,
    sekmet_factory: SekmetFactory,
    medplum_factory: Callable[[str], MedplumServer],
) -> SekmetServer | MedplumServer:
    """A server of its own (empty), for tests that count everything on it."""
    name = request.node.name.split("[")[0][-40:].replace("_", "-")
    if request.param == "sekmet":
        return sekmet_factory(name)
    return medplum_factory(name)
