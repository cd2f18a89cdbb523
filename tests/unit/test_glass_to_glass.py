"""bench.glass_to_glass's pieces: the JavaScript frame stamp agrees with media/framestamp.py,
and the figures come out in the agreed JSON shape (DESIGN.md §3) with the issue's names.

The whole bench (real Janus, two consoles, two Chromiums) runs in
tests/integration/media/test_glass_to_glass_bench.py.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench import _common
from bench import glass_to_glass as g2g
from media import framestamp
from tests.conftest import need

REPO = Path(__file__).resolve().parents[2]
JS = REPO / "bench" / "web" / "framestamp.js"

# Node stands in for the page: the same file the browser loads, drawing into and reading
# from plain RGBA buffers (a canvas's ImageData layout).
_NODE = r"""
const F = require(process.argv[1]);
const [mode, width, counter, ts] = process.argv.slice(2);
const w = +width, [cw, ch] = F.codeSize(w);
if (mode === "draw") {
  const data = new Uint8Array(cw * ch * 4);
  const ctx = { fillStyle: "", fillRect(x, y, W, H) {
    const v = +/rgb\((\d+)/.exec(this.fillStyle)[1];
    for (let yy = y; yy < y + H; yy++) for (let xx = x; xx < x + W; xx++) {
      const i = (yy * cw + xx) * 4; data[i] = data[i + 1] = data[i + 2] = v; data[i + 3] = 255;
    }
  } };
  F.draw(ctx, w, +counter, BigInt(ts));
  process.stdout.write(Buffer.from(data).toString("base64"));
} else {
  const data = Buffer.from(require("fs").readFileSync(0, "utf8"), "base64");
  const s = F.readRgba(data, cw, w);
  process.stdout.write(JSON.stringify(s && { counter: s.counter, ts: s.timestampUs.toString() }));
}
"""


def _node(*args: str, stdin: str = "") -> str:
    node = shutil.which("node")
    need(node, "node (the bench's browser code is checked with it)")
    assert node is not None
    proc = subprocess.run(
        [node, "-e", _NODE, str(JS), *args], input=stdin, capture_output=True, text=True,
        timeout=30, check=True,
    )  # fmt: skip
    return proc.stdout


@pytest.mark.parametrize("width", [640, 1280])
def test_js_stamp_reads_in_python_and_back(width: int) -> None:
    counter, ts = 0xDEADBEEF, (1 << 48) - 12345
    drawn_js = _node("draw", str(width), str(counter), str(ts))
    raw = np.frombuffer(base64.b64decode(drawn_js), dtype=np.uint8)
    code_w, code_h = framestamp.code_size_px(width)
    rgba = raw.reshape(code_h, code_w, 4)
    frame = np.zeros((code_h, width, 3), dtype=np.uint8)
    frame[:, :code_w] = rgba[:, :, :3]
    assert framestamp.read(frame) == framestamp.FrameStamp(counter, ts)

    picture = np.zeros((code_h, width, 3), dtype=np.uint8)
    drawn = framestamp.stamp(picture, 42, timestamp_us=987_654_321)
    rgba = np.dstack([picture[:, :code_w], np.full((code_h, code_w), 255, np.uint8)])
    read = json.loads(
        _node("read", str(width), "0", "0", stdin=base64.b64encode(rgba.tobytes()).decode())
    )
    assert read == {"counter": drawn.counter, "ts": str(drawn.timestamp_us)}


def test_js_rejects_a_damaged_code() -> None:
    width = 640
    picture = np.zeros((96, width, 3), dtype=np.uint8)
    framestamp.stamp(picture, 5, timestamp_us=1)
    code_w, code_h = framestamp.code_size_px(width)
    picture[: code_h // 6, : code_w // 16] = 255 - picture[: code_h // 6, : code_w // 16]
    rgba = np.dstack([picture[:, :code_w], np.full((code_h, code_w), 255, np.uint8)])
    assert (
        _node("read", str(width), "0", "0", stdin=base64.b64encode(rgba.tobytes()).decode())
        == "null"
    )


def _result() -> dict[str, object]:
    ours = {
        # counter, capture -> painted, decoded -> painted (None: arrival not seen),
        # capture -> decoded (None: unreadable at hand-over), all ms
        "samples": [
            [1, 40.0, 8.0, 32.0],
            [2, 44.0, 10.0, 34.0],
            [4, 60.0, None, None],
            [5, 50.0, 12.0, 38.0],
        ],
        "unreadable": 1,
        "painted_fps": 29.5,
        "seconds_to_size": 0.4,
        "observer_ms_mean": 1.1,
        "rss_mib": [210.0, 230.5, 220.0],
        "painted_rect": [911, 512],
        "platform": "offscreen",
    }
    reference = {"samples": [[9, 80.0, 70.0, 1280, 720], [10, 100.0, 90.0, 1280, 720]],
                 "unreadable": 0, "seconds_to_size": 21.0}  # fmt: skip
    result = _common.BenchResult(
        metrics=g2g.summarise_ours(ours),
        reference=g2g.summarise_reference(reference, 2.0),
    )
    result.ratio["p95"] = _common.ratio(result.metrics["p95_ms"], result.reference["p95_ms"])
    result.params["budget"] = g2g.budget(result, (1280, 720))
    out = io.StringIO()
    _common.emit(g2g.BENCH, result, out)
    parsed: dict[str, object] = json.loads(out.getvalue())
    return parsed


def test_figures_have_the_issue_names_and_shape() -> None:
    result = _result()
    assert set(result) == {"bench", "params", "metrics", "reference", "ratio"}
    assert result["bench"] == "glass_to_glass"
    metrics, reference, ratio = result["metrics"], result["reference"], result["ratio"]
    assert isinstance(metrics, dict) and isinstance(reference, dict) and isinstance(ratio, dict)
    for key in ("p95_ms", "paint_p95_ms", "rss_call_mib"):
        assert isinstance(metrics[key], float), key
    assert isinstance(reference["p95_ms"], float) and isinstance(ratio["p95"], float)
    assert metrics["rss_call_mib"] == 230.5  # the largest sample in the call
    assert metrics["frames_lost"] == 1  # counter 3 never painted
    assert metrics["n"] == 4 and metrics["unreadable"] == 1
    # decoded -> painted skips the frame whose arrival was not seen
    assert metrics["paint_p95_ms"] == pytest.approx(11.8)
    assert metrics["decoded_p95_ms"] == pytest.approx(37.6)
    assert ratio["p95"] == pytest.approx(metrics["p95_ms"] / reference["p95_ms"], abs=1e-3)


def test_budgets_are_judged_not_loosened() -> None:
    result = _result()
    # ours p95 58.5 ms over Chromium's 99 ms is 0.59: over the 0.5 budget, and said so
    assert result["ratio"]["p95"] == pytest.approx(0.591)  # type: ignore[index]
    assert result["params"]["budget"] == {  # type: ignore[index]
        "p95_ratio_le_0_5": False,
        "paint_p95_le_16_7ms": True,
        "rss_call_le_400mib": True,
        "rss_budget_applies": True,
    }


def test_no_samples_gives_nulls_not_a_crash() -> None:
    metrics = g2g.summarise_ours({"samples": [], "rss_mib": []})
    assert metrics["p95_ms"] is None and metrics["paint_p95_ms"] is None
    assert metrics["rss_call_mib"] is None
    result = _common.BenchResult(metrics=metrics, reference=g2g.summarise_reference({}, 1.0))
    assert g2g.budget(result, (640, 480)) == {
        "p95_ratio_le_0_5": False,
        "paint_p95_le_16_7ms": False,
        "rss_call_le_400mib": False,
        "rss_budget_applies": False,
    }
