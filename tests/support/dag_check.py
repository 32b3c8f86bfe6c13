# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Rebuild the job DAG from an iDDS workflow, to compare it with the GenericWorkflow."""

import json

import networkx as nx
from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowNodeType
from lsst.ctrl.bps.panda.edgenode.job_contract import parse_pseudo_input


def works_of(idds_workflow):
    """Return the DomaPanDAWork objects of an iDDS workflow by task name."""
    return {work.task_name: work for work in idds_workflow.template.works.values()}


def read_job_name_map(directory) -> dict[str, str]:
    """Return the full pseudo input of every compact name, read from a written job-name map."""
    from pathlib import Path

    from lsst.ctrl.bps.panda.edgenode.job_contract import NAME_MAP_CHUNK

    full = {}
    for path in Path(directory).glob("*/*.json"):
        task, chunk = int(path.parent.name), int(path.stem)
        for offset, name in enumerate(json.loads(path.read_text())):
            full[f"@{task}.{chunk * NAME_MAP_CHUNK + offset}"] = name
    return full


def rebuild_job_dag(
    idds_workflow, name_map: dict[str, str] | None = None
) -> tuple[nx.DiGraph, dict[str, str]]:
    """Return (job DAG by job name, task name by job name); asserts no entry appears twice.

    Compact names are translated through ``name_map`` when given.
    """
    dag = nx.DiGraph()
    task_of: dict[str, str] = {}
    by_key: dict[tuple[str, str], str] = {}
    works = works_of(idds_workflow)
    for task_name, work in works.items():
        for entry in work.dependency_map:
            job_name, _ = parse_pseudo_input((name_map or {}).get(entry["name"], entry["name"]))
            assert job_name not in task_of, f"job {job_name} appears twice"
            task_of[job_name] = task_name
            by_key[(task_name, entry["name"])] = job_name
            dag.add_node(job_name)
    for task_name, work in works.items():
        for entry in work.dependency_map:
            child = by_key[(task_name, entry["name"])]
            seen = set()
            for dep in entry["dependencies"]:
                parent = by_key[(dep["task"], dep["inputname"])]
                assert parent not in seen, f"edge {parent}->{child} appears twice"
                seen.add(parent)
                dag.add_edge(parent, child)
    return dag, task_of


def payload_dag(gw: GenericWorkflow) -> nx.DiGraph:
    """The GenericWorkflow's payload jobs with no-op jobs contracted away."""
    dag = nx.DiGraph()
    noops = set()
    for name in gw:
        job = gw.get_job(name)
        if job.node_type == GenericWorkflowNodeType.NOOP:
            noops.add(name)
        else:
            dag.add_node(name)
    full = nx.DiGraph(gw.edges())
    for name in dag.nodes:
        if name not in full:
            continue
        stack, seen = list(full.predecessors(name)), set()
        while stack:
            parent = stack.pop()
            if parent in seen:
                continue
            seen.add(parent)
            if parent in noops:
                stack.extend(full.predecessors(parent))
            else:
                dag.add_edge(parent, name)
    return dag
