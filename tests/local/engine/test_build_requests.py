# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The local PanDA's remote build pieces, through the unmodified PanDA client.

Build requests (``submit_build``, ``update_build_request``: New → Building → Built → the run
under the same id, iDDS's refusals) and the file cache (``Client.putFile`` / ``Client.getFile``).
"""

import json
import re
import time

import httpx
import pytest
from lsst.ctrl.bps.panda.remote_build.build_submission import build_workflow
from lsst.ctrl.bps.panda.wms.idds_port import IddsCallError, IddsPort
from support.bps_configs import remote_build_settings
from support.local_panda import call_ok
from support.loopback import TEST_PANDA_URL
from support.paths import ENVELOPES_DIR

pytestmark = [pytest.mark.real_servers, pytest.mark.timeout(120)]

CACHE_ROOT = TEST_PANDA_URL.rsplit("/server/panda", 1)[0]
REAL_ENVELOPES = ENVELOPES_DIR / "real"


def local_settings():
    """The build job's settings on the local PanDA's site and queue."""
    return remote_build_settings(site="LOCAL", queue="LOCAL_CONVENTIONAL", rss=100)


def statuses_until(api, request_id, final, timeout=60.0):
    """Poll a request's status names (bounded) until one of ``final``; return the names seen in order."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (record,) = call_ok(api.get_requests(request_id=request_id))
        name = record["status"].name
        if not seen or seen[-1] != name:
            seen.append(name)
        if name in final:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"request {request_id} never reached {final}: {seen}")


def run_workflow(shell_dag, name="built"):
    dag = shell_dag(name)
    dag.task(f"{name}_01_a_01", {"a1": [], "a2": []}, "echo ${IN/L}")
    dag.task(f"{name}_02_b_01", {"b1": [(f"{name}_01_a_01", "a1")]}, "echo ${IN/L}")
    return dag.workflow


def test_build_request_runs_its_job_then_the_handed_back_workflow_under_the_same_id(
    local_panda, idds_api, shell_dag, tmp_path
):
    release = tmp_path / "release"
    # The build job shows iDDS's variables, then waits for the test to hand the workflow back.
    job = f'echo "$IDDS_BUILD_REQUEST_ID $IDDS_BUIL_SIGNATURE" > {tmp_path}/seen; '
    job += f"until [ -e {release} ]; do sleep 0.05; done"
    workflow = build_workflow("remote", local_settings(), job)
    (work,) = workflow.template.works.values()
    port = IddsPort(attempts=1)
    request_id = port.submit_build(workflow)
    assert statuses_until(idds_api, request_id, {"Building"})[-1] == "Building"
    assert port.get_requests(request_id, with_detail=True)[0]["transform_name"] == "build_task"

    answer = port.update_build_request(request_id, work.get_signature(), run_workflow(shell_dag))
    assert answer == {"request_id": str(request_id)}
    assert (tmp_path / "seen").read_text().split() == [str(request_id), work.get_signature()]
    (record,) = call_ok(idds_api.get_requests(request_id=request_id))
    assert record["status"].name in ("Built", "Transforming")
    release.touch()
    seen = statuses_until(idds_api, request_id, {"Finished", "SubFinished", "Failed"})
    assert seen[-1] == "Finished"
    tasks = {r["transform_name"]: r for r in port.get_requests(request_id, with_detail=True)}
    assert set(tasks) == {"build_task", "built_01_a_01", "built_02_b_01"}
    assert {name: r["output_processed_files"] for name, r in tasks.items()} == {
        "build_task": 1,
        "built_01_a_01": 2,
        "built_02_b_01": 1,
    }


def test_update_build_request_refuses_what_idds_refuses(local_panda, shell_dag):
    port = IddsPort(attempts=1)
    workflow = build_workflow("refusals", local_settings(), "sleep 30")
    (work,) = workflow.template.works.values()
    request_id = port.submit_build(workflow)
    with pytest.raises(IddsCallError, match=r"has a different signature\(wrong != "):
        port.update_build_request(request_id, "wrong", run_workflow(shell_dag, "r1"))
    port.update_build_request(request_id, work.get_signature(), run_workflow(shell_dag, "r2"))
    # Real iDDS drops the build workflow once built: a second hand-back fails on its absence.
    with pytest.raises(IddsCallError, match=r"(?s)Core exception.*'build_workflow'"):
        port.update_build_request(request_id, work.get_signature(), run_workflow(shell_dag, "r3"))
    with pytest.raises(IddsCallError, match="Request 987654 is not found"):
        port.update_build_request(987654, work.get_signature(), run_workflow(shell_dag, "r4"))
    port.abort(request_id)


def test_refusals_read_as_the_real_relays(local_panda, idds_api, shell_dag):
    # Byte for byte what the real relay answered (testing/envelopes/real/update_build_request_*.json).
    recorded = json.loads((REAL_ENVELOPES / "update_build_request_wrong_signature.json").read_text())
    workflow = build_workflow("texts", local_settings(), "sleep 30")
    (work,) = workflow.template.works.values()
    request_id = call_ok(idds_api.submit_build(workflow, username=None, use_dataset_name=False))
    reply = idds_api.update_build_request(request_id=request_id, signature="wrong", workflow=workflow)
    expected = recorded[1][1].replace(recorded_signature(recorded), work.get_signature())
    expected = re.sub(r"request_id: \d+\)", f"request_id: {request_id})", expected)
    assert reply == (0, [True, [False, expected]])
    for name in ("update_build_request_again", "update_build_request_unknown"):
        recorded = json.loads((REAL_ENVELOPES / f"{name}.json").read_text())
        target = 987654 if name.endswith("unknown") else request_id
        if name.endswith("again"):
            call_ok(
                idds_api.update_build_request(
                    request_id=target, signature=work.get_signature(), workflow=workflow
                )
            )
        reply = idds_api.update_build_request(
            request_id=target, signature=work.get_signature(), workflow=workflow
        )
        assert reply == (0, recorded)
    idds_api.abort(request_id=request_id)


def recorded_signature(envelope):
    return envelope[1][1].split("signature(wrong != ")[1].split(")")[0]


def test_a_cancelled_build_request_takes_no_workflow(local_panda, idds_api, shell_dag):
    port = IddsPort(attempts=1)
    workflow = build_workflow("cancelled", local_settings(), "sleep 30")
    (work,) = workflow.template.works.values()
    request_id = port.submit_build(workflow)
    statuses_until(idds_api, request_id, {"Building"})
    port.abort(request_id)
    assert statuses_until(idds_api, request_id, {"Cancelled"})[-1] == "Cancelled"
    with pytest.raises(IddsCallError, match=r"has ended \(Cancelled\)"):
        port.update_build_request(request_id, work.get_signature(), run_workflow(shell_dag))
    assert [r["transform_name"] for r in port.get_requests(request_id, with_detail=True)] == ["build_task"]


def test_an_unsigned_build_work_is_refused_and_no_request_is_made(local_panda, idds_api):
    workflow = build_workflow("unsigned", local_settings(), "true")
    (work,) = workflow.template.works.values()
    work.signature = None
    with pytest.raises(IddsCallError, match="not signed"):
        IddsPort(attempts=1).submit_build(workflow)
    assert call_ok(idds_api.get_requests()) == []


def test_a_build_job_that_hands_nothing_back_fails_its_request(local_panda, idds_api):
    request_id = IddsPort(attempts=1).submit_build(build_workflow("lazy", local_settings(), "true"))
    assert statuses_until(idds_api, request_id, {"Finished", "Failed"})[-1] == "Failed"


def test_cache_keeps_what_put_file_uploads_and_get_file_returns_it(local_panda, tmp_path):
    from pandaclient import Client

    archive = tmp_path / "jobO.test-roundtrip.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 40)
    assert Client.putFile(str(archive), useCacheSrv=True) == (0, "True")
    # The real server's answer to a second upload under the same name.
    assert Client.putFile(str(archive), useCacheSrv=True) == (0, "ERROR: cannot overwrite file")
    target = tmp_path / "downloaded"
    assert Client.getFile(archive.name, output_path=str(target)) == (0, True)
    assert target.read_bytes() == archive.read_bytes()
    assert (local_panda.state.root / "cache" / archive.name).read_bytes() == archive.read_bytes()


def test_cache_refuses_without_the_token_and_above_the_size_limit(local_panda, tmp_path):
    from pandaclient import Client

    assert httpx.get(f"{CACHE_ROOT}/cache/anything.tar.gz").status_code == 401
    upload = httpx.post(
        f"{CACHE_ROOT}/api/v1/file_server/upload_cache_file", files={"file": ("x.tar.gz", b"data")}
    )
    assert upload.status_code == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert httpx.get(f"{CACHE_ROOT}/cache/anything.tar.gz", headers=wrong).status_code == 403
    assert Client.getFile("not-there.tar.gz", output_path=str(tmp_path / "x"))[0] == 404
    big = tmp_path / "jobO.big.tar.gz"
    big.write_bytes(b"0" * (10 * 1024**2 + 1))
    # The PanDA client checks the limit itself; sent anyway, the server refuses it as the real one does.
    token = {"Authorization": f"Bearer {local_panda.token}"}
    with big.open("rb") as stream:
        reply = httpx.post(
            f"{CACHE_ROOT}/api/v1/file_server/upload_cache_file",
            files={"file": (big.name, stream)},
            headers=token,
            timeout=60,
        )
    assert reply.json()["success"] is False
    assert reply.json()["message"].startswith("ERROR: upload failure. Exceeded size limit 10 MB > 10 MB")
    assert not (local_panda.state.root / "cache" / big.name).exists()
