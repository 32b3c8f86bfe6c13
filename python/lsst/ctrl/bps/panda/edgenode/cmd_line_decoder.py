#!/usr/bin/env python
# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

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
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

__all__ = ["main", "resolve_map_name", "restore_command_line", "use_map_file"]

# Run as a file (python3 .../cmd_line_decoder.py, as site runners do) this directory leads sys.path;
# imported or run with -m it is a package module.
if __package__:
    from .job_contract import (
        COMPACT_GUARD,
        EMPTY_LIST,
        EVENT_NAME,
        EXIT_CONFIG,
        EXIT_IO_ERROR,
        EXIT_NO_INPUT,
        EXIT_USAGE,
        GUARD_FILE_KEY,
        NAME_MAP_CHUNK,
        NAME_MAP_PREFIX,
        ORDER_ID_MAP_KEY,
        PUBLISHED_NO_DIRECT_IO,
        QNODE_MAP_KEY,
        DecoderError,
        decode_token,
        name_map_path,
        parse_pseudo_input,
    )
else:
    from job_contract import (  # type: ignore[no-redef]
        COMPACT_GUARD,
        EMPTY_LIST,
        EVENT_NAME,
        EXIT_CONFIG,
        EXIT_IO_ERROR,
        EXIT_NO_INPUT,
        EXIT_USAGE,
        GUARD_FILE_KEY,
        NAME_MAP_CHUNK,
        NAME_MAP_PREFIX,
        ORDER_ID_MAP_KEY,
        PUBLISHED_NO_DIRECT_IO,
        QNODE_MAP_KEY,
        DecoderError,
        decode_token,
        name_map_path,
        parse_pseudo_input,
    )

if __package__:
    from .staged_files import fetch_staged_files, local_path, make_executable
else:
    from staged_files import fetch_staged_files, local_path, make_executable  # type: ignore[no-redef]

_ORDER_ID_NAME = re.compile(r"(?P<label>[^:+]+):orderIdMap_(?P<order>[0-9]+)")
_QNODE_NAME = re.compile(r"PH:[^:+]+")


def _resolve_compact_name(pseudo_input: str, end_point: str) -> str:
    """Return the full pseudo input of ``@<task>.<order>`` from the job-name map."""
    try:
        task, order = (int(part) for part in pseudo_input[len(NAME_MAP_PREFIX) :].split("."))
    except ValueError:
        raise DecoderError(f"malformed compact pseudo input {pseudo_input!r}", EXIT_USAGE) from None
    source = end_point + name_map_path(task, order)
    try:
        local = local_path(source)
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


def resolve_map_name(pseudo_input: str, files: Mapping[str, str], end_point: str) -> str:
    """Return the full pseudo input behind a map reference, or ``pseudo_input`` itself.

    Parameters
    ----------
    pseudo_input : `str`
        ``@<task>.<order>`` (this plugin's job-name map), ``<label>:orderIdMap_<n>``
        (order-id map), ``<label>:eventservice_<start>^<k>`` (event ``k`` of an
        event-service job: order id ``start + k - 1`` in the order-id map) or
        ``PH:<job>`` (qnode map); anything else is returned as it is.
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
    elif match := EVENT_NAME.fullmatch(pseudo_input):
        if int(match["event"]) < 1:
            raise DecoderError(f"event {pseudo_input}: events count from 1", EXIT_USAGE)
        order = str(int(match["start"]) + int(match["event"]) - 1)
        names = _read_published_map(files, ORDER_ID_MAP_KEY, pseudo_input)
        found = names.get(match["label"], {}).get(order) if isinstance(names, dict) else None
    elif _QNODE_NAME.fullmatch(pseudo_input):
        names = _read_published_map(files, QNODE_MAP_KEY, pseudo_input)
        found = names.get(pseudo_input) if isinstance(names, dict) else None
    else:
        return pseudo_input
    if not isinstance(found, str):
        raise DecoderError(f"{pseudo_input} is not in the staged job-name map", EXIT_USAGE)
    return found


def use_map_file(input_file: str) -> bool:
    """Return whether a pseudo input is a qnode-map name (``PH:<job>``), the published decoder's helper.

    Parameters
    ----------
    input_file : `str`
        The pseudo input PanDA gave the job.
    """
    return _QNODE_NAME.fullmatch(input_file) is not None


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
        copied = fetch_staged_files(end_point, files, direct_io)
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
                make_executable(files[key])
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
