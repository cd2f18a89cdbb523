"""The example third-party plugin, pip-installed and loaded through real entry-point discovery."""

from __future__ import annotations

import asyncio
import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.records import AttachmentKind, check_attachment_content
from app.settings import PluginSettings
from clinician_console_api.testing import imported
from plugins.host import PluginHost, PluginState
from tests.unit.test_plugin_host import FakeEncounter

EXAMPLE = Path(__file__).parents[1] / "plugins" / "example_plugin"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install --target``: a real dist-info with the entry point, as a user gets it."""
    target = tmp_path_factory.mktemp("site")
    # setuptools writes build/ and *.egg-info beside the sources: build a copy.
    source = tmp_path_factory.mktemp("src") / "example_plugin"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (target / "cc_example_plugin" / "plugin.toml").is_file()
    return target


@pytest.fixture
def on_path(installed_example: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(installed_example))
    importlib.invalidate_caches()
    yield installed_example
    for name in [m for m in sys.modules if m.partition(".")[0] == "cc_example_plugin"]:
        del sys.modules[name]


@pytest.mark.slow
def test_example_plugin_is_discovered_activated_and_works(on_path: Path, tmp_path: Path) -> None:
    encounter = FakeEncounter()
    settings = PluginSettings(allow=[], settings={"example.hello": {"greeting": "Hi"}})
    host = PluginHost(
        data_root=tmp_path / "plugins",
        allow=["example.hello"],
        settings=settings,
        providers={"encounter.attach": encounter},
    )
    infos = {info.plugin_id: info for info in host.discover()}
    example = infos["example.hello"]
    assert example.state is PluginState.INACTIVE
    assert example.version == "1.2.0"
    assert example.source == "entry point example.hello"
    assert example.granted == ("ui.panel", "encounter.attach")
    # The console's own plugins are registered the same way; here they are not allowed.
    assert infos["clinician-console.stethoscope"].state is PluginState.NOT_ALLOWED
    assert not imported("cc_example_plugin"), "discovery read plugin.toml without importing"

    async def scenario() -> None:
        await host.activate_all()
        assert host.get("example.hello").state is PluginState.ACTIVE
        (command,) = host.commands()
        await command.run()
        encounter.change("enc-2")
        await host.deactivate_all()

    asyncio.run(scenario())
    assert (tmp_path / "plugins" / "example.hello" / "state.json").read_text() == (
        '{"activations": 1}'
    )
    (request,) = encounter.attached
    assert request.kind == "audio"
    assert check_attachment_content(AttachmentKind.AUDIO, request.content_type, request.data)
    assert encounter.listeners == []  # its cleanup unsubscribed at deactivation
    assert host.get("example.hello").state is PluginState.INACTIVE
    assert [p.panel_id for p in host.panels("main")] == []  # inactive: no panels
