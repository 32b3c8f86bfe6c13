# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Our CRIC files: the queues, sites and storage of the real PanDA stack, by memory class.

panda-server's configurator reads CRIC's JSON from ``CRIC_URL_*`` (``file://`` URLs here) into its
tables.  The queues are those of ``config/bps_local.yaml``'s memory classes, with the brokerage
bounds of `MEMORY_CLASSES` (``minrss``/``maxrss``, MB), so that JEDI's brokerage by ``ramCount``
picks the class of a task submitted without a site.

Naming (a workaround of the recipe): every queue belongs to one CRIC *site*, `SITE` (``LOCAL``),
since JEDI's generic job brokerage refuses a task whose ``PandaSite`` is not the CRIC site of its
queue ("wrong PandaSite"): ``DomaPanDAWork`` sends ``computeSite`` as ``PandaSite``, which
``config/bps_local.yaml`` sets to ``LOCAL``.  All queues are in cloud ``US`` (``computeCloud``'s
default: a task without a cloud waits for a task broker, which no VO but ATLAS has) and write to
one storage endpoint, `RSE`, a directory of the stack.  ``catchall: allow_no_pilot`` lets JEDI
broker to a queue before a pilot heartbeat was seen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["MEMORY_CLASSES", "RSE", "SITE", "cric_documents", "write_cric"]

SITE = "LOCAL"
"""The CRIC site of every queue (``computeSite`` of ``config/bps_local.yaml``)."""

RSE = "LOCAL_DISK"
"""The one storage endpoint (RSE) of every queue."""

MEMORY_CLASSES: dict[str, tuple[int, int]] = {
    "LOCAL_CONVENTIONAL": (0, 4000),
    "LOCAL_HIMEM": (4001, 10500),
    "LOCAL_EXTRA_HIMEM": (10501, 117500),
    "LOCAL_MERGE": (0, 4000),
}
"""Queue name -> (``minrss``, ``maxrss``) in MB, as ``config/bps_local.yaml``'s classes."""


def _queue(name: str, minrss: int, maxrss: int) -> dict[str, Any]:
    return {
        "name": name,
        "panda_resource": name,
        "nickname": name,
        "siteid": name,
        "atlas_site": SITE,
        "site": SITE,
        "rc_site": SITE,
        "cloud": "US",
        "country": "US",
        "vo_name": "wlcg",
        "type": "production",
        "resource_type": "GRID",
        "status": "online",
        "state": "ACTIVE",
        "capability": "score",
        "workflow": "pull_ups",
        "pilot_manager": "local",
        "harvester": "",
        "corecount": 1,
        "maxrss": maxrss,
        "minrss": minrss,
        "maxtime": 86400,
        "mintime": 0,
        "maxwdir": 100000,
        "maxinputsize": 50000,
        "memory": 0,
        "space": 0,
        "tier": "T1",
        "tier_level": 1,
        "catchall": "allow_no_pilot",
        "container_type": "",
        "container_options": "",
        "is_cvmfs": False,
        "direct_access_lan": False,
        "direct_access_wan": False,
        "jobseed": "std",
        "ddm": RSE,
        "astorages": {"read_lan": [RSE], "write_lan": [RSE]},
        "acopytools": {"pr": ["mv"], "pw": ["mv"], "pl": ["mv"], "pls": ["mv"]},
        "copytools": {"mv": {"setup": ""}},
        "params": {},
        "pilot_version": "current",
        "python_version": "3",
        "releases": [],
        "validatedreleases": "",
        "objectstores": [],
        "maxwdir_per_core": 100000,
        "timefloor": 0,
        "fairsharepolicy": "",
        "transferringlimit": 0,
    }


def cric_documents(storage: Path) -> dict[str, Any]:
    """Return each CRIC file's name and content.

    Parameters
    ----------
    storage : `pathlib.Path`
        The directory of the storage endpoint `RSE`.
    """
    path = str(storage)
    protocol = {"endpoint": "file://", "path": path, "flavour": "POSIX"}
    endpoint = {
        "name": RSE,
        "rse": RSE,
        "state": "ACTIVE",
        "token": "",
        "site": SITE,
        "rc_site": SITE,
        "type": "DATADISK",
        "is_tape": False,
        "is_deterministic": True,
        "arprotocols": {"write_lan": [protocol], "read_lan": [protocol]},
        "rprotocols": {"0": {**protocol, "activities": [["r", 1], ["w", 1]], "settings": {}}},
        "aprotocols": {"r": [[f"file://{path}", 1, 0]], "w": [[f"file://{path}", 1, 0]]},
    }
    sites = {
        SITE: {
            "name": SITE,
            "state": "ACTIVE",
            "tier_level": 1,
            "datapolicies": ["Nucleus"],
            "ddmendpoints": {RSE: {"state": "ACTIVE"}},
            "presources": {SITE: {name: {"state": "ACTIVE"} for name in MEMORY_CLASSES}},
        }
    }
    free = {"used": 0, "free": 1 << 40, "updated_at": "2026-01-01 00:00:00"}
    return {
        "panda_queues.json": {name: _queue(name, *bounds) for name, bounds in MEMORY_CLASSES.items()},
        "sites.json": sites,
        "ddm_endpoints.json": {RSE: endpoint},
        "ddm_blacklist.json": {},
        "cm.json": [],
        "rucio_rse_usage.json": {
            RSE: {
                "storage": free,
                "expired": {"used": 0},
                "min_free_space": {"used": 0},
                "unavailable": {"used": 0},
            }
        },
    }


def write_cric(directory: Path, storage: Path) -> None:
    """Write the CRIC files into ``directory``.

    Parameters
    ----------
    directory : `pathlib.Path`
        Where the files go (the configurator's ``file://`` URLs point there).
    storage : `pathlib.Path`
        The directory of the storage endpoint.
    """
    directory.mkdir(parents=True, exist_ok=True)
    storage.mkdir(parents=True, exist_ok=True)
    for name, content in cric_documents(storage).items():
        (directory / name).write_text(json.dumps(content, indent=1))
