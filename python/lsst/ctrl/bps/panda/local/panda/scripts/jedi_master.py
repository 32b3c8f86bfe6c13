# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Run real JEDI's master (``pandajedi.jediorder.JediMaster``) in the foreground.

Run as a script by the servers' virtualenv, never imported by the plugin.  ``JediMaster.py`` run
as a script daemonises itself (python-daemon) and changes user; the stack runs it in a process
group of its own instead and ends the group.  SIGTERM asks the agents to stop, as JEDI's own
handler does, then ends the group.

Usage: ``python jedi_master.py``
"""

import os
import signal
import time

__all__ = ["main"]


def main() -> None:
    """Start every JEDI agent of ``panda_jedi.cfg`` and wait for them."""
    from pandajedi.jediorder.JediMaster import JediMaster

    master = JediMaster()

    def stop(signum, frame):
        master.stop()
        time.sleep(2)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    master.start()


if __name__ == "__main__":
    main()
