# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""Record ``tests/data/real_panda/`` from the real PanDA stack (``make record-real-panda``).

Usage (from the repository root, with the stack up: ``make real-panda``):
``.venv/bin/python tests/real_panda/record_real_panda.py [--home .real-panda] [--out DIR] [SCENARIO...]``.

Each scenario submits one DOMA task through the unmodified ``pandaclient`` (as ``DomaPanDAWork``
builds it), plays pilot with our executor through the real pilot API, and writes
``<scenario>.json``: the task's status sequence, each job's state sequence (state, attemptNr,
minRamCount, queue, pilotErrorCode, transExitCode) and every HTTP exchange the client made
(endpoint, request, the envelope of the reply).  Nothing is normalised here: the shape test
(``tests/local/jedi/test_real_panda_shape.py``) normalises ids and times.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
OUT = TESTS / "data" / "real_panda"


def _setup(home: Path) -> str:
    record = json.loads((home / "stack.json").read_text())
    os.environ.update(record["client_env"])  # before pandaclient is imported
    sys.path.insert(0, str(TESTS))
    return record["url"]


def success(session, name):
    task_id = session.submit(name, ["a+n:1", "b+n:2"], "echo job ${IN/L}", task_rss=500, maxattempt=2)
    trace = session.follow(task_id)
    ids = [int(i) for i in trace["jobs"]]
    client = session.client
    client.getFullJobStatus(ids)
    client.get_files_in_datasets(task_id)
    client.get_events_status([{"task_id": task_id, "panda_id": i} for i in ids])
    client.getPandaIDsWithTaskID(task_id)
    client.getJobIDsJediTasksInTimeRange("2020-01-01 00:00:00", task_type="managed")
    return task_id, trace


def failure_with_retries(session, name):
    task_id = session.submit(name, ["a+f:1"], "echo failing ${IN/L}; exit 3", task_rss=500, maxattempt=3)
    return task_id, session.follow(task_id)


def cancel(session, name):
    task_id = session.submit(name, ["a+c:1", "b+c:2"], "sleep 600", task_rss=500, maxattempt=2)
    killed = []

    def kill_when_running(status):
        if status == "running" and not killed and any(p.jobs for p in session.pilots.values()):
            killed.append(session.client.killTask(task_id))

    trace = session.follow(task_id, on_sample=kill_when_running)
    session.drain()
    return task_id, trace


def retry_of_done_task(session, name):
    task_id, trace = success(session, name)
    session.client.retryTask(task_id, newParams={})
    trace["after_retry"] = session.follow(task_id, timeout=60)["task"]
    return task_id, trace


def retry_of_failed_task(session, name):
    task_id, trace = failure_with_retries(session, name)
    session.client.retryTask(task_id, newParams={})
    trace["after_retry"] = session.follow(task_id, timeout=120)["task"]
    return task_id, trace


def finish(session, name):
    task_id = session.submit(name, ["a+s:1"], "sleep 600", task_rss=500, maxattempt=2)
    done = []

    def finish_when_running(status):
        if status == "running" and not done and any(p.jobs for p in session.pilots.values()):
            done.append(session.client.finishTask(task_id, soft=False))

    trace = session.follow(task_id, on_sample=finish_when_running)
    session.drain()
    return task_id, trace


def memory_escalation(session, name):
    hog = "python3 -c 'import time; b = bytearray(400 * 1024 * 1024); b[::4096] = b\"x\" * len(b[::4096]); time.sleep(3)'"
    task_id = session.submit(
        name, ["a+m:1"], hog, task_rss=200, task_rss_retry_step=300, task_rss_max=4000, maxattempt=3
    )
    return task_id, session.follow(task_id)


def brokerage_by_ram(session, name):
    task_id = session.submit(name, ["a+b:1"], "echo ${IN/L}", task_rss=8000, maxattempt=1, task_queue=None)
    return task_id, session.follow(task_id)


SCENARIOS = {
    f.__name__: f
    for f in (success, failure_with_retries, cancel, retry_of_done_task, retry_of_failed_task, finish,
              memory_escalation, brokerage_by_ram)
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("REAL_PANDA_HOME", ".real-panda")))
    parser.add_argument("--out", type=Path, default=OUT)
    arguments = parser.parse_args()
    url = _setup(arguments.home.absolute())
    from support.real_panda import RealPandaSession

    arguments.out.mkdir(parents=True, exist_ok=True)
    stamp = int(time.time())
    with tempfile.TemporaryDirectory(prefix="real-panda-jobs-") as work:
        session = RealPandaSession(url, Path(work))
        for scenario in arguments.scenarios:
            began = time.monotonic()
            session.exchanges.clear()
            task_id, trace = SCENARIOS[scenario](session, f"rec_{scenario}_{stamp}")
            seconds = time.monotonic() - began
            document = {"scenario": scenario, "task_id": task_id, "seconds": round(seconds, 1), **trace,
                        "exchanges": list(session.exchanges)}
            (arguments.out / f"{scenario}.json").write_text(json.dumps(document, indent=1, default=str) + "\n")
            print(f"{scenario}: task {task_id} {trace['task']} in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
