# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""How many jobs the local PanDA runs at once.

`SlotPolicy` bounds them by cores (``--max-jobs``), per queue, and by memory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ..pilot.attempts import LaunchSpec

__all__ = ["SlotPolicy"]


@dataclasses.dataclass(slots=True)
class SlotPolicy:
    """How many jobs may run at once.

    Attributes
    ----------
    max_cores : `int`
        Total cores; a job takes ``core_count`` of them (at most all).
    memory_mb : `int`
        Memory for running jobs: the sum of their ``rss`` stays below it;
        a job asking more than all of it runs only alone.
    queue_slots : `dict` [`str`, `int`]
        Jobs at most per queue, from the server's options (``--queue-slots``);
        any other queue the submitted tasks name may use every core, within
        ``memory_mb``.
    """

    max_cores: int
    memory_mb: int
    queue_slots: dict[str, int] = dataclasses.field(default_factory=dict)

    def slots_of(self, queue: str) -> int:
        """Return the number of jobs a queue may run at once.

        Parameters
        ----------
        queue : `str`
            The queue.
        """
        return self.queue_slots.get(queue, self.max_cores)

    def admits(
        self, running: Iterable[LaunchSpec], queue_running: int, queue: str, cores: int, rss: int
    ) -> bool:
        """Return whether one more job fits next to the running ones.

        Parameters
        ----------
        running : `~collections.abc.Iterable` [`LaunchSpec`]
            The attempts running now.
        queue_running : `int`
            How many of them run in the job's queue.
        queue : `str`
            The job's queue.
        cores : `int`
            Cores the job asks for.
        rss : `int`
            Memory the job asks for, in MB.
        """
        running = list(running)
        if queue_running >= self.slots_of(queue):
            return False
        used_cores = sum(min(spec.cores, self.max_cores) for spec in running)
        if used_cores + min(cores, self.max_cores) > self.max_cores:
            return False
        if not running:
            return True
        used_memory = sum(spec.rss_limit or 0 for spec in running)
        return used_memory + (rss or 0) <= self.memory_mb
