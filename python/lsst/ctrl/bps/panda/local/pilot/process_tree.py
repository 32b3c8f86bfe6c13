# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""What the executor asks of the operating system about an attempt's processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil

__all__ = ["EXIT_CODE_FILE", "kill_group", "pidfd", "read_exit_code", "tree_rss_mb"]

EXIT_CODE_FILE = ".panda_local_exit_code"
"""File in the attempt's working directory holding the payload's exit code."""


def tree_rss_mb(process: psutil.Process) -> tuple[float, list[psutil.Process]]:
    """Return the resident memory (MB) of a process and its descendants, and those processes.

    Parameters
    ----------
    process : `psutil.Process`
        The root process.
    """
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0.0, []
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total / 1024**2, members


def read_exit_code(workdir: Path) -> int | None:
    """Return the exit code the wrapper wrote in an attempt's directory (`None` if none).

    Parameters
    ----------
    workdir : `pathlib.Path`
        Working directory of the attempt.
    """
    try:
        return int((workdir / EXIT_CODE_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def pidfd(pid: int) -> int | None:
    """Return a descriptor that becomes readable when ``pid`` exits (`None` if unavailable).

    Parameters
    ----------
    pid : `int`
        The process.
    """
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def kill_group(pgid: int) -> None:
    """Kill a process group, if it still exists.

    Parameters
    ----------
    pgid : `int`
        The process group.
    """
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
