# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Run real JEDI's master (``pandajedi.jediorder.JediMaster``) in the foreground.

Run as a script by the servers' virtualenv, never imported by the plugin.  ``JediMaster.py`` run
as a script daemonises itself (python-daemon) and changes user; the stack runs it in a process
group of its own instead and ends the group.  SIGTERM asks the agents to stop, as JEDI's own
handler does, then ends the group.

**Our workaround of a JEDI bug on PostgreSQL 15** (`patch_failure_metrics_sql`, applied before
JEDI starts, in this one place): ``MetricsModule.get_task_failure_metrics``, which
``retryTask_JEDI`` calls for a failed task, selects from a subquery without an alias, which only
PostgreSQL >= 16 accepts; on 15 the retry of a failed task fails and nothing reruns.  The patch
gives that subquery an alias (``AS failure_metrics``) and changes nothing else.  It is ours, not
panda-server's; it fails loudly if the SQL text changes (a newer panda-server).

Usage: ``python jedi_master.py`` (``--check-patch``: apply the patch, print the SQL text the
patched method holds, exit).

Usage: ``python jedi_master.py``
"""

import inspect
import os
import signal
import sys
import textwrap
import time

__all__ = ["PATCHED_SUBQUERY_END", "main", "patch_failure_metrics_sql"]

SUBQUERY_END = 'f")"\n'
"""The end of the subquery in panda-server 1.0.4's ``get_task_failure_metrics`` (no alias)."""

PATCHED_SUBQUERY_END = 'f") AS failure_metrics"\n'
"""The same end with an alias (PostgreSQL 15 needs one)."""


def patch_failure_metrics_sql() -> str:
    """Give ``get_task_failure_metrics``'s subquery an alias; return the patched method's source.

    Raises
    ------
    RuntimeError
        Raised if the method's SQL is not panda-server 1.0.4's (the patch would do nothing).
    """
    from pandaserver.taskbuffer.db_proxy_mods import metrics_module

    method = metrics_module.MetricsModule.get_task_failure_metrics
    source = textwrap.dedent(inspect.getsource(method))
    if source.count(SUBQUERY_END) != 1:
        raise RuntimeError(
            "get_task_failure_metrics's SQL is not panda-server 1.0.4's: the PostgreSQL 15 patch of "
            "local/panda/scripts/jedi_master.py no longer applies"
        )
    patched = source.replace(SUBQUERY_END, PATCHED_SUBQUERY_END)
    namespace: dict = {}
    exec(compile(patched, metrics_module.__file__, "exec"), vars(metrics_module), namespace)  # noqa: S102
    metrics_module.MetricsModule.get_task_failure_metrics = namespace["get_task_failure_metrics"]
    return patched


def main() -> None:
    """Start every JEDI agent of ``panda_jedi.cfg`` and wait for them."""
    from pandajedi.jediorder.JediMaster import JediMaster

    patch_failure_metrics_sql()  # before JEDI's agents fork
    master = JediMaster()

    def stop(signum, frame):
        master.stop()
        time.sleep(2)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    master.start()


if __name__ == "__main__":
    if sys.argv[1:] == ["--check-patch"]:
        patch_failure_metrics_sql()
        from pandaserver.taskbuffer.db_proxy_mods.metrics_module import MetricsModule

        # The SQL text the running method holds (its code's string constants).
        code = MetricsModule.get_task_failure_metrics.__code__
        print("\n".join(c for c in code.co_consts if isinstance(c, str) and "jediTaskID" in c))
    else:
        main()
