# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Submit and wait on a ``panda_local`` engine (the shared engine suite)."""

import time

from support.local_panda import call_ok

TIMEOUT = {"embedded": 120.0, "idds": 300.0, "panda": 600.0}
"""Seconds a request may take to end: the real conductor hands a message to PanDA a few seconds
(``PANDA_LOCAL_IDDS_RELEASE_DELAY``, 3 s) after writing it, plus its 3 s polls per level, on a
busy machine; on the panda engine JEDI adds its loop cycles (5-10 s) per level and hands jobs out
about 30 s after a task's submit."""


def submit(idds_api, dag) -> int:
    return call_ok(idds_api.submit(dag.workflow))


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
