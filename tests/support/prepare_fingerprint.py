# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Fingerprints of what ``PanDAService.prepare`` writes, to pin its output byte for byte.

Three things iDDS makes differ between runs and are normalised: every work and collection has a
random ``internal_id`` (8 hex digits of a uuid4), renamed ``id0000``, ``id0001``, ... in order of
first appearance; time stamps (the moment a work was made) read ``<time>``; the task names of a
work's ``dependency_tasks`` (a list iDDS makes from a set, so in hash order) are sorted.  An
enum's ``"_loading": false``, which iDDS adds to the enum member itself once the process has read
iDDS JSON back (so it depends on what ran before in the process), is dropped.  The
output directory reads ``<out>``.  Everything else is compared as written.  The task-graph
picture is left out: Graphviz, not prepare, draws it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowNoopJob
from lsst.ctrl.bps.panda import PanDAService

from .bps_configs import make_config
from .synthetic import make_drp_workflow

__all__ = ["FINGERPRINT_CASES", "SUBMIT_PATH", "fingerprint_case", "fingerprint_directory"]

SUBMIT_PATH = "/golden/submit"
"""``submitPath`` of every case (it reaches the command lines), whatever directory is written."""

_INTERNAL_ID = re.compile(r'"internal_id": "([0-9a-f]{8})"')
_TIME_STAMP = re.compile(r'"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d UTC"')
_DEPENDENCY_TASKS = re.compile(r'"dependency_tasks": \[([^\]]*)\]')
_ENUM_LOADING = re.compile(r'("_sort_order_": \d+), "_loading": false\}')
_LEFT_OUT = frozenset({"panda_workflow.svg"})

FINGERPRINT_CASES: dict[str, dict] = {
    # The shipped defaults (no memory classes, full pseudo input names, 10,000 jobs per task).
    "defaults": {"site": {}},
    "defaults_chunked": {"site": {}, "maxJobsPerTask": 170},
    "memory_classes": {"maxJobsPerTask": 170},
    "order_id_map": {"site": {}, "enableJobNameMap": True, "maxJobsPerTask": 170},
    "qnode_map": {"site": {}, "enableQnodeMap": True, "maxJobsPerTask": 170},
    "compact_names": {"enableCompactJobNames": True, "maxJobsPerTask": 170},
    "event_service": {"enableEventService": "isr:7,calibrate", "maxPayloadsPerPandaJob": 4},
    "noop_barrier": {"site": {}, "maxJobsPerTask": 170, "_noop": True},
}
"""Configuration overrides of each case (``_noop`` adds a no-op job inserted after its children)."""


def _workflow(noop: bool) -> GenericWorkflow:
    gw = make_drp_workflow(1200, submit_dir=SUBMIT_PATH, seed=7)
    if noop:
        # A barrier between the first visit's calibrations and its warps, inserted last: the
        # cycle check's full sort and the no-op look-through both run.
        parents = [name for name in gw if name.startswith("calibrate_0_")]
        children = [name for name in gw if name.startswith("makeWarp_0_")]
        gw.add_job(GenericWorkflowNoopJob("barrier", "barrier"), parent_names=parents, child_names=children)
    return gw


def _sorted_tasks(match: re.Match) -> str:
    return f'"dependency_tasks": [{", ".join(sorted(match[1].split(", ")))}]'


def _renamed_ids(text: str) -> str:
    ids: dict[str, str] = {}
    for found in _INTERNAL_ID.findall(text):
        ids.setdefault(found, f"id{len(ids):04d}")
    if not ids:
        return text
    return re.sub(r'"([0-9a-f]{8})"', lambda m: f'"{ids.get(m[1], m[1])}"', text)


def fingerprint_directory(directory: Path) -> dict[str, str]:
    """Return the SHA-256 of each written file (relative path to digest), normalised.

    Parameters
    ----------
    directory : `pathlib.Path`
        The ``out_prefix`` prepare wrote to.
    """
    digests = {}
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.name in _LEFT_OUT:
            continue
        text = _TIME_STAMP.sub('"<time>"', path.read_text().replace(str(directory), "<out>"))
        text = _ENUM_LOADING.sub(r"\1}", _DEPENDENCY_TASKS.sub(_sorted_tasks, text))
        text = _renamed_ids(text)
        digests[str(path.relative_to(directory))] = hashlib.sha256(text.encode()).hexdigest()
    return digests


def fingerprint_case(name: str, out: Path) -> dict[str, str]:
    """Prepare the fixed workflow of case ``name`` into ``out``; return its fingerprint.

    Parameters
    ----------
    name : `str`
        A key of `FINGERPRINT_CASES`.
    out : `pathlib.Path`
        An empty directory to write to.
    """
    overrides = dict(FINGERPRINT_CASES[name])
    gw = _workflow(overrides.pop("_noop", False))
    config = make_config(SUBMIT_PATH, **overrides)
    PanDAService(config).prepare(config, gw, str(out))
    return fingerprint_directory(out)
