# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The task-graph picture written at prepare: one node per label and memory class."""

import logging
import xml.etree.ElementTree as ET

import pytest
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.prepare.workflow_picture import PICTURE_FILE, task_graph, task_graph_of_workflow
from support.bps_configs import make_config
from support.synthetic import make_drp_workflow

SVG = "{http://www.w3.org/2000/svg}"


def svg_nodes(path):
    root = ET.parse(path).getroot()
    nodes = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "node":
            title = group.find(f"{SVG}title").text
            nodes[title] = " ".join(t.text or "" for t in group.iter(f"{SVG}text"))
    edges = [g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]
    return nodes, edges


@pytest.fixture
def prepared(tmp_path):
    gw = make_drp_workflow(3000, submit_dir=str(tmp_path))
    config = make_config(str(tmp_path), maxJobsPerTask=400)
    return PanDAService({}).prepare(config, gw, str(tmp_path / "submit")), tmp_path / "submit"


def test_prepare_writes_an_svg_with_one_node_per_label_and_memory_class(prepared):
    workflow, submit_dir = prepared
    nodes, edges = svg_nodes(submit_dir / PICTURE_FILE)
    labels = {task.label for task in workflow.tasks}
    assert len(workflow.tasks) > len(labels)  # chunks exist...
    assert {title.split("|")[0] for title in nodes} == labels  # ...and collapse
    assert len(nodes) == len({(t.label, t.memory_class) for t in workflow.tasks})
    isr_jobs = sum(t.jobs for t in workflow.tasks if t.label == "isr")
    isr_tasks = sum(1 for t in workflow.tasks if t.label == "isr")
    assert f"{isr_jobs:,} jobs in {isr_tasks} tasks" in nodes["isr|conventional"]
    assert "DOMA_LSST_GOOGLE_TEST_HIMEM" in nodes["makeWarp|high"]
    assert len(edges) >= len(nodes) - 1


def test_final_job_hangs_on_a_dashed_condition_edge(prepared):
    workflow, _ = prepared
    graph = task_graph_of_workflow(workflow)
    final = [node for node in graph.nodes.values() if node.is_final]
    assert [node.label for node in final] == ["finalJob"]
    assert graph.condition_edges == {("forcedPhot|conventional", "finalJob|merge")}
    assert graph.condition == "all terminated"


def test_edges_between_chunks_of_one_node_are_dropped():
    class Task:
        def __init__(self, name, label, memory_class="c", jobs=1):
            self.name, self.label, self.memory_class, self.jobs, self.queue = (
                name,
                label,
                memory_class,
                jobs,
                "Q",
            )

    tasks = [Task("a1", "a"), Task("a2", "a"), Task("b1", "b", "h", 3)]
    graph = task_graph(tasks, {"a2": ["a1"], "b1": ["a1", "a2"]})
    assert graph.edges == {("a|c", "b|h")}
    assert graph.nodes["a|c"].tasks == 2 and graph.nodes["b|h"].jobs == 3


def test_without_graphviz_prepare_logs_one_line_and_goes_on(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("lsst.ctrl.bps.panda.prepare.workflow_picture.shutil.which", lambda name: None)
    gw = make_drp_workflow(200, submit_dir=str(tmp_path))
    with caplog.at_level(logging.INFO, logger="lsst.ctrl.bps.panda.prepare.workflow_picture"):
        PanDAService({}).prepare(make_config(str(tmp_path)), gw, str(tmp_path / "submit"))
    assert not (tmp_path / "submit" / PICTURE_FILE).exists()
    assert (tmp_path / "submit" / "panda_workflow.manifest.json").exists()
    lines = [
        r.getMessage() for r in caplog.records if r.name == "lsst.ctrl.bps.panda.prepare.workflow_picture"
    ]
    assert len(lines) == 1 and "apt-get install graphviz" in lines[0]
