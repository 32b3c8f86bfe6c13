# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""PanDAService: the ctrl_bps entry point; each verb delegates to a module below.

Also the published 30.x module of that name: the service reaches iDDS through this module's
`get_idds_client`, looked up when first needed, which is where the published tests put their
client.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from lsst.ctrl.bps import BaseWmsService, BpsConfig, GenericWorkflow, WmsRunReport, WmsStates
from lsst.daf.butler import Config
from lsst.resources import ResourcePath

from .errors import (
    AlreadySubmittedError,
    IddsCallError,
    IddsError,
    PandaConfigError,
    PandaUnreachableError,
    RunIdError,
)
from .gc_pause import gc_paused
from .identity import caller_identity
from .prepare.prepared_workflow import PandaBpsWmsWorkflow
from .prepare.settings import ServiceSettings, defaults_path, read_service_settings
from .states import TERMINAL_REQUEST_STATES, request_state
from .wms.idds_port import IddsPort, RelayClient
from .wms.run_commands import note_command
from .wms.run_reading import RunReading, read_run_of
from .wms.staging import stage_files
from .wms.submission import (
    recorded_request,
    recorded_request_ids,
    request_id_of,
    submit_workflow,
)
from .wms.submission_checks import check_environment
from .wms.wms_report import run_report_from_records, summary_reports

__all__ = ["PanDAService", "PandaBpsWmsWorkflow", "get_idds_client"]

_LOG = logging.getLogger(__name__)


def get_idds_client(config: BpsConfig | dict) -> Any:
    """Return the client the service calls iDDS through: the PanDA client's, via the relay.

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig` or `dict`
        The service's configuration (``iddsServer``; may be empty).

    Returns
    -------
    client : `~lsst.ctrl.bps.panda.wms.idds_port.RelayClient`
        Its methods are the iDDS ``ClientManager`` calls; each returns ``(status, output)``.
    """
    return RelayClient(read_service_settings(config).idds_server)


def _no_such_request(wms_id: str) -> str:
    """Say that iDDS has no request of the id a user gave (the published plugin's words)."""
    return f"No records found for workflow id '{wms_id}'. Hint: double check the id"


class PanDAService(BaseWmsService):
    """PanDA (through iDDS) as a ctrl_bps workflow management system.

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig` or `dict`
        Configuration; `bps report|status|cancel|restart` pass an empty one.
    """

    def __init__(self, config: BpsConfig | dict) -> None:
        super().__init__(config)
        self._port: IddsPort | None = None
        self._settings: ServiceSettings | None = None

    @property
    def defaults(self) -> Config:
        # Docstring inherited from BaseWmsService.defaults.
        return Config(str(defaults_path()))

    @property
    def defaults_uri(self) -> ResourcePath:
        # Docstring inherited from BaseWmsService.defaults_uri.
        return ResourcePath(str(defaults_path()))

    def prepare(
        self, config: BpsConfig, generic_workflow: GenericWorkflow, out_prefix: str | None = None
    ) -> PandaBpsWmsWorkflow:
        # Docstring inherited from BaseWmsService.prepare.
        # One pause of the garbage collector for conversion and writing: re-enabled in between, it
        # would walk the millions of objects conversion made before writing starts.
        with gc_paused(long_lived=True):
            return self._prepare(config, generic_workflow, out_prefix)

    def _prepare(
        self, config: BpsConfig, generic_workflow: GenericWorkflow, out_prefix: str | None
    ) -> PandaBpsWmsWorkflow:
        service_class = f"{type(self).__module__}.{type(self).__name__}"
        workflow = PandaBpsWmsWorkflow.from_generic_workflow(
            config, generic_workflow, out_prefix, service_class
        )
        if out_prefix is not None:
            previous = recorded_request(out_prefix)
            if previous is not None and not self.settings.resubmit:
                raise AlreadySubmittedError(
                    f"{out_prefix} already holds the submitted request {previous['request_id']}: "
                    "preparing here would overwrite its workflow files. Prepare into a new submit "
                    f"directory, or use `bps restart --id {previous['request_id']}`"
                )
            workflow.write(out_prefix)
        return workflow

    # -- operating a run -------------------------------------------------------------------------
    @property
    def settings(self) -> ServiceSettings:
        """The service's own keys (read on first use; report & co. get an empty config)."""
        if self._settings is None:
            self._settings = read_service_settings(self.config)
        return self._settings

    @property
    def port(self) -> IddsPort:
        """The port to iDDS (created on first use)."""
        if self._port is None:
            # get_idds_client is looked up when the port first calls iDDS (tests patch it there).
            self._port = IddsPort(
                self.settings.idds_server, api_factory=lambda _server: get_idds_client(self.config)
            )
        return self._port

    def _monitor_url(self) -> str | None:
        return os.environ.get("PANDA_MON_URL") or self.settings.monitor_url

    def submit(self, workflow: PandaBpsWmsWorkflow | None, **kwargs: Any) -> Any:
        # Docstring inherited from BaseWmsService.submit.
        if workflow is None or kwargs.get("remote_build"):
            # ctrl_bps skips prepare and hands over the submit YAML when remoteBuild.enabled is true.
            return self._submit_remote_build(kwargs)
        if workflow.files_to_stage:
            stage_files(
                workflow.files_to_stage,
                workflow.end_point,
                max_workers=workflow.max_copy_workers,
            )
        resubmit = bool(kwargs.get("resubmit")) or self.settings.resubmit
        submit_workflow(workflow, self.port, resubmit=resubmit)
        return workflow

    def _submit_remote_build(self, kwargs: dict[str, Any]) -> Any:
        """Submit a remote build (ctrl_bps passes ``config``, ``remote_build`` and ``config_file``)."""
        from .remote_build.build_submission import submit_remote_build

        config = kwargs.get("config") or self.config
        remote_build = kwargs.get("remote_build")
        config_file = kwargs.get("config_file")
        if not isinstance(config, BpsConfig) or not remote_build or not config_file:
            raise PandaConfigError(
                "A remote build needs the submission config, its remoteBuild section and the submit YAML "
                "(bps submit passes them when remoteBuild.enabled is true); nothing was submitted"
            )
        return submit_remote_build(config, remote_build, str(config_file), self.port)

    def get_status(
        self, wms_workflow_id: str, hist: float = 1, is_global: bool = False
    ) -> tuple[WmsStates, str]:
        # Docstring inherited from BaseWmsService.get_status.
        try:
            request_id = request_id_of(wms_workflow_id)
            records = self.port.get_requests(request_id=request_id, with_detail=False)
        except (RunIdError, IddsError) as error:
            return WmsStates.UNKNOWN, str(error)
        if not records:
            return WmsStates.UNKNOWN, _no_such_request(wms_workflow_id)
        reading = self._reading(wms_workflow_id, request_id, records[0])
        return reading.state, "" if reading.unchecked else reading.message

    def _reading(self, wms_id: Any, request_id: int, request: dict[str, Any]) -> RunReading:
        """Return the run state: iDDS's, unless a restart or cancel recorded for the run says more."""
        pending_timeout = self.settings.restart_pending_timeout
        return read_run_of(wms_id, request_id, request, pending_timeout=pending_timeout)

    def report(
        self,
        wms_workflow_id: str | None = None,
        user: str | None = None,
        hist: float = 0,
        pass_thru: str | None = None,
        is_global: bool = False,
        return_exit_codes: bool = False,
    ) -> tuple[list[WmsRunReport], str]:
        # Docstring inherited from BaseWmsService.report.
        try:
            if wms_workflow_id is None:
                return summary_reports(self._own_requests(user), hist), ""
            request_id = request_id_of(wms_workflow_id)
            records = self.port.get_requests(request_id=request_id, with_detail=True)
            if not records:
                return [], _no_such_request(wms_workflow_id)
            contents = self.port.get_contents_output_ext(request_id) if return_exit_codes else None
        except (RunIdError, IddsError) as error:
            return [], str(error)
        path = str(wms_workflow_id) if os.path.isdir(str(wms_workflow_id)) else None
        reading = self._reading(wms_workflow_id, request_id, records[0])
        report = run_report_from_records(
            records,
            contents,
            request_id=request_id,
            path=path,
            monitor_url=self._monitor_url(),
            state=reading.state,
        )
        return [report], reading.message

    def list_submitted_jobs(
        self,
        wms_id: str | None = None,
        user: str | None = None,
        require_bps: bool = True,
        pass_thru: str | None = None,
        is_global: bool = False,
    ) -> list[str]:
        # Docstring inherited from BaseWmsService.list_submitted_jobs.
        if wms_id is not None:
            request_id = request_id_of(wms_id)
            try:
                found = self.port.get_requests(request_id=request_id)
            except IddsCallError as error:  # iDDS answered: no such request
                _LOG.warning("%s", error)
                found = []
            return [str(request_id)] if found else []
        ids = {str(r.get("request_id")) for r in self._own_requests(user)}
        return sorted(ids, key=lambda i: int(i) if i.isdigit() else 0)

    def _own_requests(self, user: str | None) -> list[dict[str, Any]]:
        """Return the request records of ``user``, or of the caller when `None`.

        iDDS records as ``username`` the identity the PanDA server derived from the caller's
        credential, not the local login: the caller's is derived the same way (`caller_identity`).
        Requests recorded in submit directories under ``./submit`` count as the caller's too
        (the only way to find them when no credential can be read).
        """
        records = self.port.get_requests(request_id=None, with_detail=False)
        if user:
            return [r for r in records if r.get("username") == user]
        identity = caller_identity()
        recorded = recorded_request_ids(Path.cwd() / "submit")
        _LOG.debug("Listing requests of %r and the %d recorded under ./submit", identity, len(recorded))
        return [
            r
            for r in records
            if (identity is not None and r.get("username") == identity) or r.get("request_id") in recorded
        ]

    def cancel(self, wms_id: str, pass_thru: str | None = None) -> tuple[bool, str]:
        # Docstring inherited from BaseWmsService.cancel.
        try:
            request_id = request_id_of(wms_id)
            records = self.port.get_requests(request_id=request_id)
            status = records[0].get("status") if records else None
            if status is not None and request_state(status) in TERMINAL_REQUEST_STATES:
                name = getattr(status, "name", status)
                return False, f"nothing to cancel: request {request_id} has already ended ({name})"
            message = self.port.abort(request_id)
        except (RunIdError, IddsError) as error:
            return False, str(error)
        if records:
            note_command(wms_id, request_id, "cancel", records[0])
        return True, f"Cancel of request {request_id} registered ({message}); PanDA cancels asynchronously"

    def restart(self, wms_workflow_id: str) -> tuple[str | None, str | None, str]:
        # Docstring inherited from BaseWmsService.restart.
        try:
            request_id = request_id_of(wms_workflow_id)
            records = self.port.get_requests(request_id=request_id)
            if not records:
                return None, None, _no_such_request(wms_workflow_id)
            reading = self._reading(wms_workflow_id, request_id, records[0])
            if reading.state == WmsStates.SUCCEEDED:
                return None, None, f"Request {request_id} finished successfully; nothing to restart"
            if reading.state not in TERMINAL_REQUEST_STATES:
                why = f" ({reading.message})" if reading.message else ""
                still = f"Request {request_id} is still {reading.state.name}{why}"
                return None, None, f"{still}; restart it once it has ended"
            message = self.port.retry(request_id)
        except (RunIdError, IddsError) as error:
            return None, None, str(error)
        name = str(records[0].get("name") or "")
        _LOG.info("Retry of request %s registered: %s", request_id, message)
        note_command(wms_workflow_id, request_id, "restart", records[0])
        return str(request_id), name, ""

    def ping(self, pass_thru: str | None = None) -> tuple[int, str]:
        # Docstring inherited from BaseWmsService.ping.
        try:
            self.port.ping()
        except IddsError as error:
            return 1, str(error)
        return 0, ""

    def run_submission_checks(self) -> None:
        # Docstring inherited from BaseWmsService.run_submission_checks.
        check_environment()
        status, message = self.ping(None)
        if status:
            raise PandaUnreachableError(f"PanDA does not answer: {message}")
