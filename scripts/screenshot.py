"""Open an HTML file in Debian's Chromium (headless, no network), fail on any console error or outside request,
and save a screenshot: `python scripts/screenshot.py report/report.html docs/report-screenshot.png [--full]`."""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]  # fmt: skip


def main(page_path: Path, shot: Path, full: bool) -> int:
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1500})
        page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(r.url))
        page.goto(page_path.resolve().as_uri(), wait_until="load")
        page.evaluate("document.fonts.ready")
        if not page.evaluate("document.fonts.check('16px NanumGothic', '한국어')"):
            problems.append("NanumGothic is not available to the page")
        page.screenshot(path=str(shot), full_page=full)
        browser.close()
    for line in problems:
        print(line, file=sys.stderr)
    print(f"{shot}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), "--full" in sys.argv))
