# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The event service: several payloads (quanta) of one label per PanDA job.

Users ask for it per label (``enableEventService: isr:20,step1``), with the
published plugin's keys and meaning:

- ``label:<n>`` runs ``n`` payloads per PanDA job; a bare ``label`` runs
  ``maxPayloadsPerPandaJob`` (default 10);
- when a job has ``requestWalltime`` and ``maxWmsJobWalltime`` is set, payloads
  per job = ``maxWmsJobWalltime // requestWalltime`` instead; below 2 the label
  runs one PanDA job per payload (logged as a warning);
- the task's walltime limit becomes ``requestWalltime × payloads`` (or
  ``maxWmsJobWalltime`` when the job has no ``requestWalltime``);
- jobs go by the order-id map (``<label>:orderIdMap_<n>``), whatever map was chosen.

iDDS (``DomaPanDAWork`` with ``es=True``) groups a task's dependency-map entries
by contiguous ``order_id`` into pseudo inputs ``<label>:eventservice_<start>^<n>``
(at most ``max_events_per_job`` each); the pilot runs event ``k`` (1-based) of
such a job with the argument ``<label>:eventservice_<start>^<k>``, which the
decoder reads as order id ``start + k - 1`` of the label in the order-id map.
iDDS turns the event service off with only a log line when order ids are
missing or repeated, and loses every run of order ids but the last when they
are not contiguous: `check_event_service_work` makes prepare stop instead.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import PandaConfigError, PandaPrepareError

__all__ = [
    "EventServiceSettings",
    "check_event_service_work",
    "check_order_ids",
    "jobs_with_parents_last",
    "parse_event_service",
]

_LOG = logging.getLogger(__name__)

MIN_PAYLOADS = 2
"""Below this many payloads per job the event service is off for the label (as in the published plugin)."""


@dataclasses.dataclass(frozen=True, slots=True)
class EventServiceSettings:
    """Which labels run several payloads per PanDA job, and how many."""

    labels: Mapping[str, int | None]
    """Payloads per job by label, `None` where ``maxPayloadsPerPandaJob`` applies."""
    max_payloads_per_job: int
    """``maxPayloadsPerPandaJob``."""
    max_job_walltime: int | None
    """``maxWmsJobWalltime`` (seconds), or `None`."""

    def payloads_per_job(self, label: str, request_walltime: int | None) -> int | None:
        """Return how many payloads of ``label`` one PanDA job runs, `None` without the event service.

        Parameters
        ----------
        label : `str`
            The jobs' label.
        request_walltime : `int` or `None`
            The jobs' ``requestWalltime`` (seconds).
        """
        if label not in self.labels:
            return None
        payloads = self.labels[label] or self.max_payloads_per_job
        if request_walltime and self.max_job_walltime:
            payloads = self.max_job_walltime // request_walltime
            if payloads < MIN_PAYLOADS:
                _LOG.warning(
                    "Label %s runs one PanDA job per payload: maxWmsJobWalltime (%d s) holds %d payload(s) "
                    "of requestWalltime %d s; the event service needs at least %d",
                    label,
                    self.max_job_walltime,
                    payloads,
                    request_walltime,
                    MIN_PAYLOADS,
                )
                return None
        return payloads

    def task_walltime(self, request_walltime: int | None, payloads: int) -> int | None:
        """Return the walltime limit of a PanDA job running ``payloads`` payloads (`None`: the default).

        Parameters
        ----------
        request_walltime : `int` or `None`
            The jobs' ``requestWalltime`` (seconds).
        payloads : `int`
            Payloads one PanDA job runs.
        """
        if request_walltime:
            return request_walltime * payloads
        return self.max_job_walltime


def _as_positive(key: str, value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise PandaConfigError(f"{key} must be a positive integer, got {value!r}") from None
    if number < 1:
        raise PandaConfigError(f"{key} must be a positive integer, got {value!r}")
    return number


def parse_event_service(
    value: Any, max_payloads_per_job: Any, max_job_walltime: Any
) -> EventServiceSettings | None:
    """Read ``enableEventService``, ``maxPayloadsPerPandaJob`` and ``maxWmsJobWalltime``.

    Parameters
    ----------
    value : `str`, `list` or `None`
        ``enableEventService``: ``"isr:20,step1"`` or a list of such entries.
    max_payloads_per_job : `int` or `str`
        ``maxPayloadsPerPandaJob``.
    max_job_walltime : `int`, `str` or `None`
        ``maxWmsJobWalltime`` (seconds).

    Returns
    -------
    settings : `EventServiceSettings` or `None`
        `None` when no label asks for the event service.

    Raises
    ------
    PandaConfigError
        Raised if a value is malformed (the message names the key and the entry).
    """
    if value is None or value == "" or value is False:
        return None
    if isinstance(value, str):
        entries = value.split(",")
    elif isinstance(value, Sequence) and not isinstance(value, bytes):
        entries = [str(entry) for entry in value]
    else:
        raise PandaConfigError(
            f"enableEventService must list labels, as 'label[:payloadsPerJob],...', got {value!r}"
        )
    labels: dict[str, int | None] = {}
    for entry in (entry.strip() for entry in entries):
        if not entry:
            continue
        label, sep, count = (part.strip() for part in entry.partition(":"))
        if not label or (sep and not count):
            raise PandaConfigError(
                f"enableEventService entry {entry!r} is not 'label' or 'label:payloadsPerJob'"
            )
        if label in labels:
            raise PandaConfigError(f"enableEventService names label {label!r} twice")
        labels[label] = _as_positive(f"enableEventService entry {entry!r}", count) if sep else None
    if not labels:
        return None
    walltime = None if max_job_walltime in (None, "") else _as_positive("maxWmsJobWalltime", max_job_walltime)
    return EventServiceSettings(
        labels=labels,
        max_payloads_per_job=_as_positive("maxPayloadsPerPandaJob", max_payloads_per_job),
        max_job_walltime=walltime,
    )


def jobs_with_parents_last(
    names: list[str], full_names: list[str], pred: Mapping[str, Mapping[str, Any]]
) -> tuple[list[str], list[str]]:
    """Return a label's jobs (and their pseudo inputs) with the jobs that have parents last.

    iDDS (2.6.21) holds a task's PanDA inputs until their parents are done only when its *last*
    event-service pseudo input has dependencies (``create_processing`` keeps the last group's
    flag); otherwise PanDA starts every job at once, parents or not.  With the jobs that have
    parents given the highest order ids, the last group has parents whenever any group has.

    Parameters
    ----------
    names : `list` [`str`]
        Job names of the label.
    full_names : `list` [`str`]
        Pseudo input names of those jobs, in the same order.
    pred : `~collections.abc.Mapping` [`str`, `~collections.abc.Mapping`]
        Parents of each job, by job name (the workflow's predecessor table).
    """
    order = sorted(range(len(names)), key=lambda i: bool(pred[names[i]]))  # stable: False first
    return [names[i] for i in order], [full_names[i] for i in order]


def check_order_ids(label: str, task_name: str, entries: Sequence[Mapping[str, Any]]) -> None:
    """Check that a task's order ids are what the event service needs, before iDDS sees them.

    iDDS maps event ``k`` of ``<label>:eventservice_<start>^<n>`` to order id
    ``start + k - 1``; the decoder finds that order id's job in the order-id map
    under ``<label>:orderIdMap_<order id>``.  So every entry needs an integer
    order id, unique and contiguous within the task, and its name must be the
    order-id map name of that order id.

    Parameters
    ----------
    label : `str`
        Label of the task's jobs.
    task_name : `str`
        Name of the task.
    entries : `~collections.abc.Sequence` [`~collections.abc.Mapping` [`str`, `typing.Any`]]
        The task's pseudo input entries, each with its ``name`` and ``order_id``.

    Raises
    ------
    PandaPrepareError
        Raised if iDDS would disable the event service, lose jobs, or map an
        event to another job (the message names the label and the task).
    """
    where = f"Label {label!r} (task {task_name}), enableEventService"
    raw_orders = [entry.get("order_id") for entry in entries]
    orders = [order for order in raw_orders if isinstance(order, int) and not isinstance(order, bool)]
    if len(orders) != len(raw_orders):
        raise PandaPrepareError(
            f"{where}: a job has no integer order_id; iDDS would disable the event service"
        )
    if len(set(orders)) != len(orders):
        raise PandaPrepareError(f"{where}: order ids repeat; iDDS would disable the event service")
    if orders and max(orders) - min(orders) + 1 != len(orders):
        raise PandaPrepareError(
            f"{where}: order ids {min(orders)}..{max(orders)} have gaps; iDDS would run only the last "
            "contiguous run of them"
        )
    for entry in entries:
        if entry["name"] != f"{label}:orderIdMap_{entry['order_id']}":
            raise PandaPrepareError(
                f"{where}: job {entry['name']!r} has order id {entry['order_id']}; events would run "
                "another job's payload"
            )


def check_event_service_work(work: Any, label: str) -> None:
    """Check that iDDS kept the event service on a work and gave every job an event.

    Runs after ``DomaPanDAWork`` built its event-service pseudo inputs, with
    iDDS's own code, so a fallback it takes silently stops prepare here.

    Parameters
    ----------
    work : `idds.doma.workflowv2.domapandawork.DomaPanDAWork`
        A work made with ``es=True``.
    label : `str`
        Its jobs' label.

    Raises
    ------
    PandaPrepareError
        Raised if the event service is off or a job is in no event-service pseudo input.
    """
    where = f"Label {label!r} (task {work.task_name}), enableEventService"
    if not work.es:
        raise PandaPrepareError(f"{where}: iDDS disabled the event service for this task (see its log)")
    covered = sum(len(group["order_ids"]) for group in work.es_files.values())
    missing = [entry["name"] for entry in work.dependency_map if "es_name" not in entry]
    if missing or covered != len(work.dependency_map):
        raise PandaPrepareError(
            f"{where}: iDDS put {covered} of {len(work.dependency_map)} jobs into event-service pseudo "
            f"inputs (left out: {missing[:5]})"
        )
    groups = list(work.es_files.values())
    if any(group["has_dependencies"] for group in groups) and not groups[-1]["has_dependencies"]:
        raise PandaPrepareError(
            f"{where}: its last event-service pseudo input has no parents while others have: iDDS "
            "would let PanDA start every job of the task before their parents are done"
        )
    prefix = f"{label}:eventservice_"
    if any(not name.startswith(prefix) for name in work.es_files):
        raise PandaPrepareError(
            f"{where}: iDDS named its pseudo inputs {list(work.es_files)[:3]}, not {prefix}..."
        )
