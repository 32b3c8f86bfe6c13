# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published 30.x ``utils`` module: its names, for code written against it (iDDS's scripts, notebooks).

Each name hands the work to this package's own module: the iDDS client and its replies to
`~lsst.ctrl.bps.panda.wms.idds_port`, staging to `~lsst.ctrl.bps.panda.wms.staging`, the conversion
to `~lsst.ctrl.bps.panda.prepare.convert`, command lines to
`~lsst.ctrl.bps.panda.prepare.command_line`.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lsst.ctrl.bps import BpsConfig, GenericWorkflow, GenericWorkflowJob, WmsStates
from lsst.resources import ResourcePath

from .cmd_line_embedder import CommandLineEmbedder
from .errors import IddsError
from .prepare.command_line import StagedFileRef, runner_executable
from .prepare.convert import convert_workflow
from .prepare.settings import SettingsReader, read_service_settings, written_runner_command
from .wms.idds_port import IddsPort, RelayClient
from .wms.staging import stage_files

__all__ = [
    "add_decoder_prefix",
    "add_final_idds_work",
    "add_idds_work",
    "aggregate_by_basename",
    "convert_exec_string_to_hex",
    "copy_files_for_distribution",
    "extract_taskname",
    "get_idds_client",
    "get_idds_result",
    "idds_call_with_check",
]

_LOG = logging.getLogger(__name__)

_TASK_NUMBER = re.compile(r"_\d+_")
"""The ``_NN_`` between the workflow part and the label part of a task name."""
_CHUNK_SUFFIX = re.compile(r"_\d+$")
"""The ``_CC`` chunk number that ends a task's label part."""


def get_idds_client(config: BpsConfig | dict) -> RelayClient:
    """Return the PanDA client's iDDS API, through the relay, for the configuration's ``iddsServer``.

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig` or `dict`
        Configuration; an empty one lets the relay choose the iDDS server.

    Returns
    -------
    client : `~lsst.ctrl.bps.panda.wms.idds_port.RelayClient`
        Its methods are iDDS ``ClientManager`` calls (``get_requests``, ``get_contents_output_ext``,
        ...); each returns ``(status, [ok, result])`` with iDDS objects as plain JSON, as published.
    """
    return RelayClient(read_service_settings(config).idds_server, decode=False)


def get_idds_result(ret: Any) -> tuple[bool, Any, str | None]:
    """Read a reply of the iDDS client.

    Parameters
    ----------
    ret : `tuple`
        What a `get_idds_client` call returned: ``(status, [ok, result])``.

    Returns
    -------
    ok : `bool`
        Whether iDDS answered the call.
    result : `~typing.Any`
        The answer of iDDS; `None` when not ``ok``.
    error : `str` or `None`
        Why not, naming the failure (relay, iDDS, or the caller refused); `None` when ``ok``.
    """
    try:
        return True, IddsPort.unwrap("call", None, ret), None
    except IddsError as error:
        return False, None, str(error)


def idds_call_with_check(func: Callable[..., Any], *, func_name: str, request_id: Any, **kwargs: Any) -> Any:
    """Call an iDDS client function and return its reply, raising if the relay or iDDS failed.

    Parameters
    ----------
    func : `~collections.abc.Callable`
        A method of the `get_idds_client` client.
    func_name : `str`
        Its name, for messages.
    request_id : `int` or `str` or `None`
        Passed as ``request_id`` when not `None`.
    **kwargs : `~typing.Any`
        Its other arguments.

    Returns
    -------
    ret : `tuple`
        The reply, unchanged.

    Raises
    ------
    IddsError
        Raised (a `RuntimeError`) if the reply is a failure.
    """
    if request_id is not None:
        kwargs["request_id"] = request_id
    ret = func(**kwargs)
    _LOG.debug("iDDS %s returned %s", func_name, ret)
    IddsPort.unwrap(func_name, request_id, ret)
    return ret


def copy_files_for_distribution(
    files_to_stage: Mapping[str, str], file_distribution_uri: ResourcePath | str, max_copy_workers: int
) -> None:
    """Copy files (and directories) to the distribution end point, each under its own base name.

    Parameters
    ----------
    files_to_stage : `~collections.abc.Mapping` [`str`, `str`]
        Sources by any key; the key is not used.
    file_distribution_uri : `lsst.resources.ResourcePath` or `str`
        The end point (any scheme).
    max_copy_workers : `int`
        Most copies at a time.

    Raises
    ------
    PandaStagingError
        Raised (a `RuntimeError`) if a file could not be staged; the message names each.
    """
    by_name = {
        os.path.basename(os.path.normpath(str(source))): str(source) for source in files_to_stage.values()
    }
    stage_files(by_name, str(file_distribution_uri), max_workers=max_copy_workers)


def convert_exec_string_to_hex(cmdline: str) -> str:
    """Return the hex of a command line's UTF-8 bytes, as the decoder reads it.

    Parameters
    ----------
    cmdline : `str`
        The command line.
    """
    return cmdline.encode("utf-8").hex()


def _make_pseudo_filename(config: BpsConfig | dict, gwjob: GenericWorkflowJob) -> str:
    """Return a job's pseudo input name (kept: the published tests import it).

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig` or `dict`
        Configuration (``placeholderParams``).
    gwjob : `lsst.ctrl.bps.GenericWorkflowJob`
        The job.
    """
    command = f"{gwjob.executable.src_uri} {gwjob.arguments or ''}"
    _, name = CommandLineEmbedder(config).substitute_command_line(
        command, gwjob.cmdvals or {}, gwjob.name, []
    )
    return name


def add_idds_work(
    config: BpsConfig, generic_workflow: GenericWorkflow, idds_workflow: Any
) -> tuple[dict[str, str], list[Any], int]:
    """Convert a generic workflow's jobs into PanDA tasks and add them to an iDDS workflow.

    This package converts a workflow in one pass: the final job's task and the condition that
    releases it are added here too (`add_final_idds_work` then has nothing left to add).

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig`
        Submission configuration.
    generic_workflow : `lsst.ctrl.bps.GenericWorkflow`
        The workflow to convert.
    idds_workflow : `idds.workflowv2.workflow.Workflow`
        The iDDS workflow the tasks are added to.

    Returns
    -------
    files_to_stage : `dict` [`str`, `str`]
        Sources by name at ``fileDistributionEndPoint``.
    sink_works : `list` [`idds.doma.workflowv2.domapandawork.DomaPanDAWork`]
        The tasks no other task depends on (the final job's included).
    task_count : `int`
        Number of tasks added.
    """
    result = convert_workflow(generic_workflow, SettingsReader(config))
    template = result.idds_workflow.template
    works = list(template.works.values())
    for work in works:
        idds_workflow.add_work(work)
    for condition in template.conditions.values():
        idds_workflow.add_condition(condition)
    parents = {name for work in works for name in (work.dependency_tasks or ())}
    sinks = [work for work in works if work.get_work_name() not in parents]
    return dict(result.files_to_stage), sinks, len(works)


def add_final_idds_work(
    config: BpsConfig,
    generic_workflow: GenericWorkflow,
    idds_client_workflow: Any,
    dag_sink_work: list[Any],
    task_count: int,
    task_chunk: int,
) -> dict[str, str]:
    """Return the files of the final job's task, which `add_idds_work` has already added.

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig`
        Submission configuration.
    generic_workflow : `lsst.ctrl.bps.GenericWorkflow`
        The converted workflow.
    idds_client_workflow : `idds.workflowv2.workflow.Workflow`
        The iDDS workflow `add_idds_work` filled.
    dag_sink_work : `list`
        Its sink tasks (unused).
    task_count : `int`
        Its task count (unused).
    task_chunk : `int`
        Unused.

    Returns
    -------
    files : `dict` [`str`, `str`]
        Empty: `add_idds_work` returned every file to stage.
    """
    _LOG.debug("The final job of %s was converted with its other jobs", generic_workflow.name)
    return {}


def add_decoder_prefix(
    config: BpsConfig, cmd_line: str, distribution_path: str, files: tuple[dict[str, str], Sequence[str]]
) -> str:
    """Return a task's executable: the site's ``runnerCommand`` around the published decoder's arguments.

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig`
        Configuration with ``runnerCommand`` (containing ``_cmd_line_``).
    cmd_line : `str`
        The command line the job runs.
    distribution_path : `str`
        ``fileDistributionEndPoint``.
    files : `tuple` [`dict` [`str`, `str`], `~collections.abc.Sequence` [`str`]]
        Sources of the job's staged files by key, and the keys read in place.

    Returns
    -------
    executable : `str`
        The runner with ``_cmd_line_`` replaced, in the published decoder's format.
    """
    sources, direct_io = files
    refs = [
        StagedFileRef(key, os.path.basename(os.path.normpath(source)), key in direct_io)
        for key, source in sources.items()
    ]
    return runner_executable(
        written_runner_command(config), cmd_line, distribution_path, refs, published=True
    )


def extract_taskname(s: str) -> str:
    """Return the ``<label>_<chunk>`` part of a task name ``<workflow>_<NN>_<label>_<chunk>``.

    Parameters
    ----------
    s : `str`
        A task name, possibly quoted; returned whole when it has no ``_<NN>_``.
    """
    name = s.strip().strip("'\"")
    found = list(_TASK_NUMBER.finditer(name))
    return name[found[-1].end() :] if found else name


def aggregate_by_basename(
    job_summary: Mapping[str, Mapping[WmsStates, int]],
    exit_code_summary: Mapping[str, list[int]],
    run_summary: str,
) -> tuple[dict[str, dict[WmsStates, int]], dict[str, list[int]], str]:
    """Add up a report's rows of the chunks of one label (``<label>_<chunk>`` becomes ``<label>``).

    Parameters
    ----------
    job_summary : `~collections.abc.Mapping` [`str`, `~collections.abc.Mapping` [`WmsStates`, `int`]]
        Job counts by state, by label.
    exit_code_summary : `~collections.abc.Mapping` [`str`, `list` [`int`]]
        Exit codes by label.
    run_summary : `str`
        ``<label>:<count>;...``; entries that are not so are left out.

    Returns
    -------
    job_summary : `dict` [`str`, `dict` [`WmsStates`, `int`]]
        Counts by state (every state present) by base label.
    exit_code_summary : `dict` [`str`, `list` [`int`]]
        Exit codes by base label.
    run_summary : `str`
        ``<label>:<count>;...`` by base label.
    """
    jobs: dict[str, dict[WmsStates, int]] = {}
    for label, counts in job_summary.items():
        totals = jobs.setdefault(_CHUNK_SUFFIX.sub("", label), dict.fromkeys(WmsStates, 0))
        for state, count in counts.items():
            totals[state] += count
    exits: dict[str, list[int]] = {}
    for label, codes in exit_code_summary.items():
        exits.setdefault(_CHUNK_SUFFIX.sub("", label), []).extend(codes)
    runs: Counter[str] = Counter()
    for entry in run_summary.split(";"):
        label, _, jobs_of_label = entry.strip().rpartition(":")
        if label and jobs_of_label.strip().isdigit():
            runs[_CHUNK_SUFFIX.sub("", label)] += int(jobs_of_label)
    return jobs, exits, ";".join(f"{label}:{count}" for label, count in runs.items())
