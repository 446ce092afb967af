"""Headless Chromium from Debian's ``chromium`` package, driven by Playwright (never a browser download).

Locally a missing Chromium skips the browser tests with the command that installs it; under
``CI=true`` it fails them (``.ci/run`` installs the package). Screenshots go to the test's own
directory, and also to ``$LUNA_SCREENSHOTS`` when set (how the README's pictures are refreshed).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Page

__all__ = ["CHROMIUM", "chromium_page", "screenshot"]

CHROMIUM = "/usr/bin/chromium"
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@asynccontextmanager
async def chromium_page(*, width: int = 1280, height: int = 900) -> AsyncIterator[Page]:
    """A fresh page in a fresh headless Chromium (its own profile, no cookies)."""
    _require_chromium()
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only the browser tests need it

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(_FLAGS))
        try:
            context = await browser.new_context(viewport={"width": width, "height": height})
            page = await context.new_page()
            yield page
            await context.close()
        finally:
            await browser.close()


async def screenshot(page: Page, directory: Path, name: str) -> Path:
    """Save a full-page PNG as ``directory/name.png`` (and into ``$LUNA_SCREENSHOTS`` when set); return its path.

    The file is written here, not by Playwright: its ``path=`` writes through the loop's default
    executor, whose thread outlives the test.
    """
    png = await page.screenshot(full_page=True)
    path = directory / f"{name}.png"
    path.write_bytes(png)
    wanted = os.environ.get("LUNA_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
        (Path(wanted) / path.name).write_bytes(png)
    return path
