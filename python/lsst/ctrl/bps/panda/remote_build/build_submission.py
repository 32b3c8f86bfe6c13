# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

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

import dataclasses
import datetime
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsst.ctrl.bps import BaseWmsWorkflow, BpsConfig

from ..atomic_file import write_atomically
from ..errors import PandaConfigError, RequestNotRecordedError, SubmissionRefusedError
from ..wms.idds_port import IddsPort
from ..wms.submission import REQUEST_FILE
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

DOWNLOAD_MARKER = "_download_cmd_line_"
CONFIG_MARKER = "_build_cmd_line_"
SITE_MARKER = "_compute_site_"
"""Where ``remoteBuild.runnerCommand`` takes the archive's cache URL, the YAML's name and the site."""

_DEFAULTS: dict[str, Any] = {
    "files": [],
    "uploadAttempts": 3,
    "uploadBackoff": 5.0,
    "requestMemory": 4000,
    "numberOfRetries": 0,
}


@dataclasses.dataclass(frozen=True)
class RemoteBuildSettings:
    """What the build job needs, from ``remoteBuild.*`` first and the submit YAML second."""

    files: tuple[str, ...]
    runner_command: str
    upload_attempts: int
    upload_backoff: float
    site: str | None
    queue: str | None
    cloud: str | None
    rss: int
    rss_max: int | None
    memory_multiplier: float | None
    max_attempt: int
    processing_type: str | None
    priority: int | None
    vo: str | None
    prod_source_label: str | None


def _search(config: BpsConfig, section: BpsConfig, key: str, curvals: dict[str, str]) -> tuple[bool, Any]:
    """Search ``remoteBuild.<key>``, then the submit YAML's usual order (site included)."""
    options = {"expandEnvVars": False, "replaceEnvVars": False, "required": False, "curvals": curvals}
    found, value = config.search(key, opt=dict(options, searchobj=section))
    if not found or value in (None, ""):
        found, value = config.search(key, opt=options)
    if (not found or value in (None, "")) and key in _DEFAULTS:
        return True, _DEFAULTS[key]
    return found, value


def _number(key: str, value: Any, kind: Callable[[Any], Any], minimum: float) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise PandaConfigError(f"remoteBuild.{key} must be a number, got {value!r}") from None
    if number < minimum:
        raise PandaConfigError(f"remoteBuild.{key} must be at least {minimum}, got {value!r}")
    return number


def read_settings(config: BpsConfig, remote_build: BpsConfig) -> RemoteBuildSettings:
    """Read the remote build keys (``remoteBuild.<key>`` wins over the same key elsewhere).

    Raises
    ------
    PandaConfigError
        Raised if ``remoteBuild.runnerCommand`` is missing or lacks a marker, or a number is bad.
    """
    _, site = config.search("computeSite", opt={"default": None})
    curvals = {"curr_site": str(site)} if site else {}

    def value(key: str) -> Any:
        return _search(config, remote_build, key, curvals)[1]

    def own(key: str) -> Any:
        # Keys that only make sense under remoteBuild (runnerCommand elsewhere is the jobs' runner).
        found, found_value = remote_build.search(key, opt={"replaceEnvVars": False, "expandEnvVars": False})
        return found_value if found else _DEFAULTS.get(key)

    runner = value("runnerCommand") if own("runnerCommand") else None
    if not runner:
        raise PandaConfigError(
            "remoteBuild.runnerCommand is not set: include ${CTRL_BPS_PANDA_DIR}/config/bps_remote.yaml "
            "or set it to a command that runs edgenode/build_cmd_line_decoder.py"
        )
    runner = " ".join(str(runner).split())
    if DOWNLOAD_MARKER not in runner or CONFIG_MARKER not in runner:
        raise PandaConfigError(
            f"remoteBuild.runnerCommand must contain {DOWNLOAD_MARKER} and {CONFIG_MARKER} (the archive's "
            f"cache URL and the submit YAML's name), got {runner!r}"
        )
    files = own("files") or []
    if isinstance(files, str):
        files = [files]
    multiplier = value("memoryMultiplier")
    retries = _number("numberOfRetries", value("numberOfRetries"), int, 0)
    priority = value("priority")
    rss_max = value("requestMemoryMax")
    return RemoteBuildSettings(
        files=tuple(str(name) for name in files),
        runner_command=runner,
        upload_attempts=_number("uploadAttempts", own("uploadAttempts"), int, 1),
        upload_backoff=_number("uploadBackoff", own("uploadBackoff"), float, 0),
        site=str(site) if site else None,
        queue=value("queue") or None,
        cloud=value("computeCloud") or None,
        rss=_number("requestMemory", value("requestMemory"), int, 1),
        rss_max=_number("requestMemoryMax", rss_max, int, 1) if rss_max else None,
        memory_multiplier=_number("memoryMultiplier", multiplier, float, 1) if multiplier else None,
        max_attempt=retries + 1,
        processing_type=value("processingType") or None,
        priority=_number("priority", priority, int, 0) if priority not in (None, "") else None,
        vo=value("vo") or None,
        prod_source_label=value("prodSourceLabel") or None,
    )


def build_workflow(name: str, settings: RemoteBuildSettings, executable: str) -> Any:
    """Return the iDDS build workflow: one signed `DomaPanDAWork` with one job.

    The signature travels to the job as ``IDDS_BUIL_SIGNATURE`` (set by ``DomaPanDAWork``) and
    iDDS accepts ``update_build_request`` only with it.
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
        prodSourceLabel=settings.prod_source_label or "managed",
        processing_type=settings.processing_type,
        task_log={
            "dataset": "PandaJob_#{pandaid}/",
            "destination": "local",
            "param_type": "log",
            "token": "local",
            "type": "template",
            "value": "log.tgz",
        },
        task_rss=settings.rss,
        task_rss_max=settings.rss_max,
        task_rss_retry_offset=0 if rss_step else settings.rss,
        task_rss_retry_step=rss_step,
        task_cloud=settings.cloud,
        task_site=settings.site,
        task_priority=settings.priority if settings.priority is not None else 900,
        vo=settings.vo or "wlcg",
        maxattempt=settings.max_attempt,
    )
    work.sign()
    workflow = Workflow(name=name)
    workflow.add_work(work)
    return workflow


def build_executable(settings: RemoteBuildSettings, archive_url: str, config_file: str) -> str:
    """Fill the markers of ``remoteBuild.runnerCommand``."""
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
    submit_path = Path(config["submitPath"])
    name = str(config["uniqProcName"])
    context = {"output_run": str(config["outputRun"])}
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
    record = {
        "request_id": request_id,
        "name": name,
        "remote_build": True,
        "archive": archive_url,
        "submitted_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "panda_url": os.environ.get("PANDA_URL_SSL") or os.environ.get("PANDA_URL"),
        "idds_server": port.idds_server,
    }
    try:
        write_atomically(submit_path / REQUEST_FILE, json.dumps(record, indent=1))
    except OSError as error:
        raise RequestNotRecordedError(
            f"The remote build of {name} was submitted as request {request_id}, but recording it in "
            f"{submit_path / REQUEST_FILE} failed: {error}. Use --id {request_id} with bps verbs."
        ) from error
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
        iDDS's answer to ``update_build_request``.
    """
    from ..wms.staging import stage_files

    if workflow.files_to_stage:
        stage_files(workflow.files_to_stage, workflow.end_point, max_workers=workflow.max_copy_workers)
    idds_workflow = workflow.idds_workflow
    if workflow.max_request_length and workflow.submit_path:
        steps = idds_workflow.split_workflow_to_steps(
            request_cache=str(Path(workflow.submit_path) / "idds_request_cache"),
            max_request_length=workflow.max_request_length,
        )
        for number, step in enumerate(steps, 1):
            _LOG.info("Submitting workflow step %d of %d (%s)", number, len(steps), step.step_name)
            result = port.submit(step)
            if result != 0:
                raise SubmissionRefusedError(
                    f"iDDS answered {result} for workflow step {step.step_name}; expected 0"
                )
    answer = port.update_build_request(request_id, signature, idds_workflow)
    _LOG.info("Handed workflow %s to build request %d: %s", workflow.name, request_id, answer)
    return answer
