# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Where a running local PanDA says it serves: its state directory's server record and lock.

A shared word: the local PanDA writes these files (`~lsst.ctrl.bps.panda.local.state.state_dir`),
and the plugin reads them for its hints (``wms.idds_port``) without importing the local package.
"""

from __future__ import annotations

__all__ = ["LOCK_NAME", "RECORD_NAME", "STATE_DIR_ENV", "lock_is_held", "read_server_record"]

import fcntl
import json
from pathlib import Path
from typing import Any

STATE_DIR_ENV = "PANDA_LOCAL_STATE_DIR"
"""Environment variable naming the default state directory."""

RECORD_NAME = "server.json"
"""The running server's record (pid, port, url) in its state directory."""

LOCK_NAME = "server.lock"
"""The file a running server holds locked (flock): one server per state directory."""


def read_server_record(root: Path) -> dict[str, Any] | None:
    """Return the server record of a state directory, or `None` when there is none.

    Parameters
    ----------
    root : `pathlib.Path`
        The state directory.

    Returns
    -------
    record : `dict` [`str`, `typing.Any`] or `None`
        The record as the server wrote it; `None` when missing or unreadable.
    """
    try:
        return json.loads((root / RECORD_NAME).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


def lock_is_held(root: Path) -> bool:
    """Return whether a server process holds the lock of a state directory.

    Parameters
    ----------
    root : `pathlib.Path`
        The state directory.

    Returns
    -------
    held : `bool`
        `True` when another open file holds the lock.
    """
    lock_path = root / LOCK_NAME
    if not lock_path.exists():
        return False
    with open(lock_path, "a+") as stream:
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(stream, fcntl.LOCK_UN)
    return False
