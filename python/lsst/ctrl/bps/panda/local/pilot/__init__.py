# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The pilot of the local PanDA: run attempts, watch their memory and time.

Layer: above `state`; below `engine`.

Modules
-------
`executor`
    Launch attempts, measure their peak RSS, kill them at their limits.
`attempts`
    An attempt's launch spec, its end and its outcome (PanDA's error codes).
`job_environment`
    The environment of every attempt (the installation's roots, where the token is).
`process_tree`
    What the executor asks the operating system about processes.
`launch_faults`
    Launch tokens and storage errors: surviving the server's own faults.
`pilot_api`
    A client of the real panda-server's pilot API (``acquire_jobs``, ``update_job``, event ranges).
`panda_pilot`
    The executor as a pilot of the real panda-server, speaking that API as pilot3 does.
`pilot_loop`
    One such pilot per queue in a thread (``--engine panda``), at most ``--max-jobs`` jobs in all.
"""

__all__: list[str] = []
