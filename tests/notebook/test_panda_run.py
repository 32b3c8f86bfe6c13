# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""PandaRun against the local PanDA: wait, report, failed jobs, restart, cancel."""

import time

import pytest
from bs4 import BeautifulSoup
from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda import PandaRun
from lsst.ctrl.bps.panda.errors import PandaRunError

pytestmark = pytest.mark.real_servers

FLAKY = "test ${IN/L} != wf_02_step2_01_b || { echo 'step2 b broke' >&2; exit 7; }"


def _submit(shell_dag, idds_api, unwrap, name="wf", failing=True):
    dag = shell_dag(name)
    dag.task(f"{name}_01_step1_01", {"a1": [], "a2": []}, "echo ran ${IN/L}")
    step2 = {f"{name}_02_step2_01_a": [(f"{name}_01_step1_01", "a1")]}
    step2[f"{name}_02_step2_01_b"] = [(f"{name}_01_step1_01", "a2")]
    dag.task(f"{name}_02_step2_01", step2, FLAKY if failing else "true")
    dag.final(f"{name}_03_finalJob_01", "true", after=[f"{name}_02_step2_01"])
    return unwrap(idds_api.submit(dag.workflow))


def test_wait_returns_failed_and_report_counts_each_label(local_panda, shell_dag, idds_api, unwrap):
    run = PandaRun(_submit(shell_dag, idds_api, unwrap))
    assert run.wait(timeout=120, poll_seconds=0.1, progress=False) == WmsStates.FAILED
    assert run.status == WmsStates.FAILED
    table = run.report()
    rows = {row.label: row for row in table.rows}
    assert set(rows) == {"step1", "step2", "finalJob"}
    assert rows["step1"].count(WmsStates.SUCCEEDED) == 2
    assert rows["step2"].count(WmsStates.SUCCEEDED) == 1 and rows["step2"].count(WmsStates.FAILED) == 1
    assert rows["step2"].exit_codes == (7,)
    assert table.totals().total == 5


def test_failed_jobs_carry_exit_code_and_log_with_the_payload_output(
    local_panda, shell_dag, idds_api, unwrap
):
    run = PandaRun(_submit(shell_dag, idds_api, unwrap))
    run.wait(timeout=120, poll_seconds=0.1, progress=False)
    [failed] = run.failed_jobs()
    assert (failed.label, failed.name, failed.exit_code) == ("step2", "wf_02_step2_01_b", 7)
    with open(failed.log) as log:
        assert "step2 b broke" in log.read()
    cells = [td.get_text() for td in BeautifulSoup(run.failed_jobs()._repr_html_(), "html.parser")("td")]
    assert cells[:5] == ["step2", "wf_02_step2_01_b", str(failed.panda_id), "1", "7"]


def test_wait_shows_text_progress_bars_per_label(local_panda, shell_dag, idds_api, unwrap, capsys):
    run = PandaRun(_submit(shell_dag, idds_api, unwrap, failing=False))
    assert run.wait(timeout=120, poll_seconds=0.1) == WmsStates.SUCCEEDED
    err = capsys.readouterr().err
    assert "step1: 100%" in err and "step2: 100%" in err and "2/2" in err


def test_interrupted_wait_returns_and_the_run_goes_on(local_panda, shell_dag, idds_api, unwrap, monkeypatch):
    dag = shell_dag("slow")
    dag.task("slow_01_sleep_01", {"s1": []}, "sleep 2")
    run = PandaRun(unwrap(idds_api.submit(dag.workflow)))

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr("lsst.ctrl.bps.panda.notebook.panda_run.time.sleep", interrupt)
    state = run.wait(poll_seconds=0.1, progress=False)
    monkeypatch.undo()
    assert state not in (WmsStates.SUCCEEDED, WmsStates.FAILED, WmsStates.DELETED)
    assert run.wait(timeout=60, poll_seconds=0.1, progress=False) == WmsStates.SUCCEEDED


def test_wait_with_timeout_returns_the_running_state(local_panda, shell_dag, idds_api, unwrap):
    dag = shell_dag("long")
    dag.task("long_01_sleep_01", {"s1": []}, "sleep 30")
    run = PandaRun(unwrap(idds_api.submit(dag.workflow)))
    assert run.wait(timeout=0.2, poll_seconds=0.1, progress=False) == WmsStates.RUNNING
    run.cancel()
    assert run.wait(timeout=60, poll_seconds=0.1, progress=False) == WmsStates.DELETED


def test_restart_reruns_the_failed_job(local_panda, shell_dag, idds_api, unwrap, tmp_path):
    marker = tmp_path / "broken"
    marker.touch()
    dag = shell_dag("again")
    dag.task("again_01_step1_01", {"x": []}, f"test ! -e {marker}")
    run = PandaRun(unwrap(idds_api.submit(dag.workflow)))
    assert run.wait(timeout=60, poll_seconds=0.1, progress=False) == WmsStates.FAILED
    marker.unlink()
    assert run.restart() == run.request_id
    deadline = time.monotonic() + 60
    while run.status == WmsStates.FAILED and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run.wait(timeout=60, poll_seconds=0.1, progress=False) == WmsStates.SUCCEEDED
    with pytest.raises(PandaRunError, match="nothing to restart"):
        run.restart()


def test_run_of_a_directory_never_submitted_is_refused(tmp_path):
    with pytest.raises(PandaRunError, match="neither"):
        PandaRun(tmp_path)


def test_progress_bars_are_text_outside_a_jupyter_kernel():
    from lsst.ctrl.bps.panda.notebook.progress_bars import progress_bar_class
    from tqdm.std import tqdm

    assert progress_bar_class() is tqdm
