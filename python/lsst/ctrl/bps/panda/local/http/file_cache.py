# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The local PanDA's file cache: what ``pandaclient.Client.putFile`` and ``getFile`` use.

- ``POST /api/v1/file_server/upload_cache_file`` (multipart field ``file``): the PanDA
  server's upload, with its answers: ``{"success": true, "message": "", "data": null}``, or
  ``success: false`` with the real server's messages (size limit, no overwrite, cannot write).
  The size limits are the real server's: 10 MB for names not starting with ``sources.``,
  768 MB for ``sources.*``, 100 MB for ``*.out`` logs.
- ``GET /cache/<name>``: the file, as the cache host serves its cache directory.

Both need a valid token of this local PanDA (the upload is refused before its body is read by the
relay's channel check; the download is checked here).  Files live under
``<state dir>/cache``, written whole under a temporary name and renamed, so a download never
sees half a file.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path

from flask import Blueprint, Response, jsonify, request, send_file

from .auth_gate import request_refusal

__all__ = [
    "CACHE_DOWNLOAD_PREFIX",
    "CACHE_UPLOAD_PATH",
    "LOG_LIMIT",
    "NO_BUILD_LIMIT",
    "SANDBOX_LIMIT",
    "cache_blueprint",
    "size_limit_for",
]

_LOG = logging.getLogger(__name__)

CACHE_UPLOAD_PATH = "/api/v1/file_server/upload_cache_file"
"""Where ``Client.putFile`` posts a file (``<cache host>/api/v1/...``)."""

CACHE_DOWNLOAD_PREFIX = "/cache/"
"""Where ``Client.getFile`` reads a file (``<cache host>/cache/<name>``)."""

_MB = 1024**2
NO_BUILD_LIMIT = 10 * _MB
SANDBOX_LIMIT = 768 * _MB
LOG_LIMIT = 100 * _MB

ERROR_OVERWRITE = "ERROR: cannot overwrite file"
ERROR_WRITE = "ERROR: cannot write file"
ERROR_SIZE_LIMIT = "ERROR: upload failure. Exceeded size limit"
"""The real PanDA server's messages (``pandaserver.api.v1.file_server_api``)."""

_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}")


def size_limit_for(name: str) -> int:
    """Return the largest upload the cache takes under ``name`` (the real server's rule).

    Parameters
    ----------
    name : `str`
        Base name the file is uploaded under.
    """
    if name.endswith(".out"):
        return LOG_LIMIT
    return SANDBOX_LIMIT if name.startswith("sources.") else NO_BUILD_LIMIT


def _answer(success: bool, message: str = "") -> Response:
    return jsonify({"success": success, "message": message, "data": None})


def _write_whole(directory: Path, name: str, stream: object) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "wb") as target:
            while chunk := stream.read(1024 * 1024):  # type: ignore[attr-defined]
                target.write(chunk)
        os.replace(temporary, directory / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def cache_blueprint(cache_dir: Path) -> Blueprint:
    """Return the blueprint of the cache endpoints.

    Both need a valid token of this local PanDA, checked like every other call
    (`early_auth.request_refusal`).

    Parameters
    ----------
    cache_dir : `pathlib.Path`
        Where cached files live (``<state dir>/cache``).
    """
    blueprint = Blueprint("panda_cache", __name__)
    refused = request_refusal

    @blueprint.post(CACHE_UPLOAD_PATH)
    def upload_cache_file() -> Response:
        if (denied := refused()) is not None:
            return denied
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            return _answer(False, "ERROR: no file in the request (multipart field 'file')")
        name = upload.filename.split("/")[-1]
        if not _SAFE_NAME.fullmatch(name):
            return _answer(False, f"ERROR: bad file name {name!r}")
        limit = size_limit_for(name)
        size = request.content_length or 0
        if size > limit:
            _LOG.warning("Cache upload of %s refused: %d bytes above %d", name, size, limit)
            return _answer(False, f"{ERROR_SIZE_LIMIT} {size // _MB} MB > {limit // _MB} MB.")
        if (cache_dir / name).exists() and not name.endswith(".__ow__"):
            return _answer(False, ERROR_OVERWRITE)
        try:
            _write_whole(cache_dir, name, upload.stream)
        except OSError as exc:
            _LOG.error("Cache upload of %s could not be written under %s: %s", name, cache_dir, exc)
            return _answer(False, ERROR_WRITE)
        _LOG.info("Cached %s (%d bytes)", name, (cache_dir / name).stat().st_size)
        return _answer(True)

    @blueprint.get(f"{CACHE_DOWNLOAD_PREFIX}<name>")
    def cached_file(name: str) -> Response:
        if (denied := refused()) is not None:
            return denied
        path = cache_dir / name
        if not _SAFE_NAME.fullmatch(name) or not path.is_file():
            return Response(f"{name} is not in the cache", status=404, mimetype="text/plain")
        return send_file(path, mimetype="application/octet-stream", as_attachment=False)

    return blueprint
