# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Fault suite of the local PanDA: full disk, kill -9 in the launch window, stop cycles, port kept.

Every case is judged from outside as well as from the store: the payloads write a ledger (one
line per start and per end, with the job name and the payload's pid) outside the state
directory, and a case passes only with no job started twice (duplicates) and none without an
end (lost).  The figures of every case are printed at the end of the module.
"""

import collections
import contextlib
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.loopback import TEST_PANDA_PORT

pytestmark = [
    pytest.mark.real_servers,
    pytest.mark.slow,
    pytest.mark.xdist_group("serial"),
    pytest.mark.timeout(300),
]

FIGURES: dict[str, dict[str, int]] = {}


def ledger_payload(ledger: Path, sleep: float) -> str:
    """A shell payload that writes its start and end, with its job name and pid, to ``ledger``."""
    return f'echo "start ${{IN/L}} $$" >> {ledger}; sleep {sleep}; echo "end ${{IN/L}} $$" >> {ledger}'


def ledger_figures(ledger: Path, expected: list[str]) -> dict[str, int]:
    """Count runs, duplicates (jobs started more than once) and lost jobs (no end) in a ledger."""
    starts, ends = collections.Counter(), collections.Counter()
    for line in ledger.read_text().splitlines() if ledger.exists() else []:
        kind, job, _pid = line.split()
        (starts if kind == "start" else ends)[job] += 1
    return {
        "jobs": len(expected),
        "starts": sum(starts.values()),
        "duplicates": sum(count - 1 for count in starts.values() if count > 1),
        "lost": sum(1 for job in expected if ends[job] == 0),
        "unexpected": len(set(starts) - set(expected)),
    }


def chain_dag(shell_dag, name: str, ledger: Path, width: int, sleep: float):
    """Two tasks of ``width`` jobs, each job of the second after its twin in the first."""
    dag = shell_dag(name)
    dag.task("a", {f"a{i}": [] for i in range(width)}, ledger_payload(ledger, sleep))
    dag.task("b", {f"b{i}": [("a", f"a{i}")] for i in range(width)}, ledger_payload(ledger, sleep))
    return dag, [f"a{i}" for i in range(width)] + [f"b{i}" for i in range(width)]


def wait_until(condition, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def ended(ledger: Path) -> int:
    return (
        sum(1 for line in ledger.read_text().splitlines() if line.startswith("end")) if ledger.exists() else 0
    )


def record(case: str, figures: dict[str, int], **extra: int) -> None:
    FIGURES[case] = {**figures, **extra}
    assert figures["duplicates"] == 0, f"{case}: jobs ran twice: {figures}"
    assert figures["lost"] == 0, f"{case}: jobs never ended: {figures}"
    assert figures["unexpected"] == 0


@pytest.fixture(scope="module", autouse=True)
def print_figures(request):
    yield
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if not FIGURES or capture is None:
        return
    with capture.global_and_fixture_disabled():
        print("\nLocal PanDA fault suite (runs judged by the payloads' own ledger):")
        for case, figures in FIGURES.items():
            print(f"  {case}: {json.dumps(figures)}")


def _as_root() -> list[str] | None:
    """Return the prefix that runs a command as root: none for root, ``sudo -n`` when it works."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 2 MB tmpfs owned by the user who runs the tests (mounted as root, or with passwordless sudo)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    as_root = _as_root()
    if as_root is None or not shutil.which("mount"):
        pytest.fail(
            "mounting a 2 MB tmpfs needs root or passwordless sudo (sudo -n mount): run the suite as root, "
            "or give this user a NOPASSWD sudoers entry, as GitHub Actions' runner has"
        )
    options = f"size=2m,mode=0700,uid={os.getuid()},gid={os.getgid()}"
    done = subprocess.run(
        [*as_root, "mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.fail(f"mount -t tmpfs failed: {done.stderr.strip()}")
    yield mount
    subprocess.run([*as_root, "umount", "-l", str(mount)], check=False)


def _serve(state_root: Path):
    from lsst.ctrl.bps.panda.local.server import LocalPandaServer
    from lsst.ctrl.bps.panda.local.state.state_dir import StateDir

    server = LocalPandaServer(StateDir(state_root), port=TEST_PANDA_PORT, max_cores=2, sample_interval=0.05)
    server.start_in_thread()
    os.environ["PANDA_AUTH_ID_TOKEN"] = server.token
    return server


def panda_local(*args: str) -> subprocess.CompletedProcess:
    """Run the ``panda_local`` CLI (a subprocess: it configures logging for its own process)."""
    command = [sys.executable, "-m", "lsst.ctrl.bps.panda.local.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _status(state_root: Path) -> tuple[int, dict]:
    done = panda_local("status", "--state-dir", str(state_root))
    return done.returncode, json.loads(done.stdout)


# -- 1. storage failures -------------------------------------------------------------------------
def test_failing_commits_lose_no_end_report_the_fault_once_and_resume_by_themselves(
    local_panda, idds_api, unwrap, wait_request, shell_dag, tmp_path, monkeypatch, caplog
):
    caplog.set_level(logging.INFO, logger="lsst.ctrl.bps.panda")
    engine = local_panda.engine
    really_finish = engine.scheduler.finish_attempt
    broken = threading.Event()
    broken.set()
    refused = []

    def finish_on_a_full_disk(end):
        if broken.is_set():
            refused.append(end.attempt_id)
            raise sqlite3.OperationalError("database or disk is full")
        really_finish(end)

    monkeypatch.setattr(engine.scheduler, "finish_attempt", finish_on_a_full_disk)
    ledger = tmp_path / "ledger"
    dag, jobs = chain_dag(shell_dag, "commit_fails", ledger, width=100, sleep=0.01)
    request_id = unwrap(idds_api.submit(dag.workflow))
    wait_until(lambda: engine.health()["unrecorded_ends"] >= 2, 60, "ends that cannot be recorded")
    time.sleep(1.5)  # several engine passes while the fault lasts: it must be logged once only

    record_ = unwrap(idds_api.get_requests(request_id=request_id))[0]
    assert record_["status"].name == "Transforming" and "cannot write its state" in record_["errors"]
    code, status = _status(local_panda.state.root)
    assert code == 2 and "database or disk is full" in status["fault"]
    held = engine.health()["unrecorded_ends"]
    assert held >= 2
    # Nothing new starts while ends are held.
    started_before = {line.split()[1] for line in ledger.read_text().splitlines() if line.startswith("start")}

    broken.clear()
    assert wait_request(request_id, timeout=120)["status"].name == "Finished"
    faults = [
        r for r in caplog.records if r.levelno == logging.ERROR and "cannot write its state" in r.message
    ]
    assert len(faults) == 1
    assert any("Storage works again" in r.message for r in caplog.records)
    assert engine.fault is None and _status(local_panda.state.root)[1]["fault"] is None
    figures = ledger_figures(ledger, jobs)
    assert len(started_before) < len(jobs)
    record("commit fails (injected)", figures, held_ends=held, interruptions=1)


def test_server_stopped_during_a_storage_fault_reads_the_held_ends_back(
    local_panda, idds_api, unwrap, wait_request, shell_dag, tmp_path, monkeypatch
):
    from lsst.ctrl.bps.panda.local.server import LocalPandaServer

    engine = local_panda.engine

    def finish_on_a_full_disk(end):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(engine.scheduler, "finish_attempt", finish_on_a_full_disk)
    ledger = tmp_path / "ledger"
    dag, jobs = chain_dag(shell_dag, "stopped_in_fault", ledger, width=20, sleep=0.01)
    request_id = unwrap(idds_api.submit(dag.workflow))
    wait_until(lambda: engine.health()["unrecorded_ends"] >= 2, 60, "ends that cannot be recorded")
    held = engine.health()["unrecorded_ends"]
    state = local_panda.state
    local_panda.close()  # the held ends cannot be recorded now either

    again = LocalPandaServer(state, port=TEST_PANDA_PORT, max_cores=2, sample_interval=0.05)
    again.start_in_thread()
    try:
        assert wait_request(request_id, timeout=120)["status"].name == "Finished"
        with sqlite3.connect(state.db_path) as conn:
            lost = conn.execute("SELECT COUNT(*) FROM attempts WHERE status = 'lost'").fetchone()[0]
        assert lost == 0
    finally:
        again.close(kill_running=True)
    record("stopped during a storage fault", ledger_figures(ledger, jobs), held_ends=held, interruptions=1)


def test_full_disk_under_the_state_directory_pauses_and_resumes_without_loss(
    tiny_tmpfs, idds_api, unwrap, wait_request, shell_dag, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="lsst.ctrl.bps.panda")
    ledger = tmp_path / "ledger"  # outside the tmpfs
    server = _serve(tiny_tmpfs / "state")
    filler = tiny_tmpfs / "filler"
    try:
        # 120 jobs: their attempt directories and the database use about half of the 2 MB.
        dag, jobs = chain_dag(shell_dag, "disk_full", ledger, width=60, sleep=0.01)
        request_id = unwrap(idds_api.submit(dag.workflow))
        wait_until(lambda: ended(ledger) >= 15, 60, "15 jobs to end")
        with contextlib.suppress(OSError), open(filler, "wb") as stream:
            # The write-ahead log may have filled the disk already; else this does (bounded:
            # 2 MB / 4 KB is 512 writes).
            for _ in range(4096):
                stream.write(b"\0" * 4096)
                stream.flush()
        assert filler.stat().st_size > 0, "the state directory filled the tmpfs by itself"
        wait_until(lambda: server.engine.health()["storage_faults"] >= 1, 60, "the storage fault")
        assert ended(ledger) < len(jobs)
        with contextlib.suppress(FileNotFoundError):
            filler.unlink()
        assert wait_request(request_id, timeout=180)["status"].name == "Finished"
        assert server.engine.fault is None
        faults = server.engine.health()["storage_faults"]
        figures = ledger_figures(ledger, jobs)
        store_runs = len(
            [
                r
                for job in range(1, len(jobs) + 1)
                for r in server.engine.store.attempts(job)
                if r["status"] == "finished"
            ]
        )
        assert store_runs == len(jobs)
    finally:
        server.close(kill_running=True)
    assert any("cannot write its state" in r.message for r in caplog.records)
    record("disk full (2 MB tmpfs)", figures, interruptions=faults)


# -- 2. kill -9 inside the launch window ---------------------------------------------------------
def test_kill_inside_the_launch_window_never_runs_a_job_twice(
    server_process, idds_api, unwrap, wait_request, shell_dag, tmp_path, monkeypatch
):
    from lsst.ctrl.bps.panda.local.pilot.executor import PAUSE_AFTER_LAUNCH_ENV

    ledger, pauses, release = tmp_path / "ledger", tmp_path / "pauses", tmp_path / "release"
    pauses.mkdir()
    # Each payload runs until the test releases it (bounded: 60 s), so that every attempt caught
    # in the launch window still runs when the next server starts.
    hold = f"for i in $(seq 600); do test -e {release} && break; sleep 0.1; done"
    payload = f'echo "start ${{IN/L}} $$" >> {ledger}; {hold}; echo "end ${{IN/L}} $$" >> {ledger}'
    dag = shell_dag("launch_window")
    jobs = [f"a{i}" for i in range(8)]
    dag.task("a", dict.fromkeys(jobs, []), payload)
    state = tmp_path / "state"
    monkeypatch.setenv(PAUSE_AFTER_LAUNCH_ENV, str(pauses))
    interruptions = 0
    request_id = None
    for _cycle in range(4):
        # Each server launches one attempt, pauses before recording its pid, and is killed there.
        server = server_process(state, max_jobs=8)
        server.start()
        if request_id is None:
            request_id = unwrap(idds_api.submit(dag.workflow))
        wait_until(lambda n=interruptions: len(list(pauses.iterdir())) > n, 60, "the launch window")
        server.kill()
        interruptions += 1
    monkeypatch.delenv(PAUSE_AFTER_LAUNCH_ENV)
    server_process(state, max_jobs=8).start()
    release.touch()
    assert wait_request(request_id, timeout=120)["status"].name == "Finished"
    log = (tmp_path / "server_process.log").read_text()
    assert log.count("found by its launch token") >= interruptions
    paused = [int(path.name.split("-")[1]) for path in pauses.iterdir()]
    with sqlite3.connect(state / "panda_local.sqlite3") as conn:
        statuses = [
            conn.execute("SELECT status FROM attempts WHERE attempt_id = ?", (attempt,)).fetchone()[0]
            for attempt in paused
        ]
        lost = conn.execute("SELECT COUNT(*) FROM attempts WHERE status = 'lost'").fetchone()[0]
    assert statuses == ["finished"] * interruptions and lost == 0  # adopted, never declared lost
    record("kill -9 in the launch window", ledger_figures(ledger, jobs), interruptions=interruptions)


# -- 3. graceful stops ---------------------------------------------------------------------------
def test_stop_cycles_neither_rerun_nor_lose_jobs(
    server_process, idds_api, unwrap, wait_request, shell_dag, tmp_path
):
    ledger = tmp_path / "ledger"
    dag, jobs = chain_dag(shell_dag, "stop_cycles", ledger, width=50, sleep=0.3)
    state = tmp_path / "state"
    server = server_process(state, max_jobs=4)
    server.start()
    request_id = unwrap(idds_api.submit(dag.workflow))
    interruptions = 0
    for cycle in range(1, 5):
        wait_until(lambda c=cycle: ended(ledger) >= 15 * c, 60, f"{15 * cycle} jobs to end")
        server.stop()  # SIGTERM: what panda_local stop sends
        interruptions += 1
        server = server_process(state, max_jobs=4)
        server.start()
    assert wait_request(request_id, timeout=120)["status"].name == "Finished"
    with sqlite3.connect(state / "panda_local.sqlite3") as conn:
        attempts = collections.Counter(row[0] for row in conn.execute("SELECT status FROM attempts"))
    assert attempts == {"finished": len(jobs)}
    record("graceful stop cycles", ledger_figures(ledger, jobs), interruptions=interruptions)


def test_stop_that_kills_keeps_the_exit_code_of_attempts_that_had_ended(tmp_path):
    from lsst.ctrl.bps.panda.local.pilot.executor import Executor, LaunchSpec, Outcome

    executor = Executor(dict(os.environ), launch_tag="test")
    executor.launch(LaunchSpec(1, 1000, "true", tmp_path / "1", rss_limit=None, walltime=None))
    executor.launch(LaunchSpec(2, 1000, "sleep 60", tmp_path / "2", rss_limit=None, walltime=None))
    import psutil

    wait_until(
        lambda: psutil.Process(executor._running[1].pid).status() == psutil.STATUS_ZOMBIE, 30, "true to end"
    )
    ends = {end.attempt_id: end for end in executor.kill_all(Outcome.LOST, "stopping")}
    assert (ends[1].outcome, ends[1].exit_code) == (Outcome.OK, 0)
    assert ends[2].outcome == Outcome.LOST


# -- 4. the port survives restarts ---------------------------------------------------------------
def test_restarted_server_keeps_its_port_after_stop_and_after_kill(tmp_path):
    from lsst.ctrl.bps.panda.local.cli import ping
    from lsst.ctrl.bps.panda.local.state.state_dir import StateDir

    state = StateDir(tmp_path / "state")
    ports = []
    try:
        for how in ("first", "stop", "kill -9"):
            if how == "stop":
                assert panda_local("stop", "--state-dir", str(state.root)).returncode == 0
            elif how == "kill -9":
                os.kill(state.read_record()["pid"], signal.SIGKILL)
                wait_until(lambda: not state.is_served(), 30, "the killed server to let go")
            started = panda_local("start", "--background", "--state-dir", str(state.root))
            assert started.returncode == 0, started.stderr
            record_ = state.read_record()
            ports.append(record_["port"])
            for _ in range(5):  # connections the server closes: its port goes to TIME_WAIT
                assert ping(record_["url"], state.read_token())
    finally:
        panda_local("stop", "--state-dir", str(state.root))
    assert ports == [ports[0]] * 3


def test_client_of_a_server_that_moved_is_told_where(tmp_path, monkeypatch):
    from lsst.ctrl.bps.panda.local.state.state_dir import StateDir
    from lsst.ctrl.bps.panda.wms.idds_port import local_panda_hint

    state = StateDir(tmp_path / "state")
    monkeypatch.setenv("PANDA_LOCAL_STATE_DIR", str(state.root))
    monkeypatch.setenv("PANDA_URL_SSL", "http://127.0.0.1:1/server/panda")
    assert "is not running: panda_local start" in local_panda_hint()
    state.acquire()
    try:
        state.write_record(4242)
        assert "moved to http://127.0.0.1:4242/server/panda" in local_panda_hint()
        assert 'eval "$(panda_local env)"' in local_panda_hint()
    finally:
        state.release()


# -- 5. cancel -----------------------------------------------------------------------------------
def test_cancelled_run_reports_unfinished_jobs_deleted_and_a_second_cancel_says_it_ended(
    local_panda, shell_dag, idds_api, unwrap, wait_request, tmp_path
):
    from lsst.ctrl.bps import WmsStates
    from lsst.ctrl.bps.panda import PanDAService

    started = tmp_path / "started"
    dag = shell_dag("cancelled")
    dag.task("a", {"a0": [], "a1": []}, f"test ${{IN/L}} = a0 || {{ touch {started}; exec sleep 60; }}")
    dag.task("b", {"b0": [("a", "a0")], "b1": [("a", "a1")]}, "sleep 60")
    request_id = unwrap(idds_api.submit(dag.workflow))
    wait_until(started.exists, 30, "a1 to start")
    service = PanDAService({})
    ok, message = service.cancel(str(request_id))
    assert ok, message
    assert wait_request(request_id)["status"].name == "Cancelled"
    (report,), _ = service.report(str(request_id))
    counts = report.job_state_counts
    assert report.state == WmsStates.DELETED
    assert counts[WmsStates.SUCCEEDED] == 1  # a0
    assert counts[WmsStates.DELETED] == 3 and counts[WmsStates.PRUNED] == 0
    assert counts[WmsStates.FAILED] == 0
    ok, message = service.cancel(str(request_id))
    assert not ok and message == f"nothing to cancel: request {request_id} has already ended (Cancelled)"


# -- 6. smaller defects --------------------------------------------------------------------------
def _raw_post(token, body):
    import httpx
    from support.loopback import TEST_PANDA_URL

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{TEST_PANDA_URL}/relay_idds_command", content=body, headers=headers, timeout=60)


def test_compression_bomb_is_refused_at_the_cap_in_the_envelope(local_panda):
    import zlib

    from lsst.ctrl.bps.panda.local.core.wire_codec import MAX_BODY_BYTES

    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * 1024**2
    bomb = b"".join(compressor.compress(chunk) for _ in range(MAX_BODY_BYTES // len(chunk) + 8))
    bomb += compressor.flush()
    assert len(bomb) < 2 * 1024**2
    reply = _raw_post(local_panda.token, bomb)
    assert reply.status_code == 200
    ok, message = reply.json()
    assert ok is False and "larger than" in message


def test_request_without_the_token_is_refused_before_its_body_is_read(local_panda):
    import socket

    from support.loopback import TEST_PANDA_PORT

    for authorization, status in ((b"", b"401"), (b"Authorization: Bearer wrong\r\n", b"403")):
        with socket.create_connection(("127.0.0.1", TEST_PANDA_PORT), timeout=20) as sock:
            # Announce 50 MB and send none of it: the answer must come from the headers alone.
            sock.sendall(
                b"POST /server/panda/relay_idds_command HTTP/1.1\r\nHost: x\r\n"
                + authorization
                + b"Content-Length: 50000000\r\n\r\n"
            )
            reply = b""
            for _ in range(100):  # bounded: the server closes the connection after its answer
                part = sock.recv(4096)
                if not part:
                    break
                reply += part
        assert reply.split(b" ")[1] == status, reply
        assert b"bearer token" in reply.lower()


def test_deeply_nested_json_gets_the_false_envelope_not_an_html_500(local_panda):
    nested = "[" * 100000 + "]" * 100000
    body = json.dumps({"command_name": "get_requests", "kwargs": nested, "manager": True}).encode()
    for raw in (body, ("{" + '"a":' * 0 + '"command_name": ' + nested + "}").encode()):
        reply = _raw_post(local_panda.token, raw)
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
        value = reply.json()
        assert value[0] is False or value[1][0] is False
        assert "nested too deeply" in json.dumps(value)


def test_empty_token_file_gets_a_new_token(tmp_path):
    from lsst.ctrl.bps.panda.local.state.state_dir import StateDir

    state = StateDir(tmp_path / "state")
    state.ensure()
    state.token_path.write_text("\n")
    state.token_path.chmod(0o600)
    assert state.read_token() is None
    token = state.token()
    assert len(token) > 20 and state.read_token() == token
    assert state.token_path.stat().st_mode & 0o777 == 0o600


def test_read_only_state_directory_is_a_clear_message(tiny_tmpfs):
    (tiny_tmpfs / "state").mkdir()
    subprocess.run([*(_as_root() or []), "mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
    for background in ([], ["--background"]):
        done = panda_local("start", *background, "--state-dir", str(tiny_tmpfs / "state"))
        assert done.returncode == 1
        assert "cannot write the state directory" in done.stderr and "Traceback" not in done.stderr


def test_peak_rss_is_the_payloads_not_the_servers(local_panda, idds_api, unwrap, wait_request, shell_dag):
    import psutil

    server_mb = psutil.Process().memory_info().rss / 1024**2
    assert server_mb > 60
    dag = shell_dag("small_rss")
    dag.task("t", {"t1": []}, "sleep 0.5")
    request_id = unwrap(idds_api.submit(dag.workflow))
    wait_request(request_id)
    job = next(iter(unwrap(idds_api.get_contents_output_ext(request_id=request_id)).values()))[0]
    assert job["max_rss"] is not None and job["max_rss"] / 1024 < min(40, server_mb / 2)


def test_lost_exit_status_is_never_success(tmp_path):
    from lsst.ctrl.bps.panda.local.pilot.executor import Executor, LaunchSpec, Outcome

    executor = Executor(dict(os.environ), launch_tag="test")
    pid, _ = executor.launch(LaunchSpec(7, 1000, "exit 3", tmp_path / "7", rss_limit=None, walltime=None))
    os.waitpid(pid, 0)  # someone else reaps it: the status is gone
    (tmp_path / "7" / ".panda_local_exit_code").unlink()
    (end,) = executor.wait([7])
    assert end.outcome == Outcome.LOST and end.exit_code is None
    pid, _ = executor.launch(LaunchSpec(8, 1000, "exit 3", tmp_path / "8", rss_limit=None, walltime=None))
    os.waitpid(pid, 0)
    (end,) = executor.wait([8])
    assert (end.outcome, end.exit_code) == (Outcome.FAILED, 3)  # from the wrapper's file


def test_engine_waits_on_exits_instead_of_polling(
    local_panda, shell_dag, idds_api, unwrap, wait_request, monkeypatch
):
    executor = local_panda.engine.executor
    monkeypatch.setattr(executor, "sample_interval", 30.0)  # no memory samples to wake for
    polls = []
    really_poll = executor.poll
    monkeypatch.setattr(executor, "poll", lambda: polls.append(1) or really_poll())
    dag = shell_dag("quiet")
    dag.task("t", {"t1": []}, "sleep 1")
    request_id = unwrap(idds_api.submit(dag.workflow))
    assert wait_request(request_id)["status"].name == "Finished"
    # Polling every 2 ms passes ~500 times in that second; waiting on the exit passes a few times.
    assert len(polls) < 20


def test_persistent_engine_fault_is_logged_once_with_back_off(local_panda, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="lsst.ctrl.bps.panda")
    engine = local_panda.engine
    calls = []

    def broken():
        calls.append(time.monotonic())
        raise RuntimeError("scheduling is broken")

    monkeypatch.setattr(engine.executor, "enforce_limits", broken)
    engine._poke()
    wait_until(lambda: len(calls) >= 3, 30, "three failing engine passes")
    monkeypatch.undo()
    tracebacks = [r for r in caplog.records if "Engine pass failed" in r.message]
    assert len(tracebacks) == 1 and tracebacks[0].exc_info
    first_pause, second_pause = calls[1] - calls[0], calls[2] - calls[1]
    assert first_pause >= 0.4 and second_pause > first_pause  # backs off: 0.5 s, 1 s, 2 s...


def test_memory_killed_job_is_named_in_the_report():
    from lsst.ctrl.bps.panda.wms.wms_report import run_report_from_records

    records = [
        {
            "request_id": 5,
            "name": "wf",
            "status": "SubFinished",
            "transform_name": "wf_01_step1_01",  # {workflow}_{NN}_{label}_{CC}
            "transform_id": 1,
            "transform_workload_id": 1001,
            "transform_status": "SubFinished",
            "output_total_files": 1,
            "output_failed_files": 1,
        }
    ]
    contents = {
        "1": [
            {
                "name": "j1",
                "status": "FinalFailed",
                "trans_exit_code": 137,
                "pilot_error_code": 1235,
                "pilot_error_diag": "Payload exceeded memory limit: 900 MB RSS > 512 MB",
            }
        ]
    }
    report = run_report_from_records(records, contents)
    assert report.exit_code_summary == {"step1": [137]}
    text = str(report.specific_info)
    assert "step1: 1 job(s) killed for exceeding their memory" in text and "900 MB RSS > 512 MB" in text


def test_prepare_into_a_submitted_directory_keeps_its_workflow_files(local_panda, tmp_path):
    from lsst.ctrl.bps.panda import PanDAService
    from lsst.ctrl.bps.panda.wms.submission import AlreadySubmittedError
    from support.bps_configs import make_config
    from support.service_runs import LOCAL_SITE, shell_workflow, submit

    config = make_config(str(tmp_path / "submit"), site=LOCAL_SITE)
    _service, prepared = submit(config, shell_workflow("wf", {"ok": ("a", "true")}), tmp_path / "submit")
    written = {path: path.read_bytes() for path in (tmp_path / "submit").rglob("*") if path.is_file()}
    with pytest.raises(AlreadySubmittedError, match=f"already holds the submitted request {prepared.run_id}"):
        PanDAService(config).prepare(
            config, shell_workflow("wf", {"other": ("b", "false")}), str(tmp_path / "submit")
        )
    assert {path: path.read_bytes() for path in written} == written
