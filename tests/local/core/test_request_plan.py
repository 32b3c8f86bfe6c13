# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Submitted workflows: steps of split_workflow_to_steps, refused workflows, converted BPS workflows."""

import pytest
from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowExec, GenericWorkflowJob
from lsst.ctrl.bps.panda.errors import IntakeError
from lsst.ctrl.bps.panda.local.core.request_plan import plan_request
from lsst.ctrl.bps.panda.prepare.convert import convert_workflow
from lsst.ctrl.bps.panda.prepare.settings import SettingsReader
from support.bps_configs import make_config

pytestmark = [pytest.mark.real_servers, pytest.mark.timeout(120)]

LOCAL_SITE = {
    "runnerCommand": "${PANDA_LOCAL_PYTHON} ${CTRL_BPS_PANDA_DIR}/python/lsst/ctrl/bps/panda/edgenode/"
    "cmd_line_decoder.py _cmd_line_",
    "memoryClasses": [
        {"name": "conventional", "maxMemory": 4000, "queue": "LOCAL_CONVENTIONAL"},
        {"name": "high", "maxMemory": 10500, "queue": "LOCAL_HIMEM"},
    ],
    "mergeQueue": "LOCAL_MERGE",
}


def _three_tasks(shell_dag, name, out):
    dag = shell_dag(name)
    dag.task("a", {f"a{i}": [] for i in range(4)}, f"echo ${{IN/L}} >> {out}")
    dag.task("b", {f"b{i}": [("a", f"a{i}")] for i in range(4)}, f"echo ${{IN/L}} >> {out}")
    dag.final("final", f"echo final >> {out}", after=["b"])
    return dag


def test_workflow_split_into_steps_runs_like_a_whole_one(
    local_panda, idds_api, unwrap, wait_request, shell_dag, tmp_path
):
    out = tmp_path / "out.txt"
    dag = _three_tasks(shell_dag, "stepped", out)
    steps = dag.workflow.split_workflow_to_steps(request_cache=str(tmp_path / "cache"), max_request_length=50)
    assert len(steps) >= 2
    for step in steps:
        assert unwrap(idds_api.submit(step, username=None, use_dataset_name=False)) == 0
    request_id = unwrap(idds_api.submit(dag.workflow, username=None, use_dataset_name=False))
    assert wait_request(request_id)["status"].name == "Finished"
    assert sorted(out.read_text().split()) == sorted(
        [f"a{i}" for i in range(4)] + [f"b{i}" for i in range(4)] + ["final"]
    )


def test_main_workflow_without_its_steps_is_refused(local_panda, idds_api, shell_dag, tmp_path):
    dag = _three_tasks(shell_dag, "no_steps", tmp_path / "out.txt")
    dag.workflow.split_workflow_to_steps(request_cache=str(tmp_path / "cache"), max_request_length=50)
    status, (ok, (success, message)) = idds_api.submit(dag.workflow)
    assert (status, ok, success) == (0, True, False)
    assert "submit every step of split_workflow_to_steps() first" in message


def test_dependency_on_an_unknown_job_is_refused(local_panda, idds_api, shell_dag):
    dag = shell_dag("dangling")
    dag.task("a", {"a1": [("ghost", "g1")]}, "true")
    status, (ok, (success, message)) = idds_api.submit(dag.workflow)
    assert success is False and "'g1' of task 'ghost', which is not in the workflow" in message


def test_cyclic_dependencies_are_refused(shell_dag):
    dag = shell_dag("cycle")
    dag.task("a", {"a1": [("b", "b1")]}, "true")
    dag.task("b", {"b1": [("a", "a1")]}, "true")
    with pytest.raises(IntakeError, match="cycle"):
        plan_request(dag.workflow, None, lambda name: None)


def test_map_reference_outside_the_step_storage_is_refused(shell_dag):
    dag = shell_dag("escape")
    work = dag.task("a", {"a1": []}, "true")
    work._dependency_map = {"idds_dependency_map_file": "/etc/passwd"}
    with pytest.raises(IntakeError, match="reads maps only from workflow steps"):
        plan_request(dag.workflow, None, lambda name: [{"name": "x", "dependencies": []}])


def test_plan_keeps_task_attributes_and_the_final_gate(shell_dag):
    dag = shell_dag("attrs")
    dag.task(
        "a",
        {"a1": []},
        "true",
        maxattempt=3,
        task_rss=2048,
        task_rss_retry_step=1024,
        task_rss_max=4000,
        maxwalltime=600,
        core_count=2,
        queue="LOCAL_HIMEM",
    )
    dag.final("final", "true", after=["a"])
    plan = plan_request(dag.workflow, "someone", lambda name: None)
    task = plan.tasks[0]
    assert (task.max_attempt, task.rss, task.rss_step, task.rss_max) == (3, 2048, 1024, 4000)
    assert (task.walltime, task.core_count, task.queue) == (600, 2, "LOCAL_HIMEM")
    assert plan.tasks[1].gate.conditions == (("a", "is_terminated"),)
    assert plan.username == "someone" and plan.job_count == 2


def test_converted_bps_workflow_runs_through_the_decoder(
    local_panda, idds_api, unwrap, wait_request, tmp_path
):
    out = tmp_path / "ran.txt"
    gw = GenericWorkflow("bps_wf")
    echo = GenericWorkflowExec("sh", "/bin/sh", False)
    for name, label, parents in (("j1", "first", []), ("j2", "first", []), ("j3", "second", ["j1", "j2"])):
        job = GenericWorkflowJob(
            name,
            label=label,
            executable=echo,
            arguments=f"-c 'echo {name} >> {out}'",
            request_memory=6000 if label == "second" else 100,
            number_of_retries=0,
        )
        gw.add_job(job, parent_names=parents)
    final = GenericWorkflowJob(
        "finalJob", label="finalJob", executable=echo, arguments=f"-c 'echo final >> {out}'"
    )
    gw.add_final(final)
    config = make_config(
        str(tmp_path / "submit"), site=LOCAL_SITE, fileDistributionEndPoint=f"{tmp_path}/files/"
    )
    (tmp_path / "files").mkdir()
    result = convert_workflow(gw, SettingsReader(config))
    request_id = unwrap(idds_api.submit(result.idds_workflow))
    record = wait_request(request_id)
    tasks = unwrap(idds_api.get_requests(request_id=request_id, with_detail=True))
    assert record["status"].name == "Finished", tasks
    assert out.read_text().split() in (["j1", "j2", "j3", "final"], ["j2", "j1", "j3", "final"])
    queues = {row["transform_name"].split("_")[-2]: row for row in tasks}
    assert set(queues) == {"first", "second", "finalJob"}
