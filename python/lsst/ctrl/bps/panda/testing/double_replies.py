# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The iDDS double's replies: recorded real records with a story's values written in.

Every record starts as a copy of one the real iDDS sent (`RecordedParts`); only the values a
story decides (ids, names, statuses, counts, exit codes) are replaced, and enums keep the recorded
encoding.  The replies are in wire form; the double decodes them as the PanDA client does.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from idds.common.constants import ContentStatus, RequestStatus, TransformStatus

from .recorded_envelopes import RecordedParts, encode_enum
from .run_story import Chapter, RunStory, TaskProgress

__all__ = ["RequestIds", "contents_reply", "detail_reply", "request_reply"]

_LOG = logging.getLogger(__name__)

_JOB_STATUS = {
    "Available": "finished",
    "FinalFailed": "failed",
    "Processing": "running",
    "Missing": "missing",
    "New": None,
}
"""Content status -> PanDA job status, as the job records of real iDDS pair them."""


@dataclasses.dataclass(frozen=True)
class RequestIds:
    """The numbers iDDS and PanDA gave a request and its tasks.

    Attributes
    ----------
    request_id : `int`
        The iDDS request id.
    first_transform : `int`
        Transform id of the first task; the others follow.
    first_workload : `int`
        PanDA task id (``workload_id``) of the first task; the others follow.
    """

    request_id: int
    first_transform: int
    first_workload: int

    def transform_id(self, index: int) -> int:
        """Return the transform id of a task.

        Parameters
        ----------
        index : `int`
            The task's place in the request (0-based).
        """
        return self.first_transform + index

    def workload_id(self, index: int) -> int:
        """Return the PanDA task id of a task.

        Parameters
        ----------
        index : `int`
            The task's place in the request (0-based).
        """
        return self.first_workload + index


def _enum(parts: RecordedParts, member: Any) -> dict[str, Any]:
    return encode_enum(member, parts.enum_form())


def request_reply(parts: RecordedParts, story: RunStory, chapter: Chapter, ids: RequestIds) -> dict[str, Any]:
    """Return the request record ``get_requests`` answers (without detail).

    Parameters
    ----------
    parts : `RecordedParts`
        The recorded templates.
    story : `RunStory`
        The request's story.
    chapter : `Chapter`
        Where the story stands.
    ids : `RequestIds`
        The request's numbers.
    """
    record = parts.request_record()
    _name_request(parts, record, story, chapter, ids)
    return record


def _name_request(
    parts: RecordedParts, record: dict[str, Any], story: RunStory, chapter: Chapter, ids: RequestIds
) -> None:
    record["name"] = story.name
    record["username"] = story.username
    if "request_id" in record:
        record["request_id"] = ids.request_id
    record["status"] = _enum(parts, RequestStatus[chapter.status])


def detail_reply(
    parts: RecordedParts, story: RunStory, chapter: Chapter, ids: RequestIds
) -> list[dict[str, Any]]:
    """Return the records ``get_requests(with_detail=True)`` answers: one per task.

    Before iDDS takes the request up (no task in the chapter) the one record has ``request_id``
    and every ``transform_*`` None, as the real iDDS answers.

    Parameters
    ----------
    parts : `RecordedParts`
        The recorded templates.
    story : `RunStory`
        The request's story.
    chapter : `Chapter`
        Where the story stands.
    ids : `RequestIds`
        The request's numbers.
    """
    if not chapter.tasks:
        record = parts.new_detail_record()
        record["name"] = story.name
        record["username"] = story.username
        record["status"] = _enum(parts, RequestStatus[chapter.status])
        return [record]
    records = []
    for index, (label, progress) in enumerate(chapter.tasks.items()):
        record = parts.task_record()
        _name_request(parts, record, story, chapter, ids)
        _fill_task(parts, record, story.task_names[label], progress, ids, index)
        records.append(record)
    return records


def _fill_task(
    parts: RecordedParts,
    record: dict[str, Any],
    name: str,
    progress: TaskProgress,
    ids: RequestIds,
    index: int,
) -> None:
    transform_id, workload_id = ids.transform_id(index), ids.workload_id(index)
    record["transform_name"] = name
    record["transform_status"] = _enum(parts, TransformStatus[progress.status])
    for key in (
        "transform_id",
        "processing_transform_id",
        "input_coll_transform_id",
        "output_coll_transform_id",
    ):
        record[key] = transform_id
    for key in ("transform_workload_id", "processing_workload_id"):
        record[key] = workload_id
    counts = {
        "total": progress.total,
        "processed": progress.done,
        "failed": len(progress.failed),
        "missing": progress.missing,
        "processing": progress.running,
        "new": progress.waiting,
    }
    for what, count in counts.items():
        key = f"output_{what}_files"
        if key in record:
            record[key] = count


def contents_reply(
    parts: RecordedParts, chapter: Chapter, ids: RequestIds, job_names: dict[str, list[str]]
) -> dict[str, list[dict[str, Any]]]:
    """Return what ``get_contents_output_ext`` answers: job records by transform id (a string).

    Parameters
    ----------
    parts : `RecordedParts`
        The recorded templates.
    chapter : `Chapter`
        Where the story stands.
    ids : `RequestIds`
        The request's numbers.
    job_names : `dict` [`str`, `list` [`str`]]
        The jobs' names (pseudo inputs) by label.
    """
    contents: dict[str, list[dict[str, Any]]] = {}
    for index, (label, progress) in enumerate(chapter.tasks.items()):
        statuses = (
            ["Available"] * progress.done
            + ["FinalFailed"] * len(progress.failed)
            + ["Processing"] * progress.running
            + ["Missing"] * progress.missing
            + ["New"] * progress.waiting
        )
        codes = [0] * progress.done + list(progress.failed)
        names = job_names.get(label) or [f"{label}_{n}" for n in range(progress.total)]
        jobs = []
        for map_id, status in enumerate(statuses, 1):
            code = codes[map_id - 1] if map_id <= len(codes) else None
            jobs.append(_job(parts, status, code, names[map_id - 1], ids, index, map_id))
        contents[str(ids.transform_id(index))] = jobs
    return contents


def _job(
    parts: RecordedParts, status: str, code: int | None, name: str, ids: RequestIds, index: int, map_id: int
) -> dict[str, Any]:
    record = parts.job_record(status)
    record.update(
        name=name,
        job_name=name,
        status=status,
        substatus=encode_enum(ContentStatus[status], record["substatus"]),
        job_status=_JOB_STATUS[status],
        trans_exit_code=code,
        request_id=ids.request_id,
        transform_id=ids.transform_id(index),
        jedi_task_id=ids.workload_id(index),
        map_id=map_id,
        panda_id=None if status == "New" else ids.workload_id(index) * 1000 + map_id,
    )
    return record
