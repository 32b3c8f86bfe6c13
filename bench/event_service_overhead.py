# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Per-payload overhead of the local PanDA with and without the event service.

Prepares ``--payloads`` jobs of one label running ``true`` through the decoder (the plugin's
``prepare``, staged to a local end point), once plain and once with ``enableEventService:
a:<--events-per-job>``, and runs the PanDA task iDDS would submit for each (``DomaPanDAWork``'s
own task parameters, sent with ``pandaclient`` to the local PanDA's PanDA API, ``idds`` engine
without its daemons): plain, one PanDA job per payload; with the event service, PanDA jobs that
run their events one after another.  Timed from the task's submission to the end of its last job.

    .venv/bin/python bench/event_service_overhead.py [--payloads 1000] [--events-per-job 100]
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import socket
import sys
import tempfile
import time
from pathlib import Path

from results_file import replace_block


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NoIddsStack:
    """The PanDA API of the ``idds`` engine without the iDDS daemons."""

    rest_url = "http://127.0.0.1:1/idds"

    def __init__(self, state: object) -> None:
        pass

    def start(self, *args: object, **kwargs: object) -> None:
        pass

    def stop(self) -> None:
        pass

    def client_env(self) -> dict[str, str]:
        return {}


def _prepared_work(directory: Path, payloads: int, events_per_job: int | None):  # noqa: ANN202
    from lsst.ctrl.bps import BpsConfig, GenericWorkflow, GenericWorkflowExec, GenericWorkflowJob
    from lsst.ctrl.bps.bps_config import BPS_DEFAULTS, BPS_SEARCH_ORDER
    from lsst.ctrl.bps.panda import PanDAService
    from lsst.ctrl.bps.panda.edgenode import cmd_line_decoder
    from lsst.ctrl.bps.panda.wms.staging import stage_files

    gw = GenericWorkflow(f"bench_{events_per_job or 'plain'}")  # tasks of one name would be one task
    true = GenericWorkflowExec("true", "/bin/true", False)
    for i in range(payloads):
        job = GenericWorkflowJob(f"a_{i}", label="a", executable=true, arguments="{qgraphNodeId}")
        job.cmdvals = {"qgraphNodeId": f"q{i}"}
        job.number_of_retries = 0
        gw.add_job(job)
    runner = f"{shlex.quote(sys.executable)} {shlex.quote(cmd_line_decoder.__file__)} _cmd_line_"
    values = {
        "submitPath": str(directory / "submit"),
        "computeSite": "LOCAL",
        "site": {"LOCAL": {"runnerCommand": runner, "memoryClasses": []}},
        "maxJobsPerTask": payloads,
    }
    if events_per_job:
        values["enableEventService"] = f"a:{events_per_job}"
    config = BpsConfig(
        values,
        search_order=BPS_SEARCH_ORDER,
        defaults=BPS_DEFAULTS,
        wms_service_class_fqn="lsst.ctrl.bps.panda.PanDAService",
    )
    prepared = PanDAService({}).prepare(config, gw, str(directory / "submit"))
    stage_files(prepared.files_to_stage, prepared.end_point)
    (work,) = prepared.idds_workflow.get_all_works()
    return work


def _run_task(work, timeout: float) -> tuple[float, int]:  # noqa: ANN001
    """Submit the work's PanDA task; return (seconds to its end, PanDA jobs)."""
    from pandaclient import Client

    params = work.create_processing().processing_metadata["task_param"]
    started = time.monotonic()
    status, output = Client.insertTaskParams(params)
    if status != 0 or output[0] != 0:
        raise SystemExit(f"task submission failed: {output}")
    task_id = int(output[1].rsplit("=", 1)[1])
    expected = len(params["pfnList"])
    deadline = started + timeout
    while time.monotonic() < deadline:
        _, panda_ids = Client.getPandaIDsWithTaskID(task_id)
        if panda_ids and len(panda_ids) >= expected:
            _, jobs = Client.getJobStatus(panda_ids)
            if all(job.jobStatus in ("finished", "failed") for job in jobs):
                bad = [job.PandaID for job in jobs if job.jobStatus != "finished"]
                if bad:
                    raise SystemExit(f"jobs {bad[:5]} failed")
                return time.monotonic() - started, len(jobs)
        time.sleep(0.1)
    raise SystemExit(f"task {task_id} did not end within {timeout} s")


def main() -> int:
    """Run both variants and print the wall time per payload."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=1000, help="number of `true` payloads")
    parser.add_argument("--events-per-job", type=int, default=100, help="payloads per PanDA job with events")
    parser.add_argument("--max-jobs", type=int, default=None, help="cores for jobs (default: all)")
    parser.add_argument("--timeout", type=float, default=1200, help="give up after this many seconds")
    parser.add_argument("--results", help="also write the figures into this Markdown file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, force=True)

    port = _free_port()
    url = f"http://127.0.0.1:{port}/server/panda"
    for name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL"):
        os.environ[name] = url
    os.environ.update(PANDA_BEHIND_REAL_LB="1", PANDA_AUTH="oidc", PANDA_AUTH_VO="local")

    from lsst.ctrl.bps.panda.local.server import LocalPandaServer
    from lsst.ctrl.bps.panda.local.state.state_dir import StateDir

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        server = LocalPandaServer(
            StateDir(Path(tmp) / "state"),
            port=port,
            engine="idds",
            stack_factory=_NoIddsStack,
            max_cores=args.max_jobs,
        )
        server.start_in_thread()
        cores = server.engine.policy.max_cores
        os.environ["PANDA_AUTH_ID_TOKEN"] = server.token
        try:
            for label, events in (
                ("one PanDA job per payload", None),
                ("event service", args.events_per_job),
            ):
                work = _prepared_work(Path(tmp) / (label.split()[0]), args.payloads, events)
                seconds, jobs = _run_task(work, args.timeout)
                rows.append((label if events is None else f"{label} ({events} per job)", jobs, seconds))
                per_payload = 1000 * seconds / args.payloads
                print(f"{label}: {jobs} PanDA jobs, {seconds:.2f} s, {per_payload:.1f} ms/payload")
        finally:
            server.close(kill_running=True)
    table = [
        "| variant | PanDA jobs | wall s | ms per payload |",
        "|---|---:|---:|---:|",
        *(
            f"| {label} | {jobs} | {seconds:.2f} | {1000 * seconds / args.payloads:.1f} |"
            for label, jobs, seconds in rows
        ),
    ]
    if args.results:
        replace_block(
            args.results,
            "<!-- bench:event-service -->",
            f"Event service, measured {time.strftime('%Y-%m-%d')} with "
            f"`python bench/event_service_overhead.py --payloads {args.payloads} --events-per-job "
            f"{args.events_per_job}`: {args.payloads} `true` payloads run by the decoder on {cores} cores, "
            "local PanDA's PanDA API (`idds` engine, task as `DomaPanDAWork` submits it, no iDDS daemons), "
            "from task submission to the end of its last job:\n\n" + "\n".join(table),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
