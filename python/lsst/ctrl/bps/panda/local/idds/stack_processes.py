# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Processes and ports of the iDDS stack (`idds_stack`): find, probe, end."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .idds_config import HOME_MARKER

__all__ = ["free_port", "http_ok", "owned_by", "terminate_group"]


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
"""Where Linux keeps the range of ports it gives to outgoing connections and to ``bind(0)``."""

LISTEN_PORTS_FROM = 20000
"""The lowest port `free_port` picks when it draws one (below the kernel's ephemeral range)."""

LISTEN_PORTS_BELOW = 32768
"""Where the ephemeral range starts when `EPHEMERAL_RANGE_FILE` cannot be read (Linux's default)."""

DRAWS = 200
"""Random ports `free_port` tries before it takes one from the kernel."""


def free_port(preferred: int | None = None) -> int:
    """Return ``preferred`` if it is free on 127.0.0.1, else a free port drawn below the ephemeral range.

    A server is started seconds after its port is chosen (PostgreSQL first, then the schema).  A
    port from the kernel's ephemeral range (what ``bind(0)`` gives) can meanwhile become the local
    end of any outgoing connection on the machine, and the server then fails with "Address already
    in use"; a port drawn at random below that range is taken only by a listener that chose it too.

    Parameters
    ----------
    preferred : `int`, optional
        Port to take if it is free.
    """
    first_ephemeral = _first_ephemeral_port()
    draws = []
    if first_ephemeral > LISTEN_PORTS_FROM:  # else an unusual kernel setting leaves no room below it
        draws = [random.randrange(LISTEN_PORTS_FROM, first_ephemeral) for _ in range(DRAWS)]
    for port in ([preferred] if preferred else []) + draws + [0]:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError("no free port on 127.0.0.1")


def _first_ephemeral_port() -> int:
    """Return the first port of the kernel's ephemeral range (`LISTEN_PORTS_BELOW` if unknown)."""
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return LISTEN_PORTS_BELOW


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
