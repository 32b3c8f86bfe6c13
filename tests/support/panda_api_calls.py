# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Calls of PanDA's task API as the iDDS daemons make them, for the jedi tests."""

from __future__ import annotations

import logging
import queue
import threading
import time

from lsst.ctrl.bps.panda.local.idds.scripts.idds_notifier import LocalPandaNotifier

POLL = 0.1


def doma_task_params(name, pfns, executable, request_id=7, **options):
    """Return the task parameters a real DomaPanDAWork submits (``dependent`` names get a parent)."""
    from idds.doma.workflowv2.domapandawork import DomaPanDAWork

    dependent = set(options.pop("dependent", ()))
    queue = options.pop("task_queue", "LOCAL_CONVENTIONAL")
    entries = [
        {
            "name": pfn,
            "order_id": order,
            "dependencies": [{"task": "parent", "inputname": "p"}] if pfn in dependent else [],
        }
        for order, pfn in enumerate(pfns)
    ]
    settings = dict(task_rss=0, maxwalltime=600, core_count=1, maxattempt=1)
    settings.update(options)
    work = DomaPanDAWork(
        executable=executable,
        primary_input_collection={"scope": "pseudo_dataset", "name": f"pseudo_input_collection#{name}"},
        output_collections=[{"scope": "pseudo_dataset", "name": f"pseudo_output_collection#{name}"}],
        log_collections=[],
        dependency_map=entries,
        task_name=name,
        task_queue=queue,
        encode_command_line=True,
        **settings,
    )
    work.set_request_id(request_id)
    work.set_work_id(1)
    return work.create_processing().processing_metadata["task_param"]


def submit(params):
    from pandaclient import Client

    status, (code, message) = Client.insertTaskParams(params)
    assert (status, code) == (0, 0), message
    assert message.startswith("succeeded. new jediTaskID=")
    return int(message.rsplit("=", 1)[1])


def wait_status(task_id, wanted, timeout=60.0):
    from pandaclient import Client

    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        code, status = Client.getTaskStatus(task_id)
        assert code == 0
        if status in wanted:
            return status
        time.sleep(POLL)
    raise AssertionError(f"task {task_id} stayed {status}, not {wanted}, for {timeout} s")


def release_message(task_id, files, status="Available"):
    """A conductor message as iDDS's ``generate_file_messages`` builds it (from the database)."""
    return {
        "msg_id": 11,
        "request_id": 7,
        "workload_id": task_id,
        "transform_id": 3,
        "destination": "Outside",
        "msg_content": {
            "msg_type": "file_processing",
            "request_id": 7,
            "workload_id": task_id,
            "transform_id": 3,
            "relation_type": "input",
            "files": [
                {
                    "scope": "pseudo_dataset",
                    "name": name,
                    "path": None,
                    "map_id": 1,
                    "content_id": 5,
                    "external_coll_id": None,
                    "external_content_id": file_id,
                    "status": status,
                }
                for name, file_id in files
            ],  # fmt: skip
        },
    }


def deliver(server, messages):
    """Send messages through the real notifier class as the conductor does; return those delivered."""
    token_file = server.state.token_path
    notifier = LocalPandaNotifier(
        url=server.workflow_engine.notifier_url, token_file=str(token_file), timeout="10"
    )
    requests, delivered = queue.Queue(), queue.Queue()
    notifier.set_request_queue(requests)
    notifier.set_response_queue(delivered)
    notifier.set_logger(logging.getLogger("test.notifier"))
    notifier.start()
    for message in messages:
        requests.put(message)
    done = []
    try:
        while len(done) < len(messages):
            done.append(delivered.get(timeout=30))
    finally:
        notifier.stop()
        notifier.join(timeout=10)
    return done


def engine_passes(server, count: int = 3, timeout: float = 30.0) -> None:
    """Wait until the server's engine has run ``count`` more scheduling passes, one after the other.

    Each pass starts with the engine's pass hooks, then launches what it may: when the last of
    ``count`` hooks runs, ``count - 1`` whole passes have ended since the call (what a wrong launch
    or a missing release would have needed), without waiting out a fixed time.
    """
    engine = server.engine
    seen = []
    done = threading.Event()

    def count_pass() -> None:
        seen.append(time.monotonic())
        if len(seen) >= count:
            done.set()
        else:
            engine.wake()

    engine.pass_hooks.append(count_pass)
    try:
        engine.wake()
        assert done.wait(timeout), f"the engine ran {len(seen)} of {count} passes in {timeout} s"
    finally:
        engine.pass_hooks.remove(count_pass)
