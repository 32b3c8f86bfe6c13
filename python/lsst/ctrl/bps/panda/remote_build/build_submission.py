# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Remote build, the submit side: pack, upload to the PanDA cache, ``submit_build``.

With ``remoteBuild.enabled: true`` ctrl_bps skips prepare and hands the submit YAML to
`PanDAService.submit`.  This module packs the YAML and ``remoteBuild.files`` into a
``jobO.<uuid>.tar.gz`` archive, uploads it to the PanDA cache through the PanDA client
(bounded tries with backoff: a refused upload submits nothing), and submits a build
request: an iDDS workflow of one signed `DomaPanDAWork` whose job runs the build decoder
(``edgenode/build_cmd_line_decoder.py``).  The decoder builds the quantum graph and the
workflow on the worker and hands it back with ``update_build_request``, so the request
id printed here becomes the run's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsst.ctrl.bps import BaseWmsWorkflow, BpsConfig

from ..errors import SubmissionRefusedError
from ..prepare.settings import (
    CONFIG_MARKER,
    DOWNLOAD_MARKER,
    SITE_MARKER,
    RemoteBuildSettings,
    SettingsReader,
)
from ..prepare.task_work import task_log
from ..wms.idds_port import IddsPort
from ..wms.submission import record_request, submit_steps
from .build_archive import cache_url, pack_archive, upload_to_cache

__all__ = [
    "BUILD_TASK_NAME",
    "BUILD_TASK_TYPE",
    "RemoteBuildSettings",
    "RemoteBuildWorkflow",
    "build_workflow",
    "hand_back",
    "read_settings",
    "submit_remote_build",
]

_LOG = logging.getLogger(__name__)

BUILD_TASK_NAME = "build_task"
"""Name of the build task (the published plugin's, which PanDA monitors filter on)."""

BUILD_TASK_TYPE = "lsst_build"
"""PanDA task type of the build task."""


def read_settings(config: BpsConfig, remote_build: BpsConfig) -> RemoteBuildSettings:
    """Read the remote build keys (`SettingsReader.remote_build`).

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig`
        The submit configuration.
    remote_build : `lsst.ctrl.bps.BpsConfig`
        Its ``remoteBuild`` section, searched first.

    Raises
    ------
    PandaConfigError
        Raised if ``remoteBuild.runnerCommand`` is missing or lacks a marker, or a value is bad.
    """
    return SettingsReader(config).remote_build(remote_build)


def build_workflow(name: str, settings: RemoteBuildSettings, executable: str) -> Any:
    """Return the iDDS build workflow: one signed `DomaPanDAWork` with one job.

    The signature travels to the job as ``IDDS_BUIL_SIGNATURE`` (set by ``DomaPanDAWork``) and
    iDDS accepts ``update_build_request`` only with it.

    Parameters
    ----------
    name : `str`
        Name of the build request (the submission's name).
    settings : `RemoteBuildSettings`
        Site, queue, memory and retry values of the build job.
    executable : `str`
        Command line of the build job (from `build_executable`).
    """
    from idds.doma.workflowv2.domapandawork import DomaPanDAWork
    from idds.workflowv2.workflow import Workflow

    rss_step = int(settings.rss * settings.memory_multiplier) if settings.memory_multiplier else 0
    work = DomaPanDAWork(
        executable=executable,
        task_type=BUILD_TASK_TYPE,
        primary_input_collection={"scope": "pseudo_dataset", "name": "pseudo_input_collection#build"},
        output_collections=[{"scope": "pseudo_dataset", "name": "pseudo_output_collection#build"}],
        log_collections=[],
        dependency_map=None,
        task_name=BUILD_TASK_NAME,
        task_queue=settings.queue,
        encode_command_line=True,
        prodSourceLabel=settings.prod_source_label,
        processing_type=settings.processing_type,
        task_log=task_log(),
        task_rss=settings.rss,
        task_rss_max=settings.rss_max,
        task_rss_retry_offset=0 if rss_step else settings.rss,
        task_rss_retry_step=rss_step,
        task_cloud=settings.cloud,
        task_site=settings.site,
        task_priority=settings.priority,
        vo=settings.vo,
        maxattempt=settings.max_attempt,
    )
    work.sign()
    workflow = Workflow(name=name)
    workflow.add_work(work)
    return workflow


def build_executable(settings: RemoteBuildSettings, archive_url: str, config_file: str) -> str:
    """Fill the markers of ``remoteBuild.runnerCommand``.

    Parameters
    ----------
    settings : `RemoteBuildSettings`
        Settings whose ``runner_command`` holds the markers.
    archive_url : `str`
        URL of the archive in the PanDA cache, for the download marker.
    config_file : `str`
        The submit YAML; its base name fills the configuration marker.
    """
    return (
        settings.runner_command.replace(DOWNLOAD_MARKER, archive_url)
        .replace(CONFIG_MARKER, os.path.basename(config_file))
        .replace(SITE_MARKER, settings.site or "")
    )


class RemoteBuildWorkflow(BaseWmsWorkflow):
    """What `PanDAService.submit` returns for a remote build: the build request's name and id."""

    @classmethod
    def from_generic_workflow(cls, config: Any, generic_workflow: Any, out_prefix: Any, service_class: Any):
        # Docstring inherited from BaseWmsWorkflow.from_generic_workflow.
        raise NotImplementedError("a remote build is made by submit_remote_build, not from a workflow")

    def write(self, out_prefix: str) -> None:
        # Docstring inherited from BaseWmsWorkflow.write.
        raise NotImplementedError("a remote build writes nothing but its request record")


def submit_remote_build(
    config: BpsConfig,
    remote_build: BpsConfig,
    config_file: str,
    port: IddsPort,
    upload: Callable[..., None] = upload_to_cache,
) -> RemoteBuildWorkflow:
    """Pack, upload and submit the build request; record its id in the submit directory.

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig`
        The submission config (ctrl_bps's, with ``submitPath`` and ``uniqProcName``).
    remote_build : `lsst.ctrl.bps.BpsConfig`
        Its ``remoteBuild`` section.
    config_file : `str`
        The submit YAML as given to ``bps submit``.
    port : `IddsPort`
        The way to iDDS.
    upload : `~collections.abc.Callable`, optional
        Puts the archive in the cache (tests pass a faulty one only where HTTP cannot fail).

    Returns
    -------
    workflow : `RemoteBuildWorkflow`
        Its ``run_id`` is the request id.
    """
    settings = read_settings(config, remote_build)
    names = SettingsReader(config).submission_names()
    submit_path, name = Path(names.submit_path), names.run_name
    context = {"output_run": names.output_run}
    archive = pack_archive(config_file, settings.files, submit_path, context)
    upload(archive, settings.upload_attempts, settings.upload_backoff)
    archive_url = cache_url(archive.name)
    workflow = build_workflow(name, settings, build_executable(settings, archive_url, config_file))
    request_id = port.submit_build(workflow)
    if request_id <= 0:
        raise SubmissionRefusedError(
            f"iDDS returned no request id ({request_id}) for the build request of {name}"
        )
    _LOG.info(
        "Submitted the remote build of %s as iDDS request %d (archive %s)", name, request_id, archive_url
    )
    record = {"request_id": request_id, "name": name, "remote_build": True, "archive": archive_url}
    record_request(submit_path, record, port, what=f"The remote build of {name}")
    run = RemoteBuildWorkflow(name, config)
    run.run_id = str(request_id)
    run.submit_path = str(submit_path)
    return run


def hand_back(workflow: Any, request_id: int, signature: str, port: IddsPort) -> Any:
    """Stage a workflow's files and hand it to its build request (runs in the build job).

    Parameters
    ----------
    workflow : `PandaBpsWmsWorkflow`
        The workflow prepare made on the worker.
    request_id : `int`
        The build request (``IDDS_BUILD_REQUEST_ID``).
    signature : `str`
        The build work's signature (``IDDS_BUIL_SIGNATURE``).
    port : `IddsPort`
        The way to iDDS.

    Returns
    -------
    answer : `typing.Any`
        The answer of iDDS to ``update_build_request``.
    """
    from ..wms.staging import stage_files

    if workflow.files_to_stage:
        stage_files(workflow.files_to_stage, workflow.end_point, max_workers=workflow.max_copy_workers)
    idds_workflow = workflow.idds_workflow
    if workflow.max_request_length and workflow.submit_path:
        submit_steps(idds_workflow, workflow.max_request_length, Path(workflow.submit_path), port)
    answer = port.update_build_request(request_id, signature, idds_workflow)
    _LOG.info("Handed workflow %s to build request %d: %s", workflow.name, request_id, answer)
    return answer
