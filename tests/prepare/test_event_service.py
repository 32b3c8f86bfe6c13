# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The event service at prepare: the keys, the work's fields, and the cases iDDS would silently disable."""

import logging
import re

import pytest
from idds.doma.workflowv2.domapandawork import DomaPanDAWork
from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowExec, GenericWorkflowJob
from lsst.ctrl.bps.panda.errors import PandaConfigError, PandaPrepareError
from lsst.ctrl.bps.panda.prepare.convert import convert_workflow
from lsst.ctrl.bps.panda.prepare.event_service import (
    check_event_service_work,
    check_order_ids,
    parse_event_service,
)
from lsst.ctrl.bps.panda.prepare.settings import NameMode, SettingsReader
from support.bps_configs import make_config
from support.dag_check import works_of
from support.synthetic import make_drp_workflow

ES_NAME = re.compile(r"(?P<label>[^:]+):eventservice_(?P<start>[0-9]+)\^(?P<count>[0-9]+)")


def convert(gw, tmp_path, **config):
    return convert_workflow(gw, SettingsReader(make_config(str(tmp_path), **config)))


def one_label_workflow(jobs, label="isr", **attrs):
    gw = GenericWorkflow("wf")
    gwexec = GenericWorkflowExec("true", "/bin/true", False)
    for i in range(jobs):
        gw.add_job(GenericWorkflowJob(f"{label}_{i}", label=label, executable=gwexec, arguments="", **attrs))
    return gw


def test_labels_take_their_own_count_or_max_payloads_per_panda_job():
    settings = parse_event_service(" isr:20, step1 ", "7", None)
    assert dict(settings.labels) == {"isr": 20, "step1": None}
    assert settings.payloads_per_job("isr", None) == 20
    assert settings.payloads_per_job("step1", 600) == 7
    assert settings.payloads_per_job("calibrate", None) is None
    assert parse_event_service(["isr:3", "step1"], 10, None).labels == {"isr": 3, "step1": None}
    assert parse_event_service(None, 10, None) is None and parse_event_service("", 10, None) is None


def test_max_wms_job_walltime_over_request_walltime_sets_the_payloads_and_the_task_walltime():
    settings = parse_event_service("isr:20", 10, 21600)
    assert settings.payloads_per_job("isr", 600) == 36  # 21600 // 600, over the label's 20
    assert settings.task_walltime(600, 36) == 21600
    assert settings.payloads_per_job("isr", None) == 20  # no requestWalltime: the label's count
    assert settings.task_walltime(None, 20) == 21600


def test_fewer_than_two_payloads_per_job_runs_the_label_without_events_and_says_so(caplog):
    settings = parse_event_service("isr", 10, 1000)
    with caplog.at_level(logging.WARNING):
        assert settings.payloads_per_job("isr", 600) is None
    assert "isr" in caplog.text and "maxWmsJobWalltime" in caplog.text


@pytest.mark.parametrize(
    ("value", "max_payloads", "walltime", "named"),
    [
        ("isr:0", 10, None, "isr:0"),
        ("isr:many", 10, None, "isr:many"),
        ("isr:", 10, None, "isr:"),
        ("isr,isr:3", 10, None, "twice"),
        (True, 10, None, "enableEventService"),
        ("isr", 0, None, "maxPayloadsPerPandaJob"),
        ("isr", 10, "six hours", "maxWmsJobWalltime"),
    ],
)
def test_malformed_values_are_errors_naming_the_key(value, max_payloads, walltime, named):
    with pytest.raises(PandaConfigError, match=re.escape(named)):
        parse_event_service(value, max_payloads, walltime)


def test_event_service_labels_get_the_fields_idds_reads(tmp_path):
    gw = make_drp_workflow(400, submit_dir=str(tmp_path))
    gw.get_job(next(n for n in gw if gw.get_job(n).label == "isr")).request_memory = 6000
    result = convert(
        gw, tmp_path, enableEventService="isr:7,calibrate", maxPayloadsPerPandaJob=4, maxJobsPerTask=50
    )
    works = list(works_of(result.idds_workflow).values())
    by_label = {}
    for work, summary in zip(works, result.tasks, strict=True):
        by_label.setdefault(summary.label, []).append(work)
    assert len(by_label["isr"]) > 2  # memory classes and chunks: several works of one label
    for label, payloads in (("isr", 7), ("calibrate", 4)):
        for work in by_label[label]:
            assert (work.es, work.es_label, work.max_events_per_job) == (True, label, payloads)
    assert not any(w.es for label, ws in by_label.items() if label not in ("isr", "calibrate") for w in ws)
    # Events map to jobs through the order-id map, staged with the workflow.
    assert result.published_map_file == ("orderIdMapFilename", "panda_order_id_map.json")
    assert len(result.published_map["isr"]) == sum(len(w.dependency_map) for w in by_label["isr"])


@pytest.mark.parametrize("label", ["isr", "calibrate"])
def test_order_ids_are_unique_contiguous_and_grouped_as_idds_does(label, tmp_path):
    gw = make_drp_workflow(400, submit_dir=str(tmp_path))
    result = convert(gw, tmp_path, enableEventService="isr:7,calibrate:3", maxJobsPerTask=50)
    payloads = {"isr": 7, "calibrate": 3}[label]
    works = [w for w in works_of(result.idds_workflow).values() if w.es_label == label]
    label_orders = []
    for work in works:
        orders = [entry["order_id"] for entry in work.dependency_map]
        assert orders == list(range(orders[0], orders[0] + len(orders)))
        label_orders += orders
        # The pseudo inputs PanDA gets: runs of at most `payloads` order ids, named by their first one.
        expected = [
            f"{label}:eventservice_{start}^{min(payloads, orders[-1] + 1 - start)}"
            for start in range(orders[0], orders[-1] + 1, payloads)
        ]
        assert list(work.es_files) == expected
        for name, group in work.es_files.items():
            match = ES_NAME.fullmatch(name)
            assert group["order_ids"][0] == int(match["start"]) and len(group["order_ids"]) == int(
                match["count"]
            )
        for entry in work.dependency_map:
            assert entry["name"] == f"{label}:orderIdMap_{entry['order_id']}"
    assert sorted(label_orders) == list(range(len(label_orders)))  # per label, across its tasks


def test_event_service_puts_jobs_on_the_order_id_map_over_the_qnode_map(tmp_path):
    reader = SettingsReader(make_config(str(tmp_path), enableEventService="isr", enableQnodeMap=True))
    assert reader.workflow().name_mode is NameMode.ORDER_ID_MAP


def test_event_service_with_compact_names_is_an_error_naming_both_keys(tmp_path):
    reader = SettingsReader(make_config(str(tmp_path), enableEventService="isr", enableCompactJobNames=True))
    with pytest.raises(PandaConfigError, match="enableEventService.*enableCompactJobNames"):
        reader.workflow()


def test_walltime_per_job_sets_payloads_and_task_walltime(tmp_path):
    gw = one_label_workflow(10, request_walltime=600)
    result = convert(gw, tmp_path, enableEventService="isr", maxWmsJobWalltime=1800)
    (work,) = works_of(result.idds_workflow).values()
    assert (work.max_events_per_job, work.maxWalltime) == (3, 1800)
    assert list(work.es_files) == [
        "isr:eventservice_0^3",
        "isr:eventservice_3^3",
        "isr:eventservice_6^3",
        "isr:eventservice_9^1",
    ]


def test_label_named_but_absent_is_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        convert(one_label_workflow(3), tmp_path, enableEventService="isr,isrr")
    assert "isrr" in caplog.text


def entries(orders, label="isr"):
    return [
        {"name": f"{label}:orderIdMap_{order}", "order_id": order, "dependencies": []} for order in orders
    ]


@pytest.mark.parametrize(
    ("job_entries", "reason"),
    [
        ([{"name": "isr:orderIdMap_0", "dependencies": []}], "no integer order_id"),
        (entries([0, 1]) + [{"name": "isr:orderIdMap_x", "order_id": 1, "dependencies": []}], "repeat"),
        (entries([0, 1, 5, 6]), "gaps"),
        ([{"name": "isr:orderIdMap_1", "order_id": 0, "dependencies": []}], "another job"),
    ],
)
def test_order_ids_idds_would_not_run_as_events_stop_prepare_naming_the_label(job_entries, reason):
    with pytest.raises(PandaPrepareError, match=rf"Label 'isr' \(task t1\), enableEventService.*{reason}"):
        check_order_ids("isr", "t1", job_entries)


def test_idds_fallback_to_no_event_service_is_caught_after_the_work_is_built():
    # Repeated order ids: iDDS's own DomaPanDAWork turns es off with a log line only.
    work = DomaPanDAWork(
        executable="x ${IN/L}",
        task_name="t1",
        dependency_map=[{"name": n, "order_id": 0, "dependencies": []} for n in ("a", "b")],
        es=True,
        es_label="isr",
        max_events_per_job=2,
    )
    assert work.es is False
    with pytest.raises(PandaPrepareError, match=r"Label 'isr' \(task t1\).*disabled the event service"):
        check_event_service_work(work, "isr")


def test_idds_loses_all_but_the_last_run_of_order_ids_and_the_check_sees_it():
    work = DomaPanDAWork(
        executable="x ${IN/L}",
        task_name="t1",
        dependency_map=entries([0, 1, 5, 6]),
        es=True,
        es_label="isr",
        max_events_per_job=10,
    )
    assert work.es and list(work.es_files) == ["isr:eventservice_5^2"]  # 0 and 1 are in no pseudo input
    with pytest.raises(PandaPrepareError, match=r"Label 'isr' \(task t1\).*2 of 4 jobs"):
        check_event_service_work(work, "isr")


def test_jobs_with_parents_get_the_last_order_ids_so_idds_holds_the_task(tmp_path):
    # iDDS sets inputPreStaging from the last event-service pseudo input's dependencies only.
    gw = GenericWorkflow("wf")
    gwexec = GenericWorkflowExec("true", "/bin/true", False)
    gw.add_job(GenericWorkflowJob("p_0", label="p", executable=gwexec, arguments=""))
    for i in range(5):
        job = GenericWorkflowJob(f"a_{i}", label="a", executable=gwexec, arguments="")
        gw.add_job(job, parent_names=["p_0"] if i < 2 else [])
    result = convert(gw, tmp_path, enableEventService="a:2")
    (work,) = [w for w in works_of(result.idds_workflow).values() if w.es]
    with_parents = {
        result.published_map["a"][str(e["order_id"])] for e in work.dependency_map if e["dependencies"]
    }
    assert with_parents == {"a_0", "a_1"}
    assert sorted(e["order_id"] for e in work.dependency_map if e["dependencies"]) == [3, 4]
    groups = list(work.es_files.values())
    assert groups[-1]["has_dependencies"]
    assert work.create_processing().processing_metadata["task_param"]["inputPreStaging"] is True


def test_a_last_group_without_parents_while_others_have_them_stops_prepare():
    job_entries = entries([0, 1, 2])
    job_entries[0]["dependencies"] = [{"task": "t0", "inputname": "p:orderIdMap_0"}]
    work = DomaPanDAWork(
        executable="x ${IN/L}", task_name="t1", dependency_map=job_entries, es=True, es_label="isr",
        max_events_per_job=2,
    )  # fmt: skip
    with pytest.raises(PandaPrepareError, match=r"Label 'isr' \(task t1\).*before their parents"):
        check_event_service_work(work, "isr")
