# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Command lines of PanDA jobs: pseudo input names and the task executable.

One PanDA task shares one ``executable`` among all its jobs; everything that
differs between jobs travels in the job's pseudo input name
(``<job>+<key>:<value>+...``), which PanDA pastes into the executable in
place of ``${IN/L}``.  The worker-side counterpart is
`lsst.ctrl.bps.panda.edgenode.cmd_line_decoder`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..edgenode.job_contract import (
    COMPACT_GUARD,
    EMPTY_LIST,
    GUARD_FILE_KEY,
    GUARD_FILE_NAME,
    IN_PLACEHOLDER,
    NO_FILES_KEY,
    PUBLISHED_NO_DIRECT_IO,
    SAFE_TOKEN,
    encode_token,
    published_token_problem,
)
from ..errors import PandaConfigError, PandaPrepareError, UnknownFileKeyError

__all__ = [
    "CMD_LINE_MARKER",
    "IN_PLACEHOLDER",
    "ORDER_ID_MAP_MARKER",
    "StagedFileRef",
    "command_line_for",
    "fill_unstaged_files",
    "pseudo_input_name",
    "runner_executable",
]

CMD_LINE_MARKER = "_cmd_line_"
"""Where ``runnerCommand`` takes the encoded command line."""

"""PanDA's placeholder for the job's input (its pseudo input name)."""

ORDER_ID_MAP_MARKER = "orderIdMapFilename"
"""Where ``runnerCommand`` (``RUBIN_ES_MAP_FILE=orderIdMapFilename``) takes the order-id map's URI."""

_ENV_PLACEHOLDER = re.compile(r"<ENV:([A-Za-z_][A-Za-z0-9_]*)>")

_PLACEHOLDER = re.compile(r"{([A-Za-z_][A-Za-z0-9_.]*)}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_ENV_VALUE = re.compile(r"[A-Za-z0-9_.,:@%+=/-]*")


@dataclasses.dataclass(frozen=True, slots=True)
class StagedFileRef:
    """A file the job reads from the distribution end point.

    Attributes
    ----------
    key : `str`
        Lookup key used in ``<FILE:key>``.
    basename : `str`
        Name of the file (or directory) at the end point.
    direct_io : `bool`
        Read in place from the end point rather than copied to the job's
        working directory.
    """

    key: str
    basename: str
    direct_io: bool


_is_safe_token = SAFE_TOKEN.fullmatch


@functools.cache
def _key_token(key: str) -> str:
    """Return the encoded form of a placeholder key (keys are few; encode each once)."""
    return encode_token(key)


@functools.cache
def _plain_name_check(keys: tuple[str, ...]) -> Callable[[str], Any]:
    """Return a check that a name is ``<job>+<key>:<value>...`` of safe tokens needing no encoding.

    A token needs none when it is not empty, is in `SAFE_TOKEN` (which has no ``+`` or ``:``, so
    the name splits one way only) and does not start with ``=`` or ``@``.
    """
    token = rf"(?![=@]){SAFE_TOKEN.pattern.removesuffix('*')}+"
    return re.compile(token + "".join(re.escape(f"+{_key_token(key)}:") + token for key in keys)).fullmatch


def pseudo_input_name(
    job_name: str,
    placeholder_values: Mapping[str, object],
    encode: Callable[[str], str] = encode_token,
    keys: Iterable[str] | None = None,
) -> str:
    """Return the pseudo input name of a job (runs once per job: kept lean).

    Parameters
    ----------
    job_name : `str`
        Unique job name.
    placeholder_values : `~collections.abc.Mapping`
        Per-job values (``qgraphNodeId``...), in the order they should appear.
    encode : `~collections.abc.Callable`, optional
        Called for a name or value outside the safe set (default
        `encode_token`); the published formats pass one that raises.
    keys : `~collections.abc.Iterable` [`str`], optional
        The keys of ``placeholder_values`` to use, in order (default: all).

    Returns
    -------
    name : `str`
        ``<job>+<key>:<value>+...``, shell-safe (values outside the safe set
        are hex-encoded, see `encode_token`).

    Raises
    ------
    KeyError
        Raised if ``placeholder_values`` lacks one of ``keys``.
    """
    if type(keys) is tuple and len(keys) == 1:  # the common case: one check of the whole name
        name = f"{job_name}+{_key_token(keys[0])}:{placeholder_values[keys[0]]!s}"
        if _plain_name_check(keys)(name):
            return name
    safe = _is_safe_token
    name = job_name if safe(job_name) and job_name[:1] not in "=@" else encode(job_name)
    for key in placeholder_values if keys is None else keys:
        value = str(placeholder_values[key])
        token = value if safe(value) and value[:1] not in "=@" else encode(value)
        name = f"{name}+{_key_token(key)}:{token}"
    return name


_FILE_PLACEHOLDER = re.compile(r"<FILE:([^<>\s]+)>")


def fill_unstaged_files(
    text: str, files: Iterable[Any], job_name: str, *, require_known: bool = False
) -> str:
    """Replace ``<FILE:key>`` of the files that are not staged by their own path.

    Parameters
    ----------
    text : `str`
        Command line (or arguments) with ``<FILE:key>`` placeholders.
    files : `~collections.abc.Iterable` [`lsst.ctrl.bps.GenericWorkflowFile`]
        The job's files; those with ``wms_transfer`` false are read where they are.
    job_name : `str`
        Job name, for error messages.
    require_known : `bool`, optional
        Raise if ``text`` names a key that is none of ``files``.

    Returns
    -------
    text : `str`
        ``text`` with those placeholders filled; staged files keep theirs (the worker fills them).

    Raises
    ------
    UnknownFileKeyError
        Raised with ``require_known`` if a ``<FILE:key>`` names no file of ``files``.
    """
    by_key = {gwfile.name: gwfile for gwfile in files}
    if require_known and (unknown := sorted(set(_FILE_PLACEHOLDER.findall(text)) - by_key.keys())):
        raise UnknownFileKeyError(
            f"Job {job_name!r}: command line uses <FILE:{unknown[0]}>, "
            f"but the job's files are {sorted(by_key)}"
        )
    for key, gwfile in by_key.items():
        if not gwfile.wms_transfer:
            text = text.replace(f"<FILE:{key}>", str(gwfile.src_uri))
    return text


def _fill(text: str, values: Mapping[str, object], keep: frozenset[str], job_name: str) -> str:
    """Replace ``{key}`` in ``text`` by ``values``, leaving ``keep`` keys as they are."""

    def replace(match: re.Match) -> str:
        key = match.group(1)
        if key in keep:
            return match.group(0)
        if key not in values:
            raise PandaPrepareError(
                f"Job {job_name!r}: command line uses {{{key}}} but the job has no value for it "
                f"(cmdvals has {sorted(values)}). Define {key!r} in the submit YAML."
            )
        return str(values[key])

    return _PLACEHOLDER.sub(replace, text)


def command_line_for(
    *,
    job_name: str,
    executable: str,
    arguments: str | None,
    cmdvals: Mapping[str, object],
    per_job_keys: frozenset[str],
    environment: Mapping[str, object] | None,
    submit_side_env: Iterable[str] = (),
) -> str:
    """Build the command line a task runs, with per-job values left open.

    Parameters
    ----------
    job_name : `str`
        Job name, for error messages.
    executable : `str`
        Path of the executable (``<FILE:key>`` for staged executables).
    arguments : `str` or `None`
        Arguments with ``{key}``, ``<FILE:key>`` and ``<ENV:X>`` placeholders.
    cmdvals : `~collections.abc.Mapping`
        Values of the ``{key}`` placeholders.
    per_job_keys : `frozenset` [`str`]
        Keys left as ``{key}`` to be filled on the worker from the pseudo
        input name.
    environment : `~collections.abc.Mapping`, optional
        Variables exported before the command (values may use ``{key}`` and
        ``<ENV:X>``; other characters reach the variable exactly, quoted
        when needed).
    submit_side_env : `~collections.abc.Iterable` [`str`], optional
        Names of variables whose ``<ENV:X>`` is filled here, from the
        submitting environment (``submitSideResolvedParams``), when set.

    Returns
    -------
    command_line : `str`
        ``export K=V; ... executable arguments``.

    Raises
    ------
    PandaPrepareError
        Raised if a ``{key}`` has no value or an environment variable name is
        not a valid shell name.
    """
    command = executable if not arguments else f"{executable} {arguments}"
    command = _fill(command, cmdvals, per_job_keys, job_name)
    if environment:
        exports = []
        for name, value in environment.items():
            filled = _fill(str(value), cmdvals, per_job_keys, job_name)
            exports.append(f"export {_env_name(name, job_name)}={_shell_value(filled)};")
        command = " ".join(exports) + " " + command
    return _fill_submit_side_env(command, frozenset(submit_side_env))


def _fill_submit_side_env(command: str, names: frozenset[str]) -> str:
    """Replace ``<ENV:X>`` by the submitting environment's value for X in ``names`` (when set)."""
    if not names or "<ENV:" not in command:
        return command

    def replace(match: re.Match) -> str:
        value = os.environ.get(match.group(1)) if match.group(1) in names else None
        return value if value else match.group(0)

    return _ENV_PLACEHOLDER.sub(replace, command)


def _env_name(name: str, job_name: str) -> str:
    if not _ENV_NAME.fullmatch(name):
        raise PandaPrepareError(
            f"Job {job_name!r}: environment variable name {name!r} is not a valid shell variable name"
        )
    return name


def _shell_value(value: str) -> str:
    """Quote an environment value so that the variable gets exactly ``value``.

    ``<ENV:X>`` and ``{key}`` stay open inside the double quotes: the worker
    fills them.  ctrl_bps has already turned ``$X`` in configuration values
    into ``<ENV:X>``, so a ``$`` left here is literal.
    """
    if _BARE_ENV_VALUE.fullmatch(value):
        return value
    return '"' + re.sub(r'([\\"$`])', r"\\\1", value) + '"'


def _join_tokens(tokens: Iterable[str]) -> str:
    joined = "+".join(tokens)
    return joined or EMPTY_LIST


def runner_executable(
    runner_command: str,
    command_line: str,
    end_point: str,
    files: Iterable[StagedFileRef],
    published: bool = False,
) -> str:
    """Return a task's ``executable``: the site's runner around the command.

    Parameters
    ----------
    runner_command : `str`
        Site ``runnerCommand``; must contain ``_cmd_line_``.
    command_line : `str`
        The command line from `command_line_for`.
    end_point : `str`
        Resolved ``fileDistributionEndPoint``.
    files : `~collections.abc.Iterable` [`StagedFileRef`]
        Files the job reads.
    published : `bool`, optional
        Write the arguments the way the published decoder (30.x) reads them:
        plain words, at least one file entry, ``cmdlineplaceholder`` for no
        direct-io key.  Otherwise this plugin's own form: values outside the
        safe set hex-encoded, ``+`` for an empty list, and a guard that makes
        any other decoder stop before the payload, saying which one it needs.

    Returns
    -------
    executable : `str`
        ``runnerCommand`` with ``_cmd_line_`` replaced by ``<hex> ${IN/L}
        <end point> <key:basename+...> <direct-io keys>``.

    Raises
    ------
    PandaConfigError
        Raised if ``runnerCommand`` has no ``_cmd_line_``, or in the published
        form if the end point or a file name cannot travel as a plain word.
    """
    if CMD_LINE_MARKER not in runner_command:
        raise PandaConfigError(f"runnerCommand must contain {CMD_LINE_MARKER!r}, got {runner_command!r}")
    files = sorted(files, key=lambda ref: ref.key)
    if published:
        invocation = _published_invocation(command_line, end_point, files)
    else:
        file_list = _join_tokens(
            f"{encode_token(ref.key)}:{encode_token(ref.basename)}"
            for ref in [StagedFileRef(GUARD_FILE_KEY, GUARD_FILE_NAME, False), *files]
        )
        direct_io = _join_tokens(encode_token(ref.key) for ref in files if ref.direct_io)
        encoded = (COMPACT_GUARD + command_line).encode("utf-8").hex()
        end_point_token = encode_token(end_point) if end_point else EMPTY_LIST
        invocation = f"{encoded} {IN_PLACEHOLDER} {end_point_token} {file_list} {direct_io}"
    map_ref = next((ref for ref in files if ref.key == ORDER_ID_MAP_MARKER), None)
    if map_ref is not None and ORDER_ID_MAP_MARKER in runner_command:
        # As the published plugin does: the runner exports the map's URI (RUBIN_ES_MAP_FILE).
        runner_command = runner_command.replace(ORDER_ID_MAP_MARKER, end_point + map_ref.basename)
    return runner_command.replace(CMD_LINE_MARKER, invocation)


def _published_invocation(command_line: str, end_point: str, files: list[StagedFileRef]) -> str:
    """Return the decoder arguments in the published plugin's format (plain words)."""
    # Without files the end point is never read: the word only has to be there.
    if files and (problem := published_token_problem(end_point, allow_colon=True)):
        raise PandaConfigError(f"fileDistributionEndPoint {end_point!r} {problem}")
    for ref in files:
        if problem := published_token_problem(ref.key):
            raise PandaConfigError(f"file key {ref.key!r} {problem}")
        if problem := published_token_problem(ref.basename):
            raise PandaConfigError(f"file {ref.key!r} is staged as {ref.basename!r}, which {problem}")
    if not files:
        # The published format cannot carry an empty file list: one entry read in place stands for none.
        files = [StagedFileRef(NO_FILES_KEY, NO_FILES_KEY, True)]
    file_list = "+".join(f"{ref.key}:{ref.basename}" for ref in files)
    direct_io = "+".join(ref.key for ref in files if ref.direct_io) or PUBLISHED_NO_DIRECT_IO
    encoded = command_line.encode("utf-8").hex()
    return f"{encoded} {IN_PLACEHOLDER} {end_point or EMPTY_LIST} {file_list} {direct_io}"
