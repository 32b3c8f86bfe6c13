# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""examples/notebook/demo.ipynb, executed headlessly (nbclient): submit, wait, report.

The notebook starts its own local PanDA (a ``panda_local start --background`` in its work
directory) and runs the demo pipeline through ``submit``; the test then checks the executed
notebook as a person would read it, and screenshots the HTML report in Chromium.
"""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbclient import NotebookClient
from support.browser_support import chromium, screenshot_dir
from support.paths import REPO_ROOT

pytestmark = [
    pytest.mark.browser,
    pytest.mark.real_servers,
    pytest.mark.slow,
    pytest.mark.xdist_group("serial"),
]


@pytest.fixture
def browser():
    yield from chromium()


NOTEBOOK = REPO_ROOT / "examples" / "notebook" / "demo.ipynb"


def html_outputs(notebook):
    return [
        output["data"]["text/html"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "text/html" in output.get("data", {})
    ]


@pytest.fixture
def executed(tmp_path):
    work = tmp_path / "work"
    env_names = ("PANDA_", "BPS_", "DEMO_")
    saved = {k: v for k, v in os.environ.items() if k.startswith(env_names)}
    for name in saved:
        del os.environ[name]  # the kernel inherits the environment: start it clean
    os.environ["DEMO_WORK_DIR"] = str(work)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    try:
        client.execute()
    finally:
        nbformat.write(notebook, tmp_path / "demo.executed.ipynb")
        panda_local = Path(sys.executable).parent / "panda_local"
        subprocess.run([panda_local, "stop", "--state-dir", str(work / "state")], capture_output=True)
        os.environ.pop("DEMO_WORK_DIR", None)
        os.environ.update(saved)
    return notebook


@pytest.mark.timeout(1200)
def test_notebook_submits_waits_and_shows_the_html_report(executed, browser, tmp_path):
    errors = [
        output
        for cell in executed.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
    # run.report() (from the submit directory: memory classes known), then PandaRun(request_id).
    reports = [html for html in html_outputs(executed) if 'class="panda-run"' in html]
    assert len(reports) == 2, "no HTML report table in the executed notebook"
    assert BeautifulSoup(reports[1], "html.parser").select_one(".run-state").get_text() == "SUCCEEDED"
    soup = BeautifulSoup(reports[0], "html.parser")
    assert soup.select_one(".run-state").get_text() == "SUCCEEDED"
    header = [th.get_text() for th in soup.select("thead th")]
    rows = {}
    for tr in soup.select("tbody tr"):
        cells = [cell.get_text() for cell in tr.find_all(["td", "th"])]
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    assert rows["TOTAL"]["SUCCEEDED"] == rows["TOTAL"]["TOTAL"] == "8"
    assert rows["step2"]["memory class"] == "high"
    assert any(
        "<svg" in output.get("data", {}).get("image/svg+xml", "")
        for c in executed.cells
        for output in c.get("outputs", [])
    )

    page = tmp_path / "report.html"
    page.write_text(f"<!doctype html><html><body style='font-family:sans-serif'>{reports[0]}</body></html>")
    browser.set_window_size(1100, 330)
    browser.get(page.as_uri())
    path = screenshot_dir(tmp_path) / "notebook_report.png"
    browser.save_screenshot(str(path))
    assert path.stat().st_size > 1000
