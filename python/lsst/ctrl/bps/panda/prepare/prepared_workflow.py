# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The prepared PanDA workflow: the iDDS workflow, the files to stage, write and read."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from idds.common.utils import DictClassEncoder, json_loads
from idds.workflowv2.workflow import Workflow
from lsst.ctrl.bps import BaseWmsWorkflow, BpsConfig, GenericWorkflow

from ..atomic_file import write_atomically
from ..edgenode.job_contract import NAME_MAP_CHUNK, NAME_MAP_DIR, name_map_path
from ..gc_pause import gc_paused
from .convert import TaskSummary, convert_workflow
from .settings import SettingsReader
from .task_work import DependencyMapZipper
from .workflow_picture import draw_workflow_picture, task_graph_of_workflow

__all__ = [
    "IDDS_WORKFLOW_FILE",
    "MANIFEST_FILE",
    "SUMMARY_FILE",
    "PandaBpsWmsWorkflow",
    "write_idds_workflow_json",
    "write_job_name_map",
]

_LOG = logging.getLogger(__name__)

IDDS_WORKFLOW_FILE = "panda_workflow.idds.json"
"""The iDDS workflow exactly as it is submitted (iDDS JSON)."""

MANIFEST_FILE = "panda_workflow.manifest.json"
"""Files to stage, end point, task list; plain JSON."""

SUMMARY_FILE = "panda_workflow.summary.txt"
"""One line per task, for people."""


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
        self.map_zipper: DependencyMapZipper | None = None
        """iDDS zipping the dependency maps since conversion, until `write` takes them."""

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
        workflow.map_zipper = result.map_zipper
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
            zipper, self.map_zipper = self.map_zipper, None
            write_idds_workflow_json(directory / IDDS_WORKFLOW_FILE, self.idds_workflow, zipper)
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


def write_idds_workflow_json(
    path: Path, idds_workflow: Workflow, zipper: DependencyMapZipper | None = None
) -> None:
    """Write the iDDS JSON of ``idds_workflow`` to ``path``, as ``idds.common.utils.json_dumps`` makes it.

    The dependency maps are zipped by iDDS in threads (`DependencyMapZipper`): by ``zipper``,
    which conversion started as it made the works, or else here; iDDS zips any other work's map
    itself.  The JSON goes to the file as it is encoded (``json.dump`` with iDDS's encoder and
    ``json_dumps``'s arguments), never whole in memory; the file appears by a rename when complete.
    The works get their maps back before this returns.

    Parameters
    ----------
    path : `pathlib.Path`
        The file to write (replaced if it exists).
    idds_workflow : `idds.workflowv2.workflow.Workflow`
        The workflow.
    zipper : `DependencyMapZipper`, optional
        The zipping conversion started.
    """
    if zipper is None:
        zipper = DependencyMapZipper()
        for work in idds_workflow.template.works.values():
            zipper.start(work)
        zipper.close()
    temporary = path.with_name(path.name + ".tmp")
    with zipper.zipped_maps(), temporary.open("w") as stream:
        json.dump(idds_workflow, stream, indent=None, sort_keys=False, cls=DictClassEncoder)
    os.replace(temporary, path)


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
