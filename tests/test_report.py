# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""iDDS records → WmsRunReport, from reply envelopes recorded from the local PanDA."""

from pathlib import Path

import pytest
from idds.common.utils import json_loads
from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda.report import label_of_task, run_report_from_records, summary_reports

ENVELOPES = Path(__file__).parent / "data" / "envelopes"


def recorded(name):
    ok, value = json_loads((ENVELOPES / name).read_text())
    assert ok is True
    return value


def test_report_counts_and_exit_codes_come_from_the_records():
    report = run_report_from_records(
        recorded("get_requests_detail.json"),
        recorded("get_contents_output_ext.json"),
        monitor_url="https://mon/",
    )
    assert report.state == WmsStates.FAILED  # SubFinished
    assert report.wms_id == "1" and report.run == "records"
    assert report.job_summary["a"][WmsStates.SUCCEEDED] == 1
    assert report.job_summary["a"][WmsStates.FAILED] == 1
    assert report.job_state_counts[WmsStates.SUCCEEDED] == 3
    assert report.total_number_jobs == 4
    assert report.exit_code_summary == {"a": [9], "b": [], "final": []}
    assert "https://mon/tasks/?reqid=1" in str(report.specific_info)


def test_without_contents_no_exit_codes_are_invented():
    report = run_report_from_records(recorded("get_requests_detail.json"))
    assert report.exit_code_summary is None


def test_running_request_counts_unfinished_jobs():
    report = run_report_from_records(recorded("get_requests_detail_running.json"))
    assert report.state == WmsStates.RUNNING
    assert sum(report.job_state_counts.values()) == report.total_number_jobs


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
    records = recorded("get_requests.json")
    assert [r.wms_id for r in summary_reports(records, hist_days=10**5)] == ["1"]
    assert summary_reports(records, hist_days=0) == []
