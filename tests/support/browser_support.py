# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""A headless Chromium for tests, from Debian's chromium and /usr/bin/chromedriver (never downloaded).

``make test`` installs both when missing; their absence fails the test (never a skip).
Screenshots go to ``$PANDA_SCREENSHOT_DIR`` (``make screenshots``) or the test's own directory.
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMEDRIVER = "/usr/bin/chromedriver"


def screenshot_dir(tmp_path):
    """Return where screenshots go (created)."""
    directory = Path(os.environ.get("PANDA_SCREENSHOT_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def chromium():
    """Yield a headless Chromium driven by Selenium (the body of a ``browser`` fixture)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not (chromium and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and /usr/bin/chromedriver are missing: `make test` installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
