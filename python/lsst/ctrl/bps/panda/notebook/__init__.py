# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""A PanDA run as a notebook or a script sees it.

Layer: above `wms` and `prepare`; below the service facade's users.

Modules
-------
`panda_run`
    `PandaRun` and `submit`: submit, follow, report, cancel and restart one run.
`run_table`
    `RunTable`: the per-label table of a run (plain structure, HTML and text).
`progress_bars`
    Progress bars per label (tqdm; widgets in Jupyter).
"""

__all__: list[str] = []
