#!/usr/bin/env python
"""Run one PanDA job's payload on the worker node.

Called by the site's ``runnerCommand`` as::

    cmd_line_decoder.py <hex command line> <pseudo input> <end point> <key:basename+...> <direct-io keys>

It restores the command line, fills ``<ENV:X>``, ``<FILE:key>`` and
``{placeholder}`` values, fetches staged files that are not read in place,
runs the command through ``bash`` and exits with the payload's exit code.

Only the standard library and ``lsst.resources`` may be imported here: the
module runs on workers, as a file or with ``python -m``.
"""

from __future__ import annotations

import re

__all__ = ["EMPTY_LIST", "decode_token", "encode_token", "parse_pseudo_input"]

EMPTY_LIST = "+"
"""Token standing for an empty ``+``-joined list on the runner command line."""

# Characters that survive unquoted in a shell word and are not separators.
_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.\-/=,@]*")
_ENCODED_PREFIX = "="


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
        start with ``=``; otherwise ``=`` followed by the hex of its UTF-8
        bytes.
    """
    if _SAFE_TOKEN.fullmatch(value) and not value.startswith(_ENCODED_PREFIX):
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
