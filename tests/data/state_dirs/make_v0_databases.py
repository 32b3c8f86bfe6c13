# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Make the version-0 local PanDA databases kept next to this script.

Run it with the Python of a checkout of the code *before* the schema was versioned (commit
8b10587, flat layout ``lsst.ctrl.bps.panda.local.server``), never with this package::

    git worktree add /tmp/v0 8b10587 && (cd /tmp/v0 && make venv)
    cd "$(mktemp -d)" && /tmp/v0/.venv/bin/python /path/to/make_v0_databases.py /path/to/state_dirs

It starts that code's embedded local PanDA in this process on a free loopback port, submits a
tiny workflow through the unmodified PanDA client (one task of two jobs that succeed, one job that
depends on the first and fails, a final job behind an ``AndCondition``), waits for the request to
end, closes the server and folds the write-ahead log into the database, which it copies repacked
in 1 KiB pages (to keep the files small; the layout, the rows and WAL mode are unchanged).  It
writes:

``v0_embedded.sqlite3``
    The database exactly as the embedded engine leaves it (no ``panda_*``/``job_events`` tables:
    the old code created those only when the ``idds`` engine started).
``v0_idds.sqlite3``
    The same database after the old ``PandaTasks`` and ``FinalReruns`` created their tables (what
    a server started once with ``--engine idds`` leaves), with one ``panda_conditional`` row.
"""

import os
import socket
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PORT = _free_loopback_port()
URL = f"http://127.0.0.1:{PORT}/server/panda"
# pandaclient reads these when it is imported.
for _name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL"):
    os.environ[_name] = URL
os.environ["PANDA_BEHIND_REAL_LB"] = "1"
os.environ.setdefault("PANDA_AUTH", "oidc")
os.environ.setdefault("PANDA_AUTH_VO", "local")
os.environ.pop("X509_USER_PROXY", None)


def _work(workflow, index: int, name: str, jobs: dict, executable: str, queue: str):
    from idds.doma.workflowv2.domapandawork import DomaPanDAWork

    entries = [
        {
            "name": job,
            "order_id": order,
            "dependencies": [{"task": task, "inputname": parent} for task, parent in parents],
        }
        for order, (job, parents) in enumerate(jobs.items())
    ]
    work = DomaPanDAWork(
        executable=executable,
        primary_input_collection={"scope": "pseudo_dataset", "name": f"pseudo_input_collection#{index}"},
        output_collections=[{"scope": "pseudo_dataset", "name": f"pseudo_output_collection#{index}"}],
        log_collections=[],
        dependency_map=entries,
        task_name=name,
        task_queue=queue,
        encode_command_line=True,
        maxattempt=1,
        task_rss=0,
        maxwalltime=90000,
        core_count=1,
    )
    workflow.add_work(work)
    return work


def _workflow():
    from idds.workflowv2.workflow import AndCondition, Workflow

    workflow = Workflow(name="schema_v0")
    first = _work(workflow, 1, "first", {"a1": [], "a2": []}, "echo ok", "LOCAL_CONVENTIONAL")
    second = _work(workflow, 2, "second", {"b1": [("first", "a1")]}, "exit 3", "LOCAL_CONVENTIONAL")
    final = _work(workflow, 3, "final", {"final_job": []}, "echo final", "LOCAL_MERGE")
    condition = AndCondition(conditions=[first.is_terminated, second.is_terminated], true_works=[final])
    workflow.add_condition(condition)
    return workflow


def _run_request(state_root: Path):
    import idds.common.utils as idds_utils
    from lsst.ctrl.bps.panda.local.server import LocalPandaServer
    from lsst.ctrl.bps.panda.local.statedir import StateDir
    from pandaclient import idds_api

    server = LocalPandaServer(StateDir(state_root), port=PORT, max_cores=2, sample_interval=0.05)
    server.start_in_thread()
    os.environ["PANDA_AUTH_ID_TOKEN"] = server.token
    try:
        api = idds_api.get_api(
            dumper=idds_utils.json_dumps, loader=idds_utils.json_loads, compress=True, manager=True
        )
        workflow = _workflow()
        status, (ok, request_id) = api.submit(workflow, use_dataset_name=False)
        assert status == 0 and ok, (status, ok, request_id)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            record = api.get_requests(request_id=request_id)[1][1][0]
            if record["status"].name in ("Finished", "SubFinished", "Failed", "Cancelled"):
                print(f"request {request_id} ended {record['status'].name}")
                break
            time.sleep(0.2)
        else:
            raise SystemExit("the request did not end in 120 s")
    finally:
        server.close(kill_running=True)
    return request_id, workflow


def _checkpoint(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _compacted_copy(path: Path, copy: Path) -> None:
    """Copy a database repacked in 1 KiB pages (a third of the size; tables, rows and WAL mode kept)."""
    copy.write_bytes(path.read_bytes())
    conn = sqlite3.connect(copy, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")  # the page size of a WAL database cannot change
    conn.execute("PRAGMA page_size=1024")
    conn.execute("VACUUM")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def main(out_dir: Path) -> None:
    from lsst.ctrl.bps.panda.local.panda_reruns import FinalReruns
    from lsst.ctrl.bps.panda.local.panda_tasks import PandaTasks
    from lsst.ctrl.bps.panda.local.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        state_root = Path(tmp) / "state"
        request_id, workflow = _run_request(state_root)
        db_path = state_root / "panda_local.sqlite3"
        _checkpoint(db_path)
        _compacted_copy(db_path, out_dir / "v0_embedded.sqlite3")
        # The tables the old idds engine created when its server started.
        engine = SimpleNamespace(store=Store(db_path))
        PandaTasks(engine)
        FinalReruns(engine).note_submitted(request_id, workflow)
        engine.store.close()
        _checkpoint(db_path)
        _compacted_copy(db_path, out_dir / "v0_idds.sqlite3")


if __name__ == "__main__":
    main(Path(sys.argv[1]).absolute())
