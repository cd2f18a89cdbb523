"""The plugin host with real plugin packages on disk (clinician_console_api.testing fixtures).

No mocks of the host: plugins are real packages imported from a temporary
directory. The capability providers are small fakes of the Protocols in
plugins/api.py (the real ones belong to the composition root and the visit).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import plugins.host as host_module
from app.errors import (
    CapabilityUnavailableError,
    PluginCapabilityError,
    PluginError,
    PluginLoadError,
)
from app.settings import PluginSettings
from clinician_console_api import (
    AttachedRecord,
    AttachmentRequest,
    AudioInput,
    EncounterAttach,
    PluginContext,
)
from clinician_console_api.testing import MakePlugin, imported, make_host
from plugins.host import PluginHost, PluginState, check_signature

run = asyncio.run


class FakeEncounter:
    """An EncounterAttach that records what plugins attach (stands in for the store)."""

    def __init__(self) -> None:
        self.current: str | None = "enc-1"
        self.attached: list[AttachmentRequest] = []
        self.listeners: list[Callable[[str | None], None]] = []

    def current_encounter_id(self) -> str | None:
        return self.current

    def on_encounter_change(self, callback: Callable[[str | None], None]) -> Callable[[], None]:
        self.listeners.append(callback)
        return lambda: self.listeners.remove(callback)

    def change(self, encounter_id: str | None) -> None:
        self.current = encounter_id
        for listener in list(self.listeners):
            listener(encounter_id)

    async def attach(self, request: AttachmentRequest) -> AttachedRecord:
        self.attached.append(request)
        return AttachedRecord(attachment_id=f"att-{len(self.attached)}", encounter_id="enc-1")


def failures(host: PluginHost) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []
    host.plugin_did_fail.connect(lambda pid, err: seen.append((pid, err)))
    return seen


def test_activation_gives_a_scoped_context(tmp_path: Path, make_plugin: MakePlugin) -> None:
    code = """
        SEEN = {}

        def activate(ctx):
            SEEN["ctx"] = ctx

        def deactivate(ctx):
            SEEN["deactivated"] = True
    """
    plugin = make_plugin("acme.scoped", code=code, capabilities=["encounter.attach"])
    settings = PluginSettings(allow=[], settings={"acme.scoped": {"greeting": "hi"}})
    host = PluginHost(
        data_root=tmp_path / "data",
        allow=["acme.scoped"],
        settings=settings,
        discover_entry_points=False,
    )
    host.add_manifest(plugin.manifest_path)
    assert not imported(plugin.package), "discovery must not import plugin code"
    info = run(host.activate("acme.scoped"))
    assert info.state is PluginState.ACTIVE
    assert info.granted == ("encounter.attach",)
    ctx: PluginContext = sys.modules[plugin.module].SEEN["ctx"]
    assert ctx.plugin_id == "acme.scoped"
    assert ctx.logger.name == "clinician_console.plugins.acme.scoped"
    assert ctx.settings["greeting"] == "hi"
    with pytest.raises(TypeError):
        ctx.settings["greeting"] = "changed"  # type: ignore[index]
    assert not (tmp_path / "data" / "acme.scoped").exists()  # created on demand
    assert ctx.data_dir == tmp_path / "data" / "acme.scoped"
    assert ctx.data_dir.is_dir()
    run(host.deactivate("acme.scoped"))
    assert sys.modules[plugin.module].SEEN["deactivated"] is True
    assert host.get("acme.scoped").state is PluginState.INACTIVE


def test_settings_device_choices_reach_the_context_as_saved(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    from clinician_console_api import DeviceChoices

    code = """
        SEEN = {}

        def activate(ctx):
            SEEN["ctx"] = ctx
    """
    plugin = make_plugin("acme.devices", code=code)  # no capability needed to read them
    host = PluginHost(
        data_root=tmp_path / "data",
        allow=["acme.devices"],
        discover_entry_points=False,
        devices=DeviceChoices(stethoscope="sd:4", camera="/dev/video2"),
    )
    host.add_manifest(plugin.manifest_path)
    run(host.activate("acme.devices"))
    ctx: PluginContext = sys.modules[plugin.module].SEEN["ctx"]
    assert ctx.device_choices() == DeviceChoices(stethoscope="sd:4", camera="/dev/video2")
    host.set_device_choices(DeviceChoices(stethoscope="Thinklabs"))  # Settings saved
    assert ctx.device_choices().stethoscope == "Thinklabs"
    assert ctx.device_choices().camera == ""  # "" = the system default


def test_not_allowed_is_listed_and_never_imported(tmp_path: Path, make_plugin: MakePlugin) -> None:
    plugin = make_plugin("acme.unlisted", code="raise RuntimeError('must not run')\n")
    host = make_host(tmp_path, allow=["someone.else"])
    info = host.add_manifest(plugin.manifest_path)
    assert info.state is PluginState.NOT_ALLOWED
    assert info.version == "1.0.0"
    run(host.activate_all())
    assert host.get("acme.unlisted").state is PluginState.NOT_ALLOWED
    assert not imported(plugin.package)


def test_incompatible_api_is_disabled(plugin_host: PluginHost, make_plugin: MakePlugin) -> None:
    plugin = make_plugin("acme.future", api=["7"])
    info = plugin_host.add_manifest(plugin.manifest_path)
    assert info.state is PluginState.DISABLED
    assert "needs plugin API 7" in info.reason
    run(plugin_host.activate_all())
    assert not imported(plugin.package)


def test_api_versions_intersect(plugin_host: PluginHost, make_plugin: MakePlugin) -> None:
    plugin = make_plugin("acme.both", api=["1", "2"])
    assert plugin_host.add_manifest(plugin.manifest_path).state is PluginState.INACTIVE


def test_import_error_is_reported_once_and_others_keep_working(
    plugin_host: PluginHost, make_plugin: MakePlugin, caplog: pytest.LogCaptureFixture
) -> None:
    broken = make_plugin("acme.broken", code="import does_not_exist_anywhere\n")
    good = make_plugin("acme.good")
    seen = failures(plugin_host)
    plugin_host.add_manifest(broken.manifest_path)
    plugin_host.add_manifest(good.manifest_path)
    with caplog.at_level(logging.WARNING, logger="clinician_console.plugins"):
        run(plugin_host.activate_all())
        run(plugin_host.activate_all())  # again: nothing new is reported
    info = plugin_host.get("acme.broken")
    assert info.state is PluginState.FAILED
    assert "does_not_exist_anywhere" in info.reason
    assert plugin_host.get("acme.good").state is PluginState.ACTIVE
    assert [pid for pid, _ in seen] == ["acme.broken"]
    assert isinstance(seen[0][1], PluginLoadError)
    reports = [r for r in caplog.records if "failed and was disabled" in r.getMessage()]
    assert len(reports) == 1
    assert "acme.broken" in reports[0].getMessage()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("def activate(context):\n    pass\n", "activate"),
        ("def activate():\n    pass\n", "activate"),
        ("def activate(ctx, extra):\n    pass\n", "activate"),
        ("def activate(ctx, *, key):\n    pass\n", "activate"),
        ("activate = 42\n", "not callable"),
        ("def activate(ctx):\n    pass\ndef deactivate(ctx, why):\n    pass\n", "deactivate"),
        (
            "def activate(ctx):\n    pass\ndef deactivate(ctx):\n    pass\n"
            "def make_panel(ctx):\n    pass\n",
            "panel acme.sig.panel",
        ),
    ],
)
def test_wrong_signature_is_refused_at_registration(
    plugin_host: PluginHost, make_plugin: MakePlugin, code: str, expected: str
) -> None:
    panels = [("panel", "Sig", "visit", "make_panel")] if "make_panel" in code else []
    capabilities = ["ui.panel"] if panels else []
    plugin = make_plugin("acme.sig", code=code, panels=panels, capabilities=capabilities)
    seen = failures(plugin_host)
    plugin_host.add_manifest(plugin.manifest_path)
    run(plugin_host.activate("acme.sig"))
    # Panel factories are checked when the UI first asks for panels (Qt modules).
    assert plugin_host.panels("visit") == []
    info = plugin_host.get("acme.sig")
    assert info.state is PluginState.FAILED
    assert expected in info.reason
    assert len(seen) == 1


def test_signature_check_accepts_defaults_and_methods() -> None:
    class Plugin:
        def activate(self, ctx: object, verbose: bool = False) -> None: ...

    check_signature(Plugin().activate, ("ctx",), "activate", "x")
    check_signature(lambda ctx, parent: None, ("ctx", "parent"), "panel", "x")
    with pytest.raises(PluginLoadError, match=r"must take \(ctx, parent\), not \(parent, ctx\)"):
        check_signature(lambda parent, ctx: None, ("ctx", "parent"), "panel", "x")


@pytest.mark.parametrize("asynchronous", [False, True])
def test_exception_at_activation(
    plugin_host: PluginHost, make_plugin: MakePlugin, asynchronous: bool
) -> None:
    prefix = "async " if asynchronous else ""
    code = f"{prefix}def activate(ctx):\n    raise ValueError('patient Jane Doe')\n"
    plugin = make_plugin("acme.raises", code=code, deactivate=None)
    seen = failures(plugin_host)
    plugin_host.add_manifest(plugin.manifest_path)
    run(plugin_host.activate("acme.raises"))
    info = plugin_host.get("acme.raises")
    assert info.state is PluginState.FAILED
    assert info.reason == "ValueError in activate"  # the message (maybe patient data) withheld
    error = seen[0][1]
    assert isinstance(error, PluginError)
    assert error.plugin_id == "acme.raises"
    assert isinstance(error.__cause__, ValueError)
    assert "Jane" not in str(error)


def test_exception_in_a_callback_disables_the_plugin_once(
    tmp_path: Path, make_plugin: MakePlugin, caplog: pytest.LogCaptureFixture
) -> None:
    code = """
        CALLS = []
        RELEASED = []

        def activate(ctx):
            def changed(encounter_id):
                CALLS.append(encounter_id)
                raise KeyError(encounter_id)

            ctx.add_cleanup(ctx.encounter().on_encounter_change(changed))
            ctx.add_cleanup(lambda: RELEASED.append("device"))
    """
    encounter = FakeEncounter()
    host = make_host(tmp_path, providers={"encounter.attach": encounter})
    plugin = make_plugin("acme.cb", code=code, capabilities=["encounter.attach"], deactivate=None)
    seen = failures(host)
    host.add_manifest(plugin.manifest_path)

    async def scenario() -> None:
        await host.activate("acme.cb")
        with caplog.at_level(logging.WARNING, logger="clinician_console.plugins"):
            encounter.change("enc-2")  # the console's call returns normally
            encounter.change("enc-3")  # disabled: the plugin is not called again
        await host.deactivate_all()  # waits for the release scheduled at the failure

    run(scenario())
    module = sys.modules[plugin.module]
    assert module.CALLS == ["enc-2"]
    assert module.RELEASED == ["device"]
    assert encounter.listeners == []  # its subscription was released too
    info = host.get("acme.cb")
    assert info.state is PluginState.FAILED
    assert info.reason.startswith("KeyError in ")
    assert len(seen) == 1
    assert len([r for r in caplog.records if "failed and was disabled" in r.getMessage()]) == 1


def test_capabilities_granted_restricted_and_unavailable(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    code = """
        SEEN = {}

        def activate(ctx):
            SEEN["ctx"] = ctx
    """
    plugin = make_plugin(
        "acme.caps", code=code, capabilities=["audio.input", "visit.tracks"], deactivate=None
    )
    # The policy lets this plugin have audio.input only.
    settings = PluginSettings(allow=[], capabilities={"acme.caps": ["audio.input"]})
    host = PluginHost(
        data_root=tmp_path, allow=None, settings=settings, discover_entry_points=False
    )
    host.add_manifest(plugin.manifest_path)
    run(host.activate("acme.caps"))
    assert host.get("acme.caps").granted == ("audio.input",)
    ctx: PluginContext = sys.modules[plugin.module].SEEN["ctx"]
    with pytest.raises(PluginCapabilityError) as info:
        ctx.visit_tracks()
    assert info.value.plugin_id == "acme.caps"
    with pytest.raises(PluginCapabilityError):
        ctx.encounter()  # never requested
    audio = ctx.audio_input()  # granted, but the host has no audio back end
    assert isinstance(audio, AudioInput)
    assert audio.list_devices() == []
    with pytest.raises(CapabilityUnavailableError, match="audio.input is not available"):
        run(audio.open("sd:0"))


def test_provider_set_later_is_seen(plugin_host: PluginHost, make_plugin: MakePlugin) -> None:
    code = """
        SEEN = {}

        def activate(ctx):
            SEEN["ctx"] = ctx
    """
    plugin = make_plugin("acme.late", code=code, capabilities=["encounter.attach"], deactivate=None)
    plugin_host.add_manifest(plugin.manifest_path)
    run(plugin_host.activate("acme.late"))
    ctx: PluginContext = sys.modules[plugin.module].SEEN["ctx"]
    assert ctx.encounter().current_encounter_id() is None
    with pytest.raises(CapabilityUnavailableError, match="no encounter is open"):
        run(ctx.encounter().attach(AttachmentRequest("audio", "audio/wav", b"")))
    encounter = FakeEncounter()
    plugin_host.set_provider("encounter.attach", encounter)
    assert isinstance(ctx.encounter(), EncounterAttach)
    record = run(ctx.encounter().attach(AttachmentRequest("audio", "audio/wav", b"RIFF")))
    assert record.attachment_id == "att-1"


def test_panels_are_offered_built_and_withdrawn_on_failure(
    plugin_host: PluginHost, make_plugin: MakePlugin
) -> None:
    code = """
        MADE = []

        def activate(ctx):
            pass

        def good_panel(ctx, parent):
            MADE.append(parent)
            return "widget"

        def bad_panel(ctx, parent):
            raise RuntimeError("boom")
    """
    plugin = make_plugin(
        "acme.panels",
        code=code,
        capabilities=["ui.panel"],
        deactivate=None,
        panels=[("good", "Good", "visit", "good_panel"), ("bad", "Bad", "main", "bad_panel")],
    )
    plugin_host.add_manifest(plugin.manifest_path)
    assert plugin_host.panels("visit") == []  # not active yet
    run(plugin_host.activate("acme.panels"))
    visit = plugin_host.panels("visit")
    assert [(p.panel_id, p.title) for p in visit] == [("acme.panels.good", "Good")]
    assert visit[0].make("parent-widget") == "widget"
    assert sys.modules[plugin.module].MADE == ["parent-widget"]
    (main,) = plugin_host.panels("main")
    assert main.make("parent") is None  # raised: reported, plugin disabled
    assert plugin_host.get("acme.panels").state is PluginState.FAILED
    assert plugin_host.panels("visit") == []
    assert visit[0].make("again") is None  # an old slot does nothing now


def test_guard_passes_cancellation_and_wraps_returned_awaitables(
    plugin_host: PluginHost, make_plugin: MakePlugin
) -> None:
    plugin_host.add_manifest(make_plugin("acme.guard").manifest_path)

    async def cancelled() -> None:
        raise asyncio.CancelledError

    async def failing() -> None:
        raise OSError("disk")

    with pytest.raises(asyncio.CancelledError):
        run(plugin_host.guard("acme.guard", cancelled)())
    assert plugin_host.get("acme.guard").state is PluginState.INACTIVE
    assert plugin_host.guard("acme.guard", lambda: 5)() == 5
    assert run(plugin_host.guard("acme.guard", failing)()) is None
    assert plugin_host.get("acme.guard").state is PluginState.FAILED
    assert plugin_host.get("acme.guard").reason.startswith("OSError in ")


def test_commands_run_guarded(plugin_host: PluginHost, make_plugin: MakePlugin) -> None:
    manifest_extra = """
[[contributions.commands]]
id = "acme.cmd.go"
title = "Go"
python_name = "{package}.plugin:go"
"""
    code = """
        RAN = []

        def activate(ctx):
            pass

        async def go(ctx):
            RAN.append(ctx.plugin_id)
    """
    plugin = make_plugin("acme.cmd", code=code, deactivate=None)
    text = plugin.manifest_path.read_text() + manifest_extra.format(package=plugin.package)
    plugin.manifest_path.write_text(text)
    plugin_host.add_manifest(plugin.manifest_path)
    run(plugin_host.activate("acme.cmd"))
    (command,) = plugin_host.commands()
    assert command.command_id == "acme.cmd.go"
    run(command.run())
    assert sys.modules[plugin.module].RAN == ["acme.cmd"]


def test_discovery_reports_a_broken_entry_point_once_and_carries_on(
    tmp_path: Path, make_plugin: MakePlugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = make_plugin("acme.listed")
    registered = [
        EntryPoint(
            "acme.missing", "no_such_package_here:plugin.toml", host_module.ENTRY_POINT_GROUP
        ),
        EntryPoint("acme.badvalue", "just_a_name", host_module.ENTRY_POINT_GROUP),
        EntryPoint("acme.listed", f"{good.package}:plugin.toml", host_module.ENTRY_POINT_GROUP),
        EntryPoint("acme.other-name", f"{good.package}:plugin.toml", host_module.ENTRY_POINT_GROUP),
    ]
    # The real entry-point table is the installed distributions'; this test needs
    # broken ones, which no installed distribution has (the example-plugin test
    # uses the real table).
    monkeypatch.setattr(host_module, "entry_points", lambda group: registered)
    host = PluginHost(data_root=tmp_path, allow=None)
    seen = failures(host)
    host.discover()
    host.discover()  # once only
    states = {i.plugin_id: (i.state, i.reason) for i in host.plugins()}
    assert states["acme.missing"][0] is PluginState.FAILED
    assert "no_such_package_here not found" in states["acme.missing"][1]
    assert "package:plugin.toml" in states["acme.badvalue"][1]
    assert "differs from the entry point name" in states["acme.other-name"][1]
    assert states["acme.listed"][0] is PluginState.INACTIVE
    assert sorted(pid for pid, _ in seen) == ["acme.badvalue", "acme.missing", "acme.other-name"]
    run(host.activate_all())
    assert host.get("acme.listed").state is PluginState.ACTIVE
