# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""`PandaRun`: one PanDA run as a notebook or script sees it.

::

    from .. import PandaRun, submit

    run = submit("demo.yaml")            # what `bps submit demo.yaml` does
    run.wait()                           # a progress bar per label; Ctrl-C stops watching only
    run.report()                         # per-label table (HTML in Jupyter)
    run.failed_jobs()                    # exit codes and log locations
    run.restart(); run.cancel(); run.graph()

Everything goes through `PanDAService`, the same calls ``bps report|cancel|restart`` make, so
a run handle works against any PanDA the environment points at (``PANDA_URL*``), the local
PanDA included.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from lsst.ctrl.bps import WmsStates

from ..errors import PandaRunError, RunIdError
from ..panda_service import PanDAService
from ..states import TERMINAL_REQUEST_STATES, job_state
from ..task_names import label_of_task
from ..wms.submission import request_id_of
from .run_table import FailedJob, FailedJobs, RunTable, label_resources, run_table_from_report

__all__ = ["PandaRun", "WorkflowPicture", "submit"]

_LOG = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 5.0
"""Seconds between two polls of `PandaRun.wait`."""


class WorkflowPicture:
    """The task-graph picture of a prepared workflow; shows inline in Jupyter.

    Parameters
    ----------
    path : `pathlib.Path`
        The SVG file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _repr_svg_(self) -> str:
        return self.path.read_text()

    def __repr__(self) -> str:
        return f"WorkflowPicture({str(self.path)!r})"


class PandaRun:
    """A handle on one PanDA run.

    Parameters
    ----------
    run : `str` or `int` or `pathlib.Path`
        The request id (``Run Id`` of ``bps submit``) or the run's submit directory.
    service : `PanDAService`, optional
        The service to ask; by default one with an empty configuration, as ``bps report`` makes.
    """

    def __init__(self, run: str | int | Path, service: PanDAService | None = None) -> None:
        self.submit_dir: Path | None = Path(str(run)) if os.path.isdir(str(run)) else None
        try:
            self.request_id = str(request_id_of(str(run)))
        except (RunIdError, FileNotFoundError) as exc:
            raise PandaRunError(
                f"{run!r} is neither a PanDA request id nor a submitted run's directory"
            ) from exc
        self.service = service or PanDAService({})

    @property
    def _wms_id(self) -> str:
        """The id the service verbs get: the submit directory when known.

        A restart or a cancel is then recorded there, and a read right after it means what was done.
        """
        return str(self.submit_dir) if self.submit_dir is not None else self.request_id

    def __repr__(self) -> str:
        where = f", submit_dir={str(self.submit_dir)!r}" if self.submit_dir else ""
        return f"PandaRun({self.request_id!r}{where}): {self.status.name}"

    def _repr_html_(self) -> str:
        return self.report()._repr_html_()

    @property
    def status(self) -> WmsStates:
        """The state of the run now (`~lsst.ctrl.bps.WmsStates`)."""
        state, message = self.service.get_status(self._wms_id)
        if state == WmsStates.UNKNOWN and message:
            _LOG.warning("Status of request %s: %s", self.request_id, message)
        return state

    def report(self) -> RunTable:
        """Return the per-label report of the run.

        Raises
        ------
        PandaRunError
            Raised if PanDA does not know the run or cannot answer.
        """
        reports, message = self.service.report(self._wms_id, return_exit_codes=True)
        if not reports:
            raise PandaRunError(f"No report for request {self.request_id}: {message}")
        return run_table_from_report(
            reports[0], label_resources(self.submit_dir), self.service._monitor_url()
        )

    def failed_jobs(self) -> FailedJobs:
        """Return the jobs that failed (last attempt), with exit codes and log locations."""
        port = self.service.port
        records = port.get_requests(request_id=int(self.request_id), with_detail=True)
        name = str(records[0].get("name") or "") if records else ""
        labels = {
            str(r.get("transform_id")): label_of_task(str(r["transform_name"]), name)
            for r in records
            if r.get("transform_name")
        }
        monitor = self.service._monitor_url()
        failed = FailedJobs()
        for task_key, jobs in port.get_contents_output_ext(int(self.request_id)).items():
            for job in jobs or ():
                if job_state(job.get("status")) != WmsStates.FAILED:
                    continue
                failed.append(_failed_job(job, labels.get(str(task_key), ""), monitor))
        return failed

    def cancel(self) -> str:
        """Cancel the run (asynchronous in PanDA); return PanDA's message.

        Raises
        ------
        PandaRunError
            Raised if PanDA refuses.
        """
        ok, message = self.service.cancel(self._wms_id)
        if not ok:
            raise PandaRunError(f"Cancel of request {self.request_id} failed: {message}")
        return message

    def restart(self) -> str:
        """Run the failed and missing jobs again (``bps restart``); return the run id.

        Raises
        ------
        PandaRunError
            Raised if PanDA refuses (the run succeeded, or has not ended yet).
        """
        run_id, _, message = self.service.restart(self._wms_id)
        if run_id is None:
            raise PandaRunError(f"Restart of request {self.request_id} refused: {message}")
        return run_id

    def wait(
        self, timeout: float | None = None, poll_seconds: float = DEFAULT_POLL_SECONDS, progress: bool = True
    ) -> WmsStates:
        """Wait until the run ends, showing a progress bar per label.

        Parameters
        ----------
        timeout : `float`, optional
            Stop waiting after this many seconds (the run goes on).
        poll_seconds : `float`, optional
            Seconds between two polls.
        progress : `bool`, optional
            Show progress bars (a widget in Jupyter, text elsewhere).

        Returns
        -------
        state : `lsst.ctrl.bps.WmsStates`
            The state when waiting stopped: terminal unless the timeout passed or the wait
            was interrupted (Ctrl-C, or "interrupt the kernel"), which leaves the run untouched.
        """
        from .progress_bars import LabelProgress

        deadline = None if timeout is None else time.monotonic() + timeout
        bars = LabelProgress(enabled=progress)
        table = self.report()
        try:
            while True:
                bars.update(table)
                if table.state in TERMINAL_REQUEST_STATES:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    _LOG.info("Request %s still %s after %s s", self.request_id, table.state.name, timeout)
                    break
                left = poll_seconds if deadline is None else deadline - time.monotonic()
                time.sleep(max(min(poll_seconds, left), 0.0))
                table = self.report()
        except KeyboardInterrupt:
            _LOG.warning("Stopped waiting for request %s; the run goes on", self.request_id)
        finally:
            bars.close()
        return table.state

    def graph(self) -> WorkflowPicture:
        """Return the task-graph picture written at prepare (shown inline in Jupyter).

        Raises
        ------
        PandaRunError
            Raised if the submit directory is unknown or holds no picture.
        """
        from ..prepare.workflow_picture import PICTURE_FILE

        if self.submit_dir is None:
            raise PandaRunError("The picture lives in the submit directory: make the run from it")
        path = self.submit_dir / PICTURE_FILE
        if not path.is_file():
            raise PandaRunError(f"No {PICTURE_FILE} in {self.submit_dir}: install the [graph] extra")
        return WorkflowPicture(path)


def _failed_job(job: dict[str, Any], label: str, monitor: str | None) -> FailedJob:
    panda_id = job.get("panda_id")
    log = job.get("path") or None
    if log is None and monitor and panda_id is not None:
        log = f"{monitor.rstrip('/')}/job?pandaid={panda_id}"
    code = job.get("trans_exit_code")
    diagnostic = job.get("exe_error_diag") or job.get("pilot_error_diag") or ""
    return FailedJob(
        label=label,
        name=str(job.get("name") or ""),
        panda_id=int(panda_id) if panda_id is not None else None,
        attempt=job.get("attempt_nr"),
        exit_code=int(code) if code not in (None, "") else None,
        diagnostic=str(diagnostic),
        log=log,
    )


def submit(submit_yaml: str | Path, **options: Any) -> PandaRun:
    """Submit a run as ``bps submit`` does (ctrl_bps's own driver) and return its handle.

    Parameters
    ----------
    submit_yaml : `str` or `pathlib.Path`
        The bps submit YAML.
    **options
        Passed to the driver as ``bps submit`` command-line options would be.

    Returns
    -------
    run : `PandaRun`
        The submitted run, with its submit directory.
    """
    from lsst.ctrl.bps.drivers import prepare_driver
    from lsst.ctrl.bps.submit import submit as bps_submit

    options.setdefault("runWmsSubmissionChecks", True)  # as `bps submit`: ping PanDA first
    config, prepared = prepare_driver(str(submit_yaml), **options)
    # ctrl_bps's submit returns a workflow only for remote builds; it sets run_id on ours.
    submitted = bps_submit(config, prepared, **options) or prepared
    _LOG.info("Submitted run %s (%s)", submitted.run_id, submitted.submit_path)
    return PandaRun(submitted.submit_path)
