#!/usr/bin/env python
# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Run a remote build on the worker node (the job of a build request).

Called by ``remoteBuild.runnerCommand`` as::

    build_cmd_line_decoder.py <archive URL in the PanDA cache> <submit YAML name> [<compute site>]

iDDS's ``DomaPanDAWork`` puts the build request's id and the build work's signature in the
job's environment (``IDDS_BUILD_REQUEST_ID``, ``IDDS_BUIL_SIGNATURE``: iDDS's spelling).  The
decoder downloads the archive ``bps submit`` put in the cache, unpacks it into the working
directory, builds the quantum graph and prepares the workflow with ctrl_bps's drivers and this
plugin, stages the workflow's files and hands the workflow to the build request with
``update_build_request``: the same request id then runs it.

Only the standard library (and ``lsst.resources`` for an archive URL that is not http(s)) is
imported before the build itself; the build imports ctrl_bps and this plugin, which the stack
on the worker provides.  Exit codes are `EXIT_CODES` (the README's table).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "EXIT_BUILD_FAILED",
    "EXIT_BAD_ARCHIVE",
    "EXIT_CODES",
    "EXIT_IO_ERROR",
    "EXIT_NO_ARCHIVE",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "BuildError",
    "archive_download_url",
    "build_submit_path",
    "main",
]

_LOG = logging.getLogger("build_cmd_line_decoder")

EXIT_USAGE = 64
EXIT_BAD_ARCHIVE = 65
EXIT_NO_ARCHIVE = 66
EXIT_REFUSED = 69
EXIT_BUILD_FAILED = 70
EXIT_IO_ERROR = 74

EXIT_CODES = {
    0: "the workflow was built and handed to the build request",
    EXIT_USAGE: "malformed arguments, or IDDS_BUILD_REQUEST_ID / IDDS_BUIL_SIGNATURE unset or invalid",
    EXIT_BAD_ARCHIVE: "the archive is not a readable .tar.gz, holds an unsafe path, or lacks the submit YAML",
    EXIT_NO_ARCHIVE: "the archive is not in the PanDA cache (HTTP 404, or no such file)",
    EXIT_REFUSED: "iDDS refused update_build_request (wrong signature, already built, unknown request)",
    EXIT_BUILD_FAILED: "the build failed: the quantum graph or the workflow could not be made",
    EXIT_IO_ERROR: "the archive could not be downloaded, or the workflow's files could not be staged",
}
"""Exit code → meaning (documented in the README's job-side contract)."""

REQUEST_ID_VARIABLE = "IDDS_BUILD_REQUEST_ID"
SIGNATURE_VARIABLES = ("IDDS_BUIL_SIGNATURE", "IDDS_BUILD_SIGNATURE")
"""iDDS 2.6 exports the signature as ``IDDS_BUIL_SIGNATURE``; the corrected spelling is read too."""

BUILD_CONTEXT_FILE = "bps_remote_build.json"
"""Archive member with the submit side's ``outputRun`` (build_archive.BUILD_CONTEXT_FILE)."""

_DOWNLOAD_TRIES = 3
_USAGE = "usage: build_cmd_line_decoder.py <archive URL> <submit YAML name> [<compute site>]"


class BuildError(Exception):
    """A failure with the decoder's exit code.

    Parameters
    ----------
    message : `str`
        What went wrong, for the build job's log.
    exit_code : `int`
        Exit code the decoder ends with (one of `EXIT_CODES`).
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _build_identity(environ: dict[str, str] | os._Environ) -> tuple[int, str]:
    raw_id = environ.get(REQUEST_ID_VARIABLE, "")
    try:
        request_id = int(raw_id)
    except ValueError:
        raise BuildError(
            f"{REQUEST_ID_VARIABLE} is {'not set' if not raw_id else repr(raw_id)}: this is not the job "
            "of an iDDS build request",
            EXIT_USAGE,
        ) from None
    signature = next((environ[name] for name in SIGNATURE_VARIABLES if environ.get(name)), "")
    if not signature or signature == "None":
        raise BuildError(
            f"{SIGNATURE_VARIABLES[0]} is {'not set' if not signature else 'None'}: the build work of "
            f"request {request_id} was not signed, so iDDS would refuse its workflow",
            EXIT_USAGE,
        )
    return request_id, signature


def archive_download_url(url: str) -> str:
    """Return where the archive is read: the cache's ``<scheme>://<host>/cache/<name>`` for http(s).

    ``bps submit`` passes ``$PANDACACHE_URL/cache/<name>``; the PanDA cache serves ``/cache/``
    at the root of its host, where the PanDA client's ``getFile`` reads it too.

    Parameters
    ----------
    url : `str`
        Archive URL as ``bps submit`` passed it.
    """
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https"):
        return url
    return f"{parsed.scheme}://{parsed.netloc}/cache/{os.path.basename(parsed.path)}"


def _panda_environment(archive_url: str) -> None:
    """Point the PanDA client at the server holding the archive, with the pilot's token, if unset."""
    parsed = urllib.parse.urlsplit(archive_url)
    if not os.environ.get("PANDA_URL_SSL"):
        server = os.environ.get("PANDA_SERVER_URL")
        if server:
            base = f"{server.rstrip('/')}/server/panda"
        elif parsed.scheme in ("http", "https"):
            base = f"{parsed.scheme}://{parsed.netloc}/server/panda"
        else:
            base = ""
        if base:
            for name in ("PANDA_URL_SSL", "PANDA_URL", "PANDACACHE_URL"):
                os.environ.setdefault(name, base)
    os.environ.setdefault("PANDA_BEHIND_REAL_LB", "1")
    # The client keeps its token files there; a worker's home may be read-only.
    os.environ.setdefault("PANDA_CONFIG_ROOT", os.getcwd())
    token_file, origin = os.environ.get("PANDA_AUTH_DIR"), os.environ.get("PANDA_AUTH_ORIGIN")
    if token_file and origin and not os.environ.get("PANDA_AUTH_ID_TOKEN"):
        # The pilot's token for the job (what the published runner sets up in shell).
        os.environ["PANDA_AUTH_ID_TOKEN"] = Path(token_file).read_text().strip()
        os.environ["PANDA_AUTH_VO"] = origin
        os.environ["PANDA_AUTH"] = "oidc"


def _download(url: str, target: Path) -> None:
    source = archive_download_url(url)
    if urllib.parse.urlsplit(source).scheme not in ("http", "https"):
        from lsst.resources import ResourcePath

        try:
            target.write_bytes(ResourcePath(source).read())
        except FileNotFoundError:
            raise BuildError(f"the archive {source} does not exist", EXIT_NO_ARCHIVE) from None
        except Exception as exc:
            raise BuildError(f"cannot read the archive {source}: {exc}", EXIT_IO_ERROR) from None
        return
    headers = {}
    if os.environ.get("PANDA_AUTH") == "oidc" and os.environ.get("PANDA_AUTH_ID_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['PANDA_AUTH_ID_TOKEN']}"
        headers["Origin"] = os.environ.get("PANDA_AUTH_VO", "")
    last = ""
    for attempt in range(1, _DOWNLOAD_TRIES + 1):
        try:
            with urllib.request.urlopen(
                urllib.request.Request(source, headers=headers), timeout=300
            ) as reply:
                target.write_bytes(reply.read())
            return
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                message = f"the archive {source} is not in the PanDA cache (HTTP 404)"
                raise BuildError(message, EXIT_NO_ARCHIVE) from None
            last = f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        _LOG.warning("Download of %s failed (try %d of %d): %s", source, attempt, _DOWNLOAD_TRIES, last)
        if attempt < _DOWNLOAD_TRIES:
            time.sleep(2**attempt)
    raise BuildError(f"cannot download the archive {source}: {last}", EXIT_IO_ERROR)


def _unpack(archive: Path, directory: Path, config_name: str) -> dict[str, str]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(directory, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BuildError(f"cannot unpack the archive {archive.name}: {exc}", EXIT_BAD_ARCHIVE) from None
    if not (directory / config_name).is_file():
        raise BuildError(f"the archive {archive.name} holds no submit YAML {config_name!r}", EXIT_BAD_ARCHIVE)
    context_path = directory / BUILD_CONTEXT_FILE
    if not context_path.is_file():
        return {}
    try:
        context = json.loads(context_path.read_text())
    except ValueError as exc:
        raise BuildError(
            f"{BUILD_CONTEXT_FILE} in the archive is not JSON: {exc}", EXIT_BAD_ARCHIVE
        ) from None
    return {str(key): str(value) for key, value in context.items() if key in ("output_run",)}


def build_submit_path(workdir: Path) -> str:
    """Return the ``submitPath`` of the build: under the job's working directory, always.

    ctrl_bps's prepare refuses a submit directory that exists, and an absolute ``submitPath``
    written for the submitting host means nothing on the worker (or, where both share a file
    system, is the directory ``bps submit`` made).  It is given to ctrl_bps as a command-line
    value, which wins over every YAML.

    Parameters
    ----------
    workdir : `pathlib.Path`
        The build job's working directory.
    """
    return str(workdir / "submit" / "{outputRun}")


def _build_and_hand_back(
    config_name: str, compute_site: str | None, context: dict[str, str], request_id: int, signature: str
) -> None:
    # Absolute: the decoder runs as a script (``__main__``), where relative imports fail.
    from lsst.ctrl.bps.drivers import prepare_driver
    from lsst.ctrl.bps.panda.errors import (
        IddsCallError,
        IddsError,
        PandaConfigError,
        PandaStagingError,
        TaskTooLargeError,
    )
    from lsst.ctrl.bps.panda.prepare.settings import read_service_settings
    from lsst.ctrl.bps.panda.remote_build.build_submission import hand_back
    from lsst.ctrl.bps.panda.wms.idds_port import IddsPort

    options = dict(context)
    # The submitter's submitPath names a directory on its own host (and, on a shared file system,
    # one ``bps submit`` already made): the build makes its own in the job's working directory.
    options["submit_path"] = build_submit_path(Path.cwd())
    if compute_site:
        options["compute_site"] = compute_site
    try:
        config, workflow = prepare_driver(config_name, **options)
    except Exception as exc:
        _LOG.exception("The build failed")
        raise BuildError(f"the build failed: {type(exc).__name__}: {exc}", EXIT_BUILD_FAILED) from None
    port = IddsPort(read_service_settings(config).idds_server)
    try:
        hand_back(workflow, request_id, signature, port)
    except TaskTooLargeError as exc:
        raise BuildError(f"the built workflow cannot be submitted: {exc}", EXIT_BUILD_FAILED) from None
    except (PandaStagingError, PandaConfigError) as exc:
        raise BuildError(f"staging the workflow's files failed: {exc}", EXIT_IO_ERROR) from None
    except IddsCallError as exc:
        raise BuildError(str(exc), EXIT_REFUSED) from None
    except IddsError as exc:
        raise BuildError(str(exc), EXIT_IO_ERROR) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the build; return the exit code (`EXIT_CODES`).

    Parameters
    ----------
    argv : `~collections.abc.Sequence` [`str`], optional
        The archive URL, the submit YAML's name and optionally the compute site; `None` reads
        ``sys.argv``.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if len(args) not in (2, 3) or not args[0] or not args[1] or "/" in args[1]:
            raise BuildError(f"expected 2 or 3 arguments, got {args!r}. {_USAGE}", EXIT_USAGE)
        archive_url, config_name = args[0], args[1]
        compute_site = args[2] if len(args) == 3 and args[2] else None
        request_id, signature = _build_identity(os.environ)
        _LOG.info(
            "Remote build of request %d: %s from %s (site %s)",
            request_id,
            config_name,
            archive_url,
            compute_site or "from the YAML",
        )
        _panda_environment(archive_url)
        workdir = Path.cwd()
        archive = workdir / os.path.basename(urllib.parse.urlsplit(archive_url).path)
        _download(archive_url, archive)
        context = _unpack(archive, workdir, config_name)
        archive.unlink()
        _build_and_hand_back(config_name, compute_site, context, request_id, signature)
    except BuildError as exc:
        _LOG.error("%s (exit %d)", exc, exc.exit_code)
        return exc.exit_code
    _LOG.info("Request %d now runs the workflow built here", request_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
