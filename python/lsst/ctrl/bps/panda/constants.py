# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published 30.x module of defaults: the values this package applies, under the published names.

Keys of the shipped ``config/bps_panda.yaml`` are read from it (our defaults, which may differ from
the published ones: ``priority``, ``maxJobsPerTask``, ``maxRequestLength`` 0 for no limit).  The
others are what a job gets when its submit YAML sets nothing: ctrl_bps's own defaults
(``requestMemory``, ``requestCpus``, ``numberOfRetries``) and this package's limits.
"""

from lsst.ctrl.bps import BPS_DEFAULTS

from .prepare.settings import DEFAULT_RSS_MAX, shipped_default
from .prepare.task_work import DEFAULT_WALLTIME

__all__ = [
    "PANDA_DEFAULT_CLOUD",
    "PANDA_DEFAULT_CORE_COUNT",
    "PANDA_DEFAULT_MAX_ATTEMPTS",
    "PANDA_DEFAULT_MAX_COPY_WORKERS",
    "PANDA_DEFAULT_MAX_JOBS_PER_TASK",
    "PANDA_DEFAULT_MAX_PAYLOADS_PER_PANDA_JOB",
    "PANDA_DEFAULT_MAX_REQUEST_LENGTH",
    "PANDA_DEFAULT_MAX_WALLTIME",
    "PANDA_DEFAULT_NAME_LENGTH",
    "PANDA_DEFAULT_ORDER_ID_MAP_FILE",
    "PANDA_DEFAULT_PRIORITY",
    "PANDA_DEFAULT_PROCESSING_TYPE",
    "PANDA_DEFAULT_PROD_SOURCE_LABEL",
    "PANDA_DEFAULT_RSS",
    "PANDA_DEFAULT_RSS_MAX",
    "PANDA_DEFAULT_TASK_TYPE",
    "PANDA_DEFAULT_VO",
]

PANDA_DEFAULT_PROD_SOURCE_LABEL: str = shipped_default("prodSourceLabel")
PANDA_DEFAULT_PROCESSING_TYPE: str | None = None
"""No default: a task has a processing type only when the submit YAML sets ``processingType``."""
PANDA_DEFAULT_TASK_TYPE: str = shipped_default("taskType")
PANDA_DEFAULT_VO: str = shipped_default("vo")
PANDA_DEFAULT_PRIORITY: int = shipped_default("priority")
PANDA_DEFAULT_MAX_JOBS_PER_TASK: int = shipped_default("maxJobsPerTask")
PANDA_DEFAULT_RSS: int = int(BPS_DEFAULTS["requestMemory"])
PANDA_DEFAULT_RSS_MAX: int = DEFAULT_RSS_MAX
PANDA_DEFAULT_MAX_WALLTIME: int = DEFAULT_WALLTIME
PANDA_DEFAULT_MAX_ATTEMPTS: int = int(BPS_DEFAULTS["numberOfRetries"]) + 1
"""PanDA counts the first attempt: ctrl_bps's ``numberOfRetries`` plus one."""
PANDA_DEFAULT_CORE_COUNT: int = int(BPS_DEFAULTS["requestCpus"])
PANDA_DEFAULT_CLOUD: str = shipped_default("computeCloud")
PANDA_DEFAULT_MAX_COPY_WORKERS: int = shipped_default("maxCopyWorkers")
PANDA_DEFAULT_MAX_PAYLOADS_PER_PANDA_JOB: int = shipped_default("maxPayloadsPerPandaJob")
PANDA_DEFAULT_ORDER_ID_MAP_FILE: str = shipped_default("orderIdMapFilename")
PANDA_DEFAULT_NAME_LENGTH: int = shipped_default("maxNameLength")
PANDA_DEFAULT_MAX_REQUEST_LENGTH: int = shipped_default("maxRequestLength")
"""0: requests are not split by length unless ``maxRequestLength`` is set."""
