# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""An attempt as the pilot sees it: what to launch, how it ended, and PanDA's error codes for it."""

from __future__ import annotations

import dataclasses
import enum
import time
from pathlib import Path

__all__ = ["PANDA_KILL", "PAYLOAD_EXCEEDED_MEMORY", "REACHED_MAX_TIME", "AttemptEnd", "LaunchSpec", "Outcome"]

PAYLOAD_EXCEEDED_MEMORY = 1235
"""PanDA pilot error code PAYLOADEXCEEDMAXMEM."""


REACHED_MAX_TIME = 1213
"""PanDA pilot error code REACHEDMAXTIME."""

PANDA_KILL = 1144
"""PanDA pilot error code PANDAKILL: the server told the pilot to kill the job."""


class Outcome(enum.StrEnum):
    """How an attempt ended (stored as the attempt's status)."""

    OK = "finished"
    """Exit code 0."""
    FAILED = "failed"
    """Non-zero exit code."""
    MEMORY = "memory"
    """Killed above its memory (rss) limit."""
    WALLTIME = "walltime"
    """Killed past its wall time."""
    CANCELLED = "cancelled"
    """Killed because its request was aborted."""
    LOST = "lost"
    """The server stopped while it ran and its end is unknown; not counted against the job."""


@dataclasses.dataclass(slots=True)
class LaunchSpec:
    """What the pilot needs to run one attempt."""

    attempt_id: int
    """Also the attempt's PanDA job id (``PANDAID``)."""
    workload_id: int
    """PanDA task id (``PanDA_TaskID``)."""
    command: str
    workdir: Path
    rss_limit: int | None
    """MB; `None` or 0: no limit."""
    walltime: int | None
    """Seconds; `None` or 0: no limit."""
    cores: int = 1
    queue: str = ""


@dataclasses.dataclass(slots=True)
class AttemptEnd:
    """How one attempt ended."""

    attempt_id: int
    outcome: Outcome
    exit_code: int | None
    peak_rss_mb: float | None = None
    error_code: int | None = None
    error_diag: str | None = None
    ended_at: float = dataclasses.field(default_factory=time.time)
