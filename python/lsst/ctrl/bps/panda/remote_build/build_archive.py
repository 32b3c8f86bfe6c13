# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The remote build's archive: pack it, put it in the PanDA cache, name its URL.

The archive (``jobO.<uuid>.tar.gz``) holds the submit YAML, ``remoteBuild.files`` by base name
and `BUILD_CONTEXT_FILE`.  It goes to the cache through the PanDA client (``Client.putFile``), a
bounded number of tries with doubling pauses: a cache that keeps refusing stops the submission
before anything is submitted.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tarfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import CacheUploadError, PandaConfigError

__all__ = [
    "BUILD_CONTEXT_FILE",
    "CACHE_NO_BUILD_LIMIT",
    "cache_url",
    "pack_archive",
    "upload_to_cache",
]

_LOG = logging.getLogger(__name__)

CACHE_NO_BUILD_LIMIT = 10 * 1024**2
"""Largest archive the PanDA cache takes under a ``jobO.`` name (the PanDA client and server check it)."""

BUILD_CONTEXT_FILE = "bps_remote_build.json"
"""Archive member with the submit side's ``outputRun``, so the build makes the run the user was shown."""


def pack_archive(
    config_file: str, files: tuple[str, ...], directory: Path, context: dict[str, str] | None = None
) -> Path:
    """Pack the submit YAML and ``remoteBuild.files`` (by base name) into ``jobO.<uuid>.tar.gz``.

    Parameters
    ----------
    config_file : `str`
        Path of the submit YAML (environment variables and ``~`` are expanded).
    files : `tuple` [`str`, ...]
        Paths of the ``remoteBuild.files`` entries.
    directory : `pathlib.Path`
        Directory the archive is written to.
    context : `dict` [`str`, `str`], optional
        Values written into the archive as the JSON member `BUILD_CONTEXT_FILE`, when given.

    Raises
    ------
    PandaConfigError
        Raised if a file is missing, two files share a base name, or the archive is above
        `CACHE_NO_BUILD_LIMIT`.
    """
    members: dict[str, Path] = {}
    for index, name in enumerate((config_file, *files)):
        path = Path(os.path.expandvars(name)).expanduser()
        what = "the submit YAML" if index == 0 else f"remoteBuild.files entry {name!r}"
        if not path.exists():
            raise PandaConfigError(f"{what} does not exist ({path}); nothing was submitted")
        if path.name in members:
            raise PandaConfigError(
                f"{what} has the same base name as {members[path.name]}: the build job unpacks every file "
                "by base name into one directory; rename one of them"
            )
        members[path.name] = path
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / f"jobO.{uuid.uuid4()}.tar.gz"
    with tarfile.open(archive, "w:gz", dereference=True) as tar:
        for arcname, path in members.items():
            tar.add(path, arcname=arcname)
        if context is not None:
            data = json.dumps(context, indent=1).encode()
            info = tarfile.TarInfo(BUILD_CONTEXT_FILE)
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    size = archive.stat().st_size
    if size > CACHE_NO_BUILD_LIMIT:
        raise PandaConfigError(
            f"The remote build archive {archive} is {size / 1024**2:.1f} MB, above the PanDA cache's "
            f"{CACHE_NO_BUILD_LIMIT // 1024**2} MB limit: leave large files out of remoteBuild.files "
            "(put them where the build job can read them); nothing was submitted"
        )
    _LOG.info("Packed %s (%d bytes): %s", archive.name, size, ", ".join(members))
    return archive


def _put_file(path: str) -> tuple[int, Any]:
    from pandaclient import Client

    return Client.putFile(path, verbose=False, useCacheSrv=True, n_try=1)


def cache_url(archive_name: str) -> str:
    """Return the URL the build job downloads ``archive_name`` from (``$PANDACACHE_URL/cache/<name>``).

    Parameters
    ----------
    archive_name : `str`
        Base name of the archive in the PanDA cache.
    """
    from pandaclient import Client

    return f"{Client.baseURLCSRVSSL.rstrip('/')}/cache/{archive_name}"


def upload_to_cache(
    archive: Path,
    attempts: int,
    backoff: float,
    put: Callable[[str], tuple[int, Any]] = _put_file,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Put ``archive`` in the PanDA cache, trying ``attempts`` times with doubling pauses.

    Parameters
    ----------
    archive : `pathlib.Path`
        The archive to upload.
    attempts : `int`
        How many times to try before giving up.
    backoff : `float`
        Pause in seconds after the first refused try; doubled after each further one.
    put : `~collections.abc.Callable` [[`str`], `tuple` [`int`, `typing.Any`]], optional
        Uploads a file and returns the PanDA client's status and answer.
    sleep : `~collections.abc.Callable` [[`float`], `None`], optional
        Waits the given number of seconds (replaced in tests).

    Raises
    ------
    CacheUploadError
        Raised after the last refused try, with every try's answer.
    """
    answers = []
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            status, output = put(str(archive))
        except Exception as exc:  # the client's HTTP layer or its authentication gave up
            status, output = -1, f"{type(exc).__name__}: {exc}"
        text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
        if status == 0 and text == "True":
            _LOG.info("Put %s in the PanDA cache (try %d of %d)", archive.name, attempt, attempts)
            return
        answers.append(f"try {attempt}: status {status}: {text.strip()[:300]}")
        if attempt < attempts:
            _LOG.warning(
                "The PanDA cache refused %s (try %d of %d: status %s, %s); trying again in %.1f s",
                archive.name,
                attempt,
                attempts,
                status,
                text.strip()[:200],
                delay,
            )
            sleep(delay)
            delay *= 2
    raise CacheUploadError(
        f"The PanDA cache refused the remote build archive {archive.name} {attempts} times "
        f"({'; '.join(answers)}); nothing was submitted. Check PANDACACHE_URL and your token, or raise "
        "remoteBuild.uploadAttempts"
    )
