# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The loopback PanDA URLs of this test process, set before anything imports ``pandaclient``.

Importing ``pandaclient`` reads the PanDA URLs and resolves the cache host at import time, so
every URL is pointed at a loopback port chosen here (one per process: each pytest-xdist worker
gets its own).  Servers started by tests bind to that port.
"""

import os
import socket

__all__ = ["TEST_PANDA_PORT", "TEST_PANDA_URL"]


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _test_port() -> int:
    """``$CTRL_BPS_PANDA_TEST_PORT`` plus the xdist worker's number (``gw3``: +3), else a free port."""
    chosen = os.environ.get("CTRL_BPS_PANDA_TEST_PORT")
    if not chosen:
        return _free_loopback_port()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(chosen) + int(worker.removeprefix("gw") or 0)


TEST_PANDA_PORT = _test_port()
TEST_PANDA_URL = f"http://127.0.0.1:{TEST_PANDA_PORT}/server/panda"

for _name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL"):
    os.environ[_name] = TEST_PANDA_URL
os.environ["PANDA_BEHIND_REAL_LB"] = "1"
os.environ.setdefault("PANDA_AUTH", "oidc")
os.environ.setdefault("PANDA_AUTH_VO", "local")
os.environ.pop("X509_USER_PROXY", None)
