# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The local PanDA's state: state directory and SQLite store.

Layer: above `core`; below `pilot`.

Modules
-------
`state_dir`
    Layout of a state directory: database, keys, server record, lock.
`schema`
    Every table and index of the SQLite store, versioned; migrations of older databases.
`store`
    The SQLite store: requests, tasks, jobs, attempts.
`request_rows`
    Rows of a new request for the store.
`event_table`
    PanDA's event table for fine-grained (event-service) jobs.
"""

__all__: list[str] = []
