# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""A request's story for the iDDS double: what iDDS answers, poll after poll.

::

    story = (
        RunStory("u_jane_demo", jobs={"isr": 5})
        .then("New", polls=2)
        .then("Transforming", done={"isr": 3})
        .then("SubFinished", done={"isr": 4}, failed={"isr": [3]})
    )

A poll is one ``get_requests`` call for the request; the story moves to its next chapter after a
chapter has answered ``polls`` of them, and its last chapter answers for good.  ``get_contents_output_ext``
answers from the current chapter without moving it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ..task_names import task_name

__all__ = ["Chapter", "RunStory", "TaskProgress"]

_LOG = logging.getLogger(__name__)

_NAME_LIMIT = 4000
"""iDDS's default name limit (``IDDS_MAX_NAME_LENGTH``), for the task names a story makes."""


@dataclasses.dataclass(frozen=True)
class TaskProgress:
    """Where the jobs of one task stand in a chapter.

    Attributes
    ----------
    total : `int`
        Jobs of the task.
    done : `int`
        Jobs that finished (exit code 0).
    failed : `tuple` [`int`, ...]
        Exit code of each failed job.
    missing : `int`
        Jobs that will not run (a parent failed).
    running : `int`
        Jobs running now.
    status : `str`
        The transform status (iDDS ``TransformStatus`` name).
    """

    total: int
    done: int = 0
    failed: tuple[int, ...] = ()
    missing: int = 0
    running: int = 0
    status: str = "Transforming"

    @property
    def waiting(self) -> int:
        """Jobs not started yet."""
        return max(self.total - self.done - len(self.failed) - self.missing - self.running, 0)


@dataclasses.dataclass(frozen=True)
class Chapter:
    """The request as iDDS shows it for some polls.

    Attributes
    ----------
    status : `str`
        The request status (iDDS ``RequestStatus`` name), e.g. ``"Transforming"``.
    polls : `int`
        ``get_requests`` calls answered with this chapter before the next one.
    tasks : `dict` [`str`, `TaskProgress`]
        The tasks by label; empty while iDDS has not taken the request up (New).
    """

    status: str
    polls: int = 1
    tasks: Mapping[str, TaskProgress] = dataclasses.field(default_factory=dict)


def _task_status(request_status: str, progress: TaskProgress) -> str:
    """Return the status of a task whose request is ``request_status``, as iDDS would set it."""
    if request_status in ("Cancelled", "Cancelling", "ToCancel", "Suspended"):
        return request_status
    if progress.waiting or progress.running:
        return "Transforming"
    return "SubFinished" if progress.failed or progress.missing else "Finished"


class RunStory:
    """The scripted life of one request.

    Parameters
    ----------
    name : `str`, optional
        The request (workflow) name.
    jobs : `dict` [`str`, `int`], optional
        Jobs per label; each label is one task.
    task_names : `dict` [`str`, `str`], optional
        The transform name of a label's task; by default the plugin's ``{name}_{NN}_{label}_01``.
    username : `str`, optional
        The owner iDDS records (the caller's identity).
    """

    def __init__(
        self,
        name: str = "u_tester_run",
        jobs: Mapping[str, int] | None = None,
        task_names: Mapping[str, str] | None = None,
        username: str | None = "Jane Tester",
    ) -> None:
        self.name = name
        self.jobs = dict(jobs or {})
        given = dict(task_names or {})
        self.task_names = {
            label: given.get(label) or task_name(name, index, label, 1, _NAME_LIMIT)
            for index, label in enumerate(self.jobs, 1)
        }
        self.username = username
        self.chapters: list[Chapter] = []

    def then(
        self,
        status: str,
        *,
        polls: int = 1,
        done: Mapping[str, int] | None = None,
        failed: Mapping[str, Sequence[int]] | None = None,
        missing: Mapping[str, int] | None = None,
        running: Mapping[str, int] | None = None,
        task_status: Mapping[str, str] | None = None,
    ) -> RunStory:
        """Add a chapter; return the story (calls chain).

        Parameters
        ----------
        status : `str`
            The request status (``New``, ``Transforming``, ``Finished``, ``SubFinished``,
            ``Cancelled``, ...).
        polls : `int`, optional
            ``get_requests`` calls this chapter answers before the next.
        done : `dict` [`str`, `int`], optional
            Jobs per label that finished.
        failed : `dict` [`str`, `list` [`int`]], optional
            Exit codes of the failed jobs per label.
        missing, running : `dict` [`str`, `int`], optional
            Jobs per label that will not run (a parent failed), that run now.
        task_status : `dict` [`str`, `str`], optional
            A task's transform status, where it is not the one iDDS would derive.

        Returns
        -------
        story : `RunStory`
            This story.
        """
        if status == "New" and not (done or failed or missing or running):
            self.chapters.append(Chapter(status, max(polls, 1)))
            return self
        tasks = {}
        for label, total in self.jobs.items():
            progress = TaskProgress(
                total=total,
                done=(done or {}).get(label, 0),
                failed=tuple((failed or {}).get(label, ())),
                missing=(missing or {}).get(label, 0),
                running=(running or {}).get(label, 0),
            )
            chosen = (task_status or {}).get(label) or _task_status(status, progress)
            tasks[label] = dataclasses.replace(progress, status=chosen)
        self.chapters.append(Chapter(status, max(polls, 1), tasks))
        return self

    def chapter(self, polls_answered: int) -> Chapter:
        """Return the chapter that answers after ``polls_answered`` polls.

        Parameters
        ----------
        polls_answered : `int`
            ``get_requests`` calls answered so far.
        """
        if not self.chapters:
            raise ValueError(f"The story of {self.name!r} has no chapter: add one with then()")
        for chapter in self.chapters:
            if polls_answered < chapter.polls:
                return chapter
            polls_answered -= chapter.polls
        return self.chapters[-1]

    @classmethod
    def succeeding(cls, name: str, jobs: Mapping[str, int]) -> RunStory:
        """Return the story of a run that succeeds: New, then running, then Finished.

        Parameters
        ----------
        name : `str`
            The request name.
        jobs : `dict` [`str`, `int`]
            Jobs per label.
        """
        return (
            cls(name, jobs)
            .then("New")
            .then("Transforming", running={label: 1 for label in jobs if jobs[label]})
            .then("Finished", done=dict(jobs))
        )

    @classmethod
    def from_timeline(cls, lifecycle: Mapping[str, Any]) -> RunStory:
        """Return the story of a recorded run (``lifecycle_run2.json``), one chapter per snapshot.

        Parameters
        ----------
        lifecycle : `dict`
            The recorded run: ``snapshots`` by status, each with ``get_requests_detail`` and ``contents``.
        """
        snapshots = lifecycle["snapshots"]
        final = snapshots[list(snapshots)[-1]]["get_requests_detail"]
        jobs = {str(r["transform_name"]): int(r["output_total_files"] or 0) for r in final}
        name = str(final[0]["name"])
        story = cls(name, jobs, task_names={label: label for label in jobs}, username=final[0]["username"])
        for status, snapshot in snapshots.items():
            counts = _recorded_counts(snapshot)
            statuses = {label: counts[label].pop("status") for label in counts}
            story.then(
                status,
                done={label: c["done"] for label, c in counts.items()},
                failed={label: c["failed"] for label, c in counts.items()},
                running={label: c["running"] for label, c in counts.items()},
                task_status=statuses,
            )
        return story


def _recorded_counts(snapshot: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Read per-task job counts and exit codes of a recorded snapshot."""
    by_id = {str(r["transform_id"]): r for r in snapshot["get_requests_detail"] if r.get("transform_id")}
    counts: dict[str, dict[str, Any]] = {}
    for key, jobs in snapshot["contents"].items():
        record = by_id[str(key)]
        status = record["transform_status"]["attributes"]["_name_"]
        entry = counts.setdefault(
            str(record["transform_name"]), {"done": 0, "failed": [], "running": 0, "status": status}
        )
        for job in jobs:
            if job["status"] == "Available":
                entry["done"] += 1
            elif job["status"] in ("Failed", "FinalFailed"):
                entry["failed"].append(int(job["trans_exit_code"]))
            elif job["status"] == "Processing":
                entry["running"] += 1
    return counts
