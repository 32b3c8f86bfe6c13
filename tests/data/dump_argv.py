#!/usr/bin/env python3
# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Test payload: print what it received as JSON on stdout.

Prints its arguments, the ``RT_*`` environment variables and the files in its
working directory (recursively, relative paths).
"""

import json
import os
import sys

files = sorted(
    os.path.relpath(os.path.join(root, name), ".") for root, _, names in os.walk(".") for name in names
)
env = {name: value for name, value in os.environ.items() if name.startswith("RT_")}
json.dump({"argv": sys.argv[1:], "env": env, "files": files}, sys.stdout)
