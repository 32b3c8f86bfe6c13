# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""One iDDS ``DomaPanDAWork`` (a PanDA task) from a `TaskSpec` and its dependency-map entries."""

from __future__ import annotations

import base64
import collections
import contextlib
import itertools
import json
import logging
import operator
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Set
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from idds.doma.workflowv2.domapandawork import DomaPanDAWork

from .event_service import EventServiceSettings, check_event_service_work, check_order_ids
from .task_spec import TaskSpec

__all__ = [
    "DEFAULT_WALLTIME",
    "JSON_WAITING",
    "ZIP_THREADS",
    "DependencyMapZipper",
    "FRAGMENTED_LABEL_TASKS",
    "map_json",
    "new_work",
    "task_log",
    "warn_about_fragmented_labels",
    "warn_about_unused_labels",
    "zip_json",
]

_LOG = logging.getLogger(__name__)

DEFAULT_WALLTIME = 90000
"""Walltime limit (s) of a task whose jobs set none, as production PanDA gets it from the published plugin."""


ZIP_THREADS = 1
"""Threads in which iDDS zips dependency maps while prepare goes on (zlib releases the GIL).

One: each more thread keeps its own memory arena (about 10 MB more peak RSS at 100,000 jobs)."""

JSON_WAITING = 2
"""Maps whose JSON waits for the zip thread at most: making more works waits (bounds the memory)."""

_ZIP_PREFIX = "idds_zip:"
"""What starts a zipped value in iDDS's JSON."""

_ZIPPED_MAP = "_dependency_map"
"""The work attribute iDDS zips into its JSON (in a ``DomaPanDAWork``'s ``zip_items``)."""


class DependencyMapZipper:
    """Zip works' dependency maps as iDDS zips them, each as soon as its work is made.

    Writing a large workflow's iDDS JSON is mostly zipping each work's dependency map (JSON,
    zlib, base64), one after the other.  Here the zipping runs in `ZIP_THREADS` thread(s) while
    prepare goes on making the next works, and `zipped_maps` hands the zipped maps to the JSON
    encoder, which passes a zipped map through unchanged: the same bytes, sooner.

    `start` writes the JSON of a map conversion made at once where `map_json` can (the same text
    as iDDS's ``json.dumps``, with less work), so the thread has only zlib (which releases the
    GIL) and base64 left, and runs on the other core beside conversion.  That last step is iDDS's
    ``zip_data`` after its ``json.dumps``; on the first map it is compared with ``zip_data``
    itself, and a difference sends every map through ``zip_data`` (iDDS changed its format),
    as it sends the maps `map_json` cannot write.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(ZIP_THREADS, thread_name_prefix="zip-dependency-map")
        self._zipping: dict[int, tuple[DomaPanDAWork, list, Future[str]]] = {}
        self._zip_json_matches_idds: bool | None = None
        self._waiting: collections.deque[Future[str]] = collections.deque()

    def start(self, work: DomaPanDAWork, made_here: bool = False) -> None:
        """Start zipping ``work``'s dependency map (a work iDDS does not zip is left alone).

        Parameters
        ----------
        work : `idds.doma.workflowv2.domapandawork.DomaPanDAWork`
            A work whose dependency map will not change any more.
        made_here : `bool`, optional
            The map is conversion's own, with the references conversion made (`map_json` may
            write its JSON); any other map is zipped by iDDS's ``zip_data``.
        """
        dependency_map = getattr(work, _ZIPPED_MAP, None)
        if id(work) in self._zipping or not isinstance(dependency_map, list):
            return
        if _ZIPPED_MAP not in getattr(work, "zip_items", ()):
            return
        data = map_json(dependency_map) if made_here and self._zip_json_matches_idds is not False else None
        if data is not None and self._zip_json_matches_idds is None:
            self._zip_json_matches_idds = zip_json(data) == work.zip_data(dependency_map)
            if not self._zip_json_matches_idds:
                _LOG.warning("iDDS zips dependency maps in a new way: prepare leaves all zipping to iDDS")
        if data is not None and self._zip_json_matches_idds:
            while self._waiting and (self._waiting[0].done() or len(self._waiting) >= JSON_WAITING):
                wait([self._waiting.popleft()])
            future = self._pool.submit(zip_json, data)
            self._waiting.append(future)
        else:
            future = self._pool.submit(work.zip_data, dependency_map, name=_ZIPPED_MAP)
        self._zipping[id(work)] = (work, dependency_map, future)

    def close(self, cancel: bool = False) -> None:
        """Start no more zipping; ``cancel`` drops what has not started (after a failure).

        Parameters
        ----------
        cancel : `bool`, optional
            Drop the maps not zipped yet.
        """
        self._pool.shutdown(wait=cancel, cancel_futures=cancel)

    @contextlib.contextmanager
    def zipped_maps(self) -> Iterator[None]:
        """Give each work its zipped map for the block (waiting for them), then its map back.

        A work whose map was replaced since `start` keeps it.
        """
        swapped: list[tuple[DomaPanDAWork, list]] = []
        try:
            for work, dependency_map, future in self._zipping.values():
                if getattr(work, _ZIPPED_MAP, None) is dependency_map:
                    setattr(work, _ZIPPED_MAP, future.result())
                    swapped.append((work, dependency_map))
            yield
        finally:
            for work, dependency_map in swapped:
                setattr(work, _ZIPPED_MAP, dependency_map)


_ENTRY_HEAD = '{{"name": "{name}", "order_id": {order_id}, "dependencies": ['.format_map
_REFERENCE = '{{"task": "{task}", "inputname": "{inputname}"}}'.format_map
_DEPENDENCIES = operator.itemgetter("dependencies")
_ORDER_ID = operator.itemgetter("order_id")
_NAME = operator.itemgetter("name")
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
"""The bytes ``json.dumps`` writes as they are (of which a quote and a backslash are checked apart)."""
_ENTRIES_AT_ONCE = 1000
"""Entries `map_json` writes in one piece."""


def map_json(entries: list[dict]) -> bytearray | None:
    """Return ``json.dumps(entries)`` of a dependency map conversion made (ASCII bytes), or `None`.

    The text is put together from two templates, with about a third less work than ``json.dumps``.
    It is the same text when every entry has the keys ``name``, ``order_id``, ``dependencies``
    in this order, with a `str` name and an `int` order id, every dependency is a reference as
    conversion makes them (``{"task": str, "inputname": str}``, in this order, shared by a job's
    children), and no name holds a character ``json.dumps`` escapes.  The order of the keys and
    the types in the references are taken as conversion wrote them (checking them on millions
    of dicts would cost a third of the time saved); the rest is checked: the number of keys of
    every entry and reference (an event-service work's entries have more), the types of the
    entries' values, and on the text: its quotes are counted, it is searched for backslashes and
    bytes outside printable ASCII, and its first and last entries are compared with
    ``json.dumps``.  `None` if a check fails.

    Parameters
    ----------
    entries : `list` [`dict`]
        A work's dependency map, as conversion made it (`graph_tables.dependency_entries`).

    Returns
    -------
    data : `bytearray` or `None`
        ``json.dumps(entries).encode()``, or `None` where this cannot write it.
    """
    if not isinstance(entries, list):
        return None
    data = bytearray(b"[")
    try:
        dependencies = list(map(_DEPENDENCIES, entries))
        references = list(itertools.chain.from_iterable(dependencies))
        if entries and (set(map(len, entries)) != {3} or not set(map(len, references)) <= {2}):
            return None
        if entries and (
            set(map(type, map(_ORDER_ID, entries))) != {int} or set(map(type, map(_NAME, entries))) != {str}
        ):
            return None
        # A slice of entries at a time into one buffer: the text is never whole twice (peak memory).
        for start in range(0, len(entries), _ENTRIES_AT_ONCE):
            stop = start + _ENTRIES_AT_ONCE
            parts = [
                f"{_ENTRY_HEAD(entry)}{', '.join(map(_REFERENCE, parents))}]}}"
                for entry, parents in zip(entries[start:stop], dependencies[start:stop], strict=True)
            ]
            data += b", " if start else b""
            data += ", ".join(parts).encode()
    except (AttributeError, KeyError, TypeError, ValueError):  # not the shape written here
        return None
    data += b"]"
    # Each entry and each dependency has 8 quotes around its keys and names: a name holding a quote
    # changes the count.
    if data.count(b'"') != 8 * (len(entries) + len(references)) or b"\\" in data or not data.isascii():
        return None
    if entries:
        first, last = json.dumps(entries[0]).encode(), json.dumps(entries[-1]).encode()
        if not (data.startswith(first, 1) and data.endswith(last, 0, len(data) - 1)):
            return None
    return None if data.translate(None, _PRINTABLE_ASCII) else data


def zip_json(data: bytes | bytearray) -> str:
    """Return a dependency map zipped as iDDS's ``DictClass.zip_data`` zips it, from its JSON.

    Parameters
    ----------
    data : `bytes` or `bytearray`
        ``json.dumps`` of the map, encoded.

    Returns
    -------
    zipped : `str`
        ``idds_zip:`` and the base64 of the zlib-compressed JSON.
    """
    return _ZIP_PREFIX + base64.b64encode(zlib.compress(data)).decode()


def new_work(
    name: str,
    spec: TaskSpec,
    entries: list[dict],
    index: int,
    event_service: EventServiceSettings | None,
) -> DomaPanDAWork:
    """Return the iDDS work of one PanDA task.

    Parameters
    ----------
    name : `str`
        Task name.
    spec : `TaskSpec`
        What the task's jobs share.
    entries : `list` [`dict`]
        Its dependency-map entries (one per job).
    index : `int`
        Task number in the workflow (names its pseudo collections).
    event_service : `EventServiceSettings` or `None`
        The workflow's event-service settings; `None` for none (and for the final job).

    Returns
    -------
    work : `idds.doma.workflowv2.domapandawork.DomaPanDAWork`
        The work, with the event-service fields set when its label asks for them.

    Raises
    ------
    PandaPrepareError
        Raised if iDDS would not run the label's jobs as events (names the label).
    """
    payloads, walltime, es_fields = _event_service_fields(name, spec, entries, event_service)
    # The values production PanDA sees from the published plugin (30.x) where the job leaves them open.
    settings = spec.settings
    work = DomaPanDAWork(
        executable=spec.executable,
        primary_input_collection={"scope": "pseudo_dataset", "name": f"pseudo_input_collection#{index}"},
        output_collections=[{"scope": "pseudo_dataset", "name": f"pseudo_output_collection#{index}"}],
        log_collections=[],
        dependency_map=entries,
        task_name=name,
        task_queue=spec.choice.queue,
        encode_command_line=True,
        task_rss=spec.rss or 0,
        task_rss_max=spec.rss_max,
        task_rss_retry_step=spec.rss_retry_step,
        # Without a retry step PanDA keeps the request on retries (retryRamOffset = request).
        task_rss_retry_offset=0 if spec.rss_retry_step else (spec.rss or 0),
        task_cloud=settings.cloud,
        task_site=spec.site,
        task_priority=spec.priority,
        core_count=spec.cores,
        maxwalltime=walltime if walltime is not None else DEFAULT_WALLTIME,
        maxattempt=spec.max_attempt,
        processing_type=settings.processing_type,
        prodSourceLabel=settings.prod_source_label,
        task_type=settings.task_type,
        vo=settings.vo,
        working_group=spec.working_group,
        task_log=task_log(),
        **es_fields,
    )
    if payloads is not None:
        check_event_service_work(work, spec.label)
        _LOG.debug("Task %s: %d payloads per PanDA job (%d jobs)", name, payloads, len(work.es_files))
    return work


def task_log() -> dict[str, str]:
    """Return where a PanDA task's job logs go (``log.tgz`` per job), as the published plugin sends it.

    A new dict each call: iDDS keeps the one it is given in the work.
    """
    return {
        "destination": "local",
        "value": "log.tgz",
        "dataset": "PandaJob_#{pandaid}/",
        "token": "local",
        "param_type": "log",
        "type": "template",
    }


def _event_service_fields(
    name: str, spec: TaskSpec, entries: list[dict], event_service: EventServiceSettings | None
) -> tuple[int | None, int | None, dict[str, Any]]:
    """Return the payloads per PanDA job, the walltime and the event-service fields of a task's work."""
    payloads = event_service.payloads_per_job(spec.label, spec.walltime) if event_service else None
    walltime = spec.walltime
    es_fields: dict[str, Any] = {}
    if payloads is not None:
        assert event_service is not None
        check_order_ids(spec.label, name, entries)
        walltime = event_service.task_walltime(spec.walltime, payloads)
        es_fields = {"es": True, "es_label": spec.label, "max_events_per_job": payloads}
    return payloads, walltime, es_fields


def warn_about_unused_labels(event_service: EventServiceSettings | None, labels: Set[str]) -> None:
    """Warn about labels in ``enableEventService`` that no job of the workflow has (a typo?).

    Parameters
    ----------
    event_service : `EventServiceSettings` or `None`
        The event-service settings, `None` if the event service is off.
    labels : `~collections.abc.Set` [`str`]
        Labels of the workflow's jobs.
    """
    if event_service is None:
        return
    if unused := sorted(set(event_service.labels) - labels):
        _LOG.warning(
            "enableEventService names label(s) %s, which no job of this workflow has (labels: %s)",
            ", ".join(unused),
            ", ".join(sorted(labels)),
        )


FRAGMENTED_LABEL_TASKS = 20
"""A label split into more task shapes than this gets a warning."""


def warn_about_fragmented_labels(labels: Iterable[str]) -> None:
    """Warn when jobs of one label differ so much that they land in many task shapes.

    Parameters
    ----------
    labels : `~collections.abc.Iterable` [`str`]
        The label of each task shape (a label once per shape).
    """
    for label, count in Counter(labels).items():
        if count > FRAGMENTED_LABEL_TASKS:
            _LOG.warning(
                "Label %s splits into %d PanDA tasks because its jobs differ in command line, files or "
                "resource requests (e.g. per-job quantum graph files, whenSaveJobQgraph other than NEVER); "
                "PanDA handles few large tasks better",
                label,
                count,
            )
