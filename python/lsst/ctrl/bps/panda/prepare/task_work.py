# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""One iDDS ``DomaPanDAWork`` (a PanDA task) from a `TaskSpec` and its dependency-map entries."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Set
from typing import Any

from idds.doma.workflowv2.domapandawork import DomaPanDAWork

from .event_service import EventServiceSettings, check_event_service_work, check_order_ids
from .task_spec import TaskSpec

__all__ = [
    "DEFAULT_WALLTIME",
    "FRAGMENTED_LABEL_TASKS",
    "new_work",
    "task_log",
    "warn_about_fragmented_labels",
    "warn_about_unused_labels",
]

_LOG = logging.getLogger(__name__)

DEFAULT_WALLTIME = 90000
"""Walltime limit (s) of a task whose jobs set none, as production PanDA gets it from the published plugin."""


def new_work(
    name: str,
    spec: TaskSpec,
    entries: list[dict],
    index: int,
    event_service: EventServiceSettings | None,
) -> DomaPanDAWork:
    """Return the iDDS work of one PanDA task.

    Parameters
    ----------
    name : `str`
        Task name.
    spec : `TaskSpec`
        What the task's jobs share.
    entries : `list` [`dict`]
        Its dependency-map entries (one per job).
    index : `int`
        Task number in the workflow (names its pseudo collections).
    event_service : `EventServiceSettings` or `None`
        The workflow's event-service settings; `None` for none (and for the final job).

    Returns
    -------
    work : `idds.doma.workflowv2.domapandawork.DomaPanDAWork`
        The work, with the event-service fields set when its label asks for them.

    Raises
    ------
    PandaPrepareError
        Raised if iDDS would not run the label's jobs as events (names the label).
    """
    payloads, walltime, es_fields = _event_service_fields(name, spec, entries, event_service)
    # The values production PanDA sees from the published plugin (30.x) where the job leaves them open.
    settings = spec.settings
    work = DomaPanDAWork(
        executable=spec.executable,
        primary_input_collection={"scope": "pseudo_dataset", "name": f"pseudo_input_collection#{index}"},
        output_collections=[{"scope": "pseudo_dataset", "name": f"pseudo_output_collection#{index}"}],
        log_collections=[],
        dependency_map=entries,
        task_name=name,
        task_queue=spec.choice.queue,
        encode_command_line=True,
        task_rss=spec.rss or 0,
        task_rss_max=spec.rss_max,
        task_rss_retry_step=spec.rss_retry_step,
        # Without a retry step PanDA keeps the request on retries (retryRamOffset = request).
        task_rss_retry_offset=0 if spec.rss_retry_step else (spec.rss or 0),
        task_cloud=settings.cloud,
        task_site=spec.site,
        task_priority=spec.priority,
        core_count=spec.cores,
        maxwalltime=walltime if walltime is not None else DEFAULT_WALLTIME,
        maxattempt=spec.max_attempt,
        processing_type=settings.processing_type,
        prodSourceLabel=settings.prod_source_label,
        task_type=settings.task_type,
        vo=settings.vo,
        working_group=spec.working_group,
        task_log=task_log(),
        **es_fields,
    )
    if payloads is not None:
        check_event_service_work(work, spec.label)
        _LOG.debug("Task %s: %d payloads per PanDA job (%d jobs)", name, payloads, len(work.es_files))
    return work


def task_log() -> dict[str, str]:
    """Return where a PanDA task's job logs go (``log.tgz`` per job), as the published plugin sends it.

    A new dict each call: iDDS keeps the one it is given in the work.
    """
    return {
        "destination": "local",
        "value": "log.tgz",
        "dataset": "PandaJob_#{pandaid}/",
        "token": "local",
        "param_type": "log",
        "type": "template",
    }


def _event_service_fields(
    name: str, spec: TaskSpec, entries: list[dict], event_service: EventServiceSettings | None
) -> tuple[int | None, int | None, dict[str, Any]]:
    """Return the payloads per PanDA job, the walltime and the event-service fields of a task's work."""
    payloads = event_service.payloads_per_job(spec.label, spec.walltime) if event_service else None
    walltime = spec.walltime
    es_fields: dict[str, Any] = {}
    if payloads is not None:
        assert event_service is not None
        check_order_ids(spec.label, name, entries)
        walltime = event_service.task_walltime(spec.walltime, payloads)
        es_fields = {"es": True, "es_label": spec.label, "max_events_per_job": payloads}
    return payloads, walltime, es_fields


def warn_about_unused_labels(event_service: EventServiceSettings | None, labels: Set[str]) -> None:
    """Warn about labels in ``enableEventService`` that no job of the workflow has (a typo?).

    Parameters
    ----------
    event_service : `EventServiceSettings` or `None`
        The event-service settings, `None` if the event service is off.
    labels : `~collections.abc.Set` [`str`]
        Labels of the workflow's jobs.
    """
    if event_service is None:
        return
    if unused := sorted(set(event_service.labels) - labels):
        _LOG.warning(
            "enableEventService names label(s) %s, which no job of this workflow has (labels: %s)",
            ", ".join(unused),
            ", ".join(sorted(labels)),
        )


FRAGMENTED_LABEL_TASKS = 20
"""A label split into more task shapes than this gets a warning."""


def warn_about_fragmented_labels(labels: Iterable[str]) -> None:
    """Warn when jobs of one label differ so much that they land in many task shapes.

    Parameters
    ----------
    labels : `~collections.abc.Iterable` [`str`]
        The label of each task shape (a label once per shape).
    """
    for label, count in Counter(labels).items():
        if count > FRAGMENTED_LABEL_TASKS:
            _LOG.warning(
                "Label %s splits into %d PanDA tasks because its jobs differ in command line, files or "
                "resource requests (e.g. per-job quantum graph files, whenSaveJobQgraph other than NEVER); "
                "PanDA handles few large tasks better",
                label,
                count,
            )
