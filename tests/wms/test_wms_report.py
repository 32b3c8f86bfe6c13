# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""iDDS records → WmsRunReport, from replies recorded from the real iDDS (testing/envelopes/real/).

``lifecycle_run2.json`` is a request followed to SubFinished by the real iDDS daemons (task_1 →
task_2 → final task_3; one job of task_2 failed with exit code 3); the ``*_new.json`` files are the
real replies right after submit, before any daemon acted (``make record-envelopes``).
"""

import json

import pytest
from idds.common.utils import json_loads
from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda.task_names import label_of_task
from lsst.ctrl.bps.panda.wms.wms_report import run_report_from_records, summary_reports
from support.paths import ENVELOPES_DIR

REAL = ENVELOPES_DIR / "real"


def recorded(name):
    """The value of a recorded successful reply ``[true, value]``."""
    ok, value = json_loads((REAL / name).read_text())
    assert ok is True
    return value


def lifecycle(state):
    """The records of the real lifecycle at ``state``: (request, detail, contents)."""
    snapshot = json.loads((REAL / "lifecycle_run2.json").read_text())["snapshots"][state]
    return tuple(
        json_loads(json.dumps(snapshot[key])) for key in ("get_requests", "get_requests_detail", "contents")
    )


def test_report_counts_and_exit_codes_come_from_the_real_records():
    _, detail, contents = lifecycle("SubFinished")
    report = run_report_from_records(detail, contents, monitor_url="https://mon/")
    assert report.state == WmsStates.FAILED  # SubFinished
    assert (report.wms_id, report.operator) == ("4", "Jane Tester")
    assert report.job_summary["task_2"][WmsStates.SUCCEEDED] == 1
    assert report.job_summary["task_2"][WmsStates.FAILED] == 1
    assert report.job_state_counts[WmsStates.SUCCEEDED] == 5
    assert report.total_number_jobs == 6
    assert report.exit_code_summary == {"task_1": [], "task_2": [3], "task_3": []}
    assert "https://mon/tasks/?reqid=4" in str(report.specific_info)


def test_without_contents_no_exit_codes_are_invented():
    _, detail, _ = lifecycle("SubFinished")
    assert run_report_from_records(detail).exit_code_summary is None


def test_running_request_counts_unfinished_jobs():
    _, detail, _ = lifecycle("Transforming")
    report = run_report_from_records(detail)
    assert report.state == WmsStates.RUNNING
    assert sum(report.job_state_counts.values()) == report.total_number_jobs


def test_new_request_record_without_ids_reports_the_id_asked_for():
    detail = recorded("get_requests_detail_new.json")
    assert detail[0]["request_id"] is None and detail[0]["transform_id"] is None  # as iDDS sends it
    report = run_report_from_records(detail, recorded("get_contents_output_ext_new.json"), request_id=12)
    assert (report.wms_id, report.state, report.total_number_jobs) == ("12", WmsStates.RUNNING, 0)
    assert report.exit_code_summary == {}


def test_chunks_and_memory_classes_of_a_label_add_up_to_one_row():
    base = {"request_id": 5, "name": "wf", "status": "Transforming", "transform_status": "Transforming"}
    records = [
        {**base, "transform_name": "wf_02_isr_01", "output_total_files": 10, "output_processed_files": 4},
        {**base, "transform_name": "wf_02_isr_02", "output_total_files": 10, "output_processed_files": 6},
        {**base, "transform_name": "wf_03_isr_01", "output_total_files": 5, "output_failed_files": 5},
    ]
    report = run_report_from_records(records)
    assert list(report.job_summary) == ["isr"]
    assert report.job_summary["isr"][WmsStates.SUCCEEDED] == 10
    assert report.job_summary["isr"][WmsStates.FAILED] == 5
    assert report.run_summary == "isr:25"


@pytest.mark.parametrize(
    ("task", "label"),
    [("wf_01_pipetaskInit_01", "pipetaskInit"), ("wf_12_make_warp_03", "make_warp"), ("odd", "odd")],
)
def test_label_of_task(task, label):
    assert label_of_task(task, "wf") == label


def test_summary_reports_skip_old_finished_requests():
    request, _, _ = lifecycle("SubFinished")
    assert [r.wms_id for r in summary_reports([request], hist_days=10**5)] == ["4"]
    assert summary_reports([request], hist_days=0) == []


def test_summary_reports_keep_new_requests():
    (request,) = recorded("get_requests_new.json")
    (summary,) = summary_reports([request], hist_days=0)
    assert summary.state == WmsStates.RUNNING and summary.operator == "Jane Tester"


def ended_run(status, final_status="Finished", final_counts=(1, 0, 0), second=(0, 1, 0)):
    """Records of a run ``wf`` (labels a, b and the final job) as iDDS has them once it ended.

    Counts are (processed, failed, missing) of one job each; ``second`` is task b's.
    """
    base = {"request_id": 7, "name": "wf", "status": status}

    def task(index, label, task_status, counts):
        processed, failed, missing = counts
        return {
            **base,
            "transform_id": 70 + index,
            "transform_workload_id": 700 + index,
            "transform_name": f"wf_{index:02d}_{label}_01",
            "transform_status": task_status,
            "output_total_files": 1,
            "output_processed_files": processed,
            "output_failed_files": failed,
            "output_missing_files": missing,
        }

    second_status = "Finished" if second == (1, 0, 0) else "Failed"
    return [
        task(1, "a", "Finished", (1, 0, 0)),
        task(2, "b", second_status, second),
        task(3, "finalJob", final_status, final_counts),
    ]


def test_a_failed_run_lists_its_final_job_with_the_state_of_its_task():
    report = run_report_from_records(ended_run("SubFinished"))
    assert report.state == WmsStates.FAILED
    (final,) = report.jobs
    assert (final.name, final.label, final.state, final.wms_id) == (
        "finalJob",
        "finalJob",
        WmsStates.SUCCEEDED,
        "703",
    )
    failed_final = run_report_from_records(ended_run("SubFinished", "Failed", (0, 1, 0)))
    assert [job.state for job in failed_final.jobs] == [WmsStates.FAILED]


def test_a_run_without_a_final_task_yet_lists_no_job():
    report = run_report_from_records(ended_run("Transforming")[:2])
    assert report.jobs == []


def test_a_cancelled_run_lists_no_final_job_even_when_it_ran():
    cancelled = run_report_from_records(ended_run("Cancelled"))
    assert cancelled.state == WmsStates.DELETED and cancelled.jobs == []
    # As recorded on the idds engine: after an abort the request ends SubFinished, the running
    # task ends Failed with its job neither failed nor missing, and iDDS still runs the final job.
    cut_short = run_report_from_records(ended_run("SubFinished", second=(0, 0, 0)))
    assert cut_short.state == WmsStates.FAILED and cut_short.jobs == []
    # A cancel recorded by `bps cancel` makes the run DELETED (the state given by run_reading).
    recorded = run_report_from_records(ended_run("SubFinished", second=(0, 0, 0)), state=WmsStates.DELETED)
    assert recorded.state == WmsStates.DELETED and recorded.jobs == []
    assert recorded.job_summary["b"][WmsStates.DELETED] == 1


def test_the_real_subfinished_run_was_not_cut_short():
    _, detail, _ = lifecycle("SubFinished")
    renamed = [
        {**row, "transform_name": row["transform_name"].replace("task_3", "finalJob")} for row in detail
    ]
    report = run_report_from_records(renamed)
    assert [(job.name, job.state) for job in report.jobs] == [("finalJob", WmsStates.SUCCEEDED)]
