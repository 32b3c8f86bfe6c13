# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published ``constants`` names hold the defaults this package applies, from ``bps_panda.yaml``."""

import yaml
from lsst.ctrl.bps import BPS_DEFAULTS
from lsst.ctrl.bps.panda import constants
from lsst.ctrl.bps.panda.prepare.settings import defaults_path

SHIPPED_KEYS = {
    "PANDA_DEFAULT_PROD_SOURCE_LABEL": "prodSourceLabel",
    "PANDA_DEFAULT_TASK_TYPE": "taskType",
    "PANDA_DEFAULT_VO": "vo",
    "PANDA_DEFAULT_PRIORITY": "priority",
    "PANDA_DEFAULT_MAX_JOBS_PER_TASK": "maxJobsPerTask",
    "PANDA_DEFAULT_CLOUD": "computeCloud",
    "PANDA_DEFAULT_MAX_COPY_WORKERS": "maxCopyWorkers",
    "PANDA_DEFAULT_MAX_PAYLOADS_PER_PANDA_JOB": "maxPayloadsPerPandaJob",
    "PANDA_DEFAULT_ORDER_ID_MAP_FILE": "orderIdMapFilename",
    "PANDA_DEFAULT_NAME_LENGTH": "maxNameLength",
    "PANDA_DEFAULT_MAX_REQUEST_LENGTH": "maxRequestLength",
}


def test_every_published_name_is_kept():
    published = {
        "PANDA_DEFAULT_PROCESSING_TYPE", "PANDA_DEFAULT_RSS", "PANDA_DEFAULT_RSS_MAX",
        "PANDA_DEFAULT_MAX_WALLTIME", "PANDA_DEFAULT_MAX_ATTEMPTS", "PANDA_DEFAULT_CORE_COUNT",
    } | SHIPPED_KEYS.keys()  # fmt: skip
    assert set(constants.__all__) == published


def test_the_values_of_shipped_keys_are_those_of_bps_panda_yaml():
    shipped = yaml.safe_load(defaults_path().read_text())
    assert {name: getattr(constants, name) for name in SHIPPED_KEYS} == {
        name: shipped[key] for name, key in SHIPPED_KEYS.items()
    }


def test_job_defaults_are_ctrl_bps_ones_and_attempts_count_the_first():
    assert constants.PANDA_DEFAULT_RSS == BPS_DEFAULTS["requestMemory"]
    assert constants.PANDA_DEFAULT_CORE_COUNT == BPS_DEFAULTS["requestCpus"]
    assert constants.PANDA_DEFAULT_MAX_ATTEMPTS == BPS_DEFAULTS["numberOfRetries"] + 1
    assert constants.PANDA_DEFAULT_PROCESSING_TYPE is None
