# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The PanDA task/job API that the real iDDS daemons talk to (the idds engine).

Layer: above `engine`; below `http`.

Modules
-------
`panda_api`
    The ``/api/v1`` routes of PanDA's task/job API.
`panda_tasks`
    PanDA tasks and jobs as JEDI keeps them (write side).
`panda_task_reads`
    What the daemons read of those tasks.
`panda_records`
    Task parameters, job and file records in PanDA's shapes.
`job_spec_keys`
    The keys of the real server's job records we send as null.
`final_reruns`
    The final task runs again after a retry's re-run tasks.
"""

__all__: list[str] = []
