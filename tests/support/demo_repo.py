# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The demo's butler repository maker (examples/demo/make_repo.py), loaded for the tests."""

import importlib.util
import sys

from support.paths import REPO_ROOT

PACKAGE_DIR = REPO_ROOT

DEMO_DIR = PACKAGE_DIR / "examples" / "demo"


def _load_make_repo():
    spec = importlib.util.spec_from_file_location("demo_make_repo", DEMO_DIR / "make_repo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
