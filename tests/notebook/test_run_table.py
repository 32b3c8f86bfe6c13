# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The per-label run table: model, text, HTML (parsed) and DataFrame, from recorded replies."""

import json

import pandas
from bs4 import BeautifulSoup
from idds.common.utils import json_loads
from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda.notebook.run_table import label_resources, run_table_from_report
from lsst.ctrl.bps.panda.wms.wms_report import run_report_from_records
from support.paths import ENVELOPES_DIR

ENVELOPES = ENVELOPES_DIR
RESOURCES = {"a": (("conventional",), ("LOCAL_CONVENTIONAL",)), "b": (("high",), ("LOCAL_HIMEM",))}


def recorded(name):
    ok, value = json_loads((ENVELOPES / name).read_text())
    assert ok is True
    return value


def table(monitor_url=None):
    report = run_report_from_records(
        recorded("get_requests_detail.json"), recorded("get_contents_output_ext.json")
    )
    return run_table_from_report(report, RESOURCES, monitor_url)


def cells_by_label(html):
    soup = BeautifulSoup(html, "html.parser")
    header = [th.get_text() for th in soup.select("thead th")]
    rows = {}
    for tr in soup.select("tbody tr"):
        cells = [cell.get_text() for cell in tr.find_all(["td", "th"])]
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return soup, rows


def test_table_has_one_row_per_label_with_counts_and_exit_codes():
    run = table()
    assert (run.request_id, run.name, run.state) == ("1", "records", WmsStates.FAILED)
    rows = {row.label: row for row in run.rows}
    assert list(rows) == ["a", "b", "final"]
    assert rows["a"].count(WmsStates.SUCCEEDED) == 1 and rows["a"].count(WmsStates.FAILED) == 1
    assert rows["a"].exit_codes == (9,)
    assert rows["b"].queues == ("LOCAL_HIMEM",) and rows["final"].queues == ()
    assert run.totals().total == 4


def test_html_table_cells_show_counts_memory_class_queue_and_colour():
    soup, rows = cells_by_label(table()._repr_html_())
    assert rows["a"]["SUCCEEDED"] == "1" and rows["a"]["FAILED"] == "1" and rows["a"]["TOTAL"] == "2"
    assert rows["a"]["memory class"] == "conventional" and rows["a"]["queue"] == "LOCAL_CONVENTIONAL"
    assert rows["a"]["exit codes"] == "9"
    assert rows["TOTAL"]["SUCCEEDED"] == "3" and rows["TOTAL"]["TOTAL"] == "4"
    failed = soup.select_one("tbody tr td.state-failed")
    assert failed is not None and "background:#f4a6a6" in failed["style"]
    assert soup.select_one(".run-state").get_text() == "FAILED"
    assert soup.select_one("a.monitor") is None


def test_html_links_to_the_panda_monitor_when_configured():
    soup, _ = cells_by_label(table("https://bigpanda.example/")._repr_html_())
    assert soup.select_one("a.monitor")["href"] == "https://bigpanda.example/tasks/?reqid=1"


def test_html_escapes_labels():
    run = table()
    run.rows[0] = type(run.rows[0])("<script>", run.rows[0].counts, run.rows[0].total)
    assert "<script>" not in run._repr_html_() and "&lt;script&gt;" in run._repr_html_()


def test_text_repr_is_an_aligned_table_with_totals():
    lines = repr(table("https://mon/")).splitlines()
    assert lines[0] == "Run 1 records: FAILED"
    assert lines[1].split()[:3] == ["label", "UNREADY", "RUNNING"]
    assert lines[2].split()[0] == "a" and lines[-2].split()[0] == "TOTAL"
    assert lines[-1] == "PanDA monitor: https://mon/tasks/?reqid=1"


def test_dataframe_is_indexed_by_label():
    frame = table().to_dataframe()
    assert isinstance(frame, pandas.DataFrame)
    assert frame.loc["a", "failed"] == 1 and frame.loc["b", "queue"] == "LOCAL_HIMEM"
    assert table().to_records()[0]["exit_codes"] == "9"


def test_label_resources_come_from_the_manifest_chunks_merged(tmp_path):
    tasks = [
        {"label": "isr", "memory_class": "conventional", "queue": "Q4G"},
        {"label": "isr", "memory_class": "conventional", "queue": "Q4G"},
        {"label": "isr", "memory_class": "high", "queue": "QHI"},
    ]
    (tmp_path / "panda_workflow.manifest.json").write_text(json.dumps({"tasks": tasks}))
    assert label_resources(tmp_path) == {"isr": (("conventional", "high"), ("Q4G", "QHI"))}
    assert label_resources(tmp_path / "missing") == {}
