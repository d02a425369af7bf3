"""The headless browser shared by the explorer's browser tests: Debian's Chromium driven by
Selenium through the system chromedriver (no Selenium Manager, no download: SE_OFFLINE).
Importing this module skips the importing test module without selenium; ``needs_chromium``
skips it without chromium or chromedriver (``.ci/run`` installs them)."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="chromium and chromium-driver are not installed"
)


def headless_chromium():
    """A headless Chromium (1200x800 window), quit when the generator is closed: the body of a
    test module's ``browser`` fixture (``yield from headless_chromium()``)."""
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager fetch a driver
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,800",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
