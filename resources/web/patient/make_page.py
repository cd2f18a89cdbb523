#!/usr/bin/env python3
"""Write index.html from index.template.html and media-servers.toml (both beside this file).

    python3 make_page.py [--config media-servers.toml] [--out index.html]

The page carries its own Content-Security-Policy as a <meta http-equiv> tag, so it is
protected however the clinic serves it: scripts and styles only from the page's own
origin, and connections only to the media servers listed in media-servers.toml. The
same list goes into <meta name="cc-media-servers"> for patient.js, which refuses a link
naming another server with a clear message before the browser would.

Standard library only (tomllib: Python 3.11+), so IT can run it on the web server.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
SCHEMES = {"wss", "https", "ws", "http"}
# Characters that would end or split a CSP source expression or the meta attribute.
FORBIDDEN = set(" \t\r\n;,'\"<>\\")


def check_server(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname or FORBIDDEN & set(url):
        raise SystemExit(
            f"make_page: {url!r} is not a media server address (wss://host[:port]/path)"
        )
    if parts.query or parts.fragment:
        raise SystemExit(f"make_page: {url!r}: no query or fragment in a media server address")
    if parts.scheme in ("ws", "http"):
        print(
            f"make_page: warning: {url} is not encrypted (use wss:// or https://)", file=sys.stderr
        )
    return url


def policy(servers: list[str]) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "media-src 'self' blob: mediastream:",
            "connect-src " + " ".join(servers),
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def render(template: str, servers: list[str]) -> str:
    csp = html.escape(policy(servers), quote=False)  # no quotes of either kind survive
    listed = html.escape(json.dumps(servers))
    tags = (
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        f'  <meta name="cc-media-servers" content="{listed}">'
    )
    if template.count("<!-- CSP -->") != 1:
        raise SystemExit("make_page: the template must contain one <!-- CSP --> marker")
    return template.replace("<!-- CSP -->", tags)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", type=Path, default=HERE / "media-servers.toml")
    parser.add_argument("--template", type=Path, default=HERE / "index.template.html")
    parser.add_argument("--out", type=Path, default=HERE / "index.html")
    args = parser.parse_args(argv)
    with args.config.open("rb") as f:
        config = tomllib.load(f)
    servers = config.get("servers")
    if not isinstance(servers, list) or not servers or not all(isinstance(s, str) for s in servers):
        raise SystemExit('make_page: media-servers.toml needs servers = ["wss://...", ...]')
    page = render(args.template.read_text(encoding="utf-8"), [check_server(s) for s in servers])
    args.out.write_text(page, encoding="utf-8")
    print(f"make_page: wrote {args.out} for {len(servers)} media server(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
