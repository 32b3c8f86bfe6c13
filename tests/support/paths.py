# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Where things are in the checkout, for the tests."""

from pathlib import Path

__all__ = ["DATA_DIR", "DEMO_DIR", "ENVELOPES_DIR", "REPO_ROOT", "TESTS_DIR"]

TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS_DIR.parent
DATA_DIR = TESTS_DIR / "data"
DEMO_DIR = REPO_ROOT / "examples" / "demo"
# The recorded relay replies are package data of the testing kit (the wheel ships them).
ENVELOPES_DIR = REPO_ROOT / "python" / "lsst" / "ctrl" / "bps" / "panda" / "testing" / "envelopes"
