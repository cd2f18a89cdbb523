"""Fixtures for the patient page's states: the media tests' real parts (network namespace,
Janus, nginx serving the page, Chromium in the namespace), started for this folder.

The classes come from tests/integration/media/services.py. This folder gets its own
namespace index, so running it in one session with tests/integration/media does not
tear down the media tests' namespace (both derive their index from the process id).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.media.conftest import _require
from tests.integration.media.services import (
    CHROMEDRIVER_BIN,
    CHROMIUM_BIN,
    JANUS_BIN,
    ChromiumPatient,
    JanusServer,
    MediaNet,
    PatientPageServer,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def page_net() -> Iterator[MediaNet]:
    _require("ip", "iproute2")
    _require("nft", "nftables")
    net = MediaNet(index=10 + (os.getpid() + 50) % 200)
    net.start()
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="session")
def page_janus(page_net: MediaNet) -> Iterator[JanusServer]:
    _require(JANUS_BIN, "Janus")
    server = JanusServer(page_net)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def page_server(page_net: MediaNet, page_janus: JanusServer) -> Iterator[PatientPageServer]:
    _require("nginx", "nginx")
    _require("openssl", "openssl")
    server = PatientPageServer(page_net, page_janus, REPO, dead_server=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def browser(page_net: MediaNet) -> Iterator[Callable[..., Any]]:
    """``browser(flags=[...], prefs={...})`` starts a headless Chromium in the namespace."""
    _require(CHROMIUM_BIN, "Chromium")
    _require(CHROMEDRIVER_BIN, "chromedriver")
    page_net.clear_impairments()
    started: list[ChromiumPatient] = []

    def start(flags: list[str] | None = None, prefs: dict[str, Any] | None = None) -> Any:
        patient = ChromiumPatient(page_net, flags=list(flags or []), prefs=dict(prefs or {}))
        started.append(patient)
        return patient.start()

    try:
        yield start
    finally:
        for patient in started:
            patient.stop()
