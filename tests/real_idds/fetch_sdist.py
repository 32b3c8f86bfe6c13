# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Download the panda-server sdist from PyPI's simple index, checked against a pinned sha256.

``pip download`` cannot fetch this sdist without building its metadata, and that build fails as
root (its build hook looks up the user ``atlpan``): fetch the archive itself, then patch and
build it (``install_servers.sh``).
"""

import hashlib
import json
import sys
import urllib.request
from pathlib import Path

SDISTS = {
    ("panda-server", "1.0.4"): (
        "panda_server-1.0.4.tar.gz",
        "f77a8b62511c11e224eb270a4abf48ee07e89fe791e2e1f8460390cbe2285620",
    ),
}


def main(name: str, version: str, out_dir: str) -> None:
    filename, sha256 = SDISTS[(name, version)]
    index = urllib.request.Request(
        f"https://pypi.org/simple/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(index, timeout=120) as reply:
        (entry,) = [f for f in json.load(reply)["files"] if f["filename"] == filename]
    with urllib.request.urlopen(entry["url"], timeout=300) as reply:
        data = reply.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise SystemExit(f"sha256 mismatch for {filename}")
    target = Path(out_dir) / filename
    target.write_bytes(data)
    print(target)


if __name__ == "__main__":
    main(*sys.argv[1:4])
