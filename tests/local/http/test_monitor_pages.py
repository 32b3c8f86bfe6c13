# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The monitor pages of the local PanDA, in a real headless Chromium (Selenium) and over HTTP."""

import time
import urllib.error
import urllib.request

import pytest
from lsst.ctrl.bps.panda.local.http.monitor_pages import COOKIE_NAME, login_link
from support.browser_support import chromium, screenshot_dir
from support.loopback import TEST_PANDA_PORT

pytestmark = pytest.mark.real_servers

BASE = f"http://127.0.0.1:{TEST_PANDA_PORT}"


@pytest.fixture
def browser():
    yield from chromium()


def _run_with_a_failure(shell_dag, idds_api, unwrap, wait_request):
    dag = shell_dag("monitored")
    dag.task("monitored_01_step1_01", {"ok1": [], "ok2": []}, "echo fine ${IN/L}")
    dag.task(
        "monitored_02_step2_01",
        {"good": [("monitored_01_step1_01", "ok1")], "bad": [("monitored_01_step1_01", "ok2")]},
        "test ${IN/L} = good || { echo 'Traceback: the flux was negative' >&2; "
        'echo "$(date +%FT%T) cmd_line_decoder: running the payload" >&2; exit 3; }',
    )
    request_id = unwrap(idds_api.submit(dag.workflow))
    wait_request(request_id)
    return request_id


def _get(path, cookie=None):
    headers = {"Cookie": f"{COOKIE_NAME}={cookie}"} if cookie else {}
    request = urllib.request.Request(BASE + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_pages_without_the_token_cookie_are_refused(local_panda):
    status, text = _get("/monitor/")
    assert status == 403 and "panda_local status" in text
    assert _get("/monitor/requests/1", cookie="wrong")[0] == 403
    assert _get("/monitor/", cookie=local_panda.token)[0] == 200


def test_login_link_sets_the_cookie_once_only(local_panda):
    link = login_link(BASE, local_panda.token)
    assert local_panda.token not in link
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(link, timeout=10) as reply:
        assert reply.status == 200 and "Requests" in reply.read().decode()
    with pytest.raises(urllib.error.HTTPError) as used:
        urllib.request.urlopen(link, timeout=10)
    assert used.value.code == 403
    forged = login_link(BASE, "not-the-token")
    assert _get(forged[len(BASE) :])[0] == 403
    expired = login_link(BASE, local_panda.token, now=time.time() - 3600)
    assert _get(expired[len(BASE) :])[0] == 403


def test_log_page_shows_decoder_lines_first_then_the_tail(
    local_panda, shell_dag, idds_api, unwrap, wait_request
):
    from bs4 import BeautifulSoup

    request_id = _run_with_a_failure(shell_dag, idds_api, unwrap, wait_request)
    token = local_panda.token
    status, tasks = _get(f"/monitor/requests/{request_id}", token)
    assert status == 200 and "refreshes" not in tasks  # ended: no auto-refresh
    task_link = BeautifulSoup(tasks, "html.parser").find("a", string="monitored_02_step2_01")["href"]
    jobs = BeautifulSoup(_get(task_link, token)[1], "html.parser")
    failed_row = next(tr for tr in jobs.select("#jobs tr") if "FAILED" in tr.get_text())
    page = BeautifulSoup(_get(failed_row.find("a", string="log")["href"], token)[1], "html.parser")
    assert page.select_one("pre.decoder").get_text().strip().endswith("cmd_line_decoder: running the payload")
    assert "Traceback: the flux was negative" in page.select_one("pre.log").get_text()
    assert [h.get_text() for h in page.find_all("h2")][0] == "Decoder"
    assert _get("/monitor/requests/999", token)[0] == 404


def test_panda_monitor_links_of_the_report_lead_to_the_request_page(local_panda, shell_dag, idds_api, unwrap):
    from lsst.ctrl.bps.panda.wms.wms_report import monitor_link

    dag = shell_dag("linked")
    dag.task("linked_01_step1_01", {"x": []}, "true")
    request_id = unwrap(idds_api.submit(dag.workflow))
    link = monitor_link(f"{BASE}/monitor", request_id)
    opener = urllib.request.build_opener()
    opener.addheaders = [("Cookie", f"{COOKIE_NAME}={local_panda.token}")]
    with opener.open(link, timeout=10) as reply:
        assert (
            reply.url.endswith(f"/monitor/requests/{request_id}")
            and "linked_01_step1_01" in reply.read().decode()
        )


def test_pages_of_a_running_request_refresh_themselves(local_panda, shell_dag, idds_api, unwrap):
    dag = shell_dag("running")
    dag.task("running_01_sleep_01", {"s": []}, "sleep 30")
    request_id = unwrap(idds_api.submit(dag.workflow))
    try:
        page = _get(f"/monitor/requests/{request_id}", local_panda.token)[1]
        assert '<meta http-equiv="refresh" content="5">' in page
    finally:
        unwrap(idds_api.abort(request_id=request_id))


@pytest.mark.browser
@pytest.mark.xdist_group("serial")
def test_browser_follows_links_from_requests_to_a_failed_jobs_log(
    local_panda, shell_dag, idds_api, unwrap, wait_request, browser, tmp_path
):
    from selenium.webdriver.common.by import By

    request_id = _run_with_a_failure(shell_dag, idds_api, unwrap, wait_request)
    browser.get(f"{BASE}/monitor/")
    assert "open the monitor link" in browser.find_element(By.TAG_NAME, "body").text

    browser.get(login_link(BASE, local_panda.token))
    row = browser.find_element(By.CSS_SELECTOR, "#requests tr:nth-child(2)")
    assert row.text.split()[:3] == [str(request_id), "monitored", "FAILED"]
    assert "background: rgb(244, 166, 166)" in row.find_element(By.CSS_SELECTOR, ".state").get_attribute(
        "style"
    )
    row.find_element(By.LINK_TEXT, str(request_id)).click()

    tasks = {
        tr.find_element(By.TAG_NAME, "td").text: tr
        for tr in browser.find_elements(By.CSS_SELECTOR, "#tasks tr")[1:]
    }
    assert tasks["monitored_02_step2_01"].text.split()[1:4] == ["step2", "FAILED", "2"]
    browser.find_element(By.LINK_TEXT, "monitored_02_step2_01").click()

    jobs = browser.find_elements(By.CSS_SELECTOR, "#jobs tr")[1:]
    failed = next(tr for tr in jobs if "FAILED" in tr.text)
    assert failed.find_elements(By.TAG_NAME, "td")[1].text == "bad"
    assert failed.find_elements(By.TAG_NAME, "td")[4].text == "3"
    browser.save_screenshot(str(screenshot_dir(tmp_path) / "monitor_jobs.png"))
    failed.find_element(By.LINK_TEXT, "log").click()

    assert browser.find_element(By.CSS_SELECTOR, ".exit-code").text == "3"
    assert "Traceback: the flux was negative" in browser.find_element(By.CSS_SELECTOR, "pre.log").text
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert headings[0] == "Decoder" and headings[1].startswith("Log tail")
    path = screenshot_dir(tmp_path) / "monitor_log.png"
    browser.save_screenshot(str(path))
    assert path.stat().st_size > 1000
