"""plugin.toml validation: good manifests load, every bad one is one PluginManifestError."""

from __future__ import annotations

import contextlib
import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import PluginManifestError
from app.settings import _toml_value
from plugins._manifest import load_manifest, parse_manifest

GOOD = """\
id = "example.good"
name = "Good"
version = "1.0.0"
api = ["1"]
capabilities = ["ui.panel", "audio.input"]

[contributions]
activate = "pkg.core:activate"
deactivate = "pkg.core:Plugin.stop"

[[contributions.panels]]
id = "example.good.panel"
title = "Good"
where = "visit"
python_name = "pkg._qt:make_panel"
"""


def test_good_manifest_loads() -> None:
    manifest = parse_manifest(GOOD, source="plugin.toml")
    assert manifest.id == "example.good"
    assert manifest.api == ("1",)
    assert manifest.capabilities == ("ui.panel", "audio.input")
    assert manifest.contributions.activate == "pkg.core:activate"
    assert manifest.contributions.panels[0].where == "visit"


def test_shipped_example_manifest_is_valid() -> None:
    path = Path(__file__).parents[1] / "plugins/example_plugin/cc_example_plugin/plugin.toml"
    assert load_manifest(path).id == "example.hello"


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda t: t.replace('id = "example.good"\n', ""), "id: required"),
        (lambda t: t.replace('"example.good"', '"Example Good"'), "id: String should match"),
        (lambda t: t.replace('"example.good"', '"../etc"'), "id: String should match"),
        (lambda t: t.replace('api = ["1"]', "api = [1]"), "api.0: Input should be a valid string"),
        (lambda t: t.replace('api = ["1"]', "api = []"), "api: Tuple should have at least 1"),
        (lambda t: t.replace('"audio.input"', '"network.raw"'), "unknown capability"),
        (lambda t: t + 'colour = "blue"\n', "unknown key"),
        (lambda t: t.replace("pkg.core:activate", "pkg.core.activate"), "contributions.activate"),
        (lambda t: t.replace('where = "visit"', 'where = "toolbar"'), "where"),
        (
            lambda t: t.replace('"ui.panel", ', ""),
            "contributions.panels needs the capability 'ui.panel'",
        ),
        (
            lambda t: t.replace('"example.good.panel"', '"other.panel"'),
            "must start with 'example.good.'",
        ),
        (lambda t: t.replace("[contributions]", "[contributions"), "not valid TOML"),
    ],
)
def test_bad_manifest_names_the_problem(edit, reason: str) -> None:
    with pytest.raises(PluginManifestError) as info:
        parse_manifest(edit(GOOD), source="x/plugin.toml")
    assert reason in str(info.value)
    assert "x/plugin.toml" in str(info.value)


def test_not_utf8_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PluginManifestError, match="not UTF-8"):
        parse_manifest(b"id = '\xff'", source="plugin.toml")
    with pytest.raises(PluginManifestError, match="No such file"):
        load_manifest(tmp_path / "absent.toml")


def test_error_text_does_not_echo_values() -> None:
    # A value in the manifest could be anything; the message names the key only.
    secret = "Jane Doe 1970-01-01"
    with pytest.raises(PluginManifestError) as info:
        parse_manifest(GOOD.replace('"1.0.0"', f'"{secret}"'), source="plugin.toml")
    assert "version" in str(info.value)
    assert secret not in str(info.value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400) | st.text(max_size=400))
def test_garbage_is_rejected_cleanly(garbage: bytes | str) -> None:
    # Whatever the bytes, the only outcome besides success is PluginManifestError.
    with contextlib.suppress(PluginManifestError):
        parse_manifest(garbage, source="plugin.toml")


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
_toml_values = st.recursive(
    _text
    | st.sampled_from(["1", "example.ok", "ui.panel", "pkg.mod:attr"])
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.booleans()
    | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["id", "name", "version", "api", "capabilities", "contributions", "x"]),
        _toml_values,
    )
)
def test_structured_garbage_is_rejected_cleanly(data: dict[str, object]) -> None:
    # Valid TOML with the right keys but any values: validated, never a crash.
    text = "".join(f"{json.dumps(k)} = {_toml_value(v)}\n" for k, v in data.items())
    tomllib.loads(text)  # the writer makes real TOML
    with contextlib.suppress(PluginManifestError):
        parse_manifest(text, source="plugin.toml")
