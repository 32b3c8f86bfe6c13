# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Re-record the real relay's envelopes from the real PanDA relay and iDDS REST server.

They are package data of the testing kit: ``python/lsst/ctrl/bps/panda/testing/envelopes/real/``.

Usage (from the repository root): ``make record-envelopes``, or
``.venv/bin/python tests/real_idds/record_envelopes.py [OUT_DIR]``.

Starts the servers as the contract tests do (`real_servers.RealServers`), makes every call the
plugin makes through the unmodified PanDA client, and writes each reply (``[ok, value]``, the
relay's reply body, re-encoded with iDDS-JSON) to ``<call>.json``.  No iDDS daemons run, so
requests stay New.  ``lifecycle_run2.json`` (a request followed to SubFinished by the real iDDS
daemons) is not recorded here: it comes from the prototype in ``shared/real-idds`` (see the
README beside the envelopes).
"""

import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from support.local_panda import ShellDag  # noqa: E402  (support sets loopback PanDA URLs before pandaclient)
from support.paths import ENVELOPES_DIR  # noqa: E402
from support.real_servers import RealServers, servers_venv_python  # noqa: E402

UNKNOWN = 987654


def _workflow(name: str) -> object:
    dag = ShellDag(name)
    dag.task(f"{name}_01_a_01", {"a1": [], "a2": []}, "echo ${IN/L}")
    dag.task(f"{name}_02_b_01", {"b1": [(f"{name}_01_a_01", "a1")]}, "echo ${IN/L}")
    dag.final(f"{name}_03_final_01", "true", after=[f"{name}_02_b_01"])
    return dag.workflow


def _record_build_calls(api: object, save: object) -> None:
    """Record the remote build's calls: submit_build, update_build_request and its refusals."""
    from lsst.ctrl.bps.panda.remote_build.build_submission import build_workflow
    from support.bps_configs import remote_build_settings

    settings = remote_build_settings()
    build = build_workflow("recorded_build", settings, "echo build")
    (work,) = build.template.works.values()
    built = _workflow("recorded_built")
    request_id = save("submit_build", api.submit_build(build, username=None, use_dataset_name=False))
    save("get_requests_build_new", api.get_requests(request_id=request_id, with_detail=True))
    save(
        "update_build_request_wrong_signature",
        api.update_build_request(request_id=request_id, signature="wrong", workflow=built),
    )
    signature = work.get_signature()
    save(
        "update_build_request",
        api.update_build_request(request_id=request_id, signature=signature, workflow=built),
    )
    save("get_requests_built", api.get_requests(request_id=request_id, with_detail=True))
    save(
        "update_build_request_again",
        api.update_build_request(request_id=request_id, signature=signature, workflow=built),
    )
    save(
        "update_build_request_unknown",
        api.update_build_request(request_id=UNKNOWN, signature=signature, workflow=built),
    )


def _point_client_at(url: str) -> None:
    from pandaclient import Client

    Client.baseURL = Client.baseURLSSL = url


def record(out_dir: Path) -> None:
    """Start the servers, record every call into ``out_dir``, stop the servers."""
    from idds.common.utils import json_dumps
    from lsst.ctrl.bps.panda.wms.idds_port import IddsPort

    python = servers_venv_python()
    if python is None:
        raise SystemExit("run `make real-idds-venv` first")
    servers = RealServers(python).start()
    try:
        for name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL"):
            os.environ[name] = servers.panda_url
        os.environ["PANDA_AUTH"] = "x509"
        os.environ["X509_USER_PROXY"] = str(servers.user_cert)
        os.environ.pop("PANDA_AUTH_ID_TOKEN", None)
        _point_client_at(servers.panda_url)
        api = IddsPort(attempts=1).api

        def save(name: str, reply: tuple) -> object:
            status, body = reply
            assert status == 0, f"{name}: HTTP/transport failure {reply}"
            (out_dir / f"{name}.json").write_text(json.dumps(json.loads(json_dumps(body)), indent=1) + "\n")
            print(f"{name}: {json_dumps(body)[:120]}")
            return body[1] if body[0] else None

        save("ping", api.ping())
        submitted = api.submit(_workflow("recorded"), username="ignored", use_dataset_name=False)
        request_id = save("submit", submitted)
        with tempfile.TemporaryDirectory() as cache:
            step = _workflow("stepped").split_workflow_to_steps(request_cache=cache, max_request_length=50)[0]
            save("submit_step", api.submit(step, username="ignored", use_dataset_name=False))
        save("get_requests_new", api.get_requests(request_id=request_id, with_detail=False))
        save("get_requests_detail_new", api.get_requests(request_id=request_id, with_detail=True))
        save("get_contents_output_ext_new", api.get_contents_output_ext(request_id=request_id))
        save("get_requests_unknown", api.get_requests(request_id=UNKNOWN, with_detail=False))
        save("get_contents_output_ext_unknown", api.get_contents_output_ext(request_id=UNKNOWN))
        save("abort", api.abort(request_id=request_id))
        save("retry", api.retry(request_id=request_id))
        save("abort_unknown", api.abort(request_id=UNKNOWN))
        save("retry_unknown", api.retry(request_id=UNKNOWN))
        save("relay_unknown_command", api.no_such_command())
        _record_build_calls(api, save)
        began = time.monotonic()
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            nobody_there = f"http://127.0.0.1:{closed.getsockname()[1]}/idds"
        _point_client_at(servers.start_relay(idds_host=nobody_there))
        save("idds_down", api.get_requests(request_id=request_id, with_detail=False))
        print(f"idds_down took {time.monotonic() - began:.0f} s (the relay's own retries)")
    finally:
        servers.stop()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ENVELOPES_DIR / "real"
    target.mkdir(parents=True, exist_ok=True)
    record(target)
