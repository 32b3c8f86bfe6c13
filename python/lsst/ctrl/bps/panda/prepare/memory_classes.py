# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Memory classes: which queue a job goes to, and the memory limits of its task.

A site declares an ordered list of memory classes (DMTN-168: conventional, high,
extra_high).  A job goes to the smallest class whose ``maxMemory`` holds its
``request_memory``; an explicit queue wins; ``preemptible: false`` picks the
class's non-preemptible queue; the final job goes to the merge queue.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import PandaConfigError, PandaPrepareError

__all__ = ["MemoryClass", "MemoryRouter", "QueueChoice", "parse_memory_classes"]


_KNOWN_KEYS = frozenset({"name", "maxMemory", "queue", "queueNonPreemptible"})


@dataclasses.dataclass(frozen=True, slots=True)
class MemoryClass:
    """One memory class of a site.

    Attributes
    ----------
    name : `str`
        Class name (``conventional``, ``high``, ...).
    max_memory : `int`
        Largest memory request (MB) the class holds.
    queue : `str`
        PanDA queue for preemptible jobs.
    queue_non_preemptible : `str`
        PanDA queue for jobs that must not be preempted (the preemptible
        queue when the site has no separate one).
    """

    name: str
    max_memory: int
    queue: str
    queue_non_preemptible: str


@dataclasses.dataclass(frozen=True, slots=True)
class QueueChoice:
    """Where a job goes and the memory limit that comes with it.

    Attributes
    ----------
    class_name : `str`
        Memory class name, ``explicit`` when the job named its queue, ``merge``
        for the final job, ``default`` when the site has no memory classes.
    queue : `str` or `None`
        PanDA queue (`None` lets PanDA broker by site).
    max_memory : `int` or `None`
        Memory ceiling of the class (MB), `None` when unbounded.
    """

    class_name: str
    queue: str | None
    max_memory: int | None


def parse_memory_classes(raw: Any, key: str = "memoryClasses") -> list[MemoryClass]:
    """Validate and order a site's memory-class list from configuration.

    Parameters
    ----------
    raw : `list` [`dict`] or `None`
        The configured list: each item has ``name``, ``maxMemory``, ``queue``
        and optionally ``queueNonPreemptible``.
    key : `str`, optional
        Configuration key, for error messages.

    Returns
    -------
    classes : `list` [`MemoryClass`]
        Classes in increasing ``maxMemory``.

    Raises
    ------
    PandaConfigError
        Raised if an entry is malformed, or two classes share a name or limit.
    """
    if raw is None or raw == "":
        return []
    if isinstance(raw, Mapping) or isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
        raise PandaConfigError(f"{key} must be a list of {{name, maxMemory, queue}} entries, got {raw!r}")
    classes = []
    for position, item in enumerate(raw):
        where = f"{key}[{position}]"
        if not isinstance(item, Mapping):
            raise PandaConfigError(f"{where} must be a mapping with name, maxMemory and queue, got {item!r}")
        unknown = set(item) - _KNOWN_KEYS
        if unknown:
            raise PandaConfigError(
                f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(_KNOWN_KEYS)}"
            )
        for required in ("name", "maxMemory", "queue"):
            if item.get(required) in (None, ""):
                raise PandaConfigError(f"{where} is missing '{required}'")
        try:
            max_memory = int(item["maxMemory"])
        except (TypeError, ValueError):
            raise PandaConfigError(
                f"{where}.maxMemory must be an integer (MB), got {item['maxMemory']!r}"
            ) from None
        if max_memory <= 0:
            raise PandaConfigError(f"{where}.maxMemory must be positive, got {max_memory}")
        queue = str(item["queue"])
        classes.append(
            MemoryClass(
                name=str(item["name"]),
                max_memory=max_memory,
                queue=queue,
                queue_non_preemptible=str(item.get("queueNonPreemptible") or queue),
            )
        )
    classes.sort(key=lambda mc: mc.max_memory)
    for first, second in zip(classes, classes[1:], strict=False):
        if first.max_memory == second.max_memory:
            raise PandaConfigError(f"{key}: classes {first.name} and {second.name} share maxMemory")
    names = [mc.name for mc in classes]
    if len(set(names)) != len(names):
        raise PandaConfigError(f"{key}: class names must be unique, got {names}")
    return classes


class MemoryRouter:
    """Route jobs to queues by memory request.

    Parameters
    ----------
    classes : `list` [`MemoryClass`]
        The site's classes (any order).
    merge_queue : `str` or `None`
        Queue of the final job.
    """

    def __init__(self, classes: list[MemoryClass], merge_queue: str | None = None) -> None:
        self.classes = sorted(classes, key=lambda mc: mc.max_memory)
        self._limits = [mc.max_memory for mc in self.classes]
        self.merge_queue = merge_queue or None

    def memory_class_for(self, request_mb: int | None) -> MemoryClass | None:
        """Return the smallest class that holds ``request_mb``.

        Parameters
        ----------
        request_mb : `int` or `None`
            Memory request in MB (`None` or 0 fits the smallest class).

        Returns
        -------
        memory_class : `MemoryClass` or `None`
            `None` when the site has no classes or the request exceeds them all.
        """
        if not self.classes:
            return None
        index = bisect.bisect_left(self._limits, request_mb or 0)
        return self.classes[index] if index < len(self.classes) else None

    def choose(
        self,
        *,
        job_name: str,
        label: str,
        request_mb: int | None,
        explicit_queue: str | None,
        preemptible: bool | None,
        is_final: bool = False,
    ) -> QueueChoice:
        """Pick the queue of one job.

        Parameters
        ----------
        job_name : `str`
            Job name, for error messages.
        label : `str`
            Job label, for error messages.
        request_mb : `int` or `None`
            Memory request in MB.
        explicit_queue : `str` or `None`
            Queue the job asked for; wins over memory routing.
        preemptible : `bool` or `None`
            `False` selects the non-preemptible queue of the class.
        is_final : `bool`, optional
            The final job goes to the merge queue when the site has one.

        Returns
        -------
        choice : `QueueChoice`
            Queue and memory ceiling for the job.

        Raises
        ------
        PandaPrepareError
            Raised if the request is above the largest class.
        """
        if is_final and self.merge_queue:
            return QueueChoice("merge", self.merge_queue, None)
        if explicit_queue:
            return QueueChoice("explicit", explicit_queue, None)
        if not self.classes:
            return QueueChoice("default", None, None)
        memory_class = self.memory_class_for(request_mb)
        if memory_class is None:
            largest = self.classes[-1]
            raise PandaPrepareError(
                f"Job {job_name!r} (label {label!r}) requests {request_mb} MB, above the largest memory "
                f"class {largest.name!r} ({largest.max_memory} MB) of this site. Lower requestMemory "
                f"for {label!r}, set an explicit queue for it, or add a larger class to memoryClasses."
            )
        queue = memory_class.queue if preemptible is not False else memory_class.queue_non_preemptible
        return QueueChoice(memory_class.name, queue, memory_class.max_memory)
