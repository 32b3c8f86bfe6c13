#!/usr/bin/env python
# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""Run one PanDA job's payload on the worker node.

Called by the site's ``runnerCommand`` as::

    cmd_line_decoder.py <hex command line> <pseudo input> <end point> <key:basename+...> <direct-io keys>

It fetches staged files that are not read in place, restores the command
line (``<FILE:key>``, ``<ENV:X>``, ``{placeholder}``), runs it with ``bash -c``
and exits with the payload's exit code (128 + signal number if it was killed).

Runs on workers as a file or with ``python -m``: only the standard library and
``lsst.resources`` are imported, the latter only to fetch from a non-local end
point, so that other jobs start in milliseconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

__all__ = [
    "COMPACT_GUARD",
    "EMPTY_LIST",
    "IN_PLACEHOLDER",
    "GUARD_FILE_KEY",
    "GUARD_FILE_NAME",
    "NO_FILES_KEY",
    "ORDER_ID_MAP_KEY",
    "PUBLISHED_NO_DIRECT_IO",
    "QNODE_MAP_KEY",
    "QNODE_MAP_NAME",
    "REALTIME_LOG_FILE",
    "NAME_MAP_CHUNK",
    "NAME_MAP_DIR",
    "NAME_MAP_PREFIX",
    "SAFE_TOKEN",
    "EXIT_CONFIG",
    "EXIT_IO_ERROR",
    "EXIT_NO_INPUT",
    "EXIT_USAGE",
    "DecoderError",
    "decode_token",
    "encode_token",
    "main",
    "name_map_path",
    "parse_pseudo_input",
    "published_token_problem",
    "resolve_map_name",
    "restore_command_line",
]

EMPTY_LIST = "+"
"""Token standing for an empty ``+``-joined list on the runner command line."""

# Exit codes of the decoder's own failures (sysexits.h), distinct from usual payload codes.
EXIT_USAGE = 64  # Malformed runner arguments (count, hex, pseudo input, unknown <FILE:key>).
EXIT_NO_INPUT = 66  # A staged file is missing at the end point.
EXIT_IO_ERROR = 74  # A staged file could not be copied, or bash could not be started.
EXIT_CONFIG = 78  # An <ENV:X> variable is not set on the worker.

SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.\-/=,@]*")
"""Characters that survive unquoted in a shell word and are not separators."""
_ENCODED_PREFIX = "="

IN_PLACEHOLDER = "${IN/L}"
"""PanDA's placeholder for the job's input on the runner command line, replaced by its pseudo input."""

REALTIME_LOG_FILE = "payload-log.json"
"""The payload's log that the pilot ships to real-time logging (``REALTIME_LOGFILES``)."""

NAME_MAP_PREFIX = "@"
"""Starts a compact pseudo input ``@<task>.<order>`` whose full form is in the job-name map."""

NAME_MAP_DIR = "job_names"
"""Directory of the job-name map at the end point: ``<task>/<order // NAME_MAP_CHUNK>.json``."""

NAME_MAP_CHUNK = 1000
"""Full pseudo inputs per job-name map file (each job reads one small file)."""

# The published plugin's (30.x) formats, which its decoder on existing worker images reads too.
ORDER_ID_MAP_KEY = "orderIdMapFilename"
"""File key of the order-id map ``{label: {"<n>": full pseudo input}}`` (``<label>:orderIdMap_<n>``)."""
QNODE_MAP_KEY = "qnodemap"
"""File key of the qnode map ``{"PH:<job>": full pseudo input}``."""
QNODE_MAP_NAME = "qnode_map.json"
"""Name the published decoder reads the qnode map from, in the working directory."""
PUBLISHED_NO_DIRECT_IO = "cmdlineplaceholder"
"""The published format's direct-io word when no file is read in place."""
NO_FILES_KEY = "noFiles"
"""A file entry read in place that stands for an empty file list (the published format needs one)."""

# Our own format (enableCompactJobNames) must never run under another decoder: the first file entry
# makes the published decoder stop at its first copy, naming what is missing, and the command line
# starts with an exit that only this decoder removes.
GUARD_FILE_KEY = "requiresDecoder"
GUARD_FILE_NAME = "enableCompactJobNames-needs-the-cmd_line_decoder-of-the-plugin-that-prepared-the-job"
COMPACT_GUARD = (
    "echo 'cmd_line_decoder: this job was prepared with enableCompactJobNames; it needs the "
    "cmd_line_decoder.py of the plugin that prepared it, not the one of lsst-ctrl-bps-panda 30.x "
    "(or prepare with enableCompactJobNames: false)' >&2; exit 64; "
)
_ORDER_ID_NAME = re.compile(r"(?P<label>[^:+]+):orderIdMap_(?P<order>[0-9]+)")
_QNODE_NAME = re.compile(r"PH:[^:+]+")
_PUBLISHED_WORD = re.compile(r"[A-Za-z0-9_.\-/=,@]+")


def name_map_path(task: int, order: int) -> str:
    """Return the path, relative to the end point, of the map file holding ``@task.order``."""
    return f"{NAME_MAP_DIR}/{task}/{order // NAME_MAP_CHUNK}.json"


def _resolve_compact_name(pseudo_input: str, end_point: str) -> str:
    """Return the full pseudo input of ``@<task>.<order>`` from the job-name map."""
    try:
        task, order = (int(part) for part in pseudo_input[len(NAME_MAP_PREFIX) :].split("."))
    except ValueError:
        raise DecoderError(f"malformed compact pseudo input {pseudo_input!r}", EXIT_USAGE) from None
    source = end_point + name_map_path(task, order)
    try:
        local = _local_path(source)
        if local is not None:
            with open(local, encoding="utf-8") as stream:
                names = json.load(stream)
        else:
            from lsst.resources import ResourcePath

            names = json.loads(ResourcePath(source).read())
        return names[order % NAME_MAP_CHUNK]
    except FileNotFoundError:
        raise DecoderError(
            f"job-name map {source} not found (was the workflow staged?)", EXIT_NO_INPUT
        ) from None
    except (OSError, ValueError, IndexError, TypeError) as exc:
        raise DecoderError(
            f"cannot read {pseudo_input} from job-name map {source}: {exc}", EXIT_IO_ERROR
        ) from None


_FILE_OR_ENV = r"<FILE:(?P<file>[^<>\s]+)>|<ENV:(?P<env>[A-Za-z_][A-Za-z0-9_]*)>"
_EXECUTABLE_FILE = re.compile(r"\./<FILE:([^<>\s]+)>")
_FORWARDED_SIGNALS = ("SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGQUIT")
_USAGE = (
    "usage: cmd_line_decoder.py <hex command line> <pseudo input> <end point> "
    "<key:basename+...> <direct-io keys>  (empty lists and end point are '+')"
)


def encode_token(value: str) -> str:
    """Make a value safe for the pseudo input name, reversibly.

    Parameters
    ----------
    value : `str`
        Any text.

    Returns
    -------
    token : `str`
        ``value`` itself when it holds only shell-safe characters and does not
        start with ``=`` or ``@``; otherwise ``=`` followed by the hex of its
        UTF-8 bytes.
    """
    if SAFE_TOKEN.fullmatch(value) and not value.startswith((_ENCODED_PREFIX, NAME_MAP_PREFIX)):
        return value
    return _ENCODED_PREFIX + value.encode("utf-8").hex()


def decode_token(token: str) -> str:
    """Invert `encode_token`.

    Parameters
    ----------
    token : `str`
        A token made by `encode_token`.

    Returns
    -------
    value : `str`
        The original text.
    """
    if token.startswith(_ENCODED_PREFIX):
        return bytes.fromhex(token[len(_ENCODED_PREFIX) :]).decode("utf-8")
    return token


def published_token_problem(value: str, allow_colon: bool = False) -> str | None:
    """Say why ``value`` cannot be one word of the published decoder's format, or return `None`.

    The published decoder splits its arguments on ``+`` and ``:`` and takes
    them unquoted from the shell; this decoder reads ``=`` and ``@`` at the
    start of a word as its own encodings.

    Parameters
    ----------
    value : `str`
        A job name, label, placeholder value, file key or name, or end point.
    allow_colon : `bool`, optional
        Accept ``:`` (end points are URIs).

    Returns
    -------
    problem : `str` or `None`
        What is wrong, for an error message.
    """
    text = value.replace(":", "") if allow_colon else value
    if not value:
        return "is empty"
    if not _PUBLISHED_WORD.fullmatch(text):
        bad = sorted({c for c in text if not _PUBLISHED_WORD.fullmatch(c)})
        return f"contains {''.join(bad)!r}, which the published pseudo-input format cannot carry"
    if value[0] in (_ENCODED_PREFIX, NAME_MAP_PREFIX):
        return f"starts with {value[0]!r}, which would read differently to the two decoders"
    return None


def resolve_map_name(pseudo_input: str, files: Mapping[str, str], end_point: str) -> str:
    """Return the full pseudo input behind a map reference, or ``pseudo_input`` itself.

    Parameters
    ----------
    pseudo_input : `str`
        ``@<task>.<order>`` (this plugin's job-name map), ``<label>:orderIdMap_<n>``
        (order-id map) or ``PH:<job>`` (qnode map); anything else is returned
        as it is.
    files : `~collections.abc.Mapping` [`str`, `str`]
        Staged files by key; the published maps are read from their copies
        in the working directory.
    end_point : `str`
        Where this plugin's job-name map lies.

    Returns
    -------
    full_name : `str`
        ``<job>+<key>:<value>+...``.

    Raises
    ------
    DecoderError
        Raised if the map is missing or does not hold the name.
    """
    if pseudo_input.startswith(NAME_MAP_PREFIX):
        return _resolve_compact_name(pseudo_input, end_point)
    if match := _ORDER_ID_NAME.fullmatch(pseudo_input):
        names = _read_published_map(files, ORDER_ID_MAP_KEY, pseudo_input)
        found = names.get(match["label"], {}).get(match["order"]) if isinstance(names, dict) else None
    elif _QNODE_NAME.fullmatch(pseudo_input):
        names = _read_published_map(files, QNODE_MAP_KEY, pseudo_input)
        found = names.get(pseudo_input) if isinstance(names, dict) else None
    else:
        return pseudo_input
    if not isinstance(found, str):
        raise DecoderError(f"{pseudo_input} is not in the staged job-name map", EXIT_USAGE)
    return found


def _read_published_map(files: Mapping[str, str], key: str, pseudo_input: str) -> object:
    if key not in files:
        raise DecoderError(
            f"{pseudo_input} needs the staged file {key!r}, which the job does not list", EXIT_USAGE
        )
    try:
        with open(files[key], encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError) as exc:
        raise DecoderError(f"cannot read the job-name map {files[key]}: {exc}", EXIT_IO_ERROR) from None


def parse_pseudo_input(pseudo_input: str) -> tuple[str, dict[str, str]]:
    """Split a pseudo input name into the job name and placeholder values.

    Parameters
    ----------
    pseudo_input : `str`
        ``<job>+<key>:<value>+...`` as made on the submit side.

    Returns
    -------
    job_name : `str`
        The job name.
    values : `dict` [`str`, `str`]
        Placeholder values by key.
    """
    job_token, *parts = pseudo_input.split("+")
    values = {}
    for part in parts:
        if not part:
            continue
        key, sep, value = part.partition(":")
        if not sep:
            raise ValueError(f"Malformed pseudo input part {part!r} in {pseudo_input!r}: expected key:value")
        values[decode_token(key)] = decode_token(value)
    return decode_token(job_token), values


class DecoderError(Exception):
    """The job cannot be started; the message says why, for the pilot log.

    Parameters
    ----------
    message : `str`
        What went wrong and what to check.
    exit_code : `int`
        Exit code of the decoder (one of the ``EXIT_*`` constants).
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _split_list(token: str) -> list[str]:
    return [part for part in token.split("+") if part] if token != EMPTY_LIST else []


def _parse_invocation(args: Sequence[str]) -> tuple[str, str, str, dict[str, str], set[str]]:
    """Decode the five runner arguments; raise `DecoderError` if malformed.

    Returns the command line, the pseudo input as PanDA gave it, the end
    point, the basename at the end point by file key and the direct-io keys.
    """
    if len(args) != 5:
        hint = " (was ${IN/L} replaced by the job's pseudo input?)" if len(args) == 4 else ""
        raise DecoderError(f"expected 5 arguments, got {len(args)}{hint}. {_USAGE}", EXIT_USAGE)
    hex_line, pseudo_input, end_point_token, files_token, direct_io_token = args
    try:
        command_line = bytes.fromhex(hex_line).decode("utf-8")
    except ValueError as exc:
        raise DecoderError(f"command line argument is not hex of UTF-8 text: {exc}", EXIT_USAGE) from None
    try:
        end_point = "" if end_point_token == EMPTY_LIST else decode_token(end_point_token)
        files: dict[str, str] = {}
        for part in _split_list(files_token):
            key, sep, basename = part.partition(":")
            if not sep or not key or not basename:
                raise ValueError(f"file entry {part!r} is not key:basename")
            files[decode_token(key)] = decode_token(basename)
        direct_io = set()
        if direct_io_token != PUBLISHED_NO_DIRECT_IO:
            direct_io = {decode_token(key) for key in _split_list(direct_io_token)}
    except ValueError as exc:
        raise DecoderError(f"malformed runner argument: {exc}", EXIT_USAGE) from None
    files.pop(GUARD_FILE_KEY, None)
    if command_line.startswith(COMPACT_GUARD):
        command_line = command_line[len(COMPACT_GUARD) :]
    if unknown := sorted(direct_io - files.keys()):
        raise DecoderError(f"direct-io keys {unknown} are not in the file list {sorted(files)}", EXIT_USAGE)
    if not end_point and (copied := sorted(files.keys() - direct_io)):
        raise DecoderError(f"files {copied} are staged but the end point is empty", EXIT_USAGE)
    return command_line, pseudo_input, end_point, files, direct_io


def restore_command_line(
    template: str, files: Mapping[str, str], environ: Mapping[str, str], values: Mapping[str, str]
) -> str:
    """Fill ``<FILE:key>``, ``<ENV:NAME>`` and ``{key}`` in one pass.

    Each placeholder of ``template`` is replaced once; substituted text is
    never scanned again, so a value that looks like a placeholder stays as
    it is.  ``{key}`` is filled only for keys in ``values``; other braces are
    left untouched.

    Parameters
    ----------
    template : `str`
        Command line with placeholders.
    files : `~collections.abc.Mapping` [`str`, `str`]
        Replacement of ``<FILE:key>`` by key.
    environ : `~collections.abc.Mapping` [`str`, `str`]
        Environment used for ``<ENV:NAME>``.
    values : `~collections.abc.Mapping` [`str`, `str`]
        Per-job placeholder values.

    Returns
    -------
    command_line : `str`
        The command line to give to ``bash -c``.

    Raises
    ------
    DecoderError
        Raised if a ``<FILE:key>`` is not a staged file (`EXIT_USAGE`) or an
        ``<ENV:NAME>`` variable is unset (`EXIT_CONFIG`).
    """
    pattern = _FILE_OR_ENV
    if values:
        keys = sorted(values, key=len, reverse=True)
        pattern += r"|\{(?P<key>" + "|".join(re.escape(key) for key in keys) + r")\}"
    unknown_files: list[str] = []
    unset: list[str] = []

    def substitute(match: re.Match) -> str:
        if (key := match.group("file")) is not None:
            if key in files:
                return files[key]
            unknown_files.append(key)
        elif (name := match.group("env")) is not None:
            if name in environ:
                return environ[name]
            unset.append(name)
        else:
            return values[match.group("key")]
        return match.group(0)

    command_line = re.sub(pattern, substitute, template)
    if unknown_files:
        message = f"command line uses <FILE:{unknown_files[0]}> but the staged files are {sorted(files)}"
        raise DecoderError(message, EXIT_USAGE)
    if unset:
        names = ", ".join(dict.fromkeys(unset))
        raise DecoderError(
            f"environment variable(s) {names} used by the command line (<ENV:...>) are not set on this "
            "worker; set them in the site's job environment",
            EXIT_CONFIG,
        )
    return command_line


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


def _local_path(location: str) -> str | None:
    """Return the local path of ``location``, `None` if it is not local."""
    if location.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        return unquote(urlsplit(location).path)
    if re.match(r"[A-Za-z][A-Za-z0-9+.\-]*://", location):
        return None
    return location


def _fetch_staged_files(end_point: str, files: dict[str, str], direct_io: set[str]) -> list[str]:
    """Copy the files not read in place into the working directory; return their basenames.

    A missing file raises `DecoderError` with `EXIT_NO_INPUT`, any other
    failure with `EXIT_IO_ERROR`.
    """
    copied: list[str] = []
    for key, basename in sorted(files.items()):
        if key in direct_io or basename in copied:
            continue
        source = end_point + basename
        local_source = _local_path(source)
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


def _make_executable(path: str) -> None:
    mode = os.stat(path).st_mode
    # Grant execute wherever read is granted, as ``chmod +x`` would under a usual umask.
    os.chmod(path, mode | ((mode & 0o444) >> 2) | stat.S_IXUSR)


def _run_command(command_line: str) -> int:
    """Run ``command_line`` with ``bash -c``; return its exit code, 128 + signal if killed.

    Termination signals sent to this process are passed on to the payload so
    that it can clean up; SIGINT is left to the payload, which shares this
    process's group and gets it from the terminal itself.
    """
    process: subprocess.Popen | None = None
    early: list[int] = []

    def forward(signum: int, frame: object) -> None:
        if process is None:
            early.append(signum)  # arrived while the payload was starting: sent once it runs
        else:
            process.send_signal(signum)

    # Forwarding is in place before the payload starts, so no signal is lost in between (the
    # payload's exec resets these handlers); SIGINT is ignored only after the start, so that the
    # payload does not inherit an ignored SIGINT.
    previous = {
        getattr(signal, name): signal.signal(getattr(signal, name), forward) for name in _FORWARDED_SIGNALS
    }
    try:
        process = subprocess.Popen(["bash", "-c", command_line])
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for signum in early:
            process.send_signal(signum)
        code = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - code if code < 0 else code


def _log(message: str) -> None:
    # Plain lines on stderr: the pilot keeps the payload's stderr; stdout belongs to the payload.
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} cmd_line_decoder: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Decode the runner arguments, fetch files and run the job.

    Parameters
    ----------
    argv : `~collections.abc.Sequence` [`str`], optional
        The five runner arguments; ``sys.argv[1:]`` if `None`.

    Returns
    -------
    exit_code : `int`
        The payload's exit code (128 + signal if killed), or one of the
        ``EXIT_*`` codes when the job could not be started.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["-h"], ["--help"]):
        print(_USAGE)
        return 0
    try:
        template, pseudo_input, end_point, files, direct_io = _parse_invocation(args)
        copied = _fetch_staged_files(end_point, files, direct_io)
        if copied:
            _log(f"copied from {end_point}: {' '.join(copied)}")
        try:
            job_name, values = parse_pseudo_input(resolve_map_name(pseudo_input, files, end_point))
        except ValueError as exc:
            raise DecoderError(f"malformed pseudo input {pseudo_input!r}: {exc}", EXIT_USAGE) from None
        _log(f"job {job_name}")
        # <FILE:key> is the file's name: in the working directory for a copied file; a command reading a
        # file in place puts {fileDistributionEndPoint} before it itself (as ctrl_bps's command lines do).
        command_line = restore_command_line(template, files, os.environ, values)
        for key in dict.fromkeys(_EXECUTABLE_FILE.findall(template)):
            if key in files and key not in direct_io:
                _make_executable(files[key])
        _log(f"running: {command_line}")
        code = _run_command(command_line)
    except DecoderError as exc:
        _log(f"error: {exc}")
        return exc.exit_code
    except OSError as exc:
        _log(f"error: cannot start the command: {exc}")
        return EXIT_IO_ERROR
    _log(f"exit code {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
