# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""PanDA task names that carry their job label, reversibly.

A task's name is the only place real iDDS records keep anything of the job
label (``transform_name``), so ``bps report --id N`` reads the label back from
it.  The name is ``{workflow}_{NN}_{label}_{CC}`` (``NN`` the task number,
``CC`` the chunk) when the label keeps to PanDA-safe characters; any other
label travels as the hex of its UTF-8 bytes, flagged by an ``x`` after the task
number: ``{workflow}_{NN}x_{hex}_{CC}``.  A name above the length limit keeps
the label whole and shortens the workflow part to a fixed prefix plus a digest
of the workflow name, which the report recomputes from the request's name.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["label_from_task_name", "label_of_task", "task_name"]

_SAFE = re.compile(r"[A-Za-z0-9_.\-]+")
"""Characters PanDA task names keep as they are."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")

_HEX_FLAG = "x"

_SHORT_WORKFLOW_HEAD = 24
"""Characters of the workflow name kept in front of the digest in a shortened name."""

_REST = re.compile(rf"^(?P<index>\d+)(?P<hex>{_HEX_FLAG}?)_(?P<label>.+)_(?P<chunk>\d+)$")


def _workflow_part(workflow_name: str) -> str:
    return _UNSAFE.sub("_", workflow_name)


def _short_workflow_part(workflow_name: str) -> str:
    digest = hashlib.sha1(workflow_name.encode()).hexdigest()[:10]
    return f"{_workflow_part(workflow_name)[:_SHORT_WORKFLOW_HEAD]}-{digest}"


def _label_part(label: str) -> str:
    if _SAFE.fullmatch(label):
        return label
    return label.encode().hex()


def task_name(workflow_name: str, index: int, label: str, chunk: int, limit: int) -> str:
    """Return the name of a task: unique by ``index``, label recoverable, within ``limit``.

    Parameters
    ----------
    workflow_name : `str`
        The workflow (request) name.
    index : `int`
        Task number, unique in the workflow.
    label : `str`
        The jobs' label, kept whole (encoded when it has unsafe characters).
    chunk : `int`
        Chunk number of the label's jobs.
    limit : `int`
        Longest name allowed.

    Returns
    -------
    name : `str`
        ``{workflow}_{NN}[x]_{label}_{CC}`` in PanDA-safe characters.

    Raises
    ------
    ValueError
        Raised if the label alone is too long for ``limit``.
    """
    flag = "" if _SAFE.fullmatch(label) else _HEX_FLAG
    rest = f"{index:02d}{flag}_{_label_part(label)}_{chunk:02d}"
    name = f"{_workflow_part(workflow_name)}_{rest}"
    if len(name) <= limit:
        return name
    name = f"{_short_workflow_part(workflow_name)}_{rest}"
    if len(name) > limit:
        raise ValueError(
            f"label {label!r} makes task names of {len(name)} characters, above the limit of {limit} "
            "(maxNameLength or IDDS_MAX_NAME_LENGTH): shorten the label"
        )
    return name


def label_from_task_name(name: str, workflow_name: str) -> str | None:
    """Return the label a task name made by `task_name` carries.

    Parameters
    ----------
    name : `str`
        The task (transform) name.
    workflow_name : `str`
        The workflow (request) name.

    Returns
    -------
    label : `str` or `None`
        The label exactly as it was; `None` if ``name`` is not one of ours.
    """
    for prefix in (_workflow_part(workflow_name), _short_workflow_part(workflow_name)):
        if not name.startswith(f"{prefix}_"):
            continue
        match = _REST.match(name[len(prefix) + 1 :])
        if match is None:
            continue
        label = match.group("label")
        if not match.group("hex"):
            return label
        try:
            return bytes.fromhex(label).decode()
        except ValueError:
            continue
    return None


def label_of_task(task_name: str, workflow_name: str) -> str:
    """Return the job label of a task named ``{workflow}_{NN}_{label}_{chunk}``.

    Parameters
    ----------
    task_name : `str`
        The transform (task) name.
    workflow_name : `str`
        The request (workflow) name.

    Returns
    -------
    label : `str`
        The label exactly as prepare had it (see `task_names`), or the task
        name itself when it is not one of ours.
    """
    label = label_from_task_name(task_name, workflow_name)
    return task_name if label is None else label
