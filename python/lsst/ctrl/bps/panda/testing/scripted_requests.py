# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The requests the iDDS double holds: a story each, and what a cancel or a retry does to it.

A submitted workflow is read with the local PanDA's own request planner
(`~lsst.ctrl.bps.panda.local.core.request_plan`, pure and free of the ``[local]`` extra), so
the double knows the tasks and job names a real iDDS would.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from ..task_names import label_of_task
from .double_replies import RequestIds
from .run_story import Chapter, RunStory, TaskProgress

__all__ = ["ScriptedRequest", "WorkflowPlan", "cancelled_story", "plan_of_workflow", "retried_story"]

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class WorkflowPlan:
    """What the double keeps of a submitted workflow.

    Attributes
    ----------
    name : `str`
        The workflow (request) name.
    jobs : `dict` [`str`, `list` [`str`]]
        Job names (pseudo inputs) by task name, in workflow order.
    signature : `str` or `None`
        The build work's signature (build requests only).
    """

    name: str
    jobs: dict[str, list[str]]
    signature: str | None = None

    def story(self, scripted: RunStory | None) -> RunStory:
        """Return the request's story: ``scripted`` fitted to the submitted tasks, or a success.

        Parameters
        ----------
        scripted : `RunStory`, optional
            The story a test queued; its labels name the submitted tasks (first task of each label).
        """
        if scripted is None:
            counts = {task: len(names) for task, names in self.jobs.items()}
            story = RunStory.succeeding(self.name, counts)
            story.task_names = {task: task for task in self.jobs}
            return story
        tasks_by_label: dict[str, str] = {}
        for task in self.jobs:
            tasks_by_label.setdefault(label_of_task(task, self.name), task)
        unknown = sorted(set(scripted.jobs) - set(tasks_by_label))
        if unknown:
            raise ValueError(
                f"The story queued for workflow {self.name!r} names labels it does not have: {unknown} "
                f"(its labels: {sorted(tasks_by_label)})"
            )
        fitted = RunStory(
            self.name,
            scripted.jobs,
            task_names={label: tasks_by_label[label] for label in scripted.jobs},
            username=scripted.username,
        )
        fitted.chapters = list(scripted.chapters)
        return fitted

    def job_names(self, story: RunStory) -> dict[str, list[str]]:
        """Return the job names of each label of ``story``.

        Parameters
        ----------
        story : `RunStory`
            The request's story.
        """
        return {label: self.jobs.get(task, []) for label, task in story.task_names.items()}


def plan_of_workflow(
    workflow: Any, build: bool, step_maps: Callable[[str], Any | None] = lambda name: None
) -> WorkflowPlan:
    """Return the tasks and job names of a submitted workflow.

    Parameters
    ----------
    workflow : `idds.workflowv2.workflow.Workflow`
        The workflow as the relay would rebuild it.
    build : `bool`
        A build workflow (one signed work with one job).
    step_maps : `~collections.abc.Callable`, optional
        Returns the dependency map a workflow step submitted before held for a work name.
    """
    template = getattr(workflow, "template", workflow)
    works = list((template.works or {}).values())
    if build:
        work = works[0]
        signature = work.get_signature() if hasattr(work, "get_signature") else None
        return WorkflowPlan(str(workflow.name), {str(work.task_name): ["build"]}, signature)
    from ..local.core.request_plan import plan_request

    plan = plan_request(workflow, None, step_maps)
    jobs = {task.name: [str(entry["name"]) for entry in task.entries] for task in plan.tasks}
    return WorkflowPlan(plan.name, jobs)


class ScriptedRequest:
    """One request of the double: its story, numbers and how many polls it answered.

    Parameters
    ----------
    story : `RunStory`
        What iDDS answers about it.
    ids : `RequestIds`
        Its numbers.
    """

    def __init__(self, story: RunStory, ids: RequestIds) -> None:
        self.story = story
        self.ids = ids
        self.polls = 0
        self.shown: Chapter | None = None
        """The chapter the last poll answered: job records (contents) follow it."""
        self.job_names: dict[str, list[str]] = {}
        self.signature: str | None = None
        self.is_build = False
        self.built = False

    @property
    def chapter(self) -> Chapter:
        """Where the story stands now."""
        return self.story.chapter(self.polls)

    def poll(self) -> Chapter:
        """Return the chapter this poll answers and move the story on by one poll."""
        self.shown = self.chapter
        self.polls += 1
        return self.shown

    @property
    def last_shown(self) -> Chapter:
        """The chapter the last poll answered (the current one before any poll)."""
        return self.shown or self.chapter

    def adopt(self, plan: WorkflowPlan) -> None:
        """Take the job names and build signature of the submitted workflow.

        Parameters
        ----------
        plan : `WorkflowPlan`
            The submitted workflow.
        """
        self.job_names = plan.job_names(self.story)
        self.signature = plan.signature
        self.is_build = plan.signature is not None

    def restart_story(self, story: RunStory) -> None:
        """Follow ``story`` from its first chapter (after a cancel or a retry).

        Parameters
        ----------
        story : `RunStory`
            The new story.
        """
        self.story = story
        self.polls = 0
        self.shown = None

    def hand_back(self, plan: WorkflowPlan, story: RunStory) -> None:
        """Run the workflow a build job handed back, under this request's id.

        Parameters
        ----------
        plan : `WorkflowPlan`
            The built workflow.
        story : `RunStory`
            Its story.
        """
        self.built = True
        self.restart_story(story)
        self.job_names = plan.job_names(story)


def _same_tasks(story: RunStory) -> RunStory:
    again = RunStory(story.name, story.jobs, story.task_names, story.username)
    return again


def cancelled_story(story: RunStory, now: Chapter) -> RunStory:
    """Return the story after a cancel: Cancelled, jobs that did not end will not run.

    Parameters
    ----------
    story : `RunStory`
        The story so far.
    now : `Chapter`
        Where it stands when the cancel arrives.
    """
    cancelled = _same_tasks(story)
    cancelled.chapters.append(
        Chapter(
            "Cancelled",
            1,
            {
                label: TaskProgress(
                    total=p.total,
                    done=p.done,
                    failed=p.failed,
                    missing=p.missing + p.running + p.waiting,
                    status="Cancelled",
                )
                for label, p in now.tasks.items()
            },
        )
    )
    return cancelled


def retried_story(story: RunStory, now: Chapter) -> RunStory | None:
    """Return the story after a retry: failed and missing jobs run again and succeed.

    Parameters
    ----------
    story : `RunStory`
        The story so far.
    now : `Chapter`
        Where it stands when the retry arrives.

    Returns
    -------
    story : `RunStory` or `None`
        The new story; `None` when nothing failed (the story goes on).
    """
    if not any(p.failed or p.missing for p in now.tasks.values()):
        return None
    retried = _same_tasks(story)
    running = {label: len(p.failed) + p.missing for label, p in now.tasks.items()}
    done = {label: p.done for label, p in now.tasks.items()}
    retried.then("Transforming", done=done, running=running)
    retried.then("Finished", done={label: p.total for label, p in now.tasks.items()})
    return retried
