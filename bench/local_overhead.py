# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Scheduling overhead of the local PanDA: no-op jobs per second.

Starts a local PanDA in this process on a free loopback port, submits one
request of ``--jobs`` jobs running ``true`` (half of them depending on the
other half, so that releases are measured too) through the real PanDA
client, and times it from the submit reply to the end of the request.

    .venv/bin/python bench/local_overhead.py [--jobs 1000] [--max-jobs N]
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import tempfile
import time

from results_file import replace_block


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    """Run the benchmark and print jobs per second."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="number of `true` jobs")
    parser.add_argument("--max-jobs", type=int, default=None, help="cores for jobs (default: all)")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    parser.add_argument("--results", help="also write the figure into this Markdown file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, force=True)

    port = _free_port()
    url = f"http://127.0.0.1:{port}/server/panda"
    for name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL"):
        os.environ[name] = url
    os.environ.update(PANDA_BEHIND_REAL_LB="1", PANDA_AUTH="oidc", PANDA_AUTH_VO="local")

    import idds.common.utils as idds_utils
    from idds.doma.workflowv2.domapandawork import DomaPanDAWork
    from idds.workflowv2.workflow import Workflow
    from lsst.ctrl.bps.panda.local.server import LocalPandaServer
    from lsst.ctrl.bps.panda.local.state.state_dir import StateDir
    from pandaclient import idds_api

    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as state_dir:
        server = LocalPandaServer(StateDir(state_dir), port=port, max_cores=args.max_jobs)
        server.start_in_thread()
        cores = server.engine.policy.max_cores
        os.environ["PANDA_AUTH_ID_TOKEN"] = server.token
        try:
            api = idds_api.get_api(
                dumper=idds_utils.json_dumps, loader=idds_utils.json_loads, compress=True, manager=True
            )
            half = args.jobs // 2
            workflow = Workflow(name="overhead")
            for index, (task, entries) in enumerate(
                (
                    ("first", [{"name": f"f{i}", "order_id": i, "dependencies": []} for i in range(half)]),
                    (
                        "second",
                        [
                            {
                                "name": f"s{i}",
                                "order_id": i,
                                "dependencies": [{"task": "first", "inputname": f"f{i}"}],
                            }
                            for i in range(args.jobs - half)
                        ],
                    ),
                ),
                1,
            ):
                workflow.add_work(
                    DomaPanDAWork(
                        executable="true",
                        primary_input_collection={"scope": "pseudo_dataset", "name": f"in#{index}"},
                        output_collections=[{"scope": "pseudo_dataset", "name": f"out#{index}"}],
                        log_collections=[],
                        dependency_map=entries,
                        task_name=task,
                        task_queue="LOCAL_CONVENTIONAL",
                        maxattempt=1,
                    )
                )
            submitted = time.monotonic()
            status, (ok, request_id) = api.submit(workflow)
            assert status == 0 and ok, request_id
            accepted = time.monotonic()
            deadline = accepted + args.timeout
            while True:
                _, (_, records) = api.get_requests(request_id=request_id)
                if records[0]["status"].name not in ("New", "Transforming"):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"request {request_id} did not end within {args.timeout} s")
                time.sleep(0.05)
            ended = time.monotonic()
        finally:
            server.close()
    run = ended - accepted
    print(f"request {request_id}: {records[0]['status'].name}; submit took {accepted - submitted:.2f} s")
    line = (
        f"{args.jobs} `true` jobs on {cores} cores in {run:.2f} s: {args.jobs / run:.0f} jobs/s, "
        f"{1000 * run / args.jobs:.1f} ms of wall time per job"
    )
    print(line)
    if args.results:
        replace_block(
            args.results,
            "<!-- bench:local-overhead -->",
            f"Local PanDA scheduling overhead, measured {time.strftime('%Y-%m-%d')} with "
            f"`python bench/local_overhead.py` (half the jobs depend on the other half):\n\n{line}",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
