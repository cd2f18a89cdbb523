"""Make a browser's video sender ramp to 720p quickly when the far end is aiortc.

What happens otherwise: aiortc offers no transport-wide congestion control
(no ``transport-cc`` feedback), only ``goog-remb`` with the ``abs-send-time``
header extension; its ``RemoteBitrateEstimator`` does send REMB, but Chromium's
send-side estimate starts at its default ~300 kbit/s and climbs slowly from REMB
alone, and at that rate its encoder adapts resolution down to 640x360.

What we do: in every SDP we send to a browser (the answer to its offer, or our
offer), add to each VP8 and H264 payload type's ``a=fmtp`` (creating the line
when a codec has none, as VP8 usually does)
``x-google-start-bitrate``, ``x-google-min-bitrate`` and ``x-google-max-bitrate``
(kbit/s; libwebrtc reads these from the *remote* description and seeds its
bandwidth estimator with them), plus a session-independent ``b=AS`` on the
video m-section as the ceiling for non-Chromium browsers. ``goog-remb`` feedback
is added where missing so the estimate can keep moving after the start.

:func:`apply_browser_ramp` is pure text in, text out; unknown or malformed
lines are left exactly as they were.
"""

from __future__ import annotations

import re

START_KBPS = 2500
MIN_KBPS = 800
MAX_KBPS = 4000
_CODECS = ("vp8", "h264")
_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([A-Za-z0-9-]+)/\d+")
_FMTP = re.compile(r"^a=fmtp:(\d+) ?(.*)$")
_GOOGLE = ("x-google-start-bitrate", "x-google-min-bitrate", "x-google-max-bitrate")


def _with_google_params(params: str, values: dict[str, int]) -> str:
    kept = [p for p in params.split(";") if p.strip() and p.split("=")[0].strip() not in _GOOGLE]
    kept += [f"{key}={value}" for key, value in values.items()]
    return ";".join(kept)


def apply_browser_ramp(
    sdp: str, start_kbps: int = START_KBPS, min_kbps: int = MIN_KBPS, max_kbps: int = MAX_KBPS
) -> str:
    """``sdp`` with start/min/max bitrate hints on its VP8/H264 video codecs (see module doc)."""
    if not 0 < min_kbps <= start_kbps <= max_kbps:
        raise ValueError("need 0 < min_kbps <= start_kbps <= max_kbps")
    newline = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.split(newline)
    trailing = lines and lines[-1] == ""
    if trailing:
        lines = lines[:-1]
    values = {
        "x-google-start-bitrate": start_kbps,
        "x-google-min-bitrate": min_kbps,
        "x-google-max-bitrate": max_kbps,
    }
    # Split into the session part and m-sections.
    sections: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    out: list[str] = list(sections[0])
    for section in sections[1:]:
        if not section[0].startswith("m=video"):
            out += section
            continue
        targets = {
            m.group(1)
            for line in section
            if (m := _RTPMAP.match(line)) and m.group(2).lower() in _CODECS
        }
        with_fmtp = {m.group(1) for line in section if (m := _FMTP.match(line))}
        with_remb = {
            line.split()[0].split(":")[1]
            for line in section
            if line.startswith("a=rtcp-fb:") and line.rstrip().endswith(" goog-remb")
        }
        new: list[str] = []
        for line in section:
            if line.startswith("b=AS:") or line.startswith("b=TIAS:"):
                continue  # replaced below
            fmtp = _FMTP.match(line)
            if fmtp and fmtp.group(1) in targets:
                new.append(f"a=fmtp:{fmtp.group(1)} {_with_google_params(fmtp.group(2), values)}")
            else:
                new.append(line)
            rtpmap = _RTPMAP.match(line)
            if rtpmap and rtpmap.group(1) in targets:
                pt = rtpmap.group(1)
                if pt not in with_remb:
                    new.append(f"a=rtcp-fb:{pt} goog-remb")
                if pt not in with_fmtp:
                    new.append(f"a=fmtp:{pt} {_with_google_params('', values)}")
        # b= lines go right after c= (RFC 8866 §5 order: c=, b=, then a=).
        at = next((i + 1 for i, line in enumerate(new) if line.startswith("c=")), 1)
        new.insert(at, f"b=AS:{max_kbps}")
        out += new
    return newline.join(out) + (newline if trailing else "")


def ramp_hints(sdp: str) -> dict[str, dict[str, int]]:
    """The x-google bitrate hints per video payload type in ``sdp`` (for tests and logs)."""
    found: dict[str, dict[str, int]] = {}
    for line in sdp.splitlines():
        fmtp = _FMTP.match(line)
        if not fmtp:
            continue
        hints = {}
        for part in fmtp.group(2).split(";"):
            key, _, value = part.strip().partition("=")
            if key in _GOOGLE and value.isdigit():
                hints[key] = int(value)
        if hints:
            found[fmtp.group(1)] = hints
    return found
