# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""The prepared PanDA workflow: the iDDS workflow, the files to stage, write and read."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from idds.common.utils import json_dumps, json_loads
from idds.workflowv2.workflow import Workflow
from lsst.ctrl.bps import BaseWmsWorkflow, BpsConfig, GenericWorkflow

from ..atomic_file import write_atomically
from ..edgenode.job_contract import NAME_MAP_CHUNK, NAME_MAP_DIR, name_map_path
from ..gc_pause import gc_paused
from .convert import TaskSummary, convert_workflow
from .settings import SettingsReader
from .workflow_picture import draw_workflow_picture, task_graph_of_workflow

__all__ = [
    "IDDS_WORKFLOW_FILE",
    "MANIFEST_FILE",
    "SUMMARY_FILE",
    "PandaBpsWmsWorkflow",
    "idds_workflow_json",
    "write_job_name_map",
]

_LOG = logging.getLogger(__name__)

IDDS_WORKFLOW_FILE = "panda_workflow.idds.json"
"""The iDDS workflow exactly as it is submitted (iDDS JSON)."""

MANIFEST_FILE = "panda_workflow.manifest.json"
"""Files to stage, end point, task list; plain JSON."""

SUMMARY_FILE = "panda_workflow.summary.txt"
"""One line per task, for people."""

ZIP_THREADS = 2
"""Threads in which iDDS zips the works' dependency maps (zlib lets other threads run meanwhile)."""

_ZIPPED_MAP = "_dependency_map"
"""The work attribute iDDS zips into its JSON (``zip_items`` of a ``DomaPanDAWork``)."""


class PandaBpsWmsWorkflow(BaseWmsWorkflow):
    """A workflow prepared for PanDA.

    Parameters
    ----------
    name : `str`
        Unique name of the workflow.
    config : `lsst.ctrl.bps.BpsConfig`
        Submission configuration.
    """

    def __init__(self, name: str, config: BpsConfig | None) -> None:
        super().__init__(name, config)
        self.idds_workflow: Workflow | None = None
        self.tasks: list[TaskSummary] = []
        self.files_to_stage: dict[str, str] = {}
        self.end_point: str = ""
        self.job_count: int = 0
        self.max_request_length: int | None = None
        self.max_copy_workers: int | None = None
        self.job_name_map: dict[int, list[str]] | None = None
        self.published_map: dict[str, Any] | None = None
        self.published_map_name: str | None = None

    @classmethod
    def from_generic_workflow(
        cls,
        config: BpsConfig,
        generic_workflow: GenericWorkflow,
        out_prefix: str | None,
        service_class: str,
    ) -> PandaBpsWmsWorkflow:
        # Docstring inherited from BaseWmsWorkflow.from_generic_workflow.
        reader = SettingsReader(config)
        # The job-name map is a set of files next to the workflow: only when there is somewhere to write it.
        result = convert_workflow(generic_workflow, reader, allow_job_name_map=out_prefix is not None)
        workflow = cls(generic_workflow.name, config)
        workflow.service_class = service_class
        workflow.submit_path = out_prefix or ""
        workflow.idds_workflow = result.idds_workflow
        workflow.tasks = result.tasks
        workflow.files_to_stage = result.files_to_stage
        workflow.end_point = result.end_point
        workflow.job_count = result.job_count
        workflow.job_name_map = result.job_name_map
        if result.published_map_file is not None:
            workflow.published_map = result.published_map
            workflow.published_map_name = result.published_map_file[1]
        workflow.max_request_length = reader.workflow().max_request_length
        workflow.max_copy_workers = reader.workflow().max_copy_workers
        return workflow

    def write(self, out_prefix: str) -> None:
        # Docstring inherited from BaseWmsWorkflow.write.
        with gc_paused():
            self._write(Path(out_prefix))

    def _write(self, directory: Path) -> None:
        """Write the job-name map, the iDDS JSON, the manifest and the summary."""
        directory.mkdir(parents=True, exist_ok=True)
        if self.job_name_map is not None:
            self.files_to_stage[NAME_MAP_DIR] = str(
                write_job_name_map(directory / NAME_MAP_DIR, self.job_name_map)
            )
        if self.published_map is not None and self.published_map_name:
            # The published plugin's order-id or qnode map: one file every job copies and reads.
            path = directory / self.published_map_name
            write_atomically(path, json.dumps(self.published_map, separators=(",", ":")))
            self.files_to_stage[self.published_map_name] = str(path)
        # Graphviz draws the picture in its own process meanwhile.
        with ThreadPoolExecutor(1) as drawer:
            picture = drawer.submit(draw_workflow_picture, task_graph_of_workflow(self), directory, self.name)
            write_atomically(directory / IDDS_WORKFLOW_FILE, idds_workflow_json(self.idds_workflow))
        manifest = {
            "name": self.name,
            "service_class": self.service_class,
            "end_point": self.end_point,
            "files_to_stage": self.files_to_stage,
            "job_count": self.job_count,
            "max_request_length": self.max_request_length,
            "max_copy_workers": self.max_copy_workers,
            "tasks": [dataclasses.asdict(task) for task in self.tasks],
        }
        write_atomically(directory / MANIFEST_FILE, json.dumps(manifest, indent=1))
        write_atomically(directory / SUMMARY_FILE, self.summary())
        picture.result()
        self.submit_path = str(directory)
        _LOG.info("Wrote PanDA workflow %s (%d tasks) to %s", self.name, len(self.tasks), directory)

    @classmethod
    def read(cls, out_prefix: str) -> PandaBpsWmsWorkflow:
        """Read a workflow written by `write`.

        Parameters
        ----------
        out_prefix : `str`
            The submit directory given to `write`.

        Returns
        -------
        workflow : `PandaBpsWmsWorkflow`
            The workflow, with its iDDS workflow and files to stage.

        Raises
        ------
        FileNotFoundError
            Raised if the directory holds no prepared PanDA workflow.
        """
        directory = Path(out_prefix)
        manifest_path = directory / MANIFEST_FILE
        if not manifest_path.is_file():
            raise FileNotFoundError(f"No prepared PanDA workflow in {directory} (missing {MANIFEST_FILE})")
        manifest = json.loads(manifest_path.read_text())
        workflow = cls(manifest["name"], None)
        workflow.service_class = manifest.get("service_class")
        workflow.submit_path = str(directory)
        workflow.end_point = manifest["end_point"]
        workflow.files_to_stage = manifest["files_to_stage"]
        workflow.job_count = manifest["job_count"]
        workflow.max_request_length = manifest.get("max_request_length")
        workflow.max_copy_workers = manifest.get("max_copy_workers")
        workflow.tasks = [TaskSummary(**task) for task in manifest["tasks"]]
        workflow.idds_workflow = json_loads((directory / IDDS_WORKFLOW_FILE).read_text())
        return workflow

    def summary(self) -> str:
        """Return one line per task: name, label, jobs, queue, class, rss, cores."""
        header = ("task", "label", "jobs", "queue", "memory class", "rss MB", "cores")
        rows = [header] + [
            (t.name, t.label, str(t.jobs), t.queue or "-", t.memory_class, str(t.rss or "-"), str(t.cores))
            for t in self.tasks
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        lines.append(f"{len(self.tasks)} tasks, {self.job_count} jobs")
        return "\n".join(lines) + "\n"


def idds_workflow_json(idds_workflow: Workflow) -> str:
    """Return the iDDS JSON of ``idds_workflow``, exactly as ``idds.common.utils.json_dumps`` writes it.

    iDDS zips each work's dependency map into its JSON (JSON, zlib, base64), one work after the
    other; that is most of the time of writing a large workflow.  Here iDDS's own ``zip_data``
    zips the maps in `ZIP_THREADS` threads first (zlib releases the GIL, so one map is compressed
    while the next is encoded), and ``json_dumps`` finds them zipped: iDDS passes a map that is
    already zipped through unchanged.  The works get their maps back before this returns.

    Parameters
    ----------
    idds_workflow : `idds.workflowv2.workflow.Workflow`
        The workflow.

    Returns
    -------
    text : `str`
        The iDDS JSON.
    """
    maps = [
        (work, dependency_map)
        for work in idds_workflow.template.works.values()
        if isinstance(dependency_map := getattr(work, _ZIPPED_MAP, None), list)
        and _ZIPPED_MAP in getattr(work, "zip_items", ())
    ]
    if len(maps) < 2:
        return json_dumps(idds_workflow)
    with ThreadPoolExecutor(ZIP_THREADS) as pool:
        zipped = list(pool.map(lambda pair: pair[0].zip_data(pair[1], name=_ZIPPED_MAP), maps))
    try:
        for (work, _), text in zip(maps, zipped, strict=True):
            setattr(work, _ZIPPED_MAP, text)
        return json_dumps(idds_workflow)
    finally:
        for work, dependency_map in maps:
            setattr(work, _ZIPPED_MAP, dependency_map)


def write_job_name_map(directory: Path, name_map: dict[int, list[str]]) -> Path:
    """Write the job-name map: full pseudo inputs in files of `NAME_MAP_CHUNK` names.

    Parameters
    ----------
    directory : `pathlib.Path`
        Where to write (replaced if it exists).
    name_map : `dict` [`int`, `list` [`str`]]
        Full pseudo input names by task number, in order.

    Returns
    -------
    directory : `pathlib.Path`
        The directory written.
    """
    if directory.exists():
        shutil.rmtree(directory)
    for task, names in name_map.items():
        for start in range(0, len(names), NAME_MAP_CHUNK):
            path = directory / name_map_path(task, start)[len(NAME_MAP_DIR) + 1 :]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(names[start : start + NAME_MAP_CHUNK]))
    return directory
