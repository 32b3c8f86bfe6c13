# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""What lets the local PanDA survive its own faults: launch tokens and storage errors.

Every attempt carries a launch token in its environment from the moment its
process exists, so that a server killed before it recorded the pid can still
find the process (`find_launched`) instead of starting the job a second time.
A storage error (disk full, read-only, I/O) is the state directory's fault,
not the job's: the engine holds what it could not record and waits for room
(`probe_storage`).
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

import psutil

__all__ = ["LAUNCH_TOKEN_ENV", "find_launched", "is_storage_error", "launch_token", "probe_storage"]

LAUNCH_TOKEN_ENV = "PANDA_LOCAL_LAUNCH"
"""Environment variable carrying an attempt's launch token (``<state dir>#<PANDAID>``)."""

PROBE_BYTES = 256 * 1024
"""Room the state directory must have before jobs start again after a storage fault."""

_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def launch_token(launch_tag: str, attempt_id: int) -> str:
    """Return the token an attempt carries in ``PANDA_LOCAL_LAUNCH``.

    Parameters
    ----------
    launch_tag : `str`
        Tag of the local PanDA that launched the attempt (its state directory).
    attempt_id : `int`
        The attempt.
    """
    return f"{launch_tag}#{attempt_id}"


def find_launched(launch_tag: str, attempt_id: int) -> tuple[int, float] | None:
    """Find a live process of an attempt by the launch token in its environment.

    Parameters
    ----------
    launch_tag : `str`
        Tag of the local PanDA that launched the attempt (its state directory).
    attempt_id : `int`
        The attempt.

    Returns
    -------
    found : `tuple` [`int`, `float`] or `None`
        Pid and creation time of the attempt's wrapper (the process of the token that leads its
        session), `None` when no process carries the token.
    """
    token = launch_token(launch_tag, attempt_id)
    carriers = []
    for process in psutil.process_iter(["pid", "create_time"]):
        try:
            if process.environ().get(LAUNCH_TOKEN_ENV) == token and process.status() != psutil.STATUS_ZOMBIE:
                carriers.append(process)
        except psutil.Error:
            continue
    if not carriers:
        return None
    leaders = [p for p in carriers if _session_of(p.info["pid"]) == p.info["pid"]]
    chosen = min(leaders or carriers, key=lambda p: p.info["create_time"])
    return chosen.info["pid"], chosen.info["create_time"]


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def is_storage_error(exc: BaseException) -> bool:
    """Return whether an error is the storage's (disk full, read-only, I/O), not the job's.

    Parameters
    ----------
    exc : `BaseException`
        The error.
    """
    if isinstance(exc, OSError):
        return exc.errno in _STORAGE_ERRNOS
    text = str(exc).lower()
    return any(word in text for word in ("disk is full", "disk i/o", "readonly", "read-only"))


def probe_storage(root: Path) -> None:
    """Raise `OSError` unless ``root`` has room again (a small file is written and removed).

    Parameters
    ----------
    root : `pathlib.Path`
        Directory on the storage.
    """
    probe = root / ".space_probe"
    try:
        with open(probe, "wb") as stream:
            stream.write(b"\0" * PROBE_BYTES)
            stream.flush()
            os.fsync(stream.fileno())
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
