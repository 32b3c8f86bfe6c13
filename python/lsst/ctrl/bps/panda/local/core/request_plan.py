# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""From a submitted iDDS workflow to the plan of a local PanDA request (pure).

A `~idds.workflowv2.workflow.Workflow` of `DomaPanDAWork` tasks becomes a
`RequestPlan`: one `TaskPlan` per work with the attributes the pilot needs,
and the raw dependency-map entries (one job each).  Works whose dependency
map was moved out by ``Workflow.split_workflow_to_steps`` carry
``{"idds_dependency_map_file": "IDDS_WORKFLOW_ADDITIONAL_STORAGE/<work
name>"}``; their maps come from the workflow steps submitted before.  Nothing
here reads a file: a map reference is only ever looked up among the steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from idds.common.dict_class import DictClass
from idds.doma.workflowv2.domapandawork import DomaPanDAWork
from idds.workflowv2.workflow import AndCondition

from ...errors import IntakeError

__all__ = [
    "STEP_STORAGE_NAME",
    "SUPPORTED_CONDITION_METHODS",
    "GatePlan",
    "RequestPlan",
    "TaskPlan",
    "plan_request",
    "step_batches",
]


STEP_STORAGE_NAME = "IDDS_WORKFLOW_ADDITIONAL_STORAGE"
"""Prefix iDDS writes in front of the work name of a map held in a step."""

SUPPORTED_CONDITION_METHODS = frozenset({"is_terminated", "is_finished", "is_subfinished", "is_failed"})
"""Work methods a condition may test (evaluated once the work's task terminated)."""

_MAP_FILE_KEY = "idds_dependency_map_file"


@dataclasses.dataclass(frozen=True, slots=True)
class GatePlan:
    """The condition that releases a task (the final job's `AndCondition`).

    Attributes
    ----------
    conditions : `tuple` [`tuple` [`str`, `str`], ...]
        (task name, method) pairs that must all hold, e.g.
        ``("wf_03_label_01", "is_terminated")``.
    """

    conditions: tuple[tuple[str, str], ...]


@dataclasses.dataclass(slots=True)
class TaskPlan:
    """One PanDA task: what its jobs share, and its jobs."""

    name: str
    queue: str
    executable: str
    max_attempt: int
    walltime: int | None
    rss: int | None
    rss_max: int | None
    rss_step: int
    core_count: int
    priority: int
    input_collection: str
    output_collection: str
    entries: list[dict[str, Any]]
    """Dependency-map entries: ``{"name", "order_id", "dependencies": [{"task", "inputname"}]}``."""
    gate: GatePlan | None = None
    vo: str | None = None
    """The submitted task's ``vo``, reported back as the job records' ``vo``."""
    prod_source_label: str | None = None
    """The submitted task's ``prodSourceLabel``, reported back as the job records'."""


CAMPAIGN_KEYS = ("campaign", "campaign_scope", "campaign_group", "campaign_tag")
"""Request columns iDDS fills from the workflow's campaign attributes."""


@dataclasses.dataclass(slots=True)
class RequestPlan:
    """Everything the store needs to create a request."""

    name: str
    username: str | None
    internal_id: str
    tasks: list[TaskPlan]
    campaign: dict[str, str | None] = dataclasses.field(default_factory=dict)
    """iDDS campaign, campaign_scope, campaign_group and campaign_tag of the workflow."""

    @property
    def job_count(self) -> int:
        """Number of jobs of the request."""
        return sum(len(task.entries) for task in self.tasks)


def _unzip(value: Any) -> Any:
    return DictClass().unzip_data(value)


def _template(workflow: Any) -> Any:
    return getattr(workflow, "template", workflow)


def step_batches(workflow: Any) -> tuple[str, dict[str, Any]]:
    """Return the dependency maps a workflow step carries.

    Parameters
    ----------
    workflow : `~idds.workflowv2.workflow.Workflow`
        A step (``is_workflow_step`` true) made by ``create_workflow_step``.

    Returns
    -------
    internal_id : `str`
        Internal id shared by the step and its main workflow.
    batches : `dict` [`str`, `typing.Any`]
        Dependency map by work name.

    Raises
    ------
    IntakeError
        Raised if the step holds no maps.
    """
    batches = _unzip(workflow.workflow_data)
    if not isinstance(batches, dict) or not batches:
        raise IntakeError(f"Workflow step {workflow.step_name!r} holds no dependency maps")
    return str(workflow.get_internal_id()), batches


def _int(value: Any, default: int | None) -> int | None:
    if value is None or value == "":
        return default
    return int(value)


def _entries(work: DomaPanDAWork, lookup: Callable[[str], Any | None]) -> list[dict[str, Any]]:
    name = work.get_work_name()
    data = _unzip(work._dependency_map)
    if isinstance(data, dict) and data.get(_MAP_FILE_KEY):
        reference = str(data[_MAP_FILE_KEY])
        prefix, _, step_key = reference.partition("/")
        if prefix != STEP_STORAGE_NAME or step_key != name:
            raise IntakeError(
                f"Task {name!r}: dependency map reference {reference!r} is not "
                f"'{STEP_STORAGE_NAME}/{name}'; the local PanDA reads maps only from workflow steps"
            )
        data = lookup(name)
        if data is None:
            raise IntakeError(
                f"Task {name!r}: its dependency map was split into a workflow step that the local "
                "PanDA has not received; submit every step of split_workflow_to_steps() first"
            )
        data = _unzip(data)
    if data in (None, {}):
        data = []
    if not isinstance(data, list):
        raise IntakeError(f"Task {name!r}: dependency_map must be a list of entries")
    for entry in data:
        if (
            not isinstance(entry, dict)
            or "name" not in entry
            or not isinstance(entry.get("dependencies", []), list)
        ):
            raise IntakeError(
                f"Task {name!r}: dependency map entry {entry!r} has no name or bad dependencies"
            )
    return data


def _collection_name(collection: Any, default: str) -> str:
    return str(getattr(collection, "name", None) or default)


def _task_plan(work: Any, lookup: Callable[[str], Any | None]) -> TaskPlan:
    if not isinstance(work, DomaPanDAWork):
        raise IntakeError(
            f"Work {type(work).__name__} is not a DomaPanDAWork; the local PanDA runs only those"
        )
    name = work.get_work_name()
    if not work.executable:
        raise IntakeError(f"Task {name!r} has no executable")
    try:
        return TaskPlan(
            name=name,
            queue=str(work.task_queue or work.queue or ""),
            executable=str(work.executable),
            max_attempt=max(_int(work.maxAttempt, 1) or 1, 1),
            walltime=_int(work.maxWalltime, None) or None,
            rss=_int(work.task_rss, None) or None,
            rss_max=_int(work.task_rss_max, None) or None,
            rss_step=_int(work.task_rss_retry_step, 0) or 0,
            core_count=max(_int(work.core_count, 1) or 1, 1),
            priority=_int(work.task_priority, 900) or 0,
            input_collection=_collection_name(work.get_primary_input_collection(), f"{name}_input"),
            output_collection=_collection_name(work.get_primary_output_collection(), f"{name}_output"),
            entries=_entries(work, lookup),
            vo=getattr(work, "vo", None),
            prod_source_label=getattr(work, "prodSourceLabel", None),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, IntakeError):
            raise
        raise IntakeError(f"Task {name!r}: bad numeric attribute ({exc})") from None


def _gates(template: Any, work_names: Mapping[str, str]) -> dict[str, GatePlan]:
    """Return the gate of each conditional task, by task name."""
    gates: dict[str, GatePlan] = {}
    for condition in (template.conditions or {}).values():
        kind = type(condition).__name__
        if not isinstance(condition, AndCondition):
            raise IntakeError(f"Condition {kind} is not supported by the local PanDA (only AndCondition)")
        if condition.false_works:
            raise IntakeError("Conditions with false_works are not supported by the local PanDA")
        tests = []
        for test in condition.conditions:
            method = getattr(test, "__name__", None)
            owner = getattr(test, "__self__", None)
            owner_id = owner.get_internal_id() if owner is not None else None
            if method not in SUPPORTED_CONDITION_METHODS or owner_id not in work_names:
                raise IntakeError(
                    f"Condition test {test!r} is not supported by the local PanDA; use a work's "
                    f"{sorted(SUPPORTED_CONDITION_METHODS)}"
                )
            tests.append((work_names[str(owner_id)], method))
        for work in condition.true_works:
            work_id = work.get_internal_id() if hasattr(work, "get_internal_id") else None
            if work_id not in work_names:
                raise IntakeError(f"Condition releases {work!r}, which is not a task of this workflow")
            task_name = work_names[str(work_id)]
            if task_name in gates:
                raise IntakeError(f"Task {task_name!r} is released by more than one condition")
            gates[task_name] = GatePlan(tuple(tests))
    return gates


def _check_graph(tasks: Iterable[TaskPlan]) -> None:
    """Check every dependency resolves and the job graph has no cycle."""
    known: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for task in tasks:
        for entry in task.entries:
            key = (task.name, entry["name"])
            if key in known:
                raise IntakeError(f"Task {task.name!r} has two jobs named {entry['name']!r}")
            parents = []
            for dep in entry.get("dependencies", []):
                parents.append((dep["task"], dep["inputname"]))
            known[key] = parents
    indegree = dict.fromkeys(known, 0)
    children: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key, parents in known.items():
        for parent in parents:
            if parent not in known:
                raise IntakeError(
                    f"Job {key[1]!r} of task {key[0]!r} depends on {parent[1]!r} of task {parent[0]!r}, "
                    "which is not in the workflow"
                )
            indegree[key] += 1
            children.setdefault(parent, []).append(key)
    ready = [key for key, count in indegree.items() if count == 0]
    seen = 0
    while ready:
        key = ready.pop()
        seen += 1
        for child in children.get(key, ()):
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    if seen != len(known):
        raise IntakeError("The job dependencies of the workflow contain a cycle")


def plan_request(workflow: Any, username: str | None, step_maps: Callable[[str], Any | None]) -> RequestPlan:
    """Plan the request of a submitted (main) workflow.

    Parameters
    ----------
    workflow : `~idds.workflowv2.workflow.Workflow`
        The workflow as rebuilt from the request.
    username : `str` or `None`
        ``submit``'s ``username`` (the workflow's own when `None`).
    step_maps : `~collections.abc.Callable`
        Returns the dependency map a workflow step held for a work name
        (`None` when no step had it).

    Returns
    -------
    plan : `RequestPlan`
        Tasks in workflow order, with their gates.

    Raises
    ------
    IntakeError
        Raised if the workflow has no tasks, a task cannot run here, a
        dependency does not resolve, or the job graph has a cycle.
    """
    template = _template(workflow)
    works = list((template.works or {}).values())
    if not works:
        raise IntakeError("The workflow has no works (tasks)")
    tasks = [_task_plan(work, step_maps) for work in works]
    names = [task.name for task in tasks]
    if len(set(names)) != len(names):
        raise IntakeError("Two works of the workflow have the same name")
    gates = _gates(
        template, {work.get_internal_id(): task.name for work, task in zip(works, tasks, strict=True)}
    )
    for task in tasks:
        task.gate = gates.get(task.name)
    _check_graph(tasks)
    return RequestPlan(
        name=str(workflow.name or "workflow"),
        username=username or getattr(workflow, "username", None),
        internal_id=str(workflow.get_internal_id()),
        tasks=tasks,
        campaign={key: getattr(workflow, key, None) for key in CAMPAIGN_KEYS},
    )
