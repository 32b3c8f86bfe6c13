# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Processes and ports of the iDDS stack (`idds_stack`): find, probe, end."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .idds_config import HOME_MARKER

__all__ = ["free_port", "http_ok", "owned_by", "terminate_group"]


def free_port(preferred: int | None = None) -> int:
    """Return ``preferred`` if it is free on 127.0.0.1, else any free port.

    Parameters
    ----------
    preferred : `int`, optional
        Port to take if it is free.
    """
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError("no free port on 127.0.0.1")


def owned_by(pid: int, home: Path) -> bool:
    """Return whether process ``pid`` runs and is a piece of the stack in ``home``.

    A piece works in ``home`` (Redis in ``home/redis``) and has ``PANDA_LOCAL_IDDS_HOME`` in its environment;
    Redis rewrites its environment's memory for its process title, so its directory decides.

    Parameters
    ----------
    pid : `int`
        The process.
    home : `pathlib.Path`
        The stack's directory.
    """
    try:
        cwd = Path(f"/proc/{pid}/cwd").resolve()
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    home = home.resolve()
    return (cwd == home or home in cwd.parents) or f"{HOME_MARKER}={home}".encode() in environ


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Return whether ``url`` answers HTTP 200.

    Parameters
    ----------
    url : `str`
        The URL to get.
    timeout : `float`, optional
        Seconds to wait for the answer.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status == 200
    except (OSError, urllib.error.URLError):
        return False


def terminate_group(pid: int, process: subprocess.Popen | None, grace: float) -> None:
    """SIGTERM the process group of ``pid``; SIGKILL it after ``grace`` seconds.

    Parameters
    ----------
    pid : `int`
        Leader of the process group.
    process : `subprocess.Popen` or `None`
        The leader, when this process started it (it is then reaped).
    grace : `float`
        Seconds between SIGTERM and SIGKILL.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        if process is None and not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
