# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The final task of a retried request runs again after the retried tasks (``idds`` engine).

The PanDA calls are the unmodified ``pandaclient.Client`` functions iDDS's
``DomaPanDAWork`` makes, with task parameters made by a real
``DomaPanDAWork``; the workflow the relay is told of is a real iDDS
workflow with an ``AndCondition``.  The run through the real iDDS daemons is
``test_engines.py``'s retry case.
"""

from __future__ import annotations

import time

import pytest
from lsst.ctrl.bps.panda.local.idds.idds_engine import IddsEngine
from lsst.ctrl.bps.panda.local.jedi import final_reruns
from lsst.ctrl.bps.panda.local.jedi.final_reruns import condition_task_names
from support.loopback import TEST_PANDA_PORT
from support.panda_api_calls import (
    deliver,
    doma_task_params,
    engine_passes,
    release_message,
    submit,
    wait_status,
)

pytestmark = pytest.mark.real_servers

ENDED = {"done", "finished", "failed"}


def conditional_workflow():
    """An iDDS workflow whose ``final`` work is released by an AndCondition on ``work``."""
    from idds.doma.workflowv2.domapandawork import DomaPanDAWork
    from idds.workflowv2.workflow import AndCondition, Workflow

    workflow = Workflow()
    work = DomaPanDAWork(task_name="work", dependency_map=[])
    final = DomaPanDAWork(task_name="final", dependency_map=[])
    workflow.add_work(work)
    workflow.add_work(final)
    workflow.add_condition(AndCondition(conditions=[work.is_terminated], true_works=[final]))
    return workflow


def ledger_script(ledger, fail_marker=None):
    """Append the job's name to ``ledger``; fail once while ``fail_marker`` does not exist."""
    script = f'echo "${{IN/L}}" >> {ledger}'
    if fail_marker is not None:
        script += (
            f'; if [ "${{IN/L}}" = bad ] && [ ! -e {fail_marker} ]; then touch {fail_marker}; exit 3; fi'
        )
    return script


def runs(ledger):
    """The jobs in the order they started; ``good`` and ``bad`` run together, so in name order."""
    names = ledger.read_text().split()
    return sorted(names[:2]) + names[2:]


def ended_run(tmp_path):
    """Run ``work`` (its ``bad`` job fails once) then ``final``, as iDDS would; return their ids."""
    ledger = tmp_path / "ledger"
    work_id = submit(doma_task_params("work", ["good", "bad"], ledger_script(ledger, tmp_path / "failed")))
    assert wait_status(work_id, ENDED) == "finished"
    final_id = submit(doma_task_params("final", ["final"], ledger_script(ledger)))
    assert wait_status(final_id, ENDED) == "done"
    return ledger, work_id, final_id


def panda_ids(task_id):
    """The PanDA job ids of a task's launches so far."""
    from pandaclient import Client

    status, info = Client.getJediTaskDetails({"jediTaskID": task_id}, True, True)
    assert status == 0, info
    return info["PandaID"]


def test_condition_task_names_are_the_released_works():
    assert condition_task_names(conditional_workflow()) == ["final"]


def test_final_task_runs_again_after_the_retried_task(idds_engine, tmp_path):  # noqa: F811
    from pandaclient import Client

    reruns = idds_engine.workflow_engine.relay.reruns
    reruns.note_submitted(7, conditional_workflow())
    ledger, work_id, final_id = ended_run(tmp_path)
    assert runs(ledger) == ["bad", "good", "final"]

    assert reruns.note_retry(7, time.time()) == 1
    assert Client.getTaskStatus(final_id) == (0, "running")
    # iDDS asks to retry every task: the held final task is not retried by itself.
    status, (code, message) = Client.retryTask(final_id, newParams={})
    assert code == 4 and "running status" in message
    # After a retry the conductor says the final task's input is available again: still held.
    launched = panda_ids(final_id)
    deliver(idds_engine, [release_message(final_id, [("final", None)])])
    engine_passes(idds_engine)
    assert panda_ids(final_id) == launched  # still held: work not retried yet
    assert runs(ledger) == ["bad", "good", "final"]

    status, (code, message) = Client.retryTask(work_id, newParams={})
    assert (status, code) == (0, 0), message
    assert wait_status(work_id, ENDED) == "done"
    assert wait_status(final_id, ENDED) == "done"
    assert runs(ledger) == ["bad", "good", "final", "bad", "final"]


def test_nothing_runs_again_when_every_task_is_done(idds_engine, tmp_path):  # noqa: F811
    reruns = idds_engine.workflow_engine.relay.reruns
    reruns.note_submitted(7, conditional_workflow())
    ledger, work_id, final_id = ended_run(tmp_path)
    from pandaclient import Client

    assert Client.retryTask(work_id, newParams={})[1][0] == 0
    assert wait_status(work_id, ENDED) == "done"
    assert reruns.note_retry(7, time.time()) == 0
    assert reruns.note_retry("not a request", time.time()) == 0
    assert Client.getTaskStatus(final_id) == (0, "done")


def test_final_task_waits_no_longer_than_the_grace_for_a_task_never_retried(
    idds_engine,  # noqa: F811
    tmp_path,
    monkeypatch,
    caplog,
):
    monkeypatch.setattr(final_reruns, "GRACE", 1.0)
    reruns = idds_engine.workflow_engine.relay.reruns
    reruns.note_submitted(7, conditional_workflow())
    ledger, work_id, final_id = ended_run(tmp_path)
    assert reruns.note_retry(7, time.time()) == 1
    assert wait_status(final_id, ENDED, timeout=30) == "done"
    assert runs(ledger) == ["bad", "good", "final", "final"]
    assert f"iDDS did not retry tasks [{work_id}]" in caplog.text


@pytest.mark.parametrize("name", ["final_7_3", "final_7_3_1"])
def test_panda_names_with_idds_suffixes_are_matched(name):
    assert final_reruns._released_by_condition(name, {"final"})
    assert not final_reruns._released_by_condition("final_x", {"final"})


def test_held_final_task_survives_a_server_restart(idds_engine, tmp_path):  # noqa: F811
    from lsst.ctrl.bps.panda.local.server import LocalPandaServer
    from pandaclient import Client
    from support.stand_in_stack import StandInStack

    idds_engine.workflow_engine.relay.reruns.note_submitted(7, conditional_workflow())
    ledger, work_id, final_id = ended_run(tmp_path)
    assert idds_engine.workflow_engine.relay.reruns.note_retry(7, time.time()) == 1
    idds_engine.close(kill_running=True)

    again = LocalPandaServer(
        idds_engine.state, port=TEST_PANDA_PORT, engine=IddsEngine(stack_factory=StandInStack), max_cores=2
    )
    again.start_in_thread()
    try:
        assert Client.getTaskStatus(final_id) == (0, "running")
        status, (code, message) = Client.retryTask(work_id, newParams={})
        assert (status, code) == (0, 0), message
        assert wait_status(final_id, ENDED) == "done"
        assert runs(ledger) == ["bad", "good", "final", "bad", "final"]
    finally:
        again.close(kill_running=True)
