"""Fixtures: the media network namespace, Janus and coturn (see services.py), per session.

They start real binaries as root (``ip netns``, ``nft``). Where a binary is
missing the tests skip with the reason, except under CI (``CI=true``), where a
missing part is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.media.services import (
    CHROMEDRIVER_BIN,
    CHROMIUM_BIN,
    JANUS_BIN,
    TURN_BIN,
    ChromiumPatient,
    JanusServer,
    MediaNet,
    PatientPageServer,
    TurnServer,
)

REPO = Path(__file__).resolve().parents[3]


def _require(binary: str, what: str) -> None:
    if shutil.which(binary) is None and not Path(binary).exists():
        message = f"{what} ({binary}) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    if os.geteuid() != 0:
        message = "media tests need root for network namespaces"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def medianet() -> Iterator[MediaNet]:
    _require("ip", "iproute2")
    _require("nft", "nftables")
    net = MediaNet()
    net.start()
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="session")
def janus(medianet: MediaNet) -> Iterator[JanusServer]:
    _require(JANUS_BIN, "Janus")
    server = JanusServer(medianet)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def turn(medianet: MediaNet) -> Iterator[TurnServer]:
    _require(TURN_BIN, "coturn")
    server = TurnServer(medianet)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clean_net(medianet: MediaNet) -> Iterator[MediaNet]:
    medianet.clear_impairments()
    try:
        yield medianet
    finally:
        medianet.clear_impairments()


@pytest.fixture(scope="session")
def patient_page(medianet: MediaNet, janus: JanusServer) -> Iterator[PatientPageServer]:
    _require("nginx", "nginx")
    _require("openssl", "openssl")
    server = PatientPageServer(medianet, janus, REPO)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chromium(medianet: MediaNet) -> Iterator[Any]:
    _require(CHROMIUM_BIN, "Chromium")
    _require(CHROMEDRIVER_BIN, "chromedriver")
    browser = ChromiumPatient(medianet)
    try:
        yield browser.start()
    finally:
        browser.stop()
