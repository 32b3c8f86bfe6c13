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
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from support.envelope_calls import make_recorded_calls  # noqa: E402  (support sets loopback PanDA URLs first)
from support.paths import ENVELOPES_DIR  # noqa: E402
from support.real_servers import RealServers, servers_venv_python  # noqa: E402


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

        request_id = make_recorded_calls(api, save)
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
