# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""Run the real iDDS daemons (``idds.agents.main``) with idle loops that let the CPU rest.

Run as a script by the servers' virtualenv, never imported by the plugin.  Each iDDS 2.6.21 agent
polls its queues in loops that wait 10-100 µs between passes (``BaseAgent.execute``,
``TimerScheduler.execute_local``): seven agents keep a whole core busy while nothing happens,
which a laptop or a 2-core CI machine cannot spare.  Waits shorter than `MIN_WAIT` seconds are
made `MIN_WAIT` long; nothing else changes, and ``idds.agents.main`` runs as its own ``__main__``.

Usage: ``python idds_daemons.py``
"""

import runpy
import threading

__all__ = ["MIN_WAIT"]

MIN_WAIT = 0.02
"""Seconds: the shortest wait of an idle loop (the daemons' polls are seconds apart anyway)."""

_event_wait = threading.Event.wait


def _rested_wait(self: threading.Event, timeout: float | None = None) -> bool:
    if timeout is not None and timeout < MIN_WAIT:
        timeout = MIN_WAIT
    return _event_wait(self, timeout)


if __name__ == "__main__":
    threading.Event.wait = _rested_wait  # type: ignore[method-assign]
    runpy.run_module("idds.agents.main", run_name="__main__", alter_sys=True)
