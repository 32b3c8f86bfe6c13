# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Our CRIC files: one queue per memory class of config/bps_local.yaml, all at one site."""

import json
from pathlib import Path

import yaml
from lsst.ctrl.bps.panda.local.panda.cric_queues import MEMORY_CLASSES, RSE, SITE, write_cric

CONFIG = Path(__file__).resolve().parents[3] / "config" / "bps_local.yaml"


def test_queues_are_the_memory_classes_of_the_local_site_config(tmp_path):
    write_cric(tmp_path / "cric", tmp_path / "rse")
    queues = json.loads((tmp_path / "cric" / "panda_queues.json").read_text())
    config = yaml.safe_load(CONFIG.read_text())
    site = config["site"][SITE]
    classes = {c["queue"]: c["maxMemory"] for c in site["memoryClasses"]}
    assert config["computeSite"] == SITE
    for queue, limit in classes.items():
        assert queues[queue]["maxrss"] == limit and queues[queue]["site"] == SITE
    bounds = sorted(MEMORY_CLASSES[q] for q in classes)
    pairs = zip(bounds, bounds[1:], strict=False)
    assert all(low == previous_high + 1 for (_, previous_high), (low, _) in pairs)
    sites = json.loads((tmp_path / "cric" / "sites.json").read_text())
    assert set(sites[SITE]["presources"][SITE]) == set(queues) == {*classes, site["mergeQueue"]}
    endpoints = json.loads((tmp_path / "cric" / "ddm_endpoints.json").read_text())
    assert endpoints[RSE]["rprotocols"]["0"]["path"] == str(tmp_path / "rse") and (tmp_path / "rse").is_dir()
