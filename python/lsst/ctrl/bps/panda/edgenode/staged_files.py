# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Bring the staged files of a job from the distribution end point into its working directory.

Local paths and ``file://`` are copied with the standard library; any other scheme through
``lsst.resources``, imported only then.
"""

from __future__ import annotations

import os
import re
import shutil
import stat

if __package__:
    from .job_contract import EXIT_IO_ERROR, EXIT_NO_INPUT, DecoderError
else:  # run as a file: this directory leads sys.path
    from job_contract import EXIT_IO_ERROR, EXIT_NO_INPUT, DecoderError  # type: ignore[no-redef]

__all__ = ["fetch_staged_files", "local_path", "make_executable"]


def _copy_local(source: str, target: str) -> None:
    if os.path.isdir(source):
        shutil.copytree(source, target, dirs_exist_ok=True)
    elif os.path.isfile(source):
        shutil.copy(source, target)
    else:
        raise FileNotFoundError(source)


def _copy_remote(source: str, target: str) -> None:
    from lsst.resources import ResourcePath

    src = ResourcePath(source)
    local = ResourcePath(os.path.abspath(target), forceDirectory=False)
    if not src.isdir() and src.exists():
        local.transfer_from(src, "copy", overwrite=True)
        return
    # Object stores have no directories: a staged directory is the objects under its prefix.
    src_dir = ResourcePath(source.rstrip("/") + "/", forceDirectory=True)
    found = src_dir.exists()
    for root, _, names in src_dir.walk():
        found = True
        local_dir = os.path.abspath(os.path.join(target, root.relative_to(src_dir) or ""))
        os.makedirs(local_dir, exist_ok=True)
        for name in filter(None, names):  # An empty name is the marker object of an empty directory.
            ResourcePath(os.path.join(local_dir, name)).transfer_from(root.join(name), "copy", overwrite=True)
    if not found:
        raise FileNotFoundError(source)
    os.makedirs(target, exist_ok=True)


def local_path(location: str) -> str | None:
    """Return the local path of ``location``, `None` if it is not local.

    Parameters
    ----------
    location : `str`
        A path, a ``file://`` URL or another URL.
    """
    if location.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        return unquote(urlsplit(location).path)
    if re.match(r"[A-Za-z][A-Za-z0-9+.\-]*://", location):
        return None
    return location


def fetch_staged_files(end_point: str, files: dict[str, str], direct_io: set[str]) -> list[str]:
    """Copy the files not read in place into the working directory; return their basenames.

    A missing file raises `DecoderError` with `EXIT_NO_INPUT`, any other
    failure with `EXIT_IO_ERROR`.

    Parameters
    ----------
    end_point : `str`
        Distribution end point the files were staged to, ending with ``/``.
    files : `dict` [`str`, `str`]
        Base name of each staged file, by its ``<FILE:key>`` key.
    direct_io : `set` [`str`]
        Keys of the files the job reads in place, which are not copied.
    """
    copied: list[str] = []
    for key, basename in sorted(files.items()):
        if key in direct_io or basename in copied:
            continue
        source = end_point + basename
        local_source = local_path(source)
        try:
            if local_source is not None:
                _copy_local(local_source, basename)
            else:
                _copy_remote(source, basename)
        except FileNotFoundError:
            raise DecoderError(
                f"staged file {key!r} not found at {source} (was the workflow staged to this end point?)",
                EXIT_NO_INPUT,
            ) from None
        except Exception as exc:
            message = f"cannot copy staged file {key!r} from {source}: {exc}"
            raise DecoderError(message, EXIT_IO_ERROR) from None
        copied.append(basename)
    return copied


def make_executable(path: str) -> None:
    """Give ``path`` execute permission (a staged script run as ``./<FILE:key>``).

    Parameters
    ----------
    path : `str`
        Path of the staged file in the working directory.
    """
    mode = os.stat(path).st_mode
    # Grant execute wherever read is granted, as ``chmod +x`` would under a usual umask.
    os.chmod(path, mode | ((mode & 0o444) >> 2) | stat.S_IXUSR)
