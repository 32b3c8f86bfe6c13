# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The scheduling thread of the local PanDA, and its rules.

Layer: above `pilot`; below `embedded`, `jedi` and `idds`.

Modules
-------
`engine_thread`
    `LocalPanda`: one thread that schedules, launches and reaps.
`held_records`
    `HeldRecords`: pids and ends held until recorded, and the storage fault that holds them.
`resume_attempts`
    Take over, at start, the attempts a previous server left running.
`scheduler`
    Scheduling rules, each state change one transaction.
`slot_policy`
    How many jobs run at once, by cores, queue and memory.
`retry`
    Retry of an ended request.
`build_requests`
    Build requests in the store: plan, record, release.
`engine_plugin`
    `Engine`: the plug point of the workflow engines (embedded, idds).
"""

__all__: list[str] = []
