#!/usr/bin/env python3
"""Checks of the rendered /docs page, for scripts/e2e/run.sh.

Inputs are files run.sh fetched or produced: the HTML the app serves at /docs, the DOM that
headless Chromium dumped after Swagger UI ran, the OpenAPI document served at
/openapi/v2.json, and the screenshot. Prints one `ok - ...` / `not ok - ...` line per check;
exits 1 if any failed. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
from pathlib import Path

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_SCREENSHOT_BYTES = 400 * 1024


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, required=True, help="the page as served at /docs")
    parser.add_argument("--dom", type=Path, required=True, help="Chromium's --dump-dom output")
    parser.add_argument("--openapi", type=Path, required=True, help="the document served at /openapi/v2.json")
    parser.add_argument("--screenshot", type=Path, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--height", type=int, required=True)
    args = parser.parse_args()

    failed = 0

    def check(ok: bool, what: str, detail: str = "") -> None:
        nonlocal failed
        if ok:
            print(f"ok - {what}")
        else:
            failed += 1
            print(f"not ok - {what}" + (f": {detail}" if detail else ""))

    # 1. The page works offline: every script and stylesheet comes from the app itself.
    html = read(args.html)
    refs = re.findall(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""", html, re.IGNORECASE)
    foreign = [r for r in refs if re.match(r"^(?:[a-z][a-z0-9+.-]*:)?//", r, re.IGNORECASE)]
    check(bool(refs) and not foreign, "/docs loads every script and stylesheet from the app itself",
          f"references {foreign or 'nothing'}")

    # 2. Swagger UI rendered every operation of the document.
    try:
        document = json.loads(read(args.openapi))
    except json.JSONDecodeError:
        document = {}
    expected = sorted(
        (method.upper(), path)
        for path, item in document.get("paths", {}).items()
        for method in item
        if method in HTTP_METHODS
    )
    dom = read(args.dom)
    shown = sorted(
        (m.group(1).upper(), m.group(2).replace("&amp;", "&"))
        for m in re.finditer(
            r'opblock-summary-method">([A-Za-z]+)</span>.*?class="opblock-summary-path" data-path="([^"]+)"',
            dom,
            re.DOTALL,
        )
    )
    check(bool(expected), "the served v2 document has operations", "no paths")
    missing = sorted(set(expected) - set(shown))
    check(not missing and bool(shown), "the rendered page shows every v2 operation (method and path)",
          f"missing {missing}, shown {shown}")
    check("/v2/projects/{id}" in {p for _, p in shown}, "the rendered page shows /v2/projects/{id}")
    blocks = re.findall(r'class="opblock opblock-(' + "|".join(HTTP_METHODS) + r')\b', dom)
    check(bool(expected) and len(blocks) == len(expected), "the rendered page has one Swagger UI opblock per operation",
          f"{len(blocks)} opblocks for {len(expected)} operations")
    title = document.get("info", {}).get("title", "")
    check(bool(title) and f'class="title">{title}' in dom, "the rendered page shows the document's title", repr(title))

    # 3. The screenshot is a PNG of the requested size, small enough to commit.
    data = args.screenshot.read_bytes() if args.screenshot.is_file() else b""
    size_ok = data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 24
    width, height = struct.unpack(">II", data[16:24]) if size_ok else (0, 0)
    check(size_ok and (width, height) == (args.width, args.height),
          f"the screenshot is a {args.width}x{args.height} PNG", f"{len(data)} bytes, {width}x{height}")
    check(0 < len(data) <= MAX_SCREENSHOT_BYTES, "the screenshot is at most 400 KB", f"{len(data)} bytes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
