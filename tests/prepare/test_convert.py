# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""GenericWorkflow → iDDS workflow conversion."""

import re

import pytest
from idds.workflowv2.workflow import AndCondition
from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowExec, GenericWorkflowJob
from lsst.ctrl.bps.panda.edgenode.job_contract import parse_pseudo_input
from lsst.ctrl.bps.panda.errors import PandaPrepareError
from lsst.ctrl.bps.panda.prepare.convert import _chunk_sizes, convert_workflow
from lsst.ctrl.bps.panda.prepare.settings import SettingsReader
from lsst.ctrl.bps.panda.task_names import label_of_task
from lsst.ctrl.bps.panda.wms.wms_report import run_report_from_records
from lsst.ctrl.bps.tests import gw_test_utils
from support.bps_configs import make_config
from support.dag_check import payload_dag, rebuild_job_dag, works_of
from support.synthetic import make_drp_workflow


def convert(gw, tmp_path, **config):
    return convert_workflow(gw, SettingsReader(make_config(str(tmp_path), **config)))


def assert_same_dag(gw, result):
    dag, _ = rebuild_job_dag(result.idds_workflow)
    expected = payload_dag(gw)
    final = gw.get_final()
    if final is not None:
        expected.add_node(final.name)
    assert set(dag.nodes) == set(expected.nodes)
    assert set(dag.edges) == set(expected.edges)
    assert dag.number_of_edges() == expected.number_of_edges()


def simple_workflow(jobs, name="wf", label="label1", job_prefix=None, **attrs):
    gw = GenericWorkflow(name)
    gwexec = GenericWorkflowExec("echo", "/bin/echo", False)
    for i in range(jobs):
        job = GenericWorkflowJob(
            f"{job_prefix or label}_{i}", label=label, executable=gwexec, arguments="hi", **attrs
        )
        gw.add_job(job)
    return gw


@pytest.mark.parametrize(
    "maker",
    [
        gw_test_utils.make_3_label_workflow,
        gw_test_utils.make_3_label_workflow_noop_sort,
        gw_test_utils.make_5_label_workflow,
    ],
)
@pytest.mark.parametrize("final", [False, True])
def test_ctrl_bps_fixtures_keep_every_job_and_edge_once(maker, final, tmp_path):
    gw = maker("wf", final)
    result = convert(gw, tmp_path)
    assert_same_dag(gw, result)
    assert result.job_count == len(rebuild_job_dag(result.idds_workflow)[1])


def test_workflow_with_ordering_groups_is_a_clear_error(tmp_path):
    gw = gw_test_utils.make_3_label_workflow_groups_sort("wf", True)
    with pytest.raises(NotImplementedError, match="ordering"):
        convert(gw, tmp_path)


def test_drp_workflow_of_thousands_of_jobs_keeps_its_dag(tmp_path):
    gw = make_drp_workflow(3000)
    result = convert(gw, tmp_path, maxJobsPerTask=500)
    assert_same_dag(gw, result)
    works = works_of(result.idds_workflow)
    for work in works.values():
        assert len(work.dependency_map) <= 500
        parents = {dep["task"] for entry in work.dependency_map for dep in entry["dependencies"]}
        assert set(work.dependency_tasks or []) == parents


def test_parent_in_a_later_label_resolves(tmp_path):
    gw = GenericWorkflow("wf")
    gwexec = GenericWorkflowExec("echo", "/bin/echo", False)
    # Label order of first appearance is b, a; but a_1 is a parent of b_2.
    gw.add_job(GenericWorkflowJob("b_1", label="b", executable=gwexec))
    gw.add_job(GenericWorkflowJob("a_1", label="a", executable=gwexec))
    gw.add_job(GenericWorkflowJob("b_2", label="b", executable=gwexec), parent_names=["a_1", "b_1"])
    result = convert(gw, tmp_path)
    assert_same_dag(gw, result)


@pytest.mark.parametrize(
    ("jobs", "limit", "expected"),
    [(10, 10, [10]), (11, 10, [6, 5]), (1, 10, [1]), (25, 10, [9, 8, 8]), (20, 10, [10, 10])],
)
def test_chunks_are_evenly_sized(jobs, limit, expected):
    assert _chunk_sizes(jobs, limit) == expected


@pytest.mark.parametrize(("jobs", "tasks"), [(30, 1), (31, 2), (1, 1), (61, 3)])
def test_label_is_chunked_by_max_jobs_per_task(jobs, tasks, tmp_path):
    gw = simple_workflow(jobs)
    result = convert(gw, tmp_path, maxJobsPerTask=30)
    assert len(result.tasks) == tasks
    assert sum(task.jobs for task in result.tasks) == jobs
    names = [task.name for task in result.tasks]
    assert len(set(names)) == len(names)
    assert names[0] == "wf_01_label1_01"


def test_label_with_two_memory_classes_becomes_two_tasks(tmp_path):
    gw = GenericWorkflow("wf")
    gwexec = GenericWorkflowExec("echo", "/bin/echo", False)
    for i, memory in enumerate([2000, 4000, 4001, 9000]):
        gw.add_job(GenericWorkflowJob(f"j{i}", label="calib", executable=gwexec, request_memory=memory))
    result = convert(gw, tmp_path)
    jobs_by_queue = {}
    for task in result.tasks:
        jobs_by_queue[task.queue] = jobs_by_queue.get(task.queue, 0) + task.jobs
    # 4000 is exactly the conventional limit; tasks also split by rss (jobs of a task share it).
    assert jobs_by_queue == {"DOMA_LSST_GOOGLE_TEST": 2, "DOMA_LSST_GOOGLE_TEST_HIMEM": 2}
    assert {task.memory_class for task in result.tasks} == {"conventional", "high"}
    works = works_of(result.idds_workflow)
    himem = [w for w in works.values() if w.task_queue == "DOMA_LSST_GOOGLE_TEST_HIMEM"]
    assert [w.task_rss_max for w in himem] == [10500, 10500]


def test_request_above_largest_class_names_job_label_and_limit(tmp_path):
    gw = simple_workflow(2, request_memory=200000)
    with pytest.raises(PandaPrepareError, match=r"label1_0.*label1.*200000 MB.*117500 MB"):
        convert(gw, tmp_path)


def test_explicit_queue_wins_and_non_preemptible_gets_its_queue(tmp_path):
    gw = GenericWorkflow("wf")
    gwexec = GenericWorkflowExec("echo", "/bin/echo", False)
    gw.add_job(GenericWorkflowJob("q", label="a", executable=gwexec, request_memory=200000, queue="MYQ"))
    gw.add_job(GenericWorkflowJob("np", label="b", executable=gwexec, request_memory=8000, preemptible=False))
    queues = {task.label: task.queue for task in convert(gw, tmp_path).tasks}
    assert queues == {"a": "MYQ", "b": "DOMA_LSST_GOOGLE_TEST_HIMEM_NON_PREEMPT"}


def test_final_job_goes_to_merge_queue_behind_and_condition(tmp_path):
    gw = gw_test_utils.make_3_label_workflow("wf", True)
    result = convert(gw, tmp_path)
    works = works_of(result.idds_workflow)
    final = works["wf_05_finalJob_01"]
    assert final.task_queue == "DOMA_LSST_GOOGLE_MERGE"
    assert [e["name"] for e in final.dependency_map] == ["finalJob"]
    conditions = list(result.idds_workflow.template.conditions.values())
    assert len(conditions) == 1 and isinstance(conditions[0], AndCondition)
    released = [w.task_name for w in conditions[0].true_works]
    assert released == ["wf_05_finalJob_01"]
    # label3 is the only sink task.
    watched = {c.__self__.task_name for c in conditions[0].conditions}
    assert watched == {"wf_04_label3_01"}


def test_final_job_that_is_a_workflow_is_not_implemented(tmp_path):
    gw = simple_workflow(1)
    gw.add_final(simple_workflow(1, name="inner"))
    with pytest.raises(NotImplementedError, match="final job"):
        convert(gw, tmp_path)


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (3, 4), (None, 1)])
def test_max_attempt_counts_the_first_attempt(retries, attempts, tmp_path):
    gw = simple_workflow(1, number_of_retries=retries)
    (work,) = works_of(convert(gw, tmp_path).idds_workflow).values()
    assert work.maxAttempt == attempts


def test_job_attributes_map_to_task_fields(tmp_path):
    gw = simple_workflow(
        2,
        request_memory=3000,
        memory_multiplier=2,
        request_memory_max=8000,
        request_cpus=4,
        request_walltime=3600,
        priority="500",
        accounting_group="rubin_prod",
    )
    (work,) = works_of(convert(gw, tmp_path, processingType="dp1").idds_workflow).values()
    assert (work.task_rss, work.task_rss_retry_step, work.task_rss_max) == (3000, 6000, 4000)
    assert (work.core_count, work.maxWalltime, work.task_priority) == (4, 3600, 500)
    assert (work.working_group, work.processingType, work.task_site) == ("rubin_prod", "dp1", "TEST")


def test_jobs_that_disagree_on_attributes_split_the_task(tmp_path):
    gw = GenericWorkflow("wf")
    gwexec = GenericWorkflowExec("echo", "/bin/echo", False)
    for i, cores in enumerate([1, 1, 2]):
        gw.add_job(GenericWorkflowJob(f"j{i}", label="a", executable=gwexec, request_cpus=cores))
    assert sorted(task.jobs for task in convert(gw, tmp_path).tasks) == [1, 2]


def test_bad_number_names_the_job(tmp_path):
    gw = simple_workflow(1, request_cpus="many")
    with pytest.raises(PandaPrepareError, match="label1_0.*request_cpus"):
        convert(gw, tmp_path)


def test_pseudo_inputs_carry_placeholders_and_are_shell_safe(tmp_path):
    gw = make_drp_workflow(100)
    works = works_of(convert(gw, tmp_path).idds_workflow)
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/=,@+:")
    for work in works.values():
        for entry in work.dependency_map:
            assert set(entry["name"]) <= safe
            job_name, values = parse_pseudo_input(entry["name"])
            if job_name != "finalJob" and "{qgraphNodeId}" in gw.get_job(job_name).arguments:
                assert values["qgraphNodeId"] == gw.get_job(job_name).cmdvals["qgraphNodeId"]


def test_missing_placeholder_value_names_job_and_placeholder(tmp_path):
    gw = GenericWorkflow("wf")
    gwexec = GenericWorkflowExec("echo", "/bin/echo", False)
    gw.add_job(GenericWorkflowJob("j", label="a", executable=gwexec, arguments="--node {qgraphNodeId}"))
    with pytest.raises(PandaPrepareError, match=r"'j'.*qgraphNodeId"):
        convert(gw, tmp_path)


def test_environment_is_exported_before_the_command(tmp_path):
    gw = simple_workflow(1, environment={"OMP_NUM_THREADS": "{threads}"})
    gw.get_job("label1_0").cmdvals["threads"] = 3
    (work,) = works_of(convert(gw, tmp_path).idds_workflow).values()
    words = work.executable.split()
    encoded = words[words.index("${IN/L}") - 1]
    assert bytes.fromhex(encoded).decode() == "export OMP_NUM_THREADS=3; /bin/echo hi"


def test_long_names_stay_within_the_name_limit_unique_and_keep_the_label(tmp_path):
    label = "x" * 60
    gw = simple_workflow(3, name="w" * 200, label=label, job_prefix="j")
    result = convert(gw, tmp_path, maxJobsPerTask=1, maxNameLength=120)
    names = [task.name for task in result.tasks]
    assert len(set(names)) == 3
    assert all(len(name) <= 120 for name in names)
    assert {label_of_task(name, gw.name) for name in names} == {label}


def test_label_too_long_for_any_task_name_is_an_error_naming_it(tmp_path):
    gw = simple_workflow(1, label="x" * 200, job_prefix="j")
    with pytest.raises(PandaPrepareError, match="x{200}.*shorten the label"):
        convert(gw, tmp_path, maxNameLength=120)


def test_pseudo_input_longer_than_the_limit_is_an_error(tmp_path):
    gw = simple_workflow(1, label="y" * 100)
    with pytest.raises(PandaPrepareError, match="maxNameLength"):
        convert(gw, tmp_path, maxNameLength=64)


def test_empty_workflow_is_a_clear_error(tmp_path):
    with pytest.raises(PandaPrepareError, match="no jobs"):
        convert(GenericWorkflow("empty"), tmp_path)


def test_task_names_keep_to_panda_safe_characters(tmp_path):
    gw = simple_workflow(2, label="odd label/ü")
    (task,) = convert(gw, tmp_path, enableCompactJobNames=True).tasks
    assert re.fullmatch(r"[A-Za-z0-9_.\-]+", task.name) and task.label == "odd label/ü"
    assert label_of_task(task.name, "wf") == "odd label/ü"


def test_fast_pseudo_input_matches_pseudo_input_name(tmp_path):
    from lsst.ctrl.bps.panda.prepare.command_line import pseudo_input_name
    from lsst.ctrl.bps.panda.prepare.task_spec import TaskSpecs
    from support.hostile_values import HOSTILE_VALUES

    gw = GenericWorkflow("wf")
    gwexec = GenericWorkflowExec("echo", "/bin/echo", False)
    for i, value in enumerate(HOSTILE_VALUES):
        name = f"@job {i}" if i % 2 else f"job{i}"
        gw.add_job(
            GenericWorkflowJob(
                name,
                label="a",
                executable=gwexec,
                arguments="{qgraphNodeId}",
                cmdvals={"qgraphNodeId": value},
            )
        )
    specs = TaskSpecs(gw, SettingsReader(make_config(str(tmp_path), enableCompactJobNames=True)))
    for name in gw:
        job = gw.get_job(name)
        expected = pseudo_input_name(name, {"qgraphNodeId": job.cmdvals["qgraphNodeId"]})
        assert specs.pseudo_input(job, specs.spec_for(job)) == expected


def test_a_cycle_between_jobs_stops_prepare_naming_jobs_on_it(tmp_path):
    gw = simple_workflow(5, label="a")
    # a_1 -> a_2 -> a_3 -> a_1, and a_4 below the cycle: added after the jobs, as ctrl_bps may.
    gw.add_job_relationships(["a_1"], ["a_2"])
    gw.add_job_relationships(["a_2"], ["a_3"])
    gw.add_job_relationships(["a_3"], ["a_1"])
    gw.add_job_relationships(["a_3"], ["a_4"])
    with pytest.raises(PandaPrepareError, match="cycle") as caught:
        convert(gw, tmp_path)
    message = str(caught.value)
    assert all(name in message for name in ("a_1", "a_2", "a_3"))
    assert "a_4" not in message and "a_0" not in message


def test_edges_added_out_of_insertion_order_without_a_cycle_convert(tmp_path):
    gw = simple_workflow(3, label="a")
    gw.add_job_relationships(["a_2"], ["a_0"])  # a parent inserted after its child
    result = convert(gw, tmp_path)
    assert_same_dag(gw, result)


@pytest.mark.parametrize("label", ["odd label/ü", "a_01_b_02", "x" * 30, "calib:v2"])
def test_report_recovers_the_label_from_transform_names_alone(tmp_path, label):
    gw = simple_workflow(4, name="u" * 90, label=label, job_prefix="j")
    result = convert(gw, tmp_path, maxJobsPerTask=2, maxNameLength=110)
    records = [
        {"request_id": 7, "name": gw.name, "transform_name": task.name, "output_total_files": task.jobs}
        for task in result.tasks
    ]
    report = run_report_from_records(records)
    assert list(report.job_summary) == [label]
    assert report.run_summary == f"{label}:4"
