# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Convert a `~lsst.ctrl.bps.GenericWorkflow` into an iDDS workflow (pure).

One PanDA task per (label, memory class, task attributes, chunk); one
dependency-map entry per job; the final job as one more task released by an
`AndCondition` over the termination of every sink task.  Cost is linear in
the number of jobs: configuration is read once per (label, site), task
attributes once per distinct job shape (`task_spec`), and every job's task is
fixed before any dependency is written, so each edge is resolved once.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from idds.doma.workflowv2.domapandawork import DomaPanDAWork
from idds.workflowv2.workflow import AndCondition, Workflow
from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowJob, GenericWorkflowNoopJob
from lsst.utils.logging import PeriodicLogger
from networkx import NetworkXUnfeasible

from .. import task_names
from ..edgenode.job_contract import NAME_MAP_PREFIX
from ..errors import PandaPrepareError
from ..gc_pause import gc_paused
from .event_service import jobs_with_parents_last
from .graph_tables import check_acyclic, dependency_entries
from .published_names import PublishedNames
from .settings import NameMode, SettingsReader, WorkflowSettings
from .task_spec import TaskSpec, TaskSpecs
from .task_work import (
    DependencyMapZipper,
    new_work,
    warn_about_fragmented_labels,
    warn_about_unused_labels,
)

__all__ = ["ConversionResult", "TaskSummary", "convert_workflow"]

_LOG = logging.getLogger(__name__)

PROGRESS_INTERVAL = 5.0
"""Seconds between progress messages on large workflows."""


@dataclasses.dataclass(frozen=True, slots=True)
class TaskSummary:
    """One line of the human summary of a prepared workflow."""

    name: str
    label: str
    jobs: int
    queue: str | None
    memory_class: str
    rss: int | None
    cores: int


@dataclasses.dataclass(slots=True)
class ConversionResult:
    """The iDDS workflow and what submit needs next to it."""

    idds_workflow: Workflow
    tasks: list[TaskSummary]
    files_to_stage: dict[str, str]
    """Source URI by name at the end point."""
    end_point: str
    job_count: int
    job_name_map: dict[int, list[str]] | None = None
    """Full pseudo input names by task number, in order, when jobs go by compact names."""
    published_map: dict[str, Any] | None = None
    """The order-id or qnode map (JSON-ready) when jobs go by the published plugin's map names."""
    published_map_file: tuple[str, str] | None = None
    """(file key, file name) under which `published_map` is staged."""
    map_zipper: DependencyMapZipper | None = None
    """iDDS zipping the works' dependency maps for the JSON, started as each work was made."""


def _is_payload(name: str, job: Any, noops: set[str]) -> bool:
    """Tell a payload job (a `GenericWorkflowJob` subclass) from a no-op job, collected into ``noops``."""
    if isinstance(job, GenericWorkflowJob):
        return True
    if isinstance(job, GenericWorkflowNoopJob):
        noops.add(name)
        return False
    raise NotImplementedError(
        f"Job group {name!r} (label {job.label!r}): job ordering groups are not supported by the "
        "PanDA plugin; remove the 'ordering' section that creates them"
    )


def _describe_run(idds_workflow: Workflow, run_attrs: dict[str, str]) -> None:
    """Carry the bps run attributes in iDDS's request columns, so reports can show them."""
    idds_workflow.campaign = run_attrs.get("bps_campaign")
    idds_workflow.campaign_scope = run_attrs.get("bps_project")
    idds_workflow.campaign_tag = run_attrs.get("bps_payload")
    # iDDS takes the request's user from the workflow unless the relay knows the authenticated one.
    idds_workflow.username = run_attrs.get("bps_operator")


def _label_rank(gw: GenericWorkflow) -> dict[str, int]:
    """Rank labels in pipeline order (the label graph's topological order)."""
    try:
        return {label: rank for rank, label in enumerate(gw.labels)}
    except NetworkXUnfeasible:  # a label graph with a cycle: fall back to first appearance
        _LOG.debug("Label graph is not a DAG; tasks are numbered in order of first appearance")
        return {}


def _task_name(workflow_name: str, index: int, label: str, chunk: int, limit: int) -> str:
    """Return the task's name (see `task_names`); a label too long for any name stops prepare."""
    try:
        return task_names.task_name(workflow_name, index, label, chunk, limit)
    except ValueError as error:
        raise PandaPrepareError(f"Label {label!r}: {error}") from None


def _chunk_sizes(count: int, limit: int) -> list[int]:
    chunks = math.ceil(count / limit)
    base, extra = divmod(count, chunks)
    return [base + 1 if i < extra else base for i in range(chunks)]


def convert_workflow(
    gw: GenericWorkflow, reader: SettingsReader, allow_job_name_map: bool = False
) -> ConversionResult:
    """Convert a generic workflow into an iDDS workflow of PanDA tasks.

    Parameters
    ----------
    gw : `lsst.ctrl.bps.GenericWorkflow`
        The workflow made by ctrl_bps.
    reader : `SettingsReader`
        Access to the submission configuration.
    allow_job_name_map : `bool`, optional
        Give jobs compact pseudo inputs (``@<task>.<order>``) backed by a
        job-name map when ``enableJobNameMap`` is set; the caller must then
        write and stage `ConversionResult.job_name_map`.

    Returns
    -------
    result : `ConversionResult`
        The iDDS workflow, its task summary and the files to stage.

    Raises
    ------
    PandaPrepareError
        Raised if a job cannot be converted (message names the job).
    NotImplementedError
        Raised for workflow features PanDA cannot run (a final job that is a
        workflow, job ordering groups).
    """
    with gc_paused(long_lived=True):
        return _convert(gw, reader, allow_job_name_map)


def _convert(gw: GenericWorkflow, reader: SettingsReader, allow_job_name_map: bool) -> ConversionResult:
    if gw.run_attrs.get("bps_iscustom"):
        raise NotImplementedError(
            "bps submitcmd (a custom job) is not supported by this PanDA plugin yet; run it with bps submit "
            "of a pipeline, or with the published plugin"
        )
    specs = TaskSpecs(gw, reader)
    check_acyclic(specs.tables)
    groups, noops, job_count = _group_jobs(specs, gw.number_of_nodes())
    warn_about_fragmented_labels([spec.label for spec, _, _ in groups.values()])
    warn_about_unused_labels(specs.wf.event_service, {spec.label for spec, _, _ in groups.values()})
    use_name_map = allow_job_name_map and specs.wf.name_mode is NameMode.COMPACT
    plan = _plan_tasks(gw, groups, specs.wf, use_name_map, specs.tables.predecessors)
    idds_workflow = Workflow(name=gw.name)
    _describe_run(idds_workflow, gw.run_attrs)
    zipper = DependencyMapZipper()
    try:
        summaries = _add_works(gw, specs, plan, noops, idds_workflow, zipper)
    except BaseException:
        zipper.close(cancel=True)
        raise
    zipper.close()
    job_count += 1 if gw.get_final() is not None else 0

    _LOG.info("Converted %d jobs into %d PanDA tasks", job_count, len(summaries))
    return ConversionResult(
        idds_workflow=idds_workflow,
        tasks=summaries,
        files_to_stage=specs.files_to_stage,
        end_point=specs.wf.end_point,
        job_count=job_count,
        job_name_map=plan.name_map,
        published_map=plan.published_names.names,
        published_map_file=(specs.map_file.key, specs.map_file.basename) if specs.map_file else None,
        map_zipper=zipper,
    )


def _add_works(
    gw: GenericWorkflow,
    specs: TaskSpecs,
    plan: _TaskPlan,
    noops: set[str],
    idds_workflow: Workflow,
    zipper: DependencyMapZipper,
) -> list[TaskSummary]:
    """Add one work per planned task, then the final job's; return the task summaries.

    Each work's dependency map starts being zipped for the JSON as soon as the work is made.
    """
    works: dict[str, DomaPanDAWork] = {}
    summaries = []
    made = dependency_entries(specs.tables.predecessors, plan.tasks, plan.reference, noops)
    for index, (task, entries) in enumerate(made, 1):
        works[task.name] = new_work(task.name, task.spec, entries, index, specs.wf.event_service)
        zipper.start(works[task.name], made_here=True)
        idds_workflow.add_work(works[task.name])
        summaries.append(_summary(task.name, task.spec, len(entries)))
    final = gw.get_final()
    if not works and final is None:
        raise PandaPrepareError(f"Workflow {gw.name!r} has no jobs to run")
    if final is not None:
        summaries.append(_add_final_job(gw, final, specs, idds_workflow, works, plan.name_map))
    return summaries


_Group = tuple[TaskSpec, list[str], list[str]]
"""A task spec, the names of its jobs and their pseudo inputs (parallel lists)."""


def _group_jobs(specs: TaskSpecs, node_count: int) -> tuple[dict[int, _Group], set[str], int]:
    """Find the task spec and pseudo input of every payload job, grouped by spec.

    Returns the groups (keyed by the spec's identity), the no-op jobs and the number of payload jobs.
    Two parallel lists per spec: no per-job lookups in a workflow-sized dict.  This loop runs once
    per job: plain jobs are told apart by their exact class, everything else by `_is_payload`.
    """
    progress = PeriodicLogger(_LOG, PROGRESS_INTERVAL)
    start = time.monotonic()
    noops: set[str] = set()
    groups: dict[int, _Group] = {}
    spec_for, pseudo_input = specs.spec_for, specs.pseudo_input
    last_spec: TaskSpec | None = None
    members: list[str] = []
    member_names: list[str] = []
    job_count = 0
    for name, data in specs.tables.nodes.items():
        job = data["job"]
        if job.__class__ is not GenericWorkflowJob and not _is_payload(name, job, noops):
            continue
        spec = spec_for(job)
        if spec is not last_spec:  # neighbours mostly share a spec: skip the group lookup
            group = groups.get(id(spec))
            if group is None:
                group = groups[id(spec)] = (spec, [], [])
            last_spec, members, member_names = spec, group[1], group[2]
        members.append(name)
        member_names.append(pseudo_input(job, spec))
        job_count += 1
        if not job_count & 0x3FFF:
            rate = job_count / max(time.monotonic() - start, 1e-9)
            progress.log(
                "prepare: %d/%d jobs (%.0f jobs/s, ETA %.0f s)",
                job_count,
                node_count,
                rate,
                (node_count - job_count) / rate,
            )
    return groups, noops, job_count


@dataclasses.dataclass(frozen=True, slots=True)
class _Task:
    """One PanDA task of the plan: its jobs in workflow order, with what PanDA sees of each."""

    name: str
    spec: TaskSpec
    members: list[str]
    """Job names, in workflow order (the order of the dependency map)."""
    input_names: list[str]
    """Pseudo input name of each member, as PanDA sees it."""
    order_ids: Sequence[int]
    """Order id of each member."""


@dataclasses.dataclass(slots=True)
class _TaskPlan:
    """The tasks of a workflow and the reference of each job, before any dependency is written."""

    tasks: list[_Task]
    """In task-number order."""
    reference: dict[str, dict[str, str]]
    """``{"task", "inputname"}`` of each payload job, one dict shared by all its children."""
    name_map: dict[int, list[str]] | None
    published_names: PublishedNames


def _plan_tasks(
    gw: GenericWorkflow,
    groups: dict[int, _Group],
    wf: WorkflowSettings,
    use_name_map: bool,
    pred: Mapping[str, Mapping[str, Any]],
) -> _TaskPlan:
    """Split the groups into tasks (pipeline order, even chunks) and give each job its reference.

    Every edge then costs a list slot, not a new dict, and every job's task is known before any
    dependency is written, so parents always resolve, whatever the order.  With a job-name map,
    PanDA sees ``@<task>.<order>`` and the worker looks up the full name.
    """
    rank = _label_rank(gw)
    ordered = sorted(groups.values(), key=lambda group: rank.get(group[0].label, len(rank)))
    plan = _TaskPlan([], {}, {} if use_name_map else None, PublishedNames(wf.name_mode))
    reference, published_names, name_map = plan.reference, plan.published_names, plan.name_map
    for index, (spec, names, full_names) in enumerate(ordered, 1):
        event_service = wf.event_service is not None and spec.label in wf.event_service.labels
        position = None
        if event_service:
            position = {name: i for i, name in enumerate(names)}
            names, full_names = jobs_with_parents_last(names, full_names, pred)
        start = 0
        for chunk, size in enumerate(_chunk_sizes(len(names), wf.max_jobs_per_task), 1):
            task_name = _task_name(gw.name, index, spec.label, chunk, wf.max_name_length)
            chunk_members = names[start : start + size]
            chunk_names = full_names[start : start + size]
            first_order = published_names.next_order(spec.label)
            if name_map is not None:
                task_number = len(plan.tasks) + 1
                name_map[task_number] = chunk_names
                chunk_names = [f"{NAME_MAP_PREFIX}{task_number}.{order}" for order in range(size)]
            else:
                chunk_names = published_names.add(spec.label, chunk_members, chunk_names)
            refs = [{"task": task_name, "inputname": input_name} for input_name in chunk_names]
            reference.update(zip(chunk_members, refs, strict=True))
            task = _Task(task_name, spec, chunk_members, chunk_names, range(first_order, first_order + size))
            if position is not None:
                task = _in_workflow_order(task, position)
            plan.tasks.append(task)
            start += size
    return plan


def _in_workflow_order(task: _Task, position: Mapping[str, int]) -> _Task:
    """Return an event-service task with its members back in workflow order, each keeping its order id."""
    order = sorted(range(len(task.members)), key=lambda i: position[task.members[i]])
    return _Task(
        task.name,
        task.spec,
        [task.members[i] for i in order],
        [task.input_names[i] for i in order],
        [task.order_ids[i] for i in order],
    )


def _add_final_job(
    gw: GenericWorkflow,
    final: Any,
    specs: TaskSpecs,
    idds_workflow: Workflow,
    works: dict[str, DomaPanDAWork],
    name_map: dict[int, list[str]] | None,
) -> TaskSummary:
    """Add the final job as one more task, released once every sink task has terminated."""
    if not isinstance(final, GenericWorkflowJob):
        raise NotImplementedError("A final job that is itself a workflow is not supported by PanDA")
    spec = specs.spec_for(final, is_final=True)
    index = len(works) + 1
    task_name = _task_name(gw.name, index, final.label, 1, specs.wf.max_name_length)
    final_name = specs.pseudo_input(final, spec)
    if name_map is not None:
        name_map[index] = [final_name]
        final_name = f"{NAME_MAP_PREFIX}{index}.0"
    entries = [{"name": final_name, "order_id": 0, "dependencies": []}]
    final_work = new_work(task_name, spec, entries, index, None)
    idds_workflow.add_work(final_work)
    children: set[str] = set()
    for work in works.values():
        children.update(work.dependency_tasks or ())
    sinks = [work for name, work in works.items() if name not in children]
    if sinks:
        condition = AndCondition(conditions=[w.is_terminated for w in sinks], true_works=[final_work])
        idds_workflow.add_condition(condition)
    return _summary(task_name, spec, 1)


def _summary(task_name: str, spec: TaskSpec, jobs: int) -> TaskSummary:
    return TaskSummary(
        name=task_name,
        label=spec.label,
        jobs=jobs,
        queue=spec.choice.queue,
        memory_class=spec.choice.class_name,
        rss=spec.rss,
        cores=spec.cores,
    )
