"""Render media/icon.svg to media/icon.png (128x128) with the Chromium the real-VS-Code
tests use: `python scripts/render-icon.py` in editors/vscode (Playwright for Python)."""

from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parents[1]
svg = (HERE / "media/icon.svg").read_text()
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(
        executable_path="/usr/lib/chromium/chromium", args=["--no-sandbox"]
    )
    page = browser.new_page(viewport={"width": 128, "height": 128})
    page.set_content(f"<body style='margin:0;background:transparent'>{svg}</body>")
    page.locator("svg").screenshot(path=str(HERE / "media/icon.png"), omit_background=True)
    browser.close()
