# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The task-graph picture of a prepared workflow: ``panda_workflow.svg`` in the submit directory.

One node per (label, memory class): the chunks of a label collapse into one node carrying
their total job count, so a DRP-shaped workflow of a million jobs stays a picture of a dozen
boxes.  Edges come from the tasks' dependency maps (``dependency_tasks``); the final job is
drawn apart, with dashed edges from the tasks its condition waits for.  Graphviz lays it
out, through pydot (the optional ``[graph]`` extra and the ``dot`` program); without them
prepare logs one line and goes on.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import GraphUnavailableError

__all__ = [
    "PICTURE_FILE",
    "GraphNode",
    "TaskGraph",
    "render_svg",
    "task_graph",
    "task_graph_of_workflow",
    "draw_workflow_picture",
    "write_workflow_picture",
]

_LOG = logging.getLogger(__name__)

PICTURE_FILE = "panda_workflow.svg"
"""The picture written at prepare, next to the iDDS workflow."""

_CLASS_COLOURS = {
    "conventional": "#d8f3dc",
    "high": "#fff3b0",
    "extra_high": "#ffd6a5",
    "merge": "#cfe2ff",
}


@dataclasses.dataclass
class GraphNode:
    """One box: the tasks of one label in one memory class."""

    label: str
    memory_class: str
    jobs: int = 0
    tasks: int = 0
    queues: list[str] = dataclasses.field(default_factory=list)
    is_final: bool = False

    @property
    def key(self) -> str:
        """The node's id in the picture."""
        return f"{self.label}|{self.memory_class}"


@dataclasses.dataclass
class TaskGraph:
    """Nodes and edges of the picture; ``condition_edges`` lead to the final job."""

    nodes: dict[str, GraphNode]
    edges: set[tuple[str, str]]
    condition_edges: set[tuple[str, str]]
    condition: str = ""


def task_graph(
    tasks: Iterable[Any],
    parents: Mapping[str, Iterable[str]],
    final_tasks: Mapping[str, Iterable[str]] | None = None,
    condition: str = "",
) -> TaskGraph:
    """Collapse tasks into the nodes and edges of the picture.

    Parameters
    ----------
    tasks : `~collections.abc.Iterable`
        Task summaries (``name``, ``label``, ``jobs``, ``queue``, ``memory_class``).
    parents : `~collections.abc.Mapping` [`str`, `~collections.abc.Iterable` [`str`]]
        Parent task names by task name (the dependency maps).
    final_tasks : `~collections.abc.Mapping`, optional
        For each conditional task (the final job): the tasks its condition waits for.
    condition : `str`, optional
        How the condition reads, e.g. ``"all terminated"``.

    Returns
    -------
    graph : `TaskGraph`
        One node per (label, memory class).
    """
    final_tasks = final_tasks or {}
    nodes: dict[str, GraphNode] = {}
    node_of: dict[str, str] = {}
    for task in tasks:
        node = GraphNode(task.label, task.memory_class or "-", is_final=task.name in final_tasks)
        node = nodes.setdefault(node.key, node)
        node.jobs += task.jobs
        node.tasks += 1
        if task.queue and task.queue not in node.queues:
            node.queues.append(task.queue)
        node_of[task.name] = node.key
    edges = {
        (node_of[parent], node_of[child])
        for child, names in parents.items()
        for parent in names
        if parent in node_of and child in node_of and node_of[parent] != node_of[child]
    }
    condition_edges = {
        (node_of[waited], node_of[final])
        for final, waited_for in final_tasks.items()
        for waited in waited_for
        if waited in node_of and final in node_of
    }
    return TaskGraph(nodes, edges, condition_edges, condition)


def task_graph_of_workflow(workflow: Any) -> TaskGraph:
    """Return the `TaskGraph` of a `~lsst.ctrl.bps.panda.PandaBpsWmsWorkflow`.

    Parameters
    ----------
    workflow : `~lsst.ctrl.bps.panda.PandaBpsWmsWorkflow`
        A prepared workflow, whose iDDS workflow holds the tasks.
    """
    template = getattr(workflow.idds_workflow, "template", workflow.idds_workflow)
    works = list(getattr(template, "works", {}).values())
    parents = {work.task_name: list(work.dependency_tasks or ()) for work in works}
    final_tasks: dict[str, list[str]] = {}
    kinds: set[str] = set()
    for condition in getattr(template, "conditions", {}).values():
        waited = [
            getattr(method.__self__, "task_name", "")
            for method in getattr(condition, "conditions", ())
            if hasattr(method, "__self__")
        ]
        kinds.update(getattr(method, "__name__", "") for method in getattr(condition, "conditions", ()))
        for work in getattr(condition, "true_works", ()) or ():
            final_tasks[work.task_name] = waited
    text = "all " + ", ".join(sorted(k.removeprefix("is_") for k in kinds if k)) if kinds else ""
    return task_graph(workflow.tasks, parents, final_tasks, text)


def _node_text(node: GraphNode) -> str:
    """Return the Graphviz HTML-like label of a node."""
    chunks = f" in {node.tasks} tasks" if node.tasks > 1 else ""
    queues = "<BR/>".join(html.escape(q) for q in node.queues) or "-"
    return (
        f"<<B>{html.escape(node.label)}</B><BR/>{node.jobs:,} job{'s' if node.jobs != 1 else ''}{chunks}<BR/>"
        f'<FONT POINT-SIZE="10">{html.escape(node.memory_class)}<BR/>{queues}</FONT>>'
    )


def render_svg(graph: TaskGraph, path: Path, title: str = "") -> Path:
    """Lay out ``graph`` with Graphviz ``dot`` and write it as SVG.

    Parameters
    ----------
    graph : `TaskGraph`
        What to draw.
    path : `pathlib.Path`
        The SVG file to write.
    title : `str`, optional
        Graph title (the workflow name).

    Returns
    -------
    path : `pathlib.Path`
        The file written.

    Raises
    ------
    GraphUnavailableError
        Raised if pydot or Graphviz's ``dot`` is missing.
    """
    try:
        import pydot
    except ImportError as exc:
        raise GraphUnavailableError(
            "pydot is not installed (pip install 'lsst-ctrl-bps-panda[graph]')"
        ) from exc
    if shutil.which("dot") is None:
        raise GraphUnavailableError("Graphviz's dot is not installed (apt-get install graphviz)")
    dot = pydot.Dot(
        graph_name="panda_workflow", graph_type="digraph", rankdir="TB", label=title, fontname="Helvetica"
    )
    dot.set_node_defaults(shape="box", style="rounded,filled", fontname="Helvetica")
    dot.set_edge_defaults(fontname="Helvetica", fontsize="10")
    for key, node in graph.nodes.items():
        colour = _CLASS_COLOURS.get(node.memory_class, "#eeeeee")
        shape = "doubleoctagon" if node.is_final else "box"
        dot.add_node(pydot.Node(_quoted(key), label=_node_text(node), fillcolor=colour, shape=shape))
    for parent, child in sorted(graph.edges):
        dot.add_edge(pydot.Edge(_quoted(parent), _quoted(child)))
    for parent, child in sorted(graph.condition_edges):
        edge = pydot.Edge(_quoted(parent), _quoted(child), style="dashed", color="#555555")
        edge.set("label", _quoted(graph.condition or "condition"))
        dot.add_edge(edge)
    svg = dot.create(format="svg")
    path.write_bytes(svg if isinstance(svg, bytes) else str(svg).encode())
    return path


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_workflow_picture(workflow: Any, directory: Path) -> Path | None:
    """Write `PICTURE_FILE` into the submit directory, or log one line why not.

    Parameters
    ----------
    workflow : `~lsst.ctrl.bps.panda.PandaBpsWmsWorkflow`
        The prepared workflow.
    directory : `pathlib.Path`
        The submit directory.

    Returns
    -------
    path : `pathlib.Path` or `None`
        The picture, or `None` when pydot or Graphviz is missing.
    """
    return draw_workflow_picture(task_graph_of_workflow(workflow), directory, workflow.name)


def draw_workflow_picture(graph: TaskGraph, directory: Path, title: str) -> Path | None:
    """Write `PICTURE_FILE` of ``graph`` into the submit directory, or log one line why not.

    Reads nothing but ``graph``, so it may run in a thread while the workflow is written.

    Parameters
    ----------
    graph : `TaskGraph`
        The collapsed task graph (`task_graph_of_workflow`).
    directory : `pathlib.Path`
        The submit directory.
    title : `str`
        The workflow's name.

    Returns
    -------
    path : `pathlib.Path` or `None`
        The picture, or `None` when pydot or Graphviz is missing.
    """
    try:
        return render_svg(graph, Path(directory) / PICTURE_FILE, title)
    except GraphUnavailableError as exc:
        _LOG.info("No %s: %s", PICTURE_FILE, exc)
        return None
