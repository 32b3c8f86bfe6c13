# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Helpers shared by the tests (not tests themselves); fixtures live in the conftest.py files.

``pytest`` puts ``tests/`` on ``sys.path`` (``pythonpath`` in pyproject.toml), so tests write
``from support.local_panda import ShellDag``.  `loopback` must be imported before ``pandaclient``:
the root conftest.py does that first.  It picks a port per process, so it is not imported here:
a subprocess that imports another helper keeps the URLs its parent gave it.
"""
