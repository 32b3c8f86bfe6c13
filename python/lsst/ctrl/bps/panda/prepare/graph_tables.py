# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The one place that reads a `~lsst.ctrl.bps.GenericWorkflow`'s tables directly.

Conversion touches every job and every edge once; through the public API each
touch is a method call building a fresh list or view, which at a million jobs
costs seconds.  `GraphTables` reads the plain dictionaries behind that API
instead (networkx's node and predecessor tables, ctrl_bps's per-job file
tables) and checks on construction that they are still there and still plain
dictionaries: if ctrl_bps or networkx change them, prepare stops naming what
changed instead of silently seeing no files or no parents.
``tests/prepare/test_graph_tables.py`` compares every table with the public API.

It also checks that the job graph has no cycle (`check_acyclic`) and writes each task's
dependency-map entries from the predecessor table (`dependency_entries`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowFile

from ..errors import GraphTablesError, PandaPrepareError

__all__ = ["GraphTables", "check_acyclic", "dependency_entries"]

CYCLE_NAMES_SHOWN = 10
"""Jobs of a cycle named in the error message at most."""


def _installed(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown version"


@dataclasses.dataclass(frozen=True, slots=True)
class GraphTables:
    """Read-only access to a generic workflow's job, edge and file tables.

    Attributes
    ----------
    nodes : `dict` [`str`, `dict`]
        Node attributes by job name, in insertion order (``["job"]`` is the job).
    predecessors : `dict` [`str`, `dict`]
        Parents of each job (keys), by job name, in insertion order.
    successors : `dict` [`str`, `dict`]
        Children of each job (keys), by job name.
    inputs : `dict` [`str`, `list` [`lsst.ctrl.bps.GenericWorkflowFile`]]
        Input files of the jobs that have any.
    outputs : `dict` [`str`, `list` [`lsst.ctrl.bps.GenericWorkflowFile`]]
        Output files of the jobs that have any.
    """

    nodes: Mapping[str, dict[str, Any]]
    predecessors: Mapping[str, Mapping[str, Any]]
    successors: Mapping[str, Mapping[str, Any]]
    inputs: Mapping[str, list[GenericWorkflowFile]]
    outputs: Mapping[str, list[GenericWorkflowFile]]

    @classmethod
    def of(cls, gw: GenericWorkflow) -> GraphTables:
        """Return the tables of ``gw``.

        Parameters
        ----------
        gw : `lsst.ctrl.bps.GenericWorkflow`
            The generic workflow.

        Raises
        ------
        GraphTablesError
            Raised if a table is missing or not a dictionary (the installed
            ctrl_bps or networkx changed how a workflow is stored).
        """
        tables = {}
        for field, attribute, owner in (
            ("nodes", "_node", "networkx"),
            ("predecessors", "_pred", "networkx"),
            ("successors", "_succ", "networkx"),
            ("inputs", "_inputs", "lsst-ctrl-bps"),
            ("outputs", "_outputs", "lsst-ctrl-bps"),
        ):
            table = getattr(gw, attribute, None)
            if not isinstance(table, dict):
                raise GraphTablesError(
                    f"GenericWorkflow.{attribute} is {type(table).__name__}, not the dict this PanDA plugin "
                    f"reads ({owner} {_installed(owner)}): update lsst.ctrl.bps.panda.prepare.graph_tables"
                )
            tables[field] = table
        return cls(**tables)


def check_acyclic(tables: GraphTables) -> None:
    """Stop if the job graph has a cycle, naming jobs on it.

    The common case costs one pass: when every job's parents come before it in
    insertion order (as ctrl_bps builds workflows), there is no cycle.
    Otherwise a full topological sort (Kahn) decides.

    Parameters
    ----------
    tables : `GraphTables`
        Tables of the generic workflow.

    Raises
    ------
    PandaPrepareError
        Raised if some jobs depend on each other in a cycle.
    """
    seen: set[str] = set()
    add, contains_all = seen.add, seen.issuperset
    out_of_order = False
    for name, parents in tables.predecessors.items():
        if parents and not contains_all(parents):
            out_of_order = True
            break
        add(name)
    if not out_of_order:
        return
    left = _kahn_leftovers(tables)
    if left:
        cycle = _cycle_among(tables, left)
        shown = " -> ".join(cycle[:CYCLE_NAMES_SHOWN]) + (" -> ..." if len(cycle) > CYCLE_NAMES_SHOWN else "")
        raise PandaPrepareError(
            f"The workflow's jobs depend on each other in a cycle ({len(cycle)} jobs: {shown} -> "
            f"{cycle[0]}); PanDA could never release them. Check the quantum graph or the clustering "
            "that made it"
        )


def _kahn_leftovers(tables: GraphTables) -> set[str]:
    """Return the jobs a topological sort cannot reach (on or below a cycle)."""
    waiting = {name: len(parents) for name, parents in tables.predecessors.items()}
    ready = [name for name, count in waiting.items() if not count]
    successors = tables.successors
    while ready:
        name = ready.pop()
        del waiting[name]
        for child in successors[name]:
            waiting[child] -= 1
            if not waiting[child]:
                ready.append(child)
    return set(waiting)


def _cycle_among(tables: GraphTables, left: set[str]) -> list[str]:
    """Return one cycle among ``left``, walking parents (each left job has a left parent)."""
    predecessors = tables.predecessors
    name = min(left)
    order: dict[str, int] = {}
    while name not in order:
        order[name] = len(order)
        name = next(parent for parent in predecessors[name] if parent in left)
    cycle = list(order)[order[name] :]
    cycle.reverse()  # parent before child
    return cycle


def dependency_entries(
    pred: Mapping[str, Mapping[str, Any]],
    tasks: Iterable[Any],
    reference: Mapping[str, dict[str, str]],
    noops: set[str],
) -> Iterator[tuple[Any, list[dict]]]:
    """Yield each task with its dependency map: one entry per job, in the task's order.

    Parameters
    ----------
    pred : `~collections.abc.Mapping` [`str`, `~collections.abc.Mapping`]
        Parents of each job (`GraphTables.predecessors`).
    tasks : `~collections.abc.Iterable`
        The tasks, each with ``members`` (job names, in workflow order), ``input_names`` (the
        pseudo input PanDA sees for each) and ``order_ids`` (each one's order id).
    reference : `~collections.abc.Mapping` [`str`, `dict` [`str`, `str`]]
        ``{"task", "inputname"}`` of every payload job, shared by all its children.
    noops : `set` [`str`]
        No-op jobs, looked through to their payload parents.

    Yields
    ------
    task, entries : `tuple`
        A task of ``tasks`` and its entries (``name``, ``order_id``, ``dependencies``).
    """
    referenced = reference.__getitem__
    parents_of = _parents_through_noops(pred, noops) if noops else pred.__getitem__
    for task in tasks:
        # One comprehension per task: no per-job call of ours, attribute or method lookup.
        entries = [
            {"name": input_name, "order_id": order, "dependencies": list(map(referenced, parents_of(name)))}
            for name, input_name, order in zip(task.members, task.input_names, task.order_ids, strict=True)
        ]
        yield task, entries


def _parents_through_noops(
    pred: Mapping[str, Mapping[str, Any]], noops: set[str]
) -> Callable[[str], Iterable[str]]:
    """Return a function giving a job's parents, no-op parents replaced by their payload parents."""
    memo: dict[str, list[str]] = {}

    def parents_of(name: str) -> Iterable[str]:
        parents = pred[name]
        if noops.isdisjoint(parents):
            return parents
        return _payload_parents(pred, list(parents), noops, memo)

    return parents_of


def _payload_parents(pred: Any, parents: list[str], noops: set[str], memo: dict[str, list[str]]) -> list[str]:
    """Return the payload jobs among ``parents``, looking through no-op jobs."""
    found: dict[str, None] = {}
    for parent in parents:
        if parent not in noops:
            found[parent] = None
            continue
        if parent not in memo:
            memo[parent] = _payload_parents(pred, list(pred[parent]), noops, memo)
        found.update(dict.fromkeys(memo[parent]))
    return list(found)
