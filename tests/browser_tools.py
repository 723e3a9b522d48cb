"""Headless Chromium for the browser tests, driven by selenium through Debian's `chromium-driver`.

Importable from pytest (tests/ is on `sys.path`). `CHROMIUM` and `DRIVER` are None where they are missing, so
that tests can skip with the install command.
"""

from __future__ import annotations

import contextlib
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
# For a test module's `pytestmark`: skip, with the install command, where Chromium or its driver is missing.
requires_chromium = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Chromium and its driver: sudo apt-get install chromium chromium-driver",
)


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 1000, offline: bool = False):
    """Yield a headless Chromium WebDriver, and quit it afterwards.

    With `offline`, every host name but loopback resolves to nothing: a page that needs a CDN shows it, as in a
    classroom without internet.
    """
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    if offline:
        options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    try:
        yield driver
    finally:
        driver.quit()
