"""Debian's Chromium driven by Playwright — never a downloaded browser."""

from __future__ import annotations

import os
from contextlib import contextmanager

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def chromium_available() -> bool:
    return os.access(CHROMIUM, os.X_OK)


@contextmanager
def chromium(*extra_args: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args],
                                             headless=True)
        try:
            yield browser
        finally:
            browser.close()
