# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""BpsConfig objects as `bps submit` builds them (ctrl_bps defaults + plugin defaults + a site)."""

from typing import Any

from lsst.ctrl.bps import BpsConfig
from lsst.ctrl.bps.bps_config import BPS_DEFAULTS, BPS_SEARCH_ORDER
from lsst.ctrl.bps.panda.prepare.settings import RemoteBuildSettings

IDF_CLASSES = [
    {"name": "conventional", "maxMemory": 4000, "queue": "DOMA_LSST_GOOGLE_TEST"},
    {
        "name": "high",
        "maxMemory": 10500,
        "queue": "DOMA_LSST_GOOGLE_TEST_HIMEM",
        "queueNonPreemptible": "DOMA_LSST_GOOGLE_TEST_HIMEM_NON_PREEMPT",
    },
    {
        "name": "extra_high",
        "maxMemory": 117500,
        "queue": "DOMA_LSST_GOOGLE_TEST_EXTRA_HIMEM",
        "queueNonPreemptible": "DOMA_LSST_GOOGLE_TEST_EXTRA_HIMEM_NON_PREEMPT",
    },
]


def make_config(submit_path: str, site: dict[str, Any] | None = None, **overrides: Any) -> BpsConfig:
    """Return a submission config with site TEST (IDF memory classes unless ``site`` is given)."""
    site_section = {"memoryClasses": IDF_CLASSES, "mergeQueue": "DOMA_LSST_GOOGLE_MERGE"}
    if site is not None:
        site_section = site
    values = {
        "submitPath": submit_path,
        "computeSite": "TEST",
        "site": {"TEST": site_section},
        **overrides,
    }
    return BpsConfig(
        values,
        search_order=BPS_SEARCH_ORDER,
        defaults=BPS_DEFAULTS,
        wms_service_class_fqn="lsst.ctrl.bps.panda.PanDAService",
    )


def remote_build_settings(**overrides: Any) -> RemoteBuildSettings:
    """Return the settings of a build job on site TEST_SITE, without a config file.

    The priority, VO and source label are what the build work got when none was configured.
    """
    values: dict[str, Any] = dict(
        files=(),
        runner_command="unused",
        upload_attempts=1,
        upload_backoff=0.0,
        site="TEST_SITE",
        queue="TEST_QUEUE",
        cloud=None,
        rss=4000,
        rss_max=None,
        memory_multiplier=None,
        max_attempt=1,
        processing_type=None,
        priority=900,
        vo="wlcg",
        prod_source_label="managed",
    )
    values.update(overrides)
    return RemoteBuildSettings(**values)
