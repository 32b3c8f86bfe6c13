"""Command lines of PanDA jobs: pseudo input names and the task executable.

One PanDA task shares one ``executable`` among all its jobs; everything that
differs between jobs travels in the job's pseudo input name
(``<job>+<key>:<value>+...``), which PanDA pastes into the executable in
place of ``${IN/L}``.  The worker-side counterpart is
`lsst.ctrl.bps.panda.edgenode.cmd_line_decoder`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

from .edgenode.cmd_line_decoder import EMPTY_LIST, encode_token
from .errors import PandaConfigError, PandaPrepareError

__all__ = [
    "CMD_LINE_MARKER",
    "IN_PLACEHOLDER",
    "StagedFileRef",
    "command_line_for",
    "pseudo_input_name",
    "runner_executable",
]

CMD_LINE_MARKER = "_cmd_line_"
"""Where ``runnerCommand`` takes the encoded command line."""

IN_PLACEHOLDER = "${IN/L}"
"""PanDA's placeholder for the job's input (its pseudo input name)."""

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


def pseudo_input_name(job_name: str, placeholder_values: Mapping[str, object]) -> str:
    """Return the pseudo input name of a job.

    Parameters
    ----------
    job_name : `str`
        Unique job name.
    placeholder_values : `~collections.abc.Mapping`
        Per-job values (``qgraphNodeId``...), in the order they should appear.

    Returns
    -------
    name : `str`
        ``<job>+<key>:<value>+...``, shell-safe (values outside the safe set
        are hex-encoded, see `encode_token`).
    """
    parts = [encode_token(job_name)]
    for key, value in placeholder_values.items():
        parts.append(f"{encode_token(key)}:{encode_token(str(value))}")
    return "+".join(parts)


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
    return command


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

    Returns
    -------
    executable : `str`
        ``runnerCommand`` with ``_cmd_line_`` replaced by ``<hex> ${IN/L}
        <end point> <key:basename+...> <direct-io keys>``.

    Raises
    ------
    PandaConfigError
        Raised if ``runnerCommand`` has no ``_cmd_line_``.
    """
    if CMD_LINE_MARKER not in runner_command:
        raise PandaConfigError(f"runnerCommand must contain {CMD_LINE_MARKER!r}, got {runner_command!r}")
    files = sorted(files, key=lambda ref: ref.key)
    file_list = _join_tokens(f"{encode_token(ref.key)}:{encode_token(ref.basename)}" for ref in files)
    direct_io = _join_tokens(encode_token(ref.key) for ref in files if ref.direct_io)
    encoded = command_line.encode("utf-8").hex()
    end_point_token = encode_token(end_point) if end_point else EMPTY_LIST
    invocation = f"{encoded} {IN_PLACEHOLDER} {end_point_token} {file_list} {direct_io}"
    return runner_command.replace(CMD_LINE_MARKER, invocation)
