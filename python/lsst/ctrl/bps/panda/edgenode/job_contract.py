# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later
"""The job-side contract shared by prepare and the worker-side decoder.

What the runner's five arguments look like, how values travel in pseudo input names (ours
encoded, or the published plugin's plain words), where the job-name maps lie, and the decoder's
exit codes.  Standard library only: the decoder imports it on workers, where it must start fast.
"""

from __future__ import annotations

import re

__all__ = [
    "COMPACT_GUARD",
    "EMPTY_LIST",
    "EVENT_NAME",
    "EXIT_CONFIG",
    "EXIT_IO_ERROR",
    "EXIT_NO_INPUT",
    "EXIT_USAGE",
    "GUARD_FILE_KEY",
    "GUARD_FILE_NAME",
    "IN_PLACEHOLDER",
    "NAME_MAP_CHUNK",
    "NAME_MAP_DIR",
    "NAME_MAP_PREFIX",
    "NO_FILES_KEY",
    "ORDER_ID_MAP_KEY",
    "PUBLISHED_NO_DIRECT_IO",
    "QNODE_MAP_KEY",
    "QNODE_MAP_NAME",
    "REALTIME_LOG_FILE",
    "SAFE_TOKEN",
    "DecoderError",
    "decode_token",
    "encode_token",
    "name_map_path",
    "parse_pseudo_input",
    "published_token_problem",
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
EVENT_NAME = re.compile(r"(?P<label>[^:+^]+):eventservice_(?P<start>[0-9]+)\^(?P<event>[0-9]+)(?:\^[0-9]+)?")
"""One event of an event-service job, as the pilot passes it: ``<label>:eventservice_<start>^<k>``.

Event ``k`` (from 1) is order id ``start + k - 1`` of the label in the order-id map (a trailing
``^<events>`` is PanDA's count of events in the range, always one here)."""
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


_PUBLISHED_WORD = re.compile(r"[A-Za-z0-9_.\-/=,@]+")


def name_map_path(task: int, order: int) -> str:
    """Return the path, relative to the end point, of the map file holding ``@task.order``.

    Parameters
    ----------
    task : `int`
        Task number the job belongs to.
    order : `int`
        Order id of the job within its task.
    """
    return f"{NAME_MAP_DIR}/{task}/{order // NAME_MAP_CHUNK}.json"


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
