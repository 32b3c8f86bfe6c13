# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Run the panda-server daemons the stack needs, in a short loop.

Run as a script by the servers' virtualenv, never imported by the plugin.  In production
``pandaserver.daemons.master`` runs some twenty daemons every 2-40 minutes; a job's end reported
by the pilot is made final only by the adder (``add_main``: ``holding`` -> ``finished``/``failed``,
its files and the task's counters).  Here the adder runs every `PERIOD` seconds, with no grace
period, sharing one task buffer.

Usage: ``python panda_daemons.py``
"""

import time
import traceback

__all__ = ["PERIOD", "main"]

PERIOD = 5
"""Seconds between two runs of the adder."""


def main() -> None:
    """Run the adder forever."""
    from pandaserver.config import panda_config
    from pandaserver.daemons.scripts import add_main
    from pandaserver.taskbuffer.TaskBuffer import taskBuffer

    taskBuffer.init(panda_config.dbhost, panda_config.dbpasswd, nDBConnection=1, useTimeout=True)
    while True:
        try:
            add_main.main(argv=["add_main", "0", "2"], tbuf=taskBuffer)
        except Exception:
            traceback.print_exc()
        time.sleep(PERIOD)


if __name__ == "__main__":
    main()
